"""GNN backbones (sparse or dense weighted adjacency) and the one training loop."""

from mmgc.models.adjacency import Adjacency, propagate
from mmgc.models.base import Backbone, build_backbone, get_backbone, list_backbones, register_backbone

__all__ = [
    "Adjacency", "Backbone", "build_backbone", "get_backbone", "list_backbones", "propagate", "register_backbone",
]
