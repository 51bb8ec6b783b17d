import logging
import sys

import pytest
import torch

from rnnlab.data.text_cls import TextClassificationDataModule
from rnnlab.utils.errors import ConfigError


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_built_in_reviews_need_no_path():
    dm = TextClassificationDataModule()
    spec = dm.spec
    assert spec.num_classes == 2 and spec.class_names == ("negative", "positive")
    assert spec.inputs.vocab[:2] == ("<pad>", "<unk>") and spec.inputs.pad_index == 0
    sizes = [len(dm.datasets[s]) for s in ("train", "val", "test")]
    assert sizes == [800, 100, 100]  # 1,000 reviews split 80/10/10 by class
    batch = dm.datasets["train"][torch.arange(8)]
    assert batch.x.dtype == torch.long and batch.x.shape[1] == int(batch.lengths.max())
    assert bool((batch.x[~batch.mask] == 0).all())  # padding is <pad>


@pytest.mark.parametrize("split", ["split", "Split", "SPLIT"])
def test_a_csv_with_a_split_column_keeps_its_split_and_the_vocabulary_is_training_only(
    tmp_path, split
):
    rows = [f"review,label,{split}"] + [
        f"good film {i},pos,train" if i % 2 else f"bad film {i},neg,train" for i in range(20)
    ]
    rows += ["a zebra appears,pos,val", "bad zebra,neg,val", "fine,pos,test", "awful,neg,test"]
    path = write(tmp_path / "r.csv", "\n".join(rows))
    dm = TextClassificationDataModule(path, text_column="review", batch_size=4)
    dm.setup()
    assert [len(dm.datasets[s]) for s in ("train", "val", "test")] == [20, 2, 2]
    assert "zebra" not in dm.vocab and "film" in dm.vocab
    val = dm.datasets["val"][torch.arange(2)]
    assert dm.vocab.unk_index in val.x[0].tolist()  # 'a zebra appears': unknown words


def test_a_label_found_only_outside_training_is_told(tmp_path, caplog):
    rows = ["review,label,split"] + [f"text {i},{('neg', 'pos')[i % 2]},train" for i in range(20)]
    rows += ["fine,pos,val", "odd,neutral,val", "ok,pos,test", "meh,neutral,test"]
    with caplog.at_level(logging.INFO):
        TextClassificationDataModule(write(tmp_path / "r.csv", "\n".join(rows)), "review").setup()
    assert "no training text has the label 'neutral', only validation or test" in caplog.text


def test_long_texts_are_cut_to_max_len(tmp_path):
    rows = ["text\tlabel"] + [f"{'word ' * 50}\t{i % 2}" for i in range(20)]
    dm = TextClassificationDataModule(write(tmp_path / "t.tsv", "\n".join(rows)), max_len=7)
    dm.setup()
    assert int(dm.datasets["train"].lengths.max()) == 7


def test_a_folder_of_class_folders(tmp_path):
    for label in ("ham", "spam"):
        (tmp_path / label).mkdir()
        for i in range(10):
            write(tmp_path / label / f"{i}.txt", f"{label} message number {i}")
    dm = TextClassificationDataModule(str(tmp_path))
    assert dm.spec.class_names == ("ham", "spam")


def test_hidden_folders_and_files_are_not_classes_or_texts(tmp_path):
    for label in ("ham", "spam"):
        (tmp_path / label).mkdir()
        for i in range(10):
            write(tmp_path / label / f"{i}.txt", f"{label} message number {i}")
        (tmp_path / label / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\xff\xfe")  # not UTF-8
    (tmp_path / ".ipynb_checkpoints").mkdir()  # what Jupyter leaves beside the class folders
    write(tmp_path / ".ipynb_checkpoints" / "0-checkpoint.txt", "a stray copy")
    dm = TextClassificationDataModule(str(tmp_path))
    assert dm.spec.class_names == ("ham", "spam")
    assert sum(len(texts) for texts in dm.texts.values()) == 20


def test_label_cells_are_stripped_but_keep_their_case(tmp_path):
    # A trailing or leading blank in a label cell is no class of its own; "Positive" is.
    labels = ["positive", "positive ", " negative", "negative", "Positive", "Positive  "]
    rows = ["text,label"] + [f"review {i},{labels[i % 6]}" for i in range(60)]
    dm = TextClassificationDataModule(write(tmp_path / "messy.csv", "\n".join(rows)))
    dm.setup()
    assert dm.classes == ("Positive", "negative", "positive")
    targets = torch.cat([dm.datasets[s].targets for s in ("train", "val", "test")])
    assert torch.bincount(targets).tolist() == [20, 20, 20]


@pytest.mark.parametrize("cell", ["", "  "])
def test_an_empty_label_is_refused_with_its_line(tmp_path, cell):
    rows = ["text,label"] + [f"review {i},{('pos', 'neg')[i % 2]}" for i in range(20)]
    rows[3] = f"meh,{cell}"
    path = write(tmp_path / "labels_messy.csv", "\n".join(rows))
    with pytest.raises(ConfigError) as error:
        TextClassificationDataModule(path).setup()
    assert str(error.value) == f"{path}, line 4: the label is empty."


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty; it needs a header"),
        ("text,grade\nhello,1\n", "has no column 'label'; its columns are: text, grade"),
        ("text,label\nfine,1\nnot fine,0,extra\n", "line 3: 3 fields where the header has 2"),
    ],
)
def test_bad_files_end_in_one_sentence(tmp_path, content, message):
    path = write(tmp_path / "bad.csv", content)
    with pytest.raises(ConfigError, match=message):
        TextClassificationDataModule(path).setup()


def test_one_column_for_text_and_label_is_refused_before_the_file_is_read(tmp_path):
    path = write(tmp_path / "reviews.csv", "review,stars\ngood,1\nbad,0\n")
    with pytest.raises(ConfigError) as error:
        TextClassificationDataModule(str(path), text_column="review", label_column="review")
    assert str(error.value) == (
        "data.text_column and data.label_column are both 'review'; a label needs a column of "
        "its own."
    )


def test_an_unreadable_encoding_is_named(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncafé crème,1\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        TextClassificationDataModule(str(path)).setup()


def test_the_tfidf_baseline_is_fitted_on_train_and_predicts_the_test_split(tmp_path):
    pytest.importorskip("sklearn")
    # Each class has its own words, and the test texts reuse them in a new order: a linear
    # model of the training texts gets every test text right, a misaligned one would not.
    rows = ["text\tlabel\tsplit"]
    rows += [f"lovely superb film {i}\tpos\ttrain" for i in range(10)]
    rows += [f"dreadful boring film {i}\tneg\ttrain" for i in range(10)]
    rows += ["superb\tpos\tval", "boring\tneg\tval"]
    rows += ["film superb lovely\tpos\ttest", "boring dreadful\tneg\ttest", "superb\tpos\ttest"]
    dm = TextClassificationDataModule(write(tmp_path / "t.tsv", "\n".join(rows)))
    (name, baseline), *others = dm.baselines().items()
    assert name == "tfidf_logreg" and not others and baseline.heading == "TF-IDF + LR"
    assert baseline.targets.tolist() == [1, 0, 1]  # classes sorted: neg, pos
    assert baseline.predictions.tolist() == baseline.targets.tolist()


def test_without_scikit_learn_there_is_no_tfidf_baseline(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.linear_model", None)  # import fails as if absent
    assert TextClassificationDataModule().baselines() == {}


def test_words_of_the_vectors_file_join_the_vocabulary_with_their_vectors(tmp_path):
    rows = ["text,label,split"] + [
        f"good film {i},pos,train" if i % 2 else f"bad film {i},neg,train" for i in range(8)
    ]
    rows += ["good zebra,pos,val", "bad gnu,neg,val", "Superb Zebra,pos,test", "dull,neg,test"]
    path = write(tmp_path / "r.csv", "\n".join(rows))
    # A cased word2vec file: with data.lower its words are looked up lower-cased, the first
    # line of a word winning ("zebra" keeps 3 4, not 9 9).
    vectors = write(tmp_path / "v.txt", "4 2\ngood 1 2\nZebra 3 4\nzebra 9 9\nsuperb 5 6\n")
    dm = TextClassificationDataModule(path, vectors=vectors, lower=True)
    spec = dm.spec
    train_words = {w for text in dm.texts["train"] for w in text.lower().split()}
    assert set(dm.vocab.tokens[2 : 2 + len(train_words)]) == train_words  # training words first
    zebra, superb = dm.vocab.id("zebra"), dm.vocab.id("superb")
    assert zebra is not None and superb is not None and "gnu" not in dm.vocab
    weights = spec.inputs.embedding_weights
    assert weights.shape == (len(dm.vocab), 2) and len(spec.inputs.vocab) == len(dm.vocab)
    assert torch.equal(weights[zebra], torch.tensor([3.0, 4.0]))
    assert torch.equal(weights[superb], torch.tensor([5.0, 6.0]))
    assert torch.equal(weights[dm.vocab.id("good")], torch.tensor([1.0, 2.0]))
    assert torch.equal(weights[0], torch.zeros(2))
    test = dm.datasets["test"][torch.arange(2)]
    assert test.x[0, :2].tolist() == [superb, zebra]  # test-only words: their own ids, not <unk>
    assert dm.vocab.unk_index in dm.datasets["val"][torch.tensor([1])].x[0].tolist()  # "gnu"
    # Without the file the same words are unknown.
    plain = TextClassificationDataModule(path, lower=True)
    plain.setup()
    assert "zebra" not in plain.vocab and plain.embedding_weights is None
