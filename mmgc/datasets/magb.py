"""MAGB (Multimodal Attributed Graph Benchmark, Yan et al. 2024): Toys and Grocery.

Files, under ``--root`` (or ``$MMGC_MAGB_ROOT``, ``$MMGC_DATA/magb``, then ``../shared/data/magb``),
in the published layout ``<Name>/``:

- ``<Name>Graph.pt``: DGL ``save_graphs`` binary (read by `mmgc.datasets._dgl`, no DGL needed), one
  graph, ``ndata['label']``, directed ``also_view``/``also_buy`` edges (made undirected here);
- ``TextFeature/*.npy`` and ``ImageFeature/*.npy``: ``[N, d]`` float, row i = node i. With several
  files in a folder, pick one with ``text_feature=`` / ``image_feature=`` (a file name in the folder
  or a path).

Split: MAGB's own, a seed-42 shuffle of all nodes (numpy's legacy ``np.random.seed(42);
np.random.shuffle``), first 60% train, next 20% validation, the rest test. Transductive; accuracy.

The real graphs of this project carry no feature files. ``features="synthetic"`` attaches generated
text and image features conditioned on the real labels (the synthetic CSBM's feature model: class
embeddings, ``alignment``, ``conflict``, ``conflict_map``, ``conflict_snr``, per-modality
``signal``/``noise``, ``modality_gap``), and the dataset is then named ``magb-toys+synthfeat`` / ``magb-grocery+synthfeat`` with provenance
``real-topology+synthetic-features``; those names are registered too, with synthetic features as
their default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch

from mmgc.datasets import register_dataset
from mmgc.datasets._common import (
    check_labels, masks_from_index, options_dict, read_npy_features, resolve_dir, split_fractions, variant_string,
)
from mmgc.datasets._dgl import load_graphs
from mmgc.datasets.synthetic import SyntheticOptions, label_features
from mmgc.errors import InputError
from mmgc.graph import MultimodalGraph

CITATION = "Yan et al. 2024, When Graph meets Multimodal: Benchmarking and Meditating on Multimodal Attributed Graph Learning (MAGB)"
SYNTH_SUFFIX = "+synthfeat"
_SYNTH_KNOBS = ("dims", "signal", "noise", "alignment", "modality_gap", "conflict", "conflict_map", "conflict_snr",
                "feature_seed")


@dataclass
class MAGBOptions:
    features: Literal["files", "synthetic"] = "files"
    text_feature: Optional[str] = None    # file in TextFeature/ (or a path); needed when there are several
    image_feature: Optional[str] = None   # file in ImageFeature/ (or a path)
    split: tuple[float, ...] = (0.6, 0.2, 0.2)
    split_seed: int = 42
    # features="synthetic" only: the synthetic CSBM's feature knobs (see mmgc.datasets.synthetic)
    dims: tuple[int, ...] = (256, 256)
    signal: tuple[float, ...] = (1.5, 1.5)
    noise: Optional[tuple[float, ...]] = None
    alignment: Literal["aligned", "unaligned"] = "aligned"
    modality_gap: float = 3.0
    conflict: float = 0.2
    conflict_map: Optional[str] = None  # class permutation of the image modality ("0-1,2-3"); default: random other class
    conflict_snr: float = 1.0           # multiplies the image modality's signal
    feature_seed: int = 0

    def __post_init__(self) -> None:
        split_fractions(self.split, "magb option split")
        if self.features == "files":
            defaults = {f.name: f.default for f in dataclasses.fields(MAGBOptions)}
            for knob in _SYNTH_KNOBS:
                if getattr(self, knob) != defaults[knob]:
                    raise InputError(f"magb option {knob}: only applies with features=synthetic, found features=files")
        elif self.text_feature or self.image_feature:
            raise InputError("magb option text_feature/image_feature: only applies with features=files")


def _synthfeat_options() -> type:
    spec = [(f.name, f.type, field(default=("synthetic" if f.name == "features" else f.default)))
            for f in dataclasses.fields(MAGBOptions)]
    return dataclasses.make_dataclass("MAGBSynthFeatOptions", spec, bases=(MAGBOptions,),
                                      namespace={"__module__": __name__})


MAGBSynthFeatOptions = _synthfeat_options()


def magb_split(n: int, fractions, seed: int) -> dict[str, torch.Tensor]:
    """MAGB's split: ``np.random.seed(seed); np.random.shuffle(arange(n))``, cut at int(n*train),
    int(n*(train+val)); the rest (up to the test fraction) is test."""
    train_f, val_f, test_f = split_fractions(fractions, "magb option split")
    node_id = np.arange(n)
    np.random.RandomState(seed).shuffle(node_id)
    a, b = int(n * train_f), int(n * (train_f + val_f))
    c = n if train_f + val_f + test_f > 1 - 1e-9 else b + int(n * test_f)
    parts = {"train": node_id[:a], "val": node_id[a:b], "test": node_id[b:c]}
    for name, idx in parts.items():
        if idx.size == 0:
            raise InputError(f"magb option split: the {name} split is empty ({n} nodes, fractions {list(fractions)})")
    return masks_from_index(n, **{k: torch.from_numpy(np.sort(v)) for k, v in parts.items()})


def _feature_file(folder: Path, sub: str, choice: str | None, option: str) -> Path:
    if choice:
        path = Path(choice).expanduser()
        path = path if path.is_absolute() or path.exists() else folder / sub / choice
        if not path.is_file():
            raise InputError(f"{path}: file not found (option {option})")
        return path
    candidates = sorted((folder / sub).glob("*.npy"))
    if not candidates:
        raise InputError(
            f"{folder / sub}: no .npy feature file found; MAGB features are separate downloads "
            f"(or use features=synthetic)"
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise InputError(f"{folder / sub}: several feature files ({names}); choose one with option {option}=NAME")
    return candidates[0]


def _synthetic_features(y: torch.Tensor, classes: int, options: MAGBOptions):
    opts = SyntheticOptions(
        nodes=y.numel(), classes=classes, dims=options.dims, signal=options.signal, noise=options.noise,
        alignment=options.alignment, modality_gap=options.modality_gap, conflict=options.conflict,
        conflict_map=options.conflict_map, conflict_snr=options.conflict_snr, seed=options.feature_seed,
        modality_names=("text", "image") if len(options.dims) == 2 else tuple(
            f"m{i}" for i in range(len(options.dims))),
    )
    x, layout, is_conflict, _ = label_features(y, opts, torch.Generator().manual_seed(options.feature_seed))
    knobs = {"dims": list(opts.dims), "signal": list(opts.signal), "noise": list(opts.noise_levels),
             "alignment": opts.alignment, "modality_gap": opts.modality_gap, "conflict": opts.conflict,
             "conflict_modality": opts.modality_names[-1], "conflict_nodes": int(is_conflict.sum()),
             "conflict_map": None if opts.class_map is None else opts.class_map.tolist(),
             "conflict_snr": opts.conflict_snr, "feature_seed": options.feature_seed}
    return x, layout, knobs


def load_magb(key: str, folder_name: str, root, options: MAGBOptions, registered: str) -> MultimodalGraph:
    folder = resolve_dir("magb", root, folder_name, f"{folder_name}Graph.pt")
    graph_path = folder / f"{folder_name}Graph.pt"
    graphs, _ = load_graphs(graph_path)
    if len(graphs) != 1:
        raise InputError(f"{graph_path}: expected one graph, found {len(graphs)}")
    dg = graphs[0]
    if len(dg.num_nodes) != 1 or len(dg.edges) != 1:
        raise InputError(
            f"{graph_path}: expected a homogeneous graph (one node and one edge type), found "
            f"{len(dg.num_nodes)} node types and {len(dg.edges)} edge types"
        )
    n = int(dg.num_nodes[0])
    if "label" not in dg.ndata[0]:
        raise InputError(f"{graph_path}: expected ndata['label'], found {sorted(dg.ndata[0])}")
    y = check_labels(torch.from_numpy(dg.ndata[0]["label"].astype(np.int64, copy=False)), f"{graph_path} ndata['label']", n)
    if int(y.min()) < 0:
        raise InputError(f"{graph_path}: ndata['label']: expected every node labelled, found label {int(y.min())}")
    classes = int(y.max()) + 1
    src, dst = dg.edges[0]
    edge_index = torch.stack([torch.from_numpy(src), torch.from_numpy(dst)])
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise InputError(f"{graph_path}: edge node ids must lie in [0, {n}), found [{int(edge_index.min())}, "
                         f"{int(edge_index.max())}]")

    synthetic = options.features == "synthetic"
    name = f"{key}{SYNTH_SUFFIX}" if synthetic else key
    info = {"name": name, "source": "magb", "citation": CITATION, "files": str(folder),
            "directed_edges_in_file": int(src.size), "split": f"MAGB: seed-{options.split_seed} shuffle, "
            f"{'/'.join(str(round(100 * f)) for f in options.split)}"}
    if synthetic:
        x, layout, knobs = _synthetic_features(y, classes, options)
        info.update(encoder=f"synthetic-{options.alignment}", provenance="real-topology+synthetic-features",
                    knobs=knobs, note="real MAGB topology and labels; text/image features generated from the labels")
    else:
        text_path = _feature_file(folder, "TextFeature", options.text_feature, "text_feature")
        image_path = _feature_file(folder, "ImageFeature", options.image_feature, "image_feature")
        xt, xi = read_npy_features(text_path, n), read_npy_features(image_path, n)
        x = torch.cat([xt, xi], dim=1)
        layout = {"text": (0, xt.shape[1]), "image": (xt.shape[1], x.shape[1])}
        info.update(encoder=f"text={text_path.stem}, image={image_path.stem}", provenance="real")
    info["variant"] = variant_string(options, ignore=("features",))  # the name already says +synthfeat
    info["options"] = options_dict(options)
    return MultimodalGraph(
        x=x, edge_index=edge_index, y=y, **magb_split(n, options.split, options.split_seed), modalities=layout,
        setting="transductive", metric="accuracy", info=info, num_classes=classes,
    )


def _register(key: str, folder: str, nodes: str, classes: int) -> None:
    @register_dataset(key, "magb", f"MAGB {folder} ({nodes} nodes, {classes} classes); features from "
                      "TextFeature/ImageFeature .npy files (or features=synthetic)", MAGBOptions)
    def _files(root, options):
        return load_magb(key, folder, root, options, key)

    @register_dataset(f"{key}{SYNTH_SUFFIX}", "magb", f"MAGB {folder}: real topology and labels, synthetic "
                      "text/image features (provenance real-topology+synthetic-features)", MAGBSynthFeatOptions)
    def _synth(root, options):
        if options.features != "synthetic":
            raise InputError(f"{key}{SYNTH_SUFFIX}: features is fixed to synthetic; use {key} for the published feature files")
        return load_magb(key, folder, root, options, f"{key}{SYNTH_SUFFIX}")


_register("magb-toys", "Toys", "20,695", 18)
_register("magb-grocery", "Grocery", "17,074", 20)
