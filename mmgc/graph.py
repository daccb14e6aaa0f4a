"""The data model: `MultimodalGraph` (a real graph) and `CondensedGraph` (a synthetic one).

Both carry a *modality layout*: an ordered mapping from modality name to the half-open column range
``(start, stop)`` of the feature matrix, e.g. ``{"text": (0, 512), "image": (512, 1024)}``. Every
method and metric reads the layout; nothing assumes that the features split into halves.

Construction validates everything and raises `InputError` with one line naming the field, what was
expected and what was found. Edges are normalised on construction (made undirected, coalesced,
self loops removed), never rejected for duplicates or loops.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Optional, TypedDict, get_args, get_origin, get_type_hints

import torch
from torch import Tensor

from mmgc.errors import InputError
from mmgc.tempfiles import atomic_write

SETTINGS = ("transductive", "inductive")
METRICS = ("accuracy", "roc_auc")
PROVENANCES = ("real", "synthetic", "real-topology+synthetic-features")

Modalities = dict[str, tuple[int, int]]


def validate_modalities(modalities: Mapping[str, Any], width: int, where: str = "modalities") -> Modalities:
    """Check that the modality ranges are contiguous, in order, and cover exactly ``width`` columns."""
    if not modalities:
        raise InputError(f"{where}: expected at least one modality, found none")
    layout: Modalities = {}
    cursor = 0
    for name, span in modalities.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"{where}: expected non-empty string modality names, found {name!r}")
        try:
            start, stop = (int(v) for v in span)
        except (TypeError, ValueError):
            raise InputError(f"{where}[{name!r}]: expected a (start, stop) pair of ints, found {span!r}") from None
        if start != cursor or stop <= start:
            raise InputError(
                f"{where}[{name!r}]: expected a non-empty range starting at column {cursor}, found ({start}, {stop})"
            )
        layout[name] = (start, stop)
        cursor = stop
    if cursor != width:
        raise InputError(
            f"{where}: the modality ranges cover {cursor} columns but the features have {width} columns"
        )
    return layout


def stored_bytes(nodes: int, feature_dim: int, undirected_edges: int) -> int:
    """A graph's size in the one encoding every cost column uses: float32 features, an int64 label per
    node, and each undirected edge once, as two int64 node ids and a float32 weight."""
    return nodes * feature_dim * 4 + nodes * 8 + undirected_edges * (2 * 8 + 4)


def normalize_edges(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None,
                    where: str = "edge_index") -> tuple[Tensor, Tensor | None]:
    """Make an edge list undirected and coalesced without self loops.

    Duplicate edges keep their largest weight, so an edge listed in both directions keeps its weight
    instead of doubling it.
    """
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index).__name__
        raise InputError(f"{where}: expected an int64 tensor of shape [2, E], found {shape}")
    if edge_index.dtype not in (torch.int64, torch.int32):
        raise InputError(f"{where}: expected integer node ids (int64), found dtype {edge_index.dtype}")
    edge_index = edge_index.long()
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
        raise InputError(
            f"{where}: node ids must lie in [0, {num_nodes}), found range "
            f"[{int(edge_index.min())}, {int(edge_index.max())}]"
        )
    if edge_weight is not None:
        if edge_weight.dim() != 1 or edge_weight.shape[0] != edge_index.shape[1]:
            raise InputError(
                f"edge_weight: expected shape [{edge_index.shape[1]}] to match edge_index, found {tuple(edge_weight.shape)}"
            )
        if not torch.isfinite(edge_weight).all():
            raise InputError("edge_weight: expected finite values, found NaN or Inf")
    row, col = edge_index
    keep = row != col
    row, col = row[keep], col[keep]
    row, col = torch.cat([row, col]), torch.cat([col, row])
    key = row * num_nodes + col
    if edge_weight is None:
        key = torch.unique(key)
        return torch.stack([key // num_nodes, key % num_nodes]), None
    weight = edge_weight[keep].float()
    weight = torch.cat([weight, weight])
    key, inverse = torch.unique(key, return_inverse=True)
    merged = torch.full((key.numel(),), -math.inf, dtype=weight.dtype).scatter_reduce(
        0, inverse, weight, reduce="amax"
    )
    return torch.stack([key // num_nodes, key % num_nodes]), merged


def _all_finite(x: Tensor) -> bool:
    """Whether every entry is finite, in one pass and without an N x d temporary: NaN and Inf always
    propagate into the sum, so a finite sum proves every entry finite; a sum that is not finite (a
    NaN/Inf, or an overflow of large finite values) is checked exactly, row chunk by row chunk."""
    if bool(torch.isfinite(x.sum())):
        return True
    step = max(1, (1 << 24) // max(1, x.shape[1]))
    return all(bool(torch.isfinite(x[a:a + step]).all()) for a in range(0, x.shape[0], step))


def _check_features(x: Any, where: str = "x") -> Tensor:
    if not isinstance(x, Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise InputError(f"{where}: expected a float tensor of shape [N, d], found {shape}")
    if not x.is_floating_point():
        raise InputError(f"{where}: expected floating-point features, found dtype {x.dtype}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise InputError(f"{where}: expected at least one node and one feature column, found shape {tuple(x.shape)}")
    if not _all_finite(x):
        bad = (~torch.isfinite(x)).any(dim=1).nonzero()[:, 0]
        raise InputError(f"{where}: expected finite features, found NaN/Inf in {bad.numel()} rows (first row {int(bad[0])})")
    return x


def _check_labels(y: Any, n: int, num_classes: int | None, allow_unlabelled: bool, where: str = "y") -> int:
    if not isinstance(y, Tensor) or y.dim() != 1 or y.shape[0] != n:
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise InputError(f"{where}: expected an int64 tensor of shape [{n}], found {shape}")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise InputError(f"{where}: expected integer class labels (int64), found dtype {y.dtype}")
    low = -1 if allow_unlabelled else 0
    if y.numel() and int(y.min()) < low:
        raise InputError(f"{where}: expected labels >= {low} (-1 = unlabelled), found {int(y.min())}")
    top = int(y.max()) if y.numel() else -1
    if num_classes is None:
        num_classes = top + 1
    if top >= num_classes:
        raise InputError(f"{where}: expected labels in [0, {num_classes}), found label {top}")
    if num_classes < 2:
        raise InputError(f"{where}: expected at least 2 classes, found {num_classes}")
    return num_classes


@dataclass(eq=False)
class MultimodalGraph:
    """A real node-classification graph whose features concatenate several modalities.

    Args:
        x: float features ``[N, d]``.
        edge_index: ``[2, E]`` int64; normalised to undirected, coalesced, no self loops.
        y: int64 labels ``[N]``, ``-1`` for unlabelled nodes.
        train_mask, val_mask, test_mask: disjoint boolean masks ``[N]`` over labelled nodes.
        modalities: ordered name -> ``(start, stop)`` column range covering all ``d`` columns.
        setting: ``transductive`` (condensation sees the whole graph, train labels only) or
            ``inductive`` (condensation sees only the train-induced subgraph).
        metric: ``accuracy`` or ``roc_auc`` (binary tasks only).
        info: name, encoder, provenance, citation and anything else worth printing.
        edge_weight: optional positive weights ``[E]`` aligned with ``edge_index``.
        num_classes: number of classes; inferred from ``y`` when omitted.
    """

    x: Tensor
    edge_index: Tensor
    y: Tensor
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    modalities: Modalities
    setting: str = "transductive"
    metric: str = "accuracy"
    info: dict[str, Any] = field(default_factory=dict)
    edge_weight: Tensor | None = None
    num_classes: int | None = None

    def __post_init__(self) -> None:
        name = self.info.get("name", "graph")
        x = _check_features(self.x, f"{name}: x")
        n = x.shape[0]
        self.modalities = validate_modalities(self.modalities, x.shape[1], f"{name}: modalities")
        self.num_classes = _check_labels(self.y, n, self.num_classes, allow_unlabelled=True, where=f"{name}: y")
        self.y = self.y.long()
        self.edge_index, self.edge_weight = normalize_edges(
            self.edge_index, n, self.edge_weight, where=f"{name}: edge_index"
        )
        if self.setting not in SETTINGS:
            raise InputError(f"{name}: setting must be one of {SETTINGS}, found {self.setting!r}")
        if self.metric not in METRICS:
            raise InputError(f"{name}: metric must be one of {METRICS}, found {self.metric!r}")
        if self.metric == "roc_auc" and self.num_classes != 2:
            raise InputError(f"{name}: metric roc_auc needs a binary task, found {self.num_classes} classes")
        seen = torch.zeros(n, dtype=torch.bool)
        for split in ("train", "val", "test"):
            mask = getattr(self, f"{split}_mask")
            if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != (n,):
                shape = (tuple(mask.shape), mask.dtype) if isinstance(mask, Tensor) else type(mask).__name__
                raise InputError(f"{name}: {split}_mask: expected a bool tensor of shape [{n}], found {shape}")
            if not bool(mask.any()):
                raise InputError(f"{name}: {split}_mask: expected at least one {split} node, found an empty split")
            if bool((self.y[mask] < 0).any()):
                raise InputError(f"{name}: {split}_mask: every {split} node must be labelled, found label -1")
            if bool((seen & mask).any()):
                raise InputError(f"{name}: {split}_mask overlaps an earlier split; expected disjoint splits")
            seen |= mask
        provenance = self.info.get("provenance")
        if provenance is not None and provenance not in PROVENANCES:
            raise InputError(f"{name}: info.provenance must be one of {PROVENANCES}, found {provenance!r}")

    # ------------------------------------------------------------------ shape facts
    @property
    def name(self) -> str:
        return str(self.info.get("name", "graph"))

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        """Undirected edges (each stored in both directions in ``edge_index``)."""
        return int(self.edge_index.shape[1]) // 2

    @property
    def feature_dim(self) -> int:
        return int(self.x.shape[1])

    def modality(self, name: str) -> Tensor:
        """The columns of one modality (a view, not a copy)."""
        if name not in self.modalities:
            raise InputError(f"unknown modality {name!r}; expected one of {list(self.modalities)}")
        start, stop = self.modalities[name]
        return self.x[:, start:stop]

    def mask(self, split: str) -> Tensor:
        if split not in ("train", "val", "test"):
            raise InputError(f"unknown split {split!r}; expected train, val or test")
        return getattr(self, f"{split}_mask")

    def edge_homophily(self) -> float:
        """Fraction of edges between labelled nodes that join nodes of the same class."""
        row, col = self.edge_index
        both = (self.y[row] >= 0) & (self.y[col] >= 0)
        if not bool(both.any()):
            return float("nan")
        return float((self.y[row[both]] == self.y[col[both]]).float().mean())

    # ------------------------------------------------------------------ derived graphs
    def subgraph(self, mask: Tensor) -> "MultimodalGraph":
        """The subgraph induced by ``mask`` (no loop over nodes; features are gathered once)."""
        idx = mask.nonzero()[:, 0]
        remap = torch.full((self.num_nodes,), -1, dtype=torch.long)
        remap[idx] = torch.arange(idx.numel())
        row, col = self.edge_index
        keep = mask[row] & mask[col]
        edge_index = remap[self.edge_index[:, keep]]
        edge_weight = self.edge_weight[keep] if self.edge_weight is not None else None
        return _trusted(
            self,
            x=self.x[idx],
            edge_index=edge_index,
            edge_weight=edge_weight,
            y=self.y[idx],
            train_mask=self.train_mask[idx],
            val_mask=self.val_mask[idx],
            test_mask=self.test_mask[idx],
        )

    def split_graph(self, split: str) -> "MultimodalGraph":
        """The graph a model sees for ``split``: inductive graphs use the split-induced subgraph,
        transductive graphs the whole graph."""
        if self.setting == "inductive":
            return self.subgraph(self.mask(split))
        return self

    def visible_graph(self) -> "MultimodalGraph":
        """What a condensation method may see: the train-induced subgraph (inductive) or the whole
        graph (transductive; labels outside the train split must not be used)."""
        return self.split_graph("train")

    @property
    def num_visible_nodes(self) -> int:
        """The nodes of `visible_graph` (the N of a condensation ratio), without building it."""
        return int(self.train_mask.sum()) if self.setting == "inductive" else self.num_nodes

    def visible_bytes(self) -> int:
        """`stored_bytes` of `visible_graph`, without building it."""
        row, col = self.edge_index
        edges = self.num_edges
        if self.setting == "inductive":
            edges = int((self.train_mask[row] & self.train_mask[col]).sum()) // 2
        return stored_bytes(self.num_visible_nodes, self.feature_dim, edges)

    def with_features(self, x: Tensor, modalities: Mapping[str, tuple[int, int]], suffix: str) -> "MultimodalGraph":
        """The same graph with other features (e.g. one modality only); the name gets ``suffix``."""
        info = dict(self.info, name=f"{self.name}{suffix}")
        return MultimodalGraph(
            x=x, edge_index=self.edge_index, y=self.y, train_mask=self.train_mask, val_mask=self.val_mask,
            test_mask=self.test_mask, modalities=dict(modalities), setting=self.setting, metric=self.metric,
            info=info, edge_weight=self.edge_weight, num_classes=self.num_classes,
        )

    def to(self, device: torch.device | str) -> "MultimodalGraph":
        return _trusted(self, **{f.name: _move(getattr(self, f.name), device) for f in fields(self)})

    def summary(self) -> dict[str, Any]:
        """The facts `mmgc datasets info` prints."""
        return {
            "name": self.name,
            "nodes": self.num_nodes,
            "edges": self.num_edges,
            "classes": self.num_classes,
            "modalities": {k: v[1] - v[0] for k, v in self.modalities.items()},
            "setting": self.setting,
            "metric": self.metric,
            "train": int(self.train_mask.sum()),
            "val": int(self.val_mask.sum()),
            "test": int(self.test_mask.sum()),
            "edge_homophily": round(self.edge_homophily(), 4),
            **{k: v for k, v in self.info.items() if k != "name"},
        }


def _move(value: Any, device: torch.device | str) -> Any:
    return value.to(device) if isinstance(value, Tensor) else value


def _trusted(template: MultimodalGraph, **changes: Any) -> MultimodalGraph:
    """A copy of ``template`` with ``changes``, skipping validation (the inputs are already valid)."""
    graph = object.__new__(MultimodalGraph)
    for f in fields(MultimodalGraph):
        setattr(graph, f.name, changes.get(f.name, getattr(template, f.name)))
    return graph


class CondensedInfo(TypedDict, total=False):
    """The keys of `CondensedGraph.info` that the harness reads; a method may add its own.

    `CondensationMethod.from_selection` and `CondensationMethod.from_learned` write every key but
    ``selection_split``. A missing key leaves its result column empty.

    | key | meaning (who reads it) |
    |---|---|
    | ``method`` | the registered name (rows' ``method``; the ``mmgc run`` summary line) |
    | ``config`` | the full config as a dict, defaults included (``method_config``, ``config_hash``) |
    | ``dataset`` | the source graph's name (``mmgc evaluate`` refuses a graph of another dataset) |
    | ``setting`` | transductive or inductive, as the source graph |
    | ``ratio`` | the requested ``n / N`` (rows' ``ratio``; the summary line) |
    | ``n`` | the synthetic nodes |
    | ``visible_nodes`` | N, the nodes the method could see (`plan_budget`; the summary line's "of N") |
    | ``seed`` | the condensation seed (``condense_seed``) |
    | ``device`` | where it condensed |
    | ``condense_arch`` | the backbone that shaped the graph, None when none (``condense_arch``; Table 4) |
    | ``wall_seconds`` | condensation wall time (``condense_seconds``; the summary line); this key and the next two are `CondensationMethod.condense_measured`'s |
    | ``cpu_seconds`` | condensation CPU time, all threads (``condense_cpu_seconds``) |
    | ``peak_memory_mb`` | peak resident memory while condensing (``condense_peak_mb``) |
    | ``history`` | per-epoch metric dicts (MLflow metrics, the curves in the figures) |
    | ``selected`` | the visible node ids a selection kept (coresets) |
    | ``selection_split`` | ``test`` when a checkpoint was chosen on test metrics (flags the rows) |
    """

    method: str
    config: dict[str, Any]
    dataset: str
    setting: str
    ratio: float
    n: int
    visible_nodes: int
    seed: int
    device: str
    condense_arch: Optional[str]
    wall_seconds: float
    cpu_seconds: float
    peak_memory_mb: float
    history: list[dict[str, Any]]
    selected: list[int]
    selection_split: str


def _check_payload(payload: dict[str, Any], path: Path) -> None:
    """The structure of a condensed graph file before anything reads it: dense tensors ``x``, ``adj``,
    ``y``, a modality layout of name -> (start, stop), an ``info`` dict whose `CondensedInfo` keys
    have their types (None allowed)."""
    for key in ("x", "adj", "y"):
        value = payload.get(key)
        if not isinstance(value, Tensor) or value.layout != torch.strided:
            found = value.layout if isinstance(value, Tensor) else type(value).__name__
            raise InputError(f"{path}: {key}: expected a dense tensor, found {found}")
    layout = payload.get("modalities")
    if not isinstance(layout, dict) or not all(isinstance(span, (list, tuple)) and len(span) == 2
                                               and all(isinstance(v, int) for v in span) for span in layout.values()):
        raise InputError(f"{path}: modalities: expected a mapping name -> [start, stop], found {repr(layout)[:160]}")
    info = payload.get("info")
    if not isinstance(info, dict):
        raise InputError(f"{path}: info: expected a dict, found {type(info).__name__}")
    for key, hint in get_type_hints(CondensedInfo).items():
        value = info.get(key)
        if type(None) in get_args(hint):  # Optional[X]
            hint = next(a for a in get_args(hint) if a is not type(None))
        wanted = get_origin(hint) or hint
        allowed = (int, float) if wanted is float else (wanted,)
        if value is not None and (isinstance(value, bool) or not isinstance(value, allowed)):
            raise InputError(f"{path}: info.{key}: expected {wanted.__name__}, found {type(value).__name__}")


@dataclass(eq=False)
class CondensedGraph:
    """A small synthetic graph: features ``x [n, d]``, a dense symmetric weighted ``adj [n, n]`` with
    zero diagonal, labels ``y [n]``, the source graph's modality layout, and ``info`` (method, its full
    config, source dataset, ratio, n, seed, wall time, peak memory, per-epoch history: `CondensedInfo`).

    ``save``/``load`` keep all of it in one file; ``CondensedGraph.load(g.save(p)) == g``.
    """

    x: Tensor
    adj: Tensor
    y: Tensor
    modalities: Modalities
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        x = _check_features(self.x, "condensed x")
        n = x.shape[0]
        self.modalities = validate_modalities(self.modalities, x.shape[1], "condensed modalities")
        _check_labels(self.y, n, None, allow_unlabelled=False, where="condensed y")
        self.y = self.y.long()
        adj = self.adj
        if not isinstance(adj, Tensor) or adj.shape != (n, n) or not adj.is_floating_point():
            shape = tuple(adj.shape) if isinstance(adj, Tensor) else type(adj).__name__
            raise InputError(f"condensed adj: expected a float tensor of shape [{n}, {n}], found {shape}")
        if not bool(torch.isfinite(adj).all()):
            raise InputError("condensed adj: expected finite weights, found NaN/Inf")
        if bool((adj < 0).any()):
            raise InputError("condensed adj: expected non-negative weights, found negative entries")
        if not torch.allclose(adj, adj.T, atol=1e-5):
            raise InputError("condensed adj: expected a symmetric matrix")
        if bool((adj.diagonal() != 0).any()):
            raise InputError("condensed adj: expected a zero diagonal (self loops are added by the models)")

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> "CondensedGraph":
        graph = object.__new__(CondensedGraph)
        for f in fields(CondensedGraph):
            setattr(graph, f.name, _move(getattr(self, f.name), device))
        return graph

    def save(self, path: str | os.PathLike) -> Path:
        """Write one file atomically (a temporary file renamed into place) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": "mmgc.CondensedGraph/1",
            "x": self.x.detach().cpu(),
            "adj": self.adj.detach().cpu(),
            "y": self.y.detach().cpu(),
            "modalities": {k: list(v) for k, v in self.modalities.items()},
            "info": self.info,
        }
        with atomic_write(path) as handle:
            torch.save(payload, handle)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CondensedGraph":
        path = Path(path)
        if path.is_dir():
            raise InputError(f"{path}: is a directory; expected a condensed graph file")
        if not path.is_file():
            raise InputError(f"{path}: condensed graph file not found")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a corrupt file; name it in one line
            raise InputError(f"{path}: not a readable mmgc condensed graph file ({type(exc).__name__})") from None
        if not isinstance(payload, dict) or payload.get("format") != "mmgc.CondensedGraph/1":
            raise InputError(f"{path}: expected an mmgc condensed graph file (format mmgc.CondensedGraph/1)")
        _check_payload(payload, path)
        try:
            return cls(x=payload["x"], adj=payload["adj"], y=payload["y"],
                       modalities={k: tuple(v) for k, v in payload["modalities"].items()}, info=payload["info"])
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CondensedGraph):
            return NotImplemented
        return (
            torch.equal(self.x.cpu(), other.x.cpu())
            and torch.equal(self.adj.cpu(), other.adj.cpu())
            and torch.equal(self.y.cpu(), other.y.cpu())
            and self.modalities == other.modalities
            and self.info == other.info
        )
