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


def match_distance(gw_syn: list[Tensor], gw_real: list[Tensor], distance: str = "ours", bias_distance: str = "skip") -> Tensor:
    """The distance between synthetic and real parameter gradients (see the module docstring)."""
    if distance == "ours":
        total = gw_syn[0].new_zeros(())
        for gs, gr in zip(gw_syn, gw_real):
            if gs.dim() <= 1:
                if bias_distance == "skip":
                    continue
                gs, gr = gs.reshape(1, -1), gr.reshape(1, -1)
            else:
                gs, gr = gs.reshape(gs.shape[0], -1), gr.reshape(gr.shape[0], -1)
            cos = (gs * gr).sum(-1) / (gs.norm(dim=-1) * gr.norm(dim=-1) + 1e-6)
            total = total + (1 - cos).sum()
        return total
    syn = torch.cat([g.reshape(-1) for g in gw_syn])
    real = torch.cat([g.reshape(-1) for g in gw_real])
    if distance == "mse":
        return ((syn - real) ** 2).sum()
    if distance == "cos":
        return 1 - (syn * real).sum() / (syn.norm() * real.norm() + 1e-6)
    raise InputError(f"distance: expected one of {list(DISTANCES)}, found {distance!r}")
