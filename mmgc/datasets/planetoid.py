"""Planetoid citation graphs (Cora, Citeseer) from the original split files of Kipf & Welling's GCN.

Files ``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}`` (Python pickles written by Python 2,
read with ``encoding="latin1"``). A pickle can call any function it names, so a data folder someone
shared could run code; the unpickler here admits exactly what these files hold, by name: numpy
arrays rebuilt from their bytes, the state of a scipy CSR matrix (kept as plain data, never a scipy
object: its arrays are checked and turned into a dense matrix with numpy) and the adjacency dict
(``collections.defaultdict(list)``). Everything else, loaders of other files included, is refused. The standard GCN split: the first ``len(y)`` nodes train (Cora 140,
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


class _CSRState:
    """The pickled state of a ``scipy.sparse.csr_matrix``, kept as plain data (`_csr_to_dense` reads it)."""

    def __setstate__(self, state) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"a CSR matrix's state must be a dict, found {type(state).__name__}")
        self.state = state


def _array(subtype, shape, dtype):
    """numpy's ``_reconstruct`` for plain arrays only (the bytes follow in the pickle's BUILD)."""
    import numpy as np

    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"expected a numpy array, found a {subtype!r}")
    return np.ndarray(shape, dtype=dtype)


def _adjacency(*factory) -> dict:
    """``collections.defaultdict(list)``, the adjacency lists, as a plain dict."""
    if factory not in ((), (list,)):
        raise pickle.UnpicklingError("expected defaultdict(list) for the adjacency lists")
    return {}


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """``_codecs.encode(text, 'latin1')``: how Python 3 pickles bytes (an array's raw data) at protocol 2."""
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"expected latin1-encoded bytes, found encoding {encoding!r}")
    return text.encode("latin1")


class _PlanetoidUnpickler(pickle.Unpickler):
    """Admits exactly the globals of the Planetoid files, each mapped to a constructor of data."""

    def find_class(self, module: str, name: str):
        import numpy as np

        admitted = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _array,
            ("numpy._core.multiarray", "_reconstruct"): _array,
            ("scipy.sparse.csr", "csr_matrix"): _CSRState,
            ("scipy.sparse._csr", "csr_matrix"): _CSRState,
            ("scipy.sparse", "csr_matrix"): _CSRState,
            ("collections", "defaultdict"): _adjacency,
            ("__builtin__", "list"): list,
            ("builtins", "list"): list,
            ("_codecs", "encode"): _latin1_bytes,
        }
        if (module, name) not in admitted:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a Planetoid file")
        return admitted[module, name]


def _read_pickle(path: Path):
    require_file(path)
    try:
        return _PlanetoidUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except Exception as exc:
        raise InputError(f"{path}: not a readable Planetoid pickle ({type(exc).__name__}: {exc})") from None


def _csr_to_dense(matrix: _CSRState, path: Path):
    """The dense matrix of a CSR state, its index arrays checked first (bad indices are an error,
    never an out-of-bounds write)."""
    import numpy as np

    state = getattr(matrix, "state", {})
    shape = state.get("_shape", state.get("shape"))
    try:
        rows, cols = (int(v) for v in shape)
        data, indices, indptr = (np.asarray(state[k]) for k in ("data", "indices", "indptr"))
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{path}: expected a CSR matrix (shape, data, indices, indptr)") from None
    if not (indices.dtype.kind in "iu" and indptr.dtype.kind in "iu" and data.dtype.kind in "biuf"):
        raise InputError(f"{path}: expected integer CSR indices and numeric data")
    counts = np.diff(indptr.astype(np.int64))
    if (rows < 0 or cols < 0 or indptr.shape != (rows + 1,) or indptr[0] != 0 or (counts < 0).any()
            or indptr[-1] != indices.size or indices.shape != data.shape or indices.ndim != 1
            or (indices.size and (indices.min() < 0 or indices.max() >= cols))):
        raise InputError(f"{path}: inconsistent CSR matrix of shape ({rows}, {cols})")
    dense = np.zeros((rows, cols), dtype=np.float32)
    np.add.at(dense, (np.repeat(np.arange(rows), counts), indices.astype(np.int64)), data.astype(np.float32))
    return dense


def _dense(obj, path: Path):
    import numpy as np

    if isinstance(obj, _CSRState):
        return _csr_to_dense(obj, path)
    if not isinstance(obj, np.ndarray):
        raise InputError(f"{path}: expected a numpy array or a CSR matrix, found {type(obj).__name__}")
    arr = obj
    if arr.ndim != 2:
        raise InputError(f"{path}: expected a 2-D matrix, found shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path}: expected a numeric matrix, found dtype {arr.dtype}")
    return arr.astype(np.float32)


def load_planetoid(name: str, root=None, options: PlanetoidOptions | None = None) -> MultimodalGraph:
    import numpy as np

    options = options or PlanetoidOptions()
    base = resolve_dir("planetoid", root, ".", f"ind.{name}.graph")
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
    if test_index.size == 0:
        raise InputError(f"{files['test.index']}: expected one integer node id per line, found none")

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
    try:
        for node, neighbours in graph.items():
            for other in neighbours:
                rows.append(int(node))
                cols.append(int(other))
    except (TypeError, ValueError):
        raise InputError(f"{files['graph']}: expected a dict of adjacency lists of integer node ids") from None
    edge_index = torch.tensor([rows, cols], dtype=torch.long)
    if edge_index.numel() and not 0 <= int(edge_index.min()) <= int(edge_index.max()) < n:
        # the graph dict knows every node; a larger id means the feature files are short
        raise InputError(f"{files['graph']}: node ids must lie in [0, {n}), found "
                         f"{int(edge_index.min())} .. {int(edge_index.max())}")

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
