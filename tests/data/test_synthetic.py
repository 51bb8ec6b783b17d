import pytest
import torch

from rnnlab.data import AddingDataModule, CountDataModule, ParityDataModule
from rnnlab.utils.errors import ConfigError


def everything(dm, split="train"):
    dm.setup()
    ds = dm.datasets[split]
    return ds[torch.arange(len(ds))]


def test_count_labels_say_whether_more_than_half_are_ones():
    batch = everything(CountDataModule(length=15, min_length=5, num_train=500))
    ones = (batch.x[..., 0] * batch.mask).sum(1)
    assert torch.equal(batch.y, (2 * ones > batch.lengths).long())
    assert batch.lengths.min() >= 5 and batch.lengths.max() <= 15
    assert (batch.x[~batch.mask] == 0).all()  # padding is zero
    assert 0.3 < batch.y.float().mean() < 0.7


def test_parity_labels_and_spec():
    dm = ParityDataModule(length=9, num_train=300)
    batch = everything(dm)
    assert torch.equal(batch.y, batch.x[..., 0].sum(1).long() % 2)
    assert dm.spec.num_classes == 2 and dm.spec.inputs.features == 1


def test_adding_targets_and_the_mean_predictor():
    dm = AddingDataModule(length=100, num_train=4000)
    batch = everything(dm)
    values, markers = batch.x[..., 0], batch.x[..., 1]
    assert torch.equal(markers.sum(1), torch.full((4000,), 2.0))
    first_half = markers[:, :50].sum(1)
    assert torch.equal(first_half, torch.ones(4000))  # one marker in each half
    torch.testing.assert_close(batch.y[:, 0, 0], (values * markers).sum(1))
    assert batch.y.var().item() == pytest.approx(1 / 6, rel=0.08)
    assert dm.spec.horizon == 1 and dm.spec.inputs.features == 2


def test_splits_differ_and_repeat_with_the_seed():
    a, b = CountDataModule(num_train=50, seed=3), CountDataModule(num_train=50, seed=3)
    assert torch.equal(everything(a).x, everything(b).x)
    assert not torch.equal(everything(a, "val").x[:50], everything(a).x[:50])


def test_bad_sizes_are_refused():
    with pytest.raises(
        ConfigError, match="data.min_length=30 must be between 1 and data.length=20"
    ):
        CountDataModule(length=20, min_length=30)
    with pytest.raises(ConfigError, match="data.num_test=0 must be at least 1"):
        ParityDataModule(num_test=0)


def test_adding_chance_mse_is_the_mse_of_predicting_the_mean_at_any_length():
    # Mixed lengths, some as short as 2: the derivation (two distinct U(0, 1) steps, variance
    # 2/12) holds for every length, so the measured MSE of the constant 1 must match it.
    dm = AddingDataModule(length=40, min_length=2, num_train=20_000, num_val=1, num_test=1)
    batch = everything(dm)
    measured = ((batch.y - 1.0) ** 2).mean().item()
    assert dm.spec.facts() == {"data/chance_mse": pytest.approx(1 / 6)}
    assert measured == pytest.approx(dm.spec.chance_mse, rel=0.04)
    assert batch.y.mean().item() == pytest.approx(1.0, abs=0.01)


def test_parity_chance_accuracy_is_one_half():
    dm = ParityDataModule(length=30, min_length=1, num_train=20_000, num_val=1, num_test=1)
    batch = everything(dm)
    majority = max(batch.y.float().mean().item(), 1 - batch.y.float().mean().item())
    assert dm.spec.facts() == {"data/chance_acc": 0.5}
    assert majority == pytest.approx(dm.spec.chance_acc, abs=0.015)
