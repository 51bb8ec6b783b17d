import logging

import pytest
import torch

from rnnlab.data.pairs import BOS, EOS, PairsDataModule, phrasebook, read_pairs
from rnnlab.data.vocab import Vocabulary
from rnnlab.utils.errors import ConfigError


def write(tmp_path, lines, name="pairs.tsv"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_extra_columns_are_ignored_and_blank_lines_skipped(tmp_path):
    path = write(tmp_path, ["Go.\tVa !\tCC-BY 2.0 (France) #1", "", "Hi.\tSalut !"])
    assert read_pairs(path) == [("Go.", "Va !"), ("Hi.", "Salut !")]


def test_a_line_of_only_blanks_and_tabs_is_skipped_as_a_blank_line(tmp_path):
    path = write(tmp_path, ["Go.\tVa !", "\t", "   \t   ", "\t\t", " ", "Hi.\tSalut !"])
    assert read_pairs(path) == [("Go.", "Va !"), ("Hi.", "Salut !")]


@pytest.mark.parametrize(
    "lines, message",
    [
        (["Go.\tVa !", "Hi. Salut !"], "line 2: no TAB between source and target"),
        (["Go.\tVa !", "\tSalut !"], "line 2: the source is empty"),
        (["Go.\t "], "line 1: the target is empty"),
        (["Go.\tVa !", "\t\tCC-BY 2.0"], "line 2: the source is empty"),
    ],
)
def test_malformed_lines_are_named(tmp_path, lines, message):
    with pytest.raises(ConfigError, match=message):
        read_pairs(write(tmp_path, lines))


def test_sides_have_their_own_vocabularies_and_levels(tmp_path):
    lines = [f"w{i} x{i}\tab{i % 3}" for i in range(40)]
    dm = PairsDataModule(str(write(tmp_path, lines)), target_level="char", lower=False)
    spec = dm.spec
    source, target = spec.inputs.vocab, spec.target_vocab
    assert source[:2] == ("<pad>", "<unk>") and target[:4] == ("<pad>", "<unk>", "<bos>", "<eos>")
    assert "w1" in source or "w1" in {s.split()[0] for s, _ in dm.pairs["val"] + dm.pairs["test"]}
    assert set(target[4:]) <= set("ab012") and "w1" not in target
    assert spec.target_level == "char" and spec.source_level == "word"
    batch = dm.datasets["train"][torch.arange(3)]
    for row, (_, text) in zip(batch.y.tolist(), dm.pairs["train"][:3], strict=True):
        assert "".join(target[i] for i in row[: len(text)]) == text and row[len(text)] == EOS
    assert BOS not in batch.y  # the decoder's start token is the task's to add


def test_the_length_filter_reports_what_it_dropped(tmp_path, caplog):
    lines = [f"short {i}\tcourt {i}" for i in range(30)] + ["a b c d e f\tun"] * 4
    dm = PairsDataModule(str(write(tmp_path, lines)), max_source_length=3)
    with caplog.at_level(logging.INFO):
        dm.setup()
    assert "dropped 4 of 34 pairs" in caplog.text
    assert sum(len(p) for p in dm.pairs.values()) == 30


def test_the_pairs_of_one_source_stay_in_one_split(tmp_path):
    lines = [f"s{i // 3}\tt{i}" for i in range(300)]  # every source has three translations
    dm = PairsDataModule(str(write(tmp_path, lines)), seed=4)
    dm.setup()
    sources = [{s for s, _ in dm.pairs[split]} for split in ("train", "val", "test")]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
    assert [len(s) for s in sources] == [80, 10, 10]


def test_the_phrasebook_is_seeded_and_puts_french_adjectives_after_the_noun():
    assert phrasebook(50, 1) == phrasebook(50, 1) != phrasebook(50, 2)
    pairs = phrasebook(5000, 0)
    black_cat = [fr for en, fr in pairs if en.startswith("the black cat ")]
    assert black_cat and all(fr.startswith("le chat noir ") for fr in black_cat)
    negated = [fr for en, fr in pairs if " not " in en]
    assert negated and all(" pas " in fr for fr in negated)


def test_bad_settings_fail_in_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        PairsDataModule(str(tmp_path / "missing.tsv"))
    with pytest.raises(ConfigError, match="data.target_level='byte' is not one of"):
        PairsDataModule(target_level="byte")
    with pytest.raises(ConfigError, match="no pair of .* fits"):
        PairsDataModule(str(write(tmp_path, ["a b\tc d"])), max_source_length=1).setup()


@pytest.mark.parametrize("max_size", [3, 4])
def test_a_max_size_without_room_for_a_target_word_names_the_value_given(max_size):
    with pytest.raises(ConfigError) as error:
        PairsDataModule(max_size=max_size)
    assert str(error.value) == (
        f"data.max_size={max_size} must be at least 5 (or null): the target vocabulary reserves "
        "<pad>, <unk>, <bos> and <eos>."
    )


def test_the_smallest_max_size_keeps_one_word_a_side():
    dm = PairsDataModule(max_size=5, num_phrases=60)
    assert len(dm.spec.inputs.vocab) == len(dm.spec.target_vocab) == 5


def test_subwords_spell_words_back_and_unseen_words_from_pieces():
    pytest.importorskip("tokenizers")
    from rnnlab.data.vocab import Subwords, join_subwords, text_of

    sentences = [["je", "suis", "fatigué", "."], ["l'", "ami", "est", "fatiguée", "."]] * 20
    subwords = Subwords.learn(sentences, vocab_size=40)
    for words in [*sentences[:2], ["fatigués", "amies", "."]]:  # the last one unseen
        pieces = subwords.split(words)
        assert join_subwords(pieces) == words and "<unk>" not in pieces
    assert len(subwords.split(["fatigués"])) > 1  # spelled from pieces, not one token
    assert subwords.split(["zut"]).count("<unk>") == 1  # "z" was never seen
    again = Subwords(subwords.model)  # as a checkpoint's spec restores it
    assert again.split_all(sentences[:2]) == [subwords.split(s) for s in sentences[:2]]
    assert text_of(subwords.split(sentences[1]), "bpe") == "l'ami est fatiguée."


def test_bpe_subwords_are_learned_from_the_training_split_only(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    # Each source holds a character of its own, so the learned pieces show which sources
    # the merges were learned from.
    lines = [f"the cat {chr(0x4E00 + i)} sees\tle chat {chr(0x3040 + i)} voit" for i in range(60)]
    dm = PairsDataModule(str(write(tmp_path, lines)), tokenizer="bpe", bpe_vocab_size=200)
    spec = dm.spec
    assert spec.source_level == spec.target_level == "bpe"
    pieces = tokenizers.Tokenizer.from_str(spec.source_subwords).get_vocab()
    for split, seen in (("train", True), ("val", False), ("test", False)):
        for source, _ in dm.pairs[split]:
            assert (source.split()[2] in pieces) == seen, (split, source)
    assert "▁cat" in spec.inputs.vocab and "▁voit" in spec.target_vocab
    batch = dm.datasets["test"][torch.arange(2)]
    assert Vocabulary(spec.inputs.vocab).unk_index in batch.x.tolist()[0]  # the unseen character
    with pytest.raises(ConfigError, match="data.tokenizer=bpe splits words into subwords"):
        PairsDataModule(tokenizer="bpe", target_level="char")
    with pytest.raises(ConfigError, match="data.tokenizer='sentencepiece' is not one of"):
        PairsDataModule(tokenizer="sentencepiece")


def test_a_byte_order_mark_is_not_part_of_the_first_source(tmp_path):
    lines = ["great film\tgrand film", "Go.\tVa !"]
    plain = write(tmp_path, lines)
    marked = tmp_path / "marked.tsv"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert (
        read_pairs(marked) == read_pairs(plain) == [("great film", "grand film"), ("Go.", "Va !")]
    )
    latin = tmp_path / "latin.tsv"
    latin.write_bytes(b"\xef\xbb\xbf" + "café\tcafé\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.tsv is not UTF-8 text \(invalid"):
        read_pairs(latin)
