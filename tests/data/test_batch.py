import pytest
import torch

from rnnlab.data.batch import (
    BatchIndexSampler,
    GathersBatches,
    GroupedBatches,
    ResumableLoader,
    SequenceDataset,
    WindowDataset,
    batch_loader,
)


def test_sampler_covers_every_index_once_per_epoch():
    sampler = BatchIndexSampler(103, 10, shuffle=True, seed=1)
    seen = torch.cat(list(sampler))
    assert len(list(sampler)) == len(sampler) == 11
    assert sorted(seen.tolist()) == list(range(103))


def test_sampler_drop_last_and_order():
    sampler = BatchIndexSampler(103, 10, drop_last=True)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 10
    assert torch.equal(torch.cat(batches), torch.arange(100))


def test_shuffle_depends_on_seed_and_epoch_only():
    a, b = (
        BatchIndexSampler(50, 50, shuffle=True, seed=3),
        BatchIndexSampler(50, 50, shuffle=True, seed=3),
    )
    a.set_epoch(4)
    b.set_epoch(4)
    assert torch.equal(next(iter(a)), next(iter(b)))
    b.set_epoch(5)
    assert not torch.equal(next(iter(a.__class__(50, 50, True, seed=3))), next(iter(b)))


def test_windows_are_aligned_with_their_targets():
    series = torch.arange(30.0).unsqueeze(-1)  # value == time step
    ds = WindowDataset(series, starts=torch.arange(5, 28), window=5, horizon=3)
    batch = ds[torch.tensor([0, 7])]
    assert batch.x.shape == (2, 5, 1) and batch.y.shape == (2, 3, 1)
    assert batch.x[0, :, 0].tolist() == [0, 1, 2, 3, 4]
    assert batch.y[0, :, 0].tolist() == [5, 6, 7]
    assert batch.x[1, -1, 0] + 1 == batch.y[1, 0, 0] == 12


def test_loader_yields_whole_batches():
    ds = WindowDataset(torch.randn(100, 2), torch.arange(10, 100), window=10, horizon=1)
    batches = list(batch_loader(ds, batch_size=32))
    assert [len(b) for b in batches] == [32, 32, 26]
    assert batches[0].x.shape == (32, 10, 2)


def _fingerprints(batches) -> list[float]:
    return [float(b.y.sum()) for b in batches]


def test_a_loader_resumed_mid_epoch_yields_exactly_the_remaining_batches():
    ds = WindowDataset(torch.randn(400, 1), torch.arange(10, 400), window=10, horizon=1)
    uninterrupted = batch_loader(ds, batch_size=16, shuffle=True, seed=7)
    uninterrupted.sampler.set_epoch(3)
    expected = _fingerprints(uninterrupted)  # the whole of epoch 3

    stopped = batch_loader(ds, batch_size=16, shuffle=True, seed=7)
    stopped.set_epoch(3)
    stopped.sampler.set_epoch(3)
    batches = iter(stopped)
    seen = _fingerprints(next(batches) for _ in range(5))
    state = stopped.state_dict()
    assert state == {"epoch": 3, "batches": 5}

    resumed = batch_loader(ds, batch_size=16, shuffle=True, seed=7)  # a new process
    resumed.load_state_dict(state)
    resumed.set_epoch(3)
    resumed.sampler.set_epoch(3)
    rest = _fingerprints(resumed)
    assert seen + rest == expected and len(rest) == len(expected) - 5
    assert resumed.state_dict() == {"epoch": 3, "batches": len(expected)}
    resumed.sampler.set_epoch(4)
    assert len(list(resumed)) == len(expected)  # only the resumed pass starts late


def test_a_loaded_state_of_an_earlier_epoch_or_a_finished_pass_starts_at_the_beginning():
    ds = WindowDataset(torch.randn(200, 1), torch.arange(10, 200), window=10, horizon=1)
    loader = batch_loader(ds, batch_size=16, shuffle=True, seed=7)
    loader.load_state_dict({"epoch": 2, "batches": 5})  # taken at the end of a limited epoch 2
    loader.set_epoch(3)
    assert len(list(loader)) == len(loader)
    loader.load_state_dict({"epoch": 3, "batches": len(loader)})
    assert len(list(loader)) == len(loader)


def test_a_loader_whose_sampler_cannot_jump_reads_and_drops_the_batches_before():
    # Lightning rebuilds a loader with a sampler of its own under DDP or overfit_batches.
    loader = ResumableLoader(torch.arange(100), batch_size=10)
    loader.load_state_dict({"epoch": None, "batches": 4})
    assert torch.equal(torch.cat(list(loader)), torch.arange(40, 100))
    assert loader.state_dict()["batches"] == 10


def test_a_grouping_loader_yields_lists_of_consecutive_batches():
    ds = WindowDataset(torch.randn(400, 1), torch.arange(10, 400), window=10, horizon=1)
    single = _fingerprints(batch_loader(ds, batch_size=16, shuffle=True, seed=7))  # 25 batches
    grouped = batch_loader(ds, batch_size=16, shuffle=True, seed=7, group=4)
    groups = list(grouped)
    assert len(groups) == len(grouped) == 7
    assert [len(g) for g in groups] == [4] * 6 + [1]
    assert [f for g in groups for f in _fingerprints(g)] == single


@pytest.mark.parametrize("together", [True, False])
def test_a_group_is_gathered_into_the_batches_of_its_indices(together):
    """Windows are gathered for the whole group at once (``WindowDataset.batches``); a dataset
    without that method is read batch by batch. Both give each index tensor's own batch."""
    series = torch.randn(300, 3)
    windows = WindowDataset(series, torch.arange(10, 290), 10, 4, num_targets=2, num_future=1)
    lengths = torch.randint(1, 8, (40,))
    sequences = SequenceDataset(series[:280].reshape(40, 7, 3), lengths, torch.arange(40))
    dataset = windows if together else sequences
    assert isinstance(dataset, GathersBatches) == together
    indices = [torch.tensor([5, 0, 17]), torch.tensor([3]), torch.tensor([9, 2])]
    for got, index in zip(GroupedBatches(dataset)[indices], indices, strict=True):
        expected = dataset[index]
        for field in ("x", "y", "lengths", "mask", "future"):
            a, b = getattr(got, field), getattr(expected, field)
            assert (a is None and b is None) or torch.equal(a, b), field


def test_a_grouped_pass_resumes_after_its_groups_and_converts_another_grouping():
    ds = WindowDataset(torch.randn(400, 1), torch.arange(10, 400), window=10, horizon=1)
    single = _fingerprints(batch_loader(ds, batch_size=16, shuffle=True, seed=7))
    stopped = batch_loader(ds, batch_size=16, shuffle=True, seed=7, group=4)
    groups = iter(stopped)
    next(groups), next(groups)
    state = stopped.state_dict()
    assert state == {"epoch": None, "batches": 2, "group": 4}

    for group, skipped in [(4, 8), (2, 8), (3, 6), (1, 8)]:  # whole groups of 8 batches
        resumed = batch_loader(ds, batch_size=16, shuffle=True, seed=7, group=group)
        resumed.load_state_dict(state)
        rest = list(resumed)
        flat = [f for g in rest for f in _fingerprints(g if group > 1 else [g])]
        assert flat == single[skipped:], group


@pytest.mark.parametrize("loader", ["train_dataloader", "val_dataloader", "test_dataloader"])
def test_a_loader_asked_for_outside_a_trainer_sets_the_data_up_first(loader):
    # Lightning's Trainer calls setup() before any loader; a user's own loop may not.
    from rnnlab.data.sine import SineDataModule

    batch = next(iter(getattr(SineDataModule(length=3000, batch_size=16), loader)()))
    assert batch.x.shape[1:] == (20, 1)
