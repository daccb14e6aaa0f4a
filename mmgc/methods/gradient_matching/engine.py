"""The gradient-matching engine: GCond's loop, with named hooks for what a method makes its own.

One condensation (`GradientMatchingMethod.condense`):

- **Budget and initialisation.** Synthetic labels and per-class sizes come from the shared budget
  (`mmgc.methods.budget.plan_budget`); synthetic features start as random real train nodes of the
  same class (`budget.sample_per_class`), stored in contiguous class blocks.
- **Outer epochs.** Each epoch draws a freshly initialised backbone (``backbone``: any registered
  name, built with `mmgc.models.build_backbone`) and runs ``outer_loop`` matching steps. Each step,
  for every class c: the *real* gradient ``dL/dtheta`` of the cross-entropy on up to
  ``batch_per_class`` random train nodes of class c on their sampled neighbourhood
  (`ClassNeighborSampler`), and the *synthetic* gradient of the cross-entropy on the class's
  synthetic block with ``create_graph=True``; the step's loss is
  ``sum_c w_c * D(g_syn_c, g_real_c)`` with ``w_c = n_c / max_c n_c`` (``class_weight=by_largest``)
  or ``n_c / n`` (``by_total``) and ``D`` one of `match_distances`. The per-class gradients and
  distances of all classes are computed in a few batched calls (`gradients`; ``gradient_path =
  "loop"`` computes them one class at a time, the reference the batched path equals up to
  summation order; backbones without a parameter batch always take the loop).
- **Alternation.** With a structure generator, epochs with ``epoch % cycle_epochs <
  structure_epochs`` step the generator, the others step the features (GCond: 10 of every 50);
  without one, those epochs are idle (``feature_schedule=alternate``, the default: the features get
  the same steps as with a structure) or step the features too (``every_epoch``).
  Only the phase's parameters are stepped (the backward pass computes only theirs, and a feature
  epoch holds the generator's parameters constant, so no weight gradient runs through its pairwise
  layers; a diagnostic epoch keeps them, for their norms).
- **Inner loop.** After every outer step but the last, ``inner_loop`` Adam steps of the backbone on
  the detached synthetic graph.
- **Selection.** Every ``select_every`` epochs and at the last, the `Selector` (default
  `ValidationSelector`) is offered the current graph; the graph it keeps is returned.
- **History.** Every epoch: the matching loss, each extra term, the inner loss, wall and CPU time,
  and diagnostics (conflict fraction and mean cosine between per-node modality gradients of the
  synthetic loss, Dirichlet energy of that gradient field before and after decoupling, intra-modal
  similarity of the synthetic features, adjacency statistics, per-term gradient norms) go to
  ``ctx.reporter`` and into ``CondensedGraph.info["history"]``. Diagnostics are taken at every outer
  step of a diagnostic epoch (``diagnostic_steps``): the mean under each key, the first and last
  step under ``<key>/first`` and ``<key>/last``. ``dead_backbone`` is the fraction of the epoch's
  outer steps at which the backbone gave every synthetic node the same logits (its hidden units all
  dead: ``G_S = 0``); any such epoch also raises a `RuntimeWarning` and counts in
  ``info["dead_backbone_epochs"]``.
- **Budget.** ``info`` counts the optimiser steps applied to the features and to the structure
  (``feature_steps``, ``structure_steps``, ``outer_steps``), the epoch of the kept checkpoint
  (``selected_epoch``) and the share of outer steps with a dead backbone (``dead_backbone``), which
  every result row carries.
- ``ctx.time_budget_s`` stops the epochs early (the best graph so far is kept); deterministic under
  ``ctx.seed`` on CPU; every tensor lives on ``ctx.device``.

Per-run state lives in the `Run` (never on the method object), so one method object may condense
several graphs, one after the other or in threads. What a method may override is listed in `HOOKS`;
everything else is the engine's.
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.adjacency import Adjacency
from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph
from mmgc.methods.base import CondensationMethod, Context, begin_stage
from mmgc.methods.budget import labels_from_counts, plan_budget, sample_per_class
from mmgc.methods.gradient_matching.config import (
    GCOND_FANOUTS, STRUCTURE_SEARCH_SPACE, GradientMatchingConfig, StructureLearningConfig,
)
from mmgc.methods.gradient_matching.distances import match_distances
from mmgc.methods.gradient_matching.gradients import (
    GradientPath, class_row_weights, real_class_gradient, real_gradients, synthetic_gradients,
)
from mmgc.methods.gradient_matching.sampler import ClassNeighborSampler
from mmgc.methods.gradient_matching.selection import Selector, ValidationSelector
from mmgc.methods.gradient_matching.state import RegularizerHook, Run, Setup, StepState
from mmgc.methods.modality_gradients import (
    intra_modal_similarity, laplacian_quadratic, modality_gradient_stats, pairable, project_conflicts,
)
from mmgc.methods.structure import StructureGenerator
from mmgc.models import build_backbone
from mmgc.models.training import seed_all
from mmgc.regularizers import parse_regularizers, regularizer_loss

HOOKS: dict[str, str] = {
    "validate_setup": "check method-specific requirements on the prepared setup (raise InputError): "
                      "MSGC's batched backbone, SR-GM's pairable modalities",
    "make_structure": "the structure generator, or None for a graph without edges (GCond-X)",
    "structure_lr": "the generator's Adam learning rate",
    "synthetic_adjacency": "the synthetic adjacency of the generator (differentiable, or for inference)",
    "synthetic_forward": "the backbone's logits on the synthetic graph (MSGC: B graphs in one batched pass)",
    "synthetic_labels": "the labels of those logits' rows (MSGC: repeated B times)",
    "real_class_gradient": "one class's real gradient, or a batch of classes' at once "
                           "(SR-GM's target_gradient: the PCGrad sum of per-modality gradients)",
    "extra_terms": "named, weighted extra terms of the outer loss, each logged (SR-GM's damping, SGDD's terms)",
    "adjust_outer_gradients": "edit the gradients before the optimiser step (SR-GM's meta_gradient decoupling)",
    "phase": "which parameters an epoch steps: 'structure' or 'features'",
    "make_selector": "the checkpoint selection (default: validation; MSGC's loss window)",
    "final_adjacency": "the dense [n, n] adjacency stored in the condensed graph (MSGC: mean of its B graphs)",
    "diagnostic_laplacian": "the Laplacian of the Dirichlet-energy diagnostics (SR-GM: its own)",
    "extra_info": "the method's own keys of CondensedGraph.info, from the finished run",
}
"""Every hook of `GradientMatchingMethod` a method may override, and what it decides."""


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
    """Base class of gradient-matching condensation methods (see the module docstring and `HOOKS`)."""

    Config = GradientMatchingConfig
    gradient_path: GradientPath = "batched"
    """How the per-class gradients are computed: ``batched`` (all classes in a few calls) or ``loop``
    (one class at a time: the reference). A speed switch, not a setting: both give the same graph up
    to floating-point summation order, so it is not part of the config or its hash."""

    # -------------------------------------------------------------------------------- hooks
    def validate_setup(self, setup: Setup) -> None:
        """Check method-specific requirements on the prepared setup (raise `InputError`)."""

    def make_structure(self, setup: Setup, x: Tensor) -> Optional[StructureGenerator]:
        """The structure generator (None: the synthetic graph has no edges)."""
        return None

    def structure_lr(self) -> float:
        return 0.0

    def synthetic_adjacency(self, generator: Optional[StructureGenerator], x: Tensor, inference: bool = False) -> Tensor:
        if generator is None:
            return x.new_zeros(x.shape[0], x.shape[0])
        return generator.inference(x) if inference else generator(x)

    def synthetic_forward(self, model: nn.Module, x: Tensor, operand: Adjacency) -> Tensor:
        """Logits of the backbone on the synthetic graph (rows labelled by `synthetic_labels`)."""
        return model(x, operand)

    def synthetic_labels(self, setup: Setup) -> Tensor:
        return setup.y_syn

    def real_class_gradient(self, model: nn.Module, params: dict[str, Tensor], x: Tensor, adj: Adjacency,
                            seed_weight: Tensor, labels: Tensor) -> tuple[Tensor, ...]:
        """One class's real gradient on its sampled subgraph ``(x, adj)``, or a batch of classes' at once
        (`mmgc.methods.gradient_matching.gradients.real_class_gradient`)."""
        return real_class_gradient(model, params, x, adj, seed_weight, labels)

    def extra_terms(self, state: StepState) -> dict[str, Tensor]:
        """Named extra terms of the outer loss (already weighted); each is logged."""
        return {}

    def adjust_outer_gradients(self, state: StepState, x: nn.Parameter, generator: Optional[StructureGenerator]) -> None:
        """Edit ``x.grad`` / the generator's gradients before the optimiser step."""

    def phase(self, epoch: int) -> str:
        """``features``, ``structure`` or ``idle`` (a structure epoch without a structure: nothing to
        step); the config's schedule (`ScheduleConfig.phase`)."""
        return self.config.phase(epoch)

    def make_selector(self, setup: Setup) -> Selector:
        return ValidationSelector(self.config, setup)

    def final_adjacency(self, adj: Tensor) -> Tensor:
        """The dense ``[n, n]`` adjacency stored in the condensed graph."""
        return adj.mean(0) if adj.dim() == 3 else adj

    def diagnostic_laplacian(self) -> str:
        """The Laplacian (`mmgc.methods.modality_gradients.LAPLACIANS`) of the Dirichlet-energy diagnostics."""
        return "unnormalized"

    def extra_info(self, run: Run) -> dict[str, Any]:
        """The method's own ``info`` keys of the condensed graph, from the finished run."""
        return {}

    # -------------------------------------------------------------------------------- engine parts
    def _path(self, model: nn.Module) -> GradientPath:
        """The gradient path of this backbone: the loop for one without a parameter batch."""
        return self.gradient_path if getattr(model, "parameter_batch", False) else "loop"

    def synthetic_operand(self, run: Run, adj: Tensor, frozen: bool = False) -> Adjacency:
        """The backbone's graph operand for the synthetic adjacency. ``frozen``: ``adj`` is detached
        and reused for several steps (the inner loop), so its normalisation is computed once. Without
        a structure generator the operand is the empty graph (the same operator as a zero matrix; an
        edge list, which batched gradients can run through)."""
        if not run.has_structure:
            return Adjacency.empty(adj.shape[-1], adj.device, gather_scatter=True)
        return (FrozenDenseAdjacency if frozen else Adjacency).from_dense(adj)

    def regularizer_terms(self, state: StepState) -> dict[str, Tensor]:
        """Training-time regularizers of the config's ``regularizers`` (e.g. ``"dagr"`` or
        ``"optimag:weight=0.1"``; `mmgc.regularizers.parse_regularizers`) on the per-modality
        embeddings of the synthetic graph under the current backbone (`Backbone.modality_embeddings`),
        each added to the outer loss, weighted, and logged as ``reg/<name>``. Their gradients reach the
        synthetic features (and, through the propagation of ``attach=post_mp``, the structure)."""
        hooks = state.run.regularizers
        if not hooks:
            return {}
        operand = self.synthetic_operand(state.run, state.adj)
        return {name: hook(state.model, state.x_in, operand, state.logits) for name, hook in hooks.items()}

    def _regularizer_hooks(self, seed: int) -> dict[str, RegularizerHook]:
        """One loss hook per regularizer of the config, seeded with the condensation seed."""
        hooks: dict[str, RegularizerHook] = {}
        for reg in parse_regularizers(self.config.regularizers) if self.config.regularizers else []:
            name = f"reg/{reg.name}" if f"reg/{reg.name}" not in hooks else f"reg/{reg.name}{len(hooks)}"
            hooks[name] = regularizer_loss([reg], seed=seed)
        return hooks

    def prepare(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> tuple[Setup, Tensor]:
        """The run's `Setup` and the initial synthetic features."""
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

    # -------------------------------------------------------------------------------- diagnostics
    def diagnostics(self, state: StepState) -> dict[str, float]:
        """Gradient-field and feature diagnostics of this step (no effect on the optimisation)."""
        setup = state.setup
        layout = setup.modalities
        g = state.feature_gradient()
        out = dict(modality_gradient_stats(g, layout))
        adj = state.laplacian_adjacency().detach()
        laplacian = self.diagnostic_laplacian()
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
            if not math.isfinite(record.get("loss_total", 0.0)):
                raise FloatingPointError(f"{self.name}: the outer loss is not finite at epoch {epoch} ({record})")
            if run.selector.due(epoch, last) and not over_budget:
                record.update(run.selector.offer(epoch, *self._current_graph(run), record))
            record["elapsed"] = time.perf_counter() - run.start
            run.history.append(record)
            ctx.reporter.report(epoch, {k: v for k, v in record.items() if isinstance(v, (int, float))})
            if over_budget and not last:
                run.stopped_early = True
                break
        return self._finish(run, graph, ratio, ctx)

    def _start(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> Run:
        """Seed, prepare the budget and the real side, and build the synthetic features, the structure
        generator, their optimisers and the checkpoint selector."""
        cfg = self.config
        start = time.perf_counter()
        device = torch.device(ctx.device)
        seed_all(ctx.seed)
        setup, x0 = self.prepare(graph, ratio, ctx)
        self.validate_setup(setup)
        x = nn.Parameter(x0)
        generator = self.make_structure(setup, x0)
        if generator is not None:
            generator = generator.to(device)
        gen_params = [p for p in generator.parameters()] if generator is not None else []
        opt_x = _adam([x], cfg.lr_feat)
        opt_s = _adam(gen_params, self.structure_lr()) if gen_params else None
        selector = self.make_selector(setup)
        labels = self.synthetic_labels(setup)
        counts = setup.counts.to(device=device, dtype=x0.dtype)
        coeff = counts / (counts.max() if cfg.class_weight == "by_largest" else counts.sum())
        return Run(method=self, setup=setup, x=x, generator=generator, gen_params=gen_params, opt_x=opt_x,
                   opt_s=opt_s, selector=selector, labels=labels,
                   row_weights=class_row_weights(labels, setup.num_classes, x0.dtype),
                   coeff=coeff, regularizers=self._regularizer_hooks(int(ctx.seed)), start=start)

    def _epoch(self, run: Run, epoch: int) -> dict[str, Any]:
        """One outer epoch on a fresh backbone: ``outer_loop`` matching steps, each but the last
        followed by the inner loop; returns the epoch's record (means over its steps, timings)."""
        cfg = self.config
        t_epoch, c_epoch = time.perf_counter(), time.process_time()
        phase = self.phase(epoch)
        if phase == "idle":
            return {"epoch": epoch, "phase": phase, "seconds": 0.0, "cpu_seconds": 0.0}
        model = self.build_model(run.setup)
        params = list(model.parameters())
        opt_model = _adam(params, cfg.lr_model)
        diagnose_epoch = cfg.diagnostics_every > 0 and epoch % cfg.diagnostics_every == 0
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
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
                                         counts, step_diagnostics)
                next_adj = None
                if step == cfg.outer_loop - 1 or run.setup.inner_loop == 0:
                    continue
                next_adj, inner_loss = self._inner_loop(run, state, opt_model)
        record: dict[str, Any] = {"epoch": epoch, "phase": phase}
        for name, value in sums.items():
            record[name] = value / counts[name]  # the mean over the steps that logged it
        record.update(_summarise_steps(step_diagnostics))
        record["loss_inner"] = inner_loss
        seconds = time.perf_counter() - t_epoch
        run.condense_seconds += seconds
        cpu_seconds = time.process_time() - c_epoch
        run.condense_cpu += cpu_seconds
        record["seconds"] = seconds
        record["cpu_seconds"] = cpu_seconds  # all threads of the process: the fair figure on shared cores
        return record

    def _outer_step(self, run: Run, epoch: int, step: int, phase: str, model: nn.Module, params: list[Tensor],
                    adj: Optional[Tensor], diagnose: bool, sums: dict[str, float], counts: dict[str, int],
                    step_diagnostics: list[dict[str, float]]) -> StepState:
        """One matching step: per class, the distance between the synthetic and the real gradients,
        plus the extra terms and regularizers; one optimiser step of the phase's parameters. ``adj``:
        this step's synthetic adjacency when the previous inner loop already built it."""
        cfg, setup, x, labels = self.config, run.setup, run.x, run.labels
        if adj is None:
            adj = self.synthetic_adjacency(run.generator, x)
        x_in = x.view_as(x)
        logits = self.synthetic_forward(model, x_in, self.synthetic_operand(run, adj))
        path = self._path(model)
        real = real_gradients(self.real_class_gradient, model, setup.sampler.sample(), setup.x_real, setup.y_real,
                              path)
        syn = synthetic_gradients(logits, labels, run.row_weights, params, path)
        loss_gm = (run.coeff * match_distances(syn, real, cfg.distance, cfg.bias_distance)).sum()
        state = StepState(run, epoch, step, phase, model, params, x_in, adj, logits, loss_gm, diagnose)
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
        run.steps[phase] += 1
        logged = {"loss_gm": loss_gm.item(), **{name: value.item() for name, value in terms.items()},
                  "loss_total": total.item(), "dead_backbone": float(_same_output_everywhere(logits)), **state.metrics}
        for name, value in logged.items():
            sums[name] = sums.get(name, 0.0) + value
            counts[name] = counts.get(name, 0) + 1
        return state

    def _inner_loop(self, run: Run, state: StepState, opt_model: torch.optim.Optimizer
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
            adj_inner = self.synthetic_operand(run, next_adj.detach(), frozen=True)
        else:
            with torch.no_grad():
                adj_inner = self.synthetic_operand(run, self.synthetic_adjacency(generator, x_det, inference=True),
                                                   frozen=True)
        inner_loss = float("nan")
        for _ in range(run.setup.inner_loop):
            opt_model.zero_grad(set_to_none=True)
            loss_inner = F.cross_entropy(self.synthetic_forward(state.model, x_det, adj_inner), run.labels)
            loss_inner.backward()
            opt_model.step()
            inner_loss = loss_inner.item()
        return next_adj, inner_loss

    def _current_graph(self, run: Run) -> tuple[Tensor, Tensor]:
        """A detached copy of the current synthetic features and their final adjacency."""
        with torch.no_grad():
            x_now = run.x.detach().clone()
            adj_now = self.final_adjacency(self.synthetic_adjacency(run.generator, x_now, inference=True))
        return x_now, adj_now

    def _finish(self, run: Run, graph: MultimodalGraph, ratio: float, ctx: Context) -> CondensedGraph:
        """The selected synthetic graph (the current one if no checkpoint was scored) and its ``info``."""
        cfg, setup, history = self.config, run.setup, run.history
        dead_epochs = sum(1 for h in history if h.get("dead_backbone", 0) > 0)
        stepped = [h["dead_backbone"] for h in history if "dead_backbone" in h]
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
            class_counts=setup.counts.tolist(),
            condense_seconds=round(run.condense_seconds, 3), condense_cpu_seconds=round(run.condense_cpu, 3),
            seconds_per_epoch=round(run.condense_seconds / max(len(history), 1), 4), epochs_run=len(history),
            stopped_early=run.stopped_early, inner_loop=setup.inner_loop, fanouts=list(setup.fanouts),
            dead_backbone_epochs=dead_epochs, dead_backbone=sum(stepped) / len(stepped) if stepped else 0.0,
            feature_steps=run.steps["features"],
            structure_steps=run.steps["structure"], outer_steps=sum(run.steps.values()),
            **{"selected_epoch": len(history) - 1, **selection}, **self.extra_info(run))

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


class StructureLearningMethod(GradientMatchingMethod):
    """A gradient-matching method that learns its synthetic structure with the generator's own
    learning rate ``lr_adj`` (GCond, SR-GM, MSGC, SGDD)."""

    Config = StructureLearningConfig
    search_space = dict(STRUCTURE_SEARCH_SPACE)

    def structure_lr(self) -> float:
        return self.config.lr_adj


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

