import datetime as dt

import pytest
import torch

from rnnlab.data.pairs import BOS, EOS
from rnnlab.data.seq2seq_synthetic import Seq2SeqSyntheticDataModule
from rnnlab.utils.errors import ConfigError


def decode(ids, vocab):
    return "".join(vocab[i] for i in ids if i not in (0, BOS, EOS))


@pytest.mark.parametrize("problem", ["reverse", "sort", "dates"])
def test_pairs_are_what_the_problem_says_and_never_repeat_across_splits(problem):
    dm = Seq2SeqSyntheticDataModule(problem, num_train=200, num_val=50, num_test=50, seed=3)
    spec = dm.spec
    assert spec.target_vocab[:4] == ("<pad>", "<unk>", "<bos>", "<eos>")
    sources = [s for pairs in dm.pairs.values() for s, _ in pairs]
    assert len(set(sources)) == len(sources) == 300
    for source, target in dm.pairs["val"]:
        if problem == "reverse":
            assert target == source[::-1]
        elif problem == "sort":
            assert target == "".join(sorted(source))
        else:
            assert dt.date.fromisoformat(target).year in range(1950, 2050)
    batch = dm.datasets["train"][torch.arange(4)]
    for row, (_source, target) in zip(batch.y.tolist(), dm.pairs["train"][:4], strict=True):
        assert row[len(target)] == EOS and decode(row, spec.target_vocab) == target


def test_the_same_seed_gives_the_same_pairs():
    pairs = [Seq2SeqSyntheticDataModule("dates", num_train=20, seed=1) for _ in "ab"]
    for dm in pairs:
        dm.setup()
    assert pairs[0].pairs == pairs[1].pairs


def test_lengths_are_drawn_from_the_range():
    dm = Seq2SeqSyntheticDataModule("reverse", min_length=20, max_length=40, num_train=300)
    dm.setup()
    lengths = {len(s) for s, _ in dm.pairs["train"]}
    assert min(lengths) >= 20 and max(lengths) <= 40 and len(lengths) > 10


def test_bad_settings_fail_in_one_sentence():
    with pytest.raises(ConfigError, match="data.problem='copy' is not one of"):
        Seq2SeqSyntheticDataModule("copy")
    with pytest.raises(ConfigError, match="1 <= min_length <= max_length"):
        Seq2SeqSyntheticDataModule(min_length=9, max_length=3)
