"""Distances between a synthetic and a real list of parameter gradients (the matching loss).

- ``ours``: GCond's ``distance_wb``: for every parameter with two or more dimensions, one
  ``1 - cos`` per *output unit*, summed. With PyTorch's ``(out, in)`` weight layout the rows are
  already the output units, so nothing is transposed (unlike the official code, whose deeprobust
  weights are ``(in, out)``; a backbone with a raw ``(in, out)`` parameter would be compared per input
  unit instead, so backbones keep PyTorch's convention). Bias vectors: GCond's ``distance_wb``
  returns 0 for every 1-D gradient, so biases are not matched at all; here that is an explicit
  choice, ``bias_distance``: ``skip`` (GCond's behaviour, the default) or ``cos`` (each bias vector is
  one more row: ``1 - cos(b_real, b_syn)``).
- ``mse``: the squared error of all gradients flattened, biases included.
- ``cos``: one global cosine of all gradients flattened, biases included.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmgc.errors import InputError

DISTANCES = ("ours", "mse", "cos")


def match_distances(gw_syn: list[Tensor], gw_real: list[Tensor], distance: str = "ours",
                    bias_distance: str = "skip") -> Tensor:
    """Per class, the distance between its synthetic and real parameter gradients (see the module
    docstring): ``gw_syn`` and ``gw_real`` hold one ``[C, *shape]`` tensor per parameter; returns ``[C]``."""
    classes = gw_syn[0].shape[0]
    if distance == "ours":
        total = gw_syn[0].new_zeros(classes)
        for gs, gr in zip(gw_syn, gw_real):
            if gs.dim() <= 2:  # a bias vector per class
                if bias_distance == "skip":
                    continue
                gs, gr = gs.reshape(classes, 1, -1), gr.reshape(classes, 1, -1)
            else:
                gs, gr = gs.reshape(classes, gs.shape[1], -1), gr.reshape(classes, gr.shape[1], -1)
            cos = (gs * gr).sum(-1) / (gs.norm(dim=-1) * gr.norm(dim=-1) + 1e-6)
            total = total + (1 - cos).sum(-1)
        return total
    syn = torch.cat([g.reshape(classes, -1) for g in gw_syn], 1)
    real = torch.cat([g.reshape(classes, -1) for g in gw_real], 1)
    if distance == "mse":
        return ((syn - real) ** 2).sum(-1)
    if distance == "cos":
        return 1 - (syn * real).sum(-1) / (syn.norm(dim=-1) * real.norm(dim=-1) + 1e-6)
    raise InputError(f"distance: expected one of {list(DISTANCES)}, found {distance!r}")
