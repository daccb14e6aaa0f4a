"""Experiment files: the shipped ones load, and bad ones fail with the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mmgc.errors import InputError
from mmgc.harness.experiment import load_experiment, parse_experiment

CONFIGS = Path(__file__).resolve().parents[1] / "tune_configs"
TABLES = ["table2_main", "table3_cross_arch", "table4_backbones", "table5_unaligned", "table6_ablation",
          "fig2_convergence", "fig3_modalities", "fig4_lambda_ratio"]

BASE = {
    "name": "t",
    "datasets": [{"name": "synthetic", "ratios": [0.01, 0.03]}],
    "methods": [{"name": "random"}, {"name": "gcond", "fixed": {"epochs": 5, "structure_epochs": 1}, "search": "declared",
                 "n_trials": 4}],
}


def write(tmp_path, data, name="exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def with_(**changes):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data.update(changes)
    return data


def test_every_shipped_file_exists():
    names = {p.stem for p in CONFIGS.glob("*.yaml")}
    expected = {"quickstart"} | set(TABLES) | {f"{t}_synthetic" for t in TABLES}
    assert expected <= names


@pytest.mark.parametrize("name", ["quickstart", "quickstart_more", "quickstart_budget"]
                         + [f"{t}_synthetic" for t in TABLES])
def test_runnable_files_validate_fully(name):
    exp = load_experiment(CONFIGS / f"{name}.yaml")
    assert exp.name == name
    assert exp.cells()


@pytest.mark.parametrize("name", TABLES)
def test_real_dataset_files_parse(name):
    """The real-data files use dataset names whose files live outside the repository: their schema is
    checked always, their names and options whenever those datasets are registered."""
    from mmgc.datasets import list_datasets

    exp = load_experiment(CONFIGS / f"{name}.yaml", validate=False)
    assert exp.cells()
    known = {spec.name for spec in list_datasets()}
    if {d.name for d in exp.datasets} <= known:
        load_experiment(CONFIGS / f"{name}.yaml")


def test_quickstart_and_its_companion_cover_every_method_at_two_ratios():
    from mmgc.methods.base import list_methods

    main, more = (load_experiment(CONFIGS / f"{name}.yaml") for name in ("quickstart", "quickstart_more"))
    built_in = {name for name, source in list_methods().items() if source == "built-in"}
    assert {m.name for m in main.methods + more.methods} >= built_in | {"original"}
    for exp in (main, more):
        assert [d.name for d in exp.datasets] == ["lastfm-2k", "synthetic-conflict"]
        assert all(len(d.ratios) == 2 for d in exp.datasets)
        assert len(exp.condense_seeds) >= 3
        labels = [m.label for m in exp.methods]
        assert len(labels) == len(set(labels))  # every row of the leaderboard has its own name
    assert [d.ratios for d in more.datasets] == [d.ratios for d in main.datasets]
    assert (more.condense_seeds, more.eval_seeds) == (main.condense_seeds, main.eval_seeds)


def test_parsed_values(tmp_path):
    exp = load_experiment(write(tmp_path, with_(seeds={"condense": [0, 1], "eval": [3]},
                                                 resources={"cpu": 0.5, "gpu": 0.25})))
    assert exp.condense_seeds == (0, 1) and exp.eval_seeds == (3,)
    assert exp.cpu == 0.5 and exp.gpu == 0.25
    gcond = exp.methods[1]
    assert set(gcond.search) == {"lr_feat", "lr_adj"} and gcond.n_trials == 4 and gcond.fixed == {"epochs": 5, "structure_epochs": 1}
    assert len(exp.cells()) == 4


def test_grid_original_anchors_and_modalities(tmp_path):
    text = """
name: g
x-gm: &gm {epochs: 3, structure_epochs: 1}
datasets:
  - {name: synthetic, ratios: [0.01], modalities: [text]}
  - {name: synthetic, options: {alignment: unaligned}, ratios: [0.01]}
methods:
  - {name: original}
  - {name: sr_gm, fixed: *gm, grid: {lam: [1.0, 10.0]}}
"""
    exp = load_experiment(write(tmp_path, text))
    assert [m.label for m in exp.methods] == ["original", "sr_gm[lam=1.0]", "sr_gm[lam=10.0]"]
    assert exp.methods[1].fixed == {"epochs": 3, "structure_epochs": 1, "lam": 1.0}
    assert exp.datasets[0].variant == "modalities=text" and exp.datasets[1].variant == "alignment=unaligned"
    cells = exp.cells()
    assert [c.ratio for c in cells if c.method.is_original] == [1.0, 1.0]
    assert len(cells) == 6


@pytest.mark.parametrize("data, where, expected", [
    (with_(extra=1), "extra", "unknown key; expected one of"),
    (with_(name="bad name!"), "name", "letters, digits"),
    (with_(datasets=[{"name": "synthetic", "ratios": [0.0]}]), "datasets[0].ratios[0]", "a number > 0"),
    (with_(datasets=[{"name": "synthetic", "ratios": [1.5]}]), "datasets[0].ratios[0]", "<= 1"),
    (with_(datasets=[{"name": "synthetic", "ratios": ["a"]}]), "datasets[0].ratios[0]", "a number"),
    (with_(datasets=[{"name": "synthetic", "ratios": [0.1, 0.1]}]), "datasets[0].ratios", "distinct"),
    (with_(datasets=[{"name": "synthetic"}]), "datasets[0].ratios", "required"),
    (with_(datasets=[{"name": "nope", "ratios": [0.1]}]), "datasets[0]", "unknown dataset"),
    (with_(datasets=[{"name": "synthetic", "ratios": [0.1], "options": {"colour": 1}}]), "colour", "unknown key"),
    (with_(methods=[{"name": "nope"}]), "methods[0].name", "unknown method"),
    (with_(methods=[{"name": "gcond", "fixed": {"epoch": 5}}]), "methods[0].fixed", "unknown key 'epoch'"),
    (with_(methods=[{"name": "gcond", "fixed": {"epochs": "many"}}]), "methods[0].fixed.epochs", "expected int"),
    (with_(methods=[{"name": "gcond", "search": {"lr_feat": {"normal": [0, 1]}}}]), "methods[0].search.lr_feat",
     "loguniform"),
    (with_(methods=[{"name": "gcond", "search": {"lr_feat": {"loguniform": [0.1, 0.01]}}}]),
     "methods[0].search.lr_feat.loguniform", "low < high"),
    (with_(methods=[{"name": "gcond", "search": {"lr_feat": {"loguniform": [0, 0.1]}}}]),
     "methods[0].search.lr_feat.loguniform[0]", "low > 0"),
    (with_(methods=[{"name": "gcond", "search": {"lr_fet": {"uniform": [0, 1]}}}]), "methods[0].search", "lr_fet"),
    (with_(methods=[{"name": "gcond", "fixed": {"lr_feat": 0.1}, "search": {"lr_feat": {"uniform": [0, 1]}}}]),
     "methods[0].search.lr_feat", "not also fixed"),
    (with_(methods=[{"name": "random", "search": "declared"}]), "methods[0].search", "declares no search space"),
    (with_(methods=[{"name": "random"}, {"name": "random"}]), "methods[].label", "distinct"),
    (with_(methods=[{"name": "original", "fixed": {"a": 1}}]), "methods[0].fixed", "nothing"),
    (with_(methods=[{"name": "random", "n_trials": 0}]), "methods[0].n_trials", ">= 1"),
    (with_(evaluation={"archs": ["gcnn"]}), "evaluation.archs[0]", "one of"),
    (with_(evaluation={"options": {"epochz": 3}}), "evaluation.options", "unknown key 'epochz'"),
    (with_(resources={"gpu": 1.5}), "resources.gpu", "fraction <= 1 or a whole number"),
    (with_(resources={"cpu": 0}), "resources.cpu", "> 0"),
    (with_(search={"sampler": "grid"}), "search.sampler", "'tpe' or 'random'"),
    (with_(seeds={"condense": [0, -1]}), "seeds.condense[1]", ">= 0"),
    (with_(keep_graphs="yes"), "keep_graphs", "true or false"),
    ({"datasets": BASE["datasets"], "methods": BASE["methods"]}, "name", "required"),
    ([1, 2], "top level", "a mapping"),
])
def test_bad_files_name_file_key_and_expectation(tmp_path, data, where, expected):
    path = write(tmp_path, data)
    with pytest.raises(InputError) as info:
        load_experiment(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert where in message, message
    assert expected in message, message
    assert "\n" not in message


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="not valid YAML .line 2"):
        load_experiment(write(tmp_path, "name: x\n  bad: [\n"))
    with pytest.raises(InputError, match="experiment file not found"):
        load_experiment(tmp_path / "missing.yaml")


def test_parse_without_registries():
    exp = parse_experiment({"name": "x", "datasets": [{"name": "anything", "ratios": [0.5]}],
                            "methods": [{"name": "whatever", "fixed": {"k": 1}}]}, validate=False)
    assert exp.cells()[0].method.fixed == {"k": 1}
