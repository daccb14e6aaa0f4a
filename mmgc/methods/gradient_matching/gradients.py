"""Per-class parameter gradients of one matching step, for every class at once or one class at a time.

Both sides of gradient matching need one gradient per class:

- **real**: class c's loss on its own sampled subgraph (`ClassSamples`), ``L_c = sum_i w_i CE(f(x)_i,
  y_i)`` with ``w_i = 1 / #seeds`` on its seeds. `loop` computes it class by class; `batched` runs
  every class in one forward and one backward: the backbone gets one copy of its parameters per
  class (a leading class dimension, `mmgc.models.base.Backbone.parameter_batch`) and the classes'
  graphs as one disjoint edge list, so ``d sum_c L_c / d copy_c = dL_c/dtheta`` exactly. The classes'
  graphs share one node axis, the union of the sampled nodes (one feature matrix and one product for
  all), where that is cheaper than gathering each block's features, and otherwise each class has its own
  block, padded to the largest of its batch (`ClassSamples.union`, `ClassSamples.padded`; classes of
  similar block sizes are batched together, at most `BATCH_FLOATS` activations a batch).
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
from torch.func import functional_call

from mmgc.adjacency import Adjacency
from mmgc.methods.gradient_matching.sampler import ClassSamples, PaddedSamples
from mmgc.models.losses import per_node_cross_entropy

GradientPath = Literal["batched", "loop"]

BATCH_FLOATS = 1 << 26
"""The batched real side's activation budget, in floats (256 MiB in float32): a batch of classes holds
at most ``BATCH_FLOATS / (node axis length * (width + 4 * hidden))`` of them."""

SIMILAR_SIZE = 0.75
"""Padded blocks: a batch of classes takes the next (smaller) class while its block has at least this
share of the batch's largest block's nodes."""

ClassGradient = Callable[[nn.Module, dict[str, Tensor], Tensor, Adjacency, Tensor, Tensor], tuple[Tensor, ...]]
"""``fn(model, params, x, adj, seed_weight, labels) -> one gradient per parameter`` (see
`real_class_gradient`)."""


def real_class_gradient(model: nn.Module, params: dict[str, Tensor], x: Tensor, adj: Adjacency, seed_weight: Tensor,
                        labels: Tensor) -> tuple[Tensor, ...]:
    """``d/dtheta sum_i seed_weight_i * CE(model(x, adj)_i, labels_i)`` w.r.t. ``params`` (leaves that
    require grad), one tensor per parameter: for one class, or for a batch of classes at once, every
    argument with a leading class dimension (``params`` one copy per class, ``x`` ``[C, m, d]`` or
    shared ``[m, d]``, ``adj`` the classes' graphs as one disjoint graph over ``C * m`` nodes,
    ``seed_weight`` and ``labels`` ``[C, m]``), giving one gradient per class."""
    logits = functional_call(model, params, (x, adj))
    per_node = per_node_cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    grads = torch.autograd.grad((per_node * seed_weight.reshape(-1)).sum(), tuple(params.values()), allow_unused=True)
    return tuple(torch.zeros_like(p) if g is None else g for p, g in zip(params.values(), grads))


def real_gradients(fn: ClassGradient, model: nn.Module, samples: ClassSamples, x_real: Tensor, y_real: Tensor,
                   path: GradientPath, layout: Literal["auto", "union", "blocks"] = "auto") -> list[Tensor]:
    """Every class's real gradient, stacked per parameter (``[C, *shape]``, detached); ``layout``: the
    batched path's node axis (``auto``: the union while ``classes x union nodes x hidden`` is at most
    ``sampled nodes x width``, i.e. one shared product costs no more than gathering every block's
    features: narrow backbones such as SGC on small graphs; padded blocks otherwise)."""
    dtype = x_real.dtype
    if path == "loop":
        params = {name: p.detach().requires_grad_() for name, p in model.named_parameters()}
        per_class = []
        for c in range(samples.num_classes):
            nodes, adj, seed_pos, seeds = samples.block(c, dtype, gather_scatter=True)
            weight = x_real.new_zeros(nodes.numel())
            weight[seed_pos] = 1 / seeds.numel()
            labels = torch.zeros(nodes.numel(), dtype=torch.long, device=nodes.device)
            labels[seed_pos] = y_real[seeds]
            per_class.append(fn(model, params, x_real[nodes], adj, weight, labels))
        return [torch.stack(g) for g in zip(*per_class)]
    sizes = samples.sizes().tolist()
    params = {name: p.detach() for name, p in model.named_parameters()}
    hidden = max((p.shape[0] for p in params.values() if p.dim() == 2), default=1)
    union = samples.union(y_real, dtype) if layout != "blocks" else None
    if layout == "auto":  # the union while its activations are no more than the blocks' gathered features
        union_floats = samples.num_classes * union.index.numel() * hidden
        layout = "union" if union_floats <= sum(sizes) * x_real.shape[1] else "blocks"
    width = x_real.shape[1] + 4 * hidden
    grads: list[Tensor | None] = [None] * len(params)
    for chunk, axis in _chunks(samples, sizes, union if layout == "union" else None, width, y_real, dtype):
        m = axis.index.shape[-1]
        copies = {name: p.expand((len(chunk),) + p.shape).clone().requires_grad_() for name, p in params.items()}
        offsets = torch.arange(len(chunk), device=x_real.device)[:, None, None] * m
        edges = (axis.edge_index + offsets).transpose(0, 1).reshape(2, -1)
        adj = Adjacency.from_edge_index(edges, len(chunk) * m, axis.edge_weight.reshape(-1), dtype=dtype,
                                        gather_scatter=True)
        out = fn(model, copies, x_real[axis.index], adj, axis.seed_weight, axis.seed_label)
        index = torch.tensor(chunk, device=x_real.device)
        for k, g in enumerate(out):
            if grads[k] is None:
                grads[k] = g.new_zeros((samples.num_classes,) + g.shape[1:])
            grads[k][index] = g
    return grads


def _chunks(samples: ClassSamples, sizes: list[int], union: PaddedSamples | None, width: int, y: Tensor,
            dtype: torch.dtype):
    """``(classes, their node axis)`` batches of the batched path: on the ``union`` (when given),
    consecutive classes within the activation budget; on padded blocks, classes by decreasing block
    size, a batch taking the next class while it has at least `SIMILAR_SIZE` of the batch's largest
    block (little padding) and the budget allows."""
    if union is not None:
        axis = union
        per_class = axis.index.numel() * width
        step = max(1, BATCH_FLOATS // per_class)
        for start in range(0, samples.num_classes, step):
            chunk = list(range(start, min(start + step, samples.num_classes)))
            yield chunk, PaddedSamples(axis.index, axis.edge_index[chunk], axis.edge_weight[chunk],
                                       axis.seed_weight[chunk], axis.seed_label[chunk])
        return
    order = sorted(range(samples.num_classes), key=lambda c: -sizes[c])
    while order:
        chunk = [order.pop(0)]
        largest = sizes[chunk[0]]
        while order and sizes[order[0]] >= SIMILAR_SIZE * largest and (len(chunk) + 1) * largest * width <= BATCH_FLOATS:
            chunk.append(order.pop(0))
        yield chunk, samples.select(chunk).padded(y, dtype)


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
