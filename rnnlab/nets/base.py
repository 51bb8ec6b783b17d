"""The interface every sequence encoder shares: its :class:`Encoded` result, token
embeddings, and ``Encoded`` results built from per-step outputs (for the non-recurrent nets)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from rnnlab.utils.errors import check

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class Encoded(NamedTuple):
    """What every sequence encoder returns (:class:`~rnnlab.nets.recurrent.RecurrentEncoder`,
    the TCN, the Transformer, the CNN+RNN).

    Attributes:
        outputs: top-layer output at every step, ``(B, T, D*H)``; zero on padded steps.
        last: a summary of each whole sequence, ``(B, D*H)``: for a recurrent net the forward
            direction at the last valid step joined with the backward direction at the first
            step; for the others the output at the last valid step (or the frames' average).
        state: the final state as ``torch.nn.RNN``/``GRU`` (``h``, ``(L*D, B, H)``) or
            ``torch.nn.LSTM`` (``(h, c)``) return it, for carrying across chunks; ``None`` for
            nets that carry nothing.
    """

    outputs: torch.Tensor
    last: torch.Tensor
    state: State | None


def check_sizes(**sizes: int) -> None:
    """Refuse, in one sentence naming it, a size (units, layers, channels, ...) below 1: torch
    would fail later with a message that names neither the setting nor its value."""
    for name, value in sizes.items():
        check(
            isinstance(value, int) and value >= 1,
            f"model.{name}={value} must be a whole number of at least 1.",
        )


def check_dropout(**rates: float) -> None:
    """Refuse a dropout rate outside [0, 1): at 1 every unit is dropped, and nothing learns."""
    for name, value in rates.items():
        check(
            isinstance(value, int | float) and 0.0 <= value < 1.0,
            f"model.{name}={value} must be in [0, 1): the fraction of units dropped in training.",
        )


def token_embedding(
    input_size, vocab_size, embedding_dim, pad_index, weights
) -> nn.Embedding | None:
    """The token embedding of a net that reads ids, or ``None`` for one that reads features."""
    if (input_size is None) == (vocab_size is None):
        raise ValueError(
            "give exactly one of input_size (features per step) and vocab_size (token ids)."
        )
    if vocab_size is None:
        return None
    embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_index)
    if weights is not None:
        if tuple(weights.shape) != (vocab_size, embedding_dim):
            raise ValueError(
                f"the embedding weights are {tuple(weights.shape)}, not (vocab_size, "
                f"embedding_dim) = ({vocab_size}, {embedding_dim}); set "
                f"model.embedding_dim={weights.shape[1]}."
            )
        with torch.no_grad():
            embedding.weight.copy_(weights)
    return embedding


def valid_steps(lengths: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """Which steps of batch-first ``x`` ``(B, T, ...)`` are real, ``(B, T)``, for rows valid
    for ``lengths`` steps; ``None`` without lengths (every step is)."""
    if lengths is None:
        return None
    steps = torch.arange(x.shape[1], device=x.device)
    return steps[None] < lengths.to(x.device)[:, None]  # (B, T)


def encoded_outputs(outputs: torch.Tensor, lengths: torch.Tensor | None) -> Encoded:
    """Outputs zeroed on padded steps, and the output at each sequence's last valid step."""
    if lengths is None:
        return Encoded(outputs, outputs[:, -1], None)
    lengths = lengths.to(outputs.device)
    outputs = outputs * valid_steps(lengths, outputs).unsqueeze(-1)
    last = outputs[torch.arange(outputs.shape[0], device=outputs.device), lengths - 1]
    return Encoded(outputs, last, None)
