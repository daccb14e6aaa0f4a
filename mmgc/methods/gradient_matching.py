"""The gradient-matching engine shared by GCond, SR-GM, MSGC and SGDD.

One engine, as GCond (Jin et al., ICLR 2022; official code ``gcond_agent_transduct.py``) does it:

- **Budget and initialisation.** Synthetic labels and per-class sizes come from the shared budget
  (`mmgc.methods.budget.plan_budget`); synthetic features start as random real train nodes of the
  same class (`budget.sample_per_class`). Synthetic nodes are stored in contiguous class blocks.
- **Outer epochs.** Each epoch draws a freshly initialised backbone (``backbone``: any registered
  name, built with `mmgc.models.build_backbone`; GCN by default, SGC for GCond's official Cora run)
  and runs ``outer_loop`` matching steps. Each step, for every class c:
  the *real* gradient ``dL/dtheta`` of the cross-entropy on up to ``batch_per_class`` random train
  nodes of class c, computed on their sampled ``len(fanouts)``-hop neighbourhood (GCond's [10, 5]
  for two layers; vectorised sampling without replacement; the model runs on the small sparse
  subgraph made of the sampled edges, undirected, so the cost does not grow with the graph), and
  the *synthetic* gradient of the cross-entropy on the class's synthetic block with
  ``create_graph=True``; the step's loss is ``sum_c (n_c / max_c n_c) * D(g_syn_c, g_real_c)``
  (``class_weight=by_total``: ``n_c / n``, the SR-GM authors' weight).
- **Distances** ``D``: ``ours`` (GCond's ``distance_wb``: for every parameter with two or more
  dimensions, one ``1 - cos`` per *output unit*, summed; with PyTorch's ``(out, in)`` weight layout
  the rows are already the output units, so nothing is transposed, unlike the official code whose
  deeprobust weights are ``(in, out)``; any backbone with a raw ``(in, out)`` parameter would be
  compared per input unit instead, so backbones keep PyTorch's convention), ``mse`` (squared error of
  all gradients flattened, biases included) and ``cos`` (one global cosine, biases included).
  Bias vectors under ``ours``: GCond's ``distance_wb`` returns 0 for every 1-D gradient, so biases
  are not matched at all. Here that is an explicit choice, ``bias_distance``: ``skip`` (GCond's
  behaviour, the default so that GCond's numbers are reproduced) or ``cos`` (each bias vector is one
  more row: ``1 - cos(b_real, b_syn)``).
- **Alternation.** With a structure generator, epochs with ``epoch % cycle_epochs <
  structure_epochs`` step the generator, the others step the features (GCond: 10 of every 50).
  Both gradients are computed as in GCond; only the phase's parameters are stepped (the backward
  pass computes only theirs, and a feature epoch holds the generator's parameters constant, so no
  weight gradient runs through its pairwise layers; a diagnostic epoch keeps them, for their norms).
- **Inner loop.** After every outer step but the last, ``inner_loop`` Adam steps of the backbone on
  the detached synthetic graph.
- **Selection.** Every ``select_every`` epochs and at the last, a fresh evaluation backbone
  (``select_backbone``; the evaluation protocol's recipe, dropout rule and weak-edge threshold,
  `mmgc.models.protocol`) is trained on the current synthetic graph with
  `mmgc.models.training.train_node_classifier` and scored on the *validation* nodes of the original
  graph (`SplitScorer`); the best graph is returned. Test nodes are never read (unless
  ``select_split=test``, the SR-GM authors' flagged protocol). The selection runs
  under its own forked RNG stream, so how often it runs does not change the condensation trajectory.
- **History.** Every epoch: the matching loss, each extra term, the inner loss, wall time, and
  diagnostics (conflict fraction and mean cosine between per-node modality gradients of the
  synthetic loss, Dirichlet energy of that gradient field before and after decoupling, intra-modal
  similarity of the synthetic features, adjacency statistics, per-term gradient norms) go to
  ``ctx.reporter`` and into ``CondensedGraph.info["history"]``. Diagnostics are taken at every outer
  step of a diagnostic epoch (``diagnostic_steps``): the mean under each key, the first and last
  step under ``<key>/first`` and ``<key>/last``. ``dead_backbone`` is the fraction of the epoch's
  outer steps at which the backbone gave every synthetic node the same logits (its hidden units all
  dead: ``G_S = 0``); any such epoch also raises a `RuntimeWarning` and counts in
  ``info["dead_backbone_epochs"]``.
- ``ctx.time_budget_s`` stops the epochs early (the best graph so far is kept); deterministic under
  ``ctx.seed`` on CPU; every tensor lives on ``ctx.device``.

Hooks a method overrides (everything else is shared):

- `make_structure` -> a `StructureGenerator` (or None: no structure, as GCond-X),
  `structure_lr` its learning rate;
- `synthetic_forward` (and `synthetic_labels`): how the backbone runs on the synthetic graph (MSGC
  runs B graphs in one batched pass with repeated labels);
- `extra_terms`: named extra terms of the outer loss (SR-GM's damping, SGDD's structure term), each
  logged; `adjust_outer_gradients`: edit gradients before the optimiser step (SR-GM's
  ``meta_gradient`` decoupling);
- `phase`: which parameters an epoch steps;
- `make_selector`: the checkpoint selection (default `ValidationSelector`; MSGC may average the
  snapshots of its best loss window instead);
- `final_adjacency`: the dense ``[n, n]`` adjacency stored in the condensed graph.
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Optional, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.adjacency import CSR, Adjacency
from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph
from mmgc.methods.base import CondensationMethod, Context, begin_stage
from mmgc.methods.budget import labels_from_counts, plan_budget, sample_per_class
from mmgc.methods.modality_gradients import (
    intra_modal_similarity, laplacian_quadratic, modality_gradient_stats, pairable, project_conflicts,
)
from mmgc.methods.structure import StructureGenerator
from mmgc.models import build_backbone
from mmgc.models.base import get_backbone
from mmgc.models.protocol import (
    PROTOCOL_ARCH, TrainingRecipe, edge_threshold, threshold_edges, wants_sparse_features,
)
from mmgc.models.training import SplitScorer, accepts_sparse_features, seed_all, train_node_classifier

# GCond's neighbour-sampling fan-outs by number of layers (utils.py, retrieve_class_sampler)
GCOND_FANOUTS = {1: (15,), 2: (10, 5), 3: (15, 10, 5), 4: (15, 10, 5, 5), 5: (15, 10, 5, 5, 5)}


@dataclass
class GradientMatchingConfig:
    """Settings shared by every gradient-matching method (defaults: GCond's scripts on small graphs).

    Attributes:
        epochs: outer epochs (GCond: 600 on Cora/Citeseer, 1000 on larger graphs).
        outer_loop: matching steps per epoch (GCond: 20; 10 on Flickr/Reddit).
        inner_loop: backbone steps after each matching step; None = by setting, as GCond's
            defaults: 10 transductive, 5 inductive (GCond's Cora command uses 15).
        lr_feat: Adam learning rate of the synthetic features.
        lr_model: Adam learning rate of the backbone in the inner loop.
        backbone: registered backbone used for matching (GCond's scripts: SGC).
        hidden, layers, dropout: its width, depth (propagations for SGC) and dropout.
        distance: ``ours`` (per-output-unit cosine, GCond's default), ``mse`` or ``cos``.
        bias_distance: how ``ours`` treats 1-D (bias) gradients: ``skip`` (GCond) or ``cos``.
        batch_per_class: real seed nodes per class per step (GCond: 256).
        fanouts: neighbours sampled per hop from the seeds (-1 = all); None = GCond's by layers
            ([10, 5] for two layers).
        structure_epochs, cycle_epochs: the first ``structure_epochs`` of every ``cycle_epochs``
            step the structure generator, the rest the features (GCond: 10 of 50).
        select_every: validation checkpoint every this many epochs (and at the last); 0 = only at
            the last epoch.
        select_backbone, select_hidden, select_epochs: the model trained to score a checkpoint by
            the protocol's recipe (`mmgc.models.protocol.TrainingRecipe`: GCN, 256 hidden, 600
            epochs; its learning rate drops at half of ``select_epochs``).
        select_dropout: its dropout; None = the protocol's rule (0.5 transductive / 0 inductive).
        select_eval_every: validate the checkpoint model every this many epochs.
        select_split: the nodes a checkpoint is scored on: ``val`` (the protocol) or ``test`` (the
            SR-GM authors' code, which saves the condensed graph of the best *test* score: a
            flagged option; the rows of such a graph record ``selection=test``).
        select_threshold: drop synthetic edges below this weight before scoring; None = the
            protocol's weak-edge threshold (`mmgc.models.protocol.edge_threshold`).
        diagnostics_every: record the gradient diagnostics every this many epochs (0 = never).
        diagnostic_steps: at which outer steps of a diagnostic epoch: ``all`` (the history holds the
            mean over the epoch's steps under each key, and ``<key>/first``, ``<key>/last``: the
            backbone is fresh at step 0, where the sign of a modality inner product is a coin flip,
            and trained by the inner loop afterwards) or ``first`` (step 0 only; cheaper).
        feature_grad: the feature gradient ``G_S = dL_S/dX_S`` used by diagnostics (and SR-GM):
            ``direct`` (through the backbone's message passing only, the adjacency held fixed: the
            field of the paper's equation 5; default) or ``total`` (also through the structure
            generator ``A = g(X_S)``, the full derivative; SR-GM's damping then needs second
            derivatives through the generator, which made an SR-GM epoch 1.3-1.9x GCond's instead of
            1.03-1.07x in `benchmarks/bench_sr_gm_overhead.py`, n = 30 and 90).
        class_weight: the weight of class c's matching distance: ``by_largest`` (``n_c / max_c n_c``,
            GCond's) or ``by_total`` (``n_c / n``, the SR-GM authors'; smaller by the number of
            classes or so, which changes the scale of every other term against matching).
        label_allocation: per-class synthetic counts from the train label distribution
            (`mmgc.methods.budget.LABEL_ALLOCATIONS`): ``largest_remainder`` (ours: always sums to n)
            or ``largest_takes_rest`` (GCond's and the SR-GM authors' code).
        regularizers: training-time regularizers added to the outer loss on the synthetic graph's
            per-modality embeddings (`regularizer_terms`), e.g. ``"dagr"``; None: none.
    """

    epochs: int = 600
    outer_loop: int = 20
    inner_loop: Optional[int] = None
    lr_feat: float = 1e-4
    lr_model: float = 0.01
    backbone: str = "gcn"
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.0
    distance: Literal["ours", "mse", "cos"] = "ours"
    bias_distance: Literal["skip", "cos"] = "skip"
    batch_per_class: int = 256
    fanouts: Optional[tuple[int, ...]] = None
    structure_epochs: int = 10
    cycle_epochs: int = 50
    select_every: int = 50
    select_backbone: str = PROTOCOL_ARCH
    select_hidden: int = TrainingRecipe.hidden
    select_epochs: int = TrainingRecipe.epochs
    select_dropout: Optional[float] = None
    select_eval_every: int = 10
    select_threshold: Optional[float] = None
    select_split: Literal["val", "test"] = "val"
    diagnostics_every: int = 1
    diagnostic_steps: Literal["all", "first"] = "all"
    feature_grad: Literal["direct", "total"] = "direct"
    class_weight: Literal["by_largest", "by_total"] = "by_largest"
    label_allocation: Literal["largest_remainder", "largest_takes_rest"] = "largest_remainder"
    regularizers: Optional[str] = None

    def __post_init__(self) -> None:
        positive = ("epochs", "outer_loop", "hidden", "layers", "batch_per_class", "cycle_epochs", "select_hidden",
                    "select_epochs", "select_eval_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise InputError(f"{name}: expected a positive integer, found {getattr(self, name)}")
        for name in ("select_every", "diagnostics_every", "structure_epochs"):
            if getattr(self, name) < 0:
                raise InputError(f"{name}: expected an integer >= 0, found {getattr(self, name)}")
        if self.inner_loop is not None and self.inner_loop < 0:
            raise InputError(f"inner_loop: expected an integer >= 0 or none, found {self.inner_loop}")
        if self.structure_epochs > self.cycle_epochs:
            raise InputError(f"structure_epochs: expected <= cycle_epochs ({self.cycle_epochs}), found {self.structure_epochs}")
        for name in ("lr_feat", "lr_model"):
            if not getattr(self, name) >= 0 or not math.isfinite(getattr(self, name)):
                raise InputError(f"{name}: expected a finite learning rate >= 0, found {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise InputError(f"dropout: expected a probability in [0, 1), found {self.dropout}")
        if self.select_dropout is not None and not 0 <= self.select_dropout < 1:
            raise InputError(f"select_dropout: expected a probability in [0, 1) or none, found {self.select_dropout}")
        if self.fanouts is not None:
            self.fanouts = tuple(int(f) for f in self.fanouts)
            if not self.fanouts or any(f == 0 or f < -1 for f in self.fanouts):
                raise InputError(f"fanouts: expected a non-empty list of positive ints (or -1 = all), found {list(self.fanouts)}")
        if self.select_threshold is not None and not 0 <= self.select_threshold < 1:
            raise InputError(f"select_threshold: expected a weight in [0, 1) or none, found {self.select_threshold}")
        if self.regularizers:
            from mmgc.regularizers import parse_regularizers

            parse_regularizers(self.regularizers)  # unknown names and bad values fail here, before any epoch


# ------------------------------------------------------------------------------------ distances
def match_distance(gw_syn: list[Tensor], gw_real: list[Tensor], distance: str = "ours", bias_distance: str = "skip") -> Tensor:
    """The distance between synthetic and real parameter gradients (see the module docstring)."""
    if distance == "ours":
        total = gw_syn[0].new_zeros(())
        for gs, gr in zip(gw_syn, gw_real):
            if gs.dim() <= 1:
                if bias_distance == "skip":
                    continue
                gs, gr = gs.reshape(1, -1), gr.reshape(1, -1)
            else:
                gs, gr = gs.reshape(gs.shape[0], -1), gr.reshape(gr.shape[0], -1)
            cos = (gs * gr).sum(-1) / (gs.norm(dim=-1) * gr.norm(dim=-1) + 1e-6)
            total = total + (1 - cos).sum()
        return total
    syn = torch.cat([g.reshape(-1) for g in gw_syn])
    real = torch.cat([g.reshape(-1) for g in gw_real])
    if distance == "mse":
        return ((syn - real) ** 2).sum()
    if distance == "cos":
        return 1 - (syn * real).sum() / (syn.norm() * real.norm() + 1e-6)
    raise InputError(f"distance: expected ours, mse or cos, found {distance!r}")


# ------------------------------------------------------------------------------------ real side
class ClassNeighborSampler:
    """Per-class seeds of the visible graph and their sampled multi-hop neighbourhood.

    ``sample(c)`` draws up to ``batch`` train nodes of class c (a random permutation, as GCond),
    then for each hop samples up to ``fanouts[h]`` neighbours without replacement of the nodes
    reached at the previous hop (vectorised: random keys sorted within each node's CSR segment).
    The result is the subgraph made of the sampled edges (undirected, every one a real edge), its
    node ids and the seeds' positions in it. The cost depends on the batch and the fan-outs, not
    on the size of the graph.
    """

    def __init__(self, visible: MultimodalGraph, num_classes: int, batch: int, fanouts: tuple[int, ...],
                 device: torch.device):
        self.device, self.batch, self.fanouts = device, batch, fanouts
        self.num_nodes = visible.num_nodes
        row, col = visible.edge_index.to(device)
        self.csr = CSR.from_edges(row, col, visible.num_nodes)
        y = visible.y.to(device)
        train = visible.train_mask.to(device)
        self.pools = [(train & (y == c)).nonzero()[:, 0] for c in range(num_classes)]

    def _neighbours(self, nodes: Tensor, k: int) -> tuple[Tensor, Tensor]:
        _, deg = self.csr.degree(nodes)
        total = int(deg.sum())
        if total == 0:
            empty = nodes.new_empty(0)
            return empty, empty
        seg, edge = self.csr.edges_of(nodes)
        if k >= 0 and bool((deg > k).any()):
            keys = seg.to(torch.float64) + torch.rand(total, device=nodes.device, dtype=torch.float64)
            order = torch.argsort(keys)
            rank = torch.arange(total, device=nodes.device) - (torch.cumsum(deg, 0) - deg)[seg[order]]
            keep = order[rank < k]
            seg, edge = seg[keep], edge[keep]
        return nodes[seg], self.csr.col[edge]

    def seeds(self, c: int) -> Tensor:
        """Up to ``batch`` random train nodes of class ``c`` (a random permutation of the class, as GCond)."""
        pool = self.pools[c]
        return pool[torch.randperm(pool.numel(), device=self.device)[: self.batch]]

    def subgraph(self, seeds: Tensor) -> tuple[Tensor, Adjacency, Tensor]:
        """``(nodes, adjacency over them, positions of seeds in nodes)`` for the sampled neighbourhood."""
        sources, targets = [], []
        frontier, seen = torch.unique(seeds), seeds
        for k in self.fanouts:
            if frontier.numel() == 0:
                break
            t, s = self._neighbours(frontier, k)
            sources.append(s)
            targets.append(t)
            reached = torch.unique(s)
            new = reached[~torch.isin(reached, seen)]
            seen = torch.cat([seen, new])
            frontier = new
        nodes = torch.unique(seen)
        if sources:
            s, t = torch.cat(sources), torch.cat(targets)
            lo, hi = torch.minimum(s, t), torch.maximum(s, t)
            key = torch.unique(lo * self.num_nodes + hi)
            lo, hi = torch.searchsorted(nodes, key // self.num_nodes), torch.searchsorted(nodes, key % self.num_nodes)
            edge_index = torch.stack([torch.cat([lo, hi]), torch.cat([hi, lo])])
        else:
            edge_index = torch.empty(2, 0, dtype=torch.long, device=self.device)
        adj = Adjacency.from_edge_index(edge_index, int(nodes.numel()))
        return nodes, adj, torch.searchsorted(nodes, seeds)

    def sample(self, c: int) -> tuple[Tensor, Adjacency, Tensor, Tensor]:
        """``(nodes, adjacency over them, seed positions, seed ids)`` for class ``c``."""
        seeds = self.seeds(c)
        nodes, adj, pos = self.subgraph(seeds)
        return nodes, adj, pos, seeds


# ------------------------------------------------------------------------------------ state objects
@dataclass
class Setup:
    """What the engine prepared for one condensation: the graphs, the budget and the real side."""

    graph: MultimodalGraph
    visible: MultimodalGraph
    ratio: float
    counts: Tensor  # [C] synthetic nodes per class
    y_syn: Tensor  # [n] on device, contiguous class blocks
    device: torch.device
    num_classes: int
    inner_loop: int
    fanouts: tuple[int, ...]
    x_real: Tensor
    y_real: Tensor
    sampler: ClassNeighborSampler
    init_index: Tensor  # visible-graph ids of the real nodes the features started from
    ctx: Context

    @property
    def edge_threshold(self) -> float:
        """The evaluation protocol's weak-edge threshold for this graph (`mmgc.models.protocol.edge_threshold`)."""
        return edge_threshold(self.graph)

    @property
    def n(self) -> int:
        return int(self.y_syn.numel())

    @property
    def modalities(self) -> dict[str, tuple[int, int]]:
        return self.graph.modalities


@dataclass
class StepState:
    """One outer step, as the hooks see it."""

    method: "GradientMatchingMethod"
    setup: Setup
    epoch: int
    step: int
    phase: str  # "structure" or "features"
    model: nn.Module
    params: list[Tensor]
    x: nn.Parameter  # the synthetic features (leaf)
    x_in: Tensor  # the tensor the backbone reads (an alias of x, so the backbone-only gradient exists)
    adj: Tensor  # the synthetic adjacency of this step (differentiable)
    logits: Tensor
    labels: Tensor
    loss_gm: Tensor
    diagnose: bool
    metrics: dict[str, float] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    def synthetic_loss(self) -> Tensor:
        """``L_S``: the mean cross-entropy of the synthetic graph at the current backbone."""
        if "loss_syn" not in self.cache:
            self.cache["loss_syn"] = F.cross_entropy(self.logits, self.labels)
        return self.cache["loss_syn"]

    def feature_gradient(self, create_graph: bool = False) -> Tensor:
        """``G_S = dL_S/dX_S`` (``[n, d]``) along the path set by the config's ``feature_grad``.

        With ``create_graph`` the result is differentiable (w.r.t. ``X_S``, the generator and the
        backbone parameters); it is cached, and a later plain call returns it detached.
        """
        if "G_S" in self.cache:
            g = self.cache["G_S"]
            if create_graph and not g.requires_grad:
                raise RuntimeError("feature_gradient(create_graph=True) requested after a detached one")
            return g if create_graph else g.detach()
        wrt = self.x if self.method.config.feature_grad == "total" else self.x_in
        (g,) = torch.autograd.grad(self.synthetic_loss(), wrt, create_graph=create_graph, retain_graph=True)
        self.cache["G_S"] = g
        return g if create_graph else g.detach()

    def feature_gradient_at_fixed_structure(self) -> Tensor:
        """``G_S`` with the synthetic adjacency taken as a constant: the backbone is run again on the
        detached adjacency, so the result (differentiable in ``X_S`` and the backbone parameters)
        carries no gradient to the structure generator, directly or through ``A = g(X_S)``."""
        if "G_S_fixed" not in self.cache:
            method = self.method
            logits = method.synthetic_forward(self.model, self.x_in, method.synthetic_operand(self.adj.detach()))
            loss = F.cross_entropy(logits, self.labels)
            (self.cache["G_S_fixed"],) = torch.autograd.grad(loss, self.x_in, create_graph=True)
        return self.cache["G_S_fixed"]

    def laplacian_adjacency(self) -> Tensor:
        """The ``[n, n]`` adjacency whose Laplacian damping and diagnostics use (a batch is averaged)."""
        return self.adj.mean(0) if self.adj.dim() == 3 else self.adj


@dataclass
class _Run:
    """The state one condensation carries between its steps (`GradientMatchingMethod.condense`)."""

    setup: Setup
    x: nn.Parameter  # the synthetic features
    generator: Optional[StructureGenerator]
    gen_params: list[Tensor]
    opt_x: torch.optim.Optimizer
    opt_s: Optional[torch.optim.Optimizer]
    selector: "Selector"
    labels: Tensor  # the synthetic labels the backbone's rows carry
    class_rows: list[Any]  # per class, its rows of the synthetic logits
    coeff: list[float]  # per class, the weight of its matching distance
    start: float  # perf_counter at the start
    history: list[dict[str, Any]] = field(default_factory=list)
    condense_seconds: float = 0.0
    condense_cpu: float = 0.0
    stopped_early: bool = False


class Selector(Protocol):
    """Checkpoint selection: which synthetic graph the method returns."""

    def due(self, epoch: int, last: bool) -> bool: ...

    def offer(self, epoch: int, x: Tensor, adj: Tensor) -> dict[str, float]: ...

    def result(self) -> Optional[tuple[Tensor, Tensor, dict[str, Any]]]: ...


class ValidationSelector:
    """Train a fresh evaluation backbone on the offered graph and keep the best validation metric."""

    def __init__(self, method: "GradientMatchingMethod", setup: Setup):
        cfg = method.config
        graph = setup.graph
        self.setup, self.cfg = setup, cfg
        self.every = cfg.select_every
        self.recipe = TrainingRecipe(hidden=cfg.select_hidden, dropout=cfg.select_dropout, epochs=cfg.select_epochs,
                                     lr_drop_epoch=cfg.select_epochs // 2, eval_every=cfg.select_eval_every)
        self.threshold = edge_threshold(graph, cfg.select_threshold)
        self.dropout = self.recipe.dropout_for(graph)
        # bag-of-words features (Cora: 1.3% non-zero) are scored as a sparse matrix, as the evaluation does
        sparse = accepts_sparse_features(get_backbone(cfg.select_backbone)) and \
            wants_sparse_features(graph.x, self.recipe.sparse_feature_density)
        self.split = cfg.select_split
        self.scorer = SplitScorer(graph, self.split, setup.device, sparse_features=sparse)
        self.train_config = self.recipe.train_config()
        self.best: Optional[tuple[Tensor, Tensor, dict[str, Any]]] = None
        self.best_val = -math.inf
        self.seconds = 0.0

    def due(self, epoch: int, last: bool) -> bool:
        return last or (self.every > 0 and (epoch + 1) % self.every == 0)

    def score(self, epoch: int, x: Tensor, adj: Tensor) -> float:
        setup = self.setup
        adj = threshold_edges(adj, self.threshold)
        with torch.random.fork_rng(devices=[setup.device] if setup.device.type == "cuda" else []):
            torch.manual_seed(setup.ctx.seed * 100_003 + epoch)
            model = build_backbone(self.cfg.select_backbone, x.shape[1], self.recipe.hidden, setup.num_classes,
                                   layers=self.recipe.layers, dropout=self.dropout,
                                   modalities=setup.modalities).to(setup.device)
            result = train_node_classifier(model, x, Adjacency.from_dense(adj), setup.y_syn, self.scorer,
                                           self.train_config)
        return float(result.best_val)

    def offer(self, epoch: int, x: Tensor, adj: Tensor) -> dict[str, float]:
        start = time.perf_counter()
        val = self.score(epoch, x, adj)
        self.seconds += time.perf_counter() - start
        if val > self.best_val:
            self.best_val = val
            self.best = (x.clone(), adj.clone(), {"selected_epoch": epoch, "selected_val": val})
        return {"val": val}

    def result(self) -> Optional[tuple[Tensor, Tensor, dict[str, Any]]]:
        if self.best is None:
            return None
        x, adj, info = self.best
        return x, adj, dict(info, selection="validation" if self.split == "val" else "test",
                            selection_split=self.split, selection_seconds=round(self.seconds, 3))


# ------------------------------------------------------------------------------------ the engine
class FrozenDenseAdjacency(Adjacency):
    """A detached dense adjacency reused for many steps: ``gcn()`` and ``mean()`` are computed once."""

    def gcn(self) -> Tensor:
        if "gcn" not in self._cache:
            self._cache["gcn"] = super().gcn()
        return self._cache["gcn"]

    def mean(self) -> Tensor:
        if "mean" not in self._cache:
            self._cache["mean"] = super().mean()
        return self._cache["mean"]


def _adam(params: list[Tensor], lr: float) -> torch.optim.Adam:
    """Adam (the fused kernel where the device supports it: the same update in fewer operations)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr)


class GradientMatchingMethod(CondensationMethod):
    """Base class of gradient-matching condensation methods (see the module docstring)."""

    Config = GradientMatchingConfig
    _has_structure = True

    # -------------------------------------------------------------------------------- hooks
    def make_structure(self, setup: Setup, x: Tensor) -> Optional[StructureGenerator]:
        """The structure generator (None: the synthetic graph has no edges)."""
        return None

    def structure_lr(self) -> float:
        return 0.0

    def synthetic_adjacency(self, generator: Optional[StructureGenerator], x: Tensor, inference: bool = False) -> Tensor:
        if generator is None:
            return x.new_zeros(x.shape[0], x.shape[0])
        return generator.inference(x) if inference else generator(x)

    def synthetic_operand(self, adj: Tensor, frozen: bool = False) -> Adjacency:
        """The backbone's graph operand for the synthetic adjacency. ``frozen``: ``adj`` is detached
        and reused for several steps (the inner loop), so its normalisation is computed once. With no
        structure generator the operand is the empty graph (the same operator as a zero matrix)."""
        if not self._has_structure:
            return Adjacency.empty(adj.shape[-1], adj.device)
        return (FrozenDenseAdjacency if frozen else Adjacency).from_dense(adj)

    def synthetic_forward(self, model: nn.Module, x: Tensor, operand: Adjacency) -> Tensor:
        """Logits of the backbone on the synthetic graph (rows labelled by `synthetic_labels`)."""
        return model(x, operand)

    def synthetic_labels(self, setup: Setup) -> Tensor:
        return setup.y_syn

    def extra_terms(self, state: StepState) -> dict[str, Tensor]:
        """Named extra terms of the outer loss (already weighted); each is logged."""
        return {}

    def adjust_outer_gradients(self, state: StepState, x: nn.Parameter, generator: Optional[StructureGenerator]) -> None:
        """Edit ``x.grad`` / the generator's gradients before the optimiser step."""

    def regularizer_terms(self, state: StepState) -> dict[str, Tensor]:
        """Training-time regularizers of the config's ``regularizers`` (e.g. ``"dagr"`` or
        ``"optimag:weight=0.1"``; `mmgc.regularizers.parse_regularizers`) on the per-modality
        embeddings of the synthetic graph under the current backbone (`Backbone.modality_embeddings`),
        each added to the outer loss, weighted, and logged as ``reg/<name>``. Their gradients reach the
        synthetic features (and, through the propagation of ``attach=post_mp``, the structure)."""
        spec = self.config.regularizers
        if not spec:
            return {}
        seed = int(state.setup.ctx.seed)
        cached = self.__dict__.get("_regularizer_hooks")
        if cached is None or cached[0] != (spec, seed):
            from mmgc.regularizers import parse_regularizers, regularizer_loss

            hooks: dict[str, Any] = {}
            for reg in parse_regularizers(spec):
                name = f"reg/{reg.name}" if f"reg/{reg.name}" not in hooks else f"reg/{reg.name}{len(hooks)}"
                hooks[name] = regularizer_loss([reg], seed=seed)
            cached = self._regularizer_hooks = ((spec, seed), hooks)
        operand = self.synthetic_operand(state.adj)
        return {name: hook(state.model, state.x_in, operand, state.logits) for name, hook in cached[1].items()}

    def phase(self, epoch: int, has_structure: bool) -> str:
        cfg = self.config
        if has_structure and epoch % cfg.cycle_epochs < cfg.structure_epochs:
            return "structure"
        return "features"

    def make_selector(self, setup: Setup) -> Selector:
        return ValidationSelector(self, setup)

    def final_adjacency(self, adj: Tensor) -> Tensor:
        """The dense ``[n, n]`` adjacency stored in the condensed graph."""
        return adj.mean(0) if adj.dim() == 3 else adj

    # -------------------------------------------------------------------------------- setup
    def prepare(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> tuple[Setup, Tensor]:
        cfg = self.config
        device = torch.device(ctx.device)
        visible, counts = plan_budget(graph, ratio, cfg.label_allocation)
        init_index = sample_per_class(visible, counts, torch.Generator().manual_seed(ctx.seed))
        fanouts = cfg.fanouts if cfg.fanouts is not None else GCOND_FANOUTS.get(cfg.layers)
        if fanouts is None:
            raise InputError(f"fanouts: no GCond default for {cfg.layers} layers; set fanouts explicitly")
        inner = cfg.inner_loop if cfg.inner_loop is not None else (10 if graph.setting == "transductive" else 5)
        setup = Setup(
            graph=graph, visible=visible, ratio=ratio, counts=counts,
            y_syn=labels_from_counts(counts).to(device), device=device, num_classes=graph.num_classes,
            inner_loop=inner, fanouts=tuple(fanouts), x_real=visible.x.to(device), y_real=visible.y.to(device),
            sampler=ClassNeighborSampler(visible, graph.num_classes, cfg.batch_per_class, tuple(fanouts), device),
            init_index=init_index, ctx=ctx,
        )
        return setup, visible.x[init_index].clone().to(device)

    def build_model(self, setup: Setup) -> nn.Module:
        cfg = self.config
        model = build_backbone(cfg.backbone, setup.x_real.shape[1], cfg.hidden, setup.num_classes, layers=cfg.layers,
                               dropout=cfg.dropout, modalities=setup.modalities)
        return model.to(setup.device).train()

    def real_gradients(self, setup: Setup, model: nn.Module, params: list[Tensor]) -> list[list[Tensor]]:
        """Per class, the gradient of the cross-entropy on a sample of its real train nodes, each on
        its own sampled neighbourhood (GCond's per-class sampler).

        (Measured on Cora with SGC: one shared subgraph for all classes' seeds, or one forward pass
        over the whole graph, were both slower than this: every class's backward pass then runs over
        the larger graph.)
        """
        out = []
        for c in range(setup.num_classes):
            nodes, adj, seed_pos, seeds = setup.sampler.sample(c)
            logits = model(setup.x_real[nodes], adj)[seed_pos]
            loss = F.cross_entropy(logits, setup.y_real[seeds])
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            out.append([torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads)])
        return out

    # -------------------------------------------------------------------------------- diagnostics
    def diagnostics(self, state: StepState) -> dict[str, float]:
        """Gradient-field and feature diagnostics of this step (no effect on the optimisation)."""
        setup = state.setup
        layout = setup.modalities
        g = state.feature_gradient()
        out = dict(modality_gradient_stats(g, layout))
        adj = state.laplacian_adjacency().detach()
        laplacian = getattr(self.config, "laplacian", "unnormalized")
        out["dirichlet_G"] = float(laplacian_quadratic(g, adj, laplacian))
        if len(layout) > 1 and pairable(layout):
            out["dirichlet_Gp"] = float(laplacian_quadratic(project_conflicts(g, layout)[0], adj, laplacian))
        out["grad_norm_G"] = float(g.norm())
        out.update(intra_modal_similarity(state.x, layout))
        pairs = max(adj.shape[0] * (adj.shape[0] - 1), 1)
        out["adj_mean"] = float(adj.sum() / pairs)
        out["adj_density"] = float((adj >= setup.edge_threshold).sum() / pairs)  # share kept by the evaluation
        return out

    # -------------------------------------------------------------------------------- the loop
    def condense(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> CondensedGraph:
        """Initialise, run the outer epochs (each followed by a checkpoint when one is due) until the
        last or the time budget, and return the selected synthetic graph with its history."""
        cfg = self.config
        run = self._start(graph, ratio, ctx)
        begin_stage(ctx.reporter, "condense", cfg.epochs)
        for epoch in range(cfg.epochs):
            record = self._epoch(run, epoch)
            last = epoch == cfg.epochs - 1
            over_budget = ctx.time_budget_s is not None and time.perf_counter() - run.start >= ctx.time_budget_s
            if not math.isfinite(record["loss_total"]):
                raise FloatingPointError(f"{self.name}: the outer loss is not finite at epoch {epoch} ({record})")
            if run.selector.due(epoch, last) and not over_budget:
                record.update(run.selector.offer(epoch, *self._current_graph(run)))
            record["elapsed"] = time.perf_counter() - run.start
            run.history.append(record)
            ctx.reporter.report(epoch, {k: v for k, v in record.items() if isinstance(v, (int, float))})
            if over_budget and not last:
                run.stopped_early = True
                break
        return self._finish(run, graph, ratio, ctx)

    def _start(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> "_Run":
        """Seed, prepare the budget and the real side, and build the synthetic features, the structure
        generator, their optimisers and the checkpoint selector."""
        cfg = self.config
        start = time.perf_counter()
        device = torch.device(ctx.device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seed_all(ctx.seed)
        setup, x0 = self.prepare(graph, ratio, ctx)
        self.validate_setup(setup)
        x = nn.Parameter(x0)
        generator = self.make_structure(setup, x0)
        if generator is not None:
            generator = generator.to(device)
        self._has_structure = generator is not None
        gen_params = [p for p in generator.parameters()] if generator is not None else []
        opt_x = _adam([x], cfg.lr_feat)
        opt_s = _adam(gen_params, self.structure_lr()) if gen_params else None
        selector = self.make_selector(setup)
        labels = self.synthetic_labels(setup)
        counts = setup.counts.tolist()
        coeff = [k / (max(counts) if cfg.class_weight == "by_largest" else sum(counts)) for k in counts]
        return _Run(setup=setup, x=x, generator=generator, gen_params=gen_params, opt_x=opt_x, opt_s=opt_s,
                    selector=selector, labels=labels, class_rows=_class_rows(labels, setup.num_classes), coeff=coeff,
                    start=start)

    def _epoch(self, run: "_Run", epoch: int) -> dict[str, Any]:
        """One outer epoch on a fresh backbone: ``outer_loop`` matching steps, each but the last
        followed by the inner loop; returns the epoch's record (means over its steps, timings)."""
        cfg = self.config
        t_epoch, c_epoch = time.perf_counter(), time.process_time()
        phase = self.phase(epoch, bool(run.gen_params))
        model = self.build_model(run.setup)
        params = list(model.parameters())
        opt_model = _adam(params, cfg.lr_model)
        diagnose_epoch = cfg.diagnostics_every > 0 and epoch % cfg.diagnostics_every == 0
        sums: dict[str, float] = {}
        step_diagnostics: list[dict[str, float]] = []
        inner_loss = float("nan")
        next_adj: Optional[Tensor] = None
        # a feature epoch steps only X_S: the generator's parameters are constants for it (no weight
        # gradient is computed through the pairwise layers), unless its diagnostics read their norms
        constants = run.gen_params if phase == "features" and not diagnose_epoch else []
        with _held_constant(constants):
            for step in range(cfg.outer_loop):
                diagnose = diagnose_epoch and (step == 0 or cfg.diagnostic_steps == "all")
                state = self._outer_step(run, epoch, step, phase, model, params, next_adj, diagnose, sums,
                                         step_diagnostics)
                next_adj = None
                if step == cfg.outer_loop - 1 or run.setup.inner_loop == 0:
                    continue
                next_adj, inner_loss = self._inner_loop(run, state, opt_model)
        record: dict[str, Any] = {"epoch": epoch, "phase": phase}
        for name, value in sums.items():
            record[name] = value / cfg.outer_loop
        record.update(_summarise_steps(step_diagnostics))
        record["loss_inner"] = inner_loss
        seconds = time.perf_counter() - t_epoch
        run.condense_seconds += seconds
        cpu_seconds = time.process_time() - c_epoch
        run.condense_cpu += cpu_seconds
        record["seconds"] = seconds
        record["cpu_seconds"] = cpu_seconds  # all threads of the process: the fair figure on shared cores
        return record

    def _outer_step(self, run: "_Run", epoch: int, step: int, phase: str, model: nn.Module, params: list[Tensor],
                    adj: Optional[Tensor], diagnose: bool, sums: dict[str, float],
                    step_diagnostics: list[dict[str, float]]) -> StepState:
        """One matching step: per class, the distance between the synthetic and the real gradients,
        plus the extra terms and regularizers; one optimiser step of the phase's parameters. ``adj``:
        this step's synthetic adjacency when the previous inner loop already built it."""
        cfg, setup, x, labels = self.config, run.setup, run.x, run.labels
        if adj is None:
            adj = self.synthetic_adjacency(run.generator, x)
        x_in = x.view_as(x)
        logits = self.synthetic_forward(model, x_in, self.synthetic_operand(adj))
        loss_gm = logits.new_zeros(())
        real = self.real_gradients(setup, model, params)
        for c in range(setup.num_classes):
            gw_real = real[c]
            rows = run.class_rows[c]
            loss_c = F.cross_entropy(logits[rows], labels[rows])
            gw_syn = torch.autograd.grad(loss_c, params, create_graph=True, allow_unused=True)
            gw_syn = [torch.zeros_like(p) if g is None else g for p, g in zip(params, gw_syn)]
            loss_gm = loss_gm + run.coeff[c] * match_distance(gw_syn, gw_real, cfg.distance, cfg.bias_distance)
        state = StepState(self, setup, epoch, step, phase, model, params, x, x_in, adj, logits, labels, loss_gm,
                          diagnose)
        terms = self.extra_terms(state)
        terms.update(self.regularizer_terms(state))
        total = loss_gm
        for value in terms.values():
            total = total + value
        targets = run.gen_params if phase == "structure" else [x]
        run.opt_x.zero_grad(set_to_none=True)
        if run.opt_s is not None:
            run.opt_s.zero_grad(set_to_none=True)
        if diagnose:
            diag = self.diagnostics(state)
            diag.update(self._backward_with_norms(loss_gm, terms, x, run.gen_params, targets))
            step_diagnostics.append(diag)
        else:
            total.backward(inputs=targets)
        self.adjust_outer_gradients(state, x, run.generator)
        (run.opt_s if phase == "structure" else run.opt_x).step()
        _accumulate(sums, "loss_gm", loss_gm.item())
        for name, value in terms.items():
            _accumulate(sums, name, value.item())
        _accumulate(sums, "loss_total", total.item())
        _accumulate(sums, "dead_backbone", float(_same_output_everywhere(logits)))
        for name, value in state.metrics.items():
            _accumulate(sums, name, value)
        return state

    def _inner_loop(self, run: "_Run", state: StepState, opt_model: torch.optim.Optimizer
                    ) -> tuple[Optional[Tensor], float]:
        """Train the backbone ``inner_loop`` steps on the detached synthetic graph; returns the next
        outer step's adjacency when it was built here (or None) and the last inner loss."""
        generator, x = run.generator, run.x
        next_adj: Optional[Tensor] = None
        x_det = x.detach()
        if generator is not None and generator.inference_is_forward:
            # the inner loop changes neither X_S nor the generator, so the next step's outer
            # adjacency is this one: built once, with its graph, and read detached in between
            next_adj = self.synthetic_adjacency(generator, x)
            adj_inner = self.synthetic_operand(next_adj.detach(), frozen=True)
        else:
            with torch.no_grad():
                adj_inner = self.synthetic_operand(self.synthetic_adjacency(generator, x_det, inference=True),
                                                   frozen=True)
        inner_loss = float("nan")
        for _ in range(run.setup.inner_loop):
            opt_model.zero_grad(set_to_none=True)
            loss_inner = F.cross_entropy(self.synthetic_forward(state.model, x_det, adj_inner), run.labels)
            loss_inner.backward()
            opt_model.step()
            inner_loss = loss_inner.item()
        return next_adj, inner_loss

    def _current_graph(self, run: "_Run") -> tuple[Tensor, Tensor]:
        """A detached copy of the current synthetic features and their final adjacency."""
        with torch.no_grad():
            x_now = run.x.detach().clone()
            adj_now = self.final_adjacency(self.synthetic_adjacency(run.generator, x_now, inference=True))
        return x_now, adj_now

    def _finish(self, run: "_Run", graph: MultimodalGraph, ratio: float, ctx: Context) -> CondensedGraph:
        """The selected synthetic graph (the current one if no checkpoint was scored) and its ``info``."""
        cfg, setup, history = self.config, run.setup, run.history
        dead_epochs = sum(1 for h in history if h.get("dead_backbone", 0) > 0)
        if dead_epochs:
            warnings.warn(
                f"{self.name}: the condensation backbone ({cfg.backbone}) gave every synthetic node the same output "
                f"in {dead_epochs} of {len(history)} epochs (all hidden units dead: G_S = 0, no per-node signal "
                f"reaches the features); see dead_backbone in the history", RuntimeWarning, stacklevel=3)
        chosen = run.selector.result()
        if chosen is None:  # no checkpoint was scored (time budget): return the current graph
            chosen = (*self._current_graph(run), {"selection": "none (time budget spent before the first checkpoint)"})
        x_best, adj_best, selection = chosen
        return self.from_learned(
            graph, ratio, ctx, x_best, adj_best, setup.y_syn, condense_arch=cfg.backbone, history=history,
            started=run.start, class_counts=setup.counts.tolist(),
            condense_seconds=round(run.condense_seconds, 3), condense_cpu_seconds=round(run.condense_cpu, 3),
            seconds_per_epoch=round(run.condense_seconds / max(len(history), 1), 4), epochs_run=len(history),
            stopped_early=run.stopped_early, inner_loop=setup.inner_loop, fanouts=list(setup.fanouts),
            dead_backbone_epochs=dead_epochs, **selection)

    def validate_setup(self, setup: Setup) -> None:
        """Check method-specific requirements on the prepared setup (raise `InputError`)."""

    def _backward_with_norms(self, loss_gm: Tensor, terms: dict[str, Tensor], x: nn.Parameter,
                             gen_params: list[Tensor], targets: list[Tensor]) -> dict[str, float]:
        """Backward one term at a time to log each term's gradient norm w.r.t. the features
        (``gradnorm_x/<term>``) and the generator (``gradnorm_s/<term>``), and each extra term's
        ratio to the matching loss's (``ratio_x/<term>``: lambda * |dR/dX_S| / |dL_gm/dX_S| for
        SR-GM's damping); then leave the sum in ``.grad`` of the phase's parameters."""
        metrics: dict[str, float] = {}
        inputs = [x] + gen_params
        named = {"loss_gm": loss_gm, **terms}
        summed: list[Optional[Tensor]] = [None] * len(inputs)
        for i, (name, value) in enumerate(named.items()):
            retain = i < len(named) - 1
            grads = torch.autograd.grad(value, inputs, retain_graph=retain, allow_unused=True)
            gx = grads[0]
            metrics[f"gradnorm_x/{name}"] = float(gx.norm()) if gx is not None else 0.0
            if gen_params:
                sq = sum(float(g.pow(2).sum()) for g in grads[1:] if g is not None)
                metrics[f"gradnorm_s/{name}"] = math.sqrt(sq)
            summed = [g if s is None else (s if g is None else s + g) for s, g in zip(summed, grads)]
        for p, g in zip(inputs, summed):
            if any(p is t for t in targets):
                p.grad = torch.zeros_like(p) if g is None else g
        base = metrics["gradnorm_x/loss_gm"]
        for name in terms:
            metrics[f"ratio_x/{name}"] = metrics[f"gradnorm_x/{name}"] / base if base > 0 else float("nan")
        return metrics


@contextmanager
def _held_constant(params: list[Tensor]) -> Iterator[None]:
    """``requires_grad`` off for ``params`` inside the block (and back on after it)."""
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _class_rows(labels: Tensor, num_classes: int) -> list[Any]:
    """Per class, a slice when its rows are contiguous (the usual class blocks), else an index tensor."""
    rows: list[Any] = []
    for c in range(num_classes):
        idx = (labels == c).nonzero()[:, 0]
        if idx.numel() and int(idx[-1] - idx[0]) + 1 == idx.numel():
            rows.append(slice(int(idx[0]), int(idx[-1]) + 1))
        else:
            rows.append(idx)
    return rows


def _summarise_steps(steps: list[dict[str, float]]) -> dict[str, float]:
    """Per key: the mean over the diagnosed steps, plus ``/first`` and ``/last`` when there are several."""
    out: dict[str, float] = {}
    for key in steps[0] if steps else ():
        values = [d[key] for d in steps if key in d]
        out[key] = sum(values) / len(values)
        if len(steps) > 1:
            out[f"{key}/first"], out[f"{key}/last"] = steps[0].get(key, math.nan), steps[-1].get(key, math.nan)
    return out


def _same_output_everywhere(logits: Tensor) -> bool:
    """True when the backbone gives every synthetic node exactly the same logits (all hidden units dead,
    so ``G_S = 0`` and nothing per node reaches the features)."""
    flat = logits.detach().reshape(-1, logits.shape[-1])
    return flat.shape[0] > 1 and bool((flat == flat[:1]).all())


def _accumulate(sums: dict[str, float], name: str, value: float) -> None:
    sums[name] = sums.get(name, 0.0) + value
