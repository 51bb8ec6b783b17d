"""Predict with a trained model: ``python -m rnnlab.predict ckpt_path=... [input=FILE]``.

For a forecaster the output is CSV: every window of ``split`` (``test`` by default; ``val``,
``train`` or ``all``) of the run's data, or of ``input=`` (a CSV with the training file's
columns), with the forecast origin, the time forecast, the step, and each target's forecast and
actual value in original units.

For a text classifier (``data=text_cls``) the input holds one text per line (or is a CSV/TSV
file with the training run's text column), and each text gets a label: the output is TSV,
``text<TAB>label``. For a tagger (``data=conll``) the input holds one sentence per line, tokens
separated by spaces, and each token gets a tag: the output is two-column CoNLL, ``token<TAB>tag``
lines with a blank line after each sentence. Texts are tokenised and encoded exactly as in
training, with the vocabulary stored in the checkpoint; the training data is not needed.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from rnnlab.data.batch import DataSpec, pad_sequences
from rnnlab.data.text_cls import read_table
from rnnlab.data.vocab import Vocabulary, tokenize
from rnnlab.eval import load_run
from rnnlab.tasks.classification import ClassificationTask
from rnnlab.tasks.forecasting import ForecastingTask
from rnnlab.tasks.tagging import TaggingTask
from rnnlab.utils.cli import read_input_lines, run, write_output
from rnnlab.utils.errors import check
from rnnlab.utils.forecast_output import forecast_table
from rnnlab.utils.instantiate import build_model


def predict(cfg: DictConfig) -> str:
    """The predictions for ``cfg.input``, as the text :func:`_main` writes."""
    saved, spec, checkpoint = load_run(cfg.ckpt_path)
    target = hydra.utils.get_object(saved.task._target_)
    if isinstance(target, type) and issubclass(target, ForecastingTask) and spec is not None:
        _, task = build_model(saved, spec)
        task.load_state_dict(checkpoint["state_dict"])
        return forecast_table(saved, spec, task.eval(), cfg.split, cfg.input)
    token_data = spec is not None and spec.vocab is not None and spec.input_size is None
    check(
        token_data
        and isinstance(target, type)
        and issubclass(target, ClassificationTask | TaggingTask),
        f"ckpt_path={cfg.ckpt_path} is not a forecaster's, a text classifier's or a tagger's "
        "checkpoint; rnnlab.predict serves those.",
    )
    check(cfg.input is not None, "input=FILE is required: the texts to label, one per line.")
    path = Path(cfg.input)
    check(path.is_file(), f"input={cfg.input} does not exist; give a UTF-8 text file.")

    _, task = build_model(saved, spec)
    task.load_state_dict(checkpoint["state_dict"])
    task.eval()
    names = list(spec.extras.get("class_names") or range(spec.num_classes))
    if issubclass(target, TaggingTask):
        sentences = [line.split() for line in _lines(path)]
        vocab = Vocabulary(spec.vocab, lower=bool(saved.data.get("lower", False)))
        tags = _run(task, [vocab.encode(s) for s in sentences], spec)
        return "".join(
            "".join(f"{token}\t{names[t]}\n" for token, t in zip(s, row, strict=False)) + "\n"
            for s, row in zip(sentences, tags, strict=True)
        )
    texts = _texts(path, saved.data.get("text_column", "text"))
    level, lower = saved.data.get("level", "word"), bool(saved.data.get("lower", False))
    max_len = saved.data.get("max_len") or None
    vocab = Vocabulary(spec.vocab)
    ids = [vocab.encode(tokenize(text, level, lower)[:max_len]) for text in texts]
    labels = _run(task, ids, spec)
    return "".join(
        f"{' '.join(t.split())}\t{names[y]}\n" for t, y in zip(texts, labels, strict=True)
    )


@torch.no_grad()
def _run(task, ids: list[list[int]], spec: DataSpec, batch_size: int = 256) -> list:
    """Argmax predictions for each id sequence: a class, or one tag per token."""
    out = []
    for start in range(0, len(ids), batch_size):
        chunk = [
            torch.tensor(seq or [Vocabulary.unk_index]) for seq in ids[start : start + batch_size]
        ]
        x, lengths = pad_sequences(chunk, value=spec.pad_index or 0)
        mask = torch.arange(x.shape[1])[None] < lengths[:, None]
        preds = task(x, lengths, mask).argmax(-1)
        for row, n in zip(preds.tolist(), lengths.tolist(), strict=True):
            out.append(row[:n] if isinstance(row, list) else row)
    return out


def _lines(path: Path) -> list[str]:
    return [line for line in read_input_lines(path) if line]


def _texts(path: Path, column: str) -> list[str]:
    if path.suffix.lower() in (".csv", ".tsv"):
        rows, _ = read_table(path, [column])
        return [row[0] for row in rows]
    return _lines(path)


def _main(cfg: DictConfig) -> None:
    write_output(predict(cfg), cfg.get("output"))


def main() -> None:
    run(_main, config_name="predict")


if __name__ == "__main__":
    main()
