import pytest
import torch

from rnnlab.data.vocab import (
    PAD,
    UNK,
    Vocabulary,
    detokenize,
    load_vectors,
    tokenize,
    vocabulary_with_vectors,
)
from rnnlab.utils.errors import ConfigError


def test_word_and_character_tokens():
    assert tokenize("Don't stop, Bob's 2 cats!") == [
        "Don't",
        "stop",
        ",",
        "Bob's",
        "2",
        "cats",
        "!",
    ]
    assert tokenize("Ab c", level="char", lower=True) == ["a", "b", " ", "c"]


def test_the_vocabulary_keeps_frequent_tokens_and_reserves_padding_and_unknown():
    vocab = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"], ["d"]], min_freq=2)
    assert vocab.tokens == (PAD, UNK, "b", "a")
    assert vocab.pad_index == 0 and vocab.unk_index == 1
    assert vocab.encode(["a", "zebra", "b"]) == [3, 1, 2]  # an unknown word is <unk>
    assert Vocabulary.build([["x", "y", "y", "z"]], max_size=3).tokens == (PAD, UNK, "y")


def test_lower_casing_applies_to_building_and_lookup():
    vocab = Vocabulary.build([["The", "the", "THE"]], lower=True)
    assert vocab.tokens == (PAD, UNK, "the") and vocab.encode(["ThE"]) == [2]


def test_bad_settings_fail_in_one_sentence():
    with pytest.raises(ConfigError, match="data.min_freq=0 must be at least 1"):
        Vocabulary.build([["a"]], min_freq=0)


def test_pretrained_vectors_fill_the_rows_they_know(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("3 2\nthe 1.0 2.0\ncat 3.0 4.0\nunused 9 9\n")
    vocab = Vocabulary.build([["the", "cat", "sat"]])
    weights, found = load_vectors(path, vocab)
    assert found == 2 and weights.shape == (5, 2)
    assert torch.equal(weights[vocab.encode(["cat"])[0]], torch.tensor([3.0, 4.0]))
    assert torch.equal(weights[0], torch.zeros(2))
    path.write_text("the 1.0 2.0\ncat 3.0\n")
    with pytest.raises(ConfigError, match="line 2: 1 values where the first line had 2"):
        load_vectors(path, vocab)


def test_max_size_bounds_the_training_words_and_the_vectors_file_adds_its_own(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("rare 1 1\nTHE 2 2\n<unk> 3 3\nnew 4 4\n")
    sequences = [["the", "the", "cat", "rare"]]
    vocab, weights = vocabulary_with_vectors(sequences, max_size=4, lower=True, vectors=path)
    # "the" and "cat" are the two training words max_size keeps; the file adds "rare" and "new"
    # (its "<unk>" line is not a word) and its "THE" line gives "the" its row.
    assert vocab.tokens == (PAD, UNK, "the", "cat", "rare", "new") and vocab.lower
    assert weights[2].tolist() == [2.0, 2.0] and weights[4:].tolist() == [[1.0, 1.0], [4.0, 4.0]]
    assert vocabulary_with_vectors(sequences, max_size=4)[1] is None


def test_french_elision_is_a_token_and_detokenize_joins_it_back():
    text = "L'Éternel dit qu'il n'aime pas l'autel, aujourd'hui (ici)."
    tokens = tokenize(text)
    assert tokens[:5] == ["L'", "Éternel", "dit", "qu'", "il"] and "aujourd'hui" in tokens
    assert detokenize(tokens) == text
    assert tokenize("Don't go, it's o'clock") == ["Don't", "go", ",", "it's", "o'clock"]
