"""Bad settings, runs and checkpoints, one test per row of docs/bad_input.md ("Settings, runs and
checkpoints"): each ends the command in one sentence (a :class:`ConfigError`) that names the bad
value, before anything is written, and leaves every existing run directory exactly as it was.
The settings that only the data can refuse ("Settings that only the data can refuse") end in
one sentence when training starts, in a new run directory that keeps no checkpoint.

The runs and files the rows point at are made once for the module: a tiny forecaster run, a
tiny language-model run on a small text file (changed afterwards, as data can change between
training and evaluation), the forecaster's run with its checkpoints gone, and broken or foreign
checkpoint files. Each row is checked against a digest of all of them.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from rnnlab import cli
from rnnlab.callbacks.run_config import CHECKPOINT_KEY, SPEC_KEY
from rnnlab.eval import evaluate
from rnnlab.generate import generate
from rnnlab.predict import predict
from rnnlab.train import run
from rnnlab.translate import translate
from rnnlab.utils.errors import ConfigError
from rnnlab.utils.instantiate import instantiate
from tests.conftest import run_cli, run_main, tree_digest
from tests.test_checkpoint_safety import Payload

# A tiny run, for the runs the rows point at; a refused run never gets this far.
QUICK = [
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "callbacks.rich_progress_bar.refresh_rate=0",
]
SINE = ["data.length=2000", "data.batch_size=16"]  # the default data, small
TEXT = ["data=text", "data.seq_len=16", "data.batch_size=4", "model.hidden_size=8"]
CORPUS = "the quick brown fox jumps over the lazy dog.\n" * 80

ENTRIES: dict[str, Callable[[list[str]], Any]] = {
    "train": run,
    "eval": lambda args: cli.run_in_python(evaluate, "eval", args),
    "predict": lambda args: cli.run_in_python(predict, "predict", args),
    "translate": lambda args: cli.run_in_python(translate, "translate", args),
    "generate": lambda args: cli.run_in_python(generate, "generate", args),
}


@dataclass(frozen=True)
class Row:
    """One bad input: the entry point, its arguments (``{run}`` is the tiny forecaster's run
    directory, ``{lm}`` the language model's, ``{bare}`` the forecaster's run without its
    checkpoints, ``{files}`` the folder of broken checkpoint files), and the start of the
    sentence it must end with."""

    id: str
    entry: str
    args: tuple[str, ...]
    says: str


def row(id: str, command: str, says: str) -> Row:
    entry, *args = command.split(" ")
    return Row(id, entry, tuple(args), says)


LAST = "{run}/checkpoints/last.ckpt"
LM_LAST = "{lm}/checkpoints/last.ckpt"

ROWS = [
    # Unknown names, and a renamed key.
    row(
        "unknown-model",
        "train model=lstn",
        "model=lstn is not available; choose one of: cnn_avg, cnn_gru, cnn_lstm, gru, lru, lstm,",
    ),
    row("unknown-data", "train data=sin", "data=sin is not available; choose one of: adding,"),
    row(
        "unknown-optimizer",
        "train optimizer=adamax",
        "optimizer=adamax is not available; choose one of: adam, adamw, sgd.",
    ),
    row(
        "target-not-importable",
        "train model._target_=myproject.nets.Mine",
        "model._target_=myproject.nets.Mine cannot be imported: no such module or name; check "
        "the spelling, and that its module is on the Python path.",
    ),
    row(
        "renamed-key",
        "train task.optimizer.lr=0.01",
        "task.optimizer.lr is now optimizer.lr: the optimizer and the scheduler are groups",
    ),
    row(
        "misspelt-key",
        "train model.hidden_sizee=32",
        "model.hidden_sizee is not a setting of model: did you mean model.hidden_size? "
        "(+model.hidden_sizee=32 would add it as a new key.)",
    ),
    row(
        "unquoted-special-character",
        "train data.target=#Passengers",
        "data.target=#Passengers cannot be read as a Hydra override; quote a value that holds "
        "spaces or special characters, as in 'data.target=\"#Passengers\"'.",
    ),
    row(
        "endless-run-with-a-one-cycle-schedule",
        "train trainer.max_epochs=-1",
        "scheduler: torch.optim.lr_scheduler.OneCycleLR spans the run's steps, and "
        "trainer.max_epochs=-1 with trainer.max_steps=-1 sets no end; give trainer.max_steps, or "
        "scheduler=none.",
    ),
    row(
        "trainer-logger",
        "train +trainer.logger=false",
        "trainer.logger=false: the logger group sets the loggers; give logger=none for none,",
    ),
    row(
        "trainer-checkpointing-off",
        "train +trainer.enable_checkpointing=false",
        "trainer.enable_checkpointing=false: the callbacks group's model_checkpoint saves the "
        "checkpoints; give ~callbacks.model_checkpoint to save none.",
    ),
    row(
        "trainer-barebones",
        "train +trainer.barebones=true",
        "trainer.barebones=true: rnnlab's runs keep their record (checkpoints, metrics.json, the "
        "curves) through callbacks and loggers",
    ),
    row(
        "trainer-argument-left-unset",
        "train trainer.val_check_interval=0.5",
        "trainer.val_check_interval is a Lightning Trainer argument that rnnlab's trainer config "
        "leaves unset; give +trainer.val_check_interval=0.5 to set it.",
    ),
    # Values out of range.
    row("zero-hidden-size", "train model.hidden_size=0", "model.hidden_size=0 must be a whole"),
    row("negative-layers", "train model.num_layers=-1", "model.num_layers=-1 must be a whole"),
    row("zero-batch-size", "train data.batch_size=0", "data.batch_size=0 must be at least 1."),
    row(
        "zero-embedding",
        "train data=text model.embedding_dim=0",
        "model.embedding_dim=0 must be a whole number of at least 1.",
    ),
    row("zero-window", "train data.window=0", "data.window=0 must be at least 1."),
    row(
        "fraction-for-a-count",
        "train data.window=2.5",
        "data.window=2.5 must be a whole number of at least 1.",
    ),
    row(
        "word-for-a-number",
        "train data.batch_size=abc",
        "data.batch_size=abc must be a whole number of at least 1.",
    ),
    row("negative-seed", "train seed=-1", "seed=-1 must be a whole number from 0 to 4294967295."),
    row(
        "negative-lr",
        "train optimizer.lr=-1",
        "optimizer: torch.optim.Adam refuses its settings: Invalid learning rate: -1.",
    ),
    row(
        "warm-up-past-the-schedule",
        "train scheduler=onecycle scheduler.pct_start=2",
        "scheduler: torch.optim.lr_scheduler.OneCycleLR refuses its settings: Expected float "
        "between 0 and 1 pct_start, but got 2.",
    ),
    row(
        "long-horizon",
        "train data.horizon=5000",
        "data.window=20 plus data.horizon=5000 is longer than the training span of 1400 steps",
    ),
    row("dropout-one", "train model.dropout=1.0", "model.dropout=1.0 must be in [0, 1)"),
    row(
        "negative-dropout",
        "train model=transformer model.dropout=-0.1",
        "model.dropout=-0.1 must be in [0, 1)",
    ),
    row("zero-kernel", "train model=tcn model.kernel_size=0", "model.kernel_size=0 must be a"),
    row(
        "heads-not-dividing",
        "train model=transformer model.num_heads=3",
        "model: hidden_size=64 must be a multiple of num_heads=3.",
    ),
    row(
        "empty-vocabulary",
        "train data=text_cls data.min_freq=100000",
        "data.min_freq=100000 keeps no token, and the vocabulary would be empty",
    ),
    # Model and data that do not fit.
    row(
        "bidirectional-language-model",
        "train data=text model.bidirectional=true",
        "model=lstm does not fit task=language_model: a language model predicts each next token",
    ),
    row(
        "seq2seq-on-series",
        "train model=seq2seq",
        "model=seq2seq cannot read data=sine, which gives 1 feature per step",
    ),
    row(
        "frames-net-on-tokens",
        "train data=text model=cnn_lstm",
        "model=cnn_lstm cannot read data=text, which gives token ids",
    ),
    row(
        "task-on-other-data",
        "train task=classification",
        "task=classification does not fit data=sine: it reads labelled sequences",
    ),
    # Trainer values.
    row(
        "negative-epochs",
        "train trainer.max_epochs=-2",
        "trainer.max_epochs=-2 must be a whole number of at least 0, or -1 (no limit).",
    ),
    row(
        "negative-clipping",
        "train trainer.gradient_clip_val=-1",
        "trainer.gradient_clip_val=-1 must be at least 0 (or null: no clipping).",
    ),
    row(
        "unknown-clipping-algorithm",
        "train data=text trainer.gradient_clip_algorithm=foo",
        "trainer.gradient_clip_algorithm=foo must be norm or value (or null: norm).",
    ),
    row(
        "word-for-a-switch",
        "train model.bidirectional=no",
        "model.bidirectional=no must be true or false.",
    ),
    row("word-for-test", "train test=no", "test=no must be true or false."),
    row(
        "comma-in-a-single-run",
        "train data.noise_std=0.1,0.2",
        "data.noise_std=0.1,0.2: Hydra reads a comma as a sweep over several values; give -m to "
        "sweep them,",
    ),
    row(
        "unknown-precision",
        "train trainer.precision=fp8",
        "trainer: Precision 'fp8' is invalid. Allowed precision values:",
    ),
    row(
        "zero-accumulation",
        "train trainer.accumulate_grad_batches=0",
        "trainer.accumulate_grad_batches=0 must be a whole number of at least 1.",
    ),
    row(
        "zero-logging-interval",
        "train trainer.log_every_n_steps=0",
        "trainer.log_every_n_steps=0 must be a whole number of at least 1.",
    ),
    row(
        "zero-epochs-between-validations",
        "train trainer.check_val_every_n_epoch=0",
        "trainer.check_val_every_n_epoch=0 must be a whole number of at least 1 (or null:",
    ),
    row(
        "zero-batches-between-validations",
        "train +trainer.val_check_interval=0",
        "trainer.val_check_interval=0 must be a whole number of batches of at least 1, or a",
    ),
    row(
        "negative-sanity-batches",
        "train trainer.num_sanity_val_steps=-2",
        "trainer.num_sanity_val_steps=-2 must be a whole number of at least 0, or -1 (every",
    ),
    row(
        "negative-min-epochs",
        "train trainer.min_epochs=-3",
        "trainer.min_epochs=-3 must be a whole number of at least 0.",
    ),
    row(
        "zero-steps-per-batch",
        "train task.steps_per_batch=0",
        "task.steps_per_batch=0 must be a whole number of at least 1.",
    ),
    row(
        "accumulation-with-steps-per-batch",
        "train task.steps_per_batch=4 trainer.accumulate_grad_batches=2",
        "trainer.accumulate_grad_batches=2 cannot be used with task.steps_per_batch=4, which "
        "takes one optimizer step per batch of data (raise data.batch_size instead).",
    ),
    row(
        "steps-per-batch-language-model",
        "train data=text task.steps_per_batch=4",
        "task.steps_per_batch=4: a language model already takes one optimizer step per "
        "truncated-BPTT chunk of a batch; for more steps a batch, make the lanes longer "
        "(data.seq_len, a multiple of task.tbptt_steps).",
    ),
    row(
        "checkpoint-between-batches",
        "train task.steps_per_batch=4 callbacks=[default,step_checkpoint] "
        "callbacks.step_checkpoint.every_n_train_steps=10",
        "callbacks.step_checkpoint.every_n_train_steps=10 must be a multiple of "
        "task.steps_per_batch=4: callbacks see the step count only where a batch of 4 "
        "optimizer steps ends.",
    ),
    # Resuming, and checkpoints.
    row(
        "resume-without-checkpoint",
        "train resume=true hydra.run.dir={bare}",
        "resume=true continues the run in hydra.run.dir, and {bare}/checkpoints/last.ckpt does "
        "not exist",
    ),
    row(
        "resume-and-another-checkpoint",
        f"train resume=true ckpt_path={LM_LAST}",
        f"resume=true continues the run's own last checkpoint, and ckpt_path={LM_LAST} names",
    ),
    row(
        "missing-checkpoint",
        "train ckpt_path={files}/missing.ckpt",
        "ckpt_path={files}/missing.ckpt does not exist; give the path of a .ckpt file.",
    ),
    row(
        "folder-for-a-checkpoint",
        "train ckpt_path={files}",
        "ckpt_path={files} is a folder; give the path of a .ckpt file (a run's checkpoints/",
    ),
    row("resume-not-a-truth-value", "train resume=maybe", "resume=maybe must be true or false."),
    row(
        "empty-checkpoint",
        "train ckpt_path={files}/empty.ckpt",
        "ckpt_path={files}/empty.ckpt is empty",
    ),
    row(
        "truncated-checkpoint",
        "train ckpt_path={files}/truncated.ckpt",
        "ckpt_path={files}/truncated.ckpt is not a readable checkpoint",
    ),
    row(
        "random-bytes-checkpoint",
        "train ckpt_path={files}/random.ckpt",
        "ckpt_path={files}/random.ckpt is not a readable checkpoint",
    ),
    row(
        "pickled-code-checkpoint",
        "eval ckpt_path={files}/payload.ckpt",
        "ckpt_path={files}/payload.ckpt holds a pickled io.open, not only weights",
    ),
    row(
        "lightning-only-checkpoint",
        "train ckpt_path={files}/no_config.ckpt",
        "ckpt_path={files}/no_config.ckpt holds no rnnlab config: it was written by an earlier",
    ),
    row(
        "old-spec-checkpoint",
        "eval ckpt_path={files}/old_spec.ckpt",
        "ckpt_path={files}/old_spec.ckpt holds a data spec of an earlier rnnlab release",
    ),
    row(
        "checkpoint-of-another-task",
        f"train ckpt_path={LM_LAST}",
        f"ckpt_path={LM_LAST} is a checkpoint of LanguageModelTask, and this run trains "
        "ForecastingTask",
    ),
    row(
        "checkpoint-of-other-shapes",
        f"train model.hidden_size=32 ckpt_path={LAST}",
        f"ckpt_path={LAST} holds weights that do not fit this run's net, trained with "
        "model.hidden_size=64 (not 32): net.rnn.weight_ih_l0 is (256, 1) there and (128, 1) here",
    ),
    # Serving a checkpoint.
    row(
        "eval-on-changed-data",
        f"eval ckpt_path={LM_LAST}",
        f"the data behind ckpt_path={LM_LAST} has changed since training: its vocabulary",
    ),
    row(
        "unknown-device",
        f"generate ckpt_path={LM_LAST} device=tpu",
        "device=tpu is not a device; give cpu, or cuda (cuda:1: the second GPU).",
    ),
    row(
        "fraction-of-a-character",
        f"generate ckpt_path={LM_LAST} length=2.5",
        "length=2.5 must be a whole number of at least 0.",
    ),
    row(
        "prompt-outside-vocabulary",
        f"generate ckpt_path={LM_LAST} prompt=Zebra",
        "the prompt holds 'Z', not in the model's vocabulary of 29 characters",
    ),
    row(
        "predict-with-a-language-model",
        f"predict ckpt_path={LM_LAST} input={{files}}/texts.txt",
        f"ckpt_path={LM_LAST} is not a forecaster's, a text classifier's or a tagger's",
    ),
    row(
        "translate-with-a-forecaster",
        f"translate ckpt_path={LAST} text=hello",
        f"ckpt_path={LAST} is not an encoder–decoder's checkpoint",
    ),
    row(
        "generate-with-a-forecaster",
        f"generate ckpt_path={LAST}",
        f"ckpt_path={LAST} is a checkpoint of ForecastingTask; rnnlab.generate needs a language",
    ),
    row(
        "predict-input-for-a-run-without-a-file",
        f"predict ckpt_path={LAST} input={{files}}/series.csv",
        "input={files}/series.csv replaces data.path, and this run's data has no file",
    ),
    row(
        "output-in-a-missing-folder",
        f"predict ckpt_path={LAST} output={{files}}/missing/forecasts.csv",
        "output={files}/missing/forecasts.csv: the folder {files}/missing does not exist; "
        "create it first.",
    ),
    row(
        "output-is-a-folder",
        f"predict ckpt_path={LAST} output={{files}}",
        "output={files} is a folder; give the path of a file to write.",
    ),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, Path]:
    """The runs and files the rows point at; everything under ``root`` is hashed."""
    root = tmp_path_factory.mktemp("bad_input")
    forecaster, lm, bare, files = root / "run", root / "lm", root / "bare", root / "files"
    run([*QUICK, *SINE, f"hydra.run.dir={forecaster}"])
    corpus = root / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    run([*QUICK, *TEXT, f"data.path={corpus}", f"hydra.run.dir={lm}"])
    corpus.write_text(CORPUS + "NEW LETTERS: Q, X, Z!\n", encoding="utf-8")  # the data changed
    shutil.copytree(forecaster, bare, ignore=shutil.ignore_patterns("checkpoints"))

    files.mkdir()
    last = forecaster / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    (files / "empty.ckpt").write_bytes(b"")
    (files / "truncated.ckpt").write_bytes(data[: len(data) // 2])
    (files / "random.ckpt").write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy())
    checkpoint = torch.load(last, weights_only=True)
    torch.save({**checkpoint, "payload": Payload(root / "marker")}, files / "payload.ckpt")
    no_config = {k: v for k, v in checkpoint.items() if k not in (CHECKPOINT_KEY, SPEC_KEY)}
    torch.save(no_config, files / "no_config.ckpt")
    torch.save({**checkpoint, SPEC_KEY: {"features": 1}}, files / "old_spec.ckpt")
    (files / "texts.txt").write_text("a text to label\n", encoding="utf-8")
    (files / "series.csv").write_text("t,y\n0,1.0\n1,2.0\n", encoding="utf-8")
    return {"root": root, "run": forecaster, "lm": lm, "bare": bare, "files": files}


def filled(text: str, paths: dict[str, Path]) -> str:
    return text.format(**{k: str(v) for k, v in paths.items()})


def arguments(r: Row, paths: dict[str, Path]) -> list[str]:
    """The row's arguments, made tiny; a training row points at the forecaster's run unless it
    names a run of its own."""
    args = [filled(a, paths) for a in r.args]
    if r.entry == "train":
        data = [] if any(a.startswith("data=") for a in args) else SINE
        here = (
            []
            if any(a.startswith("hydra.run.dir=") for a in args)
            else [f"hydra.run.dir={paths['run']}"]
        )
        return [*QUICK, *data, *args, *here]
    if r.entry == "eval":
        return ["trainer=cpu", *args, f"hydra.run.dir={paths['run']}"]
    return args


@pytest.mark.parametrize("r", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_ends_in_one_sentence_and_changes_no_run(r: Row, paths: dict[str, Path]):
    before = tree_digest(paths["root"])
    with pytest.raises(ConfigError) as caught:
        ENTRIES[r.entry](arguments(r, paths))
    sentence = str(caught.value)
    assert sentence.startswith(filled(r.says, paths)), sentence
    assert "\n" not in sentence
    assert tree_digest(paths["root"]) == before
    assert not (paths["root"] / "marker").exists()


def table_rows(heading: str) -> list[str]:
    """The rows of the table under ``## heading`` in docs/bad_input.md, less its heading row."""
    table = (Path(__file__).parents[1] / "docs" / "bad_input.md").read_text(encoding="utf-8")
    section = table.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    return rows[1:]


def test_the_table_has_a_test_for_each_of_its_rows():
    assert len(table_rows("Settings, runs and checkpoints")) == len(ROWS)


# On the command line: exit status 2 and the sentence as the one line on stderr.
COMMAND_LINE = ["zero-hidden-size", "checkpoint-of-another-task", "eval-on-changed-data"]


@pytest.mark.parametrize("id", COMMAND_LINE)
def test_the_command_line_prints_one_line_and_exits_2(id: str, paths: dict[str, Path]):
    r = next(r for r in ROWS if r.id == id)
    before = tree_digest(paths["root"])
    result = run_main(f"rnnlab.{r.entry}", *arguments(r, paths), cwd=paths["root"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {filled(r.says, paths)}"), lines
    assert tree_digest(paths["root"]) == before


def test_a_separate_process_refusing_a_checkpoint_exits_2(paths: dict[str, Path]):
    r = next(r for r in ROWS if r.id == "truncated-checkpoint")
    before = tree_digest(paths["root"])
    result = run_cli("rnnlab.train", *arguments(r, paths), cwd=paths["root"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {filled(r.says, paths)}"), lines
    assert tree_digest(paths["root"]) == before


def test_a_logger_whose_package_is_missing_is_one_sentence():
    # Comet's logger is Lightning's own, and comet_ml is in none of rnnlab's extras.
    if importlib.util.find_spec("comet_ml") is not None:
        pytest.skip("comet_ml is installed here")
    node = OmegaConf.create({"_target_": "lightning.pytorch.loggers.CometLogger"})
    with pytest.raises(ConfigError, match=r"^logger.comet needs a package that is not installed: "):
        instantiate(node, "logger.comet")


# Settings that only the data can refuse (docs/bad_input.md, the last table): refused when
# training starts, in a new run directory that keeps no checkpoint and no metrics.json.
STARTING = [
    row(
        "fraction-under-one-training-batch",
        "train trainer.limit_train_batches=0.001",
        "Lightning refused the settings: You requested to check 0.001 of the `train_dataloader`",
    ),
    row(
        "fraction-under-one-validation-batch",
        "train trainer.limit_val_batches=0.01",
        "Lightning refused the settings: You requested to check 0.01 of the `val_dataloader`",
    ),
    row(
        "validation-interval-over-the-epoch",
        "train +trainer.val_check_interval=100000",
        "counting the training batches failed: `val_check_interval` (100000) must be less than",
    ),
]


def starting(r: Row, run_dir: Path) -> list[str]:
    """The row's arguments on the default data, made small, in the new run ``run_dir``."""
    return [*r.args, *SINE, "trainer=cpu", "trainer.max_epochs=1", f"hydra.run.dir={run_dir}"]


@pytest.mark.parametrize("r", STARTING, ids=[r.id for r in STARTING])
def test_a_setting_the_data_refuses_ends_in_one_sentence_when_training_starts(
    r: Row, paths: dict[str, Path], tmp_path: Path
):
    before = tree_digest(paths["root"])
    with pytest.raises(ConfigError) as caught:
        run(starting(r, tmp_path / "new"))
    sentence = str(caught.value)
    assert sentence.startswith(r.says), sentence
    assert "\n" not in sentence
    assert (tmp_path / "new" / ".hydra" / "config.yaml").is_file()  # what was refused
    assert not (tmp_path / "new" / "checkpoints").exists()
    assert not (tmp_path / "new" / "metrics.json").exists()
    assert tree_digest(paths["root"]) == before


def test_evaluating_on_a_fraction_under_one_test_batch_ends_in_one_sentence(
    paths: dict[str, Path], tmp_path: Path
):
    before = tree_digest(paths["root"])
    args = [f"ckpt_path={paths['run']}/checkpoints/last.ckpt", "trainer=cpu"]
    with pytest.raises(ConfigError) as caught:
        ENTRIES["eval"]([*args, "trainer.limit_test_batches=0.01", f"hydra.run.dir={tmp_path}"])
    says = "Lightning refused the settings: You requested to check 0.01 of the `test_dataloader`"
    assert str(caught.value).startswith(says), caught.value
    assert not (tmp_path / "metrics.json").exists()
    assert tree_digest(paths["root"]) == before


def test_a_setting_the_data_refuses_exits_2_on_the_command_line(tmp_path: Path):
    r = STARTING[0]
    result = run_main("rnnlab.train", *starting(r, tmp_path / "new"), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {r.says}"), lines


def test_the_last_table_has_a_test_for_each_of_its_rows():
    rows = table_rows("Settings that only the data can refuse")
    assert len(rows) == len(STARTING)
    for line, r in zip(rows, STARTING, strict=True):
        assert f"`python -m rnnlab.{r.entry} {' '.join(r.args)}`" in line
        assert f"| {r.says}" in line
