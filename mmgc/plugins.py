"""What every kind of mmgc plug-in shares: typed configs built from user values, search spaces, and
a registry of named classes (built-ins imported lazily, entry points, run-time registrations).

Condensation methods (`mmgc.methods.base`) and training-time regularizers
(`mmgc.regularizers.base`) are both plug-ins of this shape; each keeps one `PluginRegistry`.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Literal, Mapping, TypeVar, get_args, get_origin, get_type_hints

from mmgc.errors import InputError

T = TypeVar("T")


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
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{where}: expected {annotation.__name__}, found {value!r}") from None
        if annotation is int and (not isinstance(number, int) or isinstance(number, bool)):
            if not (isinstance(number, float) and number.is_integer()):
                raise InputError(f"{where}: expected an integer, found {value!r}")
            number = int(number)
        if annotation is float and not math.isfinite(number):
            raise InputError(f"{where}: expected a finite number, found {value!r}")
        if annotation is int and not -2**63 <= number < 2**63:  # what a tensor, a seed or a result row holds
            raise InputError(f"{where}: expected an integer of at most 64 bits, found {value!r}")
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


# ---------------------------------------------------------------------------------------- registries
class PluginRegistry(Generic[T]):
    """Named plug-in classes of one kind.

    Built-ins are listed by module (importing it registers them), so listing imports nothing heavy;
    other packages register through the entry-point group ``group`` (``name = "pkg.module:Class"``);
    `register` adds classes at run time. Every class needs a dataclass ``Config``; ``check`` may
    impose more (it raises ``TypeError`` naming what is wrong).

    Args:
        kind: what a plug-in is called in messages (``method``, ``regularizer``).
        base: the class every plug-in subclasses.
        group: the entry-point group.
        builtins: built-in name -> module whose import registers it.
        check: extra checks on a class being registered.
    """

    def __init__(self, kind: str, base: type, group: str, builtins: Mapping[str, str],
                 check: Callable[[str, type], None] | None = None):
        self.kind, self.base, self.group = kind, base, group
        self.builtins = dict(builtins)
        self.check = check
        self.classes: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: register the class under ``name`` (and set its ``name``)."""

        def decorate(cls: type[T]) -> type[T]:
            if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
                raise TypeError(f"{self.kind} {name!r}: Config must be a dataclass")
            if self.check is not None:
                self.check(name, cls)
            cls.name = name
            self.classes[name] = cls
            return cls

        return decorate

    def _entry_points(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def names(self) -> dict[str, str]:
        """Every known name -> where it comes from (``built-in``, an entry point, or run time)."""
        found = {name: "built-in" for name in self.builtins}
        for name, ep in self._entry_points().items():
            if name not in found:
                found[name] = f"entry point {ep.value}" + (f" ({ep.dist.name})" if ep.dist else "")
        for name in self.classes:
            found.setdefault(name, "registered at run time")
        return dict(sorted(found.items()))

    def get(self, name: str) -> type[T]:
        """The class registered under ``name`` (importing its module or entry point on first use)."""
        if name not in self.classes:
            if name in self.builtins:
                importlib.import_module(self.builtins[name])
            else:
                ep = self._entry_points().get(name)
                if ep is not None:
                    cls = ep.load()
                    if not (isinstance(cls, type) and issubclass(cls, self.base)):
                        raise InputError(f"entry point {name!r} ({ep.value}) is not a {self.base.__name__} subclass")
                    try:
                        self.register(name)(cls)
                    except TypeError as exc:
                        raise InputError(f"entry point {name!r} ({ep.value}): {exc}") from None
        if name not in self.classes:
            raise InputError(f"unknown {self.kind} {name!r}; expected one of {list(self.names())}")
        return self.classes[name]

    def create(self, name: str, values: Mapping[str, Any] | None = None) -> T:
        """An instance of ``name`` configured by ``values`` (unknown keys and bad values rejected)."""
        cls = self.get(name)
        return cls(build_config(cls.Config, values, where=f"{name} config"))
