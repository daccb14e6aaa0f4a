"""`mmgc datasets list|options|info` for every source, and the CLI's exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from mmgc.harness.cli import app

runner = CliRunner()
ALL = ["synthetic", "synth-ele-fashion", "synth-goodreads-nc", "synth-amazon-sports", "synth-amazon-cloth",
       "ele-fashion", "books-nc", "amazon-sports", "amazon-cloth", "magb-toys", "magb-grocery",
       "magb-toys+synthfeat", "magb-grocery+synthfeat", "cora", "citeseer", "lastfm-2k", "synthetic-conflict",
       "synth-ele-fashion-conflict"]


def _mmgraph_writers():
    """The tiny-file writers of test_datasets_mmgraph (loaded by path: tests/ is not a package)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_mmgraph_files", Path(__file__).with_name("test_datasets_mmgraph.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_nc, module.write_lp


def mmgc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from mmgc.harness.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300)


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """The console entry point in-process: (exit code, stderr)."""
    from mmgc.harness.cli import main

    monkeypatch.setattr(sys, "argv", ["mmgc", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def test_list_shows_every_dataset():
    result = runner.invoke(app, ["datasets", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name in ALL:
        assert name in result.output
    for source in ("synthetic", "mmgraph", "magb", "planetoid"):
        assert source in result.output


def test_options_command():
    result = runner.invoke(app, ["datasets", "options", "synth-ele-fashion"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "alignment" in result.output and "97766" in result.output


def _info(*args: str) -> dict:
    result = runner.invoke(app, ["datasets", "info", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_info_synthetic_and_presets():
    s = _info("synthetic")
    assert (s["nodes"], s["classes"], s["modalities"], s["setting"]) == (3000, 6, {"text": 128, "image": 128}, "inductive")
    assert s["provenance"] == "synthetic" and 0.5 < s["edge_homophily"] < 0.7
    s = _info("synth-amazon-cloth", "-o", "scale=0.02", "-o", "alignment=unaligned")
    assert (s["classes"], s["metric"], s["variant"]) == (2, "roc_auc", "alignment=unaligned;scale=0.02")


@pytest.mark.parametrize("name,nodes,edges,classes,train", [("cora", 2708, 5278, 7, 140), ("citeseer", 3327, 4552, 6, 120)])
def test_info_planetoid(shared_data, name, nodes, edges, classes, train):
    s = _info(name, "--root", str(shared_data / "planetoid"))
    assert (s["nodes"], s["edges"], s["classes"], s["train"], s["val"], s["test"]) == (nodes, edges, classes, train, 500, 1000)


@pytest.mark.parametrize("name,nodes,directed,classes", [("magb-toys+synthfeat", 20695, 63443, 18),
                                                         ("magb-grocery+synthfeat", 17074, 85670, 20)])
def test_info_real_magb(shared_data, name, nodes, directed, classes):
    s = _info(name, "--root", str(shared_data / "magb"))
    assert (s["name"], s["nodes"], s["directed_edges_in_file"], s["classes"]) == (name, nodes, directed, classes)
    assert s["provenance"] == "real-topology+synthetic-features"


def test_info_lastfm_prints_license_and_class_names(shared_data):
    s = _info("lastfm-2k")
    assert (s["nodes"], s["edges"], s["classes"], s["provenance"]) == (1425, 9982, 12, "real")
    assert "non-commercial" in s["license"] and s["class_names"][0] == "reggae"
    result = runner.invoke(app, ["datasets", "info", "lastfm-2k"], env={"COLUMNS": "250"})
    assert result.exit_code == 0 and "[reggae, classical" in result.output  # rich markup kept literally


def test_info_mmgraph_from_tiny_files(tmp_path):
    write_nc, write_lp = _mmgraph_writers()

    write_nc(tmp_path / "ele-fashion")
    write_nc(tmp_path / "books-nc")
    write_lp(tmp_path / "sports-copurchase")
    write_lp(tmp_path / "cloth-copurchase")
    torch.save(torch.arange(60) % 2, tmp_path / "labels.pt")
    assert _info("ele-fashion", "--root", str(tmp_path))["nodes"] == 60
    assert _info("books-nc", "--root", str(tmp_path))["setting"] == "inductive"
    for name in ("amazon-sports", "amazon-cloth"):
        s = _info(name, "--root", str(tmp_path), "-o", f"labels={tmp_path / 'labels.pt'}")
        assert s["metric"] == "roc_auc" and "not published" in s["note"]


@pytest.mark.parametrize("args,match", [
    (["datasets", "info", "nope"], "unknown dataset 'nope'"),
    (["datasets", "info", "synthetic", "-o", "colour=red"], "unknown key 'colour'"),
    (["datasets", "info", "synthetic", "-o", "homophily"], "expected key=value"),
    (["datasets", "info", "synthetic", "-o", "homophily=2"], "homophily: expected a fraction"),
    (["datasets", "info", "ele-fashion", "--root", "/nonexistent"], "ele-fashion/nc_edges-nodeid.pt not found"),
    (["datasets", "options", "nope"], "unknown dataset 'nope'"),
])
def test_cli_bad_input_exits_2_with_one_line(monkeypatch, capsys, args, match):
    code, err = run_main(monkeypatch, capsys, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], err


def test_cli_bad_file_exits_2_in_a_real_process(tmp_path):
    """End to end through a fresh interpreter: a NaN in a published feature file."""
    write_nc, _ = _mmgraph_writers()

    folder = write_nc(tmp_path / "ele-fashion")
    torch.save(torch.randn(60, 16).index_put_((torch.tensor([2]),), torch.tensor(float("nan"))), folder / "clip_feat.pt")
    proc = mmgc("datasets", "info", "ele-fashion", "--root", str(tmp_path))
    assert proc.returncode == 2 and "clip_feat.pt: expected finite features" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
