"""The dataset registry: `load_dataset(name, root=None, **options)` and `list_datasets()`.

Each source module (synthetic, mmgraph, magb, planetoid, lastfm) registers its names with
`register_dataset`; the modules are imported on first use of the registry. Options are a typed
dataclass per dataset, so unknown options and bad values fail with one clear line.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from mmgc.errors import InputError
from mmgc.graph import MultimodalGraph
from mmgc.plugins import build_config

_SOURCE_MODULES = (
    "mmgc.datasets.synthetic",
    "mmgc.datasets.mmgraph",
    "mmgc.datasets.magb",
    "mmgc.datasets.planetoid",
    "mmgc.datasets.lastfm",
)
_REGISTRY: dict[str, "DatasetSpec"] = {}
_loaded = False

Loader = Callable[[Any, Any], MultimodalGraph]
"""``loader(root, options) -> MultimodalGraph``; ``root`` is a path or None, ``options`` an instance
of the spec's ``options`` dataclass."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    source: str
    description: str
    options: type
    loader: Loader


def register_dataset(name: str, source: str, description: str, options: type) -> Callable[[Loader], Loader]:
    def decorate(loader: Loader) -> Loader:
        _REGISTRY[name] = DatasetSpec(name, source, description, options, loader)
        return loader

    return decorate


def _load_sources() -> None:
    global _loaded
    if not _loaded:
        for module in _SOURCE_MODULES:
            importlib.import_module(module)
        _loaded = True


def list_datasets() -> list[DatasetSpec]:
    _load_sources()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_dataset_spec(name: str) -> DatasetSpec:
    _load_sources()
    if name not in _REGISTRY:
        raise InputError(f"unknown dataset {name!r}; expected one of {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def load_dataset(name: str, root: str | None = None, **options: Any) -> MultimodalGraph:
    """Load (or generate) dataset ``name``; ``root`` is the directory of published files where the
    source reads files, ``options`` its typed options (unknown keys are an error)."""
    spec = get_dataset_spec(name)
    parsed = build_config(spec.options, options, where=f"dataset {name} option")
    return spec.loader(root, parsed)
