"""The training-time regularizer interface, its registry, and the bridge to the training loop.

A regularizer is a `Regularizer` subclass with a ``name``, a dataclass ``Config`` (typed, with
defaults; every config has ``weight``, the lambda that multiplies the loss, and ``attach``, where the
per-modality embeddings are taken), an optional ``search_space`` and
``loss(embeddings, adj, index) -> scalar``:

- ``embeddings``: modality name -> ``[b, h]`` per-modality node embeddings of a batch of ``b`` nodes
  (from `mmgc.models.base.Backbone.modality_embeddings`);
- ``adj``: the `Adjacency` of the subgraph induced by the batch (``b`` nodes, dense or sparse);
- ``index``: the batch's node ids in the training graph (None when the batch is the whole graph).

Built-ins (``optimag``, ``dagr``) register with `register_regularizer` and are imported lazily by
name; other packages register through the ``mmgc.regularizers`` entry-point group
(``name = "package.module:Class"``).

`regularizer_loss` turns a list of regularizers into the ``extra_loss`` hook of
`mmgc.models.training.train_node_classifier`: each step it samples a batch of at most
``config.batch_size`` nodes (seeded; 512 by default), asks the backbone for their per-modality
embeddings and sums the weighted losses. `parse_regularizers` reads the textual form used by the command line and the
experiment files (``"optimag"``, ``"optimag:weight=0.1,rho=0.01"`` or ``{"name": ..., key: value}``).
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Mapping, Sequence

import torch
from torch import Tensor, nn

from mmgc.adjacency import CSR, Adjacency
from mmgc.errors import InputError
from mmgc.plugins import PluginRegistry, SearchDim, build_config

ENTRY_POINT_GROUP = "mmgc.regularizers"

# name -> module whose import registers it (lazy: listing regularizers imports nothing heavy)
_BUILTIN_REGULARIZERS = {
    "optimag": "mmgc.regularizers.optimag",
    "dagr": "mmgc.regularizers.dagr",
}

Attach = Literal["post_mp", "pre_mp"]


@dataclass
class RegularizerConfig:
    """Fields every regularizer config has.

    Attributes:
        weight: lambda, the factor of this regularizer's loss in ``task + weight * loss``.
        attach: where the per-modality embeddings are taken: ``post_mp`` (after one propagation
            with the graph operator) or ``pre_mp`` (the modality projections entering the GNN).
            See `mmgc.models.base.Backbone.modality_embeddings`.
        batch_size: most nodes of the batch the loss is computed on each step (OptiMAG's 512); a
            graph that small is taken whole.
    """

    weight: float = 0.1
    attach: Attach = "post_mp"
    batch_size: int = 512

    def __post_init__(self) -> None:
        if not self.weight >= 0:
            raise InputError(f"regularizer weight: expected >= 0, found {self.weight}")
        if self.batch_size < 2:
            raise InputError(f"regularizer batch_size: expected >= 2, found {self.batch_size}")


class Regularizer(ABC):
    """Base class of every training-time regularizer (see the module docstring for the contract)."""

    name: ClassVar[str] = ""
    Config: ClassVar[type]
    search_space: ClassVar[dict[str, SearchDim]] = {}

    def __init__(self, config: Any = None, **overrides: Any):
        if config is None:
            config = build_config(self.Config, overrides, where=f"{self.name} config")
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        self.last: dict[str, float] = {}  # the terms of the last call, for diagnostics

    @property
    def weight(self) -> float:
        return float(self.config.weight)

    @property
    def attach(self) -> str:
        return str(self.config.attach)

    @abstractmethod
    def loss(self, embeddings: Mapping[str, Tensor], adj: Adjacency, index: Tensor | None = None) -> Tensor:
        """The (unweighted) scalar loss of a batch's per-modality embeddings."""

    def describe(self) -> dict[str, Any]:
        """``{"name": ..., "config": {...}}``: what a result row stores (JSON-able)."""
        return {"name": self.name, "config": dataclasses.asdict(self.config)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


# ---------------------------------------------------------------------------------------- registry
def _check_regularizer(name: str, cls: type) -> None:
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    if not {"weight", "attach"} <= fields:
        raise TypeError(f"regularizer {name!r}: Config must have 'weight' and 'attach' (subclass RegularizerConfig)")
    unknown = set(cls.search_space) - fields
    if unknown:
        raise TypeError(f"regularizer {name!r}: search space names unknown config keys {sorted(unknown)}")


REGULARIZER_REGISTRY: PluginRegistry[Regularizer] = PluginRegistry("regularizer", Regularizer, ENTRY_POINT_GROUP,
                                                            _BUILTIN_REGULARIZERS, check=_check_regularizer)


# the public names of the registry's operations (see `PluginRegistry`)
register_regularizer = REGULARIZER_REGISTRY.register
list_regularizers = REGULARIZER_REGISTRY.names
get_regularizer = REGULARIZER_REGISTRY.get
create_regularizer = REGULARIZER_REGISTRY.create


def parse_regularizers(specs: Any) -> list[Regularizer]:
    """Regularizers from their textual or structured form.

    Accepts None / ``""`` / ``"none"`` (no regularizer), a string ``"name[:key=value,...]"`` (several
    separated by ``+``, e.g. ``"optimag:rho=0.01+dagr"``), a mapping ``{"name": ..., key: value}``,
    a `Regularizer`, or a list of any of these.
    """
    if specs is None:
        return []
    if isinstance(specs, (str, Mapping, Regularizer)):
        specs = [specs]
    out: list[Regularizer] = []
    for spec in specs:
        if isinstance(spec, Regularizer):
            out.append(spec)
        elif isinstance(spec, str):
            for part in (p.strip() for p in spec.split("+")):
                if not part or part.lower() == "none":
                    continue
                name, _, rest = part.partition(":")
                values: dict[str, Any] = {}
                for item in (i.strip() for i in rest.split(",") if i.strip()):
                    key, eq, value = item.partition("=")
                    if not eq or not key.strip():
                        raise InputError(f"regularizer {part!r}: expected key=value after ':', found {item!r}")
                    values[key.strip()] = value.strip()
                out.append(create_regularizer(name.strip(), values))
        elif isinstance(spec, Mapping):
            values = dict(spec)
            name = values.pop("name", None)
            if not isinstance(name, str):
                raise InputError(f"regularizer {dict(spec)!r}: expected a 'name' key naming the regularizer")
            nested = values.pop("config", None)
            if nested is not None:
                if values or not isinstance(nested, Mapping):
                    raise InputError(f"regularizer {name!r}: expected either 'config' (a mapping) or flat keys")
                values = dict(nested)
            out.append(create_regularizer(name, values))
        else:
            raise InputError(f"regularizer: expected a name, a mapping or a Regularizer, found {spec!r}")
    return out


def describe_regularizers(regularizers: Sequence[Any]) -> str:
    """The JSON a result row stores in its ``regularizers`` column (``[]`` for none)."""
    items = []
    for reg, weight in _pairs(regularizers):
        entry = reg.describe()
        entry["config"]["weight"] = weight
        items.append(entry)
    return json.dumps(items, sort_keys=True)


def _pairs(regularizers: Sequence[Any]) -> list[tuple[Regularizer, float]]:
    pairs = []
    for item in regularizers or ():
        if isinstance(item, Regularizer):
            pairs.append((item, item.weight))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Regularizer):
            pairs.append((item[0], float(item[1])))
        else:
            raise InputError(f"regularizers: expected Regularizer or (Regularizer, weight) items, found {item!r}")
    return pairs


# ---------------------------------------------------------------------------------------- batches
def dense_adjacency(adj: Adjacency) -> Tensor:
    """``[n, n]`` dense weighted adjacency of a (small) graph; a batch of B dense graphs gives their mean."""
    if adj.is_dense:
        dense = adj.dense
        return dense.mean(0) if dense.dim() == 3 else dense
    n = adj.num_nodes
    row, col = adj.edge_index
    weight = adj.edge_weight.float() if adj.edge_weight is not None else torch.ones(row.numel(), device=row.device)
    return torch.zeros(n, n, device=row.device).index_put_((row, col), weight, accumulate=True)


def induced_adjacency(adj: Adjacency, index: Tensor) -> Adjacency:
    """The `Adjacency` of the subgraph induced by ``index`` (nodes renumbered ``0..len(index)``)."""
    if adj.is_dense:
        return Adjacency.from_dense(adj.dense[..., index, :][..., :, index])
    n = adj.num_nodes
    remap = torch.full((n,), -1, dtype=torch.long, device=adj.edge_index.device)
    remap[index] = torch.arange(index.numel(), device=remap.device)
    row, col = adj.edge_index
    keep = (remap[row] >= 0) & (remap[col] >= 0)
    weight = adj.edge_weight[keep] if adj.edge_weight is not None else None
    return Adjacency.from_edge_index(remap[adj.edge_index[:, keep]], int(index.numel()), weight)


class BatchSampler:
    """Seeded batches of at most ``batch_size`` nodes of a graph.

    ``mode = "neighborhood"`` (default, the "subgraph-sampled" reading of OptiMAG): roots drawn
    uniformly from the candidate nodes, each followed by up to ``fanout`` of its neighbours, until the
    batch is full, so the induced subgraph keeps local structure (a uniform sample of 512 nodes of a
    sparse 10k-node graph induces almost no edges). ``mode = "uniform"``: nodes drawn uniformly.
    A graph of at most ``batch_size`` nodes is always taken whole (``index = None``).
    """

    def __init__(self, batch_size: int = 512, seed: int = 0, mode: str = "neighborhood", fanout: int = 10,
                 candidates: Tensor | None = None):
        if batch_size < 2:
            raise InputError(f"regularizer batch_size: expected >= 2, found {batch_size}")
        if mode not in ("neighborhood", "uniform"):
            raise InputError(f"regularizer batch mode: expected 'neighborhood' or 'uniform', found {mode!r}")
        self.batch_size, self.mode, self.fanout = batch_size, mode, fanout
        self.candidates = candidates
        self.generator = torch.Generator().manual_seed(int(seed))
        self._csr_key: Any = None
        self._csr: CSR | None = None

    def _neighbors(self, adj: Adjacency) -> CSR:
        if self._csr_key is not adj:
            if adj.is_dense:
                nonzero = adj.dense.detach() != 0
                row, col = (nonzero.any(0) if nonzero.dim() == 3 else nonzero).nonzero().T
            else:
                row, col = adj.edge_index
            self._csr_key, self._csr = adj, CSR.from_edges(row.cpu(), col.cpu(), adj.num_nodes)
        return self._csr

    def sample(self, adj: Adjacency) -> Tensor | None:
        n = adj.num_nodes
        pool = self.candidates.cpu() if self.candidates is not None else None
        size = n if pool is None else int(pool.numel())
        if size <= self.batch_size and pool is None:
            return None
        if size <= self.batch_size:
            return pool.to(adj.device)
        g = self.generator
        if self.mode == "uniform":
            pick = torch.randperm(size, generator=g)[: self.batch_size]
            index = pick if pool is None else pool[pick]
            return torch.sort(index).values.to(adj.device)
        csr = self._neighbors(adj)
        roots = torch.randperm(size, generator=g)
        roots = roots if pool is None else pool[roots]
        chosen = torch.zeros(n, dtype=torch.bool)
        allowed = None
        if pool is not None:
            allowed = torch.zeros(n, dtype=torch.bool)
            allowed[pool] = True
        taken = 0
        block = max(1, self.batch_size // (1 + self.fanout))
        for start in range(0, roots.numel(), block):
            r = roots[start:start + block]
            first, deg = csr.degree(r)
            k = torch.clamp(deg, max=self.fanout)
            # up to `fanout` random neighbours per root: random offsets without a loop over nodes
            rows = torch.repeat_interleave(torch.arange(r.numel()), k)
            offs = (torch.rand(int(k.sum()), generator=g) * deg[rows].float()).long()
            nbrs = csr.col[first[rows] + offs]
            if allowed is not None:
                nbrs = nbrs[allowed[nbrs]]
            for group in (r, nbrs):
                new = group[~chosen[group]].unique()
                new = new[torch.randperm(new.numel(), generator=g)][: self.batch_size - taken]
                chosen[new] = True
                taken += int(new.numel())
                if taken >= self.batch_size:
                    return chosen.nonzero()[:, 0].to(adj.device)
        return chosen.nonzero()[:, 0].to(adj.device)


# ---------------------------------------------------------------------------------------- the bridge
def regularizer_loss(regularizers: Sequence[Any], batch_size: int | None = None, seed: int = 0,
                     mode: str = "neighborhood", fanout: int = 10, candidates: Tensor | None = None,
                     history: list[dict[str, float]] | None = None):
    """The ``extra_loss(model, x, adj, logits) -> scalar`` hook of `train_node_classifier` that adds
    ``sum_r weight_r * r.loss(...)`` on a fresh seeded batch each step.

    Args:
        regularizers: `Regularizer` instances (weight from their config) or ``(Regularizer, weight)``.
        batch_size: most nodes per batch for every regularizer; None (default): each regularizer's
            own ``config.batch_size`` (regularizers sharing a batch size share the batch).
        seed: seeds the batch samplers (deterministic under a seed).
        mode, fanout: see `BatchSampler`.
        candidates: node ids batches are drawn from (default: every node of the training graph).
        history: if given, each step appends ``{"<name>": unweighted loss, ...}``.
    """
    pairs = [(r, w) for r, w in _pairs(regularizers) if w != 0]
    groups: dict[int, list[tuple[Regularizer, float]]] = {}
    for reg, weight in pairs:
        size = int(batch_size if batch_size is not None else getattr(reg.config, "batch_size", 512))
        groups.setdefault(size, []).append((reg, weight))
    samplers = {size: BatchSampler(size, seed, mode, fanout, candidates) for size in groups}

    def extra(model: nn.Module, x: Tensor, adj: Adjacency, logits: Tensor) -> Tensor:
        total = logits.new_zeros(())
        terms: dict[str, float] = {}
        for size, members in groups.items():
            index = samplers[size].sample(adj)
            sub = adj if index is None else induced_adjacency(adj, index)
            cache: dict[str, dict[str, Tensor]] = {}
            for reg, weight in members:
                if reg.attach not in cache:
                    cache[reg.attach] = model.modality_embeddings(x, adj, index=index, attach=reg.attach)
                value = reg.loss(cache[reg.attach], sub, index)
                terms[reg.name] = float(value.detach())
                total = total + weight * value
        if history is not None:
            history.append(terms)
        return total

    extra.regularizers = pairs  # type: ignore[attr-defined]
    return extra
