"""The one batch type of rnnlab, and the in-memory machinery that produces it.

Every datamodule yields :class:`Batch` objects. Sequences are batch-first: ``x`` is
``(B, T, F)`` (or ``(B, T)`` token ids), ``lengths`` holds each row's valid length and
``mask`` marks valid steps, so padding, masking and packing are decided here and in the
recurrent encoder only.

In-memory datasets index whole batches at once: the sampler yields a tensor of indices per
batch and the dataset gathers them in one vectorised step, so the training loop does no
per-sample Python work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


@dataclass
class Batch:
    """A batch of sequences.

    Attributes:
        x: inputs, ``(B, T, F)`` float features or ``(B, T)`` token ids.
        y: targets; the shape depends on the dataset (``(B, H, C)`` for forecasting).
        lengths: valid length of each sequence, ``(B,)``; ``None`` when all are ``T`` long.
        mask: ``(B, T)`` bool, ``True`` on valid steps; ``None`` when nothing is padded.
    """

    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, *args, **kwargs) -> Batch:
        """A copy on another device or dtype; Lightning moves batches through this method."""

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(*args, **kwargs)

        return Batch(move(self.x), move(self.y), move(self.lengths), move(self.mask))


@dataclass(frozen=True)
class DataSpec:
    """What a datamodule tells the rest of rnnlab about its data.

    ``rnnlab.train`` passes each field to the net and the task whose constructor has a
    parameter of the same name, so a new field reaches exactly the parts that ask for it.
    """

    input_size: int
    output_size: int | None = None
    horizon: int | None = None
    num_classes: int | None = None
    vocab_size: int | None = None
    pad_index: int | None = None
    noise_floor: float | None = None
    extras: dict = field(default_factory=dict)

    def available(self) -> dict:
        """The fields that this dataset provides (those not ``None``)."""
        fields = {k: v for k, v in vars(self).items() if k != "extras" and v is not None}
        return {**fields, **self.extras}


class WindowDataset(Dataset):
    """Sliding windows over a ``(N, C)`` series, gathered a whole batch at a time.

    Item ``i`` is the window whose first target is at ``starts[i]``: inputs are the
    ``window`` steps before it, targets the ``horizon`` steps from it. Indexing with a tensor of
    ``B`` indices returns a :class:`Batch` of ``B`` windows.
    """

    def __init__(self, series: torch.Tensor, starts: torch.Tensor, window: int, horizon: int):
        self.series = series  # (N, C)
        self.starts = starts  # (S,) index of each window's first target
        self._past = torch.arange(-window, 0)  # (W,)
        self._future = torch.arange(horizon)  # (H,)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: torch.Tensor | int) -> Batch:
        # A lone int (Lightning swaps in a per-sample sampler for overfit_batches): a batch of one.
        t = self.starts[torch.as_tensor(index).reshape(-1)]  # (B,)
        x = self.series[t[:, None] + self._past]  # (B, W, C)
        y = self.series[t[:, None] + self._future]  # (B, H, C)
        return Batch(x=x, y=y)


class BatchIndexSampler(Sampler[torch.Tensor]):
    """Yields one ``LongTensor`` of dataset indices per batch.

    Shuffling is seeded by ``seed`` and the epoch, so a resumed run sees the same order as an
    uninterrupted one. Lightning sets the epoch through ``set_epoch``; where nothing does (under
    DDP Lightning wraps this sampler and deals whole batches out to the ranks), each pass
    advances it by one.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        self.epoch += 1
        yield from order[: len(self) * self.batch_size].split(self.batch_size)


def batch_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    drop_last: bool = False,
    seed: int = 0,
    num_workers: int = 0,
) -> DataLoader:
    """A ``DataLoader`` over a dataset whose ``__getitem__`` takes a tensor of indices."""
    sampler = BatchIndexSampler(len(dataset), batch_size, shuffle, drop_last, seed)
    return DataLoader(
        dataset,
        batch_size=None,  # the sampler already yields whole batches
        sampler=sampler,
        collate_fn=_identity,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


def _identity(batch: Batch) -> Batch:
    return batch
