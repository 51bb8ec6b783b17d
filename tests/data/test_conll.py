import pytest
import torch

from rnnlab.data.conll import IGNORE, ConllDataModule, read_conll
from rnnlab.utils.errors import ConfigError

CONLLU = """# sent_id = 1
# text = The cats sleep.
1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_
2\tcats\tcat\tNOUN\tNNS\t_\t3\tnsubj\t_\t_
3\tsleep\tsleep\tVERB\tVBP\t_\t0\troot\t_\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
"""


def test_conllu_reads_upos_and_skips_comments_and_multiword_lines(tmp_path):
    path = tmp_path / "s.conllu"
    path.write_text(CONLLU)
    data = read_conll(path)
    assert data.tokens == [["The", "cats", "sleep", "."], ["do", "n't", "go"]]
    assert data.tags == [["DET", "NOUN", "VERB", "PUNCT"], ["AUX", "PART", "VERB"]]
    assert read_conll(path, "xpos").tags[0] == ["DT", "NNS", "VBP", "."]


def test_column_files_take_the_last_column_or_the_one_asked(tmp_path):
    path = tmp_path / "chunks.txt"
    path.write_text("He PRP B-NP\nran VBD B-VP\n\nShe PRP B-NP\n")
    assert read_conll(path).tags == [["B-NP", "B-VP"], ["B-NP"]]
    assert read_conll(path, 1).tags == [["PRP", "VBD"], ["PRP"]]


def test_conll_2003_document_marks_are_not_sentences(tmp_path):
    path = tmp_path / "ner.txt"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
                    "-DOCSTART- -X- -X- O\n\nPeter NNP B-NP B-PER\n")  # fmt: skip
    data = read_conll(path)
    assert data.tokens == [["EU", "rejects"], ["Peter"]]
    assert data.tags == [["B-ORG", "O"], ["B-PER"]]


def test_a_line_with_the_wrong_number_of_columns_is_named(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("He PRP B-NP\nran VBD\n")
    with pytest.raises(ConfigError, match="line 2: 2 columns where the file has 3"):
        read_conll(path)
    conllu = tmp_path / "bad.conllu"
    conllu.write_text("1\tThe\tthe\tDET\n")
    with pytest.raises(ConfigError, match="line 1: 4 columns where CoNLL-U has 10"):
        read_conll(conllu)


def test_empty_and_undecodable_files_end_in_one_sentence(tmp_path):
    empty = tmp_path / "empty.conllu"
    empty.write_text("# only a comment\n\n")
    with pytest.raises(ConfigError, match="holds no tagged sentences"):
        read_conll(empty)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café NOUN\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        read_conll(latin)


def test_train_dev_test_files_keep_their_split(tmp_path):
    for name in ("en-ud-train.conllu", "en-ud-dev.conllu", "en-ud-test.conllu"):
        (tmp_path / name).write_text(CONLLU)
    dm = ConllDataModule(str(tmp_path / "en-ud-train.conllu"))
    dm.setup()
    assert [len(dm.datasets[s]) for s in ("train", "val", "test")] == [2, 2, 2]


def test_the_built_in_set_pads_tags_with_the_ignore_index():
    dm = ConllDataModule()
    spec = dm.spec
    assert "NOUN" in spec.class_names and spec.num_classes == len(dm.tags) and spec.aligned
    batch = dm.datasets["train"][torch.arange(16)]
    assert batch.y.shape == batch.x.shape
    assert bool((batch.y[~batch.mask] == IGNORE).all()) and bool((batch.y[batch.mask] >= 0).all())


def split_files(tmp_path, train, dev, test):
    for name, text in (("train", train), ("dev", dev), ("test", test)):
        (tmp_path / f"c-{name}.txt").write_text(text)
    return str(tmp_path / "c-train.txt")


def test_chars_carry_each_word_as_written_unseen_words_included(tmp_path):
    train = "The DT B-NP\ncat NN I-NP\nsat VBD B-VP\n\nA DT B-NP\ncat NN I-NP\n"
    test = "The DT B-NP\nzebu NN I-NP\nRAN VBD B-VP\n"
    dm = ConllDataModule(split_files(tmp_path, train, train, test), lower=True, chars=True)
    spec = dm.spec
    chars = spec.inputs.chars
    assert chars[:2] == ("<pad>", "<unk>") and "T" in chars and "t" in chars  # case kept
    batch = dm.datasets["test"][torch.arange(1)]
    assert batch.x.shape == (1, 3, 1 + 4)  # word id, then the longest word's 4 characters
    words, spelled = batch.x[0, :, 0], batch.x[0, :, 1:]
    assert words.tolist() == [dm.vocab.id("the"), dm.vocab.unk_index, dm.vocab.unk_index]
    # "zebu" and "RAN" are <unk> words, but their characters are there ('z', 'R', 'N' unseen
    # in training: the unknown character).
    unk = 1
    expected = [[chars.index(c) if c in chars else unk for c in w] for w in ("The", "zebu", "RAN")]
    assert [[i for i in row if i] for row in spelled.tolist()] == expected
    assert spec.inputs.net_arguments()["char_vocab_size"] == len(chars)
    # Batches are cut to their own longest word.
    assert dm.datasets["train"][torch.tensor([1])].x.shape == (1, 2, 1 + 3)


def test_most_frequent_tag_is_the_baseline_fitted_on_training_sentences(tmp_path):
    train = "the DT\nrun NN\n\nwe PRP\nrun VBP\n\nThey PRP\nrun VBP\n\nrun VBP\n"
    test = "they PRP\nrun VBP\nfast RB\n"
    path = split_files(tmp_path, train, train, test)
    for lower, they in ((True, "PRP"), (False, "VBP")):  # unseen "they": the commonest tag
        dm = ConllDataModule(path, lower=lower)
        dm.setup()
        (baseline,) = dm.baselines().values()
        tags = [dm.tags[i] for i in baseline.predictions[0].tolist()]
        assert tags == [they, "VBP", "VBP"]
        assert baseline.targets.tolist() == dm.datasets["test"].targets.tolist()


def test_words_of_the_vectors_file_join_the_vocabulary_with_their_vectors(tmp_path):
    train = "The DT B-NP\ncat NN I-NP\nsat VBD B-VP\n"
    test = "The DT B-NP\nzebu NN I-NP\nran VBD B-VP\n"
    vectors = tmp_path / "v.txt"
    vectors.write_text("the 1 1\nZebu 2 3\nsat 4 5\n")
    dm = ConllDataModule(split_files(tmp_path, train, train, test), vectors=str(vectors))
    spec = dm.spec
    assert dm.vocab.tokens[2:] == ("the", "cat", "sat", "zebu")  # training words, then the file's
    weights = spec.inputs.embedding_weights
    assert weights.shape == (6, 2) and torch.equal(weights[5], torch.tensor([2.0, 3.0]))
    assert torch.equal(weights[dm.vocab.id("sat")], torch.tensor([4.0, 5.0]))
    words = dm.datasets["test"][torch.arange(1)].x[0].tolist()
    assert words == [dm.vocab.id("the"), dm.vocab.id("zebu"), dm.vocab.unk_index]


@pytest.mark.parametrize(
    "name, text",
    [("es.conllu", CONLLU), ("chunks.txt", "He PRP B-NP\nran VBD B-VP\n\nShe PRP B-NP\n")],
    ids=["conllu", "columns"],
)
def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path, name, text):
    plain = tmp_path / name
    plain.write_text(text, encoding="utf-8")
    marked = tmp_path / f"bom-{name}"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert read_conll(marked) == read_conll(plain)


def test_a_byte_order_mark_keeps_the_sentence_for_other_encodings(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"\xef\xbb\xbf" + "café NOUN\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.txt is not UTF-8 text \(invalid"):
        read_conll(latin)


def numbered(count: int, tag: str = "NN") -> str:
    """``count`` one-word sentences, ``w0 NN``, ``w1 NN``, ..."""
    return "".join(f"w{i} {tag}\n\n" for i in range(count))


@pytest.mark.parametrize("given, carved", [("test", "val"), ("dev", "test"), ("valid", "test")])
def test_a_lone_dev_or_test_file_is_its_split_and_the_other_is_carved_from_train(
    tmp_path, given, carved
):
    train = tmp_path / "x_train.txt"
    train.write_text(numbered(20))
    (tmp_path / f"x_{given}.txt").write_text("zebra ONLY_HERE\n")
    dm = ConllDataModule(str(train), lower=False, splits=(0.8, 0.1, 0.1))
    dm.setup()
    split = {"test": "test", "dev": "val", "valid": "val"}[given]
    assert dm.sentences[split].tokens == [["zebra"]] and "ONLY_HERE" in dm.tags
    rest = dm.sentences["train"].tokens + dm.sentences[carved].tokens
    assert sorted(rest) == sorted(read_conll(train).tokens)  # every training sentence, once
    assert len(dm.sentences[carved].tokens) == 2  # 0.1 / (0.8 + 0.1) of the 20
