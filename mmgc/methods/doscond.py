"""DosCond (Jin et al., "Condensing Graphs via One-Step Gradient Matching", KDD 2022) for node
classification, on the shared gradient-matching engine.

One-step gradient matching: every epoch draws a freshly initialised backbone and matches the
synthetic gradients to the real ones at that initialisation only, one matching step, no inner
training of the backbone (``outer_loop = 1``, ``inner_loop = 0``). The released node-classification
code (``KDD22_DosCond`` in ChandlerBang/GCond: ``train_gcond_transduct.py --one_step=1``) runs GCond's
loop with those two counts: the PGE structure generator stepped on 10 of every 50 epochs and the
features on the others, the squared-error distance (``--dis=mse``), a GCN backbone (``--sgc=0``) and
learning rates 1e-3; it does not implement the paper's discrete (Bernoulli) structure, which the
paper uses for graph classification. mmgc follows that code, so DosCond is GCond's engine and
structure with these defaults (everything else, the checkpoint selection on validation included, as
GCond); ``structure: none`` gives DosCond-X. Its commands run 5,000 epochs on Cora and 3,000 on
Citeseer at r = 0.5 (mmgc's ratio 0.026 and 0.018: n over all nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from mmgc.methods.base import register_method
from mmgc.methods.gcond import GCond, GCondConfig


@dataclass
class DosCondConfig(GCondConfig):
    """DosCond's settings: GCond's (see `GCondConfig`) with the released one-step defaults.

    Attributes:
        epochs: one-step epochs (the released Cora command: 5,000; Citeseer: 3,000).
        outer_loop: matching steps per epoch: one (the one-step scheme).
        inner_loop: backbone steps between matching steps: none (the backbone stays at its
            initialisation).
        lr_feat, lr_adj: 1e-3, the released commands' learning rates.
        backbone: GCN (``--sgc=0``).
        distance: ``mse`` (``--dis=mse``), the squared error of the flattened gradients.
    """

    epochs: int = 3000
    outer_loop: int = 1
    inner_loop: Optional[int] = 0
    lr_feat: float = 1e-3
    lr_adj: float = 1e-3
    backbone: str = "gcn"
    distance: Literal["ours", "mse", "cos"] = "mse"


@register_method("doscond")
class DosCond(GCond):
    """DosCond: one-step gradient matching at a fresh initialisation, GCond's structure (structure=none
    gives DosCond-X)."""

    Config = DosCondConfig
