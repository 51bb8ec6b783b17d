"""Token tasks against their classic baselines, on the same splits, side by side.

- ``sentiment``: ``experiment=sentiment_bilstm`` (a BiLSTM over word embeddings, started from
  the GloVe vectors that ``scripts/prepare_vectors.py`` writes when ``data.vectors`` names
  them) against TF-IDF of word 1- and 2-grams with logistic regression (scikit-learn), which
  the run itself fits on its training split and scores on its test split
  (``test/tfidf_logreg_acc`` in its metrics), on a labelled text file such as the movie-review
  snippets that ``scripts/prepare_token_sets.py polarity`` writes; one run per split (five
  by default, ``--splits``), each row on its own split, and the mean over them.
- ``pos``: ``experiment=pos_bilstm`` (words only) against the same tagger reading each word's
  characters too (``data.chars=true model.char_encoder=cnn``) and ``experiment=tagger_crf``
  (characters and a CRF), token accuracy overall and on the test words seen and unseen in
  training, with the most-frequent-tag baseline (each word's most frequent training tag;
  unseen words get the most frequent tag overall), on the test split of a CoNLL file such as
  ``scripts/prepare_token_sets.py pos`` writes.
- ``chunk``: ``experiment=tagger_crf`` against the same tagger with a softmax per word
  (``task.crf=false``), entity F1 overall and per type, with the most-frequent-tag baseline,
  on a BIO-tagged set such as the CoNLL-2000 files of ``scripts/prepare_token_sets.py chunk``
  (the ``ner`` spelling runs the same comparison on a named-entity file).

    python scripts/bench/token_tasks.py sentiment --path polarity.tsv data.vectors=glove50.txt
    python scripts/bench/token_tasks.py pos --path wsj.conllu [key=value ...]
    python scripts/bench/token_tasks.py chunk --path chunk-train.txt [key=value ...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from rnnlab.train import run


def run_experiment(name: str, path: str, extra: list[str]) -> tuple[dict, dict, float]:
    overrides = [f"experiment={name}", f"data.path={path}", "trainer=cpu",
                 "~callbacks.rich_progress_bar", *extra]  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        metrics, objects = run([*overrides, f"hydra.run.dir={out}"])
        return metrics, objects, time.perf_counter() - start


def sentiment(path: str, extra: list[str], splits: list[int]) -> None:
    """One run per split: each draws its own 80/10/10 split (``data.seed``) and initialisation
    (``seed``), and fits and scores its own TF-IDF baseline on that split, so every row compares
    the two on the same sentences; the last lines give the mean over the splits."""
    rows = []
    for split in splits:
        split_extra = [*extra, f"data.seed={split}", f"seed={split}"]
        metrics, objects, seconds = run_experiment("sentiment_bilstm", path, split_extra)
        if "test/tfidf_logreg_acc" not in metrics:
            raise SystemExit("the run scored no TF-IDF baseline: install scikit-learn")
        rows.append((split, metrics["test/acc"], metrics["test/tfidf_logreg_acc"], seconds))
        data = objects["datamodule"]
        print(f"split {split} done in {seconds:.0f} s", flush=True)
    sizes = {s: len(data.texts[s]) for s in ("train", "val", "test")}
    vectors = f"data.vectors={data.vectors}" if data.vectors else "no pretrained vectors"
    print(f"\nsentiment on {path}: {sizes} per split; {vectors}; "
          f"overrides: {' '.join(extra) or 'none'}")  # fmt: skip
    print("split  rnnlab (sentiment_bilstm)  TF-IDF 1-2 grams + LR  difference  time (train+test)")
    for split, model, baseline, seconds in rows:
        print(f"{split:>5}  {model:>24.4f}  {baseline:>21.4f}  {model - baseline:>+10.4f}  "
              f"{seconds:>6.0f} s")  # fmt: skip
    model, baseline = [r[1] for r in rows], [r[2] for r in rows]
    mean_model, mean_baseline = statistics.mean(model), statistics.mean(baseline)
    print(f" mean  {mean_model:>17.4f} ± {_spread(model):.4f}  {mean_baseline:>14.4f} ± "
          f"{_spread(baseline):.4f}  {mean_model - mean_baseline:>+10.4f}")  # fmt: skip
    ahead = sum(m >= b for m, b in zip(model, baseline, strict=True))
    print(f"ratio of means rnnlab / TF-IDF: {mean_model / mean_baseline:.3f}x; "
          f"rnnlab at or above on {ahead} of {len(rows)} splits")  # fmt: skip


def _spread(values: list[float]) -> float:
    """The sample standard deviation; 0 for a single value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def tagged_accuracy(objects: dict) -> tuple[float, float, float]:
    """The trained tagger's test token accuracy overall and on the words seen and unseen in
    the training sentences (as written), from its own predictions."""
    data, task = objects["datamodule"], objects["task"].eval()
    seen = {w for s in data.sentences["train"].tokens for w in s}
    test = data.sentences["test"]
    index = {t: i for i, t in enumerate(data.tags)}
    dataset = data.datasets["test"]
    predicted: list[list[int]] = []
    with torch.no_grad():
        for rows in torch.arange(len(dataset)).split(256):
            predicted += task.predict(dataset[rows])
    right = {True: 0, False: 0}
    count = {True: 0, False: 0}
    for words, tags, guess in zip(test.tokens, test.tags, predicted, strict=True):
        for word, tag, g in zip(words, tags, guess, strict=True):
            known = word in seen
            count[known] += 1
            right[known] += index[tag] == g
    overall = (right[True] + right[False]) / (count[True] + count[False])
    return overall, right[True] / max(count[True], 1), right[False] / max(count[False], 1)


def pos(path: str, extra: list[str]) -> None:
    """Word-only BiLSTM against the same BiLSTM with a character CNN (and the CRF tagger),
    same split, same settings otherwise."""
    chars = ["data.chars=true", "model.char_encoder=cnn"]
    runs = {
        "BiLSTM, words only (experiment=pos_bilstm)": ("pos_bilstm", []),
        "BiLSTM + char CNN (pos_bilstm, model.char_encoder=cnn)": ("pos_bilstm", chars),
        "BiLSTM + char CNN + CRF (experiment=tagger_crf)": ("tagger_crf", []),
    }
    rows = {}
    for label, (experiment, options) in runs.items():
        metrics, objects, seconds = run_experiment(experiment, path, [*options, *extra])
        rows[label] = (*tagged_accuracy(objects), seconds)
    data = objects["datamodule"]
    test = data.sentences["test"]
    seen = {w for s in data.sentences["train"].tokens for w in s}
    unseen = sum(w not in seen for s in test.tokens for w in s) / sum(map(len, test.tokens))
    tokens = {s: sum(map(len, data.sentences[s].tokens)) for s in ("train", "val", "test")}
    print(f"\nPOS tagging on {path}: tokens per split {tokens}; "
          f"{unseen:.1%} of test tokens unseen in training")  # fmt: skip
    print(f"{'':56s} {'acc':>7s} {'seen':>7s} {'unseen':>7s}")
    for label, (overall, known, new, seconds) in rows.items():
        print(f"{label:56s} {overall:7.4f} {known:7.4f} {new:7.4f}  ({seconds:.0f} s)")
    print(f"{'most-frequent-tag baseline':56s} {metrics['test/most_frequent_tag_acc']:7.4f}")
    (word, _, word_new, _), (char, _, char_new, _) = list(rows.values())[:2]
    print(f"char CNN - words only: {100 * (char - word):+.2f} points overall, "
          f"{100 * (char_new - word_new):+.2f} points on unseen words")  # fmt: skip


def chunk(path: str, extra: list[str]) -> None:
    """The character-aware BiLSTM tagger with a softmax per word against the same tagger with
    a CRF (experiment=tagger_crf), on a BIO-tagged file such as CoNLL-2000 chunking."""
    runs = {
        "BiLSTM + char CNN, softmax (tagger_crf, task.crf=false)": ["task.crf=false"],
        "BiLSTM + char CNN + CRF (experiment=tagger_crf)": [],
    }
    rows = {}
    for label, options in runs.items():
        metrics, objects, seconds = run_experiment("tagger_crf", path, [*options, *extra])
        rows[label] = (metrics, seconds)
    data = objects["datamodule"]
    tokens = {s: sum(map(len, data.sentences[s].tokens)) for s in ("train", "val", "test")}
    print(f"\nBIO tagging on {path}: tokens per split {tokens}")
    print(f"{'':56s} {'entity F1':>9s} {'P':>7s} {'R':>7s} {'acc':>7s}")
    for label, (m, seconds) in rows.items():
        scores = (m[f"test/{k}"] for k in ("entity_f1", "entity_precision", "entity_recall", "acc"))
        print(f"{label:56s} {next(scores):9.4f} {next(scores):7.4f} {next(scores):7.4f} "
              f"{next(scores):7.4f}  ({seconds:.0f} s)")  # fmt: skip
    m = metrics
    print(f"{'most-frequent-tag baseline':56s} {m['test/most_frequent_tag_entity_f1']:9.4f} "
          f"{m['test/most_frequent_tag_entity_precision']:7.4f} "
          f"{m['test/most_frequent_tag_entity_recall']:7.4f} "
          f"{m['test/most_frequent_tag_acc']:7.4f}")  # fmt: skip
    (softmax, _), (crf, _) = rows.values()
    types = sorted(
        k.removeprefix("test/entity_f1_") for k in crf if k.startswith("test/entity_f1_")
    )
    print("entity F1 per type, softmax / CRF: " + ", ".join(
        f"{t} {softmax.get(f'test/entity_f1_{t}', 0):.3f}/{crf[f'test/entity_f1_{t}']:.3f}"
        for t in types))  # fmt: skip
    print(
        f"CRF - softmax: {100 * (crf['test/entity_f1'] - softmax['test/entity_f1']):+.2f} "
        "points of entity F1"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["sentiment", "pos", "chunk", "ner"])
    parser.add_argument("--path", required=True, help="the labelled file to train and test on")
    parser.add_argument("--splits", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                        help="sentiment: the data.seed (and seed) of each run")  # fmt: skip
    args, overrides = parser.parse_known_args()  # the rest: rnnlab overrides, key=value
    if args.task == "sentiment":
        sentiment(args.path, overrides, args.splits)
    else:
        {"pos": pos, "chunk": chunk, "ner": chunk}[args.task](args.path, overrides)


if __name__ == "__main__":
    main()
