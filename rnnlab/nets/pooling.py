"""Summaries of a whole sequence from an encoder's outputs, aware of padding."""

from __future__ import annotations

from typing import Literal

import torch

from rnnlab.nets.base import Encoded

Pooling = Literal["last", "mean", "max", "meanmax"]
WIDTH: dict[str, int] = {"last": 1, "mean": 1, "max": 1, "meanmax": 2}  # vectors joined


def pooled_size(how: Pooling, output_size: int) -> int:
    """Features of :func:`pool`'s result for an encoder of ``output_size`` (``D*H``)."""
    if how not in WIDTH:
        raise ValueError(f"pooling={how!r} is not one of {', '.join(map(repr, WIDTH))}.")
    return WIDTH[how] * output_size


def pool(encoded: Encoded, mask: torch.Tensor | None, how: Pooling) -> torch.Tensor:
    """One vector per sequence, ``(B, D*H)`` (``(B, 2*D*H)`` for ``meanmax``), ignoring padded
    steps.

    ``last`` is the encoder's own summary: the forward direction at the last valid step joined
    with the backward direction at the first step. ``mean`` and ``max`` run over valid steps only;
    ``meanmax`` joins the two (what a sequence says on average, and its strongest signals).
    """
    pooled_size(how, 1)  # refuses an unknown name before any work
    if how == "last":
        return encoded.last
    outputs = encoded.outputs  # (B, T, D*H)
    if mask is None:
        mask = outputs.new_ones(outputs.shape[:2], dtype=torch.bool)  # (B, T)
    valid = mask.unsqueeze(-1)  # (B, T, 1)
    parts = []
    if how in ("mean", "meanmax"):
        parts.append((outputs * valid).sum(1) / valid.sum(1).clamp(min=1))  # (B, D*H)
    if how in ("max", "meanmax"):
        parts.append(outputs.masked_fill(~valid, float("-inf")).max(1).values)  # (B, D*H)
    return parts[0] if len(parts) == 1 else torch.cat(parts, -1)  # (B, 2*D*H) for meanmax
