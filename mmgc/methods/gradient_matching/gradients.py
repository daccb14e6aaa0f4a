"""Per-class parameter gradients of one matching step, for every class at once or one class at a time.

Both sides of gradient matching need one gradient per class:

- **real**: class c's loss on its own sampled subgraph (`ClassSamples`), ``L_c = sum_i w_i CE(f(x)_i,
  y_i)`` with ``w_i = 1 / #seeds`` on its seeds; the per-class function is written with
  `torch.func` (``grad`` of ``functional_call``; messages passed by gather and scatter-add), so the
  same code runs once per class (`loop`) or for all classes in one batched call (`batched`:
  `torch.func.vmap` over the classes, each on its own edges over the union of the sampled nodes or
  on its own padded block, `UNION_FACTOR`, in chunks of at most `BATCH_FLOATS` activations);
- **synthetic**: class c's mean cross-entropy on its rows of the synthetic logits, differentiable
  (``create_graph``): one backward per class (`loop`) or one vector-Jacobian product batched over
  the classes (`batched`, ``is_grads_batched``).

The batched paths compute the same sums in another order: they equal the loop up to floating-point
summation order (the tests hold them to 1e-10 in float64), and do in a few large calls what the loop
does in many small ones.
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from mmgc.adjacency import Adjacency
from mmgc.methods.gradient_matching.sampler import ClassSamples
from mmgc.models.losses import per_node_cross_entropy

GradientPath = Literal["batched", "loop"]

UNION_FACTOR = 2
"""The batched real side runs every class over the union of the sampled nodes (one feature matrix, one
first-layer product for all classes) while the union has at most this many times the nodes of the
largest class's block, and over each class's own padded block otherwise (large graphs, where the
classes' samples barely overlap)."""

BATCH_FLOATS = 1 << 26
"""The batched real side's activation budget, in floats (256 MiB in float32): classes are batched in
chunks of about ``BATCH_FLOATS / (nodes per padded block * (width + 4 * hidden))``."""

ClassGradient = Callable[[nn.Module, dict[str, Tensor], Tensor, Adjacency, Tensor, Tensor], tuple[Tensor, ...]]
"""``fn(model, params, x, adj, seed_weight, labels) -> one gradient per parameter``."""


def real_class_gradient(model: nn.Module, params: dict[str, Tensor], x: Tensor, adj: Adjacency, seed_weight: Tensor,
                        labels: Tensor) -> tuple[Tensor, ...]:
    """``d/dtheta sum_i seed_weight_i * CE(model(x, adj)_i, labels_i)``, one tensor per parameter."""

    def loss(p: dict[str, Tensor]) -> Tensor:
        logits = functional_call(model, p, (x, adj))
        return (per_node_cross_entropy(logits, labels) * seed_weight).sum()

    return tuple(grad(loss)(params).values())


def real_gradients(fn: ClassGradient, model: nn.Module, samples: ClassSamples, x_real: Tensor, y_real: Tensor,
                   path: GradientPath) -> list[Tensor]:
    """Every class's real gradient, stacked per parameter (``[C, *shape]``, detached)."""
    params = {name: p.detach() for name, p in model.named_parameters()}
    if path == "loop":
        per_class = []
        for c in range(samples.num_classes):
            nodes, adj, seed_pos, seeds = samples.block(c, x_real.dtype, gather_scatter=True)
            weight = x_real.new_zeros(nodes.numel())
            weight[seed_pos] = 1 / seeds.numel()
            labels = torch.zeros(nodes.numel(), dtype=torch.long, device=nodes.device)
            labels[seed_pos] = y_real[seeds]
            per_class.append(fn(model, params, x_real[nodes], adj, weight, labels))
        return [torch.stack(g) for g in zip(*per_class)]
    union = samples.union(y_real, x_real.dtype)
    largest = int((samples.node_ptr[1:] - samples.node_ptr[:-1]).max())
    shared = union.index.numel() <= UNION_FACTOR * largest
    layout = union if shared else samples.padded(y_real, x_real.dtype)
    m = layout.index.shape[-1]

    def one_class(x: Tensor, edge_index: Tensor, edge_weight: Tensor, seed_weight: Tensor, labels: Tensor):
        adj = Adjacency.from_edge_index(edge_index, m, edge_weight, dtype=x_real.dtype, gather_scatter=True)
        return fn(model, params, x, adj, seed_weight, labels)

    hidden = max((p.shape[0] for p in params.values() if p.dim() == 2), default=1)
    chunk = max(1, BATCH_FLOATS // (m * (x_real.shape[1] + 4 * hidden)))
    randomness = "different" if getattr(model, "dropout", 0.0) > 0 else "error"
    batched = vmap(one_class, in_dims=(None if shared else 0, 0, 0, 0, 0), chunk_size=chunk, randomness=randomness)
    return list(batched(x_real[layout.index], layout.edge_index, layout.edge_weight, layout.seed_weight,
                        layout.seed_label))


def class_row_weights(labels: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``[C, rows]``: ``1 / #rows of class c`` on class c's rows of the synthetic logits, else 0."""
    onehot = F.one_hot(labels, num_classes).T.to(dtype)
    return onehot / onehot.sum(1, keepdim=True)


def synthetic_gradients(logits: Tensor, labels: Tensor, row_weights: Tensor, params: Sequence[Tensor],
                        path: GradientPath) -> list[Tensor]:
    """Every class's gradient of its mean cross-entropy on the synthetic rows, differentiable
    (``create_graph``), stacked per parameter (``[C, *shape]``; zeros for a parameter unused)."""
    if path == "loop":
        per_class = []
        for weights in row_weights:
            rows = weights.nonzero()[:, 0]
            loss = F.cross_entropy(logits[rows], labels[rows])
            grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
            per_class.append([torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)])
        return [torch.stack(g) for g in zip(*per_class)]
    per_row = per_node_cross_entropy(logits, labels)
    grads = torch.autograd.grad(per_row, params, grad_outputs=row_weights.to(per_row.dtype), is_grads_batched=True,
                                create_graph=True, allow_unused=True)
    return [p.new_zeros((row_weights.shape[0],) + p.shape) if g is None else g for p, g in zip(params, grads)]
