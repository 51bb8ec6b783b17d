"""Character-aware word representations: each word read from its characters, so a word never
seen in training still has a representation built from its spelling (capitals, suffixes,
digits, hyphens).

``model.char_encoder=cnn`` is the convolution with max pooling of Ma & Hovy (2016);
``model.char_encoder=lstm`` the bidirectional LSTM of Lample et al. (2016), whose last states in
both directions are joined. Both read character ids ``(..., W)``, 0 for padding (a word of ``W``
characters or fewer; a row of zeros is no word, and gets zeros), and return ``(...,
output_size)``; padding never changes a word's representation. The token data gives the
characters (``data.chars=true``, :mod:`rnnlab.data.conll`), and the recurrent encoder joins the
representation to the word's embedding (:class:`~rnnlab.nets.recurrent.RecurrentEncoder`).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

CharEncoderName = Literal["cnn", "lstm"]
PAD = 0  # the padding character's id


class CharCNN(nn.Module):
    """Character embeddings, a 1-D convolution over each word and max pooling over its
    characters.

    Args:
        vocab_size: characters in the character vocabulary (id 0 pads).
        embedding_dim: size of each character's embedding.
        output_size: convolution filters, the size of each word's representation.
        kernel_size: characters each filter reads (odd).
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int = 30, output_size: int = 50, kernel_size: int = 3
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size={kernel_size} must be odd.")
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.conv = nn.Conv1d(embedding_dim, output_size, kernel_size, padding=kernel_size // 2)
        self.output_size = output_size

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """Representations ``(..., output_size)`` of words spelled as ``chars`` ``(..., W)``."""
        return _each_word(chars, self.output_size, self._encode)

    def _encode(self, chars: torch.Tensor) -> torch.Tensor:
        # The padding embedding is zero, as the convolution's own padding is, so a word reads
        # the same whatever the batch's width W.
        x = self.embedding(chars).transpose(1, 2)  # (N, E, W)
        h = self.conv(x)  # (N, F, W)
        h = h.masked_fill((chars == PAD).unsqueeze(1), float("-inf"))
        return h.max(-1).values  # (N, F)


class CharLSTM(nn.Module):
    """Character embeddings read by a bidirectional LSTM; the word is the forward direction's
    last state joined with the backward direction's.

    Args:
        vocab_size: characters in the character vocabulary (id 0 pads).
        embedding_dim: size of each character's embedding.
        output_size: the size of each word's representation, both directions together (even).
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 30, output_size: int = 50):
        super().__init__()
        if output_size % 2:
            raise ValueError(
                f"output_size={output_size} must be even: half of it for each direction."
            )
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embedding_dim, output_size // 2, batch_first=True, bidirectional=True)
        self.output_size = output_size

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """Representations ``(..., output_size)`` of words spelled as ``chars`` ``(..., W)``."""
        return _each_word(chars, self.output_size, self._encode)

    def _encode(self, chars: torch.Tensor) -> torch.Tensor:
        lengths = (chars != PAD).sum(-1)  # (N,), each at least 1
        packed = pack_padded_sequence(
            self.embedding(chars), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (h, _) = self.lstm(packed)  # h: (2, N, H)
        return torch.cat([h[0], h[1]], -1)  # (N, 2H)


def _each_word(chars: torch.Tensor, size: int, encode) -> torch.Tensor:
    """``encode`` applied to the words of ``chars`` ``(..., W)`` that have a character; zeros
    for the rest (padded steps), which need no work."""
    flat = chars.reshape(-1, chars.shape[-1]).long()  # (N, W)
    words = (flat != PAD).any(-1)  # (N,)
    out = torch.zeros(flat.shape[0], size, device=chars.device)  # (N, size)
    if bool(words.any()):
        encoded = encode(flat[words])  # (n, size)
        out = out.to(encoded.dtype).index_put((words.nonzero().squeeze(1),), encoded)
    return out.reshape(*chars.shape[:-1], size)


CHAR_ENCODERS: dict[str, type[nn.Module]] = {"cnn": CharCNN, "lstm": CharLSTM}
