import pytest
import torch

pytest.importorskip("sklearn")

from rnnlab.data.digits import DigitsDataModule  # noqa: E402


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
