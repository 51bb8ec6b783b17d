"""Encoder–decoder with attention, for unaligned sequence-to-sequence problems.

The encoder is :class:`~rnnlab.nets.recurrent.RecurrentEncoder` over source token ids
(optionally bidirectional, packed). A bridge maps its final state to the decoder's initial
state. The decoder is a recurrent cell over target token embeddings with one of four kinds of
attention over the encoder outputs, masked over source padding:

- ``none``: the fixed-vector baseline; the decoder sees the source only through its state.
- ``bahdanau``: additive scores ``v · tanh(W q + U k)``, with the query the decoder state
  before the step; the context joins the step's input (Bahdanau et al., 2015).
- ``luong_dot`` and ``luong_general``: scores ``q · k`` or ``q · W k``, with the query the
  decoder state after the step; the context and the state form the attentional vector
  ``tanh(W_c [h; c])``, which is also fed into the next step (Luong et al., 2015).

Decoding: teacher forcing with any ratio, greedy search and batched beam search with length
normalisation.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from torch import nn

from rnnlab.nets.protocol import Capabilities
from rnnlab.nets.recurrent import _CELLS, RecurrentEncoder, State
from rnnlab.utils.errors import check

AttentionKind = Literal["none", "bahdanau", "luong_dot", "luong_general"]
ATTENTION_KINDS = ("none", "bahdanau", "luong_dot", "luong_general")


class Attention(nn.Module):
    """Scores a query against every encoder output (``keys``) and averages them by the softmax.

    Args:
        kind: ``bahdanau``, ``luong_dot`` or ``luong_general``.
        query_size: features of the decoder state.
        key_size: features of each encoder output.
    """

    def __init__(self, kind: AttentionKind, query_size: int, key_size: int):
        super().__init__()
        self.kind = kind
        if kind == "bahdanau":
            self.query = nn.Linear(query_size, query_size, bias=False)
            self.key = nn.Linear(key_size, query_size)
            self.v = nn.Linear(query_size, 1, bias=False)
        elif kind == "luong_general":
            self.key = nn.Linear(key_size, query_size, bias=False)
        elif kind == "luong_dot":
            if query_size != key_size:
                raise ValueError(
                    f"luong_dot attention needs the decoder state ({query_size}) and the "
                    f"encoder outputs ({key_size}) to be the same size; use luong_general."
                )
        else:
            raise ValueError(f"attention={kind!r} is not one of {list(ATTENTION_KINDS[1:])}.")

    def project(self, keys: torch.Tensor) -> torch.Tensor:
        """The keys ``(B, S, K)`` as the scores read them, ``(B, S, Q)``: they are the same at
        every decoding step, so a decoder projects them once per source."""
        return keys if self.kind == "luong_dot" else self.key(keys)

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        mask: torch.Tensor,
        projected: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context ``(B, K)`` and weights ``(B, S)`` for query ``(B, Q)``, keys ``(B, S, K)`` and
        mask ``(B, S)`` (``True`` on real source positions); ``projected`` is
        :meth:`project` of the keys, computed here when not given."""
        projected = self.project(keys) if projected is None else projected  # (B, S, Q)
        if self.kind == "bahdanau":
            scores = self.v(torch.tanh(self.query(query)[:, None] + projected)).squeeze(-1)
        else:
            scores = (projected @ query[:, :, None]).squeeze(-1)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)  # (B, S)
        return (weights[:, None] @ keys).squeeze(1), weights


class Memory(NamedTuple):
    """The encoded source: outputs ``(B, S, K)``, the mask of real positions ``(B, S)``, and
    the outputs as the attention scores read them ``(B, S, H)`` (the outputs themselves
    without attention)."""

    outputs: torch.Tensor
    mask: torch.Tensor
    projected: torch.Tensor


class DecoderState(NamedTuple):
    """What one decoding step hands the next: the recurrent state and the attentional vector
    (the Luong input feed; zeros for the other kinds)."""

    rnn: State
    feed: torch.Tensor


class Seq2Seq(nn.Module):
    """An encoder–decoder over token ids with optional attention.

    Args:
        vocab_size, target_vocab_size: source and target vocabulary sizes; ids ``pad_index``,
            ``bos_index`` and ``eos_index`` are reserved in the target vocabulary.
        cell: ``rnn``, ``lstm`` or ``gru``, for encoder and decoder.
        hidden_size: units of the decoder, and of each encoder direction.
        num_layers: layers of the encoder and of the decoder.
        embedding_dim: size of the source and target token embeddings.
        dropout: dropout between stacked layers, on the decoder's input embeddings, and on the
            vector the output projection reads (the regulariser small parallel sets need).
        bidirectional: a bidirectional encoder.
        attention: ``none``, ``bahdanau``, ``luong_dot`` or ``luong_general``.
        pad_index, bos_index, eos_index: the padding, start and end tokens' ids.
    """

    def __init__(
        self,
        vocab_size: int,
        target_vocab_size: int,
        cell: Literal["rnn", "lstm", "gru"] = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        embedding_dim: int = 64,
        dropout: float = 0.0,
        bidirectional: bool = True,
        attention: AttentionKind = "bahdanau",
        pad_index: int = 0,
        bos_index: int = 2,
        eos_index: int = 3,
    ):
        super().__init__()
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention={attention!r} is not one of {list(ATTENTION_KINDS)}.")
        # Said here, where the encoder's directions are known: the fix is often to drop one.
        check(
            attention != "luong_dot" or not bidirectional,
            f"model.attention=luong_dot needs the decoder state ({hidden_size}) and the encoder "
            f"outputs to be the same size, but the bidirectional encoder's are "
            f"{2 * hidden_size}; set model.bidirectional=false, or use "
            "model.attention=luong_general.",
        )
        self.encoder = RecurrentEncoder(
            cell=cell,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            vocab_size=vocab_size,
            embedding_dim=embedding_dim,
            pad_index=pad_index,
        )
        directions = 2 if bidirectional else 1
        key_size = hidden_size * directions
        self.is_lstm = cell == "lstm"
        self.bridge = nn.Linear(key_size, hidden_size)  # joins directions, layer by layer
        self.attention_kind = attention
        self.luong = attention.startswith("luong")
        self.feed_size = hidden_size if self.luong else 0
        context = key_size if attention == "bahdanau" else 0
        self.embedding = nn.Embedding(target_vocab_size, embedding_dim, padding_idx=pad_index)
        self.drop = nn.Dropout(dropout)
        self.decoder = _CELLS[cell](
            embedding_dim + context + self.feed_size,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.attention = (
            None if attention == "none" else Attention(attention, hidden_size, key_size)
        )
        self.combine = nn.Linear(hidden_size + key_size, hidden_size) if self.luong else None
        out_size = hidden_size + (key_size if attention == "bahdanau" else 0)
        self.project = nn.Linear(out_size, target_vocab_size)
        self.num_layers, self.directions = num_layers, directions
        self.pad_index, self.bos_index, self.eos_index = pad_index, bos_index, eos_index

    @property
    def capabilities(self) -> Capabilities:
        # The source is read whole (bidirectionally by default); the target left to right.
        return Capabilities(reads="tokens", bidirectional=self.directions == 2, causal=False)

    # Encoding.

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[Memory, DecoderState]:
        """The source's memory and the decoder's first state, for ids ``(B, S)``."""
        encoded = self.encoder(source, lengths)
        mask = torch.arange(source.shape[1], device=source.device)[None] < lengths[:, None]
        state = (
            tuple(map(self._bridge, encoded.state)) if self.is_lstm else self._bridge(encoded.state)
        )
        feed = encoded.outputs.new_zeros(source.shape[0], self.feed_size)
        outputs = encoded.outputs  # (B, S, K)
        projected = outputs if self.attention is None else self.attention.project(outputs)
        return Memory(outputs, mask, projected), DecoderState(state, feed)

    def _bridge(self, h: torch.Tensor) -> torch.Tensor:
        """``(L*D, B, H)`` encoder state to ``(L, B, H)`` decoder state."""
        layers = h.view(self.num_layers, self.directions, *h.shape[1:])  # (L, D, B, H)
        joined = torch.cat(layers.unbind(1), dim=-1)  # (L, B, D*H)
        return torch.tanh(self.bridge(joined))

    # Decoding.

    def step(
        self, tokens: torch.Tensor, state: DecoderState, memory: Memory
    ) -> tuple[torch.Tensor, DecoderState, torch.Tensor | None]:
        """Logits ``(B, V)`` for the token after ``tokens`` ``(B,)``, the next state, and the
        attention weights ``(B, S)`` (``None`` without attention)."""
        inputs = [self.drop(self.embedding(tokens))]  # (B, E)
        weights = None
        if self.attention_kind == "bahdanau":
            query = _top(state.rnn)
            context, weights = self.attention(query, memory.outputs, memory.mask, memory.projected)
            inputs.append(context)
        if self.luong:
            inputs.append(state.feed)
        output, rnn = self.decoder(torch.cat(inputs, -1)[:, None], state.rnn)
        h = output[:, 0]  # (B, H)
        feed = state.feed
        if self.attention_kind == "bahdanau":
            h = torch.cat([h, context], -1)
        elif self.luong:
            context, weights = self.attention(h, memory.outputs, memory.mask, memory.projected)
            h = feed = torch.tanh(self.combine(torch.cat([h, context], -1)))
        return self.project(self.drop(h)), DecoderState(rnn, feed), weights

    def forward(
        self,
        source: torch.Tensor,
        lengths: torch.Tensor,
        target_in: torch.Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``(B, T, V)`` for ``target_in`` ``(B, T)`` (``BOS`` then the target), and the
        attention weights ``(B, T, S)``. Each step reads the true previous token with
        probability ``teacher_forcing``, else the model's own previous prediction."""
        memory, state = self.encode(source, lengths)
        logits, weights = [], []
        tokens = target_in[:, 0]
        for t in range(target_in.shape[1]):
            step_logits, state, step_weights = self.step(tokens, state, memory)
            logits.append(step_logits)
            weights.append(step_weights)
            if t + 1 < target_in.shape[1]:
                tokens = target_in[:, t + 1]
                if teacher_forcing < 1.0:
                    draw = torch.rand(tokens.shape, generator=generator).to(tokens.device)
                    tokens = torch.where(draw < teacher_forcing, tokens, step_logits.argmax(-1))
        attention = None if weights[0] is None else torch.stack(weights, 1)
        return torch.stack(logits, 1), attention

    @torch.no_grad()
    def greedy(self, source: torch.Tensor, lengths: torch.Tensor, max_len: int) -> list[list[int]]:
        """The likeliest next token at every step, until ``EOS`` or ``max_len`` tokens; the
        output sequences exclude ``EOS``."""
        return self.greedy_with_attention(source, lengths, max_len)[0]

    @torch.no_grad()
    def greedy_with_attention(
        self, source: torch.Tensor, lengths: torch.Tensor, max_len: int
    ) -> tuple[list[list[int]], torch.Tensor | None]:
        """Greedy output, and the attention weights ``(B, steps, S)`` of every step taken
        (``None`` without attention); row ``i`` of a sequence is the step that emitted its
        ``i``-th token."""
        memory, state = self.encode(source, lengths)
        tokens = source.new_full((source.shape[0],), self.bos_index)
        out: list[list[int]] = [[] for _ in range(source.shape[0])]
        done = [False] * source.shape[0]
        weights = []
        for _ in range(max_len):
            logits, state, step_weights = self.step(tokens, state, memory)
            weights.append(step_weights)
            tokens = logits.argmax(-1)
            for b, token in enumerate(tokens.tolist()):
                if not done[b]:
                    if token == self.eos_index:
                        done[b] = True
                    else:
                        out[b].append(token)
            if all(done):
                break
        return out, None if not weights or weights[0] is None else torch.stack(weights, 1)

    @torch.no_grad()
    def beam_search(
        self,
        source: torch.Tensor,
        lengths: torch.Tensor,
        beam_size: int,
        max_len: int,
        length_penalty: float = 1.0,
    ) -> list[list[int]]:
        """The best sequence of a batched beam search, per source, without ``EOS``.

        A hypothesis is scored by its summed log-probability over ``length ** length_penalty``
        (its tokens, ``EOS`` included; 0 switches normalisation off). At every step the
        ``beam_size`` best extensions stay alive; an ``EOS`` extension ranked among them is
        finished instead. A source is done when it has ``beam_size`` finished hypotheses, or
        after ``max_len`` steps, when the live ones are finished as they stand. With
        ``beam_size=1`` this is greedy search.
        """
        if beam_size < 1:
            raise ValueError(f"beam_size={beam_size} must be at least 1.")
        batch, k = source.shape[0], beam_size
        memory, state = self.encode(source, lengths)
        memory = Memory(*(t.repeat_interleave(k, 0) for t in memory))
        state = _repeat(state, k)
        scores = source.new_full((batch, k), float("-inf"), dtype=torch.float)
        scores[:, 0] = 0.0  # one live hypothesis per source at the start
        tokens = source.new_full((batch * k,), self.bos_index)
        prefixes: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(batch)]
        finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]

        def normalised(score: float, length: int) -> float:
            return score / (length**length_penalty) if length_penalty else score

        for _ in range(max_len):
            logits, state, _weights = self.step(tokens, state, memory)
            vocab = logits.shape[-1]
            totals = scores[:, :, None] + logits.log_softmax(-1).view(batch, k, vocab)
            order = totals.view(batch, -1).sort(-1, descending=True)
            choose = torch.zeros(batch, k, dtype=torch.long)  # flat indices of the new beams
            new_scores = torch.full((batch, k), float("-inf"))
            new_prefixes = [[[] for _ in range(k)] for _ in range(batch)]
            for b in range(batch):
                if len(finished[b]) >= k:
                    continue
                filled = 0
                for value, flat in zip(
                    order.values[b].tolist(), order.indices[b].tolist(), strict=True
                ):
                    if value == float("-inf") or filled == k:
                        break
                    beam, token = divmod(flat, vocab)
                    if token == self.eos_index:
                        prefix = prefixes[b][beam]
                        finished[b].append((normalised(value, len(prefix) + 1), prefix))
                        continue
                    choose[b, filled] = flat
                    new_scores[b, filled] = value
                    new_prefixes[b][filled] = [*prefixes[b][beam], token]
                    filled += 1
            beams = (choose // vocab) + torch.arange(batch)[:, None] * k  # (B, K) rows to keep
            state = _select(state, beams.flatten().to(source.device))
            tokens = (choose % vocab).flatten().to(source.device)
            scores, prefixes = new_scores.to(scores.device), new_prefixes
            if all(len(f) >= k for f in finished):
                break
        for b in range(batch):
            if len(finished[b]) < k:  # out of steps: the live hypotheses end as they stand
                for beam in range(k):
                    value = float(scores[b, beam])
                    if value != float("-inf"):
                        finished[b].append(
                            (normalised(value, len(prefixes[b][beam])), prefixes[b][beam])
                        )
        return [max(f, key=lambda item: item[0])[1] if f else [] for f in finished]

    def sequence_log_prob(
        self, source: torch.Tensor, lengths: torch.Tensor, target: list[int]
    ) -> float:
        """Summed log-probability of ``target`` (ids, ending with ``EOS`` or not) for one
        source ``(1, S)``, as greedy and beam search score it."""
        memory, state = self.encode(source, lengths)
        tokens = source.new_full((1,), self.bos_index)
        total = 0.0
        for token in target:
            logits, state, _ = self.step(tokens, state, memory)
            total += float(logits.log_softmax(-1)[0, token])
            tokens = source.new_full((1,), token)
        return total


def _top(state: State) -> torch.Tensor:
    """The top layer's hidden state ``(B, H)``."""
    return (state[0] if isinstance(state, tuple) else state)[-1]


def _repeat(state: DecoderState, k: int) -> DecoderState:
    rnn = state.rnn
    rnn = (
        tuple(s.repeat_interleave(k, 1) for s in rnn)
        if isinstance(rnn, tuple)
        else (rnn.repeat_interleave(k, 1))
    )
    return DecoderState(rnn, state.feed.repeat_interleave(k, 0))


def _select(state: DecoderState, rows: torch.Tensor) -> DecoderState:
    rnn = state.rnn
    rnn = tuple(s[:, rows] for s in rnn) if isinstance(rnn, tuple) else rnn[:, rows]
    return DecoderState(rnn, state.feed[rows])
