"""The condensation-method interface, its typed configs and search spaces, and the method registry.

A method is a `CondensationMethod` subclass with a ``name``, a dataclass ``Config`` (typed, with
defaults), an optional ``search_space`` and ``condense(graph, ratio, ctx) -> CondensedGraph``; it
builds its result with `CondensationMethod.from_selection` (real nodes it kept) or
`CondensationMethod.from_learned` (features and adjacency it learned), which fill in the
`mmgc.graph.CondensedInfo` keys the harness reads.
Built-ins register with `register_method` and are imported lazily by name; other packages register
through the ``mmgc.methods`` entry-point group (``name = "package.module:Class"``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import resource
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Protocol

import torch
from torch import Tensor

from mmgc.graph import CondensedGraph, CondensedInfo, MultimodalGraph
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
    "doscond": "mmgc.methods.doscond",
    "cgc": "mmgc.methods.cgc",
    "gcdm": "mmgc.methods.gcdm",
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


def induced_adjacency(graph: MultimodalGraph, selected: Tensor) -> Tensor:
    """The dense ``[n, n]`` adjacency that the nodes ``selected`` induce in ``graph`` (rows in the
    order of ``selected``): the original edge weights, or 1 on an unweighted graph."""
    n = selected.numel()
    remap = torch.full((graph.num_nodes,), -1, dtype=torch.long)
    remap[selected] = torch.arange(n)
    row, col = graph.edge_index
    keep = (remap[row] >= 0) & (remap[col] >= 0)
    adj = torch.zeros(n, n)
    weight = graph.edge_weight[keep].float() if graph.edge_weight is not None else 1.0
    adj[remap[row[keep]], remap[col[keep]]] = weight
    return adj


def full_config(method: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The registered ``method``'s complete config (``values`` over its defaults, checked) as a JSON-ready
    dict: what a result row stores and hashes."""
    config = build_config(get_method(method).Config, values, where=f"{method} config")
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def config_hash(method: str, config: Mapping[str, Any]) -> str:
    """A stable short hash of a method name and its full config (for result keys)."""
    text = json.dumps({"method": method, "config": dict(config)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PeakMemory:
    """Peak resident memory (MiB) of this process while the block runs, sampled every 20 ms from
    /proc (plus CUDA's peak allocation when on a GPU)."""

    def __init__(self, device: Any = None, interval: float = 0.02):
        self.device, self.interval, self.peak_mb = device, interval, 0.0
        self._stop = threading.Event()

    @staticmethod
    def rss_mb() -> float:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):  # no /proc (macOS): the process's high-water mark
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20 if sys.platform == "darwin" else \
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self.rss_mb())

    def __enter__(self) -> "PeakMemory":
        self.peak_mb = self.rss_mb()
        if self.device is not None and torch.device(self.device).type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.rss_mb())
        if self.device is not None and torch.device(self.device).type == "cuda":
            self.peak_mb += torch.cuda.max_memory_allocated(self.device) / 2**20


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

    def condense_measured(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> CondensedGraph:
        """`condense`, measured: ``info`` gets the wall and CPU seconds of the whole call
        (``wall_seconds``, ``cpu_seconds``: all threads of the process) and the peak resident memory
        while it ran (``peak_memory_mb``, `PeakMemory`): the one meaning of the result rows'
        ``condense_seconds``, ``condense_cpu_seconds`` and ``condense_peak_mb``."""
        start, cpu = time.perf_counter(), time.process_time()
        with PeakMemory(ctx.device) as peak:
            condensed = self.condense(graph, ratio, ctx)
        condensed.info.update(wall_seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu,
                              peak_memory_mb=peak.peak_mb)
        return condensed

    def from_learned(self, graph: MultimodalGraph, ratio: float, ctx: Context, x: Tensor, adj: Tensor, y: Tensor, *,
                     condense_arch: str | None = None, history: list[dict[str, Any]] | None = None,
                     **extra: Any) -> CondensedGraph:
        """The condensed graph of learned features ``x [n, d]``, dense symmetric ``adj [n, n]`` and
        labels ``y [n]``, with ``graph``'s modality layout and every `CondensedInfo` key filled in.

        Args:
            condense_arch: the backbone that shaped the graph, None when none did.
            history: the per-epoch metric dicts.
            extra: the method's own ``info`` keys (they may also override the defaults).
        """
        info: CondensedInfo = {
            "method": self.name,
            "config": config_dict(self.config),
            "dataset": graph.name,
            "setting": graph.setting,
            "ratio": float(ratio),
            "n": int(x.shape[0]),
            "visible_nodes": graph.num_visible_nodes,
            "seed": int(ctx.seed),
            "device": str(ctx.device),
            "condense_arch": condense_arch,
            "history": list(history or []),
        }
        info.update(extra)  # type: ignore[typeddict-item]
        return CondensedGraph(x=x.detach().cpu(), adj=adj.detach().cpu(), y=y.detach().cpu(),
                              modalities=dict(graph.modalities), info=dict(info))

    def from_selection(self, graph: MultimodalGraph, ratio: float, ctx: Context, selected: Tensor, *,
                       visible: MultimodalGraph | None = None, **info: Any) -> CondensedGraph:
        """The subgraph that the visible nodes ``selected`` (ids into ``graph.visible_graph()``, pass
        it as ``visible`` when at hand) induce: their real features and labels and the real edges
        between them, ``info['selected']`` their ids, no optimiser step; ``info`` as `from_learned`."""
        visible = graph.visible_graph() if visible is None else visible
        info = {"feature_steps": 0, "structure_steps": 0, "outer_steps": 0, **info}  # nothing is optimised
        return self.from_learned(graph, ratio, ctx, visible.x[selected], induced_adjacency(visible, selected),
                                 visible.y[selected], selected=selected.tolist(), **info)


METHOD_REGISTRY: PluginRegistry[CondensationMethod] = PluginRegistry("method", CondensationMethod, ENTRY_POINT_GROUP,
                                                                _BUILTIN_METHODS)


# the public names of the registry's operations (see `PluginRegistry`)
register_method = METHOD_REGISTRY.register
list_methods = METHOD_REGISTRY.names
get_method = METHOD_REGISTRY.get
create_method = METHOD_REGISTRY.create
