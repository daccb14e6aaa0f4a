"""The condensation-method interface, its typed configs and search spaces, and the method registry.

A method is a `CondensationMethod` subclass with a ``name``, a dataclass ``Config`` (typed, with
defaults), an optional ``search_space`` and ``condense(graph, ratio, ctx) -> CondensedGraph``.
Built-ins register with `register_method` and are imported lazily by name; other packages register
through the ``mmgc.methods`` entry-point group (``name = "package.module:Class"``).
"""

from __future__ import annotations

import dataclasses
import json
import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Protocol

import torch

from mmgc.graph import CondensedGraph, MultimodalGraph
from mmgc.plugins import PluginRegistry, SearchDim, build_config

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


# ---------------------------------------------------------------------------------------- reporting
class Reporter(Protocol):
    """Where a method sends intermediate metrics (a progress bar, Ray Tune, MLflow...)."""

    def report(self, step: int, metrics: Mapping[str, float]) -> None: ...


class NullReporter:
    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        return None


def begin_stage(reporter: Any, stage: str, total: int | None) -> None:
    """Tell ``reporter`` that a stage of ``total`` steps starts (the steps ``report`` then counts), so
    a progress display can show a total and an ETA; reporters without a ``begin`` method ignore it."""
    begin = getattr(reporter, "begin", None)
    if begin is not None:
        begin(stage, total)


@dataclass
class Context:
    """What a method may use besides the graph: device, seed, a reporter and a time budget (seconds;
    None = unlimited). Methods stop early, keeping their best result, once the budget is spent."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    reporter: Reporter = field(default_factory=NullReporter)
    time_budget_s: float | None = None


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


METHOD_REGISTRY: PluginRegistry[CondensationMethod] = PluginRegistry("method", CondensationMethod, ENTRY_POINT_GROUP,
                                                                _BUILTIN_METHODS)


# the public names of the registry's operations (see `PluginRegistry`)
register_method = METHOD_REGISTRY.register
list_methods = METHOD_REGISTRY.names
get_method = METHOD_REGISTRY.get
create_method = METHOD_REGISTRY.create
