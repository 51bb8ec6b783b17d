"""The plain baselines a dataset fits on its training split, checked against independent
computations (brute-force distances, word counts by hand) and through the task that scores
them."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnlab.data.baselines import (
    Baseline,
    most_frequent_tag,
    nearest_neighbour,
    tfidf_logistic_regression,
)
from rnnlab.data.batch import IGNORE


def test_nearest_neighbour_agrees_with_a_brute_force_search():
    g = torch.Generator().manual_seed(0)
    train = torch.randn(30, 12, 2, generator=g)
    labels = torch.randint(0, 4, (30,), generator=g)
    test = torch.randn(17, 12, 2, generator=g)
    expected = []
    for series in test:
        distances = [float(((series - other) ** 2).sum()) for other in train]
        expected.append(int(labels[min(range(len(train)), key=distances.__getitem__)]))
    assert nearest_neighbour(train, labels, test, chunk=5).tolist() == expected


def test_nearest_neighbour_of_a_training_series_is_itself():
    train = torch.randn(10, 8, 1, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(10)
    assert nearest_neighbour(train, labels, train).tolist() == list(range(10))


def test_nearest_neighbour_pads_the_shorter_set_with_zeros():
    train = torch.tensor([[[1.0], [1.0], [0.0]], [[1.0], [1.0], [5.0]]])  # (2, 3, 1)
    test = torch.tensor([[[1.0], [1.0]]])  # (1, 2, 1): reads as [1, 1, 0]
    assert nearest_neighbour(train, torch.tensor([7, 8]), test).tolist() == [7]


def test_most_frequent_tag_counts_words_and_falls_back_to_the_commonest_tag():
    words = [["the", "dog", "runs"], ["the", "run", "ends"], ["dog", "runs"]]
    tags = [[0, 1, 2], [0, 1, 2], [1, 1]]  # "runs" is tagged 2 once and 1 once: first seen wins
    out = most_frequent_tag(words, tags, [["the", "runs", "cat"], ["dog"]], steps=4)
    # "cat" is unseen: the commonest tag overall is 1 (four times).
    assert out.tolist() == [[0, 2, 1, IGNORE], [1, IGNORE, IGNORE, IGNORE]]


def test_tfidf_logistic_regression_learns_words_that_decide_the_label():
    pytest.importorskip("sklearn")
    good, bad = ["good", "great", "fine"], ["bad", "awful", "poor"]
    train, labels = [], []
    for a, b in itertools.product(good, ["film", "plot", "cast", "music"]):
        train.append(f"a {a} {b}")
        labels.append(1)
    for a, b in itertools.product(bad, ["film", "plot", "cast", "music"]):
        train.append(f"a {a} {b}")
        labels.append(0)
    out = tfidf_logistic_regression(train, labels, ["great cast", "awful music", "poor plot"])
    assert out.tolist() == [1, 0, 0]


def test_a_baseline_must_predict_in_the_targets_form():
    with pytest.raises(ValueError, match="predicts"):
        Baseline("1-NN", torch.zeros(3, dtype=torch.long), torch.zeros(4, dtype=torch.long))
