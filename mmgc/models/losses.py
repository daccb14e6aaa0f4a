"""Losses on logits."""

from __future__ import annotations

import torch
from torch import Tensor


def per_node_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """``CE(logits_i, labels_i)`` for every row ``i`` of ``logits [N, C]`` (``reduction='none'``).

    The same values as ``F.cross_entropy(..., reduction="none")``, with the log-softmax taken over the
    first dimension of the transposed logits: PyTorch's CPU kernel along a narrow last dimension (a
    handful of classes) is an order of magnitude slower than along the first.
    """
    log_prob = torch.log_softmax(logits.transpose(0, 1), 0)
    return -log_prob.gather(0, labels[None])[0]
