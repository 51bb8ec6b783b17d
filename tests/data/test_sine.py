import math

import numpy as np
import pytest
import torch

from rnnlab.data import SineDataModule
from rnnlab.utils.errors import ConfigError


def test_series_follows_the_tutorial_formula_and_noise_floor():
    dm = SineDataModule(length=5000, noise_std=0.1, seed=7)
    dm.setup()
    t = np.arange(5000)
    clean = np.sin(0.02 * t) + 0.5 * np.sin(0.01 * t)
    residual = dm.series[:, 0].numpy() - clean
    assert abs(residual.std() - 0.1) < 0.005
    assert dm.spec.noise_floor == pytest.approx(0.01)
    assert dm.spec.inputs.features == 1 and dm.spec.horizon == 1


def test_pure_variant_is_noiseless_sin():
    dm = SineDataModule(length=500, variant="pure")
    dm.setup()
    torch.testing.assert_close(dm.series[:, 0], torch.sin(0.1 * torch.arange(500.0)))
    assert dm.spec.noise_floor == 0


def test_splits_are_in_time_order_and_share_no_target():
    dm = SineDataModule(length=2000, window=20, horizon=3)
    dm.setup()
    targets = {}
    for split, ds in dm.datasets.items():
        t = ds.starts[:, None] + torch.arange(3)
        targets[split] = set(t.flatten().tolist())
    assert not targets["train"] & targets["val"]
    assert not targets["val"] & targets["test"]
    assert max(targets["train"]) < min(targets["val"]) <= max(targets["val"]) < min(targets["test"])
    # Every target step after the first window is used by exactly one split.
    assert set().union(*targets.values()) == set(range(20, 2000))


def test_default_test_span_is_large_enough_for_a_one_percent_ratio():
    dm = SineDataModule()
    dm.setup()
    n = len(dm.datasets["test"])
    assert n >= 20_000
    # Relative standard error of an MSE whose errors are ~Gaussian: sqrt(2 / n).
    assert math.sqrt(2 / n) < 0.01


def test_batches_are_gathered_in_memory():
    dm = SineDataModule(length=3000, batch_size=64)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch.x.shape == (64, 20, 1) and batch.y.shape == (64, 1, 1)
    # The first target of a window is the step right after its last input.
    start = dm.datasets["train"].starts[0]
    torch.testing.assert_close(dm.datasets["train"][torch.tensor([0])].y[0, 0], dm.series[start])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window": 0}, "data.window=0 must be at least 1"),
        ({"window": 5000, "length": 1000}, "data.window=5000 plus data.horizon=1 is longer"),
        ({"horizon": 0}, "data.horizon=0"),
        ({"variant": "cosine"}, "data.variant='cosine'"),
        ({"splits": (0.5, 0.5, 0.5)}, "data.splits"),
    ],
)
def test_bad_values_are_refused_with_one_sentence(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SineDataModule(**kwargs)
