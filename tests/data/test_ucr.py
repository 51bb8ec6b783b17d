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
