"""Planetoid citation graphs (Cora, Citeseer) from the original split files of Kipf & Welling's GCN.

Files ``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}`` (Python pickles written by Python 2,
read with ``encoding="latin1"`` by a restricted unpickler that only admits numpy / scipy sparse /
``collections`` objects). The standard GCN split: the first ``len(y)`` nodes train (Cora 140,
Citeseer 120), the next 500 validate, the 1,000 nodes of ``test.index`` test. Citeseer has test
nodes missing from ``tx`` (isolated nodes); as every loader does, they get zero feature rows; their
labels are unknown, so they are marked unlabelled (-1) rather than given class 0. One modality,
``features``; transductive; accuracy. Features are row-normalised by default (``normalize=true``),
as in the GCN and GCond code.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from mmgc.datasets import register_dataset
from mmgc.datasets._common import masks_from_index, options_dict, require_file, resolve_dir, variant_string
from mmgc.errors import InputError
from mmgc.graph import MultimodalGraph

_CITATION = {
    "cora": "Sen et al. 2008 (Cora); split of Yang et al. 2016 / Kipf & Welling 2017",
    "citeseer": "Giles et al. 1998 (Citeseer); split of Yang et al. 2016 / Kipf & Welling 2017",
}
_EXPECTED_NODES = {"cora": 2708, "citeseer": 3327}


@dataclass
class PlanetoidOptions:
    normalize: bool = True  # row-normalise the bag-of-words features (GCN / GCond preprocessing)


class _RestrictedUnpickler(pickle.Unpickler):
    _ALLOWED_PREFIXES = ("numpy", "scipy.sparse", "collections", "copy_reg", "copyreg", "__builtin__", "builtins")
    _ALLOWED_BUILTINS = {"set", "frozenset", "list", "dict", "tuple", "object", "int", "float", "complex", "slice"}

    def find_class(self, module: str, name: str):
        if module in ("__builtin__", "builtins") and name not in self._ALLOWED_BUILTINS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed")
        if not module.startswith(self._ALLOWED_PREFIXES):
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed")
        if module.startswith("scipy.sparse."):  # old private module paths (scipy.sparse.csr, ...)
            import scipy.sparse

            if hasattr(scipy.sparse, name):
                return getattr(scipy.sparse, name)
        return super().find_class(module, name)


def _read_pickle(path: Path):
    require_file(path)
    try:
        return _RestrictedUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except Exception as exc:
        raise InputError(f"{path}: not a readable Planetoid pickle ({type(exc).__name__}: {exc})") from None


def _dense(obj, path: Path):
    import numpy as np

    if hasattr(obj, "toarray"):
        obj = obj.toarray()
    arr = np.asarray(obj)
    if arr.ndim != 2:
        raise InputError(f"{path}: expected a 2-D matrix, found shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path}: expected a numeric matrix, found dtype {arr.dtype}")
    return arr.astype(np.float32)


def load_planetoid(name: str, root=None, options: PlanetoidOptions | None = None) -> MultimodalGraph:
    import numpy as np

    options = options or PlanetoidOptions()
    base = resolve_dir("planetoid", root, ".", f"ind.{name}.graph", shared_subdir="planetoid")
    files = {part: base / f"ind.{name}.{part}" for part in ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")}
    for path in files.values():
        require_file(path)
    x, y, tx, ty, allx, ally = (_dense(_read_pickle(files[p]), files[p]) for p in ("x", "y", "tx", "ty", "allx", "ally"))
    graph = _read_pickle(files["graph"])
    if not isinstance(graph, dict):
        raise InputError(f"{files['graph']}: expected a dict of adjacency lists, found {type(graph).__name__}")
    try:
        test_index = np.array([int(line) for line in files["test.index"].read_text().split()], dtype=np.int64)
    except ValueError:
        raise InputError(f"{files['test.index']}: expected one integer node id per line") from None

    width, classes = allx.shape[1], ally.shape[1]
    for label, arr, cols in (("x", x, width), ("tx", tx, width), ("y", y, classes), ("ty", ty, classes)):
        if arr.shape[1] != cols:
            raise InputError(f"{files[label]}: expected {cols} columns like allx/ally, found {arr.shape[1]}")
    if tx.shape[0] != ty.shape[0] or tx.shape[0] != test_index.size:
        raise InputError(
            f"{files['tx']}: expected as many rows as ty and test.index ({ty.shape[0]}, {test_index.size}), found {tx.shape[0]}"
        )
    if allx.shape[0] != ally.shape[0]:
        raise InputError(f"{files['allx']}: expected as many rows as ally ({ally.shape[0]}), found {allx.shape[0]}")

    # Test nodes follow allx; Citeseer has ids missing from test.index (isolated): pad with zeros.
    low, high = int(test_index.min()), int(test_index.max())
    if low != allx.shape[0]:
        raise InputError(f"{files['test.index']}: expected test ids to start right after allx ({allx.shape[0]}), found {low}")
    span = high - low + 1
    tx_full = np.zeros((span, width), dtype=np.float32)
    ty_full = np.zeros((span, classes), dtype=np.float32)
    tx_full[test_index - low] = tx
    ty_full[test_index - low] = ty
    features = np.vstack([allx, tx_full])
    onehot = np.vstack([ally, ty_full])
    n = features.shape[0]

    labels = np.where(onehot.sum(axis=1) > 0, onehot.argmax(axis=1), -1).astype(np.int64)

    rows, cols = [], []
    for node, neighbours in graph.items():
        for other in neighbours:
            rows.append(int(node))
            cols.append(int(other))
    edge_index = torch.tensor([rows, cols], dtype=torch.long)
    if edge_index.numel() and int(edge_index.max()) >= n:
        # the graph dict knows every node; a larger id means the feature files are short
        raise InputError(f"{files['graph']}: node ids must lie in [0, {n}), found {int(edge_index.max())}")

    xt = torch.from_numpy(features)
    if options.normalize:
        rowsum = xt.sum(dim=1, keepdim=True)
        xt = torch.where(rowsum > 0, xt / rowsum.clamp_min(1e-12), xt)
    n_train = y.shape[0]
    masks = masks_from_index(
        n,
        train=torch.arange(n_train),
        val=torch.arange(n_train, n_train + 500),
        test=torch.from_numpy(np.sort(test_index)),
    )
    info = {
        "name": name,
        "source": "planetoid",
        "encoder": "bag-of-words" + (" (row-normalised)" if options.normalize else ""),
        "provenance": "real",
        "citation": _CITATION.get(name, "Planetoid (Yang et al. 2016)"),
        "split": "standard GCN split (Kipf & Welling 2017)",
        "files": str(base),
        "variant": variant_string(options),
        "options": options_dict(options),
    }
    if span > tx.shape[0]:
        info["note"] = f"{span - tx.shape[0]} isolated test-range nodes padded with zero features, unlabelled (-1)"
    return MultimodalGraph(
        x=xt, edge_index=edge_index, y=torch.from_numpy(labels), **masks,
        modalities={"features": (0, width)}, setting="transductive", metric="accuracy", info=info,
        num_classes=classes,
    )


@register_dataset("cora", "planetoid", "Cora citation graph (2,708 nodes, 7 classes), standard GCN split", PlanetoidOptions)
def _cora(root, options):
    return load_planetoid("cora", root, options)


@register_dataset("citeseer", "planetoid", "Citeseer citation graph (3,327 nodes, 6 classes), standard GCN split",
                  PlanetoidOptions)
def _citeseer(root, options):
    return load_planetoid("citeseer", root, options)
