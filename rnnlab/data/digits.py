"""scikit-learn's bundled 8 x 8 handwritten digits, read as sequences."""

from __future__ import annotations

from typing import Literal

import torch

from rnnlab.data.baselines import Baseline, nearest_neighbour
from rnnlab.data.batch import InMemoryDataModule, SequenceDataset
from rnnlab.data.specs import ClassesSpec, Inputs
from rnnlab.data.splits import check_splits, stratified_split
from rnnlab.utils.errors import ConfigError, check

Steps = Literal["rows", "pixels"]


class DigitsDataModule(InMemoryDataModule):
    """The 1,797 digits of ``sklearn.datasets.load_digits`` as sequences, split by class.

    ``rows`` reads each image top to bottom, 8 steps of 8 pixels; ``pixels`` reads it one pixel
    at a time, 64 steps of 1, a much longer memory; with ``permute`` the pixels are read in one
    fixed random order, the same for every image and split (the permuted-sequential benchmark:
    neighbouring steps are no longer neighbouring pixels, so the net must remember across the
    whole sequence). Pixel values are scaled to ``[0, 1]``.
    The plain baseline beside the model (:meth:`baselines`) is one-nearest-neighbour under the
    Euclidean distance between whole images, fitted on the training split.
    Needs scikit-learn (``pip install -e ".[datasets]"``); it ships the data, nothing is fetched.

    Args:
        steps: ``rows`` (8 x 8) or ``pixels`` (64 x 1).
        permute: read the pixels in a fixed random order (``steps=pixels`` only).
        permute_seed: seed of that order; ``None`` uses ``seed``, so that one seed fixes both
            the split and the order.
        splits: fractions of each class for train, validation and test.
        batch_size: sequences per batch.
        num_workers: ``DataLoader`` workers; batches are gathered in memory, so 0 is fastest.
        seed: seed of the split and of the shuffling.
    """

    def __init__(
        self,
        steps: Steps = "rows",
        permute: bool = False,
        permute_seed: int | None = None,
        splits: tuple[float, float, float] = (0.7, 0.1, 0.2),
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(batch_size, num_workers, seed)
        check(steps in ("rows", "pixels"), f"data.steps={steps!r} is not one of 'rows', 'pixels'.")
        check(
            not permute or steps == "pixels",
            f"data.permute=true reorders pixels, and data.steps={steps!r}; use data.steps=pixels.",
        )
        check_splits(splits)
        self.steps = steps
        self.splits = tuple(splits)
        self.permutation: torch.Tensor | None = None  # (64,) pixel read at each step
        if permute:
            order_seed = seed if permute_seed is None else permute_seed
            self.permutation = torch.randperm(
                64, generator=torch.Generator().manual_seed(order_seed)
            )

    @property
    def spec(self) -> ClassesSpec:
        features = 8 if self.steps == "rows" else 1
        return ClassesSpec(Inputs(features=features), class_names=tuple(map(str, range(10))))

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise ConfigError(
                'data=digits needs scikit-learn; install it with pip install -e ".[datasets]".'
            ) from None
        digits = load_digits()
        images = torch.as_tensor(digits.images, dtype=torch.float32) / 16  # (N, 8, 8)
        x = images if self.steps == "rows" else images.reshape(len(images), 64, 1)
        if self.permutation is not None:
            x = x[:, self.permutation]  # (N, 64, 1), before the split: every split alike
        labels = torch.as_tensor(digits.target, dtype=torch.long)
        lengths = torch.full((len(x),), x.shape[1], dtype=torch.long)
        parts = stratified_split(labels, self.splits, self.seed)
        for split, index in zip(("train", "val", "test"), parts, strict=True):
            self.datasets[split] = SequenceDataset(x[index], lengths[index], labels[index])

    def baselines(self) -> dict[str, Baseline]:
        """One-nearest-neighbour (Euclidean) on the test split, fitted on the training split."""
        train, test = self.datasets["train"], self.datasets["test"]
        predictions = nearest_neighbour(train.values, train.targets, test.values)
        return {"nearest_neighbour": Baseline("1-NN Euclidean", predictions, test.targets)}
