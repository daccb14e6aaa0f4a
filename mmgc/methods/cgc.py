"""CGC and CGC-X (Gao et al., "Rethinking and Accelerating Graph Condensation: A Training-Free
Approach with Class Partition", WWW 2025; code XYGaoG/CGC @13016ac, ``main.py``, ``scr/utils.py``).

A training-free condensation: no backbone is trained and no gradient is taken. Per class, the
visible train nodes (plus resampled ones) are partitioned into as many clusters as the class has
synthetic nodes, and each synthetic node is a confidence-weighted mean of one cluster.

1. **Propagation** with ``A_hat = D^-1/2 (A + I) D^-1/2`` (`Adjacency.gcn`) on the visible graph
   (transductive: the whole graph; inductive: the train-induced subgraph, `plan_budget`):
   ``H_0 = X``, ``H_k = A_hat H_{k-1}`` for ``k <= hops`` (the code: ``conv_depth = 2``).
2. **Assessor**: the minimum-norm least-squares ``W = argmin ||H_bar W - Y||_F`` on the train nodes,
   ``H_bar = mean(H_0 .. H_hops)``, ``Y`` their one-hot labels (the code: ``torch.linalg.lstsq``
   with the SVD driver ``gelss``; here ``pinv(H_bar) Y``, the same solution on every device).
3. **Augmentation and confidence.** Every train node enters with its deepest propagation ``H_hops``;
   ``floor(aug_ratio * n_train)`` more are drawn with replacement and enter with ``H_1``, node i
   with probability ``proportional to 1 - F1_{y_i} + 1e-20``, ``F1_c`` the assessor's F1 on class c
   over the train nodes' ``H_1`` (hard classes are resampled more). The confidence of a pool row is
   ``softmax(h W)[y]``; a misclassified row gets the smallest confidence of its set (the train set
   and the resampled set each on their own, as the code does).
4. **Class partition.** Per class c, its pool rows are cut into ``k_c`` clusters, ``k_c`` the
   class's synthetic count (`mmgc.methods.budget.plan_budget`). ``clustering=spectral`` (the code's
   only path: its ``--clustering`` flag is never read): centre the rows, take their top ``k_c``
   left singular vectors ``U`` (scikit-learn ``TruncatedSVD``), map them by the explicit degree-2
   polynomial kernel map ``phi`` with ``phi(u) . phi(v) = (u . v + c)^2``, ``c = 2^-1/2``
   (scikit-learn ``PolynomialFeatures`` with the code's coefficients), normalise the rows by the
   square roots of the kernel degrees ``D = phi(U) phi(U)^T 1``, keep the top ``k_c + 1`` singular
   vectors of the result without the first (the trivial one) and run k-means on them.
   ``clustering=kmeans``: k-means on the (centred) pool rows directly. A class whose pool has
   exactly ``k_c`` rows keeps each row as its own cluster.
5. **Condensed features**: synthetic node j of cluster ``C_j`` is
   ``h_j = sum_{i in C_j} softmax_{C_j}(conf / tau)_i  H_i`` (`torch_geometric.utils.softmax` over
   the cluster). CGC-X (``structure=none``) stops here: features ``h``, no edges.
6. **CGC structure and features.** ``A' = 1[cos(h_i, h_j) > adj_threshold]`` with a zero diagonal;
   ``S = (D'^-1/2 (A' + I) D'^-1/2)^power`` (`Adjacency.gcn` of ``A'``; the code: ``power = 3``),
   ``L = D^-1/2 (D - A') D^-1/2`` (rows of isolated nodes zero) and the closed form

   ``X' = (S S^T + L)^-1 (alpha S^T h)``,

   the minimiser of ``||S X - alpha h||_F^2 + tr(X^T L X)``. (The code scales the *target* by
   alpha, so alpha sets the feature scale as much as the fit-versus-smoothness trade-off; an
   isolated synthetic node gets ``alpha h_i``.) Solved in float64 with `torch.linalg.solve`.

Where this follows the released code rather than the paper: the spectral clustering with the
polynomial kernel (the paper says "any clustering method"), the propagation depth 2, the power 3 of
``S``, alpha on the target, ``H_1`` for the resampled nodes and ``H_2`` for the train nodes, the
minimum-confidence rule for misclassified nodes, and the per-dataset hyper-parameters (presets
``cgc:cora-*``/``citeseer-*`` in ``mmgc/presets.yaml``, from ``scr/para.py``). Where it departs:
the class budget is mmgc's shared one (``label_allocation``; the code's rule,
``largest_takes_rest``, is available), k-means is scikit-learn's seeded ``KMeans`` (k-means++
seeding, ``kmeans_iters`` Lloyd iterations, the best of ``kmeans_restarts`` runs; the code: FAISS
from random points, 25 iterations, one run, FAISS's fixed seed), and a cluster k-means leaves empty (only possible when a pool has fewer distinct
rows than ``k_c``) takes a member of the largest cluster instead of staying a zero row.

Modalities: the features stay fused (every step reads the concatenated columns, so any layout
works); ``cluster_features=per_modality`` partitions on the concatenation of each modality's block
divided by its mean row norm over the class pool, so that a modality with larger norms does not
decide the partition alone (the condensed features themselves are unchanged).

Deterministic under ``ctx.seed`` on CPU (NumPy and scikit-learn are seeded from it); the torch work
runs on ``ctx.device``, the partition on the CPU. ``info`` records ``feature_steps``,
``structure_steps`` and ``outer_steps`` (all 0: nothing is optimised), the class counts, pool sizes,
the assessor's train F1 per class and the number of synthetic edges.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmgc.adjacency import Adjacency, propagate
from mmgc.errors import InputError
from mmgc.graph import CondensedGraph, MultimodalGraph
from mmgc.methods.base import CondensationMethod, Context, SearchDim, register_method
from mmgc.methods.budget import LABEL_ALLOCATIONS, labels_from_counts, plan_budget

STRUCTURES = ("similarity", "none")
CLUSTERINGS = ("spectral", "kmeans")
CLUSTER_FEATURES = ("fused", "per_modality")
POLY_KERNEL_C = 2 ** -0.5
"""The constant ``c`` of the polynomial kernel ``(u . v + c)^2`` of the spectral partition (the code's)."""


@dataclass
class CGCConfig:
    """CGC's settings (defaults: the argument defaults of ``scr/para.py``; the per-dataset values are
    presets).

    Attributes:
        structure: ``similarity`` (CGC: thresholded cosine structure and closed-form features) or
            ``none`` (CGC-X: the cluster means, no edges; the code's ``--generate_adj 0``).
        hops: propagation depth K: ``H_0 .. H_K`` (the code's ``conv_depth``, 2). The train nodes
            enter the pool with ``H_K``, the resampled ones with ``H_1``.
        aug_ratio: resampled nodes per train node (``--aug_ratio``); 0 disables the augmentation.
        tau: temperature of the confidence softmax within a cluster (``--tau``); small values pick
            the most confident member, large ones give the plain mean.
        adj_threshold: cosine similarity above which two synthetic nodes are joined (``--adj_T``).
        alpha: scale of the target in the closed form (``--alpha``).
        power: propagation power of ``S`` in the closed form (the code: 3).
        clustering: ``spectral`` (the code's path) or ``kmeans`` (k-means on the pool rows).
        cluster_features: ``fused`` (the concatenated features) or ``per_modality`` (each modality's
            block divided by its mean row norm in the class pool before the partition).
        kmeans_iters: Lloyd iterations of k-means (FAISS's default in the code: 25).
        kmeans_restarts: k-means runs from k-means++ seeds, the lowest inertia kept (the code: one
            FAISS run from random points; on three well-separated groups of 12 rows, 40 draws, that
            kept the groups 25 times, one k-means++ run 36 times, the best of three 40 times).
        label_allocation: per-class synthetic counts (`mmgc.methods.budget.LABEL_ALLOCATIONS`):
            ``largest_remainder`` (mmgc's) or ``largest_takes_rest`` (the code's
            ``generate_labels_syn``).
    """

    structure: Literal["similarity", "none"] = "similarity"
    hops: int = 2
    aug_ratio: float = 0.55
    tau: float = 10.0
    adj_threshold: float = 0.95
    alpha: float = 3.0
    power: int = 3
    clustering: Literal["spectral", "kmeans"] = "spectral"
    cluster_features: Literal["fused", "per_modality"] = "fused"
    kmeans_iters: int = 25
    kmeans_restarts: int = 3
    label_allocation: Literal["largest_remainder", "largest_takes_rest"] = "largest_remainder"

    def __post_init__(self) -> None:
        for name, allowed in (("structure", STRUCTURES), ("clustering", CLUSTERINGS),
                              ("cluster_features", CLUSTER_FEATURES), ("label_allocation", tuple(LABEL_ALLOCATIONS))):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name}: expected one of {list(allowed)}, found {getattr(self, name)!r}")
        for name in ("hops", "power", "kmeans_iters", "kmeans_restarts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name}: expected a positive integer, found {value!r}")
        if not (math.isfinite(self.aug_ratio) and self.aug_ratio >= 0):
            raise InputError(f"aug_ratio: expected a number >= 0, found {self.aug_ratio}")
        for name in ("tau", "alpha"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name}: expected a finite number > 0, found {value}")
        if not (math.isfinite(self.adj_threshold) and -1 <= self.adj_threshold <= 1):
            raise InputError(f"adj_threshold: expected a cosine similarity in [-1, 1], found {self.adj_threshold}")


# ---------------------------------------------------------------------------------------- steps
def propagated_features(graph: MultimodalGraph, hops: int, device: torch.device) -> list[Tensor]:
    """``[H_0, ..., H_hops]`` with ``H_k = A_hat H_{k-1}``, ``A_hat`` the GCN operator of ``graph``."""
    operator = Adjacency.from_edge_index(graph.edge_index, graph.num_nodes, graph.edge_weight).to(device).gcn()
    h = [graph.x.to(device).float()]
    for _ in range(hops):
        h.append(propagate(operator, h[-1]))
    return h


def least_squares_assessor(features: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """The minimum-norm ``W [d, C]`` minimising ``||features W - onehot(labels)||_F`` (float64 SVD)."""
    target = F.one_hot(labels, num_classes).double()
    return (torch.linalg.pinv(features.double()) @ target).to(features.dtype)


def confidence(logits: Tensor, labels: Tensor) -> Tensor:
    """``softmax(logits)[i, y_i]``; rows whose argmax is not ``y_i`` get the set's smallest value."""
    prob = logits.softmax(-1)
    conf = prob.gather(1, labels[:, None])[:, 0]
    return torch.where(prob.argmax(1) == labels, conf, conf.min())


def per_class_f1(labels: Tensor, predicted: Tensor, num_classes: int) -> np.ndarray:
    """F1 of every class 0..C-1 (0 for a class neither present nor predicted), scikit-learn's."""
    from sklearn.metrics import f1_score

    return f1_score(labels.cpu().numpy(), predicted.cpu().numpy(), labels=list(range(num_classes)), average=None,
                    zero_division=0)


def resample_hard_nodes(labels: Tensor, f1: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` positions into ``labels`` drawn with replacement, node i with probability
    proportional to ``1 - f1[y_i] + 1e-20`` (the code's rule)."""
    weight = (1.0 - f1)[labels.cpu().numpy()] + 1e-20
    return rng.choice(len(weight), size=count, replace=True, p=weight / weight.sum())


def scale_modalities(rows: np.ndarray, modalities: dict[str, tuple[int, int]]) -> np.ndarray:
    """Each modality's block divided by its mean row norm (blocks of norm 0 stay as they are)."""
    out = rows.copy()
    for start, stop in modalities.values():
        norm = float(np.linalg.norm(rows[:, start:stop], axis=1).mean())
        if norm > 0:
            out[:, start:stop] /= norm
    return out


def polynomial_kernel_map(u: np.ndarray, c: float = POLY_KERNEL_C) -> np.ndarray:
    """``phi(u)`` with ``phi(u) . phi(v) = (u . v + c)^2``: degree-2 monomials of ``u`` with weights
    ``c`` (constant), ``sqrt(2c)`` (linear), ``sqrt(2)`` (cross terms) and 1 (squares)."""
    from sklearn.preprocessing import PolynomialFeatures

    poly = PolynomialFeatures(degree=2, include_bias=True)
    z = poly.fit_transform(u)
    degree = poly.powers_.sum(1)
    distinct = (poly.powers_ > 0).sum(1)
    coef = np.ones(z.shape[1])
    coef[degree == 0] = c
    coef[degree == 1] = math.sqrt(2 * c)
    coef[(degree == 2) & (distinct == 2)] = math.sqrt(2)
    return z * coef


def spectral_embedding(rows: np.ndarray, k: int, random_state: int) -> np.ndarray:
    """The ``[m, <= k]`` embedding the spectral partition clusters (module docstring, step 4)."""
    from sklearn.decomposition import TruncatedSVD

    centred = rows - rows.mean(0, keepdims=True)
    u = TruncatedSVD(k, random_state=random_state).fit(centred.T).components_.T
    z = polynomial_kernel_map(u)
    z_hat = z / np.sqrt(z @ z.sum(0))[:, None]
    return TruncatedSVD(k + 1, random_state=random_state).fit(z_hat.T).components_.T[:, 1:]


def partition(rows: np.ndarray, k: int, method: str, iters: int, restarts: int, random_state: int) -> np.ndarray:
    """Cluster ids in ``[0, k)`` of the ``m >= k`` rows, every id used."""
    from sklearn.cluster import KMeans

    m = rows.shape[0]
    if m < k:
        raise ValueError(f"cannot cut {m} rows into {k} clusters")
    if m == k:
        return np.arange(k)
    if k == 1:
        return np.zeros(m, dtype=np.int64)
    space = spectral_embedding(rows, k, random_state) if method == "spectral" else rows - rows.mean(0, keepdims=True)
    with warnings.catch_warnings():  # fewer distinct rows than k: handled below
        warnings.filterwarnings("ignore", message="Number of distinct clusters")
        labels = KMeans(k, init="k-means++", n_init=restarts, max_iter=iters,
                        random_state=random_state).fit_predict(space.astype(np.float64))
    return fill_empty_clusters(labels.astype(np.int64), k)


def fill_empty_clusters(labels: np.ndarray, k: int) -> np.ndarray:
    """``labels`` with every empty cluster id given the last member of the currently largest cluster."""
    labels = labels.copy()
    for empty in range(k):
        if not (labels == empty).any():
            largest = int(np.bincount(labels, minlength=k).argmax())
            labels[np.nonzero(labels == largest)[0][-1]] = empty
    return labels


def weighted_cluster_means(rows: Tensor, cluster: Tensor, conf: Tensor, tau: float, n: int) -> Tensor:
    """``[n, d]``: per cluster j, ``sum_i softmax_j(conf / tau)_i rows_i`` over its members."""
    from torch_geometric.utils import softmax

    weight = softmax(conf / tau, cluster, num_nodes=n)
    return rows.new_zeros(n, rows.shape[1]).index_add_(0, cluster, weight[:, None] * rows)


def similarity_structure(h: Tensor, threshold: float) -> Tensor:
    """``1[cos(h_i, h_j) > threshold]`` with a zero diagonal (float, symmetric)."""
    unit = F.normalize(h, dim=1)
    adj = (unit @ unit.T > threshold).to(h.dtype)
    adj = torch.maximum(adj, adj.T)  # exact symmetry whatever the rounding of the two products
    return adj.fill_diagonal_(0)


def normalized_laplacian(adj: Tensor) -> Tensor:
    """``D^-1/2 (D - A) D^-1/2`` of a dense symmetric ``adj``; the rows of isolated nodes are zero."""
    deg = adj.sum(1)
    inv_sqrt = torch.where(deg > 0, deg.clamp_min(1e-30).rsqrt(), torch.zeros_like(deg))
    return torch.diag((deg > 0).to(adj.dtype)) - inv_sqrt[:, None] * adj * inv_sqrt[None, :]


def closed_form_features(adj: Tensor, h: Tensor, alpha: float, power: int) -> Tensor:
    """``X' = (S S^T + L)^-1 (alpha S^T h)``, ``S = gcn(adj)^power``, ``L`` the normalised Laplacian
    of ``adj``: the minimiser of ``||S X - alpha h||^2 + tr(X^T L X)`` (float64, returned in h's dtype)."""
    a = adj.double()
    operator = Adjacency.from_dense(a).gcn()
    s = torch.linalg.matrix_power(operator, power)
    system = s @ s.T + normalized_laplacian(a)
    return torch.linalg.solve(system, alpha * (s.T @ h.double())).to(h.dtype)


# ---------------------------------------------------------------------------------------- method
@register_method("cgc")
class CGC(CondensationMethod):
    """CGC: training-free class partition with a closed-form structure (structure=none gives CGC-X)."""

    Config = CGCConfig
    search_space = {
        "tau": SearchDim("loguniform", 1e-2, 1e1),
        "aug_ratio": SearchDim("uniform", 0.0, 1.0),
        "adj_threshold": SearchDim("uniform", 0.7, 0.99),
        "alpha": SearchDim("loguniform", 0.5, 10.0),
    }

    def condense(self, graph: MultimodalGraph, ratio: float, ctx: Context) -> CondensedGraph:
        cfg = self.config
        start = time.perf_counter()
        device = torch.device(ctx.device)
        rng = np.random.default_rng(int(ctx.seed))
        visible, counts = plan_budget(graph, ratio, cfg.label_allocation)
        num_classes = graph.num_classes
        train = visible.train_mask.nonzero()[:, 0].to(device)
        y = visible.y.to(device)[train]

        h = propagated_features(visible, cfg.hops, device)
        weight = least_squares_assessor(torch.stack(h).mean(0)[train], y, num_classes)
        deep = h[-1][train]
        rows, labels, conf = [deep], [y], [confidence(deep @ weight, y)]
        shallow = h[1][train]
        shallow_logits = shallow @ weight
        f1 = per_class_f1(y, shallow_logits.argmax(1), num_classes)
        extra = int(math.floor(cfg.aug_ratio * train.numel() + 1e-9))
        if extra > 0:
            pick = torch.from_numpy(resample_hard_nodes(y, f1, extra, rng)).to(device)
            rows.append(shallow[pick])
            labels.append(y[pick])
            conf.append(confidence(shallow_logits[pick], y[pick]))
        del h
        rows_t, labels_t, conf_t = torch.cat(rows), torch.cat(labels), torch.cat(conf)

        cluster = torch.empty_like(labels_t)
        offset = 0
        pool_sizes = []
        for c, k in enumerate(counts.tolist()):
            members = (labels_t == c).nonzero()[:, 0]
            pool_sizes.append(int(members.numel()))
            if members.numel() < k:
                raise InputError(
                    f"cgc: class {c} has {members.numel()} pool rows ({int((y == c).sum())} train nodes + resampled) "
                    f"but the budget asks for {k} synthetic nodes; use a smaller ratio or a larger aug_ratio")
            block = rows_t[members].cpu().numpy().astype(np.float64)
            if cfg.cluster_features == "per_modality":
                block = scale_modalities(block, graph.modalities)
            ids = partition(block, k, cfg.clustering, cfg.kmeans_iters, cfg.kmeans_restarts,
                            int(rng.integers(2 ** 31 - 1)))
            cluster[members] = torch.from_numpy(ids).to(device) + offset
            offset += k
        n = offset
        h_syn = weighted_cluster_means(rows_t, cluster, conf_t, cfg.tau, n)

        if cfg.structure == "similarity":
            adj = similarity_structure(h_syn, cfg.adj_threshold)
            x = closed_form_features(adj, h_syn, cfg.alpha, cfg.power)
        else:
            adj = h_syn.new_zeros(n, n)
            x = h_syn
        seconds = time.perf_counter() - start
        return self.from_learned(
            graph, ratio, ctx, x, adj, labels_from_counts(counts), condense_arch=None, history=[],
            class_counts=counts.tolist(), pool_sizes=pool_sizes, augmented_nodes=extra,
            assessor_f1=[round(float(v), 6) for v in f1], edges=int(adj.count_nonzero()) // 2,
            feature_steps=0, structure_steps=0, outer_steps=0, condense_seconds=round(seconds, 3))
