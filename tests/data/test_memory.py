"""The memory tasks' generators: each answer recomputed from the input in plain Python, seeded
repeats, splits apart, longer test splits, chance levels and bad sizes."""

import math

import pytest
import torch

from rnnlab.data import ParityDataModule
from rnnlab.data.batch import IGNORE
from rnnlab.data.memory import (
    AssociativeRecallDataModule,
    CopyingDataModule,
    SelectiveCopyingDataModule,
)
from rnnlab.data.specs import spec_from_dict, spec_to_dict
from rnnlab.utils.errors import ConfigError


def split(dm, name="train"):
    dm.setup()
    ds = dm.datasets[name]
    return ds[torch.arange(len(ds))]


def rows(batch):
    return [(x, y) for x, y in zip(batch.x.tolist(), batch.y.tolist(), strict=True)]


def expected_copy(tokens: list[str]) -> list[str | None]:
    """The targets of copying or selective copying read off the tokens as a person would:
    after the marker, the symbols seen before it, in order; nothing elsewhere."""
    marker = tokens.index(">")
    symbols = [t for t in tokens[:marker] if t.startswith("s")]
    answers = tokens[marker + 1 :]
    assert all(t == "_" for t in answers) and len(answers) == len(symbols)
    return [None] * (marker + 1) + symbols


def decoded(dm, batch):
    vocab, classes = dm.spec.inputs.vocab, dm.spec.class_names
    for x, y in rows(batch):
        yield [vocab[i] for i in x], [None if i == IGNORE else classes[i] for i in y]


def test_copying_writes_the_symbols_out_after_the_marker():
    dm = CopyingDataModule(length=7, symbols=4, alphabet=5, num_train=200)
    batch = split(dm)
    assert batch.x.shape == (200, 7 + 2 * 4) and (batch.lengths == 15).all()
    for tokens, targets in decoded(dm, batch):
        assert targets == expected_copy(tokens)
        # The paper's layout: the symbols, length - 1 blanks, the marker, then the answers.
        assert tokens[4:10] == ["_"] * 6 and tokens[10] == ">"
    assert set(batch.y[batch.y != IGNORE].tolist()) == set(range(5))  # every letter is used


def test_selective_copying_keeps_the_order_of_scattered_symbols():
    dm = SelectiveCopyingDataModule(length=12, symbols=3, alphabet=6, num_train=300)
    batch = split(dm)
    assert batch.x.shape == (300, 12 + 1 + 3)
    places = set()
    for tokens, targets in decoded(dm, batch):
        assert targets == expected_copy(tokens)
        places.add(tuple(i for i, t in enumerate(tokens[:12]) if t.startswith("s")))
    assert len(places) > 100  # scattered, not always in the same steps


def test_associative_recall_answers_each_query_with_its_keys_value():
    dm = AssociativeRecallDataModule(
        length=9, num_pairs=4, num_queries=3, keys=6, values=5, num_train=300
    )
    batch = split(dm)
    assert batch.x.shape == (300, 2 * 4 + 9)
    for tokens, targets in decoded(dm, batch):
        pairs = tokens[:8]
        keys, values = pairs[0::2], pairs[1::2]
        assert all(k.startswith("k") for k in keys) and all(v.startswith("v") for v in values)
        assert len(set(keys)) == 4  # distinct keys: each query has one answer
        memory = dict(zip(keys, values, strict=True))
        want = [None] * 8 + [memory.get(t) for t in tokens[8:]]
        assert targets == want
        asked = [t for t in tokens[8:] if t != "_"]
        assert len(asked) == len(set(asked)) == 3 and set(asked) <= set(keys)


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: CopyingDataModule(length=5, symbols=8, **kw),
        lambda **kw: SelectiveCopyingDataModule(length=12, symbols=6, **kw),
        lambda **kw: AssociativeRecallDataModule(length=8, num_pairs=6, keys=20, **kw),
    ],
)
def test_generation_repeats_with_its_seed_and_the_splits_are_apart(make):
    sizes = {"num_train": 300, "num_val": 100, "num_test": 100}
    a, b, c = make(seed=4, **sizes), make(seed=4, **sizes), make(seed=5, **sizes)
    for name in ("train", "val", "test"):
        assert torch.equal(split(a, name).x, split(b, name).x)
        assert torch.equal(split(a, name).y, split(b, name).y)
    assert not torch.equal(split(a).x, split(c).x)
    seen = {tuple(x) for x in split(a).x.tolist()}
    for name in ("val", "test"):  # millions of sequences each: no repeats by chance
        assert not seen & {tuple(x) for x in split(a, name).x.tolist()}


def test_only_the_test_split_is_longer_with_a_test_length():
    dm = AssociativeRecallDataModule(length=6, num_pairs=2, test_length=30, num_test=50)
    assert split(dm).x.shape[1] == split(dm, "val").x.shape[1] == 4 + 6
    test = split(dm, "test")
    assert test.x.shape == (50, 4 + 30) and (test.lengths == 34).all()
    assert (test.y != IGNORE).sum(1).eq(2).all()
    # Queries spread over the whole longer stretch.
    assert (test.y[:, 4 + 6 :] != IGNORE).any()


def test_parity_tests_at_its_test_length():
    dm = ParityDataModule(length=6, min_length=2, test_length=20, num_train=100, num_test=40)
    train, test = split(dm), split(dm, "test")
    assert train.lengths.max() <= 6
    assert test.x.shape == (40, 20, 1) and (test.lengths == 20).all()
    assert torch.equal(test.y, test.x[..., 0].sum(1).long() % 2)
    # Without a test length the test split is drawn as before.
    plain = ParityDataModule(length=6, min_length=2, num_train=100, num_test=40)
    assert split(plain, "test").lengths.max() <= 6
    assert torch.equal(split(plain).x, train.x)  # training data does not change


def test_several_test_lengths_give_a_test_set_each_and_leave_the_splits_alone():
    one = CopyingDataModule(length=5, symbols=3, test_length=7, num_train=64, num_test=20)
    several = CopyingDataModule(
        length=5, symbols=3, test_length=[7, 12, 30], num_train=64, num_test=20
    )
    for name in ("train", "val", "test"):  # the splits are those of the first length alone
        assert torch.equal(split(one, name).x, split(several, name).x)
    variants = several.test_variants()
    assert list(variants) == ["7", "12", "30"]
    first, *longer = [next(iter(loader)) for loader in variants.values()]
    assert torch.equal(first.x, split(several, "test").x[: len(first.x)])  # the test split
    for batch, length in zip(longer, (12, 30), strict=True):
        assert batch.x.shape[1] == length + 2 * 3
        answers = batch.y[:, -3:]  # the copied symbols, recomputed from the input
        assert torch.equal(answers, batch.x[:, :3] - 3)
    assert sum(len(b) for b in variants["30"]) == 20  # num_test sequences at every length
    assert one.test_variants() == {} and CopyingDataModule().test_variants() == {}


def test_chance_levels():
    dm = CopyingDataModule()  # the default: 10 symbols of 8, T = 20
    facts = dm.spec.facts()
    assert facts["data/chance_acc"] == 1 / 8
    assert facts["data/chance_loss"] == pytest.approx(math.log(8))
    assert facts["data/chance_loss_all_steps"] == pytest.approx(10 * math.log(8) / (20 + 20))
    longer = CopyingDataModule(length=20, test_length=100).spec.facts()
    assert longer["data/chance_loss_all_steps"] == pytest.approx(10 * math.log(8) / 120)
    recall = AssociativeRecallDataModule(values=7).spec.facts()
    assert recall["data/chance_acc"] == 1 / 7 and recall["data/chance_loss"] == math.log(7)


@pytest.mark.parametrize(
    "make",
    [
        lambda: CopyingDataModule(length=3, symbols=4, alphabet=6, num_train=3000),
        lambda: SelectiveCopyingDataModule(length=8, symbols=4, alphabet=6, num_train=3000),
        lambda: AssociativeRecallDataModule(length=4, num_pairs=4, values=6, num_train=3000),
    ],
)
def test_the_best_memoryless_guess_scores_the_chance_loss(make):
    # A model that remembers nothing can at best learn how often each answer occurs; fitted
    # on the training answers and scored on the test answers, it scores ln(6) and 1/6 when the
    # answers are uniform, which the chance facts assume.
    dm = make()
    train, test = split(dm), split(dm, "test")
    answers = train.y[train.y != IGNORE]
    frequencies = torch.bincount(answers, minlength=6).double() / len(answers)
    targets = test.y[test.y != IGNORE]
    loss = -frequencies.log()[targets].mean().item()
    facts = dm.spec.facts()
    assert loss == pytest.approx(facts["data/chance_loss"], rel=0.01)
    acc = (targets == frequencies.argmax()).double().mean().item()
    assert acc == pytest.approx(facts["data/chance_acc"], abs=0.03)


def test_bad_sizes_are_refused():
    with pytest.raises(ConfigError, match="data.symbols=0 must be at least 1"):
        CopyingDataModule(symbols=0)
    with pytest.raises(ConfigError, match="data.test_length=3 must be at least data.symbols=4"):
        SelectiveCopyingDataModule(length=10, symbols=4, test_length=3)
    with pytest.raises(ConfigError, match="data.num_pairs=9 must be between 1 and data.keys=8"):
        AssociativeRecallDataModule(num_pairs=9, keys=8)
    with pytest.raises(ConfigError, match="data.length=2 must be at least the 4 queries"):
        AssociativeRecallDataModule(length=2, num_pairs=4)
    with pytest.raises(ConfigError, match="data.test_length=0 must be at least 1"):
        ParityDataModule(test_length=0)
    with pytest.raises(ConfigError, match=r"data.test_length=\[10, 3.5\] must be at least 1"):
        ParityDataModule(test_length=[10, 3.5])
    with pytest.raises(ConfigError, match=r"data.test_length=\[8, 8\] lists a length twice"):
        ParityDataModule(test_length=[8, 8])
    with pytest.raises(ConfigError, match="data.test_length=3 must be at least data.symbols=4"):
        SelectiveCopyingDataModule(length=10, symbols=4, test_length=[12, 3])


def test_the_spec_survives_a_checkpoint():
    spec = CopyingDataModule(length=9, test_length=30).spec
    restored = spec_from_dict(spec_to_dict(spec), "a checkpoint")
    assert restored == spec and restored.facts() == spec.facts()
