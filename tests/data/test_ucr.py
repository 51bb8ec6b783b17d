import re

import pytest
import torch

from rnnlab.data.ucr import UCRDataModule
from rnnlab.utils.errors import ConfigError
from tests.conftest import run_main

HEADER = "@problemName toy\n@univariate true\n@classLabel true a b\n@data\n"


def write(path, cases):
    path.write_text(HEADER + "".join(f"{values}:{label}\n" for values, label in cases))
    return path


def test_a_train_test_pair_keeps_its_split_and_standardises_on_train_only(tmp_path):
    write(tmp_path / "toy_TRAIN.ts", [("1,2,3", "a"), ("3,4,5,6", "b")] * 10)
    write(tmp_path / "toy_TEST.ts", [("100,100", "a"), ("5,5,5", "b")])
    dm = UCRDataModule(path=str(tmp_path / "toy_TRAIN.ts"), val_fraction=0.2)
    dm.setup()
    assert [len(dm.datasets[s]) for s in ("train", "val", "test")] == [16, 4, 2]
    assert dm.spec.num_classes == 2 and dm.spec.inputs.features == 1
    train = dm.datasets["train"][torch.arange(16)]
    valid = train.x[train.mask]
    assert valid.mean().abs() < 1e-5 and (valid.std(unbiased=False) - 1).abs() < 1e-5
    test = dm.datasets["test"][torch.arange(2)]
    assert test.lengths.tolist() == [2, 3] and test.x[0, 0, 0] > 10  # scaled by train stats
    assert "mean" in dm.state_dict() and dm.state_dict()["class_labels"] == ["a", "b"]


def test_a_single_file_is_split_by_class(tmp_path):
    write(tmp_path / "one.ts", [("1,2", "a"), ("3,4,5", "b")] * 20)
    dm = UCRDataModule(path=str(tmp_path / "one.ts"), test_fraction=0.25, val_fraction=0.2)
    dm.setup()
    assert len(dm.datasets["test"]) == 10
    assert sum(len(ds) for ds in dm.datasets.values()) == 40


def test_missing_file_and_missing_choice_are_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        UCRDataModule(path=str(tmp_path / "nope.ts"))
    with pytest.raises(ConfigError, match="needs data.name"):
        UCRDataModule()


@pytest.mark.parametrize(
    "cases, message",
    [
        ([("1,2", "a"), ("3,4", "z")], "label"),  # a class outside the label set
        ([("1,2", "a"), ("", "b")], "no values"),  # an empty sequence
        ([("1,x", "a"), ("3,4", "b")], "x"),  # a value that does not parse
    ],
)
def test_bad_files_end_with_one_line_and_a_nonzero_exit(tmp_path, cases, message):
    path = write(tmp_path / "bad.ts", cases * 5)
    result = run_main("rnnlab.train", "data=ucr", f"data.path={path}", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


@pytest.mark.parametrize("name, channels, classes", [("GunPoint", 1, 2), ("JapaneseVowels", 12, 9)])
def test_bundled_sets(name, channels, classes):
    pytest.importorskip("sktime")
    dm = UCRDataModule(name=name)
    dm.setup()
    assert dm.spec.inputs.features == channels and dm.spec.num_classes == classes
    if name == "JapaneseVowels":  # variable length: batches are padded and masked
        batch = dm.datasets["test"][torch.arange(64)]
        assert batch.lengths.min() < batch.lengths.max() == batch.x.shape[1]


def test_a_regression_file_is_refused_in_one_sentence(tmp_path):
    path = tmp_path / "reg.ts"
    path.write_text("@problemName reg\n@univariate true\n@targetLabel true\n@data\n1,2,3:0.5\n")
    with pytest.raises(ConfigError, match=r"data.path=.*reg.ts is a regression set"):
        UCRDataModule(path=str(path))


@pytest.mark.parametrize("name", ["Covid3Month", "Tecator"])
def test_bundled_regression_sets_are_refused(name):
    pytest.importorskip("sktime")
    with pytest.raises(ConfigError, match=f"data.name={name} is a regression set"):
        UCRDataModule(name=name)


def test_long_series_are_folded_into_max_steps_steps(tmp_path):
    write(tmp_path / "toy_TRAIN.ts", [("1,2,3,4,5,6,7", "a"), ("3,4,5", "b")] * 10)
    write(tmp_path / "toy_TEST.ts", [("1,2,3,4,5,6,7,8,9", "a"), ("5", "b")])
    dm = UCRDataModule(path=str(tmp_path / "toy_TRAIN.ts"), max_steps=3)
    dm.setup()
    full = UCRDataModule(path=str(tmp_path / "toy_TRAIN.ts"))
    full.setup()
    # The longest training series has 7 steps: every 3 steps become one step of 3 features.
    assert dm.spec.inputs.features == 3 and full.spec.inputs.features == 1
    train, whole = dm.datasets["train"], full.datasets["train"]
    assert train.values.shape[1:] == (3, 3) and train.lengths.tolist().count(3) == 8
    long = whole.values[whole.lengths == 7][0, :, 0]  # (7,)
    expected = torch.cat([long, long.new_zeros(2)]).view(3, 3)  # the last step zero-padded
    torch.testing.assert_close(train.values[train.lengths == 3][0], expected)
    assert set(train.lengths.tolist()) == {1, 3}
    assert dm.datasets["test"].lengths.tolist() == [3, 1]  # one fold for every split
    # The baseline still reads the series as they are.
    assert dm.baselines()["nearest_neighbour"].predictions.tolist() == [0, 1]


def test_batch_size_null_is_a_tenth_of_the_training_cases_within_4_to_16(tmp_path):
    for cases, expected in ((20, 4), (100, 10), (400, 16)):
        path = write(tmp_path / f"n{cases}.ts", [("1,2", "a"), ("3,4", "b")] * (cases // 2))
        assert UCRDataModule(path=str(path), batch_size=None).batch_size == expected


def test_the_nearest_neighbour_baseline_through_a_real_fit(tmp_path):
    """A bundled set through experiment=ucr: the run reports 1-NN beside the model, fitted on
    every official training case (validation ones included) and equal to scikit-learn's."""
    pytest.importorskip("sktime")
    neighbors = pytest.importorskip("sklearn.neighbors")
    from rnnlab.train import train
    from tests.conftest import compose_config

    overrides = ["experiment=ucr", "data.name=ItalyPowerDemand", "trainer=cpu",
                 "trainer.max_epochs=1", "~callbacks.rich_progress_bar"]  # fmt: skip
    metrics, objects = train(compose_config("train", overrides, tmp_path))
    dm = objects["datamodule"]
    train_x = torch.cat([dm.datasets[s].values for s in ("train", "val")]).flatten(1)
    train_y = torch.cat([dm.datasets[s].targets for s in ("train", "val")])
    assert len(train_y) == 67  # the official training set
    test = dm.datasets["test"]
    reference = neighbors.KNeighborsClassifier(n_neighbors=1).fit(train_x, train_y)
    expected = torch.as_tensor(reference.predict(test.values.flatten(1))) == test.targets
    assert metrics["test/nearest_neighbour_acc"] == pytest.approx(expected.float().mean().item())
    assert "test/acc" in metrics and "test/nearest_neighbour_f1" in metrics


def test_series_normalisation_z_normalises_each_case_on_its_own_valid_steps(tmp_path):
    write(tmp_path / "toy_TRAIN.ts", [("1,2,3", "a"), ("10,30,50,70", "b")] * 10)
    write(tmp_path / "toy_TEST.ts", [("100,300", "a"), ("7,7,7", "b")])
    dm = UCRDataModule(path=str(tmp_path / "toy_TRAIN.ts"), normalize="series")
    dm.setup()
    test = dm.datasets["test"][torch.arange(2)]
    # The level and swing of each case are gone: 100,300 reads as -1,1 (then standardised by
    # the training steps, which are z-normalised already), and a constant series as zeros.
    first = test.x[0, :2, 0]
    assert first[0] == pytest.approx(-first[1].item(), abs=1e-4) and first[1] > 0.5
    assert test.x[1].abs().max() < 1e-4 and test.x[0, 2:].abs().max() == 0  # padding stays 0
    by_channel = UCRDataModule(path=str(tmp_path / "toy_TRAIN.ts"), normalize="channel")
    by_channel.setup()
    assert by_channel.datasets["test"][torch.arange(2)].x[0, 0, 0] > 2  # the level is kept


def test_auto_normalisation_is_per_series_for_univariate_sets_only(tmp_path):
    dm = UCRDataModule(path=str(write(tmp_path / "one.ts", [("1,2", "a")] * 10)), normalize="auto")
    assert dm.normalize == "series"
    multi = tmp_path / "multi.ts"
    multi.write_text(
        "@problemName m\n@univariate false\n@dimensions 2\n@classLabel true a b\n@data\n"
        + "1,2:3,4:a\n5,6:7,9:b\n" * 10
    )
    assert UCRDataModule(path=str(multi), normalize="auto").normalize == "channel"
    with pytest.raises(ConfigError, match="data.normalize='z' is not one of"):
        UCRDataModule(path=str(multi), normalize="z")


@pytest.mark.parametrize(
    "files, settings, message",
    [
        # One file of 2 cases per class: a test case each, and no validation case is left.
        (["tiny.ts"], {},
         "the val split of data.path={tmp}/tiny.ts is empty: it has 4 cases (2 per class), "
         "data.test_fraction=0.3 of them leaves 2 for training, and data.val_fraction=0.2 of "
         "those rounds to none; give each class at least 4 cases."),
        # A _TRAIN file with its _TEST beside it: validation comes from 2 cases per class.
        (["tiny_TRAIN.ts", "tiny_TEST.ts"], {},
         "the val split of data.path={tmp}/tiny_TRAIN.ts is empty: it has 4 training cases "
         "(2 per class), and data.val_fraction=0.2 of them rounds to none; give each class at "
         "least 3 cases, or a larger data.val_fraction."),
        (["tiny.ts"], {"test_fraction": 0.9},
         "the train split of data.path={tmp}/tiny.ts is empty: it has 4 cases (2 per class), "
         "and data.test_fraction=0.9 of them leaves none; give each class at least 26 cases, or "
         "a smaller data.test_fraction."),
        (["tiny.ts"], {"test_fraction": 0.1, "val_fraction": 0.5},
         "the test split of data.path={tmp}/tiny.ts is empty: it has 4 cases (2 per class), "
         "and data.test_fraction=0.1 of them rounds to none; give each class at least 5 cases, "
         "or a larger data.test_fraction."),
    ],
)  # fmt: skip
def test_an_empty_split_is_refused_before_setup_with_the_case_counts(
    tmp_path, files, settings, message
):
    for name in files:
        write(tmp_path / name, [("1,2,3", "a"), ("3,4,5", "b")] * 2)
    with pytest.raises(ConfigError) as error:
        UCRDataModule(path=str(tmp_path / files[0]), **settings)  # before a run writes anything
    assert str(error.value) == message.format(tmp=tmp_path)


def test_an_empty_validation_split_ends_the_run_in_one_line(tmp_path):
    path = write(tmp_path / "tiny.ts", [("1,2,3", "a"), ("3,4,5", "b")] * 2)
    result = run_main("rnnlab.train", "data=ucr", f"data.path={path}", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: the val split of data.path={path} is empty: it has 4 cases "
                     "(2 per class), data.test_fraction=0.3 of them leaves 2 for training, and "
                     "data.val_fraction=0.2 of those rounds to none; give each class at least 4 "
                     "cases."]  # fmt: skip


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"test_fraction": 0.9},
        {"test_fraction": 0.1, "val_fraction": 0.5},
        {"val_fraction": 0.05},
    ],
)
def test_the_class_size_the_sentence_asks_for_fills_every_split(tmp_path, settings):
    # The count the sentence gives is enough, and one case fewer is not.
    tiny = write(tmp_path / "tiny.ts", [("1,2", "a"), ("3,4", "b")])
    with pytest.raises(ConfigError) as error:
        UCRDataModule(path=str(tiny), **settings)
    need = int(re.search(r"give each class at least (\d+) cases", str(error.value))[1])
    fewer = write(tmp_path / "fewer.ts", [("1,2", "a"), ("3,4", "b")] * (need - 1))
    with pytest.raises(ConfigError, match=f"give each class at least {need} cases"):
        UCRDataModule(path=str(fewer), **settings)
    enough = write(tmp_path / "enough.ts", [("1,2", "a"), ("3,4", "b")] * need)
    dm = UCRDataModule(path=str(enough), **settings)
    dm.setup()
    assert all(len(dm.datasets[s]) > 0 for s in ("train", "val", "test"))
