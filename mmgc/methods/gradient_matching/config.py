"""The settings every gradient-matching method shares, and those of the methods that learn a structure."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional, Sequence

from mmgc.errors import InputError
from mmgc.models.protocol import PROTOCOL_ARCH, TrainingRecipe
from mmgc.plugins import SearchDim
from mmgc.regularizers import parse_regularizers

GCOND_FANOUTS = {1: (15,), 2: (10, 5), 3: (15, 10, 5), 4: (15, 10, 5, 5), 5: (15, 10, 5, 5, 5)}
"""GCond's neighbour-sampling fan-outs by number of layers (``utils.py``, ``retrieve_class_sampler``)."""


def check_learning_rate(name: str, value: float) -> None:
    """Raise unless ``value`` is a finite learning rate >= 0."""
    if not (value >= 0 and math.isfinite(value)):
        raise InputError(f"{name}: expected a finite learning rate >= 0, found {value}")


@dataclass
class ScheduleConfig:
    """Which epochs step the structure and which the features: the rule of every method that learns
    a synthetic structure by alternation, or runs without one at the same budget (the
    gradient-matching engine, GCDM).

    Attributes:
        epochs: outer epochs (GCond: 600 on Cora/Citeseer, 1000 on larger graphs).
        structure_epochs, cycle_epochs: the first ``structure_epochs`` of every ``cycle_epochs``
            step the structure, the rest the features (GCond: 10 of 50).
        feature_schedule: which epochs step the features when the method runs without a structure
            (GCond-X): ``alternate`` (GCond's loop with the structure fixed: the structure epochs of
            every cycle step nothing, so the features get exactly the feature steps a structure-learning
            run of the same ``epochs`` gets; the default, so that rankings compare equal budgets, and
            GCond's maintainer's description of its structure-free variant) or ``every_epoch``
            (GraphSlim's ``gcondx``: every epoch steps the features). Ignored with a structure.
    """

    epochs: int = 600
    structure_epochs: int = 10
    cycle_epochs: int = 50
    feature_schedule: Literal["alternate", "every_epoch"] = "alternate"

    def check_schedule(self) -> None:
        """Raise `InputError` for a bad schedule, or one that gives the features no epoch."""
        for name in ("epochs", "cycle_epochs"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: expected a positive integer, found {getattr(self, name)}")
        if not 0 <= self.structure_epochs <= self.cycle_epochs:
            raise InputError(f"structure_epochs: expected an integer in [0, cycle_epochs={self.cycle_epochs}], "
                             f"found {self.structure_epochs}")
        if self.feature_schedule not in ("alternate", "every_epoch"):
            raise InputError(f"feature_schedule: expected 'alternate' or 'every_epoch', found {self.feature_schedule!r}")
        if self.alternates() and self.feature_epochs() == 0:
            raise InputError(
                f"epochs: {self.epochs} epochs give the features no epoch (the first structure_epochs="
                f"{self.structure_epochs} of every cycle_epochs={self.cycle_epochs} are structure epochs); expected "
                f"epochs > {min(self.structure_epochs, self.epochs)} or fewer structure_epochs")

    def learns_structure(self) -> bool:
        """Whether the method learns a synthetic structure (by default: no)."""
        return False

    def alternates(self) -> bool:
        """Whether the epochs alternate between structure epochs and feature epochs."""
        return self.learns_structure() or self.feature_schedule == "alternate"

    def phase(self, epoch: int) -> str:
        """``features``, ``structure`` or ``idle`` (a structure epoch without a structure: nothing to step)."""
        if not self.alternates() or epoch % self.cycle_epochs >= self.structure_epochs:
            return "features"
        return "structure" if self.learns_structure() else "idle"

    def feature_epochs(self) -> int:
        """How many of the ``epochs`` step the features."""
        if not self.alternates():
            return self.epochs
        full, rest = divmod(self.epochs, self.cycle_epochs)
        return full * (self.cycle_epochs - self.structure_epochs) + max(0, rest - self.structure_epochs)


@dataclass
class SelectionConfig:
    """The checkpoint selection of a method that keeps its best synthetic graph on validation
    (`mmgc.methods.gradient_matching.ValidationSelector`).

    Attributes:
        select_every: validation checkpoint every this many epochs (and at the last); 0 = only at
            the last epoch.
        select_backbone, select_hidden, select_epochs: the model trained to score a checkpoint by
            the protocol's recipe (`mmgc.models.protocol.TrainingRecipe`: GCN, 256 hidden, 600
            epochs; its learning rate drops at half of ``select_epochs``).
        select_dropout: its dropout; None = the protocol's rule (0.5 transductive / 0 inductive).
        select_eval_every: validate the checkpoint model every this many epochs.
        select_threshold: drop synthetic edges below this weight before scoring; None = the
            protocol's weak-edge threshold (`mmgc.models.protocol.edge_threshold`).
        select_split: the nodes a checkpoint is scored on: ``val`` (the protocol) or ``test`` (the
            SR-GM authors' code, which saves the condensed graph of the best *test* score: a
            flagged option; the rows of such a graph record ``selection=test``).
    """

    select_every: int = 50
    select_backbone: str = PROTOCOL_ARCH
    select_hidden: int = TrainingRecipe.hidden
    select_epochs: int = TrainingRecipe.epochs
    select_dropout: Optional[float] = None
    select_eval_every: int = 10
    select_threshold: Optional[float] = None
    select_split: Literal["val", "test"] = "val"

    def check_selection(self) -> None:
        """Raise `InputError` for a bad selection setting."""
        for name in ("select_hidden", "select_epochs", "select_eval_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: expected a positive integer, found {getattr(self, name)}")
        if self.select_every < 0:
            raise InputError(f"select_every: expected an integer >= 0, found {self.select_every}")
        if self.select_dropout is not None and not 0 <= self.select_dropout < 1:
            raise InputError(f"select_dropout: expected a probability in [0, 1) or none, found {self.select_dropout}")
        if self.select_threshold is not None and not 0 <= self.select_threshold < 1:
            raise InputError(f"select_threshold: expected a weight in [0, 1) or none, found {self.select_threshold}")


@dataclass
class GradientMatchingConfig(ScheduleConfig, SelectionConfig):
    """Settings shared by every gradient-matching method (defaults: GCond's scripts on small graphs):
    the schedule (`ScheduleConfig`: ``epochs``, ``structure_epochs``, ``cycle_epochs``,
    ``feature_schedule``), the checkpoint selection (`SelectionConfig`: ``select_*``) and these.

    Attributes:
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
        diagnostics_every: record the gradient diagnostics every this many epochs (0 = never).
        diagnostic_steps: at which outer steps of a diagnostic epoch: ``all`` (the history holds the
            mean over the epoch's steps under each key, and ``<key>/first``, ``<key>/last``: the
            backbone is fresh at step 0, where the sign of a modality inner product is a coin flip,
            and trained by the inner loop afterwards) or ``first`` (step 0 only; cheaper).
        feature_grad: the feature gradient ``G_S = dL_S/dX_S`` used by diagnostics (and SR-GM):
            ``direct`` (through the backbone's message passing only, the adjacency held fixed: the
            field of the paper's equation 5; default) or ``total`` (also through the structure
            generator ``A = g(X_S)``, the full derivative; SR-GM's damping then needs second
            derivatives through the generator, several times dearer:
            `benchmarks/bench_sr_gm_overhead.py`).
        class_weight: the weight of class c's matching distance: ``by_largest`` (``n_c / max_c n_c``,
            GCond's) or ``by_total`` (``n_c / n``, the SR-GM authors'; smaller by the number of
            classes or so, which changes the scale of every other term against matching).
        label_allocation: per-class synthetic counts from the train label distribution
            (`mmgc.methods.budget.LABEL_ALLOCATIONS`): ``largest_remainder`` (ours: always sums to n)
            or ``largest_takes_rest`` (GCond's and the SR-GM authors' code).
        regularizers: training-time regularizers added to the outer loss on the synthetic graph's
            per-modality embeddings (`regularizer_terms`), e.g. ``"dagr"``; None: none.
    """

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
    diagnostics_every: int = 1
    diagnostic_steps: Literal["all", "first"] = "all"
    feature_grad: Literal["direct", "total"] = "direct"
    class_weight: Literal["by_largest", "by_total"] = "by_largest"
    label_allocation: Literal["largest_remainder", "largest_takes_rest"] = "largest_remainder"
    regularizers: Optional[str] = None

    def __post_init__(self) -> None:
        self.check_schedule()
        self.check_selection()
        for name in ("outer_loop", "hidden", "layers", "batch_per_class"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: expected a positive integer, found {getattr(self, name)}")
        if self.diagnostics_every < 0:
            raise InputError(f"diagnostics_every: expected an integer >= 0, found {self.diagnostics_every}")
        if self.inner_loop is not None and self.inner_loop < 0:
            raise InputError(f"inner_loop: expected an integer >= 0 or none, found {self.inner_loop}")
        for name in ("lr_feat", "lr_model"):
            check_learning_rate(name, getattr(self, name))
        if not 0 <= self.dropout < 1:
            raise InputError(f"dropout: expected a probability in [0, 1), found {self.dropout}")
        self.fanouts = check_fanouts(self.fanouts)
        if self.regularizers:
            parse_regularizers(self.regularizers)  # unknown names and bad values fail here, before any epoch


def check_fanouts(fanouts: Optional[Sequence[int]]) -> Optional[tuple[int, ...]]:
    """``fanouts`` as a tuple of ints (None stays None); raise `InputError` unless each is positive or -1."""
    if fanouts is None:
        return None
    values = tuple(int(f) for f in fanouts)
    if not values or any(f == 0 or f < -1 for f in values):
        raise InputError(f"fanouts: expected a non-empty list of positive ints (or -1 = all), found {list(values)}")
    return values


@dataclass
class StructureLearningConfig(GradientMatchingConfig):
    """The engine's settings plus the learning rate of a learned synthetic structure.

    Attributes:
        lr_adj: Adam learning rate of the structure generator's parameters.
    """

    lr_adj: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        check_learning_rate("lr_adj", self.lr_adj)

    def learns_structure(self) -> bool:
        return True


STRUCTURE_SEARCH_SPACE = {
    "lr_feat": SearchDim("loguniform", 1e-5, 1e-1),
    "lr_adj": SearchDim("loguniform", 1e-5, 1e-1),
}
"""The declared search space of a structure-learning method's two learning rates."""
