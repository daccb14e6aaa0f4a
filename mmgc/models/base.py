"""The backbone interface and its registry.

Every backbone takes the same constructor arguments and one forward, ``model(x, adj) -> logits``,
where ``adj`` is an `Adjacency` (sparse real graph or dense weighted synthetic graph).
"""

from __future__ import annotations

import importlib
from typing import Callable

from torch import Tensor, nn

from mmgc.errors import InputError
from mmgc.models.adjacency import Adjacency

# name -> module that registers it on import (so listing backbones imports nothing heavy)
_BUILTIN_BACKBONES = {
    "gcn": "mmgc.models.gcn",
    "sgc": "mmgc.models.sgc",
    "sage": "mmgc.models.sage",
    "gat": "mmgc.models.gat",
    "mlp": "mmgc.models.mlp",
    "mmgcn": "mmgc.models.mmgcn",
}
_REGISTRY: dict[str, type["Backbone"]] = {}


class Backbone(nn.Module):
    """A node classifier over features and an `Adjacency`.

    Args:
        in_dim: input feature width.
        hidden: hidden width.
        num_classes: output width.
        layers: number of message-passing (or linear) layers.
        dropout: dropout probability between layers.
        modalities: the modality layout ``name -> (start, stop)`` of the input columns; multimodal
            backbones (MMGCN) and regularizers read it.
    """

    name: str = ""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, layers: int = 2, dropout: float = 0.0,
                 modalities: dict[str, tuple[int, int]] | None = None):
        super().__init__()
        if layers < 1:
            raise InputError(f"backbone layers: expected >= 1, found {layers}")
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"backbone dropout: expected a probability in [0, 1), found {dropout}")
        self.in_dim, self.hidden, self.num_classes = in_dim, hidden, num_classes
        self.num_layers, self.dropout = layers, dropout
        self.modalities = dict(modalities) if modalities else {"features": (0, in_dim)}

    def forward(self, x: Tensor, adj: Adjacency) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def register_backbone(name: str) -> Callable[[type[Backbone]], type[Backbone]]:
    def decorate(cls: type[Backbone]) -> type[Backbone]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def list_backbones() -> list[str]:
    return sorted(set(_BUILTIN_BACKBONES) | set(_REGISTRY))


def get_backbone(name: str) -> type[Backbone]:
    if name not in _REGISTRY and name in _BUILTIN_BACKBONES:
        importlib.import_module(_BUILTIN_BACKBONES[name])
    if name not in _REGISTRY:
        raise InputError(f"unknown backbone {name!r}; expected one of {list_backbones()}")
    return _REGISTRY[name]


def build_backbone(name: str, in_dim: int, hidden: int, num_classes: int, layers: int = 2, dropout: float = 0.0,
                   modalities: dict[str, tuple[int, int]] | None = None) -> Backbone:
    return get_backbone(name)(in_dim, hidden, num_classes, layers=layers, dropout=dropout, modalities=modalities)
