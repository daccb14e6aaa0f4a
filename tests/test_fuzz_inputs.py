"""Damaged inputs never break the command line's contract: valid experiment files and condensed-graph
files, mutated at random (seeded, a bounded number of cases within a time budget), make `mmgc sweep
--dry-run` and `mmgc evaluate` exit 0, 1 or 2, never with a traceback, with one line on stderr for
bad input, and write nothing outside the results root. Run in-process, through the real `main()`:
an exception that escapes it is a traceback."""

from __future__ import annotations

import copy
import random
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from conftest import run_cli

SEED = 23
BUDGET_S = 8.0  # per kind of file; at least MIN_CASES are run whatever the machine's speed
MIN_CASES, MAX_CASES = 8, 40
EXPERIMENT = {
    "name": "fuzz", "results": "results",
    "datasets": [{"name": "synthetic", "options": {"nodes": 200}, "ratios": [0.05, 0.1]}],
    "methods": [{"name": "random"},
                {"name": "gcond", "fixed": {"epochs": 2}, "n_trials": 2,
                 "search": {"lr_feat": {"loguniform": [1e-4, 0.1]}, "hidden": {"choice": [16, 32]}}},
                {"name": "sr_gm", "label": "SR-GM", "grid": {"lam": [1, 10]}, "fixed": {"epochs": 2}}],
    "search": {"n_trials": 2, "sampler": "tpe", "seed": 0}, "seeds": {"condense": [0, 1], "eval": [0]},
    "evaluation": {"archs": ["gcn"], "options": {"epochs": 1}}, "resources": {"cpu": 1, "gpu": 0.25},
}
ODD_VALUES = [float("inf"), float("-inf"), float("nan"), 10**22, -(10**22), -1, 0, 0.5, 1e308, True, None, "",
              "x", "1e999", "../outside", [], {}, [1, "a"], [[[]]], {"uniform": [0, float("inf")]},
              {"choice": []}, {"int": [5, 1]}, "gcond", "original"]


def _random_path(node: Any, rng: random.Random) -> tuple:
    """The path (dict keys, list indices) of a value inside ``node``, drawn by walking down from the top
    and stopping at each level with probability 1/3: top-level keys are hit as often as deep ones."""
    path: tuple = ()
    while isinstance(node, (dict, list)) and node:
        key = rng.choice(list(node) if isinstance(node, dict) else range(len(node)))
        path, node = path + (key,), node[key]
        if rng.random() < 1 / 3:
            break
    return path


def _get(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


def _mutate_data(data: Any, rng: random.Random, odd: list[Any]) -> Any:
    """``data`` with one value replaced by an odd one, one entry deleted, one unknown key added or one
    list entry repeated."""
    data = copy.deepcopy(data)
    path = _random_path(data, rng)
    parent, key = _get(data, path[:-1]), path[-1]
    action = rng.choice(["replace", "replace", "delete", "add", "repeat"])
    if action == "replace":
        parent[key] = copy.deepcopy(rng.choice(odd))
    elif action == "delete":
        del parent[key]
    elif action == "add" and isinstance(parent, dict):
        parent[rng.choice(["extra", "n_trials", "grid", "nodes", "seed"])] = copy.deepcopy(rng.choice(odd))
    elif action == "repeat" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    return data


def _mutate_text(text: str, rng: random.Random) -> str:
    """``text`` cut short, with a character changed, or with a line given twice."""
    lines = text.splitlines(keepends=True)
    action = rng.choice(["cut", "flip", "twice"])
    if action == "cut":
        return text[: rng.randrange(len(text))]
    if action == "flip":
        at = rng.randrange(len(text))
        return text[:at] + rng.choice(":-[]{}&*!|>'\"#%@`\t\x00é") + text[at + 1:]
    line = rng.randrange(len(lines))
    return "".join(lines[: line + 1] + lines[line:])


def _files_outside(root: Path) -> dict[str, tuple[float, int]]:
    """Every file and folder under ``root`` but the results root, with its modification time and size."""
    return {str(p.relative_to(root)): (p.stat().st_mtime, p.stat().st_size) for p in root.rglob("*")
            if p.relative_to(root).parts[0] != "results"}


def _check_contract(case: str, code: Any, out: str, err: str) -> None:
    assert code in (0, 1, 2), f"{case}: exit code {code}\n{err}"
    assert "Traceback" not in out + err, f"{case}\n{err}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{case}: {err}"


def _fuzz(workdir: Path, monkeypatch, capsys, make_case, args: list[str]) -> dict[int, int]:
    """Run ``args`` on up to `MAX_CASES` inputs from ``make_case(rng, index)`` (at least `MIN_CASES`, then
    while within `BUDGET_S`); the count of each exit code."""
    rng, codes, started = random.Random(SEED), {}, time.monotonic()
    for index in range(MAX_CASES):
        if index >= MIN_CASES and time.monotonic() - started > BUDGET_S:
            break
        case = make_case(rng, index)
        before = _files_outside(workdir)
        try:
            code, out, err = run_cli(monkeypatch, capsys, *args)
        except Exception as exc:  # escaped main(): a traceback
            pytest.fail(f"{case}: {type(exc).__name__}: {exc}")
        _check_contract(case, code, out, err)
        assert _files_outside(workdir) == before, f"{case}: wrote outside the results root"
        codes[code] = codes.get(code, 0) + 1
    return codes


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    return tmp_path


def test_mutated_experiment_files_keep_the_contract(workdir, monkeypatch, capsys):
    text = yaml.safe_dump(EXPERIMENT, sort_keys=False)

    def make_case(rng: random.Random, index: int) -> str:
        if index % 3 == 2:
            mutated = _mutate_text(text, rng)
        else:
            mutated = yaml.safe_dump(_mutate_data(EXPERIMENT, rng, ODD_VALUES), sort_keys=False)
        (workdir / "fuzz.yaml").write_text(mutated)
        return f"experiment file:\n{mutated}"

    codes = _fuzz(workdir, monkeypatch, capsys, make_case, ["sweep", "fuzz.yaml", "--dry-run"])
    assert codes.get(2), codes  # the mutations do reach the checks


def test_mutated_condensed_graph_files_keep_the_contract(workdir, monkeypatch, capsys):
    from mmgc.datasets import load_dataset
    from mmgc.methods.base import Context, create_method

    graph = load_dataset("synthetic", nodes=200)
    create_method("random").condense(graph, 0.05, Context()).save(workdir / "valid.pt")
    payload = torch.load(workdir / "valid.pt", weights_only=True)
    raw = (workdir / "valid.pt").read_bytes()
    n, d = payload["x"].shape
    generator = torch.Generator().manual_seed(SEED)
    odd = [*ODD_VALUES[:14], torch.zeros(3), torch.zeros(n, d, dtype=torch.long), torch.full((n, d), float("nan")),
           torch.randn(n, n, generator=generator), -torch.ones(n, n), torch.eye(n), torch.arange(n) + 100,
           torch.zeros(n, d).to_sparse(), {"text": [0, d]}, {"image": [128, d], "text": [0, 128]},
           {"text": "0:128"}, {"a": [0, 1], "b": [0, d]}]

    def make_case(rng: random.Random, index: int) -> str:
        if index % 4 == 3:
            cut = rng.randrange(len(raw))
            damaged = bytearray(raw[:cut] if rng.random() < 0.5 else raw)
            if len(damaged) == len(raw):
                damaged[rng.randrange(len(raw))] ^= 0xFF
            (workdir / "g.pt").write_bytes(bytes(damaged))
            return f"condensed graph file: bytes damaged ({len(damaged)} of {len(raw)})"
        mutated = _mutate_data(payload, rng, odd)
        torch.save(mutated, workdir / "g.pt")
        return f"condensed graph payload: {mutated!r}"[:2000]

    codes = _fuzz(workdir, monkeypatch, capsys, make_case,
                  ["evaluate", "g.pt", "--dataset", "synthetic", "-o", "nodes=200", "--runs", "1", "-e", "epochs=1",
                   "--rows-out", "results/rows.json"])
    assert codes.get(2), codes
