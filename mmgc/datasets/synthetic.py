"""A multimodal contextual stochastic block model: graphs shaped like the paper's datasets, with
knobs for exactly the properties SR-GM is about (modality alignment and semantic conflict).

Labels. ``classes`` classes with sizes in geometric progression, largest / smallest =
``imbalance`` (1 = balanced); node ids are a seeded permutation, so classes are not contiguous.

Edges (O(E), no N x N anything). ``E = nodes * avg_degree / 2`` endpoint pairs: a uniform source,
then with probability ``homophily`` a uniform node of the source's class, otherwise a uniform node
of any other class (an index into the class-sorted node order that skips the source's class block).
Self loops and duplicates are then normalised away by `MultimodalGraph`, so the realised average
degree is slightly below the knob and the realised edge homophily is close to it (both are
reported by ``mmgc datasets info``).

Features, per modality m with ``dims[m]`` columns, each row =
``offset_m + signal[m] * e_m(c) + noise[m] * eps``, ``eps ~ N(0, I)``:

- every class c has one latent embedding ``z_c`` (a random unit vector), so ``signal[m]`` is the
  distance of a class centre from the modality centre in units of the per-coordinate noise
  standard deviation (two class centres lie about ``signal * sqrt(2)`` apart);
- ``aligned``: all modalities live in one joint space with the same coordinates, ``e_m(c) = z_c``
  for every m (column k means the same thing in the text and in the image block), and ``offset_m``
  is a constant per-modality vector of norm ``modality_gap`` (CLIP's joint space and its "modality
  gap"); needs equal dims; noise levels equal by default;
- ``unaligned``: each modality sees the class embedding through its own independent random
  rotation, ``e_m(c) = z_c Q_m`` with ``Q_m`` a seeded Haar-random orthogonal matrix (QR of a
  Gaussian, signs fixed), offsets rotated likewise, and noise levels differ per modality by default
  (1.0 for the first, rising to 1.5 for the last), as with T5 text + ViT image encoders: columns do
  not correspond across modalities. Because the noise is isotropic, rotating the class centres and
  offsets is exactly (in distribution) rotating the whole feature block, at O(C d^2) instead of
  O(N d^2) cost;
- ``conflict``: that fraction of nodes (seeded) carry, in ``conflict_modality`` (default: the last
  modality, ``image``), the signal of another class chosen uniformly among the others, while the
  other modalities keep their own class. Such random-class conflicts are the *negative control*: a
  classifier cannot tell them from noise, so once a backbone has trained a few steps they show no
  more per-node gradient conflict than clean nodes;
- ``conflict_map``: a fixed class permutation for the conflict modality instead of a random other
  class: a conflict node of class c carries the signal of ``map(c)`` (``"0-1,2-3"`` swaps classes 0
  and 1 and classes 2 and 3; ``"1,2,0,3,4,5"`` lists ``map(c)`` for every class). Classes the map
  fixes are unaffected, so with ``conflict=1`` every node of a moved class conflicts. The conflict
  modality then still predicts the label (through the permutation), but in aligned coordinates its
  gradient points at another class's centre than the text gradient: class-structured conflict,
  the phenomenon SR-GM's decoupling is about;
- ``conflict_snr``: multiplies the conflict modality's ``signal`` (its signal-to-noise ratio, noise
  being per coordinate), so a weaker conflict modality, for which fusing can hurt, is one knob.

Features are written in float32 row chunks, each from its own seeded generator (the output does not
depend on the thread count), so memory stays at the feature matrix plus one chunk. Splits: a seeded
permutation cut at ``split`` (train/val/test fractions). Everything is deterministic under ``seed``.

Names: ``synthetic`` (the small default), ``synthetic-conflict`` (the same graph with the image
modality carrying classes 0<->1 and 2<->3 for every node of those classes) and the presets
``synth-ele-fashion``, ``synth-goodreads-nc``, ``synth-amazon-sports``, ``synth-amazon-cloth`` shaped
like Table 1 of the paper, plus ``synth-ele-fashion-conflict`` (Ele-fashion-shaped, classes 0<->1,
2<->3, 4<->5 swapped in the image modality). The aligned/unaligned variant of a preset is the option
``alignment`` (default ``aligned``); ``scale`` shrinks any of them (nodes x scale, same average
degree and dims).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal, Optional

import torch
from torch import Tensor

from mmgc.datasets import register_dataset
from mmgc.datasets._common import split_fractions, variant_string
from mmgc.errors import InputError
from mmgc.graph import MultimodalGraph

CHUNK_ROWS = 16384
"""Rows per feature chunk; part of the output's definition (each chunk has its own generator)."""


@dataclass
class SyntheticOptions:
    """Knobs of the multimodal contextual SBM (see the module docstring for their exact meaning)."""

    nodes: int = 3000
    classes: int = 6
    imbalance: float = 1.0          # largest / smallest class size (geometric); 1 = balanced
    avg_degree: float = 10.0        # 2E / N before removing self loops and duplicates
    homophily: float = 0.6          # fraction of edges that join two nodes of the same class
    dims: tuple[int, ...] = (128, 128)
    modality_names: tuple[str, ...] = ("text", "image")
    signal: tuple[float, ...] = (1.5, 1.5)   # per-modality class-centre norm, in noise-std units
    noise: Optional[tuple[float, ...]] = None  # per-modality noise std; None: 1.0 (aligned) / 1.0..1.5 (unaligned)
    alignment: Literal["aligned", "unaligned"] = "aligned"
    modality_gap: float = 3.0       # norm of each modality's constant offset
    conflict: float = 0.2           # fraction of nodes whose conflict modality carries another class
    conflict_modality: Optional[str] = None  # default: the last modality
    conflict_map: Optional[str] = None  # class permutation of the conflict modality: "0-1,2-3" or "1,0,3,2,..."
    conflict_snr: float = 1.0       # multiplies the conflict modality's signal
    setting: Literal["inductive", "transductive"] = "inductive"
    metric: Literal["auto", "accuracy", "roc_auc"] = "auto"  # auto: roc_auc for 2 classes, else accuracy
    split: tuple[float, ...] = (0.6, 0.2, 0.2)
    scale: float = 1.0              # multiply `nodes` (edges follow through avg_degree)
    seed: int = 0

    def __post_init__(self) -> None:
        where = "synthetic option"
        m = len(self.dims)
        if m < 1:
            raise InputError(f"{where} dims: expected at least one modality width, found none")
        if any(d < 1 for d in self.dims):
            raise InputError(f"{where} dims: expected positive widths, found {list(self.dims)}")
        if len(self.modality_names) != m:
            raise InputError(
                f"{where} dims / modality_names: expected one width per modality, found dims={list(self.dims)} "
                f"({m} widths) and modality_names={list(self.modality_names)} ({len(self.modality_names)} names); "
                f"give {len(self.modality_names)} widths (e.g. dims={','.join(['64'] * len(self.modality_names))}) "
                f"or {m} modality_names"
            )
        if len(set(self.modality_names)) != m:
            raise InputError(f"{where} modality_names: expected distinct names, found {list(self.modality_names)}")
        if len(self.signal) != m:
            raise InputError(f"{where} signal: expected {m} values (one per modality), found {list(self.signal)}")
        if any(not math.isfinite(s) or s < 0 for s in self.signal):
            raise InputError(f"{where} signal: expected finite values >= 0, found {list(self.signal)}")
        if self.noise is not None:
            if len(self.noise) != m:
                raise InputError(f"{where} noise: expected {m} values (one per modality), found {list(self.noise)}")
            if any(not math.isfinite(s) or s <= 0 for s in self.noise):
                raise InputError(f"{where} noise: expected finite values > 0, found {list(self.noise)}")
        if self.alignment == "aligned" and len(set(self.dims)) != 1:
            raise InputError(
                f"{where} dims: alignment=aligned needs equal modality widths (one joint space), found {list(self.dims)}"
            )
        if self.classes < 2:
            raise InputError(f"{where} classes: expected at least 2, found {self.classes}")
        if not (self.imbalance >= 1 and math.isfinite(self.imbalance)):
            raise InputError(f"{where} imbalance: expected a finite ratio >= 1, found {self.imbalance}")
        if not (0 <= self.avg_degree < 1e6):
            raise InputError(f"{where} avg_degree: expected a value >= 0, found {self.avg_degree}")
        if not (0 <= self.homophily <= 1):
            raise InputError(f"{where} homophily: expected a fraction in [0, 1], found {self.homophily}")
        if not (0 <= self.conflict <= 1):
            raise InputError(f"{where} conflict: expected a fraction in [0, 1], found {self.conflict}")
        if not (math.isfinite(self.modality_gap) and self.modality_gap >= 0):
            raise InputError(f"{where} modality_gap: expected a finite value >= 0, found {self.modality_gap}")
        if self.conflict_modality is not None and self.conflict_modality not in self.modality_names:
            raise InputError(
                f"{where} conflict_modality: expected one of {list(self.modality_names)}, found {self.conflict_modality!r}"
            )
        if not (math.isfinite(self.conflict_snr) and self.conflict_snr >= 0):
            raise InputError(f"{where} conflict_snr: expected a finite multiplier >= 0, found {self.conflict_snr}")
        if self.conflict_map is not None:
            self.class_map  # parses and checks
        split_fractions(self.split, f"{where} split")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise InputError(f"{where} scale: expected a positive number, found {self.scale}")
        n = self.num_nodes
        if n < 10 * self.classes:
            raise InputError(
                f"{where} nodes: expected at least 10 nodes per class ({10 * self.classes}) after scale, found {n}"
            )
        if self.metric == "roc_auc" and self.classes != 2:
            raise InputError(f"{where} metric: roc_auc needs classes=2, found classes={self.classes}")

    @property
    def num_nodes(self) -> int:
        return int(round(self.nodes * self.scale))

    @property
    def conflict_index(self) -> int:
        """Position of the conflict modality (default: the last)."""
        return self.modality_names.index(self.conflict_modality or self.modality_names[-1])

    @property
    def signal_levels(self) -> tuple[float, ...]:
        """``signal`` with the conflict modality's entry multiplied by ``conflict_snr``."""
        k = self.conflict_index
        return tuple(float(s) * (self.conflict_snr if m == k else 1.0) for m, s in enumerate(self.signal))

    @property
    def class_map(self) -> Optional[Tensor]:
        """``conflict_map`` as an int64 permutation ``[C]`` (None without a map)."""
        if self.conflict_map is None:
            return None
        return parse_class_map(self.conflict_map, self.classes)

    @property
    def noise_levels(self) -> tuple[float, ...]:
        if self.noise is not None:
            return tuple(float(v) for v in self.noise)
        m = len(self.dims)
        if self.alignment == "aligned" or m == 1:
            return (1.0,) * m
        return tuple(1.0 + 0.5 * i / (m - 1) for i in range(m))


# ---------------------------------------------------------------------------------------- pieces
def parse_class_map(text: str, classes: int) -> Tensor:
    """A class permutation from ``"a-b,c-d"`` (swaps of disjoint pairs) or ``"p0,p1,...,p{C-1}"``
    (the image of every class), checked to be a bijection of ``range(classes)``."""
    where = "synthetic option conflict_map"
    tokens = [t.strip() for t in str(text).split(",") if t.strip()]
    perm = list(range(classes))
    try:
        if any("-" in t for t in tokens):
            seen: set[int] = set()
            for t in tokens:
                a, b = (int(v) for v in t.split("-"))
                if a in seen or b in seen or a == b:
                    raise ValueError
                seen.update((a, b))
                perm[a], perm[b] = b, a
        else:
            perm = [int(t) for t in tokens]
            if len(perm) != classes:
                raise ValueError
    except (ValueError, IndexError):
        perm = []
    if sorted(perm) != list(range(classes)):
        example = ",".join(str(c) for c in [1, 0] + list(range(2, classes)))
        raise InputError(
            f"{where}: expected swaps of distinct classes in 0..{classes - 1} like '0-1,2-3', or a permutation "
            f"of 0..{classes - 1} like '{example}'; found {text!r}"
        )
    return torch.tensor(perm, dtype=torch.long)


def class_sizes(n: int, classes: int, imbalance: float) -> Tensor:
    """Geometric class sizes (largest / smallest = ``imbalance``) summing to ``n`` exactly
    (largest remainder), each at least 1."""
    weights = torch.tensor([imbalance ** (-i / (classes - 1)) for i in range(classes)], dtype=torch.float64)
    quota = weights / weights.sum() * n
    sizes = quota.floor().long().clamp_min(1)
    remainder = n - int(sizes.sum())
    if remainder > 0:
        order = torch.argsort(quota - quota.floor(), descending=True, stable=True)
        sizes[order[:remainder]] += 1
    elif remainder < 0:
        order = torch.argsort(sizes, descending=True, stable=True)
        for i in range(-remainder):
            sizes[order[i % classes]] -= 1
    return sizes


def sbm_edges(y_sorted_order: Tensor, sizes: Tensor, y: Tensor, num_edges: int, homophily: float,
              generator: torch.Generator) -> Tensor:
    """``[2, num_edges]`` endpoint pairs; O(E) time and memory.

    ``y_sorted_order`` lists node ids grouped by class (class 0 first), ``sizes`` the class sizes.
    """
    n = y.numel()
    starts = torch.cumsum(sizes, 0) - sizes
    src = torch.randint(0, n, (num_edges,), generator=generator)
    c = y[src]
    size_c, start_c = sizes[c], starts[c]
    u = torch.rand(num_edges, generator=generator, dtype=torch.float64)
    same = torch.rand(num_edges, generator=generator) < homophily
    # same class: a uniform position in the class block; other class: a uniform position among
    # the n - size_c other slots, shifted past the class block
    span = torch.where(same, size_c, n - size_c)
    pos = (u * span).long()
    pos = torch.minimum(pos, span - 1)
    pos = torch.where(same, start_c + pos, pos + size_c * (pos >= start_c))
    dst = y_sorted_order[pos]
    return torch.stack([src, dst])


def _orthogonal(rows: int, cols: int, generator: torch.Generator) -> Tensor:
    """A Haar-random matrix with orthonormal columns (``rows >= cols``), or rows (otherwise)."""
    a = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(1, dtype=torch.float64))
    return q if rows >= cols else q.T


def _unit_rows(a: Tensor) -> Tensor:
    return a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)


def modality_centres(opts: SyntheticOptions, generator: torch.Generator) -> tuple[list[Tensor], list[Tensor]]:
    """Per modality: class centres ``[C, d_m]`` (norm ``signal[m]``) and the offset ``[d_m]``."""
    joint = max(opts.dims)
    z = _unit_rows(torch.randn(opts.classes, joint, generator=generator, dtype=torch.float64))
    offsets_joint = _unit_rows(torch.randn(len(opts.dims), joint, generator=generator, dtype=torch.float64))
    centres, offsets = [], []
    for m, d in enumerate(opts.dims):
        if opts.alignment == "aligned":
            e, off = z[:, :d], offsets_joint[m, :d]
        else:
            q = _orthogonal(joint, d, generator)  # joint -> d_m, independent per modality
            e, off = z @ q, offsets_joint[m] @ q
        centres.append((_unit_rows(e) * opts.signal_levels[m]).float())
        offsets.append((off / off.norm().clamp_min(1e-12) * opts.modality_gap).float())
    return centres, offsets


def _chunk_generator(seed: int, chunk: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + 7919 * (chunk + 1)) % (2**63 - 1))


def fill_features(x: Tensor, feature_class: list[Tensor], centres: list[Tensor], offsets: list[Tensor],
                  noise: tuple[float, ...], dims: tuple[int, ...], seed: int, chunk_rows: int = CHUNK_ROWS) -> None:
    """Write the features into ``x`` (``[N, sum(dims)]`` float32, contiguous) chunk by chunk.

    Each chunk of whole rows is contiguous: Gaussian noise is drawn straight into it from the chunk's
    own generator, scaled per modality, and the per-node mean is added from a small table with one
    row per combination of the classes the modalities carry (``C**M`` rows; a node without conflict
    uses a diagonal row), so every element is touched three times and no N-sized temporary exists.
    """
    n = x.shape[0]
    classes = centres[0].shape[0]
    bounds = [0]
    for d in dims:
        bounds.append(bounds[-1] + d)
    # mean table over class combinations: row sum_m c_m * C**(M-1-m) (per-modality adds if too big)
    use_table = classes ** len(dims) * x.shape[1] <= 2**25
    if use_table:
        combos = torch.cartesian_prod(*[torch.arange(classes)] * len(dims)).reshape(-1, len(dims))
        table = torch.cat([centres[m][combos[:, m]] + offsets[m] for m in range(len(dims))], dim=1).contiguous()
    means = [centres[m] + offsets[m] for m in range(len(dims))]
    radix = torch.tensor([classes ** (len(dims) - 1 - m) for m in range(len(dims))], dtype=torch.long)
    equal_noise = len(set(noise)) == 1
    sigma = torch.cat([torch.full((d,), float(s)) for d, s in zip(dims, noise)])
    gathered = torch.empty(min(chunk_rows, n), x.shape[1], dtype=torch.float32)
    for chunk, a in enumerate(range(0, n, chunk_rows)):
        b = min(a + chunk_rows, n)
        block = x[a:b]
        g = _chunk_generator(seed, chunk)
        block.normal_(0.0, float(noise[0]) if equal_noise else 1.0, generator=g)
        if not equal_noise:
            block.mul_(sigma)
        if use_table:
            row = sum(feature_class[m][a:b] * radix[m] for m in range(len(dims)))
            torch.index_select(table, 0, row, out=gathered[: b - a])
            block.add_(gathered[: b - a])
        else:
            for m in range(len(dims)):
                block[:, bounds[m]:bounds[m + 1]].add_(means[m].index_select(0, feature_class[m][a:b]))


def label_features(y: Tensor, opts: SyntheticOptions, generator: torch.Generator):
    """Features for given labels ``y`` (``[N]`` in ``[0, opts.classes)``) under the knobs of ``opts``
    (dims, modality_names, signal, noise, alignment, modality_gap, conflict, conflict_modality,
    conflict_map, conflict_snr, seed).

    Returns ``(x, layout, conflict_mask, feature_class)``: the float32 features, the modality layout,
    which nodes carry another class's signal in the conflict modality, and per modality the class
    whose signal each node carries.
    """
    n, classes = y.numel(), opts.classes
    centres, offsets = modality_centres(opts, generator)
    conflict_m = opts.conflict_index
    n_conflict = int(round(opts.conflict * n))
    conflict_nodes = torch.randperm(n, generator=generator)[:n_conflict]
    other = y.clone()
    class_map = opts.class_map
    if class_map is None:
        shift = torch.randint(1, classes, (n_conflict,), generator=generator)
        other[conflict_nodes] = (y[conflict_nodes] + shift) % classes
    else:
        other[conflict_nodes] = class_map[y[conflict_nodes]]
    feature_class = [other if m == conflict_m else y for m in range(len(opts.dims))]
    x = torch.empty(n, sum(opts.dims), dtype=torch.float32)
    fill_features(x, feature_class, centres, offsets, opts.noise_levels, opts.dims, opts.seed)
    layout, start = {}, 0
    for mname, d in zip(opts.modality_names, opts.dims):
        layout[mname] = (start, start + d)
        start += d
    is_conflict = other != y
    return x, layout, is_conflict, dict(zip(opts.modality_names, feature_class))


def generate(opts: SyntheticOptions, name: str = "synthetic", description: str = "", citation: str = "",
             return_truth: bool = False):
    """Build the graph. With ``return_truth`` also return the ground truth of the generator:
    ``{"conflict_mask": bool [N], "feature_class": {modality: int64 [N]}}`` (the class whose signal
    each modality carries), for diagnostics of gradient conflict."""
    n, classes = opts.num_nodes, opts.classes
    g = torch.Generator().manual_seed(opts.seed)

    sizes = class_sizes(n, classes, opts.imbalance)
    y_sorted = torch.repeat_interleave(torch.arange(classes), sizes)
    node_of_slot = torch.randperm(n, generator=g)           # slot (class-sorted position) -> node id
    y = torch.empty(n, dtype=torch.long)
    y[node_of_slot] = y_sorted

    num_edges = int(round(n * opts.avg_degree / 2))
    edge_index = sbm_edges(node_of_slot, sizes, y, num_edges, opts.homophily, g)

    x, layout, is_conflict, feature_class = label_features(y, opts, g)
    split_seed = int(torch.randint(0, 2**62, (1,), generator=g))

    train_f, val_f, test_f = split_fractions(opts.split, "synthetic option split")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    n_val, n_test = int(round(val_f * n)), int(round(test_f * n))
    n_train = n - n_val - n_test if train_f + val_f + test_f > 1 - 1e-9 else int(round(train_f * n))
    masks = {}
    for split, (a, b) in (("train", (0, n_train)), ("val", (n_train, n_train + n_val)),
                          ("test", (n_train + n_val, n_train + n_val + n_test))):
        mask = torch.zeros(n, dtype=torch.bool)
        mask[perm[a:b]] = True
        masks[f"{split}_mask"] = mask

    metric = opts.metric if opts.metric != "auto" else ("roc_auc" if classes == 2 else "accuracy")
    conflict_name = opts.conflict_modality or opts.modality_names[-1]
    info = {
        "name": name,
        "source": "synthetic",
        "encoder": f"synthetic-{opts.alignment}",
        "provenance": "synthetic",
        "citation": citation or "multimodal contextual SBM (mmgc.datasets.synthetic)",
        "description": description,
        "variant": variant_string(opts),
        "knobs": {
            "nodes": n, "classes": classes, "class_sizes": sizes.tolist(), "imbalance": opts.imbalance,
            "avg_degree": opts.avg_degree, "homophily": opts.homophily, "edges_sampled": num_edges,
            "dims": list(opts.dims), "modality_names": list(opts.modality_names), "signal": list(opts.signal),
            "noise": list(opts.noise_levels), "alignment": opts.alignment, "modality_gap": opts.modality_gap,
            "conflict": opts.conflict, "conflict_modality": conflict_name, "conflict_nodes": int(is_conflict.sum()),
            "conflict_map": None if opts.class_map is None else opts.class_map.tolist(),
            "conflict_snr": opts.conflict_snr,
            "setting": opts.setting, "metric": metric, "split": list(opts.split), "seed": opts.seed,
            "scale": opts.scale,
        },
    }
    graph = MultimodalGraph(
        x=x, edge_index=edge_index, y=y, **masks, modalities=layout, setting=opts.setting, metric=metric,
        info=info, num_classes=classes,
    )
    if return_truth:
        return graph, {"conflict_mask": is_conflict, "feature_class": feature_class}
    return graph


# ---------------------------------------------------------------------------------------- registry
@register_dataset("synthetic", "synthetic",
                  "small multimodal CSBM (3,000 nodes, 6 classes, 128+128 dims, aligned, 20% conflict, inductive)",
                  SyntheticOptions)
def _synthetic(root, options: SyntheticOptions) -> MultimodalGraph:
    return generate(options, "synthetic", "the small default: quick start and tests")


def _preset(name: str, description: str, citation: str, **defaults) -> type:
    """A subclass of `SyntheticOptions` with other defaults (so `variant_string` is relative to them)."""
    hints = {f.name: f.type for f in dataclasses.fields(SyntheticOptions)}
    spec = [(k, hints[k], field(default=v)) for k, v in defaults.items()]
    cls = dataclasses.make_dataclass(
        f"Options_{name.replace('-', '_')}", spec, bases=(SyntheticOptions,), namespace={"__module__": __name__}
    )

    def loader(root, options):
        return generate(options, name, description, citation)

    register_dataset(name, "synthetic", description, cls)(loader)
    return cls


# The conflict testbed: `synthetic` whose image modality carries classes 0<->1 and 2<->3 for every node of
# those classes (class-structured conflict; `synthetic` itself, and its unaligned variant, are the controls).
SyntheticConflict = _preset(
    "synthetic-conflict",
    "conflict testbed: `synthetic` (3,000 nodes, 6 classes, 128+128, aligned) whose image modality carries "
    "classes 0<->1 and 2<->3 for every node of those classes",
    "multimodal contextual SBM (mmgc.datasets.synthetic)", conflict_map="0-1,2-3", conflict=1.0,
)

_PAPER = "shaped like Table 1 of the SR-GM paper"
# Ele-fashion: 97,766 nodes, 199,602 edges (avg degree 4.08), 12 classes, 58,659/9,777/29,330 (60/10/30),
# CLIP 512+512, inductive.
_ELE_FASHION = dict(nodes=97766, classes=12, avg_degree=4.08, dims=(512, 512), split=(0.6, 0.1, 0.3), imbalance=4.0,
                    homophily=0.7, signal=(1.8, 1.8))
SynthEleFashion = _preset(
    "synth-ele-fashion", "Ele-fashion-shaped CSBM: 97,766 nodes, ~199.6k edges, 12 classes, 512+512 dims, inductive",
    _PAPER, **_ELE_FASHION,
)
SynthEleFashionConflict = _preset(
    "synth-ele-fashion-conflict",
    "Ele-fashion-shaped conflict testbed: synth-ele-fashion whose image modality carries classes 0<->1, 2<->3, "
    "4<->5 for every node of those classes",
    _PAPER, **_ELE_FASHION, conflict_map="0-1,2-3,4-5", conflict=1.0,
)
# Goodreads-NC: 685,294 nodes, 7,235,084 edges (avg degree 21.1), 406,689/67,805/203,428 (59.3/9.9/29.7).
SynthGoodreadsNC = _preset(
    "synth-goodreads-nc", "Goodreads-NC-shaped CSBM: 685,294 nodes, ~7.2M edges, 11 classes, 512+512 dims, inductive",
    _PAPER, nodes=685294, classes=11, avg_degree=21.1, dims=(512, 512), split=(0.593, 0.099, 0.297),
    imbalance=4.0, homophily=0.35, signal=(1.2, 1.2),
)
# Amazon-Sports: 31,073 nodes, 351,294 edges (avg degree 22.6), 21,751/4,660/4,662 (70/15/15), ImageBind
# 1024+1024, binary, transductive, ROC-AUC.
SynthAmazonSports = _preset(
    "synth-amazon-sports", "Amazon-Sports-shaped CSBM: 31,073 nodes, ~351k edges, binary, 1024+1024 dims, transductive, ROC-AUC",
    _PAPER, nodes=31073, classes=2, avg_degree=22.6, dims=(1024, 1024), split=(0.7, 0.15, 0.15),
    setting="transductive", metric="roc_auc", imbalance=3.0, homophily=0.58, signal=(0.6, 0.6),
)
# Amazon-Cloth: 84,357 nodes, 1,107,964 edges (avg degree 26.3), 59,049/12,653/12,655 (70/15/15).
SynthAmazonCloth = _preset(
    "synth-amazon-cloth", "Amazon-Cloth-shaped CSBM: 84,357 nodes, ~1.1M edges, binary, 1024+1024 dims, transductive, ROC-AUC",
    _PAPER, nodes=84357, classes=2, avg_degree=26.3, dims=(1024, 1024), split=(0.7, 0.15, 0.15),
    setting="transductive", metric="roc_auc", imbalance=3.0, homophily=0.58, signal=(0.6, 0.6),
)
