"""The budget shared by every method: ratio -> synthetic size n -> per-class label allocation.

``ratio = n / N`` with N the nodes the method may see: the train-induced graph when inductive, the
whole graph when transductive. Labels follow the distribution of the visible *train* labels with at
least one node per class (GCond's scheme), allocated by largest remainder so that the per-class
counts always add up to n (GCond's rounding can miss n or go non-positive at tiny ratios).
``label_allocation=largest_takes_rest`` is GCond's and the SR-GM authors' own rule instead (every
class floored, the largest takes what is left, which can give it several times its share).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mmgc.errors import InputError
from mmgc.graph import MultimodalGraph


def synthetic_size(ratio: float, num_visible: int, num_classes: int) -> int:
    """``n = floor(ratio * N)`` (as GCond), checked to give every class at least one node."""
    if not isinstance(ratio, (int, float)) or not math.isfinite(ratio) or not 0 < ratio <= 1:
        raise InputError(f"ratio: expected a fraction in (0, 1] of the {num_visible} visible nodes, found {ratio!r}")
    n = int(math.floor(ratio * num_visible + 1e-9))
    if n < num_classes:
        smallest = num_classes / num_visible
        raise InputError(
            f"ratio {ratio:g} gives {n} synthetic nodes for {num_classes} classes "
            f"(N = {num_visible} visible nodes); the smallest valid ratio is {smallest:.6g}"
        )
    return n


def allocate_labels(train_labels: Tensor, n: int, num_classes: int) -> Tensor:
    """Per-class counts (int64 ``[C]``) proportional to ``train_labels``, each >= 1, summing to n."""
    if n < num_classes:
        raise InputError(f"budget: {n} synthetic nodes cannot give each of {num_classes} classes a node")
    freq = torch.bincount(train_labels, minlength=num_classes).double()
    if int(freq.sum()) == 0:
        raise InputError("budget: there are no labelled train nodes to allocate from")
    quota = n * freq / freq.sum()
    counts = quota.floor().clamp_min(1).long()
    # too many: take back from the classes furthest above their quota (never below 1)
    while int(counts.sum()) > n:
        excess = (counts.double() - quota).masked_fill(counts <= 1, -math.inf)
        counts[int(excess.argmax())] -= 1
    # too few: give to the classes furthest below their quota (largest remainder)
    while int(counts.sum()) < n:
        counts[int((quota - counts.double()).argmax())] += 1
    return counts


def allocate_labels_largest_takes_rest(train_labels: Tensor, n: int, num_classes: int) -> Tensor:
    """Per-class counts as GCond's and the SR-GM authors' ``generate_labels_syn``: every class but the
    largest gets ``max(floor(n * k_c / K), 1)`` (``k_c`` its train nodes, ``K`` all of them), the
    largest gets the rest. Classes are ordered by train count, ties by first appearance in
    ``train_labels`` (Python's stable sort of a ``Counter``)."""
    freq = torch.bincount(train_labels, minlength=num_classes)
    if int(freq.sum()) == 0:
        raise InputError("budget: there are no labelled train nodes to allocate from")
    first = torch.full((num_classes,), train_labels.numel(), dtype=torch.long)
    first.scatter_reduce_(0, train_labels, torch.arange(train_labels.numel()), reduce="amin")
    order = sorted(range(num_classes), key=lambda c: (int(freq[c]), int(first[c])))
    total = int(freq.sum())
    counts = torch.zeros(num_classes, dtype=torch.long)
    for c in order[:-1]:
        counts[c] = max(int(n * int(freq[c]) / total + 1e-9), 1)
    counts[order[-1]] = n - int(counts.sum())
    if int(counts[order[-1]]) < 1:
        raise InputError(f"budget: {n} synthetic nodes leave the largest class none under label_allocation="
                         f"largest_takes_rest (the others take {int(counts.sum())}); use a larger ratio")
    return counts


LABEL_ALLOCATIONS = {"largest_remainder": allocate_labels, "largest_takes_rest": allocate_labels_largest_takes_rest}
"""Rules turning the train label distribution into per-class synthetic counts (``label_allocation``)."""


def labels_from_counts(counts: Tensor) -> Tensor:
    """Synthetic labels in contiguous class blocks: ``[0]*c0 + [1]*c1 + ...``."""
    return torch.repeat_interleave(torch.arange(counts.numel()), counts)


def plan_budget(graph: MultimodalGraph, ratio: float, allocation: str = "largest_remainder"
                ) -> tuple[MultimodalGraph, Tensor]:
    """The visible graph and the per-class synthetic counts for ``ratio`` of its nodes
    (``allocation``: a key of `LABEL_ALLOCATIONS`)."""
    if allocation not in LABEL_ALLOCATIONS:
        raise InputError(f"label_allocation: expected one of {list(LABEL_ALLOCATIONS)}, found {allocation!r}")
    visible = graph.visible_graph()
    train_labels = visible.y[visible.train_mask]
    n = synthetic_size(ratio, visible.num_nodes, graph.num_classes)
    return visible, LABEL_ALLOCATIONS[allocation](train_labels, n, graph.num_classes)


def sample_per_class(visible: MultimodalGraph, counts: Tensor, generator: torch.Generator) -> Tensor:
    """Indices of random visible train nodes, ``counts[c]`` of class c, in class-block order.

    Sampling is without replacement where a class has enough train nodes, with replacement otherwise.
    """
    chosen = []
    for c, k in enumerate(counts.tolist()):
        pool = (visible.train_mask & (visible.y == c)).nonzero()[:, 0]
        if pool.numel() == 0:
            raise InputError(f"budget: class {c} has no labelled train node to initialise from")
        if pool.numel() >= k:
            pick = pool[torch.randperm(pool.numel(), generator=generator)[:k]]
        else:
            pick = pool[torch.randint(0, pool.numel(), (k,), generator=generator)]
        chosen.append(pick)
    return torch.cat(chosen)
