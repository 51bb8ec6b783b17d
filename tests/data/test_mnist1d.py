import random

import numpy as np
import pytest
import torch

pytest.importorskip("mnist1d")

from mnist1d.data import get_dataset_args, make_dataset  # noqa: E402

from rnnlab.data.mnist1d import Mnist1DDataModule  # noqa: E402
from rnnlab.utils.errors import ConfigError  # noqa: E402


def test_the_package_generator_makes_40_step_series_of_10_classes():
    random.seed(7)
    np.random.seed(7)
    before = random.random(), np.random.rand()
    random.seed(7)
    np.random.seed(7)
    dm = Mnist1DDataModule(num_samples=300, val_fraction=0.2, seed=1)
    dm.setup()
    # Generating leaves the process's random state as it found it.
    assert (random.random(), np.random.rand()) == before
    train, val, test = (dm.datasets[s] for s in ("train", "val", "test"))
    assert len(train) + len(val) == 240 and len(test) == 60  # the package's 80/20 split
    assert train.values.shape[1:] == (40, 1) and dm.spec.inputs.features == 1
    assert dm.spec.num_classes == 10 and set(val.targets.tolist()) == set(range(10))
    # The same series as the package's own generator with its defaults but the size.
    args = get_dataset_args()
    args.num_samples = 300
    reference = make_dataset(args)
    assert torch.equal(test.values[..., 0], torch.as_tensor(reference["x_test"]).float())
    assert torch.equal(test.targets, torch.as_tensor(reference["y_test"]))
    pool = torch.as_tensor(reference["x"]).float()  # train and val are the package's train split
    ours = torch.cat([train.values[..., 0], val.values[..., 0]])
    assert torch.equal(ours.sort(0).values, pool.sort(0).values)


def test_bad_sizes_are_refused():
    with pytest.raises(ConfigError, match="data.val_fraction=1.5 must be between 0 and 1"):
        Mnist1DDataModule(val_fraction=1.5)
    with pytest.raises(ConfigError, match="data.num_samples=10 must be at least 100"):
        Mnist1DDataModule(num_samples=10)


def test_a_gru_trains_on_it(tmp_path):
    from rnnlab.train import train
    from tests.conftest import compose_config

    overrides = ["model=gru", "data=mnist1d", "data.num_samples=200", "trainer=cpu"]
    overrides += ["trainer.max_epochs=1", "~callbacks.rich_progress_bar"]
    metrics, _ = train(compose_config("train", overrides, tmp_path))
    assert 0 <= metrics["test/acc"] <= 1 and metrics["test/loss"] > 0
