"""The state of one condensation: what the engine prepared (`Setup`), what it carries from step to
step (`Run`), and one outer step as the hooks see it (`StepState`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.graph import MultimodalGraph
from mmgc.methods.base import Context
from mmgc.methods.gradient_matching.sampler import ClassNeighborSampler
from mmgc.methods.structure import StructureGenerator
from mmgc.models.protocol import edge_threshold

if TYPE_CHECKING:  # annotations only: the engine imports this module
    from mmgc.methods.gradient_matching.engine import GradientMatchingMethod
    from mmgc.methods.gradient_matching.selection import Selector


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


RegularizerHook = Callable[[nn.Module, Tensor, Any, Tensor], Tensor]
"""``hook(model, x, operand, logits) -> loss``: one training-time regularizer on the synthetic graph."""


@dataclass
class Run:
    """What one condensation carries from step to step (`GradientMatchingMethod.condense`)."""

    method: "GradientMatchingMethod"
    setup: Setup
    x: nn.Parameter  # the synthetic features
    generator: Optional[StructureGenerator]
    gen_params: list[Tensor]
    opt_x: torch.optim.Optimizer
    opt_s: Optional[torch.optim.Optimizer]
    selector: "Selector"
    labels: Tensor  # the synthetic labels the backbone's rows carry
    row_weights: Tensor  # [C, rows]: 1 / rows of class c on its rows of the synthetic logits (`class_row_weights`)
    coeff: Tensor  # [C]: per class, the weight of its matching distance
    regularizers: dict[str, RegularizerHook]  # name -> the config's training-time regularizers
    start: float  # perf_counter at the start
    history: list[dict[str, Any]] = field(default_factory=list)
    condense_seconds: float = 0.0
    condense_cpu: float = 0.0
    stopped_early: bool = False
    steps: dict[str, int] = field(default_factory=lambda: {"features": 0, "structure": 0})  # optimiser steps applied

    @property
    def has_structure(self) -> bool:
        """Whether the synthetic graph has a learned structure (else it has no edges)."""
        return self.generator is not None


@dataclass
class StepState:
    """One outer step, as the hooks see it."""

    run: Run
    epoch: int
    step: int
    phase: str  # "structure" or "features"
    model: nn.Module
    params: list[Tensor]
    x_in: Tensor  # the tensor the backbone reads (an alias of x, so the backbone-only gradient exists)
    adj: Tensor  # the synthetic adjacency of this step (differentiable)
    logits: Tensor
    loss_gm: Tensor
    diagnose: bool
    metrics: dict[str, float] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> "GradientMatchingMethod":
        return self.run.method

    @property
    def setup(self) -> Setup:
        return self.run.setup

    @property
    def x(self) -> nn.Parameter:
        """The synthetic features (the leaf the feature optimiser steps)."""
        return self.run.x

    @property
    def labels(self) -> Tensor:
        return self.run.labels

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
            operand = method.synthetic_operand(self.run, self.adj.detach())
            loss = F.cross_entropy(method.synthetic_forward(self.model, self.x_in, operand), self.labels)
            (self.cache["G_S_fixed"],) = torch.autograd.grad(loss, self.x_in, create_graph=True)
        return self.cache["G_S_fixed"]

    def laplacian_adjacency(self) -> Tensor:
        """The ``[n, n]`` adjacency whose Laplacian damping and diagnostics use (a batch is averaged)."""
        return self.adj.mean(0) if self.adj.dim() == 3 else self.adj
