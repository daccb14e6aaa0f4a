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
the ``h x h`` layers run on pairs. At GCond's depth (three layers) they run in `_PairwiseBlocks`, a
fused kernel over cache-sized row blocks with its backward pass written out; other depths, and
second derivatives, use plain autograd ops (`PGE._reference_logits`), in checkpointed row chunks once
n^2 exceeds ``chunk_pairs``. Either way memory stays bounded at n = 2,000 and d = 2,048.

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


def _pairs(a: Tensor, b: Tensor) -> Tensor:
    """``relu(a_i + b_j)`` for every row i of ``a`` and j of ``b``, as ``[len(a) * len(b), h]``."""
    return F.relu(a[:, None, :] + b[None, :, :]).reshape(-1, a.shape[1])


def _pre_activation(a: Tensor, b: Tensor, bias: Tensor, weight: Tensor) -> Tensor:
    """The ``h x h`` layer's input to BatchNorm for the pairs of rows ``a`` with every row of ``b``."""
    return torch.addmm(bias, _pairs(a, b), weight.T)


def _relu_backward(grad: Tensor, out: Tensor) -> Tensor:
    """``grad`` where ``out > 0``, else 0: ReLU's own backward kernel (one pass, no mask tensor)."""
    return torch.ops.aten.threshold_backward(grad, out, 0)


class _PairwiseBlocks(torch.autograd.Function):
    """The PGE's pairwise part at GCond's depth (three layers: one ``h x h`` layer), fused by row blocks.

    ``z_ij = w_out . relu(BN(W relu(a_i + b_j) + c)) + b_out`` for every ordered pair, BatchNorm over
    all n^2 pairs. Plain autograd on the ``[n^2, h]`` tensors makes a dozen fresh tensors of tens of
    MB per step, each a pass through main memory and a round of page faults. Here the pairs are
    processed ``block_pairs`` at a time, so a block's activations stay in cache, most updates are
    in place, and the backward pass is written out:

    - forward, pass 1: per block, ``H = W P + c`` and its moments (merged across blocks by Chan's
      formula, in float64);
    - forward, pass 2: ``H_hat = (H - mean) * rstd`` in place, then ``z``; the ``H_hat`` blocks are
      kept when ``n^2 <= chunk_pairs``, else recomputed, in each pass that reads them (bounded
      memory at any n);
    - backward, pass 1: the output layer's gradients and BatchNorm's two reductions,
      ``sum g`` and ``sum g * H_hat`` with ``g = dz w_out [y > 0]``;
    - backward, pass 2: ``dH = gamma rstd (g - mean g - H_hat mean(g H_hat))``, ``dW += dH^T P``
      (only when W needs a gradient), ``dP = dH W`` masked by ``P > 0``, summed over j into ``da``
      and over i into ``db`` (``P`` recomputed from ``a`` and ``b``: one addition in cache).

    The same matrix products as autograd when the blocks are kept. When a differentiable backward is
    asked for (``create_graph``: second-order terms through the generator), the block is recomputed
    with `PGE._reference_logits` and differentiated by autograd, so higher derivatives stay exact.
    """

    @staticmethod
    def forward(ctx, a, b, weight, bias, gamma, beta, w_out, b_out, pge):
        n, width = a.shape
        rows = pge._block_rows(n, a.device)
        starts = range(0, n, rows)
        keep = n * n <= pge.chunk_pairs
        blocks: list[Tensor] = []
        mean = torch.zeros(width, dtype=torch.float64, device=a.device)
        m2, count = torch.zeros_like(mean), 0
        for s in starts:
            h = _pre_activation(a[s:s + rows], b, bias, weight)
            mean_b = h.mean(0)  # (torch.var_mean over dim 0 is many times slower on the CPU)
            k = h.shape[0]
            delta = mean_b.double() - mean
            mean += delta * (k / (count + k))
            m2 += (h - mean_b).pow_(2).sum(0).double() + delta * delta * (count * k / (count + k))
            count += k
            if keep:
                blocks.append(h)
        rstd = torch.rsqrt((m2 / count).to(a.dtype) + pge.eps)
        mean = mean.to(a.dtype)
        centre = -mean * rstd
        z = a.new_empty(n, n)
        for i, s in enumerate(starts):
            h_hat = blocks[i] if keep else _pre_activation(a[s:s + rows], b, bias, weight)
            torch.addcmul(centre, h_hat, rstd, out=h_hat)  # in place: the block now holds H_hat
            y = torch.addcmul(beta, h_hat, gamma).relu_()
            z[s:s + rows] = torch.addmm(b_out, y, w_out.T).view(-1, n)
        ctx.save_for_backward(a, b, weight, bias, gamma, beta, w_out, b_out, mean, rstd, *blocks)
        ctx.pge, ctx.rows = pge, rows
        return z

    @staticmethod
    def backward(ctx, dz):
        a, b, weight, bias, gamma, beta, w_out, b_out, mean, rstd, *blocks = ctx.saved_tensors
        needs = ctx.needs_input_grad[:8]
        if torch.is_grad_enabled():  # create_graph: differentiate the plain composition instead
            with torch.enable_grad():
                z = ctx.pge._reference_logits(a, b)
            wanted = [t for t, need in zip((a, b, weight, bias, gamma, beta, w_out, b_out), needs) if need]
            grads = iter(torch.autograd.grad(z, wanted, dz, create_graph=True, allow_unused=True))
            return (*[next(grads) if need else None for need in needs], None)
        n, rows = a.shape[0], ctx.rows
        starts = range(0, n, rows)
        dz = dz.contiguous()
        centre = -mean * rstd

        def normalised(i: int, s: int) -> Tensor:
            if blocks:
                return blocks[i]
            h = _pre_activation(a[s:s + rows], b, bias, weight)
            return torch.addcmul(centre, h, rstd, out=h)

        def output_grad(h_hat: Tensor, s: int) -> tuple[Tensor, Tensor]:
            """g = dL/d(BN output) of the block, and the output layer's input y (pre-ReLU)."""
            y = torch.addcmul(beta, h_hat, gamma)
            return _relu_backward(dz[s:s + rows].reshape(-1, 1) * w_out, y), y

        # pass 1: the output layer's and BatchNorm's reductions; g is kept with the kept blocks only
        # (with recomputed blocks, memory stays bounded and g is recomputed in pass 2)
        grads_bn: list[Tensor] = []
        d_w_out = torch.zeros_like(w_out)
        sum_g, sum_g_hat = torch.zeros_like(gamma), torch.zeros_like(gamma)
        for i, s in enumerate(starts):
            h_hat = normalised(i, s)
            g, y = output_grad(h_hat, s)
            # (torch.addmm with out=, as the other accumulations: FLOP counters do not see addmm_)
            torch.addmm(d_w_out, dz[s:s + rows].reshape(1, -1), y.relu_(), out=d_w_out)
            sum_g += g.sum(0)
            sum_g_hat += (g * h_hat).sum(0)
            if blocks:
                grads_bn.append(g)
        # pass 2: BatchNorm's backward, the h x h layer, the input ReLU and the two node terms
        count = n * n
        coef = gamma * rstd
        offset, slope = -(sum_g / count) * coef, -(sum_g_hat / count) * coef
        d_weight = torch.zeros_like(weight) if needs[2] else None
        d_bias = torch.zeros_like(bias)
        da, db = torch.empty_like(a), torch.zeros_like(b)
        for i, s in enumerate(starts):
            h_hat = normalised(i, s)
            g = grads_bn.pop(0) if blocks else output_grad(h_hat, s)[0]
            dh = torch.addcmul(offset, g, coef).addcmul_(h_hat, slope)
            p = _pairs(a[s:s + rows], b)
            if d_weight is not None:
                torch.addmm(d_weight, dh.T, p, out=d_weight)
            d_bias += dh.sum(0)
            dp = _relu_backward(dh @ weight, p).view(-1, n, a.shape[1])
            da[s:s + rows] = dp.sum(1)
            db += dp.sum(0)
        return da, db, d_weight, d_bias, sum_g_hat, sum_g, d_w_out, dz.sum().reshape(1), None


class PGE(StructureGenerator):
    """GCond's pairwise MLP edge generator (see the module docstring).

    BatchNorm has no running statistics and nothing is random, so ``inference`` is ``forward``.

    Args:
        in_dim: feature width d.
        hidden: MLP width h (GCond: 128; 256 on its large datasets).
        layers: linear layers (GCond: 3), >= 2.
        chunk_pairs: the memory bound, in ordered pairs: a graph with at most this many pairs keeps
            its pairwise activations for the backward pass; a larger one recomputes them block by
            block (bounded memory at any n).
        block_pairs: ordered pairs per block and torch thread of the fused three-layer kernel
            (`_PairwiseBlocks`) on the CPU: small enough that a thread's ``block_pairs x h``
            activations stay in its core's cache (on a GPU a block is ``chunk_pairs``). Speed only:
            the result does not depend on it beyond floating-point summation order.
        eps: BatchNorm epsilon.
    """

    inference_is_forward = True

    def __init__(self, in_dim: int, hidden: int = 128, layers: int = 3, chunk_pairs: int = 1 << 17,
                 block_pairs: int = 2048, eps: float = 1e-5):
        super().__init__()
        if layers < 2:
            raise InputError(f"pge_layers: expected >= 2 (one input layer and one output layer), found {layers}")
        if hidden < 1 or chunk_pairs < 1 or block_pairs < 1:
            raise InputError(f"pge: expected hidden, chunk_pairs and block_pairs >= 1, found {hidden}, {chunk_pairs}, "
                             f"{block_pairs}")
        self.in_dim, self.hidden, self.chunk_pairs, self.block_pairs, self.eps = (
            in_dim, hidden, chunk_pairs, block_pairs, eps)
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

    def _block_rows(self, n: int, device: torch.device) -> int:
        """Rows of the fused kernel's blocks: on the CPU ``block_pairs`` per torch thread (each thread
        works on its share of a block, in its own core's cache); on a GPU, where kernel launches
        rather than cache bound the time, as many as the memory bound allows."""
        pairs = self.block_pairs * torch.get_num_threads() if device.type == "cpu" else self.chunk_pairs
        return max(1, pairs // n)

    def _reference_logits(self, a: Tensor, b: Tensor) -> Tensor:
        """The pair scores by plain autograd ops (any depth, and differentiable any number of times):
        in one piece up to ``chunk_pairs`` ordered pairs, above that in checkpointed row chunks whose
        BatchNorm statistics are accumulated over the chunks first."""
        n = a.shape[0]
        if n * n <= self.chunk_pairs:
            h = _pairs(a, b)
            for j, layer in enumerate(self.middle):
                h = F.relu(self.bns[j + 1](layer(h)))
            return self.last(h).reshape(n, n)
        rows = max(1, self.chunk_pairs // n)
        starts = range(0, n, rows)
        flat_stats: list[Tensor] = []
        for k in range(len(self.middle)):
            total = torch.zeros(self.hidden, dtype=torch.float64, device=a.device)
            total_sq = torch.zeros_like(total)
            for s in starts:
                part, part_sq = checkpoint(self._chunk_moments, a[s:s + rows], b, k, *flat_stats, use_reentrant=False)
                total, total_sq = total + part, total_sq + part_sq
            mean = total / (n * n)
            var = (total_sq / (n * n) - mean * mean).clamp_min(0)
            flat_stats += [mean.to(a.dtype), var.to(a.dtype)]
        chunks = [checkpoint(self._chunk_logits, a[s:s + rows], b, *flat_stats, use_reentrant=False) for s in starts]
        return torch.cat(chunks, 0)

    def _normalise(self, h: Tensor, k: int, stats: tuple[Tensor, Tensor]) -> Tensor:
        mean, var = stats
        bn = self.bns[k + 1]
        return (h - mean) * (bn.weight * torch.rsqrt(var + self.eps)) + bn.bias

    def _chunk_moments(self, a: Tensor, b: Tensor, k: int, *flat_stats: Tensor) -> tuple[Tensor, Tensor]:
        """Sum and sum of squares (float64) over the chunk's pairs of middle layer k's pre-BN output."""
        stats = list(zip(flat_stats[0::2], flat_stats[1::2]))
        h = _pairs(a, b)
        for j in range(k + 1):
            h = self.middle[j](h)
            if j < k:
                h = F.relu(self._normalise(h, j, stats[j]))
        h = h.double()
        return h.sum(0), (h * h).sum(0)

    def _chunk_logits(self, a: Tensor, b: Tensor, *flat_stats: Tensor) -> Tensor:
        stats = list(zip(flat_stats[0::2], flat_stats[1::2]))
        h = _pairs(a, b)
        for j, layer in enumerate(self.middle):
            h = F.relu(self._normalise(layer(h), j, stats[j]))
        return self.last(h).reshape(a.shape[0], b.shape[0])

    def logits(self, x: Tensor) -> Tensor:
        """The raw pair scores ``Z [n, n]`` (before symmetrisation and sigmoid)."""
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise InputError(f"pge: expected features of shape [n, {self.in_dim}], found {tuple(x.shape)}")
        a, b = self._node_terms(x)
        if len(self.middle) != 1:
            return self._reference_logits(a, b)
        middle, bn, last = self.middle[0], self.bns[1], self.last
        return _PairwiseBlocks.apply(a, b, middle.weight, middle.bias, bn.weight, bn.bias, last.weight, last.bias, self)

    def forward(self, x: Tensor) -> Tensor:
        z = self.logits(x)
        return symmetric_zero_diagonal(torch.sigmoid((z + z.T) / 2))
