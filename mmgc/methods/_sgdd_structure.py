"""SGDD's parts (Yang et al., "Does graph distillation see like vision dataset counterpart?", NeurIPS
2023): the graphon-style structure generator and the structure-broadcasting term.

Generator (official ``models/IGNR.py``). Two branches over the ``n^2`` ordered node pairs:

* ``net0`` on the pair features ``[x_i ; x_j]``: Linear(2d, h)+BN+ReLU, Linear(h, h)+BN+ReLU,
  Linear(h, 1). Its first linear layer is applied as ``W_a x_i + W_b x_j`` (two ``[n, h]`` products
  broadcast over the pairs, as the PGE does) instead of on the ``[n^2, 2d]`` concatenation;
* ``net1`` on the pair's graphon coordinates ``(u_i, u_j)``: Linear(2, h)+BN+ReLU, Linear(h, h)+BN+ReLU,
  Linear(h, 1). Coordinates: the fixed grid of the official code, ``u_i = -1 + 2 i / (n - 1)`` for
  the ``i``-th synthetic node (nodes are stored in class blocks, so a class occupies an interval of the
  graphon's axis, as in the official code);
* after each of the two hidden blocks the graphon state is multiplied elementwise by the pair state;
  the output is ``(1 - ep_ratio) * graphon + ep_ratio * pair``, reshaped ``[n, n]``, symmetrised
  ``(Z + Z^T) / 2``, passed through a sigmoid, diagonal zeroed. Self loops and the symmetric
  normalisation are left to `Adjacency.gcn()` (one place).

Structure-broadcasting term. The paper motivates SGDD by the *Laplacian energy distribution* (LED)
of a graph signal: with the Laplacian ``L = U diag(lambda) U^T`` and signal ``X``, the energy at
frequency ``lambda_k`` is ``||u_k^T X||^2 / ||X||^2``; condensation shifts the LED, and SGDD adds an
optimal-transport distance that "broadcasts" the original graph's structure to the synthetic one.
The official code implements that distance as a COPT/GOT Gaussian-W2 formula with a learned transport
matrix ``P`` between a *fixed* block of the real graph and the synthetic graph (and, as written, it
is computed with the removed ``torch.symeig`` inside a bare ``except`` that returns 0, uses the raw
instead of the Sinkhorn-normalised ``P``, and caches the real block forever).

Ours is the optimal-transport distance between the two Laplacian energy distributions themselves:
the 1-D Wasserstein distance (POT's ``ot.wasserstein_1d``, differentiable with the torch backend)
between the LED of a sampled block of the real graph and the LED of the synthetic graph, both on the
spectrum of ``L = I - D^-1/2 (A + I) D^-1/2`` (eigenvalues in [0, 2), comparable across sizes), with
``torch.linalg.eigh``. Why this and not the GOT formula: a GOT plan ``P`` is tied to one fixed block of
real nodes (its rows are those nodes), so it cannot be learned while the block is resampled at every
call, which the issue requires; the LED distance needs no alignment between graphs of different
sizes and is exactly the quantity of the paper's argument. The eigenvectors enter only the weights
(the energies) and are detached there: the gradient of an eigenvector is undefined at repeated
eigenvalues, and the initial sigmoid graph (all weights near 0.5) has an eigenvalue of multiplicity
``n - 1``; the eigenvalues themselves (the support of the distribution) carry the gradient, which is
stable at any multiplicity. ``weights="uniform"`` gives the plain spectral distribution instead.
The term is computed every time it is asked for, checked to be finite (`NonFiniteStructureTerm`
otherwise), and returned for logging.

Smoothness term (official ``feature_smoothing``): ``tr(Z^T L~ Z)`` with ``L~ = D^-1/2 (D - A) D^-1/2``
of the symmetrised synthetic graph; the official objective passes the one-hot synthetic labels as
``Z`` (``regularization(adj_syn, tensor2onehot(labels_syn))``), which is our default
(``smoothness_target="labels"``); ``"features"`` uses the synthetic features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgc.adjacency import Adjacency
from mmgc.graph import MultimodalGraph


class NonFiniteStructureTerm(RuntimeError):
    """SGDD's structure term came out NaN or infinite (fail loudly, never silently return 0)."""


def _block(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.ReLU())


def graphon_grid(n: int, device: torch.device | str = "cpu") -> Tensor:
    """``[n * n, 2]`` pair coordinates ``(u_i, u_j)``, ``u_i = -1 + 2 i / (n - 1)``, row-major."""
    u = torch.linspace(-1.0, 1.0, n, device=device) if n > 1 else torch.zeros(1, device=device)
    return torch.stack(torch.meshgrid(u, u, indexing="ij"), dim=-1).reshape(-1, 2)


class GraphonGenerator(nn.Module):
    """SGDD's implicit graphon network conditioned on the synthetic features (see the module doc)."""

    def __init__(self, in_dim: int, hidden: int = 128, ep_ratio: float = 0.5):
        super().__init__()
        if not 0.0 <= ep_ratio <= 1.0:
            raise ValueError(f"SGDD ep_ratio: expected a value in [0, 1], found {ep_ratio}")
        self.in_dim, self.hidden, self.ep_ratio = in_dim, hidden, ep_ratio
        # net0 (pairs of features); its first Linear is applied split as W_a x_i + W_b x_j
        self.pair_first = nn.Linear(2 * in_dim, hidden)
        self.pair_first_rest = nn.Sequential(nn.BatchNorm1d(hidden), nn.ReLU())
        self.pair_mid = _block(hidden, hidden)
        self.pair_out = nn.Linear(hidden, 1)
        # net1 (graphon coordinates)
        self.grid_first = _block(2, hidden)
        self.grid_mid = _block(hidden, hidden)
        self.grid_out = nn.Linear(hidden, 1)

    def logits(self, x: Tensor) -> Tensor:
        """The unsymmetrised pre-sigmoid ``[n, n]`` output."""
        n = x.shape[0]
        w_a, w_b = self.pair_first.weight[:, : self.in_dim], self.pair_first.weight[:, self.in_dim:]
        pair = ((x @ w_a.T)[:, None, :] + (x @ w_b.T)[None, :, :]).reshape(n * n, -1) + self.pair_first.bias
        c = self.pair_first_rest(pair)
        g = self.grid_first(graphon_grid(n, x.device)) * c
        c = self.pair_mid(c)
        g = self.grid_mid(g) * c
        z = (1.0 - self.ep_ratio) * self.grid_out(g) + self.ep_ratio * self.pair_out(c)
        return z.reshape(n, n)

    def forward(self, x: Tensor) -> Tensor:
        """Raw synthetic adjacency ``[n, n]``: symmetric, in (0, 1), zero diagonal."""
        z = self.logits(x)
        adj = torch.sigmoid((z + z.T) / 2)
        return adj - torch.diag_embed(torch.diagonal(adj))

    @torch.no_grad()
    def inference(self, x: Tensor) -> Tensor:
        """The adjacency with BatchNorm in evaluation mode (running statistics), as the official
        ``IGNR.inference``; the module's train/eval mode is restored afterwards."""
        was = self.training
        self.eval()
        try:
            return self.forward(x)
        finally:
            self.train(was)


# ------------------------------------------------------------------------------------------ LED
def gcn_laplacian(adj: Tensor) -> Tensor:
    """``I - D^-1/2 (A + I) D^-1/2`` of a dense ``[n, n]`` raw adjacency (the one normalisation of the
    models, `Adjacency.gcn`), symmetrised for `eigh`."""
    op = Adjacency.from_dense(adj).gcn()
    lap = torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device) - op
    return (lap + lap.T) / 2


def laplacian_energy_distribution(adj: Tensor, x: Tensor, weights: str = "energy") -> tuple[Tensor, Tensor]:
    """``(eigenvalues [n], energy fractions [n])`` of signal ``x`` on the graph ``adj``.

    The eigenvalues keep their gradient; the eigenvectors are detached (see the module doc).
    ``weights="uniform"`` returns ``1/n`` per eigenvalue (the spectral distribution).
    """
    lam, vec = torch.linalg.eigh(gcn_laplacian(adj))
    if weights == "uniform":
        w = torch.full_like(lam, 1.0 / lam.numel())
    elif weights == "energy":
        xc = x - x.mean(0, keepdim=True) if x.shape[0] > 1 else x
        energy = (vec.detach().T @ xc).pow(2).sum(1)
        w = energy / energy.sum().clamp_min(1e-12)
    else:
        raise ValueError(f"SGDD ot_weights: expected 'energy' or 'uniform', found {weights!r}")
    return lam, w


def led_distance(lam_a: Tensor, w_a: Tensor, lam_b: Tensor, w_b: Tensor, p: int = 1) -> Tensor:
    """The p-Wasserstein distance (to the power p) between two distributions on the line, by POT."""
    import warnings

    import ot  # POT; imported here so that importing mmgc stays light

    with warnings.catch_warnings():  # POT 0.9.7 calls `.T` on a 1-D tensor internally (a torch deprecation)
        warnings.filterwarnings("ignore", message="The use of `x.T`")
        return ot.wasserstein_1d(lam_a, lam_b, w_a, w_b, p=p)


class StructureBroadcast:
    """The OT term between the LED of a freshly sampled block of the real graph and the synthetic one.

    Args:
        graph: the graph the method may see (its whole structure; no labels are read).
        block_size: nodes of the real block (all nodes when the graph is smaller).
        sampler: ``neighborhood`` (random seed nodes plus their neighbours, keeping local structure)
            or ``random`` (uniform nodes, as the official code for graphs above 5,000 nodes).
        weights: ``energy`` (the LED of the features) or ``uniform`` (the spectrum).
        p: the Wasserstein order.
        generator: the random source of the block sampling.
    """

    def __init__(self, graph: MultimodalGraph, block_size: int = 512, sampler: str = "neighborhood",
                 weights: str = "energy", p: int = 1, generator: torch.Generator | None = None):
        if sampler not in ("neighborhood", "random"):
            raise ValueError(f"SGDD ot_sampler: expected 'neighborhood' or 'random', found {sampler!r}")
        if block_size < 2:
            raise ValueError(f"SGDD ot_block_size: expected at least 2 nodes, found {block_size}")
        self.x = graph.x
        self.edge_index = graph.edge_index
        self.num_nodes = graph.num_nodes
        self.block_size = min(block_size, self.num_nodes)
        self.sampler, self.weights, self.p = sampler, weights, p
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.calls = 0
        self._csr: tuple[Tensor, Tensor] | None = None

    def _neighbours(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """``(source, neighbour)`` of every edge leaving ``nodes``, read from a CSR copy of the edges
        built once, so a call costs the nodes' degrees, not a pass over all ``E`` edges."""
        if self._csr is None:
            row, col = self.edge_index.cpu()
            order = torch.argsort(row, stable=True)
            rowptr = torch.zeros(self.num_nodes + 1, dtype=torch.long)
            rowptr[1:] = torch.cumsum(torch.bincount(row, minlength=self.num_nodes), 0)
            self._csr = (rowptr, col[order])
        rowptr, col = self._csr
        start = rowptr[nodes]
        deg = rowptr[nodes + 1] - start
        first = torch.cumsum(deg, 0) - deg
        edge = torch.repeat_interleave(start - first, deg) + torch.arange(int(deg.sum()))
        return torch.repeat_interleave(nodes, deg), col[edge]

    def sample_block(self) -> Tensor:
        """Sorted node ids of a new block (a fresh sample at every call)."""
        n, m = self.num_nodes, self.block_size
        if m >= n:
            return torch.arange(n)
        if self.sampler == "random":
            return torch.randperm(n, generator=self.generator)[:m].sort().values
        avg_deg = max(self.edge_index.shape[1] / n, 1.0)
        seeds = torch.randperm(n, generator=self.generator)[: max(1, int(m / (1.0 + avg_deg)))]
        hit = torch.zeros(n, dtype=torch.bool)
        hit[seeds] = True
        neighbours = self._neighbours(seeds)[1]
        nodes = torch.unique(torch.cat([seeds, neighbours]))
        if nodes.numel() > m:  # keep the seeds, fill up with random neighbours
            rest = nodes[~hit[nodes]]
            rest = rest[torch.randperm(rest.numel(), generator=self.generator)[: m - seeds.numel()]]
            nodes = torch.cat([seeds, rest])
        elif nodes.numel() < m:  # top up with random nodes outside the block
            outside = (~torch.isin(torch.arange(n), nodes)).nonzero()[:, 0]
            extra = outside[torch.randperm(outside.numel(), generator=self.generator)[: m - nodes.numel()]]
            nodes = torch.cat([nodes, extra])
        return nodes.sort().values

    @torch.no_grad()
    def real_led(self, device: torch.device | str) -> tuple[Tensor, Tensor]:
        nodes = self.sample_block()  # sorted: local id = position (searchsorted), no N-sized remap
        src, dst = self._neighbours(nodes)
        pos = torch.searchsorted(nodes, dst).clamp_max(nodes.numel() - 1)
        keep = nodes[pos] == dst
        sub = torch.stack([torch.searchsorted(nodes, src[keep]), pos[keep]]).to(device)
        adj = torch.zeros(nodes.numel(), nodes.numel(), device=device)
        adj[sub[0], sub[1]] = 1.0
        return laplacian_energy_distribution(adj, self.x[nodes.to(self.x.device)].to(device).float(), self.weights)

    def __call__(self, adj_syn: Tensor, x_syn: Tensor) -> Tensor:
        """The distance (a differentiable scalar); raises `NonFiniteStructureTerm` if not finite."""
        self.calls += 1
        lam_r, w_r = self.real_led(adj_syn.device)
        lam_s, w_s = laplacian_energy_distribution(adj_syn, x_syn, self.weights)
        dist = led_distance(lam_r.to(lam_s.dtype), w_r.to(lam_s.dtype), lam_s, w_s, self.p)
        if not bool(torch.isfinite(dist.detach())):
            raise NonFiniteStructureTerm(
                f"SGDD structure term is {dist.detach().item()} at call {self.calls} "
                f"(synthetic adjacency finite: {bool(torch.isfinite(adj_syn).all())}, "
                f"eigenvalues finite: {bool(torch.isfinite(lam_s).all())})"
            )
        return dist


def smoothness(adj: Tensor, z: Tensor) -> Tensor:
    """``tr(Z^T L~ Z)``, ``L~ = D^-1/2 (D - A) D^-1/2`` of ``(A + A^T) / 2`` (official
    ``feature_smoothing``, with its ``1e-8`` guard on the degrees)."""
    a = (adj + adj.T) / 2
    deg = a.sum(1)
    d = (deg + 1e-8).pow(-0.5)
    d = torch.where(torch.isinf(d), torch.zeros_like(d), d)
    lap = d[:, None] * (torch.diag(deg) - a) * d[None, :]
    return torch.trace(z.T @ lap @ z)


def one_hot(y: Tensor, num_classes: int) -> Tensor:
    return F.one_hot(y, num_classes).float()
