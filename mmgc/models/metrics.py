"""Node-classification metrics on logits: accuracy and (binary) ROC-AUC, in torch."""

from __future__ import annotations

import torch
from torch import Tensor


def accuracy(logits: Tensor, y: Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean()) if y.numel() else float("nan")


def roc_auc(logits: Tensor, y: Tensor) -> float:
    """Area under the ROC curve of the positive-class score (ties get their average rank)."""
    score = torch.softmax(logits.float(), 1)[:, 1] if logits.dim() == 2 else logits.float()
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = torch.argsort(score)
    sorted_score = score[order]
    ranks = torch.empty_like(score)
    ranks[order] = torch.arange(1, score.numel() + 1, dtype=score.dtype, device=score.device)
    # average ranks over ties
    _, inverse, counts = torch.unique_consecutive(sorted_score, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).to(score.dtype)
    mean_rank = ends - (counts.to(score.dtype) - 1) / 2
    ranks[order] = mean_rank[inverse]
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


METRIC_FUNCTIONS = {"accuracy": accuracy, "roc_auc": roc_auc}


def score(logits: Tensor, y: Tensor, metric: str) -> float:
    return METRIC_FUNCTIONS[metric](logits, y)
