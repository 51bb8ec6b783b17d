"""The course-tutorial sine series as a forecasting dataset."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from rnnlab.data.batch import InMemoryDataModule, WindowDataset
from rnnlab.data.specs import ForecastSpec, Inputs
from rnnlab.data.splits import check_splits
from rnnlab.utils.errors import check, check_count, check_not_negative

Variant = Literal["tutorial", "pure"]


def sine_series(length: int, noise_std: float, variant: Variant, seed: int) -> np.ndarray:
    """The series, ``(length,)`` float32.

    ``tutorial``: ``sin(0.02 t) + 0.5 sin(0.01 t) + noise_std * N(0, 1)``.
    ``pure``: ``sin(0.1 t)`` with no noise.
    """
    t = np.arange(length, dtype=np.float64)
    if variant == "pure":
        return np.sin(0.1 * t).astype(np.float32)
    noise = np.random.default_rng(seed).standard_normal(length)
    return (np.sin(0.02 * t) + 0.5 * np.sin(0.01 * t) + noise_std * noise).astype(np.float32)


class SineDataModule(InMemoryDataModule):
    """Sliding windows over one long sine series, split in time.

    Train, validation and test own consecutive spans of the series, in that order, by
    ``splits``. A window belongs to the split that holds all of its targets, so no target value
    is shared between splits; its input steps may reach back into the preceding span, as they
    would for a forecaster deployed at the start of that span.

    With the defaults the test span holds 24,000 windows, so a test MSE is precise to about 1 %.

    Args:
        length: number of time steps in the series.
        noise_std: standard deviation of the Gaussian noise (``tutorial`` variant only).
        variant: ``tutorial`` (two sines plus noise) or ``pure`` (``sin(0.1 t)``, no noise).
        window: input steps per window.
        horizon: target steps per window.
        splits: fractions of the series for train, validation and test.
        batch_size: windows per batch.
        num_workers: ``DataLoader`` workers; batches are gathered in memory, so 0 is fastest.
        seed: seed of the noise and of the shuffling.
    """

    drop_last_train = True

    def __init__(
        self,
        length: int = 120_000,
        noise_std: float = 0.1,
        variant: Variant = "tutorial",
        window: int = 20,
        horizon: int = 1,
        splits: tuple[float, float, float] = (0.7, 0.1, 0.2),
        batch_size: int = 256,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(batch_size, num_workers, seed)
        check(
            variant in ("tutorial", "pure"),
            f"data.variant={variant!r} is not one of 'tutorial', 'pure'.",
        )
        check_count("data.window", window, 1)
        check_count("data.horizon", horizon, 1)
        check_not_negative("data.noise_std", noise_std)
        check_splits(splits)
        bounds = np.cumsum([0.0, *splits]) * length
        self.bounds = [int(round(b)) for b in bounds]  # span edges: train | val | test
        train_span = self.bounds[1] - self.bounds[0]
        check(
            window + horizon <= train_span,
            f"data.window={window} plus data.horizon={horizon} is longer than the training span "
            f"of {train_span} steps (data.length={length}); "
            "use a shorter window or a longer series.",
        )
        for name, a, b in zip(
            ("validation", "test"), self.bounds[1:3], self.bounds[2:4], strict=True
        ):
            check(
                b - a >= horizon,
                f"the {name} span of {b - a} steps is shorter than data.horizon={horizon}.",
            )
        self.length = length
        self.noise_std = noise_std
        self.variant = variant
        self.window = window
        self.horizon = horizon
        self.series: torch.Tensor | None = None
        self.naive_error = 0.0  # MASE's scale: the training span's mean |y_t - y_{t-1}|

    @property
    def spec(self) -> ForecastSpec:
        self.setup()
        noise = 0.0 if self.variant == "pure" else self.noise_std
        return ForecastSpec(
            Inputs(features=1),
            horizon=self.horizon,
            targets_in_input=True,
            mase_scale=(self.naive_error,),
            noise_floor=noise**2,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.series is not None:
            return
        values = sine_series(self.length, self.noise_std, self.variant, self.seed)
        self.series = torch.from_numpy(values).unsqueeze(-1)  # (N, 1)
        train = self.series[: self.bounds[1], 0].double()
        self.naive_error = float((train[1:] - train[:-1]).abs().mean())
        self.datasets = {
            split: WindowDataset(self.series, self._starts(a, b), self.window, self.horizon)
            for split, a, b in zip(
                ("train", "val", "test"), self.bounds[:3], self.bounds[1:], strict=True
            )
        }

    def _starts(self, a: int, b: int) -> torch.Tensor:
        """First-target indices of the windows whose targets all lie in ``[a, b)``."""
        return torch.arange(max(a, self.window), b - self.horizon + 1)

    def eval_batch_size(self) -> int:
        return max(self.batch_size, 4096)
