"""The recurrent encoder behind ``model=rnn``, ``model=lstm`` and ``model=gru``.

With ``block="plain"`` the cells are stacked as torch stacks them; with ``block="residual"``
each layer is one cell in the pre-norm residual block of the modern nets
(:class:`~rnnlab.nets.residual.PreNormResidualBlock`), so a comparison puts every cell in the
same backbone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.nets.base import (
    Encoded,
    State,
    check_dropout,
    check_sizes,
    encoded_outputs,
    token_embedding,
    valid_steps,
)
from rnnlab.nets.cells import LayerNormLSTM, ScratchGRU, ScratchLSTM, ScratchRNN
from rnnlab.nets.chars import CHAR_ENCODERS, CharEncoderName
from rnnlab.nets.gru import GRU
from rnnlab.nets.protocol import Capabilities
from rnnlab.nets.residual import PreNormResidualBlock, check_mlp_expansion
from rnnlab.utils.errors import check

Cell = Literal["rnn", "lstm", "gru"]
Impl = Literal["fused", "scratch", "scratch_ln"]
Block = Literal["plain", "residual"]
BLOCKS = ("plain", "residual")
RecurrentInit = Literal["default", "orthogonal", "identity"]
RECURRENT_INITS = ("default", "orthogonal", "identity")

# torch's modules: cuDNN on a GPU, oneDNN/MKL on CPU. torch has no fused GRU training kernel
# on CPU, so rnnlab's GRU (torch's, with its own CPU training loop) stands in for it.
_CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": GRU}
# Per implementation, the cells it offers; all take the constructor arguments of _CELLS.
_IMPLS: dict[str, Mapping[str, type[nn.Module]]] = {
    "fused": _CELLS,  # fed packed sequences, or lengths where they read them
    "scratch": {"rnn": ScratchRNN, "lstm": ScratchLSTM, "gru": ScratchGRU},  # fed lengths
    "scratch_ln": {"lstm": LayerNormLSTM},
}


class RecurrentEncoder(nn.Module):
    """A stacked, optionally bidirectional RNN, LSTM or GRU over batch-first sequences.

    Padding never changes an output or the final state: torch's kernels read padded batches
    packed, the scratch cells (:mod:`rnnlab.nets.cells`) and the GRU (:mod:`rnnlab.nets.gru`)
    read them with their lengths. Token
    data (``vocab_size`` given) is read as ids ``(B, T)`` and embedded before the recurrence.
    Token data that spells its words (``char_vocab_size`` given) is read as ``(B, T, 1 + W)``:
    each word's id, then the ids of its characters (0-padded); with a ``char_encoder``, each
    word's character representation (:mod:`rnnlab.nets.chars`) is joined to its embedding,
    and without one the characters are left unread.

    Args:
        input_size: features per step of float inputs ``(B, T, F)``.
        vocab_size: tokens in the vocabulary of id inputs ``(B, T)``; replaces ``input_size``.
        embedding_dim: size of each token's embedding (with ``vocab_size``).
        pad_index: the padding token's id, whose embedding stays zero (with ``vocab_size``).
        embedding_weights: initial embedding rows ``(vocab_size, embedding_dim)``, such as
            pretrained word vectors (with ``vocab_size``).
        embedding_dropout: dropout on each token's embedding, before the recurrence (with
            ``vocab_size``); it keeps a net from leaning on a few words of a small corpus.
        freeze_embedding: keep the embedding as it started (pretrained vectors stay as they
            are; with ``vocab_size``).
        cell: ``rnn`` (Elman), ``lstm`` or ``gru``.
        hidden_size: units per layer and direction (``plain``); the residual stream
            (``residual``), which a bidirectional layer's two directions share half and half.
        num_layers: stacked layers (``plain``) or residual blocks (``residual``).
        dropout: dropout between stacked layers (``plain``); on each block's recurrence and MLP
            outputs, before they are added (``residual``).
        bidirectional: also run a backward direction and concatenate it.
        nonlinearity: ``tanh`` or ``relu``; used by the ``rnn`` cell only.
        impl: ``fused`` (torch's cuDNN/MKL kernels; on CPU the GRU trains through rnnlab's own
            loop, :mod:`rnnlab.nets.gru`, as torch has no fused CPU GRU kernel), ``scratch``
            (the cells written from their equations, same parameters and results) or
            ``scratch_ln`` (layer-normalised LSTM).
        char_vocab_size: characters in the character vocabulary of token data that spells its
            words (from the data).
        char_encoder: ``cnn`` or ``lstm`` to read each word's characters (needs
            ``char_vocab_size``), ``None`` for word embeddings alone.
        char_embedding_dim: size of each character's embedding (with ``char_encoder``).
        char_hidden_size: size of each word's character representation (CNN filters, or the
            character BiLSTM's two directions together).
        block: ``plain`` stacks the cells as torch does, outputs ``(B, T, D*H)``; ``residual``
            projects the inputs to ``hidden_size`` and stacks ``num_layers`` pre-norm residual
            blocks, each one single-layer cell and a gated MLP, then a final LayerNorm (outputs
            ``(B, T, H)``). Bidirectional blocks give each direction ``hidden_size / 2`` units,
            so that their concatenation is the stream; ``last`` is then the mean of the outputs
            at the first and at the last valid step, where one direction has read everything.
        mlp_expansion: hidden units of each residual block's gated MLP per feature; 0 for no
            MLP (``residual`` only).
        pack: read a padded batch packed (``plain`` stack), so that no step of padding is
            computed; ``False`` runs the recurrence over the padding too, as a course's
            first version does: the outputs at valid steps and ``last`` of a unidirectional
            net are the same, the backward direction of a bidirectional one starts in the
            padding, and the final state is the one after the padding.
        recurrent_init: how each recurrent matrix (``weight_hh``, per gate) starts:
            ``default`` (torch's uniform ``±1/sqrt(H)``), ``orthogonal`` (Saxe et al., 2014) or
            ``identity`` (with ``nonlinearity=relu`` the IRNN of Le et al., 2015, whose state
            neither shrinks nor grows at first; its gradients can explode).
    """

    def __init__(
        self,
        input_size: int | None = None,
        cell: Cell = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
        impl: Impl = "fused",
        vocab_size: int | None = None,
        embedding_dim: int = 64,
        pad_index: int | None = None,
        embedding_weights: torch.Tensor | None = None,
        char_vocab_size: int | None = None,
        char_encoder: CharEncoderName | None = None,
        char_embedding_dim: int = 30,
        char_hidden_size: int = 50,
        embedding_dropout: float = 0.0,
        freeze_embedding: bool = False,
        block: Block = "plain",
        mlp_expansion: int = 2,
        recurrent_init: RecurrentInit = "default",
        pack: bool = True,
    ):
        super().__init__()
        # torch checks these later, or not at all, in words that name no setting.
        check_sizes(hidden_size=hidden_size, num_layers=num_layers)
        check_dropout(dropout=dropout, embedding_dropout=embedding_dropout)
        if vocab_size is not None:
            check_sizes(embedding_dim=embedding_dim)
        if char_encoder is not None:
            check_sizes(char_embedding_dim=char_embedding_dim, char_hidden_size=char_hidden_size)
        if cell not in _CELLS:
            raise ValueError(f"cell={cell!r} is not one of {sorted(_CELLS)}.")
        if impl not in _IMPLS:
            raise ValueError(f"impl={impl!r} is not one of {list(_IMPLS)}.")
        if cell not in _IMPLS[impl]:
            raise ValueError(
                f"impl={impl!r} has only the {', '.join(_IMPLS[impl])} cell, not cell={cell!r}; "
                "use impl='scratch' or impl='fused' for it."
            )
        check(block in BLOCKS, f"model.block={block!r} is not one of {', '.join(BLOCKS)}.")
        check(
            recurrent_init in RECURRENT_INITS,
            f"model.recurrent_init={recurrent_init!r} is not one of {', '.join(RECURRENT_INITS)}.",
        )
        residual = block == "residual"
        check(
            pack or not residual,
            "model.pack=false is for model.block=plain: the residual blocks read padding masked.",
        )
        if residual:
            check_mlp_expansion(mlp_expansion)
            check(
                not bidirectional or hidden_size % 2 == 0,
                f"model.hidden_size={hidden_size} must be even with model.bidirectional=true and "
                "model.block=residual: each direction has half the residual stream.",
            )
        self.embedding = token_embedding(
            input_size, vocab_size, embedding_dim, pad_index, embedding_weights
        )
        if self.embedding is not None:
            input_size = embedding_dim
            self.embedding.weight.requires_grad_(not freeze_embedding)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.spelled = char_vocab_size is not None  # x carries each word's characters
        if self.spelled and self.embedding is None:
            raise ValueError("char_vocab_size comes with token ids: give vocab_size too.")
        self.char_encoder = None
        if char_encoder is not None:
            if char_encoder not in CHAR_ENCODERS:
                raise ValueError(
                    f"char_encoder={char_encoder!r} is not one of {list(CHAR_ENCODERS)}."
                )
            if not self.spelled:
                raise ValueError(
                    f"char_encoder={char_encoder!r} reads each word's characters, which this data "
                    "does not give; use token data that spells its words (data.chars=true)."
                )
            self.char_encoder = CHAR_ENCODERS[char_encoder](
                char_vocab_size, char_embedding_dim, char_hidden_size
            )
            input_size += char_hidden_size
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.num_directions = 2 if bidirectional else 1
        self.bidirectional = bidirectional
        self.pack = pack
        self.num_layers = num_layers
        self.rnn: nn.Module | None = None
        self.blocks: nn.ModuleList | None = None
        if not residual:
            self.rnn = _IMPLS[impl][cell](
                input_size,
                hidden_size,
                num_layers=num_layers,
                dropout=dropout if num_layers > 1 else 0.0,  # between layers: none to apply
                bidirectional=bidirectional,
                batch_first=True,
                **extra,
            )
            self.state_size = hidden_size  # H of the state (L*D, B, H)
            self._output_size = hidden_size * self.num_directions
            init_recurrent(self.rnn, recurrent_init)
            return
        self.state_size = hidden_size // self.num_directions
        self.project = nn.Linear(input_size, hidden_size)  # to the residual stream
        self.blocks = nn.ModuleList(
            PreNormResidualBlock(
                RecurrentMixer(
                    _IMPLS[impl][cell](
                        hidden_size,
                        self.state_size,
                        bidirectional=bidirectional,
                        batch_first=True,
                        **extra,
                    )
                ),
                hidden_size,
                mlp_expansion,
                dropout,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self._output_size = hidden_size
        init_recurrent(self.blocks, recurrent_init)

    @property
    def output_size(self) -> int:
        """Features per step of ``outputs`` and of ``last``: ``D * H`` (``plain``), or
        ``hidden_size`` (``residual``)."""
        return self._output_size

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            reads="features" if self.embedding is None else "tokens",
            bidirectional=self.bidirectional,
            causal=not self.bidirectional,
            carries_state=not self.bidirectional,  # a backward direction starts at a chunk's end
        )

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: State | None = None,
    ) -> Encoded:
        """Encode ``x`` ``(B, T, F)`` (or token ids ``(B, T)``, or with characters
        ``(B, T, 1 + W)``), of which row ``b`` is valid for
        ``lengths[b]`` steps.

        ``state`` (shaped like :attr:`Encoded.state`) continues from an earlier chunk.
        """
        if self.spelled:
            words, chars = x[..., 0], x[..., 1:]  # (B, T), (B, T, W)
            x = self.embedding_dropout(self.embedding(words))  # (B, T, E)
            if self.char_encoder is not None:
                x = torch.cat([x, self.char_encoder(chars).to(x.dtype)], -1)  # (B, T, E + C)
        elif self.embedding is not None:
            x = self.embedding_dropout(self.embedding(x))  # (B, T, E)
        if self.blocks is not None:
            return self._residual(x, lengths, state)
        if not self.pack and lengths is not None:
            return self._over_padding(x, lengths, state)
        outputs, state = _recur(self.rnn, x, lengths, state)  # (B, T, D*H)
        h = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
        # The top layer: forward direction at the last step, backward direction at the first.
        last = h[-1] if self.num_directions == 1 else torch.cat([h[-2], h[-1]], -1)  # (B, D*H)
        return Encoded(outputs, last, state)

    def _over_padding(self, x: torch.Tensor, lengths: torch.Tensor, state: State | None) -> Encoded:
        """``pack=False``: every step of the padded batch computed, padding included; the
        outputs zeroed where padded, ``last`` read from them (forward direction at each row's
        last valid step, backward direction at its first step)."""
        outputs, state = _recur(self.rnn, x, None, state)  # (B, T, D*H)
        encoded = encoded_outputs(outputs, lengths)  # zero on padded steps
        last = encoded.last  # (B, D*H): both directions at the last valid step
        if self.bidirectional:
            size = self.state_size
            last = torch.cat([last[:, :size], encoded.outputs[:, 0, size:]], -1)
        return Encoded(encoded.outputs, last, state)

    def _residual(
        self, x: torch.Tensor, lengths: torch.Tensor | None, state: State | None
    ) -> Encoded:
        """The residual stack over inputs ``x`` ``(B, T, F)``; the state is laid out as the
        plain stack's, ``(L*D, B, H/D)`` (LSTM: ``(h, c)``), layer by layer."""
        h = self.project(x)  # (B, T, H)
        valid = valid_steps(lengths, h)  # (B, T), or None
        layers = self.num_directions
        if state is None:
            states: list[State | None] = [None] * self.num_layers
        else:
            self._check_state(state, h.shape[0])
            states = [
                tuple(s[i : i + layers] for s in state)
                if isinstance(state, tuple)
                else state[i : i + layers]  # (D, B, H/D)
                for i in range(0, self.num_layers * layers, layers)
            ]
        finals = []
        for block, layer_state in zip(self.blocks, states, strict=True):
            h, final = block(h, valid, layer_state)  # (B, T, H)
            finals.append(final)
        if isinstance(finals[0], tuple):
            state = tuple(torch.cat(parts) for parts in zip(*finals, strict=True))  # (L*D, B, H/D)
        else:
            state = torch.cat(finals)  # (L*D, B, H/D)
        outputs, last, _ = encoded_outputs(self.norm(h), lengths)  # zero on padded steps
        if self.bidirectional:
            # The forward direction has read the whole row at its last valid step, the backward
            # one at its first step: the plain stack joins those two, the stream averages them.
            last = (outputs[:, 0] + last) / 2  # (B, H)
        return Encoded(outputs, last, state)

    def _check_state(self, state: State, batch: int) -> None:
        expected = (self.num_layers * self.num_directions, batch, self.state_size)
        parts = state if isinstance(state, tuple) else (state,)
        check(
            all(tuple(part.shape) == expected for part in parts),
            f"the state is {[tuple(part.shape) for part in parts]}, not "
            f"(num_layers * directions, B, hidden_size / directions) = {expected}; carry the "
            "state this net returned.",
        )


class RecurrentMixer(nn.Module):
    """A one-layer torch (or scratch) RNN, LSTM or GRU as the sequence mixer of a
    :class:`~rnnlab.nets.residual.PreNormResidualBlock`.

    Args:
        rnn: the single-layer cell, batch-first, its directions' outputs concatenated to the
            block's size.
    """

    def __init__(self, rnn: nn.Module):
        super().__init__()
        self.rnn = rnn

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """``x`` ``(B, T, H)`` to outputs ``(B, T, H)`` (zero where ``valid`` ``(B, T)`` is
        false) and the final state ``(D, B, H/D)`` (LSTM: ``(h, c)``), from ``state``."""
        lengths = None if valid is None else valid.sum(1)  # valid steps are each row's first
        return _recur(self.rnn, x, lengths, state)


def init_recurrent(module: nn.Module, how: RecurrentInit) -> None:
    """Start every recurrent matrix ``weight_hh*`` of ``module`` as ``how`` says, gate by gate
    (each ``(H, H)`` block of the stacked gates): ``orthogonal`` or ``identity``; ``default``
    leaves them as built."""
    if how == "default":
        return
    with torch.no_grad():
        for name, weight in module.named_parameters():
            if not name.split(".")[-1].startswith("weight_hh"):
                continue
            for gate in weight.split(weight.shape[1]):  # (H, H) views, in place
                if how == "orthogonal":
                    nn.init.orthogonal_(gate)
                else:
                    gate.copy_(torch.eye(*gate.shape))


def _recur(
    rnn: nn.Module,
    x: torch.Tensor,
    lengths: torch.Tensor | None,
    state: State | None,
) -> tuple[torch.Tensor, State]:
    """Run ``rnn`` over ``x`` ``(B, T, F)`` with ``lengths`` ``(B,)``: outputs ``(B, T, D*H)``,
    zero on padded steps, and the state at each row's last valid step."""
    total = x.shape[1]
    if getattr(rnn, "reads_lengths", False):
        return rnn(x, state, lengths=lengths)  # the scratch cells and the GRU mask padding
    if lengths is not None and bool((lengths < total).any()):
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, state = rnn(packed, state)
        outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=total)
        return outputs, state
    return rnn(x, state)  # (B, T, D*H)
