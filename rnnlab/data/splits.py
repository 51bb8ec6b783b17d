"""Seeded, stratified splits of labelled cases."""

from __future__ import annotations

import torch

from rnnlab.utils.errors import check


def check_splits(splits: tuple[float, ...]) -> None:
    """Refuse ``data.splits`` unless it is three positive fractions summing to 1."""
    check(
        len(splits) == 3 and all(f > 0 for f in splits) and abs(sum(splits) - 1) < 1e-6,
        f"data.splits={list(splits)} must be three positive fractions that sum to 1.",
    )


def stratified_split(
    labels: torch.Tensor, fractions: tuple[float, ...], seed: int
) -> list[torch.Tensor]:
    """Indices of each part, with every class spread over the parts by ``fractions``.

    Each class is shuffled and cut at the same cumulative fractions, so small classes appear in
    every part they can and the parts' class proportions match the whole set's.
    """
    generator = torch.Generator().manual_seed(seed)
    parts: list[list[torch.Tensor]] = [[] for _ in fractions]
    for cls in labels.unique():
        members = (labels == cls).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        ends = part_sizes(len(members), fractions).cumsum(0).tolist()
        for part, a, b in zip(parts, [0, *ends[:-1]], ends, strict=True):
            part.append(members[a:b])
    return [torch.cat(part).sort().values for part in parts]


def part_sizes(members: int | torch.Tensor, fractions: tuple[float, ...]) -> torch.Tensor:
    """How many of a class's ``members`` (a count, or a tensor of counts) each part of
    :func:`stratified_split` gets: the class is cut at the cumulative ``fractions``, rounded.
    ``(..., len(fractions))``."""
    bounds = torch.tensor(fractions, dtype=torch.float64).cumsum(0)
    cuts = (torch.as_tensor(members, dtype=torch.float64)[..., None] * bounds).round().long()
    return cuts.diff(dim=-1, prepend=torch.zeros_like(cuts[..., :1]))
