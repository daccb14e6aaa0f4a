"""Condensation methods: the base class and registry, coresets, and the gradient-matching family."""

from mmgc.methods.base import (
    CondensationMethod, Context, NullReporter, Reporter, SearchDim, build_config, create_method, get_method,
    list_methods, register_method,
)

__all__ = [
    "CondensationMethod", "Context", "NullReporter", "Reporter", "SearchDim", "build_config", "create_method",
    "get_method", "list_methods", "register_method",
]
