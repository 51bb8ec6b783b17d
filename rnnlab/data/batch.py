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
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, SequentialSampler

from rnnlab.utils.errors import check_count

IGNORE = -100  # the target of a padded position, which losses and metrics skip


@dataclass
class Batch:
    """A batch of sequences.

    Attributes:
        x: inputs, ``(B, T, F)`` float features or ``(B, T)`` token ids.
        y: targets; the shape depends on the dataset (``(B, H, C)`` for forecasting);
            ``None`` in a batch to predict.
        lengths: valid length of each sequence, ``(B,)``; ``None`` when all are ``T`` long.
        mask: ``(B, T)`` bool, ``True`` on valid steps; ``None`` when nothing is padded.
        future: forecasting only, the known-future covariates at the target steps,
            ``(B, H, K)``; ``None`` without them.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    lengths: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    future: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, *args, **kwargs) -> Batch:
        """A copy on another device or dtype; Lightning moves batches through this method."""

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(*args, **kwargs)

        return Batch(
            move(self.x), move(self.y), move(self.lengths), move(self.mask), move(self.future)
        )


class WindowDataset(Dataset):
    """Sliding windows over a ``(N, F)`` series, gathered a whole batch at a time.

    Item ``i`` is the window whose first target is at ``starts[i]``: inputs are all ``F``
    columns of the ``window`` steps before it, targets the first ``num_targets`` columns of
    the ``horizon`` steps from it. The last ``num_future`` columns are known-future covariates
    (calendar features, planned prices): their values at the target steps are the batch's
    ``future``. Indexing with a tensor of ``B`` indices returns a :class:`Batch` of ``B``
    windows.
    """

    def __init__(
        self,
        series: torch.Tensor,
        starts: torch.Tensor,
        window: int,
        horizon: int,
        num_targets: int | None = None,
        num_future: int = 0,
    ):
        self.series = series  # (N, F)
        self.starts = starts  # (S,) index of each window's first target
        self.num_targets = series.shape[1] if num_targets is None else num_targets
        self.num_future = num_future
        self._past = torch.arange(-window, 0)  # (W,)
        self._future = torch.arange(horizon)  # (H,)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: torch.Tensor | int) -> Batch:
        # A lone int (Lightning swaps in a per-sample sampler for overfit_batches): a batch of one.
        t = self.starts[torch.as_tensor(index).reshape(-1)]  # (B,)
        x = self.series[t[:, None] + self._past]  # (B, W, F)
        ahead = self.series[t[:, None] + self._future]  # (B, H, F)
        future = ahead[..., ahead.shape[-1] - self.num_future :] if self.num_future else None
        return Batch(x=x, y=ahead[..., : self.num_targets], future=future)

    def batches(self, indices: list[torch.Tensor]) -> list[Batch]:
        """The batch of each index tensor in ``indices``, gathered together: windows all have
        one shape, so one gather serves them all (a fraction of one gather each)."""
        whole = self[torch.cat(indices)]
        sizes = [len(index) for index in indices]
        xs, ys = whole.x.split(sizes), whole.y.split(sizes)
        futures = whole.future.split(sizes) if whole.future is not None else [None] * len(sizes)
        return [Batch(x=x, y=y, future=f) for x, y, f in zip(xs, ys, futures, strict=True)]


class SequenceDataset(Dataset):
    """Whole sequences with one target each, gathered a batch at a time.

    Sequences are stored padded once, ``(N, T_max, F)``; a batch is cut to its own longest
    sequence, with ``lengths`` and ``mask`` set, so padding never grows beyond the batch.

    Args:
        values: padded inputs, ``(N, T_max, F)`` (or ``(N, T_max)`` token ids).
        lengths: valid steps of each sequence, ``(N,)``, each at least 1.
        targets: one target per sequence, ``(N, ...)``; with ``aligned``, one per step,
            ``(N, T_max, ...)``, cut with the inputs.
        aligned: targets are per step (tagging) rather than per sequence.
    """

    def __init__(
        self,
        values: torch.Tensor,
        lengths: torch.Tensor,
        targets: torch.Tensor,
        aligned: bool = False,
    ):
        if not len(values) == len(lengths) == len(targets):
            raise ValueError("values, lengths and targets must hold the same number of sequences.")
        if aligned and targets.shape[1] != values.shape[1]:
            raise ValueError("aligned targets must have the inputs' number of steps.")
        self.values, self.lengths, self.targets = values, lengths, targets
        self.aligned = aligned

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: torch.Tensor | int) -> Batch:
        index = torch.as_tensor(index).reshape(-1)  # (B,)
        lengths = self.lengths[index]  # (B,)
        steps = int(lengths.max())
        mask = torch.arange(steps)[None] < lengths[:, None]  # (B, T)
        targets = self.targets[index, :steps] if self.aligned else self.targets[index]
        return Batch(self.values[index, :steps], targets, lengths, mask)


def pad_sequences(sequences: list[torch.Tensor], value: float = 0.0):
    """Stack sequences of different lengths, ``(T_i, ...)`` each, into ``(N, T_max, ...)``.

    Returns the padded tensor and the lengths ``(N,)``. An empty sequence has nothing for a
    recurrent net to read, so it is refused.
    """
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    if len(sequences) and int(lengths.min()) == 0:
        empty = int((lengths == 0).nonzero()[0])
        raise ValueError(f"sequence {empty} is empty; every sequence needs at least one step.")
    padded = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True, padding_value=value)
    return padded, lengths


class BatchIndexSampler(Sampler[torch.Tensor | list[torch.Tensor]]):
    """Yields one ``LongTensor`` of dataset indices per batch; with ``group`` above 1, a list
    of the index tensors of ``group`` consecutive batches (the last list of a pass may be
    shorter), on each of which a task with ``task.steps_per_batch`` takes an optimizer step.

    Shuffling is seeded by ``seed`` and the epoch, so a resumed run sees the same order as an
    uninterrupted one. Lightning sets the epoch through ``set_epoch``; where nothing does (under
    DDP Lightning wraps this sampler and deals whole batches out to the ranks), each pass
    advances it by one. :meth:`start_at` makes the next passes begin later in their order, which
    is how :class:`ResumableLoader` continues an epoch that a checkpoint interrupted. Lengths
    and positions (``len``, :meth:`start_at`) count what it yields: groups, where it groups.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        group: int = 1,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        if group < 1:
            raise ValueError(f"group must be at least 1, got {group}.")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.group = group
        self.epoch = 0
        self.first_batch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def start_at(self, batch: int) -> None:
        """Begin the passes started from now on with their batch (or group) number ``batch``
        (0: the first), skipping those before it in the same order."""
        self.first_batch = batch

    def num_batches(self) -> int:
        """Batches in one pass (each of ``batch_size`` indices, the last one maybe fewer)."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def __len__(self) -> int:
        return -(-self.num_batches() // self.group)

    def __iter__(self) -> Iterator[torch.Tensor]:
        # Not a generator: the order and the starting batch are fixed when the pass begins
        # (when the loader asks for its iterator), not at its first batch.
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        self.epoch += 1
        batches = order[: self.num_batches() * self.batch_size].split(self.batch_size)
        if self.group > 1:
            batches = [
                list(batches[i : i + self.group]) for i in range(0, len(batches), self.group)
            ]
        return iter(batches[self.first_batch :])


@runtime_checkable
class GathersBatches(Protocol):
    """A dataset that gathers several batches at once faster than one by one."""

    def batches(self, indices: list[torch.Tensor]) -> list[Batch]: ...


@runtime_checkable
class Resumable(Protocol):
    """What decides the order of a loader's batches (the sampler of an indexed dataset, or an
    iterable dataset itself) and can begin a pass part-way through it."""

    def start_at(self, batch: int) -> None:
        """Begin the passes started from now on with their batch number ``batch``."""


class ResumableLoader(DataLoader):
    """A ``DataLoader`` that a checkpoint can interrupt in the middle of a pass.

    Its :meth:`state_dict` holds the epoch of the current pass and how many batches of it were
    handed out; Lightning saves that state with every checkpoint of a training loader and loads
    it when a run resumes. The next pass of the same epoch then starts with the very next batch
    of the same order: the sampler (or iterable dataset) jumps there when it is
    :class:`Resumable`, and otherwise (a sampler that Lightning wrapped for DDP) the batches
    before it are read and dropped. A pass of another epoch, or a state whose pass was complete,
    starts at the beginning.

    The epoch is named by :meth:`set_epoch` (rnnlab's
    :class:`~rnnlab.callbacks.exact_resume.ExactResume` callback does it at the start of every
    training epoch); without it, a loaded state applies to the next pass.

    The constructor is ``DataLoader``'s own, so Lightning can rebuild the loader with a
    distributed sampler.
    """

    _epoch: int | None = None  # the epoch of the current pass, where someone names it
    _handed_out: int = 0  # batches of the current pass handed out so far
    _pending: dict[str, Any] | None = None  # a loaded state, for the next pass

    def set_epoch(self, epoch: int) -> None:
        """Name the epoch of the passes that start from now on."""
        self._epoch = epoch

    def state_dict(self) -> dict[str, Any]:
        state = {"epoch": self._epoch, "batches": self._handed_out}
        if self._group() > 1:  # items of several batches each
            state["group"] = self._group()
        return state

    def _group(self) -> int:
        """Batches in each item handed out (several where the sampler groups them)."""
        return getattr(self.sampler, "group", 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = dict(state_dict)

    def __iter__(self) -> Iterator[Any]:
        # A generator, so that the pass begins at its first batch: after Lightning (which asks
        # for the iterator early) has set the epoch.
        skip = self._take_skip()
        source = self.dataset if isinstance(self.dataset, IterableDataset) else self.sampler
        jumps = isinstance(source, Resumable)
        if jumps and skip:
            source.start_at(skip)
        try:
            batches = super().__iter__()
        finally:
            if jumps and skip:
                source.start_at(0)  # only this pass begins late
        for _ in range(0 if jumps else skip):
            next(batches)  # a source that cannot jump: read and drop
        self._handed_out = skip
        for batch in batches:
            self._handed_out += 1  # counted when handed out: a checkpoint now resumes after it
            yield batch

    def _take_skip(self) -> int:
        """Batches to skip at the start of this pass: those of a loaded state of the same
        epoch that stopped part-way through it."""
        pending, self._pending = self._pending, None
        if pending is None:
            return 0
        epoch, batches = pending.get("epoch"), int(pending.get("batches", 0))
        # Items of another grouping (a run resumed with another task.steps_per_batch): the
        # whole groups of this one that the items handed out cover.
        batches = batches * int(pending.get("group", 1)) // self._group()
        same_epoch = epoch is None or self._epoch is None or epoch == self._epoch
        return batches if same_epoch and 0 < batches < len(self) else 0


def batch_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    drop_last: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    group: int = 1,
) -> DataLoader:
    """A :class:`ResumableLoader` over a dataset whose ``__getitem__`` takes a tensor of
    indices; with ``group`` above 1 each item it yields is a list of ``group`` consecutive
    batches (see :class:`BatchIndexSampler`)."""
    sampler = BatchIndexSampler(len(dataset), batch_size, shuffle, drop_last, seed, group)
    return ResumableLoader(
        dataset if group == 1 else GroupedBatches(dataset),
        batch_size=None,  # the sampler already yields whole batches
        sampler=sampler,
        collate_fn=_identity,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        # Each pass draws its workers' base seed from this generator rather than from the
        # global one, so that starting a pass (which a resumed run does at another moment than
        # an uninterrupted one) leaves the global random state alone.
        generator=torch.Generator().manual_seed(seed),
    )


def in_order_loader(
    dataset: Dataset, batch_size: int, group: int = 1, num_workers: int = 0
) -> DataLoader:
    """``dataset``'s batches in order, read through a plain ``SequentialSampler`` over
    :class:`InOrderBatches`. Under ``trainer.overfit_batches`` Lightning keeps such a loader,
    where it would swap any other sampler for one over single windows (batches of one)."""
    batches = InOrderBatches(dataset, batch_size, group)
    return DataLoader(
        batches,
        batch_size=None,
        sampler=SequentialSampler(batches),
        collate_fn=_identity,
        num_workers=num_workers,
    )


class InOrderBatches(Dataset):
    """Item ``i`` is ``dataset``'s ``i``-th batch of ``batch_size`` in order (with ``group``
    above 1, a list of ``group`` consecutive batches, as :class:`BatchIndexSampler` groups)."""

    def __init__(self, dataset: Dataset, batch_size: int, group: int = 1):
        self.dataset = dataset if group == 1 else GroupedBatches(dataset)
        self.indices = list(BatchIndexSampler(len(dataset), batch_size, group=group))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[self.indices[i]]


def _identity(batch: Batch) -> Batch:
    return batch


class GroupedBatches(Dataset):
    """``dataset``, indexed by a list of index tensors: the list of their batches, gathered
    together where the dataset can (:class:`GathersBatches`). Any other index (from a sampler
    that Lightning put in place, as ``overfit_batches`` does) reads ``dataset`` itself."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._together = isinstance(dataset, GathersBatches)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices: Any) -> Any:
        if not isinstance(indices, list):
            return self.dataset[indices]
        if self._together:
            return self.dataset.batches(indices)
        return [self.dataset[batch] for batch in indices]


class InMemoryDataModule(L.LightningDataModule):
    """A datamodule whose ``setup`` fills ``self.datasets`` with in-memory ``"train"``,
    ``"val"`` and ``"test"`` datasets indexed a batch at a time; this class serves them.

    Training batches are shuffled by ``seed`` and the epoch; the others keep their order.

    Args:
        batch_size: sequences per training batch.
        num_workers: ``DataLoader`` workers; batches are gathered in memory, so 0 is fastest.
        seed: seed of the shuffling (and, in subclasses, of generation and splits).
    """

    drop_last_train = False  # a subclass whose loss is sensitive to a tiny last batch sets it

    def __init__(self, batch_size: int, num_workers: int = 0, seed: int = 0):
        super().__init__()
        check_count("data.batch_size", batch_size, 1)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.datasets: dict[str, Dataset] = {}

    def eval_batch_size(self) -> int:
        """Batch size of validation and test; evaluation keeps no graph, so it may be larger."""
        return self.batch_size

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches; a list of ``steps_per_batch`` of them at a time while a
        task that takes several optimizer steps per Lightning batch
        (``task.steps_per_batch``) is fitted on this data."""
        trainer = self.trainer
        group = getattr(trainer.lightning_module, "steps_per_batch", 1) if trainer else 1
        return self._loader("train", self.batch_size, shuffle=True, group=group)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size())

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size())

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size())

    def test_variants(self) -> dict[str, DataLoader]:
        """Further test sets, each scored as the test split is, by the same weights, and
        reported as ``test/<metric>@<name>`` (``test/acc@200``): none here. A subclass offers
        them where one trained net is worth testing on several versions of the test data
        (synthetic sets tested at several lengths, ``data.test_length=[50,100,200]``)."""
        return {}

    def loader(self, data: Dataset) -> DataLoader:
        """An evaluation loader of ``data``: in order, at the evaluation batch size."""
        return batch_loader(data, self.eval_batch_size(), False, False, self.seed, self.num_workers)

    def _loader(
        self, split: str, batch_size: int, shuffle: bool = False, group: int = 1
    ) -> DataLoader:
        if split not in self.datasets:  # asked for outside a Trainer, before setup()
            self.setup("test" if split == "test" else "fit")
        if split in ("train", "val") and self.trainer is not None and self.trainer.overfit_batches:
            # The first batches, in order, at the split's batch size (see in_order_loader).
            return in_order_loader(self.datasets[split], batch_size, group, self.num_workers)
        drop_last = shuffle and self.drop_last_train
        return batch_loader(
            self.datasets[split], batch_size, shuffle, drop_last, self.seed, self.num_workers, group
        )
