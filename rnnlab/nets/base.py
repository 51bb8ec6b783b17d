"""The interface every sequence encoder shares: its :class:`Encoded` result, token
embeddings, and ``Encoded`` results built from per-step outputs (for the non-recurrent nets)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
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


def linear_parts(x: torch.Tensor, linear: nn.Linear, parts: int) -> tuple[torch.Tensor, ...]:
    """``linear(x).chunk(parts, -1)``, as ``parts`` matmuls with the rows of ``linear``'s
    weight split alike, so that each part is a contiguous tensor rather than a strided view.

    On CPU elementwise work on the strided views of ``chunk`` costs two to three times the
    contiguous, and ``chunk``'s backward joins the parts' gradients with ``torch.cat``, which
    costs more still; the split matmuls cost about what the whole one does. The parameters
    (and so checkpoints) stay those of the one ``linear``. Below 4,096 rows (one step of a
    batch, read by a one-step form) the one matmul and ``chunk`` are the faster. A trace
    (``torch.export``, ``torch.compile``) takes that branch always: the row count depends on
    the batch, which an exported program leaves free.
    """
    if torch.compiler.is_compiling() or x.numel() < 4096 * x.shape[-1]:
        return linear(x).chunk(parts, -1)
    weights = linear.weight.chunk(parts, 0)
    biases = (None,) * parts if linear.bias is None else linear.bias.chunk(parts, 0)
    return tuple(F.linear(x, w, b) for w, b in zip(weights, biases, strict=True))


def accumulation_dtype(t: torch.Tensor) -> torch.dtype:
    """The dtype a recurrence accumulates in: float32 at least, never half precision, since its
    sums run over every step."""
    return torch.promote_types(t.dtype, torch.float32)


class CausalDepthwiseConv(nn.Conv1d):
    """A depthwise convolution over time in which each step reads itself and the
    ``kernel_size - 1`` steps before it, those before the first taken from a carried state: the
    last ``kernel_size - 1`` inputs of the previous chunk (zeros at the start), so reading a
    sequence in chunks, or one step at a time, equals reading it whole."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__(channels, channels, kernel_size, groups=channels)

    def forward(
        self,
        x: torch.Tensor,
        valid: torch.Tensor | None = None,
        before: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(B, T, C)`` to ``(B, T, C)``, and each row's last ``K-1`` inputs up to its
        last valid step ``(B, K-1, C)`` (``valid`` ``(B, T)``; all steps when ``None``)."""
        batch, steps, channels = x.shape
        carried = self.kernel_size[0] - 1
        if before is None:
            before = x.new_zeros(batch, carried, channels)
        window = torch.cat([before.to(x), x], 1)  # (B, K-1+T, C)
        y = F.conv1d(window.transpose(1, 2), self.weight, self.bias, groups=channels)
        ends = torch.full((batch,), steps, device=x.device) if valid is None else valid.sum(1)
        taken = ends[:, None] + torch.arange(carried, device=x.device)  # (B, K-1)
        return y.transpose(1, 2), window.gather(1, taken[..., None].expand(-1, -1, channels))

    def step(
        self, x: torch.Tensor, before: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step ``x`` ``(B, C)`` to ``(B, C)`` and the last ``K-1`` inputs after it."""
        if before is None:
            before = x.new_zeros(x.shape[0], self.kernel_size[0] - 1, x.shape[1])
        window = torch.cat([before.to(x), x[:, None]], 1)  # (B, K, C)
        return (window * self.weight[:, 0].T).sum(1) + self.bias, window[:, 1:]
