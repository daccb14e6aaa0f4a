"""Named presets (`mmgc.presets`): every shipped preset is a valid config; `--preset`, an experiment's
`preset:` key and `mmgc methods info` use the one mechanism; the user's own values win over it."""

from __future__ import annotations

import json

import pytest
import yaml
from sweep_fakes import fake_rows

from mmgc.errors import InputError
from mmgc.presets import find_preset, list_presets, load_preset
from tests.conftest import run_cli

cli = run_cli


@pytest.mark.parametrize("preset", list_presets(), ids=lambda p: f"{p.method}:{p.name}")
def test_every_shipped_preset_is_a_valid_config(preset):
    from mmgc.methods.base import full_config

    assert preset.description and preset.settings
    config = full_config(preset.method, load_preset(preset.method, preset.name))
    for key, value in preset.settings.items():
        assert config[key] == (list(value) if isinstance(value, tuple) else value)


def test_gcond_has_its_published_cora_command():
    cora = find_preset("gcond", "cora")
    assert cora.datasets == ("cora",) and cora.published_for("cora") and not cora.published_for("citeseer")
    assert {k: cora.settings[k] for k in ("backbone", "lr_feat", "lr_adj", "epochs", "outer_loop", "inner_loop")} == \
        {"backbone": "sgc", "lr_feat": 1e-4, "lr_adj": 1e-4, "epochs": 600, "outer_loop": 20, "inner_loop": 15}
    settings = load_preset("gcond", "cora")
    settings["epochs"] = 1  # a fresh dict: callers cannot change the preset
    assert load_preset("gcond", "cora")["epochs"] == 600


def test_unknown_preset_names_the_ones_that_exist():
    with pytest.raises(InputError, match=r"unknown preset 'x' for method 'gcond'; expected one of \['cora', 'citeseer'\]"):
        load_preset("gcond", "x")
    with pytest.raises(InputError, match="'random' has no presets"):
        load_preset("random", "cora")


def test_a_malformed_preset_file_is_one_line(tmp_path):
    from mmgc.presets import _read

    bad = tmp_path / "presets.yaml"
    bad.write_text(yaml.safe_dump({"gcond": {"x": {"settings": {"epochs": 1}}}}))
    with pytest.raises(InputError, match=r"gcond\.x\.description: expected a non-empty string"):
        _read(str(bad))


def test_run_applies_the_preset_and_set_wins(monkeypatch, capsys, tmp_path):
    """`mmgc run --preset`: the trial's config is the preset's, with --set on top, and a preset used on
    a dataset it was not published for warns."""
    from mmgc.harness.cli import run as cli_run

    seen = {}

    def fake(spec, reporter=None, strict=False, tracking=None):
        seen["config"] = dict(spec.config)
        return fake_rows(spec, 0.5), None

    monkeypatch.setattr(cli_run, "run_trial_detailed", fake)
    code, out, err = cli(monkeypatch, capsys, "run", "--dataset", "synthetic", "--method", "gcond", "--ratio", "0.05",
                         "--preset", "cora", "--set", "epochs=30", "--rows-out", str(tmp_path / "rows.json"))
    assert code == 0, err
    assert seen["config"] == {**load_preset("gcond", "cora"), "epochs": "30"}  # --set values are coerced by the config
    assert "warning: preset gcond:cora was published for cora, not synthetic" in err
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert json.loads(rows[0]["method_config"])["inner_loop"] == 15


def test_experiment_files_take_a_preset_under_fixed_search_and_grid(tmp_path):
    from mmgc.harness.experiment import load_experiment

    data = {"name": "p", "datasets": [{"name": "cora", "ratios": [0.026]}],
            "methods": [{"name": "gcond", "preset": "cora", "fixed": {"epochs": 50}},
                        {"name": "gcond", "label": "searched", "preset": "cora", "search": "declared"},
                        {"name": "gcond", "label": "grid", "preset": "cora", "grid": {"inner_loop": [1, 2]}}]}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    fixed, searched, grid_a, grid_b = load_experiment(path).methods
    assert fixed.fixed == {**load_preset("gcond", "cora"), "epochs": 50}
    assert "lr_feat" not in searched.fixed and searched.fixed["backbone"] == "sgc"  # searched keys are searched
    assert (grid_a.fixed["inner_loop"], grid_b.fixed["inner_loop"]) == (1, 2)
    data["methods"] = [{"name": "gcond", "preset": "nope"}]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"p\.yaml: methods\[0\]\.preset: unknown preset 'nope'"):
        load_experiment(path)
    data["methods"] = [{"name": "original", "preset": "cora"}]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"methods\[0\]\.preset: expected nothing for the 'original' entry"):
        load_experiment(path)


def test_methods_info_lists_the_presets(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = cli(monkeypatch, capsys, "methods", "info", "gcond")
    assert code == 0, err
    assert "gcond presets" in out and "cora" in out and "citeseer" in out and "inner_loop=15" in out
    code, out, _ = cli(monkeypatch, capsys, "methods", "info", "random")
    assert code == 0 and "presets" not in out
