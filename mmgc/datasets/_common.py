"""Helpers shared by the dataset sources: where the files are, safe file reading, input checks,
seeded splits and the dataset-variant string. Every failure is an `InputError` with one line that
names the file or option, what was expected and what was found."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from mmgc.errors import InputError

DATA_ENV = "MMGC_DATA"
"""Root holding one sub-folder per source: ``$MMGC_DATA/{mmgraph,magb,planetoid}``."""

SOURCE_ENV = {
    "mmgraph": "MMGC_MMGRAPH_ROOT",
    "magb": "MMGC_MAGB_ROOT",
    "planetoid": "MMGC_PLANETOID_ROOT",
    "lastfm": "MMGC_LASTFM_ROOT",
}
"""Per-source overrides of the root (take precedence over ``MMGC_DATA``)."""

SHARED_SUBDIR = {"magb": "magb", "planetoid": "planetoid", "lastfm": "lastfm-2k"}
"""Each source's folder under ``../shared/data`` (the project's read-only copies; MM-GRAPH has none)."""


def lookup_order(source: str) -> str:
    """Where a source's files are looked for, in order (what ``mmgc datasets list`` prints)."""
    if source not in SOURCE_ENV:
        return "generated (no files)"
    places = ["--root", f"${SOURCE_ENV[source]}", f"${DATA_ENV}/{source}"]
    if source in SHARED_SUBDIR:
        places.append(f"../shared/data/{SHARED_SUBDIR[source]}")
    return ", ".join(places) + ("" if source in SHARED_SUBDIR else " (never downloaded)")


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the repository (the read-only real data of this project), if any."""
    candidates = [Path(__file__).resolve().parents[3] / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for path in candidates:
        if path.is_dir():
            return path
    return None


def resolve_dir(source: str, root: str | os.PathLike | None, folder: str, marker: str) -> Path:
    """The directory that holds ``marker`` for dataset folder ``folder`` of ``source``.

    ``root`` (``--root``) may be the dataset folder itself or its parent. Without ``root`` the places
    of `lookup_order` are tried: the per-source variable (`SOURCE_ENV`), then ``$MMGC_DATA/<source>``,
    then the source's folder under ``../shared/data`` (`SHARED_SUBDIR`). Never downloads anything.
    """
    shared_subdir = SHARED_SUBDIR.get(source)
    tried: list[str] = []
    if root is not None:
        bases = [(Path(root).expanduser(), "--root")]
    else:
        bases = []
        env = SOURCE_ENV.get(source)
        if env and os.environ.get(env):
            bases.append((Path(os.environ[env]).expanduser(), f"${env}"))
        if os.environ.get(DATA_ENV):
            bases.append((Path(os.environ[DATA_ENV]).expanduser() / source, f"${DATA_ENV}/{source}"))
        shared = shared_data_dir()
        if shared is not None and shared_subdir is not None:
            bases.append((shared / shared_subdir, "../shared/data"))
    for base, how in bases:
        for candidate in (base / folder, base):
            if (candidate / marker).exists():
                return candidate
        tried.append(f"{base} ({how})")
    if not bases:
        env = SOURCE_ENV.get(source, DATA_ENV)
        raise InputError(
            f"{source}: no data directory given; expected --root DIR or ${env} (or ${DATA_ENV}/{source}) "
            f"pointing at a folder that holds {folder}/{marker}; found none (mmgc never downloads)"
        )
    raise InputError(f"{source}: file {folder}/{marker} not found under {', '.join(tried)}")


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return path


def load_pt(path: Path) -> Any:
    """``torch.load`` a published file on the CPU: tensors, lists, dicts, or numpy arrays."""
    require_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as first:  # numpy arrays need their reconstructors allow-listed
        try:
            import numpy as np

            from numpy._core.multiarray import _reconstruct

            # numpy 1.x pickles name numpy.core.multiarray, numpy 2.x numpy._core.multiarray
            allowed: list = [np.ndarray, np.dtype, _reconstruct,
                             (_reconstruct, "numpy.core.multiarray._reconstruct")]
            allowed += [type(np.dtype(t)) for t in ("int64", "int32", "float32", "float64", "float16", "bool", "uint8")]
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            raise InputError(
                f"{path}: not a readable torch file of tensors/arrays ({type(first).__name__}: "
                f"{str(first).splitlines()[0][:160] if str(first) else ''})"
            ) from None


def as_tensor(value: Any, path: Path | str, what: str) -> Tensor:
    """A tensor from a tensor, numpy array or (nested) list; anything else is an error."""
    if isinstance(value, Tensor):
        return value
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(value))
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, (list, tuple)):
        try:
            return torch.tensor(value)
        except (TypeError, ValueError):
            pass
    raise InputError(f"{path}: expected {what} as a tensor or array, found {type(value).__name__}")


def check_index(t: Tensor, path: Path | str, what: str, n: int | None = None) -> Tensor:
    """An integer index vector in ``[0, n)``."""
    if t.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8) or t.dim() != 1:
        raise InputError(f"{path}: expected {what} as a 1-D int64 index, found dtype {t.dtype} shape {tuple(t.shape)}")
    t = t.long()
    if n is not None and t.numel() and (int(t.min()) < 0 or int(t.max()) >= n):
        raise InputError(f"{path}: {what} must lie in [0, {n}), found range [{int(t.min())}, {int(t.max())}]")
    return t


def check_edge_list(t: Tensor, path: Path | str, n: int) -> Tensor:
    """Edges as ``[E, 2]`` (or ``[2, E]``) integers in ``[0, n)``; returns ``[2, E]`` int64."""
    if t.dim() != 2 or 2 not in t.shape:
        raise InputError(f"{path}: expected an edge list of shape [E, 2], found shape {tuple(t.shape)}")
    if t.is_floating_point() or t.dtype == torch.bool or t.is_complex():
        raise InputError(f"{path}: expected integer node ids (int64), found dtype {t.dtype}")
    t = t.long()
    t = t.t() if t.shape[1] == 2 else t
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n):
        raise InputError(
            f"{path}: edge node ids must lie in [0, {n}) (the feature rows), found range [{int(t.min())}, {int(t.max())}]"
        )
    return t.contiguous()


def check_feature_matrix(x: Tensor, path: Path | str, n: int | None = None, width: int | None = None,
                         layout: str = "") -> Tensor:
    """A finite float matrix ``[n, width]`` (returned as float32)."""
    if x.dim() != 2:
        raise InputError(f"{path}: expected a float feature matrix [N, d], found shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{path}: expected floating-point features, found dtype {x.dtype}")
    if n is not None and x.shape[0] != n:
        raise InputError(f"{path}: expected {n} feature rows (one per node), found {x.shape[0]}")
    if width is not None and x.shape[1] != width:
        raise InputError(f"{path}: expected {width} feature columns{layout}, found {x.shape[1]}")
    x = x.float()
    finite = torch.isfinite(x).all(dim=1)
    if not bool(finite.all()):
        bad = (~finite).nonzero()[:, 0]
        raise InputError(f"{path}: expected finite features, found NaN/Inf in {bad.numel()} rows (first row {int(bad[0])})")
    return x


def read_npy_features(path: Path, n: int | None = None) -> Tensor:
    """A ``.npy`` feature matrix (row i = node i) as a checked float32 tensor."""
    import numpy as np

    require_file(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path}: not a readable .npy array ({type(exc).__name__})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
        raise InputError(f"{path}: expected a numeric array, found {getattr(arr, 'dtype', type(arr).__name__)}")
    return check_feature_matrix(torch.from_numpy(np.ascontiguousarray(arr)), path, n=n)


def check_labels(y: Tensor, path: Path | str, n: int, num_classes: int | None = None) -> Tensor:
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.dim() != 1 or y.shape[0] != n:
        raise InputError(f"{path}: expected one label per node (shape [{n}]), found shape {tuple(y.shape)}")
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise InputError(f"{path}: expected integer labels (int64, -1 = unlabelled), found dtype {y.dtype}")
    y = y.long()
    if y.numel() and int(y.min()) < -1:
        raise InputError(f"{path}: expected labels >= -1 (-1 = unlabelled), found {int(y.min())}")
    if num_classes is not None and y.numel() and int(y.max()) >= num_classes:
        raise InputError(f"{path}: expected labels in [0, {num_classes}) or -1, found {int(y.max())}")
    return y


def masks_from_index(n: int, **splits: Tensor) -> dict[str, Tensor]:
    masks = {}
    for name, idx in splits.items():
        mask = torch.zeros(n, dtype=torch.bool)
        mask[idx] = True
        masks[f"{name}_mask"] = mask
    return masks


def split_fractions(fractions: Sequence[float], where: str) -> tuple[float, float, float]:
    if len(fractions) != 3:
        raise InputError(f"{where}: expected three fractions train,val,test, found {list(fractions)}")
    train, val, test = (float(f) for f in fractions)
    if min(train, val, test) <= 0 or train + val + test > 1 + 1e-9:
        raise InputError(f"{where}: expected positive fractions summing to at most 1, found {list(fractions)}")
    return train, val, test


def random_split(candidates: Tensor, fractions: Sequence[float], seed: int, where: str,
                 n: int) -> dict[str, Tensor]:
    """Masks from a seeded permutation of ``candidates`` cut at the given fractions (train gets
    the rounding remainder when the fractions sum to 1)."""
    train_f, val_f, test_f = split_fractions(fractions, where)
    m = int(candidates.numel())
    perm = candidates[torch.randperm(m, generator=torch.Generator().manual_seed(seed))]
    n_val, n_test = int(round(val_f * m)), int(round(test_f * m))
    n_train = m - n_val - n_test if train_f + val_f + test_f > 1 - 1e-9 else int(round(train_f * m))
    for name, size in (("train", n_train), ("val", n_val), ("test", n_test)):
        if size <= 0:
            raise InputError(f"{where}: the {name} split is empty ({m} labelled nodes, fractions {list(fractions)})")
    return masks_from_index(
        n, train=perm[:n_train], val=perm[n_train:n_train + n_val], test=perm[n_train + n_val:n_train + n_val + n_test]
    )


def variant_string(options: Any, ignore: Sequence[str] = ()) -> str:
    """``key=value;...`` for the options that differ from the dataset's defaults (the data variant
    stored beside the dataset name in result rows); empty for the default variant."""
    parts = []
    for f in dataclasses.fields(options):
        if f.name in ignore:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
        value = getattr(options, f.name)
        if value != default:
            text = ",".join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value)
            parts.append(f"{f.name}={text}")
    return ";".join(parts)


def options_dict(options: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(options).items()}
