"""LSTM-FCN: a fully convolutional branch beside an LSTM branch, for series classification.

After Karim et al. (2017), "LSTM Fully Convolutional Networks for Time Series Classification":
the convolutional branch is the FCN of Wang et al. (2017), blocks of a 1-D convolution, batch
norm and ReLU at full time resolution, averaged over time; the LSTM branch reads the series
beside it, and the two summaries are joined for the classifier.

Two changes make it cheap on a CPU and exact on padded batches:

- the LSTM reads the series averaged over windows of ``stride`` steps: an LSTM is sequential,
  so its cost grows with the number of steps it reads, and a 1,460-step series costs it 1,460
  dependent steps where the convolutions run in parallel; the convolutions keep the full
  resolution, and the LSTM sees the slow shape (Karim et al. shuffle dimensions for the same
  reason, which needs one fixed length);
- padding is masked everywhere: each block's output is zeroed past a series' end, so the next
  convolution reads zeros there as it would past the end of the series alone; batch norm takes
  its statistics over valid steps only, and the time average covers valid steps only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.nets.base import Encoded, State, check_dropout, check_sizes
from rnnlab.nets.protocol import Capabilities
from rnnlab.nets.recurrent import RecurrentEncoder


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch norm over ``(B, C, T)`` whose training statistics skip padded steps."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalise ``x`` ``(B, C, T)``; ``mask`` ``(B, 1, T)`` is 1 on valid steps."""
        if mask is None or not self.training:
            return super().forward(x)
        count = mask.sum().clamp(min=2)
        mean = (x * mask).sum((0, 2)) / count  # (C,)
        var = ((x - mean[:, None]) ** 2 * mask).sum((0, 2)) / count  # (C,), biased, as torch's
        with torch.no_grad():
            self.num_batches_tracked += 1
            unbiased = var * count / (count - 1)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(unbiased, self.momentum)
        scale = self.weight / (var + self.eps).sqrt()  # (C,)
        return (x - mean[:, None]) * scale[:, None] + self.bias[:, None]


class LSTMFCN(nn.Module):
    """Convolution blocks and an LSTM over float series ``(B, T, F)``, for classification.

    ``Encoded.outputs`` joins each step's last-block features with the LSTM output of the
    window that holds the step; ``Encoded.last`` joins the blocks' time average with the LSTM's
    last state, the summary that ``task.pooling=last`` classifies.

    Args:
        input_size: channels per step (from the data).
        filters: output channels of each convolution block.
        kernels: kernel width of each block, one per entry of ``filters``.
        hidden_size: LSTM units; 0 leaves the LSTM out (the plain FCN).
        stride: steps the LSTM's input averages into one.
        dropout: dropout on the LSTM branch's outputs, in training.
    """

    def __init__(
        self,
        input_size: int,
        filters: Sequence[int] = (128, 256, 128),
        kernels: Sequence[int] = (8, 5, 3),
        hidden_size: int = 64,
        stride: int = 4,
        dropout: float = 0.0,
    ):
        super().__init__()
        if len(filters) != len(kernels) or not filters:
            raise ValueError(
                f"filters={list(filters)} and kernels={list(kernels)} need one kernel per block "
                "and at least one block."
            )
        check_sizes(**{f"filters[{i}]": f for i, f in enumerate(filters)})
        check_sizes(**{f"kernels[{i}]": k for i, k in enumerate(kernels)})
        check_dropout(dropout=dropout)
        if hidden_size < 0 or stride < 1:
            raise ValueError(f"hidden_size={hidden_size} must be >= 0 and stride={stride} >= 1.")
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        # Each block pads with zeros to keep T steps ("same"; one more on the right for an even
        # kernel), and past a series' end its input is zero as well, so a series reads the
        # same alone or inside a longer padded batch.
        self.pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernels]
        previous = input_size
        for width, kernel in zip(filters, kernels, strict=True):
            self.convs.append(nn.Conv1d(previous, width, kernel, bias=False))
            self.norms.append(MaskedBatchNorm1d(width))
            previous = width
        self.lstm = RecurrentEncoder(input_size, "lstm", hidden_size) if hidden_size else None
        self.stride = stride
        self.dropout = nn.Dropout(dropout)
        self.output_size = previous + hidden_size

    @property
    def capabilities(self) -> Capabilities:
        # The convolutions read steps on both sides: not causal, and not a backward direction.
        return Capabilities(reads="features", causal=False)

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: State | None = None,
    ) -> Encoded:
        """Encode series ``x`` ``(B, T, F)``, row ``b`` valid for ``lengths[b]`` steps; ``state``
        is not used (the net carries none). Returns outputs ``(B, T, output_size)``, zero on
        padded steps, and the summary ``last`` ``(B, output_size)``."""
        batch, steps, _ = x.shape
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long, device=x.device)
        lengths = lengths.to(x.device)
        valid = torch.arange(steps, device=x.device)[None] < lengths[:, None]  # (B, T)
        x = x * valid.unsqueeze(-1)  # whatever the padding holds, the net reads zeros there
        mask = valid.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        h = x.transpose(1, 2)  # (B, F, T)
        for conv, norm, pad in zip(self.convs, self.norms, self.pads, strict=True):
            h = torch.relu(norm(conv(F.pad(h, pad)), mask)) * mask  # (B, K, T), 0 past each end
        conv_out = h.transpose(1, 2)  # (B, T, K)
        conv_last = h.sum(2) / lengths[:, None].to(h.dtype)  # (B, K): the valid steps' mean
        if self.lstm is None:
            return Encoded(conv_out, conv_last, None)
        rnn_out, rnn_last = self._lstm(x, lengths)  # (B, T, H), (B, H)
        outputs = torch.cat([conv_out, rnn_out * valid.unsqueeze(-1)], -1)  # (B, T, K+H)
        return Encoded(outputs, torch.cat([conv_last, rnn_last], -1), None)  # last: (B, K+H)

    def _lstm(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM over ``stride``-step window means of ``x`` ``(B, T, F)`` (zero-padded), its
        outputs repeated back to each step ``(B, T, H)``, and its state at each series' last
        window ``(B, H)``."""
        batch, steps, features = x.shape
        s = self.stride
        # Pad to whole windows: a series' last window then holds the same zeros whether the
        # series is read alone or inside a longer batch.
        x = F.pad(x, (0, 0, 0, (-steps) % s))  # (B, W*s, F)
        windows = x.view(batch, -1, s, features).mean(2)  # (B, W, F)
        encoded = self.lstm(windows, (lengths + s - 1) // s)
        outputs = self.dropout(encoded.outputs).repeat_interleave(s, 1)[:, :steps]  # (B, T, H)
        return outputs, self.dropout(encoded.last)
