"""The ``bleu`` of sequence-to-sequence runs: sacreBLEU's corpus BLEU with ``exp`` smoothing and
the effective order, which scores targets shorter than 4 tokens."""

import math

import pytest
import torch

from rnnlab.tasks.seq2seq import CorpusBLEU, bleu_from_counts


def bleu(hypotheses, references, max_order=4):
    metric = CorpusBLEU(max_order)
    metric.update(hypotheses, references)
    return float(metric.compute())


def test_an_exact_output_shorter_than_four_tokens_scores_one():
    assert bleu(["8 6 4"], [["8 6 4"]]) == pytest.approx(1.0)
    assert bleu(["7"], [["7"]]) == pytest.approx(1.0)
    # A split of short sentences is scored on the orders its outputs hold.
    outputs = ["8 6 4", "1 2", "5", "9 9 9"]
    references = [["8 6 4"], ["1 2"], ["5"], ["9 9 0"]]
    # 1-grams 8/9, 2-grams 4/5 ("9 9" twice, once in its reference), 3-grams 1/2, no 4-grams;
    # output and reference lengths 9 and 9.
    assert bleu(outputs, references) == pytest.approx((8 / 9 * 4 / 5 * 1 / 2) ** (1 / 3), abs=1e-6)


@pytest.mark.parametrize(
    "output, reference, expected",
    [
        # 3/4, 2/3, 1/2, and no 4-gram match: 1 / (2 * 1).
        ("a b c d", "a b c e", (3 / 4 * 2 / 3 * 1 / 2 * 1 / 2) ** (1 / 4)),
        # 1/2 and no 2-gram match, 1 / (2 * 1); brevity exp(1 - 3/2).
        ("a b", "a c d", math.exp(1 - 3 / 2) * (1 / 2 * 1 / 2) ** (1 / 2)),
        # Clipped: "the" matches once. 2-grams 0 of 2: 1 / (2 * 2); 3-grams 0 of 1: 1 / (4 * 1).
        ("the the the", "the cat", (1 / 3 * 1 / 4 * 1 / 4) ** (1 / 3)),
        ("x y", "a b", 0.0),  # no match at any order
        ("", "a b", 0.0),  # an empty output (a step that was not finite)
    ],
)
def test_hand_computed_sentences(output, reference, expected):
    assert bleu([output], [[reference]]) == pytest.approx(expected, abs=1e-6)


def test_counts_are_summed_over_the_corpus_and_updates_before_scoring():
    outputs = ["a b c d", "a b", "the the the"]
    references = [["a b c e"], ["a c d"], ["the cat"]]
    # 1-grams 3+1+1 of 4+2+3, 2-grams 2+0+0 of 3+1+2, 3-grams 1 of 2+0+1, 4-grams 0 of 1: the
    # first unmatched order is smoothed to 1 / (2 * 1). Lengths 9 and 9.
    expected = (5 / 9 * 2 / 6 * 1 / 3 * 1 / 2) ** (1 / 4)
    assert bleu(outputs, references) == pytest.approx(expected, abs=1e-6)
    metric = CorpusBLEU()
    for output, reference in zip(outputs, references, strict=True):
        metric.update([output], [reference])
    assert float(metric.compute()) == pytest.approx(expected, abs=1e-6)
    metric.reset()
    metric.update(["7"], [["7"]])
    assert float(metric.compute()) == pytest.approx(1.0)


def test_several_references_clip_by_the_most_and_measure_by_the_nearest_length():
    # "a" matches twice (the second reference holds it twice), "a a" once. The references' 1
    # and 5 tokens are equally near the output's 3; the shorter is taken: no brevity penalty.
    outputs, references = ["a a a"], [["a", "a a b c d"]]
    assert bleu(outputs, references, max_order=2) == pytest.approx((2 / 3 * 1 / 2) ** 0.5)


def test_smoothing_doubles_for_each_unmatched_order():
    # 1-grams 2/4; 2-grams 0/3 -> 1 / (2 * 3); 3-grams 0/2 -> 1 / (4 * 2); 4-grams 0/1 -> 1/8.
    expected = (2 / 4 / 6 / 8 / 8) ** (1 / 4)
    assert bleu_from_counts([2, 0, 0, 0], [4, 3, 2, 1], 4, 4) == pytest.approx(expected)


def test_it_agrees_with_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    reference = sacrebleu.metrics.BLEU(tokenize="none", effective_order=True)
    generator = torch.Generator().manual_seed(0)
    words = ["a", "b", "c", "d", "e"]

    def sentence() -> str:
        length = int(torch.randint(1, 8, (1,), generator=generator))
        return " ".join(words[i] for i in torch.randint(0, 5, (length,), generator=generator))

    for _ in range(50):
        outputs = [sentence() for _ in range(5)]
        references = [[sentence(), sentence()] for _ in range(5)]
        theirs = reference.corpus_score(outputs, [list(r) for r in zip(*references, strict=True)])
        assert bleu(outputs, references) == pytest.approx(theirs.score / 100, abs=1e-6)
