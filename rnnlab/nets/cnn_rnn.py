"""A CNN per frame and an RNN over the frames, for video clips and multi-temporal image stacks.

Frames ``(B, T, C, H, W)`` are folded into one batch of ``B*T`` images, encoded by a
convolutional stack into one feature vector each, unfolded back to ``(B, T, D)``, and read by a
:class:`~rnnlab.nets.recurrent.RecurrentEncoder`. With ``temporal="mean"`` the RNN is left out
and the per-frame features are averaged over time: the baseline that shows what the order of
the frames adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from rnnlab.nets.base import Encoded, State, check_sizes
from rnnlab.nets.pooling import pool
from rnnlab.nets.protocol import Capabilities
from rnnlab.nets.recurrent import RecurrentEncoder

Temporal = Literal["rnn", "mean"]


class ConvStack(nn.Module):
    """``len(channels)`` blocks of 3 x 3 convolution, batch norm, ReLU and 2 x 2 max pooling (while
    the image is larger than 1 pixel), then a global average: ``(N, C, H, W)`` to
    ``(N, channels[-1])``."""

    def __init__(self, in_channels: int, channels: Sequence[int] = (16, 32)):
        super().__init__()
        if not channels:
            raise ValueError("the conv stack needs at least one block of channels.")
        check_sizes(**{f"channels[{i}]": width for i, width in enumerate(channels)})
        blocks, previous = [], in_channels
        for width in channels:
            blocks += [
                nn.Conv2d(previous, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            previous = width
        self.blocks = nn.Sequential(*blocks)
        self.output_size = previous

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.blocks(images).mean((2, 3))


def torchvision_backbone(name: str, in_channels: int, weights: str | None) -> nn.Module:
    """A torchvision classifier by ``name`` (``resnet18``, ``mobilenet_v3_small``, ...) with its
    classification layer removed, so it maps images to features; ``output_size`` is set."""
    try:
        import torchvision
    except ImportError:
        raise ValueError(f"backbone={name!r} needs torchvision; pip install torchvision.") from None
    if in_channels != 3:
        raise ValueError(
            f"torchvision backbones read 3 channels, and these frames have {in_channels}; "
            "use the built-in conv stack (backbone=null) for other band counts."
        )
    try:
        model = torchvision.models.get_model(name, weights=weights)
    except ValueError as error:
        raise ValueError(f"backbone={name!r}: {error}") from None
    for attribute in ("fc", "classifier", "head", "heads"):
        if hasattr(model, attribute):
            setattr(model, attribute, nn.Identity())
            break
    with torch.no_grad():
        model.eval()
        model.output_size = int(model(torch.zeros(1, 3, 64, 64)).flatten(1).shape[1])
        model.train()
    return model


class CnnRnn(nn.Module):
    """Per-frame CNN features read by a recurrent encoder (or averaged, with ``temporal="mean"``).

    Args:
        in_channels: channels of each frame (from the data): 1 for grey, 3 for RGB, 10 for ten
            spectral bands.
        cell, hidden_size, num_layers, dropout, bidirectional: the recurrent encoder's.
        channels: widths of the built-in conv stack's blocks.
        backbone: a torchvision model name to use instead of the conv stack (3-channel frames).
        weights: the backbone's torchvision weights name (``DEFAULT``, ...); ``None`` starts
            from random weights. Weights are downloaded by torchvision on first use.
        freeze_backbone: keep the backbone's weights (and batch-norm statistics) fixed.
        temporal: ``rnn``, or ``mean`` for the frame-averaging baseline.
    """

    def __init__(
        self,
        in_channels: int,
        cell: Literal["rnn", "lstm", "gru"] = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        channels: Sequence[int] = (16, 32),
        backbone: str | None = None,
        weights: str | None = None,
        freeze_backbone: bool = False,
        temporal: Temporal = "rnn",
    ):
        super().__init__()
        if temporal not in ("rnn", "mean"):
            raise ValueError(f"temporal={temporal!r} is not one of 'rnn', 'mean'.")
        if backbone:
            self.cnn = torchvision_backbone(backbone, in_channels, weights)
        else:
            self.cnn = ConvStack(in_channels, channels)
        self.freeze_backbone = bool(backbone) and freeze_backbone
        if self.freeze_backbone:
            self.cnn.requires_grad_(False)
        self.rnn = None
        if temporal == "rnn":
            self.rnn = RecurrentEncoder(
                self.cnn.output_size, cell, hidden_size, num_layers, dropout, bidirectional
            )
        self.output_size = self.rnn.output_size if self.rnn else self.cnn.output_size

    @property
    def capabilities(self) -> Capabilities:
        if self.rnn is None:  # the frames' average reads every frame
            return Capabilities(reads="frames", causal=False)
        return Capabilities(
            reads="frames",
            bidirectional=self.rnn.bidirectional,
            causal=not self.rnn.bidirectional,
            carries_state=not self.rnn.bidirectional,  # the backward direction starts at the end
        )

    def train(self, mode: bool = True) -> CnnRnn:
        super().train(mode)
        if self.freeze_backbone:
            self.cnn.eval()  # a frozen backbone keeps its batch-norm statistics too
        return self

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` frames to ``(B, T, D)`` features, all frames in one CNN batch."""
        b, t = frames.shape[:2]
        return self.cnn(frames.flatten(0, 1)).flatten(1).view(b, t, -1)

    def forward(
        self,
        frames: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: State | None = None,
    ) -> Encoded:
        """Encode frames ``(B, T, C, H, W)``: the RNN over the frames' features, continuing
        from ``state``, or (``temporal=mean``) the features themselves and their average."""
        features = self.frame_features(frames)  # (B, T, D)
        if self.rnn is not None:
            return self.rnn(features, lengths, state)
        mask = None
        if lengths is not None:
            steps = torch.arange(features.shape[1], device=features.device)
            mask = steps[None] < lengths.to(features.device)[:, None]  # (B, T)
            features = features * mask.unsqueeze(-1)  # padded frames read as zero, as in a net
        frames = Encoded(outputs=features, last=features[:, -1], state=None)
        return frames._replace(last=pool(frames, mask, "mean"))  # the valid frames' average
