"""The residual backbone that every recurrence is stacked in, the classic cells included.

The xLSTM paper's ablation moved a stacked LSTM from 2417.9 to 35.5 validation perplexity only
by putting it in a residual, normalised backbone, so a fair comparison of recurrences puts each
in the same block: :class:`PreNormResidualBlock`, ``x + mixer(norm(x))`` then
``x + mlp(norm(x))`` with a gated MLP.

A **sequence mixer** is the recurrence inside a block. It keeps this protocol:

- ``forward(x, valid=None, state=None)``: inputs ``(B, T, H)``, a ``(B, T)`` mask of the valid
  steps (or ``None``: all valid) and the state to start from (a tuple of tensors, or ``None``:
  zeros) to outputs ``(B, T, H)`` and the state after each row's last valid step, a tuple of
  tensors, each ``(B, ...)``; a step that is not valid leaves the state as it was;
- ``step(x, state=None)``: one step ``(B, H)`` to its output ``(B, H)`` and the state after it,
  equal to ``forward`` read one step at a time;
- ``state_shapes(batch)``: the shape of each tensor of the state.

:class:`MixerStack` builds a whole net from a factory of mixers: the input stream (features
projected, or token ids embedded and projected, to ``hidden_size``), ``num_layers`` blocks and a
final norm, keeping the encoder protocol (:mod:`rnnlab.nets.protocol`) for every task that takes
a causal encoder. The minGRU, state-space, xLSTM and RG-LRU nets are each a ``MixerStack`` of
their own mixer; ``docs/extending.md`` builds one from a project of one's own.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.nets.base import (
    Encoded,
    check_dropout,
    check_sizes,
    encoded_outputs,
    linear_parts,
    token_embedding,
    valid_steps,
)
from rnnlab.nets.protocol import Capabilities
from rnnlab.utils.errors import ConfigError, check

# One layer's state: a tuple of real tensors, each (B, ...).
LayerState = tuple[torch.Tensor, ...]


def check_mlp_expansion(mlp_expansion: int) -> None:
    """Refuse, in one sentence, a gated MLP width that is not a whole number of at least 0."""
    check(
        isinstance(mlp_expansion, int) and mlp_expansion >= 0,
        f"model.mlp_expansion={mlp_expansion} must be a whole number of at least 0 (0: no MLP).",
    )


class GatedMLP(nn.Module):
    """``W_out (silu(W_gate x) * W_in x)``, with ``expansion * size`` hidden units."""

    def __init__(self, size: int, expansion: int):
        super().__init__()
        self.up = nn.Linear(size, 2 * expansion * size)  # W_in and W_gate stacked
        self.down = nn.Linear(expansion * size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., H)`` to ``(..., H)``."""
        value, gate = linear_parts(x, self.up, 2)  # (..., E*H) each
        return self.down(value * F.silu(gate))


class PreNormResidualBlock(nn.Module):
    """``x + mixer(norm(x))``, then ``x + mlp(norm(x))``: the block that every recurrent cell
    can be stacked in, its state carried by the mixer (see the module's docstring for what a
    mixer offers; the classic cells' mixer,
    :class:`~rnnlab.nets.recurrent.RecurrentMixer`, has no one-step form). The MLP is left out
    with ``mlp_expansion=0``.

    Args:
        mixer: the sequence mixer.
        size: features of the residual stream ``H``.
        mlp_expansion: hidden units of the gated MLP per feature; 0 for none.
        dropout: dropout on the mixer's and the MLP's outputs, before each is added.
    """

    def __init__(self, mixer: nn.Module, size: int, mlp_expansion: int = 2, dropout: float = 0.0):
        super().__init__()
        self.mixer = mixer
        self.mixer_norm = nn.LayerNorm(size)
        self.mlp = GatedMLP(size, mlp_expansion) if mlp_expansion else None
        self.mlp_norm = nn.LayerNorm(size) if mlp_expansion else None
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None, state=None):
        """``x`` ``(B, T, H)`` to ``(B, T, H)`` and the mixer's final state."""
        mixed, state = self.mixer(self.mixer_norm(x), valid, state)  # (B, T, H)
        return self._mlp(x + self.drop(mixed.to(x.dtype))), state

    def step(self, x: torch.Tensor, state: LayerState | None = None):
        """One step ``x`` ``(B, H)`` to ``(B, H)`` and the mixer's state after it."""
        mixed, state = self.mixer.step(self.mixer_norm(x), state)  # (B, H)
        return self._mlp(x + self.drop(mixed.to(x.dtype))), state

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        if self.mlp is None:
            return x
        return x + self.drop(self.mlp(self.mlp_norm(x)))


class MixerStack(nn.Module):
    """A net of ``num_layers`` :class:`PreNormResidualBlock` s, each around a new ``mixer()``.

    Inputs (features or token ids) are projected to ``hidden_size``, read by the blocks in turn
    and normalised. Causal and unidirectional. The net's state is each layer's stacked,
    ``(L, B, ...)`` per tensor: one tensor where the mixer's state is one, else a tuple,
    carried as an LSTM's ``(h, c)`` is, so reading a sequence in chunks equals reading it whole;
    :meth:`step` reads one step at a time. A subclass checks its own settings, then passes a
    factory of its mixer and the settings every stack shares to this constructor.

    Args:
        mixer: builds one layer's sequence mixer (see the module's docstring).
        input_size: features per step; or ``None`` with ``vocab_size`` for token ids.
        hidden_size: features of the residual stream ``H``.
        num_layers: stacked residual blocks.
        dropout: dropout on each block's mixer and MLP outputs.
        mlp_expansion: hidden units of each block's gated MLP per feature; 0 for no MLP.
        vocab_size, embedding_dim, pad_index, embedding_weights: token ids are embedded first,
            as in :class:`~rnnlab.nets.recurrent.RecurrentEncoder`.
    """

    bidirectional = False

    def __init__(
        self,
        mixer: Callable[[], nn.Module],
        input_size: int | None = None,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        mlp_expansion: int = 2,
        vocab_size: int | None = None,
        embedding_dim: int = 64,
        pad_index: int | None = None,
        embedding_weights: torch.Tensor | None = None,
    ):
        check_sizes(hidden_size=hidden_size, num_layers=num_layers)
        if vocab_size is not None:
            check_sizes(embedding_dim=embedding_dim)
        check_dropout(dropout=dropout)
        check_mlp_expansion(mlp_expansion)
        super().__init__()
        self.embedding = token_embedding(
            input_size, vocab_size, embedding_dim, pad_index, embedding_weights
        )
        self.project = nn.Linear(
            embedding_dim if self.embedding is not None else input_size, hidden_size
        )
        self.blocks = nn.ModuleList(
            PreNormResidualBlock(mixer(), hidden_size, mlp_expansion, dropout)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self.hidden_size, self.num_layers = hidden_size, num_layers

    @property
    def output_size(self) -> int:
        """Features per step of ``outputs`` and of ``last``: ``hidden_size``."""
        return self.hidden_size

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            reads="features" if self.embedding is None else "tokens", carries_state=True
        )

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
    ) -> Encoded:
        """Encode ``x`` ``(B, T, F)`` or ids ``(B, T)``, of which row ``b`` is valid for
        ``lengths[b]`` steps, continuing from ``state`` (as an earlier call returned it).
        Returns outputs ``(B, T, H)`` (zero on padded steps), the output at each row's last
        valid step ``(B, H)`` and the state at each row's end."""
        h = self._embed(x)  # (B, T, H)
        layers = self._layer_states(state, h.shape[0])
        valid = valid_steps(lengths, h)  # (B, T), or None
        states = []
        for block, layer_state in zip(self.blocks, layers, strict=True):
            h, last = block(h, valid, layer_state)
            states.append(last)
        encoded = encoded_outputs(self.norm(h), lengths)
        return Encoded(encoded.outputs, encoded.last, _stacked(states))

    def step(self, x: torch.Tensor, state: torch.Tensor | tuple[torch.Tensor, ...] | None = None):
        """The one-step form: the output ``(B, H)`` for one step ``x`` (features ``(B, F)``
        or ids ``(B,)``) and the state after it, from ``state``."""
        h = self._embed(x)  # (B, H)
        layers = self._layer_states(state, h.shape[0])
        states = []
        for block, layer_state in zip(self.blocks, layers, strict=True):
            h, last = block.step(h, layer_state)
            states.append(last)
        return self.norm(h), _stacked(states)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(..., F)`` or ids ``(...)`` to the residual stream ``(..., H)``."""
        return self.project(x if self.embedding is None else self.embedding(x))

    def _layer_states(self, state, batch: int) -> list[LayerState | None]:
        """The carried state split into each layer's, after checking its shapes."""
        if state is None:
            return [None] * self.num_layers
        shapes = self.blocks[0].mixer.state_shapes(batch)
        expected = tuple((self.num_layers, *shape) for shape in shapes)
        parts = state if isinstance(state, tuple | list) else (state,)
        got = tuple(tuple(p.shape) if isinstance(p, torch.Tensor) else None for p in parts)
        if got != expected:  # the sentence built only when needed: step() checks every token
            raise ConfigError(
                f"the state is {', '.join(str(g) for g in got)}, not "
                f"{', '.join(str(e) for e in expected)}; carry the state this net returned."
            )
        return [tuple(p[layer] for p in parts) for layer in range(self.num_layers)]


def _stacked(states: list[LayerState]) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Each layer's state stacked: one tensor ``(L, B, ...)``, or a tuple of them."""
    stacked = tuple(torch.stack(parts) for parts in zip(*states, strict=True))
    return stacked[0] if len(stacked) == 1 else stacked
