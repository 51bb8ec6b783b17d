"""Clips of a handwritten digit moving across a canvas (``data=moving_digits``).

Each clip is ``num_frames`` grey frames of ``canvas`` x ``canvas`` pixels in which one of
scikit-learn's real 8 x 8 digits slides left or right at 1 or 2 pixels a frame, at a random
height and from a random start, so that any single frame is equally likely in either
direction. ``data.label`` picks the question: ``digit`` (which digit, readable from any
frame) or ``direction`` (``left`` or ``right``, which only the order of the frames tells). The
digit images are split between train, validation and test before clips are drawn, so a test
clip never shows a training image.
"""

from __future__ import annotations

from typing import Literal

import torch

from rnnlab.data.batch import InMemoryDataModule, SequenceDataset
from rnnlab.data.specs import ClassesSpec, Inputs
from rnnlab.data.splits import check_splits, stratified_split
from rnnlab.utils.errors import ConfigError, check, check_count

Label = Literal["digit", "direction"]
DIRECTIONS = ("left", "right")
DIGIT = 8  # pixels of a digit image's side


def load_digit_images() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 digits as ``(N, 8, 8)`` values in ``[0, 1]``, and their classes."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError(
            'data=moving_digits needs scikit-learn; pip install -e ".[datasets]".'
        ) from None
    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float32) / 16
    return images, torch.as_tensor(digits.target, dtype=torch.long)


def render_clips(
    images: torch.Tensor, num_frames: int, canvas: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One clip per image, ``(N, T, 1, canvas, canvas)``, and each clip's direction (0 left,
    1 right)."""
    n, t = len(images), num_frames
    speed = torch.randint(1, 3, (n,), generator=generator)  # pixels per frame
    travel = speed * (t - 1)
    direction = torch.randint(0, 2, (n,), generator=generator)
    room = canvas - DIGIT - travel  # free columns besides the path
    offset = (torch.rand(n, generator=generator) * (room + 1)).long()  # the path's leftmost column
    top = torch.randint(0, canvas - DIGIT + 1, (n,), generator=generator)
    steps = torch.arange(t)
    # Column of the digit's left edge in each frame: rightwards from the path's left end, or
    # leftwards from its right end, so both directions cover the same columns.
    left = torch.where(
        direction[:, None] == 1,
        offset[:, None] + speed[:, None] * steps,
        offset[:, None] + travel[:, None] - speed[:, None] * steps,
    )  # (N, T)
    clips = torch.zeros(n, t, 1, canvas, canvas)
    rows = top[:, None] + torch.arange(DIGIT)  # (N, 8)
    for frame in range(t):
        cols = left[:, frame, None] + torch.arange(DIGIT)  # (N, 8)
        index = torch.arange(n)[:, None, None]
        clips[index, frame, 0, rows[:, :, None], cols[:, None, :]] = images
    return clips, direction


class MovingDigitsDataModule(InMemoryDataModule):
    """Moving-digit clips labelled by digit or by direction of motion.

    Args:
        label: ``digit`` (10 classes) or ``direction`` (``left``, ``right``).
        num_frames: frames per clip.
        canvas: side of each square frame, in pixels (at least 8 + 2 x (num_frames - 1)).
        num_train, num_val, num_test: clips per split, drawn from that split's digit images.
        splits: fractions of the 1,797 digit images for train, validation and test, by class.
        batch_size, num_workers, seed: as for :class:`InMemoryDataModule`; the seed also draws
            the split and the clips.
    """

    def __init__(
        self,
        label: Label = "digit",
        num_frames: int = 8,
        canvas: int = 24,
        num_train: int = 4000,
        num_val: int = 500,
        num_test: int = 1000,
        splits: tuple[float, float, float] = (0.7, 0.1, 0.2),
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(batch_size, num_workers, seed)
        check(
            label in ("digit", "direction"), f"data.label={label!r} is not 'digit' or 'direction'."
        )
        check_count("data.num_frames", num_frames, 2)
        check(
            canvas >= DIGIT + 2 * (num_frames - 1),
            f"data.canvas={canvas} is too small for {num_frames} frames at 2 pixels a frame; "
            f"use at least {DIGIT + 2 * (num_frames - 1)}.",
        )
        check(min(num_train, num_val, num_test) >= 1, "every split needs at least one clip.")
        check_splits(splits)
        self.label, self.num_frames, self.canvas = label, num_frames, canvas
        self.sizes = {"train": num_train, "val": num_val, "test": num_test}
        self.splits = tuple(splits)

    @property
    def spec(self) -> ClassesSpec:
        names = DIRECTIONS if self.label == "direction" else tuple(str(d) for d in range(10))
        return ClassesSpec(Inputs(frame_shape=(1, self.canvas, self.canvas)), class_names=names)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        images, digits = load_digit_images()
        parts = stratified_split(digits, self.splits, self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        for (split, size), part in zip(self.sizes.items(), parts, strict=True):
            chosen = part[torch.randint(0, len(part), (size,), generator=generator)]
            clips, direction = render_clips(images[chosen], self.num_frames, self.canvas, generator)
            labels = direction if self.label == "direction" else digits[chosen]
            lengths = torch.full((size,), self.num_frames)
            self.datasets[split] = SequenceDataset(clips, lengths, labels)
