"""Token tasks against their classic baselines, on the same splits, side by side.

- ``sentiment``: ``experiment=sentiment_bilstm`` (a BiLSTM over word embeddings, max pooling)
  against TF-IDF of word 1- and 2-grams with logistic regression (scikit-learn), on the test
  split of a labelled text file such as the movie-review snippets that
  ``scripts/prepare_token_sets.py polarity`` writes.
- ``pos``: ``experiment=pos_bilstm`` against the most-frequent-tag baseline (each word's most
  frequent training tag; unseen words get the most frequent tag overall), on the test split of
  a CoNLL file such as ``scripts/prepare_token_sets.py pos`` writes.

    python scripts/bench/token_tasks.py sentiment --path polarity.tsv
    python scripts/bench/token_tasks.py pos --path wsj.conllu [key=value ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter, defaultdict

from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from rnnlab.cli import CONFIG_DIR
from rnnlab.train import train


def run_experiment(name: str, path: str, extra: list[str]) -> tuple[dict, dict, float]:
    overrides = [f"experiment={name}", f"data.path={path}", "trainer=cpu",
                 "~callbacks.rich_progress_bar", *extra]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with tempfile.TemporaryDirectory() as out:
        with open_dict(cfg):
            cfg.paths.output_dir = out
        start = time.perf_counter()
        metrics, objects = train(cfg)
        return metrics, objects, time.perf_counter() - start


def sentiment(path: str, extra: list[str]) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    metrics, objects, seconds = run_experiment("sentiment_bilstm", path, extra)
    data = objects["datamodule"]
    labels = {}
    for split in ("train", "test"):
        targets = data.datasets[split].targets.tolist()
        labels[split] = targets
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    features = vectorizer.fit_transform(data.texts["train"])
    model = LogisticRegression(C=4.0, max_iter=2000).fit(features, labels["train"])
    baseline = model.score(vectorizer.transform(data.texts["test"]), labels["test"])
    sizes = {s: len(data.texts[s]) for s in ("train", "val", "test")}
    print(f"\nsentiment on {path}: {sizes}")
    print(f"BiLSTM (experiment=sentiment_bilstm)  test acc {metrics['test/acc']:.4f}  "
          f"({seconds:.0f} s, train + test)")  # fmt: skip
    print(f"TF-IDF 1-2 grams + logistic regression  test acc {baseline:.4f}")
    print(f"ratio BiLSTM / TF-IDF: {metrics['test/acc'] / baseline:.3f}x")


def pos(path: str, extra: list[str]) -> None:
    metrics, objects, seconds = run_experiment("pos_bilstm", path, extra)
    data = objects["datamodule"]
    lower = data.lower
    counts: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    train_split = data.sentences["train"]
    for words, tags in zip(train_split.tokens, train_split.tags, strict=True):
        for word, tag in zip(words, tags, strict=True):
            counts[word.lower() if lower else word][tag] += 1
            overall[tag] += 1
    fallback = overall.most_common(1)[0][0]
    right = total = unseen = 0
    test_split = data.sentences["test"]
    for words, tags in zip(test_split.tokens, test_split.tags, strict=True):
        for word, tag in zip(words, tags, strict=True):
            seen = counts.get(word.lower() if lower else word)
            unseen += seen is None
            right += (seen.most_common(1)[0][0] if seen else fallback) == tag
            total += 1
    baseline = right / total
    tokens = {s: sum(map(len, data.sentences[s].tokens)) for s in ("train", "val", "test")}
    print(f"\nPOS tagging on {path}: tokens per split {tokens}; "
          f"{unseen / total:.1%} of test tokens unseen in training")  # fmt: skip
    print(f"BiLSTM tagger (experiment=pos_bilstm)  test token acc {metrics['test/acc']:.4f}  "
          f"({seconds:.0f} s, train + test)")  # fmt: skip
    print(f"most-frequent-tag baseline              test token acc {baseline:.4f}")
    print(f"ratio BiLSTM / baseline: {metrics['test/acc'] / baseline:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["sentiment", "pos"])
    parser.add_argument("--path", required=True, help="the labelled file to train and test on")
    args, overrides = parser.parse_known_args()  # the rest: rnnlab overrides, key=value
    (sentiment if args.task == "sentiment" else pos)(args.path, overrides)


if __name__ == "__main__":
    main()
