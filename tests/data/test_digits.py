import pytest
import torch

pytest.importorskip("sklearn")

from rnnlab.data.digits import DigitsDataModule  # noqa: E402
from rnnlab.utils.errors import ConfigError  # noqa: E402


@pytest.mark.parametrize("steps, shape", [("rows", (8, 8)), ("pixels", (64, 1))])
def test_digits_as_sequences(steps, shape):
    dm = DigitsDataModule(steps=steps)
    dm.setup()
    sizes = {split: len(ds) for split, ds in dm.datasets.items()}
    assert sum(sizes.values()) == 1797
    batch = dm.datasets["test"][torch.arange(5)]
    assert batch.x.shape[1:] == shape and batch.x.min() >= 0 and batch.x.max() <= 1
    assert dm.spec.inputs.features == shape[1] and dm.spec.num_classes == 10
    # Stratified: every class is in every split.
    for ds in dm.datasets.values():
        assert set(ds.targets.tolist()) == set(range(10))


def test_the_nearest_neighbour_baseline_matches_scikit_learn():
    from sklearn.neighbors import KNeighborsClassifier

    dm = DigitsDataModule(steps="pixels")
    dm.setup()
    baseline = dm.baselines()["nearest_neighbour"]
    train, test = dm.datasets["train"], dm.datasets["test"]
    reference = KNeighborsClassifier(n_neighbors=1).fit(train.values.flatten(1), train.targets)
    expected = torch.as_tensor(reference.predict(test.values.flatten(1)))
    assert baseline.targets.equal(test.targets)
    assert (baseline.predictions == expected).float().mean() > 0.99  # ties may break otherwise
    assert (baseline.predictions == test.targets).float().mean() > 0.9


def test_permuted_pixels_read_every_image_in_one_fixed_order():
    from sklearn.datasets import load_digits

    from rnnlab.data.splits import stratified_split

    plain = DigitsDataModule(steps="pixels", seed=4)
    permuted = DigitsDataModule(steps="pixels", permute=True, seed=4)
    plain.setup()
    permuted.setup()
    order = permuted.permutation
    assert torch.equal(order.sort().values, torch.arange(64))  # a permutation...
    assert not torch.equal(order, torch.arange(64))  # ...that moves pixels
    for split in ("train", "val", "test"):  # the same order in every split
        a, b = plain.datasets[split], permuted.datasets[split]
        assert torch.equal(b.values, a.values[:, order]) and torch.equal(b.targets, a.targets)
    # The order repeats with its seed, follows data.seed unless permute_seed is given.
    assert torch.equal(DigitsDataModule(steps="pixels", permute=True, seed=4).permutation, order)
    chosen = DigitsDataModule(steps="pixels", permute=True, seed=4, permute_seed=4).permutation
    assert torch.equal(chosen, order)
    other = DigitsDataModule(steps="pixels", permute=True, seed=4, permute_seed=5).permutation
    assert not torch.equal(other, order)
    # permute=false is the images' own pixel order, row by row.
    digits = load_digits()
    labels = torch.as_tensor(digits.target)
    index = stratified_split(labels, (0.7, 0.1, 0.2), 4)[0]
    pixels = torch.as_tensor(digits.data, dtype=torch.float32)[index] / 16  # (N, 64)
    assert plain.permutation is None
    assert torch.equal(plain.datasets["train"].values[..., 0], pixels)


def test_permuting_rows_is_refused():
    with pytest.raises(ConfigError, match="data.permute=true reorders pixels"):
        DigitsDataModule(steps="rows", permute=True)
