"""UCR/UEA time-series classification sets: sktime's bundled files, or any ``.ts`` file."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from rnnlab.data.baselines import Baseline, nearest_neighbour
from rnnlab.data.batch import InMemoryDataModule, SequenceDataset, pad_sequences
from rnnlab.data.specs import ClassesSpec, Inputs
from rnnlab.data.splits import part_sizes, stratified_split
from rnnlab.data.ts_format import TsData, read_ts
from rnnlab.utils.errors import ConfigError, check

NORMALIZE = ("auto", "series", "channel")


def bundled_ts_dir() -> Path:
    """Where sktime keeps its ``<Name>/<Name>_TRAIN.ts`` files (read directly, not imported)."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or spec.origin is None:
        raise ConfigError('data=ucr data.name=... needs sktime; pip install -e ".[datasets]".')
    return Path(spec.origin).parent / "datasets" / "data"


def bundled_names() -> list[str]:
    """The UCR/UEA sets sktime ships as ``.ts`` files."""
    root = bundled_ts_dir()
    return sorted(p.parent.name for p in root.glob("*/*_TRAIN.ts") if p.parent.name != "UnitTest")


class UCRDataModule(InMemoryDataModule):
    """A UCR/UEA classification set, univariate or multivariate, fixed or variable length.

    With ``name``, the set's official ``_TRAIN``/``_TEST`` files from sktime's package; with
    ``path`` (which takes precedence), any ``.ts`` file: a ``<X>_TRAIN.ts`` with a
    ``<X>_TEST.ts`` beside it keeps that split, any other file is split ``test_fraction`` by
    class. Validation is carved from the training cases by class; a split left without a case
    is refused. With ``normalize="series"`` each series is first z-normalised by its own mean
    and standard deviation, the UCR archive's convention for univariate series (most of its
    files are stored so already, a few, such as PLAID and ACSF1, are not); then each channel
    is standardised with the mean and standard deviation of the training cases only, and
    missing values (``?``) become 0, the training mean. Regression files (``@targetLabel
    true``) are refused.

    The plain baseline beside the model (:meth:`baselines`) is the field's simplest: each test
    series takes the class of its nearest training series under the Euclidean distance, over
    the same standardised, zero-padded series, with every training case as a neighbour
    (validation cases included, as the standard 1-NN uses the whole training set).

    Args:
        name: a set sktime ships (GunPoint, ItalyPowerDemand, BasicMotions, JapaneseVowels, ...).
        path: a ``.ts`` file, instead of ``name``.
        val_fraction: share of each training class held out for validation.
        test_fraction: share of each class held out for testing, for a file without a split.
        max_steps: a cap on the steps the model reads: when the longest training series is
            longer, every ``f = ceil(longest / max_steps)`` consecutive steps are folded into
            one step of ``f`` times the channels (one ``f`` for the whole set; nothing is lost,
            and a net's cost grows with the steps it reads); ``None`` keeps every step. The
            1-NN baseline always reads the series as they are.
        normalize: ``series`` (z-normalise each series, then standardise by channel),
            ``channel`` (standardise by channel only, which keeps each series' level and swing:
            the UEA convention for multivariate sets, whose channels' relative sizes carry
            meaning) or ``auto``: ``series`` for univariate sets, ``channel`` for multivariate.
        batch_size: sequences per batch; ``None``: a tenth of the training cases, within 4 to
            16 (the rule of Wang et al. 2017, floored so batch norm sees a few series).
        num_workers: ``DataLoader`` workers; batches are gathered in memory, so 0 is fastest.
        seed: seed of the splits and of the shuffling.
    """

    def __init__(
        self,
        name: str | None = None,
        path: str | None = None,
        val_fraction: float = 0.2,
        test_fraction: float = 0.3,
        max_steps: int | None = None,
        normalize: Literal["auto", "series", "channel"] = "channel",
        batch_size: int | None = 32,
        num_workers: int = 0,
        seed: int = 0,
    ):
        check(
            name is not None or path is not None,
            "data=ucr needs data.name=<a set sktime ships> or data.path=<a .ts file>.",
        )
        check(0 < val_fraction < 1, f"data.val_fraction={val_fraction} must be between 0 and 1.")
        check(0 < test_fraction < 1, f"data.test_fraction={test_fraction} must be in (0, 1).")
        check(
            max_steps is None or max_steps >= 1,
            f"data.max_steps={max_steps} must be a positive number of steps, or null for all.",
        )
        check(
            normalize in NORMALIZE,
            f"data.normalize={normalize!r} is not one of {', '.join(map(repr, NORMALIZE))}.",
        )
        files = self._resolve(name, path)
        first = read_ts(files[0])
        which = f"data.path={path}" if path is not None else f"data.name={name}"
        check(
            not first.regression,
            f"{which} is a regression set (@targetLabel true: one real-valued target per case), "
            "and data=ucr classifies; choose a set with class labels (@classLabel true).",
        )
        check(first.labels != [], f"{files[0]} has no class labels to classify by.")
        if batch_size is None:
            batch_size = min(16, max(4, len(first.series) // 10))
        super().__init__(batch_size, num_workers, seed)
        self.files = files
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.max_steps = max_steps
        self.class_labels = first.class_labels
        self.channels = first.series[0].shape[1]
        if normalize == "auto":
            normalize = "series" if self.channels == 1 else "channel"
        self.normalize = normalize
        longest = max(len(case) for case in first.series)
        self.fold = 1 if max_steps is None else -(-longest // max_steps)
        self._first = first
        # The splits need only the labels: found here, an empty one is refused before a run
        # writes anything.
        self._fit, self._val, self._kept, self._test = self._split(self._labels(first), which)

    @staticmethod
    def _resolve(name: str | None, path: str | None) -> list[Path]:
        if path is None:
            folder = bundled_ts_dir() / name
            if not (folder / f"{name}_TRAIN.ts").is_file():
                raise ConfigError(
                    f"data.name={name} is not a set sktime ships; choose one of: "
                    f"{', '.join(bundled_names())}; or give data.path=<a .ts file>."
                )
            return [folder / f"{name}_TRAIN.ts", folder / f"{name}_TEST.ts"]
        file = Path(path)
        check(file.is_file(), f"data.path={file} does not exist; give the path of a .ts file.")
        test = file.with_name(file.name.replace("_TRAIN.ts", "_TEST.ts"))
        return [file, test] if file.name.endswith("_TRAIN.ts") and test.is_file() else [file]

    @property
    def spec(self) -> ClassesSpec:
        names = tuple(map(str, self.class_labels))
        return ClassesSpec(Inputs(features=self.channels * self.fold), class_names=names)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        cases = self._cases(self._first)
        if self._test is None:
            test = self._cases(read_ts(self.files[1]))
        else:
            test = _take(cases, self._test)
        if self.normalize == "series":  # each case on its own: no statistics cross splits
            cases, test = _per_series(cases), _per_series(test)
        reference = _take(cases, self._kept)  # every training case, the 1-NN's neighbours
        train, val = _take(cases, self._fit), _take(cases, self._val)
        values, lengths, _ = train
        valid = torch.arange(values.shape[1])[None] < lengths[:, None]  # (N, T)
        steps = values[valid]  # (sum of lengths, C): the training steps only
        self.mean = steps.nanmean(0)
        self.std = (steps - self.mean).pow(2).nanmean(0).sqrt().clamp(min=1e-6)
        scaled = {
            split: self._standardised(cases)
            for split, cases in zip(("train", "val", "test"), (train, val, test), strict=True)
        }
        for split, cases in scaled.items():
            self.datasets[split] = SequenceDataset(*_folded(cases, self.fold))
        self._reference = self._standardised(reference)  # train and val cases, unfolded
        self._test_values = scaled["test"][0]  # (N, T, C), unfolded

    def _standardised(self, cases: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x, n, y = cases
        x = ((x - self.mean) / self.std).nan_to_num(0.0)  # (N, T, C)
        x = x * (torch.arange(x.shape[1])[None] < n[:, None]).unsqueeze(-1)  # zero padding
        return x, n, y

    def baselines(self) -> dict[str, Baseline]:
        """One-nearest-neighbour (Euclidean) on the test split, fitted on every training case."""
        values, _, labels = self._reference
        targets = self.datasets["test"].targets
        predictions = nearest_neighbour(values, labels, self._test_values)
        return {"nearest_neighbour": Baseline("1-NN Euclidean", predictions, targets)}

    def _split(self, labels: torch.Tensor, which: str) -> tuple[torch.Tensor, ...]:
        """Indices into the first file's cases: the train and val splits, the training cases
        they are carved from (both together), and the test split (``None`` for a file with a
        ``_TEST`` file beside it); each split is stratified by class, and none may be empty."""
        kept, test = torch.arange(len(labels)), None
        if len(self.files) == 1:
            kept, test = stratified_split(
                labels, (1 - self.test_fraction, self.test_fraction), self.seed
            )
            if len(kept) == 0:  # nothing to carve validation from
                raise ConfigError(self._empty("train", which, labels))
        fit, val = stratified_split(
            labels[kept], (1 - self.val_fraction, self.val_fraction), self.seed
        )
        fit, val = kept[fit], kept[val]
        for split, index in (("train", fit), ("val", val), ("test", test)):
            if index is not None and len(index) == 0:
                raise ConfigError(self._empty(split, which, labels))
        return fit, val, kept, test

    def _empty(self, split: str, which: str, labels: torch.Tensor) -> str:
        """The sentence that refuses an empty ``split``: how many cases there are, what the
        fractions leave of them, and how many cases each class needs for every split."""
        per_class = labels.bincount()
        per_class = per_class[per_class > 0]  # (classes with cases,)
        single = len(self.files) == 1
        kept = part_sizes(per_class, (1 - self.test_fraction, self.test_fraction))[:, 0]
        kept = kept if single else per_class
        n, kept_n = int(per_class.sum()), int(kept.sum())
        sentence = (
            f"the {split} split of {which} is empty: it has {_cases_text(n, single)} "
            f"({_range(per_class)} per class)"
        )
        # The carve that left the split empty: the test carve for test, and for train when it
        # kept nothing; the validation carve otherwise.
        by_test = split == "test" or (split == "train" and kept_n == 0)
        setting, fraction = ("test", self.test_fraction) if by_test else ("val", self.val_fraction)
        carved = per_class if by_test else kept
        result = "leaves none" if split == "train" else "rounds to none"
        if by_test or not single:
            sentence += f", and data.{setting}_fraction={fraction} of them {result}"
        else:
            sentence += (
                f", data.test_fraction={self.test_fraction} of them leaves {kept_n} for "
                f"training, and data.val_fraction={self.val_fraction} of those {result}"
            )
        need = _smallest_class(self.test_fraction if single else None, self.val_fraction)
        sentence += f"; give each class {'more' if need is None else f'at least {need}'} cases"
        if int(carved.max()) >= 2:  # a class this carve can split at some fraction
            way = "smaller" if split == "train" else "larger"
            sentence += f", or a {way} data.{setting}_fraction"
        return sentence + "."

    def _labels(self, data: TsData) -> torch.Tensor:
        """Each case's class as its index in ``class_labels``: ``(N,)``."""
        index = {label: i for i, label in enumerate(self.class_labels)}
        unknown = sorted(set(data.labels) - set(index))
        check(not unknown, f"class labels {unknown} are not among {self.class_labels}.")
        return torch.tensor([index[label] for label in data.labels], dtype=torch.long)

    def _cases(self, data: TsData) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        labels = self._labels(data)
        channels = {s.shape[1] for s in data.series}
        check(
            channels == {self.channels},
            f"cases have {sorted(channels)} channels, expected {self.channels}.",
        )
        try:
            values, lengths = pad_sequences([torch.from_numpy(np.asarray(s)) for s in data.series])
        except ValueError as error:
            raise ConfigError(str(error)) from None
        return values, lengths, labels

    def state_dict(self) -> dict:
        """The training-split scalers and the label order, saved in every checkpoint."""
        return {"mean": self.mean, "std": self.std, "class_labels": self.class_labels}


def _folded(cases: tuple[torch.Tensor, ...], fold: int) -> tuple[torch.Tensor, ...]:
    """Zero-padded series ``(N, T, C)`` with every ``fold`` consecutive steps as one step of
    ``fold * C`` features (the last zero-padded), and their lengths in folded steps."""
    x, n, y = cases
    x = torch.nn.functional.pad(x, (0, 0, 0, (-x.shape[1]) % fold))  # (N, W*fold, C)
    return x.flatten(1).unflatten(1, (-1, fold * x.shape[2])), -(-n // fold), y  # (N, W, fold*C)


def _per_series(cases: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Each series z-normalised by the mean and standard deviation of its own valid steps,
    channel by channel (a constant series becomes zeros)."""
    x, n, y = cases  # (N, T, C), (N,), (N,)
    valid = (torch.arange(x.shape[1])[None] < n[:, None]).unsqueeze(-1)  # (N, T, 1)
    own = torch.where(valid, x, torch.nan)
    mean = own.nanmean(1, keepdim=True)  # (N, 1, C)
    std = (own - mean).pow(2).nanmean(1, keepdim=True).sqrt()  # (N, 1, C)
    x = torch.where(valid, (x - mean) / std.clamp(min=1e-8), 0.0)
    return x, n, y


def _smallest_class(test_fraction: float | None, val_fraction: float) -> int | None:
    """The fewest cases a class needs for every split to get one of them (``None`` above
    100,000), with ``test_fraction`` carved first unless ``None`` (a separate test file)."""
    sizes = torch.arange(1, 100_001)
    kept, test = (
        (sizes, sizes)
        if test_fraction is None
        else part_sizes(sizes, (1 - test_fraction, test_fraction)).unbind(-1)
    )
    fit, val = part_sizes(kept, (1 - val_fraction, val_fraction)).unbind(-1)
    fills = (fit > 0) & (val > 0) & (test > 0)
    return int(sizes[fills][0]) if fills.any() else None


def _cases_text(n: int, single: bool) -> str:
    return f"{n} {'' if single else 'training '}case{'s' * (n != 1)}"


def _range(counts: torch.Tensor) -> str:
    low, high = int(counts.min()), int(counts.max())
    return f"{low}" if low == high else f"{low} to {high}"


def _take(cases: tuple[torch.Tensor, ...], index: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(t[index] for t in cases)
