"""The plug-in registry shared by condensation methods and regularizers: entry points, run-time
registration, lazy built-ins, and the one-line errors."""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint

import pytest

from mmgc import plugins
from mmgc.errors import InputError
from mmgc.methods import Context, create_method, get_method, list_methods
from mmgc.methods import base as methods_base
from tests.conftest import make_tiny_graph


@pytest.fixture
def method_entry_points(monkeypatch, tmp_path):
    (tmp_path / "my_method_pkg.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass

        from mmgc.methods import CondensationMethod, create_method


        @dataclass
        class FirstConfig:
            pool: str = "random"


        class FirstOfPool(CondensationMethod):
            Config = FirstConfig

            def condense(self, graph, ratio, ctx):
                return create_method(self.config.pool).condense(graph, ratio, ctx)


        class NoConfig(CondensationMethod):
            def condense(self, graph, ratio, ctx):
                raise AssertionError("never built")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [EntryPoint(name="first-of-pool", value="my_method_pkg:FirstOfPool", group="mmgc.methods"),
           EntryPoint(name="no-config", value="my_method_pkg:NoConfig", group="mmgc.methods"),
           EntryPoint(name="not-a-method", value="json:dumps", group="mmgc.methods"),
           EntryPoint(name="elsewhere", value="json:dumps", group="other.group")]
    monkeypatch.setattr(plugins, "entry_points", lambda group: [e for e in eps if e.group == group])
    yield
    for name in ("first-of-pool", "no-config"):
        methods_base.METHOD_REGISTRY.classes.pop(name, None)


def test_a_method_from_an_entry_point_is_listed_named_and_runs(method_entry_points):
    listed = list_methods()
    assert listed["first-of-pool"].startswith("entry point my_method_pkg:FirstOfPool")
    assert listed["gcond"] == "built-in" and "elsewhere" not in listed
    cls = get_method("first-of-pool")
    assert cls.name == "first-of-pool"  # the entry point's name, set on load
    condensed = create_method("first-of-pool", {"pool": "random"}).condense(make_tiny_graph(), 0.25, Context(seed=0))
    assert condensed.num_nodes > 0
    with pytest.raises(InputError, match="unknown key 'pol'"):
        create_method("first-of-pool", {"pol": "random"})


@pytest.mark.parametrize("name,match", [("not-a-method", "not a CondensationMethod subclass"),
                                        ("no-config", "Config must be a dataclass"),
                                        ("elsewhere", "unknown method 'elsewhere'")])
def test_bad_entry_points_fail_with_one_line(method_entry_points, name, match):
    with pytest.raises(InputError, match=match):
        get_method(name)


def test_run_time_registration_checks_the_config():
    registry = plugins.PluginRegistry("widget", object, "mmgc.test-widgets", {})

    class NoConfig:
        pass

    with pytest.raises(TypeError, match="widget 'bare': Config must be a dataclass"):
        registry.register("bare")(NoConfig)
    assert registry.names() == {}


def test_cli_lists_methods_with_their_source_and_describes_one(method_entry_points):
    from typer.testing import CliRunner

    from mmgc.harness.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["methods", "list"])
    assert listed.exit_code == 0
    assert "sr_gm" in listed.output and "my_method_pkg:FirstOfPool" in listed.output
    info = runner.invoke(app, ["methods", "info", "sr_gm"])
    assert info.exit_code == 0 and "damp_structure" in info.output and "loguniform" in info.output


def test_cli_info_prints_docstrings_and_defaults_verbatim_not_as_markup(monkeypatch):
    """``[c]`` in a docstring or a default is text, not a rich style tag to swallow."""
    from dataclasses import dataclass

    from typer.testing import CliRunner

    from mmgc.harness.cli import app

    @dataclass
    class BracketConfig:
        pattern: str = "[bold]x"

    class Brackets(methods_base.CondensationMethod):
        """Keeps counts[c] nodes of class [c]."""

        Config = BracketConfig

        def condense(self, graph, ratio, ctx):
            raise AssertionError("never run")

    monkeypatch.setitem(methods_base.METHOD_REGISTRY.classes, "brackets", Brackets)
    Brackets.name = "brackets"
    result = CliRunner().invoke(app, ["methods", "info", "brackets"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "counts[c] nodes of class [c]" in " ".join(result.output.split())  # the title wraps to the table
    assert "'[bold]x'" in result.output
