"""The interface every net implements, which tasks and callbacks ask instead of a net's class.

A net is a plain ``torch.nn.Module``. rnnlab builds it from its YAML plus what the data decides,
which reaches the constructor through the **input parameters** (``rnnlab.data.specs.Inputs``
gives exactly these, and a net takes those of the inputs it can read):

=====================  ==============================================  ====================
input parameter        meaning                                         ``x``
=====================  ==============================================  ====================
``input_size``         float features per step                         ``(B, T, F)``
``vocab_size``,        tokens in the vocabulary, the padding id, and   ``(B, T)``
``pad_index``,         optional starting embedding rows
``embedding_weights``  ``(vocab_size, E)``
``char_vocab_size``    with token ids: characters in the character     ``(B, T, 1 + W)``
                       vocabulary; each step is a word's id, then the
                       ids of its ``W`` characters (``data.chars``)
``in_channels``        channels of each image frame                    ``(B, T, C, H, W)``
=====================  ==============================================  ====================

A net whose constructor lacks the parameters of some data cannot read that data, and
``rnnlab.train`` says so before training. One more parameter is optional: a net that can be made
causal (attention that may look ahead) takes ``causal: bool``, and a task that needs causal
outputs (the language model) passes ``causal=True``; a net without it is causal or not as built,
and says so in its capabilities. Everything else a net takes is its own setting, from its YAML.

Two kinds of net:

- a :class:`SequenceEncoder` maps a sequence to per-step outputs and a summary (every recurrent,
  convolutional and attention encoder; the classification, tagging, forecasting and language
  model tasks wrap one);
- an :class:`EncoderDecoder` reads a source and writes a target token by token (the seq2seq
  task wraps one); ``__init__`` also takes ``target_vocab_size``.

Both declare their :class:`Capabilities`, read by tasks (a language model needs a causal net)
and callbacks (the state-gradient diagnostics need a unidirectional net that carries state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import torch

from rnnlab.nets.base import Encoded, State

Reads = Literal["features", "tokens", "frames"]

# Input parameters a net may lack: the builder passes them only to nets that take them.
OPTIONAL_PARAMETERS = frozenset({"causal"})


@dataclass(frozen=True)
class Capabilities:
    """What a built net can do, as tasks and callbacks need to know it.

    Attributes:
        reads: what each input step is: ``features`` ``(B, T, F)``, ``tokens`` ``(B, T)`` or
            ``frames`` ``(B, T, C, H, W)``.
        bidirectional: outputs also read later steps through a backward direction, and
            ``Encoded.last`` joins both directions.
        causal: the output at step ``t`` depends on steps ``<= t`` only (no bidirectional
            direction, no attention ahead); a language model needs it.
        carries_state: ``forward(x, state=s)`` continues from ``s``, the ``Encoded.state`` of
            an earlier chunk, shaped as ``torch.nn.RNN``/``GRU`` (``h``, ``(L*D, B, H)``) or
            ``torch.nn.LSTM`` (``(h, c)``) return it: reading a sequence in two chunks equals
            reading it whole.
        accepts_lengths: with ``lengths``, padded steps change no valid output, nor
            ``Encoded.last`` (the summary at each sequence's own end).
    """

    reads: Reads
    bidirectional: bool = False
    causal: bool = True
    carries_state: bool = False
    accepts_lengths: bool = True


@runtime_checkable
class SequenceEncoder(Protocol):
    """A net that encodes a sequence: the interface of every net but the encoder–decoders.

    ``output_size`` is the feature size ``D*H`` of ``Encoded.outputs`` and ``Encoded.last``.
    """

    @property
    def output_size(self) -> int: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: State | None = None,
    ) -> Encoded:
        """Encode ``x`` (shaped as ``capabilities.reads`` says), of which row ``b`` is valid
        for ``lengths[b]`` steps (all ``T`` when ``None``), continuing from ``state`` where the
        net carries state. Returns outputs ``(B, T, output_size)``, zero on padded steps, the
        summary ``last`` ``(B, output_size)`` and the final state (``None`` for nets that
        carry none)."""
        ...


@runtime_checkable
class EncoderDecoder(Protocol):
    """A net that reads source tokens and writes target tokens (``model=seq2seq``).

    Ids ``pad_index``, ``bos_index`` and ``eos_index`` mark padding, the start fed before the
    first target token, and the end of a target.
    """

    pad_index: int
    bos_index: int
    eos_index: int

    @property
    def capabilities(self) -> Capabilities: ...

    def forward(
        self,
        source: torch.Tensor,
        lengths: torch.Tensor,
        target_in: torch.Tensor,
        teacher_forcing: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``(B, T, V)`` for each target step given source ids ``(B, S)`` and the
        decoder's inputs ``target_in`` ``(B, T)`` (``<bos>`` then the target shifted right),
        each step read from the truth with probability ``teacher_forcing``; and the attention
        weights ``(B, T, S)``, or ``None`` without attention."""
        ...

    def greedy(self, source: torch.Tensor, lengths: torch.Tensor, max_len: int) -> list[list[int]]:
        """The likeliest next token at each step, up to ``<eos>`` (left out) or ``max_len``."""
        ...

    def greedy_with_attention(
        self, source: torch.Tensor, lengths: torch.Tensor, max_len: int
    ) -> tuple[list[list[int]], torch.Tensor | None]:
        """:meth:`greedy`, and the attention weights ``(B, T, S)`` of each step taken."""
        ...

    def beam_search(
        self,
        source: torch.Tensor,
        lengths: torch.Tensor,
        beam_size: int,
        max_len: int,
        length_penalty: float = 1.0,
    ) -> list[list[int]]:
        """The best of ``beam_size`` hypotheses per source, scores divided by length to the
        power ``length_penalty``."""
        ...
