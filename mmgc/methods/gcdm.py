"""GCDM (Liu et al., "Graph Condensation via Receptive Field Distribution Matching", arXiv 2206.13697).

No official code exists. GCDM views a graph as a distribution of receptive fields (a node with its
multi-hop neighbourhood) and learns a synthetic graph whose receptive fields, embedded by GNNs, are
distributed like the real ones, class by class. There is no gradient matching and no inner training,
so GCDM runs its own short loop here instead of the gradient-matching engine's hooks; it reuses the
engine's pieces that fit (imported, not copied): the per-class receptive-field sampler
(`ClassNeighborSampler`), its `Setup` record and the validation checkpoint selection
(`ValidationSelector`); the shared budget and initialisation (`mmgc.methods.budget`); and GCond's
structure generator built exactly as GCond builds it (`mmgc.methods.gcond.make_pge`).

Every epoch (one outer step):

1. a backbone ``f_theta`` (``backbone``, any registered name; GCN by default) is built with freshly
   drawn weights and output width ``embed_dim`` (an embedding network, not a classifier: nothing
   trains it, as in distribution matching for images, Zhao & Bilen 2023);
2. for every class c, up to ``batch_per_class`` train nodes of class c are drawn with their sampled
   ``len(fanouts)``-hop receptive fields (GCond's fan-outs, [10, 5] for two layers), and embedded:
   ``R_c = f_theta(receptive fields)`` (no gradient); the synthetic graph ``(X', A' = PGE(X'))`` is
   embedded whole, ``S = f_theta(X', A')``, and ``S_c`` are the rows of class c;
3. the loss is ``sum_c (n_c / n) MMD^2(R_c, S_c)`` with the (biased, V-statistic) estimator

   ``MMD^2(R, S) = mean k(R, R) + mean k(S, S) - 2 mean k(R, S)``,

   ``k(a, b) = sum_s exp(-||a - b||^2 / (s * m))`` over the ``bandwidths`` s, m the median squared
   distance between the real embeddings of the class (detached): a multi-bandwidth Gaussian kernel
   that adapts to the scale of each fresh network (``kernel=rbf``, default, the paper's MMD);
   ``kernel=linear`` gives ``k(a, b) = a . b``, whose MMD^2 is ``||mean R - mean S||^2``: the
   class-mean matching of GC-Bench's ``DM/gcdm.py`` (squared error of means) and, up to the norm, of
   GraphSlim's ``gcdm.py`` (its older L1 of means; its current code matches random real rows to
   synthetic rows one to one). Means ignore the spread of a class; MMD with a characteristic kernel
   matches the whole distribution, which is the paper's point;
4. one Adam step: of the PGE on ``structure_epochs`` of every ``cycle_epochs`` epochs (GCond's and
   GC-Bench's alternation, 10 of 50), of the features ``X'`` otherwise (the feature gradient flows
   through ``f_theta`` and through ``A' = PGE(X')``). ``structure=none`` (GCDM-X): no edges, every
   epoch steps the features.

Synthetic labels follow the shared budget (`plan_budget`, class blocks); ``X'`` starts as random real
train nodes of each class (`sample_per_class`). Every ``select_every`` epochs and at the last, a
fresh GCN trained by the evaluation protocol's recipe on the current synthetic graph is scored on the
original *validation* nodes; the best graph is returned (``selected_epoch``, ``selected_val``).
Inductive graphs: the sampler sees only the train-induced graph; transductive: the whole graph, with
the labels of train nodes only. Modalities: ``f_theta`` reads the fused features (any layout); the
per-modality variant is the choice of a per-modality backbone (``backbone=mmgcn``), whose branches
embed each modality on its own.

``info`` holds the per-epoch ``history`` (loss, phase, seconds, elapsed, the validation metric at a
checkpoint), ``selected_epoch``, ``feature_steps``, ``structure_steps`` and ``outer_steps``.
Deterministic under ``ctx.seed`` on CPU; every tensor on ``ctx.device``; ``ctx.time_budget_s``
stops the epochs early (the best checkpoint so far is kept).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal, Optional

import torch
from torch import Tensor

from mmgc.adjacency import Adjacency
from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph
from mmgc.methods.base import CondensationMethod, Context, SearchDim, begin_stage, register_method
from mmgc.methods.budget import LABEL_ALLOCATIONS, labels_from_counts, plan_budget, sample_per_class
from mmgc.methods.gcond import check_pge_settings, make_pge
from mmgc.methods.gradient_matching import (
    GCOND_FANOUTS, ClassNeighborSampler, ScheduleConfig, SelectionConfig, Setup, ValidationSelector, check_fanouts,
    check_learning_rate,
)
from mmgc.models import build_backbone
from mmgc.models.training import seed_all

KERNELS = ("rbf", "linear")
STRUCTURES = ("pge", "none")


@dataclass
class GCDMConfig(ScheduleConfig, SelectionConfig):
    """GCDM's settings (the paper publishes none; defaults: GCond's for small graphs, 600 epochs and
    learning rates 1e-4; GC-Bench's Citeseer command, ``--lr_feat=0.01 --lr_adj=0.001``, destroys
    row-normalised bag-of-words features, whose entries are about 0.05, within a few Adam steps): the
    engine's schedule (`ScheduleConfig`: ``epochs`` are outer steps, each with a freshly drawn
    embedding network; GCDM-X alternates as GCond-X does) and checkpoint selection
    (`SelectionConfig`), plus these.

    Attributes:
        structure: ``pge`` (GCDM: GCond's PGE learns the synthetic structure) or ``none`` (GCDM-X).
        lr_feat, lr_adj: Adam learning rates of the synthetic features and of the PGE.
        backbone: the registered backbone that embeds receptive fields (any name).
        hidden, layers: its width and depth (``layers`` hops of receptive field).
        embed_dim: its output width (the embedding matched).
        batch_per_class: real receptive fields drawn per class per step.
        fanouts: neighbours sampled per hop (-1 = all); None = GCond's by layers ([10, 5] for two).
        kernel: ``rbf`` (multi-bandwidth Gaussian MMD, the paper's) or ``linear`` (class means).
        bandwidths: the Gaussian kernel's bandwidths, in units of the class's median squared
            distance between real embeddings.
        pge_hidden, pge_layers, pge_chunk_pairs, pge_init_weight: the PGE, as `GCondConfig`; it
            starts sparse here (edge weights about ``pge_init_weight``, 0.01): from PyTorch's default
            start (weights near 0.5) the GCN averages every synthetic node with all the others, the
            structure steps keep that dense graph: on Cora at 2.6%, 300 steps, the checkpoints
            reached 23-25% validation accuracy from the default start and 71-78% from 0.01
            (docs/methods/distribution-matching.md).
        label_allocation: per-class synthetic counts (`mmgc.methods.budget.LABEL_ALLOCATIONS`).
    """

    structure: Literal["pge", "none"] = "pge"
    lr_feat: float = 1e-4
    lr_adj: float = 1e-4
    backbone: str = "gcn"
    hidden: int = 256
    layers: int = 2
    embed_dim: int = 256
    batch_per_class: int = 256
    fanouts: Optional[tuple[int, ...]] = None
    kernel: Literal["rbf", "linear"] = "rbf"
    bandwidths: tuple[float, ...] = (0.5, 1.0, 2.0)
    pge_hidden: int = 128
    pge_layers: int = 3
    pge_chunk_pairs: int = 1 << 17
    pge_init_weight: Optional[float] = 0.01
    label_allocation: Literal["largest_remainder", "largest_takes_rest"] = "largest_remainder"

    def learns_structure(self) -> bool:
        return self.structure != "none"

    def __post_init__(self) -> None:
        for name, allowed in (("structure", STRUCTURES), ("kernel", KERNELS),
                              ("label_allocation", tuple(LABEL_ALLOCATIONS))):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name}: expected one of {list(allowed)}, found {getattr(self, name)!r}")
        self.check_schedule()
        self.check_selection()
        for name in ("hidden", "layers", "embed_dim", "batch_per_class"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: expected a positive integer, found {getattr(self, name)}")
        for name in ("lr_feat", "lr_adj"):
            check_learning_rate(name, getattr(self, name))
        check_pge_settings(self)
        self.bandwidths = tuple(float(b) for b in self.bandwidths)
        if not self.bandwidths or not all(math.isfinite(b) and b > 0 for b in self.bandwidths):
            raise InputError(f"bandwidths: expected a non-empty list of numbers > 0, found {list(self.bandwidths)}")
        self.fanouts = check_fanouts(self.fanouts)


# ---------------------------------------------------------------------------------------- distance
def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """``||a_i - b_j||^2`` for every pair (``[len(a), len(b)]``; differentiable at zero distance)."""
    return ((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T).clamp_min(0)


def mmd2(real: Tensor, syn: Tensor, kernel: str = "rbf", bandwidths: tuple[float, ...] = (0.5, 1.0, 2.0)) -> Tensor:
    """The biased estimate of ``MMD^2`` between the rows of ``real`` and ``syn`` (module docstring):
    a multi-bandwidth Gaussian kernel scaled by the median squared distance within ``real``
    (``rbf``), or the inner product (``linear``: ``||mean real - mean syn||^2``)."""
    if kernel == "linear":
        return (real.mean(0) - syn.mean(0)).pow(2).sum()
    if kernel != "rbf":
        raise InputError(f"kernel: expected one of {list(KERNELS)}, found {kernel!r}")
    d_rr, d_ss, d_rs = squared_distances(real, real), squared_distances(syn, syn), squared_distances(real, syn)
    off = d_rr[~torch.eye(real.shape[0], dtype=torch.bool, device=real.device)]
    scale = (off.median() if off.numel() else d_rs.median()).detach().clamp_min(1e-12)

    def k(d: Tensor) -> Tensor:
        return sum(torch.exp(-d / (s * scale)) for s in bandwidths)

    return k(d_rr).mean() + k(d_ss).mean() - 2 * k(d_rs).mean()


# ---------------------------------------------------------------------------------------- method
@register_method("gcdm")
class GCDM(CondensationMethod):
    """GCDM: per-class MMD between receptive-field embeddings of real and synthetic nodes under fresh
    random GNNs (structure=none gives GCDM-X)."""

    Config = GCDMConfig
    search_space = {
        "lr_feat": SearchDim("loguniform", 1e-4, 1e-1),
        "lr_adj": SearchDim("loguniform", 1e-5, 1e-1),
    }

    def condense(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> CondensedGraph:
        cfg = self.config
        start = time.perf_counter()
        device = torch.device(ctx.device)
        seed_all(ctx.seed)
        setup = self._setup(graph, ratio, ctx, device)
        x = torch.nn.Parameter(setup.x_real[setup.init_index.to(device)].clone())
        pge = None if cfg.structure == "none" else make_pge(
            x.shape[1], cfg.pge_hidden, cfg.pge_layers, cfg.pge_chunk_pairs, cfg.pge_init_weight).to(device)
        opt_x = torch.optim.Adam([x], lr=cfg.lr_feat)
        opt_s = torch.optim.Adam(pge.parameters(), lr=cfg.lr_adj) if pge is not None else None
        selector = ValidationSelector(cfg, setup)
        counts = setup.counts.tolist()
        coeff = [k / setup.n for k in counts]
        bounds = torch.cumsum(torch.tensor([0] + counts), 0).tolist()

        history: list[dict[str, Any]] = []
        steps = {"features": 0, "structure": 0}
        stopped_early = False
        begin_stage(ctx.reporter, "condense", cfg.epochs)
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            phase = cfg.phase(epoch)
            record: dict[str, Any] = {"epoch": epoch, "phase": phase}
            if phase != "idle":
                record["loss"] = self._step(setup, x, pge, opt_s if phase == "structure" else opt_x, phase,
                                            coeff, bounds)
                steps[phase] += 1
                if not math.isfinite(record["loss"]):
                    raise FloatingPointError(f"gcdm: the loss is not finite at epoch {epoch}")
            record["seconds"] = time.perf_counter() - t0
            last = epoch == cfg.epochs - 1
            over_budget = ctx.time_budget_s is not None and time.perf_counter() - start >= ctx.time_budget_s
            if selector.due(epoch, last) and not over_budget:
                record.update(selector.offer(epoch, *self._current_graph(x, pge), record))
            record["elapsed"] = time.perf_counter() - start
            history.append(record)
            ctx.reporter.report(epoch, {k: v for k, v in record.items() if isinstance(v, (int, float))})
            if over_budget and not last:
                stopped_early = True
                break

        chosen = selector.result()
        if chosen is None:  # the time budget ran out before the first checkpoint
            chosen = (*self._current_graph(x, pge), {"selection": "none (time budget spent before the first checkpoint)"})
        x_best, adj_best, selection = chosen
        return self.from_learned(
            graph, ratio, ctx, x_best, adj_best, setup.y_syn, condense_arch=cfg.backbone, history=history,
            class_counts=counts, fanouts=list(setup.fanouts), epochs_run=len(history),
            stopped_early=stopped_early, feature_steps=steps["features"], structure_steps=steps["structure"],
            outer_steps=steps["features"] + steps["structure"],
            condense_seconds=round(sum(h["seconds"] for h in history), 3), **selection)

    def _step(self, setup: Setup, x: torch.nn.Parameter, pge: Optional[torch.nn.Module],
              optimizer: torch.optim.Optimizer, phase: str, coeff: list[float], bounds: list[int]) -> float:
        """One outer step: a fresh embedding network, the per-class MMD of its real receptive fields and
        synthetic nodes, and one Adam step of the phase's parameters; returns the loss."""
        cfg = self.config
        model = self._embedding_network(setup)
        adj = pge(x) if pge is not None else None
        emb = model(x, Adjacency.from_dense(adj) if adj is not None else Adjacency.empty(setup.n, x.device))
        samples = setup.sampler.sample()
        nodes, union_adj, seeds = samples.disjoint(setup.x_real.dtype)
        with torch.no_grad():  # every class's receptive fields in one forward (their graphs are disjoint)
            real = model(setup.x_real[nodes], union_adj)[seeds]
        seed_bounds = samples.seed_ptr.tolist()
        loss = emb.new_zeros(())
        for c in range(setup.num_classes):
            real_c = real[seed_bounds[c]:seed_bounds[c + 1]]
            loss = loss + coeff[c] * mmd2(real_c, emb[bounds[c]:bounds[c + 1]], cfg.kernel, cfg.bandwidths)
        optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=list(pge.parameters()) if phase == "structure" else [x])
        optimizer.step()
        return loss.item()

    def _setup(self, graph: MultimodalGraph, ratio: float, ctx: Context, device: torch.device) -> Setup:
        """The budget, the initial real nodes and the per-class receptive-field sampler (the engine's
        `Setup` record, which `ValidationSelector` reads)."""
        cfg = self.config
        visible, counts = plan_budget(graph, ratio, cfg.label_allocation)
        fanouts = cfg.fanouts if cfg.fanouts is not None else GCOND_FANOUTS.get(cfg.layers)
        if fanouts is None:
            raise InputError(f"fanouts: no GCond default for {cfg.layers} layers; set fanouts explicitly")
        return Setup(
            graph=graph, visible=visible, ratio=ratio, counts=counts, y_syn=labels_from_counts(counts).to(device),
            device=device, num_classes=graph.num_classes, inner_loop=0, fanouts=tuple(fanouts),
            x_real=visible.x.to(device), y_real=visible.y.to(device),
            sampler=ClassNeighborSampler(visible, graph.num_classes, cfg.batch_per_class, tuple(fanouts), device),
            init_index=sample_per_class(visible, counts, torch.Generator().manual_seed(int(ctx.seed))), ctx=ctx)

    def _embedding_network(self, setup: Setup) -> torch.nn.Module:
        """A backbone with freshly drawn weights and ``embed_dim`` outputs, frozen (nothing trains it)."""
        cfg = self.config
        model = build_backbone(cfg.backbone, setup.x_real.shape[1], cfg.hidden, cfg.embed_dim, layers=cfg.layers,
                               dropout=0.0, modalities=setup.modalities).to(setup.device)
        return model.eval().requires_grad_(False)

    @staticmethod
    def _current_graph(x: Tensor, pge: Optional[torch.nn.Module]) -> tuple[Tensor, Tensor]:
        """A detached copy of the synthetic features and their adjacency (zeros without a PGE)."""
        with torch.no_grad():
            x_now = x.detach().clone()
            adj = pge.inference(x_now) if pge is not None else x_now.new_zeros(x_now.shape[0], x_now.shape[0])
        return x_now, adj
