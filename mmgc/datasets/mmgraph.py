"""MM-GRAPH (Zhu et al. 2024, "Multimodal Graph Benchmark") read from its published files.

Nothing is downloaded: point ``--root`` (or ``$MMGC_MMGRAPH_ROOT``, or ``$MMGC_DATA/mmgraph``) at the
folder that holds the dataset folders (or at one dataset folder itself).

Node classification (``ele-fashion``, ``books-nc`` = the paper's Goodreads-NC), folder ``<name>/``:

- ``nc_edges-nodeid.pt``: edges ``[E, 2]`` int64;
- ``{clip,imagebind,t5vit,t5dino}_feat.pt``: features ``[N, D]`` float, first half text, second half
  image (option ``encoder``; ``clip``/``imagebind`` are aligned joint spaces, ``t5vit``/``t5dino``
  unaligned; ``text_dim`` moves the split point if a file's halves differ);
- ``labels-w-missing.pt``: ``[N]`` int64, -1 = unlabelled;
- ``split.pt``: ``{"train_idx", "val_idx", "test_idx"}``.

Amazon (``amazon-sports``, ``amazon-cloth``): MM-GRAPH publishes these only as link-prediction folders
(``sports-copurchase``, ``cloth-copurchase``: the same feature files plus ``lp-edge-split.pt``, a dict
``train``/``valid``/``test`` of ``source_node``/``target_node``). The SR-GM paper's binary node
labels (review rating >= 4 positive, < 2 negative) are not published there, so the loader takes the
features and all edges of the three edge splits, reads node labels from a file the user gives
(option ``labels``: ``.pt`` or ``.npy``, int64 per node, -1 unlabelled), and splits the labelled nodes
transductively with a seeded permutation (``split``, default 70/15/15 as in Table 1; ``split_seed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch

from mmgc.datasets import register_dataset
from mmgc.datasets._common import (
    as_tensor, check_edge_list, check_feature_matrix, check_index, check_labels, load_pt, masks_from_index,
    options_dict, random_split, require_file, resolve_dir, split_fractions, variant_string,
)
from mmgc.errors import InputError
from mmgc.graph import MultimodalGraph

CITATION = "Zhu et al. 2024, Multimodal Graph Benchmark (MM-GRAPH), https://mm-graph-benchmark.github.io"
ENCODERS = ("clip", "imagebind", "t5vit", "t5dino")
ALIGNED = {"clip": "aligned", "imagebind": "aligned", "t5vit": "unaligned", "t5dino": "unaligned"}
AMAZON_NOTE = (
    "MM-GRAPH publishes Amazon sports/cloth only for link prediction; node labels come from the user's file "
    "(the SR-GM paper's rating-based labels are not published) and the split is a seeded transductive split"
)


@dataclass
class MMGraphNCOptions:
    encoder: Literal["clip", "imagebind", "t5vit", "t5dino"] = "clip"
    text_dim: Optional[int] = None  # columns of the text half; None = half of the features
    setting: Literal["inductive", "transductive"] = "inductive"


@dataclass
class MMGraphAmazonOptions:
    labels: Optional[str] = None    # path of the node-label file (int64 per node, -1 = unlabelled)
    encoder: Literal["clip", "imagebind", "t5vit", "t5dino"] = "imagebind"
    text_dim: Optional[int] = None
    split: tuple[float, ...] = (0.7, 0.15, 0.15)
    split_seed: int = 0
    edge_split_file: Optional[str] = None  # default: lp-edge-split.pt (or -hard / -random)

    def __post_init__(self) -> None:
        split_fractions(self.split, "amazon option split")


def _layout(width: int, text_dim: int | None, path: Path) -> dict[str, tuple[int, int]]:
    if text_dim is None:
        if width % 2:
            raise InputError(
                f"{path}: feature width {width} does not match the modality layout (text half + image half); "
                "expected an even width or option text_dim"
            )
        text_dim = width // 2
    if not 0 < text_dim < width:
        raise InputError(
            f"{path}: feature width {width} does not match the modality layout; expected 0 < text_dim < {width}, "
            f"found text_dim={text_dim}"
        )
    return {"text": (0, text_dim), "image": (text_dim, width)}


def _features(folder: Path, encoder: str, text_dim: int | None):
    path = require_file(folder / f"{encoder}_feat.pt")
    x = check_feature_matrix(as_tensor(load_pt(path), path, "features"), path)
    return x, _layout(x.shape[1], text_dim, path), path


def _load_labels_file(path: Path, n: int) -> torch.Tensor:
    require_file(path)
    if path.suffix == ".npy":
        import numpy as np

        try:
            value = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"{path}: not a readable .npy array ({type(exc).__name__})") from None
    else:
        value = load_pt(path)
    return check_labels(as_tensor(value, path, "labels"), path, n)


def load_nc(name: str, root, options: MMGraphNCOptions) -> MultimodalGraph:
    folder = resolve_dir("mmgraph", root, name, "nc_edges-nodeid.pt")
    x, layout, feat_path = _features(folder, options.encoder, options.text_dim)
    n = x.shape[0]
    edge_path = folder / "nc_edges-nodeid.pt"
    edges = check_edge_list(as_tensor(load_pt(edge_path), edge_path, "edges"), edge_path, n)
    label_path = require_file(folder / "labels-w-missing.pt")
    y = check_labels(as_tensor(load_pt(label_path), label_path, "labels"), label_path, n)
    split_path = require_file(folder / "split.pt")
    split = load_pt(split_path)
    if not isinstance(split, dict):
        raise InputError(f"{split_path}: expected a dict with train_idx, val_idx, test_idx, found {type(split).__name__}")
    idx, dropped = {}, 0
    for part in ("train", "val", "test"):
        key = f"{part}_idx"
        if key not in split:
            raise InputError(f"{split_path}: expected key {key!r}, found keys {sorted(map(str, split))}")
        t = check_index(as_tensor(split[key], split_path, key).reshape(-1), split_path, key, n)
        labelled = y[t] >= 0
        dropped += int((~labelled).sum())
        t = t[labelled]
        if t.numel() == 0:
            raise InputError(f"{split_path}: {key} is empty (no labelled node); expected at least one")
        idx[part] = t
    info = {
        "name": name, "source": "mmgraph", "encoder": options.encoder,
        "alignment": ALIGNED[options.encoder], "provenance": "real", "citation": CITATION,
        "files": str(folder), "variant": variant_string(options), "options": options_dict(options),
    }
    if dropped:
        info["note"] = f"{dropped} unlabelled nodes listed in split.pt were left out of the splits"
    return MultimodalGraph(
        x=x, edge_index=edges, y=y, **masks_from_index(n, **idx), modalities=layout, setting=options.setting,
        metric="accuracy", info=info,
    )


def _edge_split_file(folder: Path, given: str | None) -> Path:
    if given:
        return require_file(folder / given if not Path(given).is_absolute() else Path(given))
    for candidate in ("lp-edge-split.pt", "lp-edge-split-hard.pt", "lp-edge-split-random.pt"):
        if (folder / candidate).is_file():
            return folder / candidate
    raise InputError(f"{folder / 'lp-edge-split.pt'}: file not found (nor lp-edge-split-hard.pt / -random.pt)")


def load_amazon(name: str, folder_name: str, root, options: MMGraphAmazonOptions) -> MultimodalGraph:
    folder = resolve_dir("mmgraph", root, folder_name, f"{options.encoder}_feat.pt")
    x, layout, feat_path = _features(folder, options.encoder, options.text_dim)
    n = x.shape[0]
    split_path = _edge_split_file(folder, options.edge_split_file)
    lp = load_pt(split_path)
    if not isinstance(lp, dict):
        raise InputError(f"{split_path}: expected a dict with train/valid/test, found {type(lp).__name__}")
    parts = []
    for part in ("train", "valid", "test"):
        entry = lp.get(part)
        if not isinstance(entry, dict) or "source_node" not in entry or "target_node" not in entry:
            raise InputError(f"{split_path}: expected {part!r} to be a dict with source_node and target_node")
        src = check_index(as_tensor(entry["source_node"], split_path, f"{part}.source_node").reshape(-1),
                          split_path, f"{part}.source_node", n)
        dst = check_index(as_tensor(entry["target_node"], split_path, f"{part}.target_node").reshape(-1),
                          split_path, f"{part}.target_node", n)
        if src.numel() != dst.numel():
            raise InputError(
                f"{split_path}: {part}.source_node and target_node differ in length ({src.numel()} vs {dst.numel()})"
            )
        parts.append(torch.stack([src, dst]))
    edge_index = torch.cat(parts, dim=1)
    if options.labels is None:
        raise InputError(
            f"{name}: node labels are not published by MM-GRAPH; expected option labels=FILE "
            "(.pt or .npy, int64 per node, -1 = unlabelled), found none"
        )
    label_path = Path(options.labels).expanduser()
    if not label_path.is_absolute() and not label_path.exists() and (folder / label_path).exists():
        label_path = folder / label_path  # a file kept beside the dataset's own files
    y = _load_labels_file(label_path, n)
    if y.numel() and int(y.max()) > 1:
        raise InputError(f"{label_path}: expected binary labels 0/1 (-1 = unlabelled), found label {int(y.max())}")
    labelled = (y >= 0).nonzero()[:, 0]
    if labelled.numel() == 0:
        raise InputError(f"{label_path}: expected labelled nodes, found every label -1")
    masks = random_split(labelled, options.split, options.split_seed, f"{name} option split", n)
    info = {
        "name": name, "source": "mmgraph", "encoder": options.encoder, "alignment": ALIGNED[options.encoder],
        "provenance": "real", "citation": CITATION, "files": str(folder), "labels_file": str(label_path),
        "note": AMAZON_NOTE, "variant": variant_string(options, ignore=("labels",)),
        "options": options_dict(options),
    }
    return MultimodalGraph(
        x=x, edge_index=edge_index, y=y, **masks, modalities=layout, setting="transductive", metric="roc_auc",
        info=info, num_classes=2,
    )


@register_dataset("ele-fashion", "mmgraph", "MM-GRAPH Ele-fashion (97,766 nodes, 12 classes), published split, inductive",
                  MMGraphNCOptions)
def _ele_fashion(root, options):
    return load_nc("ele-fashion", root, options)


@register_dataset("books-nc", "mmgraph",
                  "MM-GRAPH Goodreads-NC (685,294 nodes), published split, inductive", MMGraphNCOptions)
def _books_nc(root, options):
    return load_nc("books-nc", root, options)


@register_dataset("amazon-sports", "mmgraph",
                  "MM-GRAPH sports-copurchase features+edges; binary labels from your file (not published), ROC-AUC",
                  MMGraphAmazonOptions)
def _amazon_sports(root, options):
    return load_amazon("amazon-sports", "sports-copurchase", root, options)


@register_dataset("amazon-cloth", "mmgraph",
                  "MM-GRAPH cloth-copurchase features+edges; binary labels from your file (not published), ROC-AUC",
                  MMGraphAmazonOptions)
def _amazon_cloth(root, options):
    return load_amazon("amazon-cloth", "cloth-copurchase", root, options)
