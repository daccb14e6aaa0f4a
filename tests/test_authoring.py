"""A method author's path: `CondensationMethod.from_selection` / `from_learned` fill in every
`CondensedInfo` key the harness reads, and the example plug-in package (examples/my_method),
installed the way a user installs one, is found through its entry points and run by `mmgc run`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from mmgc.graph import CondensedInfo
from mmgc.methods import CondensationMethod, Context
from mmgc.methods.budget import plan_budget
from tests.conftest import make_tiny_graph

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "my_method"
MMGC = str(Path(sys.executable).parent / "mmgc")
MEASURED = {"wall_seconds", "cpu_seconds", "peak_memory_mb"}  # what condense_measured adds around condense
WRITTEN = set(typing.get_type_hints(CondensedInfo)) - {"selection_split"} - MEASURED  # selection_split: the method's


@dataclass(frozen=True)
class NoConfig:
    pass


class FirstTrainNodes(CondensationMethod):
    """The first train nodes of each class (a selection)."""

    name = "first_train_nodes"
    Config = NoConfig

    def condense(self, graph, ratio, ctx):
        visible, counts = plan_budget(graph, ratio)
        chosen = [(visible.train_mask & (visible.y == c)).nonzero()[:k, 0] for c, k in enumerate(counts.tolist())]
        return self.from_selection(graph, ratio, ctx, torch.cat(chosen), visible=visible, history=[{"epoch": 0}])


@pytest.mark.parametrize("setting", ["transductive", "inductive"])
def test_from_selection_fills_every_info_key_with_the_budget_and_the_layout(setting):
    graph = make_tiny_graph(n=60, setting=setting)
    condensed = FirstTrainNodes().condense(graph, 0.2, Context(seed=4))
    info = condensed.info
    assert WRITTEN <= set(info), WRITTEN - set(info)
    visible = graph.visible_graph()
    assert info["visible_nodes"] == visible.num_nodes == graph.num_visible_nodes
    assert info["visible_nodes"] == (30 if setting == "inductive" else 60)
    assert info["n"] == condensed.num_nodes == int(0.2 * visible.num_nodes)
    assert (info["method"], info["dataset"], info["setting"], info["ratio"], info["seed"]) == (
        "first_train_nodes", "tiny", setting, 0.2, 4)
    assert info["config"] == {} and info["condense_arch"] is None and info["history"] == [{"epoch": 0}]
    assert condensed.modalities == graph.modalities
    selected = torch.tensor(info["selected"])
    assert torch.equal(condensed.x, visible.x[selected]) and torch.equal(condensed.y, visible.y[selected])
    # the real edges between the kept nodes, and only those
    row, col = visible.edge_index
    kept = torch.isin(row, selected) & torch.isin(col, selected)
    assert int((condensed.adj > 0).sum()) == int(kept.sum())


def test_from_learned_takes_the_method_s_own_keys_and_detaches():
    graph = make_tiny_graph()

    class Learned(FirstTrainNodes):
        def condense(self, graph, ratio, ctx):
            x = torch.randn(6, graph.feature_dim, requires_grad=True)
            adj = torch.ones(6, 6) - torch.eye(6)
            return self.from_learned(graph, ratio, ctx, x * 2, adj, torch.tensor([0, 0, 1, 1, 2, 2]),
                                     condense_arch="gcn", epochs_run=3)

    condensed = Learned().condense_measured(graph, 0.3, Context())
    assert WRITTEN - {"selected"} <= set(condensed.info)
    assert condensed.info["epochs_run"] == 3 and condensed.info["condense_arch"] == "gcn"
    assert MEASURED <= set(condensed.info) and condensed.info["peak_memory_mb"] > 0 and not condensed.x.requires_grad
    assert condensed.info["visible_nodes"] == graph.num_nodes and condensed.info["n"] == 6


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """examples/my_method installed (wheel built by its own pyproject) into a folder of its own."""
    source, target = tmp_path_factory.mktemp("src") / "my_method", tmp_path_factory.mktemp("site")
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))  # builds there
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    return env


def test_the_example_package_is_listed_from_its_entry_points(installed_example):
    out = subprocess.run([MMGC, "methods", "list"], env=installed_example, capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "high_degree" in text and "my_method.condense:HighDegree" in text and "class_means" in text


@pytest.mark.parametrize("method", ["high_degree", "class_means"])
def test_mmgc_run_on_the_example_plug_in_prints_its_budget(installed_example, method, tmp_path):
    from mmgc.datasets import load_dataset
    from mmgc.methods.budget import synthetic_size

    graph = load_dataset("synthetic", nodes=300)
    n = synthetic_size(0.05, graph.num_visible_nodes, graph.num_classes)
    out = subprocess.run([MMGC, "run", "--dataset", "synthetic", "-o", "nodes=300", "--method", method,
                          "--ratio", "0.05", "--runs", "1", "-e", "epochs=5", "--rows-out", str(tmp_path / "rows.json")],
                         env=installed_example, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"{method}: {n} nodes (ratio 0.05 of {graph.num_visible_nodes:,})" in out.stderr, out.stderr[-3000:]
    import json

    rows = json.loads((tmp_path / "rows.json").read_text())
    assert rows[0]["method"] == method and rows[0]["n"] == n and rows[0]["status"] == "ok"
