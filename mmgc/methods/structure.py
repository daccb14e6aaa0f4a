"""Structure generators: synthetic features ``[n, d]`` -> dense synthetic adjacency ``[n, n]``.

A gradient-matching method that learns its synthetic structure supplies a `StructureGenerator`;
the engine (`mmgc.methods.gradient_matching`) calls ``generator(x)`` in the outer loop (differentiable
in ``x`` and in the generator's parameters) and ``generator.inference(x)`` for the inner loop and the
condensed graph. GCond and SR-GM use `PGE`; MSGC and SGDD bring their own generators.

`PGE` is GCond's parametrised graph generator (``models/parametrized_adj.py`` of the official code):
an MLP ``Linear(2d, h)-BN-ReLU-[Linear(h, h)-BN-ReLU]*(layers-2)-Linear(h, 1)`` on the concatenation
``[x_i ; x_j]`` of every ordered pair, then ``A = sigmoid((Z + Z^T) / 2)`` with a zero diagonal.
The official code evaluates the MLP on all n^2 concatenated pairs (``O(n^2 * 2d)`` memory and
``O(n^2 * 2d * h)`` time). Here the first layer is split, ``W [x_i ; x_j] + b = (W_a x_i + b) + W_b x_j``,
so it costs ``O(n * d * h)`` once per node, and its BatchNorm statistics over all n^2 pairs are
exact closed forms (mean of a sum of independent indices; variance = sum of the two variances). Only
the ``h x h`` layers run on pairs, in row chunks (with activation checkpointing) once n^2 exceeds
``chunk_pairs``, so memory stays bounded at n = 2,000 and d = 2,048.

BatchNorm as the official run does it: the official ``inference`` never switches the module to eval
mode (the call is commented out), so every forward, the inner loop's and the evaluated graph's
included, normalises with the statistics of the current n^2 pairs. Ours has no running statistics
at all (``track_running_stats=False``), which gives exactly that behaviour in train and eval mode.
Initialisation is PyTorch's default for ``Linear`` and ``BatchNorm1d`` (what the official
``reset_parameters`` applies); the first layer is one ``Linear(2d, h)``, so its fan-in is ``2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mmgc.errors import InputError


class StructureGenerator(nn.Module):
    """Produces a dense symmetric weighted adjacency ``[n, n]`` (zero diagonal) from features ``[n, d]``.

    ``forward(x)`` must be differentiable with respect to ``x`` and the module's parameters;
    ``inference(x)`` returns the same graph without building an autograd graph.
    ``inference_is_forward``: ``inference(x)`` equals ``forward(x)`` and ``forward`` changes no state
    (no running statistics, no randomness), so the engine may build one adjacency with its graph and
    use it for the inner loop and the next outer step.
    """

    inference_is_forward = False

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def inference(self, x: Tensor) -> Tensor:
        return self.forward(x)


def symmetric_zero_diagonal(adj: Tensor) -> Tensor:
    """The strict upper triangle of ``adj`` mirrored: exactly symmetric (an elementwise kernel such as
    sigmoid may round ``(i, j)`` and ``(j, i)`` differently in its vectorised and scalar paths) and
    with a zero diagonal."""
    upper = torch.triu(adj, diagonal=1)
    return upper + upper.T


class PGE(StructureGenerator):
    """GCond's pairwise MLP edge generator (see the module docstring).

    BatchNorm has no running statistics and nothing is random, so ``inference`` is ``forward``.

    Args:
        in_dim: feature width d.
        hidden: MLP width h (GCond: 128; 256 on its large datasets).
        layers: linear layers (GCond: 3), >= 2.
        chunk_pairs: pairs per chunk of the pairwise layers; a graph with at most this many ordered
            pairs runs in one piece (no recomputation).
        eps: BatchNorm epsilon.
    """

    inference_is_forward = True

    def __init__(self, in_dim: int, hidden: int = 128, layers: int = 3, chunk_pairs: int = 1 << 17, eps: float = 1e-5):
        super().__init__()
        if layers < 2:
            raise InputError(f"pge_layers: expected >= 2 (one input layer and one output layer), found {layers}")
        if hidden < 1 or chunk_pairs < 1:
            raise InputError(f"pge: expected hidden >= 1 and chunk_pairs >= 1, found {hidden}, {chunk_pairs}")
        self.in_dim, self.hidden, self.chunk_pairs, self.eps = in_dim, hidden, chunk_pairs, eps
        self.first = nn.Linear(2 * in_dim, hidden)
        self.bns = nn.ModuleList(nn.BatchNorm1d(hidden, eps=eps, track_running_stats=False) for _ in range(layers - 1))
        self.middle = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 2))
        self.last = nn.Linear(hidden, 1)

    # -------------------------------------------------------------------------------- pieces
    def _node_terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(a, b)`` with ``relu(a_i + b_j)`` the first hidden layer of pair (i, j), BatchNorm included."""
        d = self.in_dim
        weight, bias = self.first.weight, self.first.bias
        p = x @ weight[:, :d].T + bias  # the first node of the pair, with the bias
        q = x @ weight[:, d:].T  # the second node of the pair
        # BatchNorm over all n^2 ordered pairs (i, j): i and j range independently, so the mean is
        # mean(p) + mean(q) and the (biased) variance var(p) + var(q), exactly.
        mp, mq = p.mean(0), q.mean(0)
        var = (p - mp).pow(2).mean(0) + (q - mq).pow(2).mean(0)
        bn = self.bns[0]
        scale = bn.weight * torch.rsqrt(var + self.eps)
        return (p - mp) * scale + bn.bias, (q - mq) * scale

    @staticmethod
    def _pairs(a: Tensor, b: Tensor) -> Tensor:
        return F.relu(a[:, None, :] + b[None, :, :]).reshape(-1, a.shape[1])

    def _normalise(self, h: Tensor, k: int, stats: tuple[Tensor, Tensor]) -> Tensor:
        mean, var = stats
        bn = self.bns[k + 1]
        return (h - mean) * (bn.weight * torch.rsqrt(var + self.eps)) + bn.bias

    def _chunk_moments(self, a: Tensor, b: Tensor, k: int, *flat_stats: Tensor) -> tuple[Tensor, Tensor]:
        """Sum and sum of squares (float64) over the chunk's pairs of middle layer k's pre-BN output."""
        stats = list(zip(flat_stats[0::2], flat_stats[1::2]))
        h = self._pairs(a, b)
        for j in range(k + 1):
            h = self.middle[j](h)
            if j < k:
                h = F.relu(self._normalise(h, j, stats[j]))
        h = h.double()
        return h.sum(0), (h * h).sum(0)

    def _chunk_logits(self, a: Tensor, b: Tensor, *flat_stats: Tensor) -> Tensor:
        stats = list(zip(flat_stats[0::2], flat_stats[1::2]))
        h = self._pairs(a, b)
        for j, layer in enumerate(self.middle):
            h = F.relu(self._normalise(layer(h), j, stats[j]))
        return self.last(h).reshape(a.shape[0], b.shape[0])

    def logits(self, x: Tensor) -> Tensor:
        """The raw pair scores ``Z [n, n]`` (before symmetrisation and sigmoid)."""
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise InputError(f"pge: expected features of shape [n, {self.in_dim}], found {tuple(x.shape)}")
        n = x.shape[0]
        a, b = self._node_terms(x)
        if n * n <= self.chunk_pairs:
            h = self._pairs(a, b)
            for j, layer in enumerate(self.middle):
                h = F.relu(self.bns[j + 1](layer(h)))
            return self.last(h).reshape(n, n)
        rows = max(1, self.chunk_pairs // n)
        starts = range(0, n, rows)
        flat_stats: list[Tensor] = []
        for k in range(len(self.middle)):
            total = torch.zeros(self.hidden, dtype=torch.float64, device=x.device)
            total_sq = torch.zeros_like(total)
            for s in starts:
                part, part_sq = checkpoint(self._chunk_moments, a[s:s + rows], b, k, *flat_stats, use_reentrant=False)
                total, total_sq = total + part, total_sq + part_sq
            mean = total / (n * n)
            var = (total_sq / (n * n) - mean * mean).clamp_min(0)
            flat_stats += [mean.to(x.dtype), var.to(x.dtype)]
        chunks = [checkpoint(self._chunk_logits, a[s:s + rows], b, *flat_stats, use_reentrant=False) for s in starts]
        return torch.cat(chunks, 0)

    def forward(self, x: Tensor) -> Tensor:
        z = self.logits(x)
        return symmetric_zero_diagonal(torch.sigmoid((z + z.T) / 2))
