"""A run whose training diverges: it stops with one sentence (or skips the step), keeps its last
good checkpoint, scores no NaN as good, writes strict JSON, and fails its sweep trial."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import lightning as L
import pytest
import torch

from rnnlab.build import build_system
from rnnlab.callbacks.finite import FiniteGuard, gradient_probe
from rnnlab.report import read_curve, report
from rnnlab.train import train
from rnnlab.utils.errors import ConfigError, NumericalFault
from rnnlab.utils.run_output import write_metrics
from tests.conftest import TINY, compose_config, run_cli
from tests.test_language_model_run import LM

QUIET = ["~callbacks.rich_progress_bar", "~callbacks.rich_model_summary"]
FAST = [*TINY, *QUIET, "~callbacks.forecast_figure"]
# Adam moves every weight by about the learning rate: 1e30 in the first step, and the second
# step's forecasts overflow. The issue's example.
DIVERGE = ["optimizer.lr=1e30", "trainer.gradient_clip_val=null"]
# SGD past its stable step size: the error grows geometrically and overflows in epoch 2.
DIVERGE_LATER = [
    "optimizer=sgd",
    "optimizer.lr=3",
    "scheduler=none",
    "trainer.gradient_clip_val=null",
    "trainer.max_epochs=8",
]
# The language model's loss is bounded in its gradient (softmax), so it takes a bolder step:
# at 1e38 Adam's own update overflows, at 1e36 the next logits do.
LM_DIVERGE = ["optimizer.lr=1e38", "scheduler=none", "trainer.gradient_clip_val=null"]
LM_OVERFLOW = ["optimizer.lr=1e36", "scheduler=none", "trainer.gradient_clip_val=null"]
SENTENCE = re.compile(
    r"^error: training stopped at step (?P<step>\d+) \(epoch (?P<epoch>\d+), batch \d+\): "
    r"(the loss is (NaN|inf|-inf)|the gradient of [\w.]+ holds (NaN|infinite) values); "
)


def strict_json(path: Path) -> dict:
    """``path`` read as strict JSON: ``NaN`` or ``Infinity`` in it fails the test."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{path} holds {token}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def scalars(run_dir: Path, tag: str) -> list[float]:
    """The values of the scalar ``tag`` in the run's TensorBoard event files, by step."""
    return [value for _, value in read_curve(run_dir, tag)]


# Stop (the default).


def test_the_issues_example_stops_with_one_sentence_and_exit_status_3(tmp_path):
    out = tmp_path / "run"
    result = run_cli("rnnlab.train", *FAST, *DIVERGE, f"hydra.run.dir={out}", cwd=tmp_path)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and SENTENCE.match(errors[0]), result.stderr[-3000:]
    assert "no checkpoint was saved before it" in errors[0]
    assert "nonfinite=skip" in errors[0]
    assert not (out / "metrics.json").exists()


def test_a_run_that_diverges_later_keeps_its_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    result = run_cli("rnnlab.train", *FAST, *DIVERGE_LATER, f"hydra.run.dir={out}", cwd=tmp_path)
    assert result.returncode == 3, result.stderr[-3000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    fault = SENTENCE.match(line)
    assert fault, line
    epoch = int(fault["epoch"])
    assert epoch >= 1  # the run saved checkpoints before it diverged
    last = out / "checkpoints" / "last.ckpt"
    assert f"{last} from before it is kept" in line
    assert not (out / "metrics.json").exists()

    # last.ckpt is one from an epoch before the fault, not one of the diverged weights, and it
    # loads as any checkpoint does.
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["epoch"] < epoch and checkpoint["global_step"] <= int(fault["step"])
    weights = checkpoint["state_dict"]
    assert weights and all(torch.isfinite(w).all() for w in weights.values())


def test_the_language_model_stops_too(tmp_path):
    cfg = compose_config("train", [*LM, *LM_DIVERGE], tmp_path)
    # Two truncated-BPTT chunks per batch, each an optimizer step: the second is batch 0's.
    stopped = r"^training stopped at step 1 \(epoch 0, batch 0\): the loss is NaN; "
    with pytest.raises(NumericalFault, match=stopped):
        train(cfg)
    assert not (tmp_path / "metrics.json").exists()


def test_a_checkpoint_of_weights_that_are_not_finite_is_refused(tmp_path):
    cfg = compose_config("train", FAST, tmp_path)
    _, _, task = build_system(cfg)
    trainer = L.Trainer(
        callbacks=[FiniteGuard()], logger=False, enable_progress_bar=False, max_epochs=0
    )
    trainer.strategy.connect(task)
    with torch.no_grad():
        task.head.bias[0] = float("inf")
    with pytest.raises(NumericalFault, match="the weights of head.bias hold infinite values"):
        trainer.save_checkpoint(tmp_path / "bad.ckpt")
    assert not (tmp_path / "bad.ckpt").exists()


class RootOfZero(L.LightningModule):
    """A finite loss whose gradient is infinite: ``d sqrt(w) / dw`` at ``w = 0``."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(3))

    def training_step(self, batch, batch_idx):
        return self.w.sqrt().sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_an_infinite_gradient_of_a_finite_loss_is_named(tmp_path):
    trainer = L.Trainer(
        callbacks=[FiniteGuard()], logger=False, enable_progress_bar=False,
        enable_checkpointing=False, enable_model_summary=False, max_steps=1,
        default_root_dir=tmp_path,
    )  # fmt: skip
    data = torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=2)
    stopped = r"step 0 \(epoch 0, batch 0\): the gradient of w holds infinite values; "
    with pytest.raises(NumericalFault, match=stopped):
        trainer.fit(RootOfZero(), data)


def test_the_gradient_probe_is_finite_exactly_when_every_gradient_is():
    finite = [torch.randn(5, 3), torch.randn(4, dtype=torch.float64)]
    assert torch.isfinite(gradient_probe(finite))
    for bad in (float("nan"), float("inf"), -float("inf")):
        spoiled = [finite[0], finite[1].clone().index_fill_(0, torch.tensor([2]), bad)]
        assert not torch.isfinite(gradient_probe(spoiled)), bad
    # An infinity in one tensor and its negative in another, a NaN in an imaginary part.
    assert not torch.isfinite(gradient_probe([torch.tensor([math.inf]), torch.tensor([-math.inf])]))
    assert not torch.isfinite(gradient_probe([torch.tensor([1 + 0j, complex(0, math.nan)])]))
    # 16-bit gradients summed in float32: no overflow at float16's 65,504.
    assert torch.isfinite(gradient_probe([torch.full((3,), 60_000.0, dtype=torch.float16)]))


def test_an_unknown_action_is_refused():
    with pytest.raises(ConfigError, match="nonfinite=retry is not one of: stop, skip."):
        FiniteGuard("retry")


# Skip.


def test_skip_mode_skips_the_steps_counts_them_and_finishes(tmp_path):
    cfg = compose_config(
        "train", [*FAST, *DIVERGE, "nonfinite=skip", "trainer.max_epochs=2"], tmp_path
    )
    metrics, objects = train(cfg)
    # The first step sends the weights to about 1e30; every later forecast overflows, and its
    # step is skipped: the weights stay finite.
    skipped = scalars(tmp_path, "train/skipped_steps")
    assert skipped == [4.0, 9.0]  # per epoch's end, of 5 steps an epoch
    assert metrics["train/skipped_steps"] == 9.0
    assert all(torch.isfinite(p).all() for p in objects["task"].parameters())
    saved = strict_json(tmp_path / "metrics.json")
    assert saved["train/skipped_steps"] == 9
    nulls = {key for key, value in saved.items() if value is None}
    assert nulls and nulls == set(saved["nonfinite"])  # each one noted


def test_skip_mode_covers_the_language_model(tmp_path):
    cfg = compose_config("train", [*LM, *LM_OVERFLOW, "nonfinite=skip"], tmp_path)
    metrics, objects = train(cfg)
    # 2 epochs of 6 batches of 2 chunks; after the first step every loss is inf.
    assert objects["trainer"].global_step == 24 and metrics["train/skipped_steps"] == 23
    assert scalars(tmp_path, "train/skipped_steps")[-1] == metrics["train/skipped_steps"]
    assert all(torch.isfinite(p).all() for p in objects["task"].parameters())


# No metric scores a NaN prediction as good.


def nan_model_metrics(tmp_path: Path, *overrides: str) -> dict[str, float]:
    """The test metrics of the model ``overrides`` describe, every weight set to NaN."""
    cfg = compose_config("train", [*overrides, *QUIET], tmp_path)
    datamodule, _, task = build_system(cfg)
    with torch.no_grad():
        for p in task.parameters():
            p.fill_(float("nan"))
    trainer = L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_test_batches=2,
    )
    trainer.test(task, datamodule=datamodule, verbose=False)
    return {key: float(value) for key, value in trainer.callback_metrics.items()}


def test_a_nan_forecast_scores_nan_on_every_metric(tmp_path):
    metrics = nan_model_metrics(tmp_path, "data=sine", "data.length=3000", "data.horizon=3")
    for name in ("loss", "mse", "mae", "rmse", "mape", "smape", "mase", "mae_step1"):
        assert math.isnan(metrics[f"test/{name}"]), name  # sMAPE used to say 0.0
    assert math.isfinite(metrics["test/naive_smape"])  # the baselines are still scored


@pytest.mark.parametrize(
    ("overrides", "worst"),
    [
        (["data=parity", "data.num_train=256", "data.num_test=256"], ("acc", "f1")),
        (["data=conll"], ("acc",)),
        (["data=conll", "task.crf=true"], ("acc",)),
        (
            ["model=seq2seq", "data=reverse", "data.num_train=256", "data.num_test=64"],
            ("acc", "exact_match", "bleu", "chrf"),
        ),
    ],
    ids=["classification", "tagging", "tagging_crf", "seq2seq"],
)
def test_nan_scores_earn_no_credit(tmp_path, overrides, worst):
    metrics = nan_model_metrics(tmp_path, *overrides)
    assert math.isnan(metrics["test/loss"])
    for name in worst:
        assert metrics[f"test/{name}"] == 0.0, name


def test_the_confusion_matrix_puts_a_nan_prediction_off_the_diagonal(tmp_path):
    cfg = compose_config("train", ["data=parity", "data.num_train=64", *QUIET], tmp_path)
    datamodule, _, task = build_system(cfg)
    datamodule.setup("test")
    batch = next(iter(datamodule.test_dataloader()))
    logits = torch.full((len(batch.y), 2), float("nan"))
    task.log_dict = lambda *args, **kwargs: None  # no trainer to log to: only the update counts
    task.update_metrics("test", logits, batch)
    confusion = task.confusion["test"].compute()
    assert confusion.sum() == len(batch.y) and confusion.diagonal().sum() == 0  # argmax said 0


def test_a_nan_language_model_scores_nan(tmp_path):
    metrics = nan_model_metrics(tmp_path, "data=text", "data.seq_len=32", "data.batch_size=8")
    for name in ("loss", "bpc", "ppl"):
        assert math.isnan(metrics[f"test/{name}"]), name


# metrics.json is strict JSON, and the report reads it back.


def test_metrics_json_writes_null_and_notes_what_was_not_finite(tmp_path):
    run = tmp_path / "runs" / "0"
    metrics = {"test/mse": math.nan, "val/loss_best": math.inf, "test/mae": 0.5, "x": -math.inf}
    write_metrics(run / "metrics.json", metrics)
    saved = strict_json(run / "metrics.json")
    assert saved == {
        "test/mae": 0.5,
        "test/mse": None,
        "val/loss_best": None,
        "x": None,
        "nonfinite": {"test/mse": "nan", "val/loss_best": "inf", "x": "-inf"},
    }
    write_metrics(tmp_path / "runs" / "1" / "metrics.json", {"test/mse": 2.0, "test/mae": 1.0})

    rows = report(tmp_path / "runs", metric="test/mse", mode="min", output=tmp_path / "out")
    by_run = {row["run"]: row for row in rows}
    assert math.isnan(by_run["0"]["test/mse"]) and by_run["0"]["test/mae"] == 0.5
    assert [row["run"] for row in rows if row["best"]] == ["1"]  # NaN is never the best
    assert "nonfinite" not in rows[0]


# A sweep fails the trial and goes on.


def test_a_sweep_marks_a_diverged_trial_failed_and_goes_on(tmp_path):
    pytest.importorskip("optuna")
    from optuna.trial import TrialState

    from tests.test_optuna_sweep import sweep, trials

    result = sweep(
        tmp_path,
        "sweep",
        "hydra.sweeper.n_trials=3",
        "trainer.max_epochs=1",
        "trainer.gradient_clip_val=null",
        "optimizer.lr=choice(0.01,1e30)",
        "nonfinite=choice(stop,skip)",
        "hydra.sweeper.enqueue=[{optimizer.lr:1e30,nonfinite:stop},"
        "{optimizer.lr:1e30,nonfinite:skip},{optimizer.lr:0.01,nonfinite:stop}]",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = trials(tmp_path)
    assert [t.state for t in study] == [TrialState.FAIL, TrialState.FAIL, TrialState.COMPLETE]
    # Stopped by the fault: the trial's reason is the run's sentence.
    assert re.match(r"training stopped at step \d+ \(epoch 0", study[0].user_attrs["reason"])
    # Skipped to the end, with an objective that is not finite (null in metrics.json).
    assert study[1].user_attrs["reason"] in ("val/loss_best is inf", "val/loss_best is nan")
    saved = strict_json(Path(study[1].user_attrs["job_dir"]) / "metrics.json")
    assert saved["val/loss_best"] is None
    assert "best: trial 2, val/loss_best = " in result.stdout
