"""The condensation-method interface, its typed configs and search spaces, and the method registry.

A method is a `CondensationMethod` subclass with a ``name``, a dataclass ``Config`` (typed, with
defaults), an optional ``search_space`` and ``condense(graph, ratio, ctx) -> CondensedGraph``.
Built-ins register with `register_method` and are imported lazily by name; other packages register
through the ``mmgc.methods`` entry-point group (``name = "package.module:Class"``).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, ClassVar, Literal, Mapping, Protocol, get_args, get_origin, get_type_hints

import torch

from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph

ENTRY_POINT_GROUP = "mmgc.methods"

# name -> module whose import registers it (lazy: listing methods imports nothing heavy)
_BUILTIN_METHODS = {
    "random": "mmgc.methods.coreset",
    "herding": "mmgc.methods.coreset",
    "kcenter": "mmgc.methods.coreset",
    "gcond": "mmgc.methods.gcond",
    "sr_gm": "mmgc.methods.sr_gm",
    "msgc": "mmgc.methods.msgc",
    "sgdd": "mmgc.methods.sgdd",
}
_REGISTRY: dict[str, type["CondensationMethod"]] = {}


# ---------------------------------------------------------------------------------------- reporting
class Reporter(Protocol):
    """Where a method sends intermediate metrics (a progress bar, Ray Tune, MLflow...)."""

    def report(self, step: int, metrics: Mapping[str, float]) -> None: ...


class NullReporter:
    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        return None


@dataclass
class Context:
    """What a method may use besides the graph: device, seed, a reporter and a time budget (seconds;
    None = unlimited). Methods stop early, keeping their best result, once the budget is spent."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    reporter: Reporter = field(default_factory=NullReporter)
    time_budget_s: float | None = None


# ---------------------------------------------------------------------------------------- search spaces
@dataclass(frozen=True)
class SearchDim:
    """One searchable hyper-parameter: ``loguniform``/``uniform`` in [low, high], ``int`` in
    [low, high] (inclusive), or ``choice`` among ``choices``."""

    kind: Literal["loguniform", "uniform", "int", "choice"]
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind == "choice":
            if not self.choices:
                raise InputError("search space: a 'choice' dimension needs a non-empty list of choices")
        elif self.kind in ("loguniform", "uniform", "int"):
            if self.low is None or self.high is None or not self.low < self.high:
                raise InputError(f"search space: a {self.kind!r} dimension needs low < high, found {self.low}, {self.high}")
            if self.kind == "loguniform" and self.low <= 0:
                raise InputError(f"search space: 'loguniform' needs low > 0, found {self.low}")
        else:
            raise InputError(f"search space: unknown kind {self.kind!r}; expected loguniform, uniform, int or choice")


# ---------------------------------------------------------------------------------------- configs
def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert ``value`` (possibly a string from the command line) to ``annotation`` or fail clearly."""
    origin = get_origin(annotation)
    if origin is Literal:
        allowed = get_args(annotation)
        if value not in allowed:
            raise InputError(f"{where}: expected one of {list(allowed)}, found {value!r}")
        return value
    args = [a for a in get_args(annotation) if a is not type(None)]
    if origin is not None and type(None) in get_args(annotation):  # Optional[...]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(value, args[0], where)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise InputError(f"{where}: expected true or false, found {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise InputError(f"{where}: expected a number, found {value!r}")
        try:
            number = annotation(value) if annotation is float else int(str(value), 10) if isinstance(value, str) else value
        except (TypeError, ValueError):
            raise InputError(f"{where}: expected {annotation.__name__}, found {value!r}") from None
        if annotation is int and (not isinstance(number, int) or isinstance(number, bool)):
            if isinstance(number, float) and number.is_integer():
                return int(number)
            raise InputError(f"{where}: expected an integer, found {value!r}")
        if annotation is float and number != number:
            raise InputError(f"{where}: expected a number, found NaN")
        return annotation(number)
    if annotation is str:
        if not isinstance(value, str):
            raise InputError(f"{where}: expected a string, found {value!r}")
        return value
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        item = get_args(annotation)[0] if get_args(annotation) else str
        return origin(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    return value


def build_config(config_cls: type, values: Mapping[str, Any] | None = None, where: str = "config") -> Any:
    """Instantiate a config dataclass from ``values``, rejecting unknown keys and converting types."""
    values = dict(values or {})
    hints = get_type_hints(config_cls)
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; expected one of {sorted(known)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    try:
        return config_cls(**kwargs)
    except InputError:
        raise
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from None


def config_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_hash(method: str, config: Mapping[str, Any]) -> str:
    """A stable short hash of a method name and its full config (for result keys)."""
    text = json.dumps({"method": method, "config": dict(config)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------- the interface
class CondensationMethod(ABC):
    """Base class of every condensation method.

    Subclasses set ``name`` (via `register_method`), ``Config`` (a dataclass) and optionally
    ``search_space``, and implement `condense`. Budget, labels and initialisation helpers live in
    `mmgc.methods.budget` and are shared by every method.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type]
    search_space: ClassVar[dict[str, SearchDim]] = {}

    def __init__(self, config: Any = None, **overrides: Any):
        if config is None:
            config = build_config(self.Config, overrides, where=f"{self.name} config")
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config

    @abstractmethod
    def condense(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> CondensedGraph:
        """Condense ``graph`` to ``n = ratio * N`` synthetic nodes, N being the nodes the method may
        see (the train graph when inductive, the whole graph when transductive)."""


def register_method(name: str) -> Callable[[type[CondensationMethod]], type[CondensationMethod]]:
    def decorate(cls: type[CondensationMethod]) -> type[CondensationMethod]:
        if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
            raise TypeError(f"method {name!r}: Config must be a dataclass")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def list_methods() -> dict[str, str]:
    """Every known method name -> where it comes from (``built-in`` or the providing distribution)."""
    found = {name: "built-in" for name in _BUILTIN_METHODS}
    for name, ep in _entry_points().items():
        if name not in found:
            found[name] = f"entry point {ep.value}" + (f" ({ep.dist.name})" if ep.dist else "")
    for name in _REGISTRY:
        found.setdefault(name, "registered at run time")
    return dict(sorted(found.items()))


def get_method(name: str) -> type[CondensationMethod]:
    """The method class registered under ``name`` (importing its module on first use)."""
    if name not in _REGISTRY:
        if name in _BUILTIN_METHODS:
            importlib.import_module(_BUILTIN_METHODS[name])
        else:
            ep = _entry_points().get(name)
            if ep is not None:
                cls = ep.load()
                if not (isinstance(cls, type) and issubclass(cls, CondensationMethod)):
                    raise InputError(f"entry point {name!r} ({ep.value}) is not a CondensationMethod subclass")
                _REGISTRY.setdefault(name, cls)
    if name not in _REGISTRY:
        raise InputError(f"unknown method {name!r}; expected one of {list(list_methods())}")
    return _REGISTRY[name]


def create_method(name: str, values: Mapping[str, Any] | None = None) -> CondensationMethod:
    """Instantiate method ``name`` with config ``values`` (unknown keys and bad values rejected)."""
    cls = get_method(name)
    return cls(build_config(cls.Config, values, where=f"{name} config"))
