"""A Transformer encoder: the attention baseline to compare recurrent nets with.

Inputs (features or token ids) are projected to ``hidden_size``, given sinusoidal position
encodings (Vaswani et al., 2017), and read by ``num_layers`` pre-norm self-attention blocks,
with padding masked out. With ``causal`` a step attends only to itself and earlier steps, as a
language model needs (the task asks for it, so ``model=transformer data=text`` is causal). It
returns the same :class:`~rnnlab.nets.base.Encoded` as the recurrent encoder, ``last`` being
the output at each sequence's last valid step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnlab.nets.base import (
    Encoded,
    check_dropout,
    check_sizes,
    encoded_outputs,
    token_embedding,
)
from rnnlab.nets.protocol import Capabilities


def sinusoidal_positions(length: int, size: int) -> torch.Tensor:
    """``(length, size)`` position encodings: sines and cosines of geometric wavelengths."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, size, 2, dtype=torch.float32) * (-math.log(10000.0) / size))
    table = torch.zeros(length, size)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : size // 2]
    return table


class TransformerNet(nn.Module):
    """Self-attention over a sequence.

    Args:
        input_size: features per step; or ``None`` with ``vocab_size`` for token ids.
        hidden_size: the model width (``d_model``); a multiple of ``num_heads``.
        num_layers: self-attention blocks.
        num_heads: attention heads per block.
        dropout: dropout in attention and feed-forward layers.
        causal: attend only to earlier steps (the language model task sets it).
        max_len: the longest sequence the position table covers.
        vocab_size, embedding_dim, pad_index, embedding_weights: token ids are embedded first,
            as in :class:`~rnnlab.nets.recurrent.RecurrentEncoder`.
    """

    bidirectional = False

    def __init__(
        self,
        input_size: int | None = None,
        hidden_size: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        dropout: float = 0.1,
        causal: bool = False,
        max_len: int = 4096,
        vocab_size: int | None = None,
        embedding_dim: int = 64,
        pad_index: int | None = None,
        embedding_weights: torch.Tensor | None = None,
    ):
        super().__init__()
        check_sizes(
            hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads, max_len=max_len
        )
        check_dropout(dropout=dropout)
        if vocab_size is not None:
            check_sizes(embedding_dim=embedding_dim)
        if hidden_size % num_heads:
            raise ValueError(
                f"hidden_size={hidden_size} must be a multiple of num_heads={num_heads}."
            )
        self.embedding = token_embedding(
            input_size, vocab_size, embedding_dim, pad_index, embedding_weights
        )
        size = embedding_dim if self.embedding is not None else input_size
        self.project = nn.Linear(size, hidden_size)
        self.register_buffer(
            "positions", sinusoidal_positions(max_len, hidden_size), persistent=False
        )
        layer = nn.TransformerEncoderLayer(
            hidden_size, num_heads, 4 * hidden_size, dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_size)
        self.causal = bool(causal)
        self.output_size = hidden_size

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            reads="features" if self.embedding is None else "tokens", causal=self.causal
        )

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor | None = None, state: None = None
    ) -> Encoded:
        """``x`` ``(B, T, F)`` or ids ``(B, T)``; ``state`` is accepted and ignored (attention
        reads only the chunk it is given)."""
        if self.embedding is not None:
            x = self.embedding(x)
        steps = x.shape[1]
        if steps > len(self.positions):
            raise ValueError(
                f"a sequence of {steps} steps is longer than max_len={len(self.positions)}."
            )
        h = self.project(x) + self.positions[:steps]
        padding = None
        if lengths is not None:
            padding = torch.arange(steps, device=x.device)[None] >= lengths.to(x.device)[:, None]
        mask = None  # True where a step may not attend: every later step, when causal
        if self.causal:
            mask = torch.ones(steps, steps, dtype=torch.bool, device=x.device).triu(1)
        outputs = self.norm(
            self.encoder(h, mask=mask, src_key_padding_mask=padding, is_causal=self.causal)
        )
        return encoded_outputs(outputs, lengths)
