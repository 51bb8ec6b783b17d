"""A temporal convolutional network: the convolutional baseline to compare recurrent nets with.

Stacked residual blocks of dilated causal 1-D convolutions (Bai, Kolter and Koltun, 2018):
block ``i`` dilates by ``2**i``, so the output at step ``t`` reads steps ``t - R + 1 .. t``
with a receptive field ``R = 1 + 2 (kernel_size - 1) (2**num_layers - 1)``, and never a later
step. It takes features or token ids like :class:`~rnnlab.nets.recurrent.RecurrentEncoder` and
returns the same :class:`~rnnlab.nets.recurrent.Encoded`, so every task can use it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.nets.base import (
    Encoded,
    check_dropout,
    check_sizes,
    encoded_outputs,
    token_embedding,
)
from rnnlab.nets.protocol import Capabilities


class CausalBlock(nn.Module):
    """Two dilated causal convolutions with ReLU and dropout, added to the (projected) input."""

    def __init__(
        self, in_size: int, out_size: int, kernel_size: int, dilation: int, dropout: float
    ):
        super().__init__()
        self.pad = (kernel_size - 1) * dilation  # on the left only: no step sees its future
        self.conv1 = nn.Conv1d(in_size, out_size, kernel_size, dilation=dilation)
        self.conv2 = nn.Conv1d(out_size, out_size, kernel_size, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(in_size, out_size, 1) if in_size != out_size else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, F, T)`` to ``(B, H, T)``."""
        h = self.drop(F.relu(self.conv1(F.pad(x, (self.pad, 0)))))
        h = self.drop(F.relu(self.conv2(F.pad(h, (self.pad, 0)))))
        return F.relu(h + self.skip(x))


class TCN(nn.Module):
    """Dilated causal convolutions over a sequence.

    Args:
        input_size: features per step; or ``None`` with ``vocab_size`` for token ids.
        hidden_size: channels of every block (and features of the output).
        num_layers: residual blocks; the receptive field doubles with each.
        kernel_size: taps of each convolution.
        dropout: dropout after each convolution.
        vocab_size, embedding_dim, pad_index, embedding_weights: token ids are embedded first,
            as in :class:`~rnnlab.nets.recurrent.RecurrentEncoder`.
    """

    bidirectional = False

    def __init__(
        self,
        input_size: int | None = None,
        hidden_size: int = 64,
        num_layers: int = 4,
        kernel_size: int = 3,
        dropout: float = 0.0,
        vocab_size: int | None = None,
        embedding_dim: int = 64,
        pad_index: int | None = None,
        embedding_weights: torch.Tensor | None = None,
    ):
        super().__init__()
        check_sizes(hidden_size=hidden_size, num_layers=num_layers, kernel_size=kernel_size)
        check_dropout(dropout=dropout)
        if vocab_size is not None:
            check_sizes(embedding_dim=embedding_dim)
        self.embedding = token_embedding(
            input_size, vocab_size, embedding_dim, pad_index, embedding_weights
        )
        size = embedding_dim if self.embedding is not None else input_size
        blocks = []
        for i in range(num_layers):
            blocks.append(CausalBlock(size, hidden_size, kernel_size, 2**i, dropout))
            size = hidden_size
        self.blocks = nn.Sequential(*blocks)
        self.output_size = hidden_size
        self.receptive_field = 1 + 2 * (kernel_size - 1) * (2**num_layers - 1)

    @property
    def capabilities(self) -> Capabilities:
        # Causal convolutions: padding after a sequence's end never reaches its valid steps.
        return Capabilities(reads="features" if self.embedding is None else "tokens")

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None, state: None = None
    ) -> Encoded:
        """``x`` ``(B, T, F)`` or ids ``(B, T)``; ``state`` is accepted and ignored (a TCN
        carries nothing between chunks beyond its window)."""
        if self.embedding is not None:
            x = self.embedding(x)
        outputs = self.blocks(x.transpose(1, 2)).transpose(1, 2)  # (B, T, H)
        return encoded_outputs(outputs, lengths)
