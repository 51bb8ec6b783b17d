"""Summaries of a whole sequence from an encoder's outputs, aware of padding."""

from __future__ import annotations

from typing import Literal

import torch

from rnnlab.nets.base import Encoded

Pooling = Literal["last", "mean", "max"]


def pool(encoded: Encoded, mask: torch.Tensor | None, how: Pooling) -> torch.Tensor:
    """One vector per sequence, ``(B, D*H)``, ignoring padded steps.

    ``last`` is the encoder's own summary: the forward direction at the last valid step joined
    with the backward direction at the first step. ``mean`` and ``max`` run over valid steps only.
    """
    if how == "last":
        return encoded.last
    outputs = encoded.outputs  # (B, T, D*H)
    if mask is None:
        mask = outputs.new_ones(outputs.shape[:2], dtype=torch.bool)  # (B, T)
    valid = mask.unsqueeze(-1)  # (B, T, 1)
    if how == "mean":
        return (outputs * valid).sum(1) / valid.sum(1).clamp(min=1)  # (B, D*H)
    if how == "max":
        return outputs.masked_fill(~valid, float("-inf")).max(1).values  # (B, D*H)
    raise ValueError(f"pooling={how!r} is not one of 'last', 'mean', 'max'.")
