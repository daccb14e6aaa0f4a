"""GNN backbones (sparse or dense weighted adjacency, `mmgc.adjacency.Adjacency`) and the one training loop."""

from mmgc.models.base import Backbone, build_backbone, get_backbone, list_backbones, register_backbone

__all__ = ["Backbone", "build_backbone", "get_backbone", "list_backbones", "register_backbone"]
