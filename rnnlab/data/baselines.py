"""Plain baselines that a dataset fits on its training split and runs on its test split, so every
report shows the model beside the simplest recipe of its field.

A datamodule that offers baselines implements :class:`HasBaselines`: ``baselines()`` returns, by
name, each baseline's test-split predictions and the split's targets, in one form (class ids
``(N,)``, or tag ids ``(N, T)`` with :data:`~rnnlab.data.batch.IGNORE` on padding). A task that
implements :class:`ScoresBaselines` scores them with the metrics it scores the model by, and
the run writes them as ``test/<name>_<metric>`` (``test/nearest_neighbour_acc``) beside the model's.
Forecasting scores its naive baselines inside the task instead, from each window's own past.

The fitting functions here know nothing of datamodules: they take plain tensors or strings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from rnnlab.data.batch import IGNORE


@dataclass(frozen=True)
class Baseline:
    """One baseline's predictions on the test split, and the split's targets.

    Attributes:
        heading: its column heading in the printed table (``1-NN Euclidean``).
        predictions: test-split predictions, shaped as ``targets``.
        targets: the test split's targets (class ids ``(N,)``, or tag ids ``(N, T)`` with
            :data:`~rnnlab.data.batch.IGNORE` on padding).
    """

    heading: str
    predictions: torch.Tensor
    targets: torch.Tensor

    def __post_init__(self) -> None:
        if self.predictions.shape != self.targets.shape:
            raise ValueError(
                f"baseline {self.heading!r} predicts {tuple(self.predictions.shape)} where the "
                f"targets are {tuple(self.targets.shape)}."
            )


@runtime_checkable
class HasBaselines(Protocol):
    """A datamodule that fits plain baselines on its training split (after ``setup``)."""

    def baselines(self) -> dict[str, Baseline]: ...


@runtime_checkable
class ScoresBaselines(Protocol):
    """A task that scores a baseline's predictions by the metrics it scores the model by
    (classification: ``acc``, ``f1``; tagging: ``acc`` and entity scores), so that the two
    stand side by side."""

    def score_baseline(self, predictions: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """The test metrics of ``predictions`` of ``targets``, both in the data's target form
        (:class:`Baseline`), by metric name."""
        ...


def nearest_neighbour(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    test: torch.Tensor,
    chunk: int = 256,
) -> torch.Tensor:
    """One-nearest-neighbour classification under the Euclidean distance, the simplest
    baseline of series classification.

    Args:
        train: training series ``(N, T, C)``, padded with zeros to one length ``T``.
        train_labels: their class ids ``(N,)``.
        test: series to classify ``(M, T', C)``, zero-padded; the shorter of the two sets is
            padded with zeros to the longer's length, so a series of another length is compared
            as if it ended in zeros.
        chunk: test series compared at a time (bounds the memory of the distance matrix).

    Returns:
        The class id of each test series' nearest training series ``(M,)``; ties go to the
        first training series.
    """
    steps = max(train.shape[1], test.shape[1])
    train = _pad_steps(train, steps).flatten(1).double()  # (N, T*C)
    test = _pad_steps(test, steps).flatten(1).double()  # (M, T*C)
    nearest = [torch.cdist(part, train).argmin(1) for part in test.split(chunk)]  # (m,) each
    return train_labels[torch.cat(nearest)]


def _pad_steps(x: torch.Tensor, steps: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, 0, 0, steps - x.shape[1]))  # (N, steps, C)


def most_frequent_tag(
    train_words: Sequence[Sequence[str]],
    train_tags: Sequence[Sequence[int]],
    test_words: Sequence[Sequence[str]],
    steps: int,
) -> torch.Tensor:
    """Each word's most frequent training tag, and the most frequent tag overall for a word
    never seen in training: the unigram baseline of tagging.

    Args:
        train_words, train_tags: the training sentences' words and tag ids.
        test_words: the sentences to tag.
        steps: the padded length of the result.

    Returns:
        Tag ids ``(M, steps)``, :data:`~rnnlab.data.batch.IGNORE` past each sentence's end.
    """
    counts: dict[str, Counter] = {}
    overall: Counter = Counter()
    for words, tags in zip(train_words, train_tags, strict=True):
        for word, tag in zip(words, tags, strict=True):
            counts.setdefault(word, Counter())[tag] += 1
            overall[tag] += 1
    # Counter.most_common keeps first-seen order among ties, which makes the choice repeatable.
    best = {word: c.most_common(1)[0][0] for word, c in counts.items()}
    fallback = overall.most_common(1)[0][0]
    out = torch.full((len(test_words), steps), IGNORE, dtype=torch.long)
    for i, words in enumerate(test_words):
        out[i, : len(words)] = torch.tensor([best.get(w, fallback) for w in words])
    return out


def tfidf_logistic_regression(
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    test_texts: Sequence[str],
    seed: int = 0,
) -> torch.Tensor | None:
    """TF-IDF of word unigrams and bigrams (sublinear term frequency) with an L2-regularised
    logistic regression, the linear baseline of text classification; ``None`` without
    scikit-learn (an optional dependency: ``pip install rnnlab[datasets]``).

    The regularisation strength is the usual default (``C=1``) scaled up a little for the
    sublinear features, fixed rather than tuned on the test split.
    """
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        return None
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    features = vectorizer.fit_transform(train_texts)
    model = LogisticRegression(C=4.0, max_iter=2000, random_state=seed)
    model.fit(features, list(train_labels))
    return torch.as_tensor(model.predict(vectorizer.transform(test_texts)), dtype=torch.long)
