"""Experiment files (`tune_configs/*.yaml`): a typed schema, checked as a whole before anything runs.

`load_experiment` reads a file into an `Experiment`; a wrong key or value is an `InputError` whose one
line names the file, the key and what was expected. The format, every key and every check are
documented on the documentation site's "Experiments" page (``docs/experiments.md``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, get_args, get_type_hints

import yaml

from mmgc.datasets import get_dataset_spec
from mmgc.datasets._common import variant_string
from mmgc.errors import InputError
from mmgc.harness.evaluate import eval_settings
from mmgc.harness.schema import ORIGINAL
from mmgc.methods.base import SearchDim, build_config, get_method
from mmgc.models.base import list_backbones
from mmgc.presets import list_presets, load_preset
from mmgc.regularizers import parse_regularizers
from mmgc.runtime import MAX_THREADS

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_SPACE_KINDS = ("loguniform", "uniform", "int", "choice")
MAX_SEED = 2**32 - 1
"""The largest seed (condensation, evaluation, search): methods derive their own seeds from it by
multiplying, and the products must stay within torch's 64-bit seeds."""
MAX_GRID = 10_000
"""The most combinations one entry's ``grid`` may have: each is a cell of its own (one or more trials
per condensation seed), and every one is checked before anything starts."""


# ---------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class DatasetEntry:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    root: str | None = None
    ratios: tuple[float, ...] = ()
    modalities: tuple[str, ...] | None = None   # keep only these modalities' columns (None: all)
    variant: str = ""              # options that differ from the dataset's defaults ('k=v;...')


@dataclass(frozen=True)
class MethodEntry:
    name: str
    label: str
    fixed: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)    # key -> SearchDim
    n_trials: int = 0
    archs: tuple[str, ...] = ()
    regularizers: Any = None   # this entry's training-time regularizers (overrides evaluation.regularizers)

    @property
    def is_original(self) -> bool:
        return self.name == ORIGINAL


@dataclass(frozen=True)
class Cell:
    """One (dataset, ratio, method entry): one Optuna study, or one fixed config."""

    dataset: DatasetEntry
    ratio: float
    method: MethodEntry

    @property
    def key(self) -> tuple[str, str, float, str]:
        return (self.dataset.name, self.dataset.variant, self.ratio, self.method.label)

    @property
    def name(self) -> str:
        variant = f"[{self.dataset.variant}]" if self.dataset.variant else ""
        return f"{self.dataset.name}{variant}@{self.ratio:g}/{self.method.label}"


@dataclass(frozen=True)
class Experiment:
    name: str
    datasets: tuple[DatasetEntry, ...]
    methods: tuple[MethodEntry, ...]
    path: str | None = None
    description: str = ""
    results: str = "results"
    mlflow_uri: str | None = None
    n_trials: int = 10
    sampler: str = "tpe"
    search_seed: int = 0
    condense_seeds: tuple[int, ...] = (0,)
    eval_seeds: tuple[int, ...] = (0,)
    archs: tuple[str, ...] = ("gcn",)
    eval_options: dict[str, Any] = field(default_factory=dict)
    cpu: float = 1.0
    gpu: float = 0.25
    time_budget_s: float | None = None
    keep_graphs: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def cells(self) -> list[Cell]:
        out: list[Cell] = []
        for d in self.datasets:
            for m in self.methods:
                if m.is_original:
                    out.append(Cell(d, 1.0, m))
                else:
                    out.extend(Cell(d, r, m) for r in d.ratios)
        return out


# ---------------------------------------------------------------------------------------- checking
class _Checker:
    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, expected: str, found: Any = dataclasses.MISSING) -> None:
        tail = "" if found is dataclasses.MISSING else f", found {found!r}"
        raise InputError(f"{self.source}: {where}: expected {expected}{tail}")

    def mapping(self, value: Any, where: str, known: Sequence[str] | None, required: Sequence[str] = ()) -> dict[str, Any]:
        """``value`` as a dict (None: empty); ``known`` lists the keys it may have (None: any key)."""
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.fail(where or "top level", "a mapping" + (f" with keys {list(known)}" if known is not None else ""),
                      value)
        for key in value:
            if known is not None and key not in known:
                raise InputError(f"{self.source}: {where + '.' if where else ''}{key}: unknown key; "
                                 f"expected one of {list(known)}")
        for key in required:
            if key not in value or value[key] is None:
                self.fail(f"{where + '.' if where else ''}{key}", "a value (this key is required)")
        return dict(value)

    def string(self, value: Any, where: str, pattern: re.Pattern | None = None) -> str:
        if not isinstance(value, str) or not value:
            self.fail(where, "a non-empty string", value)
        if pattern is not None and not pattern.match(value):
            self.fail(where, "letters, digits, '.', '_' or '-' (starting with a letter or digit)", value)
        return value

    def number(self, value: Any, where: str, low: float | None = None, high: float | None = None,
               low_open: bool = False, integer: bool = False) -> float | int:
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type:
            self.fail(where, "an integer" if integer else "a number", value)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(where, "a finite number", value)
        if low is not None and (value <= low if low_open else value < low):
            self.fail(where, f"a number {'>' if low_open else '>='} {low}", value)
        if high is not None and value > high:
            self.fail(where, f"a number <= {high}", value)
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            self.fail(where, "true or false", value)
        return value

    def seq(self, value: Any, where: str, nonempty: bool = True) -> list[Any]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            self.fail(where, "a list", value)
        if nonempty and not value:
            self.fail(where, "a non-empty list", value)
        return list(value)

    def unique(self, values: Sequence[Any], where: str) -> None:
        seen = set()
        for v in values:
            if v in seen:
                self.fail(where, "distinct values", f"{v!r} twice")
            seen.add(v)


def _search_dim(chk: _Checker, spec: Any, where: str):
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in _SPACE_KINDS:
        chk.fail(where, "one of {loguniform: [lo, hi]}, {uniform: [lo, hi]}, {int: [lo, hi]}, {choice: [a, ...]}", spec)
    kind, args = next(iter(spec.items()))
    args = chk.seq(args, f"{where}.{kind}")
    if kind == "choice":
        for i, a in enumerate(args):
            if not isinstance(a, (str, int, float, bool)) and a is not None:
                chk.fail(f"{where}.choice[{i}]", "a string, number, boolean or null", a)
        return SearchDim("choice", choices=tuple(args))
    if len(args) != 2:
        chk.fail(f"{where}.{kind}", "[low, high]", args)
    low = chk.number(args[0], f"{where}.{kind}[0]", integer=kind == "int")
    high = chk.number(args[1], f"{where}.{kind}[1]", integer=kind == "int")
    if not low < high:
        chk.fail(f"{where}.{kind}", "low < high", args)
    if kind == "loguniform" and low <= 0:
        chk.fail(f"{where}.{kind}[0]", "low > 0 for loguniform", low)
    return SearchDim(kind, low=low, high=high)


def _grid_label(base: str, combo: Mapping[str, Any]) -> str:
    return base + "[" + ",".join(f"{k}={v}" for k, v in combo.items()) + "]"


def is_label_of(label: str, base: str) -> bool:
    """Whether ``label`` is the entry label ``base`` itself or one of its grid cells (`_grid_label`)."""
    return label == base or (label.startswith(base + "[") and label.endswith("]"))


def _check_method_values(chk: _Checker, cls: type, values: Mapping[str, Any], where: str) -> None:
    try:
        build_config(cls.Config, values, where=where)
    except InputError as exc:
        raise InputError(f"{chk.source}: {exc}") from None


def _parse_methods(chk: _Checker, raw: Any, default_trials: int, default_archs: tuple[str, ...],
                   validate: bool) -> list[MethodEntry]:
    entries: list[MethodEntry] = []
    for i, item in enumerate(chk.seq(raw, "methods")):
        where = f"methods[{i}]"
        m = chk.mapping(item, where, ["name", "label", "preset", "fixed", "search", "grid", "n_trials", "archs",
                                      "regularizers"], ["name"])
        regularizers = m.get("regularizers")
        if regularizers is not None and validate:
            try:
                parse_regularizers(regularizers)
            except InputError as exc:
                raise InputError(f"{chk.source}: {where}.regularizers: {exc}") from None
        name = chk.string(m["name"], f"{where}.name")
        label = chk.string(m.get("label", name), f"{where}.label")
        fixed = chk.mapping(m.get("fixed"), f"{where}.fixed", known=None)
        n_trials = chk.number(m.get("n_trials", default_trials), f"{where}.n_trials", low=1, integer=True)
        archs = tuple(chk.string(a, f"{where}.archs[{j}]") for j, a in
                      enumerate(chk.seq(m["archs"], f"{where}.archs"))) if "archs" in m else default_archs
        cls = None
        if name == ORIGINAL:
            for key in ("fixed", "search", "grid", "n_trials"):
                if m.get(key):
                    chk.fail(f"{where}.{key}", f"nothing for the {ORIGINAL!r} entry (it trains on the whole graph)")
        elif validate:
            try:
                cls = get_method(name)
            except InputError as exc:
                raise InputError(f"{chk.source}: {where}.name: {exc}") from None
        # search space
        search_raw = m.get("search")
        search: dict[str, Any] = {}
        if search_raw == "declared":
            if cls is not None:
                search = dict(getattr(cls, "search_space", {}) or {})
                if not search:
                    chk.fail(f"{where}.search", f"a mapping: method {name!r} declares no search space")
        elif search_raw is not None:
            if not isinstance(search_raw, Mapping):
                chk.fail(f"{where}.search", "'declared' or a mapping key -> {kind: [...]}", search_raw)
            search = {k: _search_dim(chk, v, f"{where}.search.{k}") for k, v in search_raw.items()}
        overlap = sorted(set(search) & set(fixed))
        if overlap:
            chk.fail(f"{where}.search.{overlap[0]}", "a key that is not also fixed")
        # grid
        grid = chk.mapping(m.get("grid"), f"{where}.grid", known=None)
        for k, values in grid.items():
            chk.seq(values, f"{where}.grid.{k}")
            if k in fixed or k in search:
                chk.fail(f"{where}.grid.{k}", "a key that is neither fixed nor searched")
        size = math.prod(len(values) for values in grid.values())
        if size > MAX_GRID:
            chk.fail(f"{where}.grid", f"at most {MAX_GRID:,} combinations (each is a cell of its own)", size)
        if m.get("preset") is not None:  # the preset's values, under fixed, searched and grid keys
            preset = _preset_values(chk, name, chk.string(m["preset"], f"{where}.preset"), f"{where}.preset", validate)
            fixed = {**{k: v for k, v in preset.items() if k not in search and k not in grid}, **fixed}
        combos = [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())] if grid else [{}]
        if cls is not None:
            for key, dim in search.items():
                _check_search_kind(chk, cls, key, dim, f"{where}.search.{key}")
        for combo in combos:
            values = {**fixed, **combo}
            if cls is not None:
                _check_method_values(chk, cls, values, f"{where}.fixed" if not combo else f"{where}.grid")
                for key, dim in search.items():  # every value the search may give the key
                    for probe in (dim.choices if dim.kind == "choice" else (dim.low, dim.high)):
                        _check_method_values(chk, cls, {**values, key: probe}, f"{where}.search")
            entries.append(MethodEntry(name=name, label=_grid_label(label, combo) if combo else label, fixed=values,
                                       search=search, n_trials=int(n_trials), archs=archs, regularizers=regularizers))
    chk.unique([e.label for e in entries], "methods[].label (two entries have the same label; set `label`)")
    return entries


def _check_search_kind(chk: _Checker, cls: type, key: str, dim: Any, where: str) -> None:
    """A continuous dimension (``uniform``, ``loguniform``) gives fractions: not for an integer key."""
    annotation = get_type_hints(cls.Config).get(key)
    if dim.kind in ("uniform", "loguniform") and int in (annotation, *get_args(annotation)):
        chk.fail(f"{where}.{dim.kind}", f"{{int: [low, high]}} or {{choice: [...]}}: {key} takes integers")


def _preset_values(chk: _Checker, method: str, preset: str, where: str, validate: bool) -> dict[str, Any]:
    """The config values of a method entry's ``preset`` (`mmgc.presets`)."""
    if method == ORIGINAL:
        chk.fail(where, f"nothing for the {ORIGINAL!r} entry (it trains on the whole graph)")
    try:
        if validate:
            return load_preset(method, preset)
        found = [p for p in list_presets(method) if p.name == preset]
        if not found:
            raise InputError(f"unknown preset {preset!r} for method {method!r}")
        return dict(found[0].settings)
    except InputError as exc:
        raise InputError(f"{chk.source}: {where}: {exc}") from None


def _parse_datasets(chk: _Checker, raw: Any, validate: bool) -> list[DatasetEntry]:
    out: list[DatasetEntry] = []
    for i, item in enumerate(chk.seq(raw, "datasets")):
        where = f"datasets[{i}]"
        d = chk.mapping(item, where, ["name", "options", "root", "ratios", "modalities"], ["name", "ratios"])
        name = chk.string(d["name"], f"{where}.name")
        options = chk.mapping(d.get("options"), f"{where}.options", known=None)
        root = d.get("root")
        if root is not None:
            root = chk.string(root, f"{where}.root")
        ratios = tuple(float(chk.number(r, f"{where}.ratios[{j}]", low=0, high=1, low_open=True))
                       for j, r in enumerate(chk.seq(d["ratios"], f"{where}.ratios")))
        chk.unique(ratios, f"{where}.ratios")
        modalities = None
        if d.get("modalities") is not None:
            modalities = tuple(chk.string(m, f"{where}.modalities[{j}]")
                               for j, m in enumerate(chk.seq(d["modalities"], f"{where}.modalities")))
            chk.unique(modalities, f"{where}.modalities")
        variant = ";".join(f"{k}={options[k]}" for k in sorted(options))
        if validate:

            try:
                spec = get_dataset_spec(name)
                parsed = build_config(spec.options, options, where=f"{where}.options")
            except InputError as exc:
                raise InputError(f"{chk.source}: {where}: {exc}") from None
            variant = variant_string(parsed)  # the options that differ from the dataset's defaults
        if modalities is not None:
            variant = ";".join(p for p in (variant, "modalities=" + ",".join(modalities)) if p)
        out.append(DatasetEntry(name=name, options=options, root=root, ratios=ratios, modalities=modalities,
                                variant=variant))
    chk.unique([(d.name, d.variant) for d in out], "datasets (the same dataset and options twice)")
    return out


def _check_archs(chk: _Checker, archs: Sequence[str], where: str) -> None:
    known = list_backbones()
    for i, a in enumerate(archs):
        if a not in known:
            chk.fail(f"{where}[{i}]", f"one of {known}", a)


def _check_eval_options(chk: _Checker, options: Mapping[str, Any]) -> None:
    """Evaluation options are the fields of the protocol's `EvalConfig` (plus ``regularizers``)."""
    try:
        eval_settings(options)
    except InputError as exc:
        raise InputError(f"{chk.source}: {exc}") from None


def parse_experiment(data: Any, source: str = "<experiment>", validate: bool = True) -> Experiment:
    """Check ``data`` (the parsed YAML) and build the `Experiment`. ``validate`` also checks names and
    values against the registries (datasets, methods, backbones, evaluation options)."""
    chk = _Checker(source)
    if isinstance(data, Mapping):  # `x-...` keys hold YAML anchors shared by entries (ignored)
        data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    top = chk.mapping(data, "", ["name", "description", "results", "mlflow_uri", "datasets", "methods", "search",
                                 "seeds", "evaluation", "resources", "keep_graphs"], ["name", "datasets", "methods"])
    name = chk.string(top["name"], "name", _NAME)
    description = top.get("description") or ""
    if not isinstance(description, str):
        chk.fail("description", "a string", description)
    results = chk.string(top.get("results", "results"), "results")
    mlflow_uri = top.get("mlflow_uri")
    if mlflow_uri is not None:
        mlflow_uri = chk.string(mlflow_uri, "mlflow_uri")

    search = chk.mapping(top.get("search"), "search", ["n_trials", "sampler", "seed"])
    n_trials = chk.number(search.get("n_trials", 10), "search.n_trials", low=1, integer=True)
    sampler = search.get("sampler", "tpe")
    if sampler not in ("tpe", "random"):
        chk.fail("search.sampler", "'tpe' or 'random'", sampler)
    search_seed = chk.number(search.get("seed", 0), "search.seed", low=0, high=MAX_SEED, integer=True)

    seeds = chk.mapping(top.get("seeds"), "seeds", ["condense", "eval"])
    condense_seeds = tuple(chk.number(s, f"seeds.condense[{i}]", low=0, high=MAX_SEED, integer=True)
                           for i, s in enumerate(chk.seq(seeds.get("condense", [0]), "seeds.condense")))
    eval_seeds = tuple(chk.number(s, f"seeds.eval[{i}]", low=0, high=MAX_SEED, integer=True)
                       for i, s in enumerate(chk.seq(seeds.get("eval", [0]), "seeds.eval")))
    chk.unique(condense_seeds, "seeds.condense")
    chk.unique(eval_seeds, "seeds.eval")

    evaluation = chk.mapping(top.get("evaluation"), "evaluation", ["archs", "options", "regularizers"])
    archs = tuple(chk.string(a, f"evaluation.archs[{i}]")
                  for i, a in enumerate(chk.seq(evaluation.get("archs", ["gcn"]), "evaluation.archs")))
    chk.unique(archs, "evaluation.archs")
    eval_options = chk.mapping(evaluation.get("options"), "evaluation.options", known=None)
    if "regularizers" in eval_options:
        chk.fail("evaluation.options.regularizers", "regularizers under evaluation.regularizers")
    if evaluation.get("regularizers") is not None:
        eval_options["regularizers"] = evaluation["regularizers"]

    resources = chk.mapping(top.get("resources"), "resources", ["cpu", "gpu", "time_budget_s"])
    cpu = float(chk.number(resources.get("cpu", 1), "resources.cpu", low=0, high=MAX_THREADS, low_open=True))
    gpu = float(chk.number(resources.get("gpu", 0.25), "resources.gpu", low=0))
    if gpu > 1 and not float(gpu).is_integer():
        chk.fail("resources.gpu", "a fraction <= 1 or a whole number of GPUs", gpu)
    budget = resources.get("time_budget_s")
    if budget is not None:
        budget = float(chk.number(budget, "resources.time_budget_s", low=0, low_open=True))
    keep_graphs = chk.boolean(top.get("keep_graphs", False), "keep_graphs")

    datasets = _parse_datasets(chk, top["datasets"], validate)
    methods = _parse_methods(chk, top["methods"], int(n_trials), archs, validate)
    if validate:
        _check_archs(chk, archs, "evaluation.archs")
        for i, m in enumerate(methods):
            _check_archs(chk, m.archs, f"methods[{i}].archs")
        _check_eval_options(chk, eval_options)
    return Experiment(
        name=name, datasets=tuple(datasets), methods=tuple(methods), path=None if source.startswith("<") else source,
        description=description, results=results, mlflow_uri=mlflow_uri, n_trials=int(n_trials), sampler=sampler,
        search_seed=int(search_seed), condense_seeds=condense_seeds, eval_seeds=eval_seeds, archs=archs,
        eval_options=eval_options, cpu=cpu, gpu=gpu, time_budget_s=budget, keep_graphs=keep_graphs,
        raw=json.loads(json.dumps(top, default=str)),
    )


def load_experiment(path: str | Path, validate: bool = True) -> Experiment:
    """Read and check an experiment file; every problem is one `InputError` line naming the file."""
    path = Path(path)
    data = read_yaml(path, "experiment file", "an experiment file (tune_configs/*.yaml)",
                     "an experiment with at least name, datasets and methods")
    return parse_experiment(data, str(path), validate=validate)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that holds a key twice (PyYAML keeps the last one
    silently: ``methods:`` twice would drop the first list). Keys merged in with ``<<: *anchor`` may
    still be overridden, as YAML intends."""

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=False)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark,
                        f"found the key {key!r} twice (the later one would silently replace the first)",
                        key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: Path, noun: str, expected: str, content: str) -> Any:
    """The parsed YAML of ``path``, ``expected`` to be a ``noun`` holding ``content``; every problem is
    one `InputError` line."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory; expected {expected}")
    if not path.is_file():
        raise InputError(f"{path}: {noun} not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); expected {expected}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__}); expected {expected}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InputError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        raise InputError(f"{path}: the file is empty (or only comments); expected {content}")
    return data
