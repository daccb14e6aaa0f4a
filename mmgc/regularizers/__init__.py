"""Training-time regularizers (OptiMAG, DAGR) as plug-ins.

`Regularizer` + registry (``register_regularizer``, entry-point group ``mmgc.regularizers``), and
`regularizer_loss`, the bridge that turns a list of regularizers into the ``extra_loss`` hook of the
one training loop. Built-ins are imported lazily by name (``get_regularizer("optimag")``).
"""

from mmgc.regularizers.base import (
    BatchSampler, Regularizer, RegularizerConfig, create_regularizer, describe_regularizers, get_regularizer,
    list_regularizers, parse_regularizers, register_regularizer, regularizer_loss,
)

__all__ = [
    "BatchSampler", "Regularizer", "RegularizerConfig", "create_regularizer", "describe_regularizers",
    "get_regularizer", "list_regularizers", "parse_regularizers", "register_regularizer", "regularizer_loss",
]
