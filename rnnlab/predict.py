"""Predict with a trained model: ``python -m rnnlab.predict ckpt_path=... [input=FILE]``.

For a forecaster the output is CSV: every window of ``split`` (``test`` by default; ``val``,
``train`` or ``all``) of the run's data, with the forecast origin, the time forecast, the step,
and each target's forecast and actual value in original units. With ``input=`` (a CSV with the
training file's columns, of any length from one window on) every window of that whole file
instead, split ``input``, and the forecast of the steps after its last row (no time or actual
value there; left out for a model with known-future covariates, which need values there).

For a text classifier (``data=text_cls``) the input holds one text per line (or is a CSV/TSV
file with the training run's text column), and each text gets a label: the output is TSV,
``text<TAB>label``. For a tagger (``data=conll``) the input holds one sentence per line, tokens
separated by spaces, and each token gets a tag: the output is two-column CoNLL, ``token<TAB>tag``
lines with a blank line after each sentence; a tagger trained with each word's characters
(``data.chars=true``) reads the characters of every word, one never seen in training included.
Texts are tokenised and encoded exactly as in training, with the vocabulary stored in the
checkpoint; the training data is not needed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from rnnlab.build import build_model
from rnnlab.checkpoints import load_run, load_weights
from rnnlab.cli import check_output, read_input_lines, run, write_output
from rnnlab.data.batch import Batch, WindowDataset, pad_sequences
from rnnlab.data.specs import ClassesSpec, ForecastSpec, Spec
from rnnlab.data.text_cls import read_table
from rnnlab.data.vocab import Vocabulary, spell, tokenize
from rnnlab.tasks.base import SupervisedTask
from rnnlab.utils.errors import check
from rnnlab.utils.instantiate import instantiate

SPLITS = ("train", "val", "test", "all")


def predict(cfg: DictConfig) -> str:
    """The predictions for ``cfg.input``, as the text :func:`_main` writes."""
    check_output(cfg.get("output"))  # before the work, not after it
    saved, spec, checkpoint = load_run(cfg.ckpt_path)
    served = isinstance(spec, ForecastSpec) or (
        isinstance(spec, ClassesSpec) and spec.inputs.kind == "tokens"
    )
    check(
        served,
        f"ckpt_path={cfg.ckpt_path} is not a forecaster's, a text classifier's or a tagger's "
        "checkpoint; rnnlab.predict serves those.",
    )
    _, task = build_model(saved, spec)
    load_weights(task, checkpoint, f"ckpt_path={cfg.ckpt_path}")
    task.eval()
    if isinstance(spec, ForecastSpec):
        return forecast_table(saved, spec, task, cfg.split, cfg.input)
    check(cfg.input is not None, "input=FILE is required: the texts to label, one per line.")
    path = Path(cfg.input)
    check(path.is_file(), f"input={cfg.input} does not exist; give a UTF-8 text file.")
    names = spec.class_names
    if spec.aligned:  # a tagger: one tag per token
        sentences = [line.split() for line in _lines(path)]
        vocab = Vocabulary(spec.inputs.vocab, lower=bool(saved.data.get("lower", False)))
        ids = [torch.tensor(vocab.encode(s)) for s in sentences]
        if spec.inputs.chars is not None:  # each word's id, then its characters: (T, 1 + W)
            chars = Vocabulary(spec.inputs.chars)
            width = max(len(w) for s in sentences for w in s) if sentences else 1
            ids = [
                torch.cat([i[:, None], spell(s, chars, width)], 1)
                for i, s in zip(ids, sentences, strict=True)
            ]
        tags = _predict(task, ids, spec)
        return "".join(
            "".join(f"{token}\t{names[t]}\n" for token, t in zip(s, row, strict=False)) + "\n"
            for s, row in zip(sentences, tags, strict=True)
        )
    texts = _texts(path, saved.data.get("text_column", "text"))
    level, lower = saved.data.get("level", "word"), bool(saved.data.get("lower", False))
    max_len = saved.data.get("max_len") or None
    vocab = Vocabulary(spec.inputs.vocab)
    ids = [vocab.encode(tokenize(text, level, lower)[:max_len]) for text in texts]
    labels = _predict(task, ids, spec)
    return "".join(
        f"{' '.join(t.split())}\t{names[y]}\n" for t, y in zip(texts, labels, strict=True)
    )


@torch.no_grad()
def _predict(
    task: SupervisedTask,
    ids: list[list[int] | torch.Tensor],
    spec: Spec,
    batch_size: int = 256,
) -> list:
    """The task's predictions for each id sequence (``(T,)`` ids, or ``(T, 1 + W)`` ids with
    characters): a class, or one tag per token."""
    out = []
    for start in range(0, len(ids), batch_size):
        chunk = [
            torch.as_tensor(seq) if len(seq) else torch.tensor([Vocabulary.unk_index])
            for seq in ids[start : start + batch_size]
        ]
        x, lengths = pad_sequences(chunk, value=spec.inputs.pad_index or 0)
        mask = torch.arange(x.shape[1])[None] < lengths[:, None]
        predicted = task.predict(Batch(x=x, lengths=lengths, mask=mask))
        out.extend(predicted.tolist() if isinstance(predicted, torch.Tensor) else predicted)
    return out


def forecast_table(
    saved: DictConfig, spec: ForecastSpec, task: SupervisedTask, split: str, path: str | None
) -> str:
    """The forecasts of every window of ``split`` (or of all three) as CSV text: each row is
    one forecast value, with the forecast origin (the time of the window's last input step),
    the time forecast, the horizon step, and for each target the forecast and the actual value
    in original units.

    The data is rebuilt from the run's saved config; ``path`` replaces its ``data.path`` (a new
    CSV with the same columns), whose windows are then read whole, without the run's splits
    (:meth:`~rnnlab.data.csv_series.CsvSeriesDataModule.file_windows`). Inputs are scaled
    with the scaler saved at training, not one fitted on the new file, so the model sees what
    it was trained on.
    """
    check(split in SPLITS, f"split={split!r} is not one of {', '.join(SPLITS)}.")
    node = OmegaConf.create(OmegaConf.to_container(saved.data))
    if path is not None:
        check(
            "path" in node,
            f"input={path} replaces data.path, and this run's data has no file; leave input "
            "unset to forecast the run's own data.",
        )
        node.path = str(path)
    datamodule = instantiate(node, "data")
    if path is not None and hasattr(datamodule, "file_windows"):
        windows, timestamps, rows = datamodule.file_windows(spec.scaler_mean, spec.scaler_std)
        return _table(task, spec, {"input": windows}, timestamps, rows)
    names = ("train", "val", "test") if split == "all" else (split,)
    # Lightning's stages: "fit" sets up the training and validation data, "test" the test data.
    for stage in dict.fromkeys("test" if name == "test" else "fit" for name in names):
        datamodule.setup(stage)
    windows = _windows(datamodule, names)
    if spec.scaler_mean is not None and hasattr(datamodule, "use_scaler"):
        datamodule.use_scaler(list(spec.scaler_mean), list(spec.scaler_std))
    steps = len(windows[names[0]].series)
    timestamps = getattr(datamodule, "timestamps", None) or [str(i) for i in range(steps)]
    return _table(task, spec, windows, timestamps, steps)


def _table(
    task: SupervisedTask,
    spec: ForecastSpec,
    windows: dict[str, WindowDataset],
    timestamps: Sequence[str],
    rows: int,
) -> str:
    """The forecasts of every window of ``windows`` (by split) as CSV text; a step past the
    ``rows`` known time steps has neither a time nor an actual value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    values = (f"{n}_{k}" for n in spec.target_names for k in ("forecast", "actual"))
    writer.writerow(["split", "origin", "time", "step", *values])
    for name, dataset in windows.items():
        for index in torch.arange(len(dataset)).split(1024):
            batch = dataset[index]
            with torch.no_grad():
                forecast = task.predict(batch)  # (B, H, C), original units
            actual = task.unscale(batch.y)
            for row, start in enumerate(dataset.starts[index].tolist()):
                for step in range(forecast.shape[1]):
                    known = start + step < rows  # else past the data's end: no time, no value
                    cells = [
                        cell
                        for c in range(forecast.shape[2])
                        for cell in (
                            f"{float(forecast[row, step, c]):.6g}",
                            _value(actual[row, step, c]) if known else "",
                        )
                    ]
                    time = timestamps[start + step] if known else ""
                    writer.writerow([name, timestamps[start - 1], time, step + 1, *cells])
    return out.getvalue()


def _value(value: torch.Tensor) -> str:
    """An actual value's cell: empty where the file left it empty (a step to forecast)."""
    return "" if torch.isnan(value) else f"{float(value):.6g}"


def _windows(datamodule: object, names: tuple[str, ...]) -> dict[str, WindowDataset]:
    """The windows of each split of ``names``, refused in one sentence where the data module
    keeps none in ``datasets[name]``."""
    datasets = getattr(datamodule, "datasets", None)
    found = {name: datasets.get(name) if isinstance(datasets, Mapping) else None for name in names}
    missing = [name for name, windows in found.items() if not isinstance(windows, WindowDataset)]
    check(
        not missing,
        f"rnnlab.predict reads a forecaster's windows from its data module's "
        f"datasets[<split>], each a rnnlab.data.batch.WindowDataset, and "
        f"{type(datamodule).__name__} has none for {', '.join(missing)}; call the task's "
        "predict() from Python on batches of your own instead.",
    )
    return found


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
