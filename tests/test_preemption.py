"""Preemption and exact resume: a run stopped in the middle of an epoch (SIGTERM, SIGUSR1, a
SLURM requeue, or SIGKILL after a step checkpoint) and resumed from its checkpoint ends with the
same final metrics as an uninterrupted run of the same seed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from functools import partial
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from rnnlab.callbacks.exact_resume import LOADER_KEY
from rnnlab.callbacks.preemption import PREEMPTED_EXIT_CODE, Preempted
from rnnlab.data.specs import Inputs, StreamSpec
from rnnlab.data.text import TextDataModule
from rnnlab.nets import RecurrentEncoder
from rnnlab.tasks.language_model import CARRIED_STATE_KEY, LanguageModelTask
from rnnlab.train import run, train
from tests.conftest import compose_config, run_cli, start_cli

QUIET = ["~callbacks.rich_progress_bar", "~callbacks.rich_model_summary"]

# Epochs of a few hundred batches, so that a signal sent once training runs lands mid-epoch.
FORECASTER = [
    "model=gru",
    "model.hidden_size=8",
    "data=sine",
    "data.length=3000",
    "data.batch_size=8",
    "trainer=cpu",
    "trainer.max_epochs=2",
    "trainer.limit_val_batches=4",
    "trainer.limit_test_batches=4",
    "trainer.deterministic=true",
    "callbacks=[default,step_checkpoint]",
    "callbacks.step_checkpoint.every_n_train_steps=40",
    "~callbacks.forecast_figure",
    *QUIET,
]
LANGUAGE_MODEL = [
    "model=gru",
    "model.hidden_size=16",
    "data=text",
    "data.seq_len=16",
    "data.batch_size=4",
    "task.tbptt_steps=8",  # two optimizer steps per batch, the state carried between them
    "trainer=cpu",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=150",
    "trainer.limit_val_batches=4",
    "trainer.limit_test_batches=4",
    "trainer.deterministic=true",
    "callbacks=[default,step_checkpoint]",
    "callbacks.step_checkpoint.every_n_train_steps=40",
    "~callbacks.text_sample",
    *QUIET,
]


class SignalAt(Callback):
    """Sends this process signal ``names[i]`` once training step ``steps[i]`` is done: a
    signal at a step chosen in advance, for the in-process tests."""

    def __init__(self, steps: list[int], names: list[str]) -> None:
        self.at = dict(zip(steps, names, strict=True))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step in self.at:
            os.kill(os.getpid(), getattr(signal, self.at.pop(trainer.global_step)))


class FirstStep(Callback):
    """Records the global step at which training starts: 0, or where a resumed run goes on."""

    step: int | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self.step = trainer.global_step


def signal_at(steps: list[int], names: list[str]) -> list[str]:
    return [
        f"+callbacks.signal_at._target_={__name__}.SignalAt",
        f"+callbacks.signal_at.steps=[{','.join(map(str, steps))}]",
        f"+callbacks.signal_at.names=[{','.join(names)}]",
    ]


@pytest.fixture(autouse=True)
def _keep_torch_settings():
    """``trainer.deterministic=true`` switches torch to deterministic algorithms for the whole
    process: switch it back for the tests that follow."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


def epoch_position(ckpt: Path) -> tuple[int, int]:
    """The epoch of a checkpoint and how many of that epoch's batches it has trained on, read
    as a user's script would (``weights_only``: nothing in it is executed)."""
    checkpoint = torch.load(ckpt, weights_only=True)
    progress = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]
    loader = checkpoint[LOADER_KEY]
    assert loader["batches"] == progress["processed"]  # the loader resumes where training stopped
    return loader["epoch"], loader["batches"]


def assert_same_metrics(resumed: dict[str, float], reference: dict[str, float]) -> None:
    keys = [k for k in reference if k.startswith(("test/", "val/"))]
    assert keys and set(keys) <= set(resumed)
    for key in keys:
        assert resumed[key] == pytest.approx(reference[key], rel=1e-6, abs=1e-9), key


def reference_run(overrides: list[str], out: Path) -> tuple[dict[str, float], int]:
    """An uninterrupted run: its metrics and the training batches of one of its epochs."""
    metrics, objects = train(compose_config("train", overrides, out))
    return metrics, int(objects["trainer"].num_training_batches)


@pytest.fixture(scope="module")
def forecaster_reference(tmp_path_factory):
    return reference_run(FORECASTER, tmp_path_factory.mktemp("forecaster"))


@pytest.fixture(scope="module")
def language_model_reference(tmp_path_factory):
    return reference_run(LANGUAGE_MODEL, tmp_path_factory.mktemp("language_model"))


# From the command line: a real signal from outside, at a moment the test does not choose.


def wait_for_checkpoint(path: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    """Wait until ``path`` holds a complete checkpoint (the first step checkpoint)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        if path.is_file():
            try:
                torch.load(path, weights_only=True)
                return
            except Exception:  # still being written
                pass
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"no checkpoint at {path} after {timeout} s")


@pytest.mark.parametrize(
    "config, reference",
    [(FORECASTER, "forecaster_reference"), (LANGUAGE_MODEL, "language_model_reference")],
    ids=["forecaster", "language_model"],
)
@pytest.mark.parametrize("kill", ["SIGTERM", "SIGKILL"])
def test_a_run_stopped_mid_epoch_resumes_to_the_uninterrupted_result(
    config, reference, kill, request, tmp_path
):
    expected, batches_per_epoch = request.getfixturevalue(reference)
    run_dir = tmp_path / "run"
    args = [*config, f"hydra.run.dir={run_dir}"]
    last = run_dir / "checkpoints" / "last.ckpt"

    process = start_cli("rnnlab.train", *args, cwd=tmp_path)
    try:
        wait_for_checkpoint(last, process)
        process.send_signal(getattr(signal, kill))
        stdout, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:  # a failed wait leaves no training process behind
            process.kill()
            process.wait()
    if kill == "SIGTERM":  # a checkpoint at the current step, and the status that says so
        assert process.returncode == PREEMPTED_EXIT_CODE, stderr[-2000:]
        assert "SIGTERM: stopped at epoch" in stdout + stderr
        assert f"saved {last}" in stdout + stderr
    else:  # nothing saved on the way out: the last step checkpoint is what is left
        assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()  # a stopped run claims no result
    _, done = epoch_position(last)
    assert 0 < done < batches_per_epoch  # the checkpoint is in the middle of an epoch

    # The language model resumes as `resume=true` (the run's own last.ckpt) does.
    resume = "resume=true" if config is LANGUAGE_MODEL else f"ckpt_path={last}"
    resumed = run_cli("rnnlab.train", *args, resume, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_metrics(json.loads((run_dir / "metrics.json").read_text()), expected)


# In this process: a signal at a chosen step, for every kind of task.


SMALL = [
    "data.batch_size=64",
    "trainer=cpu",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=8",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.deterministic=true",
    *QUIET,
]
CLASSIFIER = [
    *SMALL,
    "data=count",
    "data.length=12",
    "data.min_length=4",  # padded, packed batches
    "data.num_train=1024",
    "model.num_layers=2",
    "model.dropout=0.3",  # between the layers: the random state matters
    "~callbacks.confusion_figure",
]
SEQ2SEQ = [
    *SMALL,
    "model=seq2seq",
    "model.hidden_size=16",
    "data=reverse",
    "data.num_train=1024",
    "data.num_val=128",
    "data.num_test=128",
    "~callbacks.translation_samples",
]


@pytest.fixture(scope="module")
def classifier_reference(tmp_path_factory):
    return reference_run(CLASSIFIER, tmp_path_factory.mktemp("classifier"))


@pytest.fixture(scope="module")
def seq2seq_reference(tmp_path_factory):
    return reference_run(SEQ2SEQ, tmp_path_factory.mktemp("seq2seq"))


@pytest.mark.parametrize(
    "config, reference, name",
    [
        (CLASSIFIER, "classifier_reference", "SIGTERM"),
        (SEQ2SEQ, "seq2seq_reference", "SIGUSR1"),  # what SLURM sends ahead of a time limit
    ],
    ids=["classifier-SIGTERM", "seq2seq-SIGUSR1"],
)
def test_a_signal_at_a_chosen_step_stops_and_resumes_exactly(
    config, reference, name, request, tmp_path
):
    expected, _ = request.getfixturevalue(reference)
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(Preempted) as stopped:
        train(compose_config("train", [*config, *signal_at([11], [name])], tmp_path))
    assert stopped.value.code == PREEMPTED_EXIT_CODE
    assert signal.getsignal(signal.SIGUSR1) == before  # the handler is put back
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert stopped.value.checkpoint == str(last)
    assert epoch_position(last) == (1, 3)  # step 11 is the third of the second epoch's 8
    assert not (tmp_path / "metrics.json").exists()

    resumed, objects = train(compose_config("train", [*config, f"ckpt_path={last}"], tmp_path))
    assert objects["trainer"].global_step == 16
    assert_same_metrics(resumed, expected)


def test_slurm_requeue_saves_requeues_and_the_requeued_job_resumes(
    classifier_reference, tmp_path, monkeypatch
):
    """``trainer=slurm``: SIGUSR1 makes Lightning save ``hpc_ckpt_1.ckpt`` and run ``scontrol
    requeue <job id>``; SLURM then stops the job with SIGTERM, and the requeued job, started
    with the same command in the same run directory, resumes from the hpc checkpoint."""
    expected, _ = classifier_reference
    bin_dir, calls = tmp_path / "bin", tmp_path / "scontrol.calls"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"  # SLURM cannot run here: record what Lightning asks of it
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    scontrol.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "rnnlab"}
    slurm |= {"SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}
    for key, value in {**slurm, "SLURM_NODELIST": "localhost"}.items():
        monkeypatch.setenv(key, value)
    # The job's command, as the docs give it: its run directory is named after the job.
    command = [
        *(o for o in CLASSIFIER if o != "trainer=cpu"),
        "trainer=slurm",
        "trainer.accelerator=cpu",
        f"hydra.run.dir={tmp_path}/slurm/${{oc.env:SLURM_JOB_ID}}",
    ]
    run_dir = tmp_path / "slurm" / "4242"

    with pytest.raises(Preempted):  # SLURM's SIGTERM after the requeue
        run([*command, *signal_at([5, 11], ["SIGUSR1", "SIGTERM"])])
    assert calls.read_text().split() == ["requeue", "4242"]
    assert epoch_position(run_dir / "hpc_ckpt_1.ckpt") == (0, 5)

    # The requeued job: the same command, no ckpt_path.
    metrics, objects = run([*command, f"+callbacks.first_step._target_={__name__}.FirstStep"])
    (first,) = [c for c in objects["trainer"].callbacks if isinstance(c, FirstStep)]
    assert first.step == 5  # it went on from the hpc checkpoint
    assert objects["trainer"].global_step == 16
    assert_same_metrics(metrics, expected)


# The pieces, one at a time.


def test_the_text_loader_resumed_mid_epoch_yields_exactly_the_remaining_chunks():
    datamodule = TextDataModule(seq_len=16, batch_size=4)
    expected = [b.x for b in datamodule.train_dataloader()]
    stopped = datamodule.train_dataloader()
    stopped.set_epoch(0)
    batches = iter(stopped)
    seen = [next(batches).x for _ in range(7)]
    state = stopped.state_dict()
    assert state == {"epoch": 0, "batches": 7}

    resumed = TextDataModule(seq_len=16, batch_size=4).train_dataloader()
    resumed.load_state_dict(state)
    resumed.set_epoch(0)
    rest = [b.x for b in resumed]
    assert len(rest) == len(expected) - 7
    assert all(torch.equal(a, b) for a, b in zip(seen + rest, expected, strict=True))
    assert len(list(resumed)) == len(expected)  # the next pass starts at the beginning


def language_model(cell: str) -> LanguageModelTask:
    net = RecurrentEncoder(cell=cell, hidden_size=8, vocab_size=5, embedding_dim=4, num_layers=2)
    spec = StreamSpec(Inputs(vocab=tuple("abcde")), seq_len=6)
    return LanguageModelTask(net, spec, optimizer=partial(torch.optim.SGD, lr=0.1))


@pytest.mark.parametrize("cell", ["gru", "lstm"])  # a tensor, and a tuple of (h, c)
def test_the_language_models_carried_state_round_trips_through_a_checkpoint(cell, tmp_path):
    task = language_model(cell)
    _, state = task(torch.randint(0, 5, (3, 6)))  # the state after a chunk, 3 lanes
    task._states["train"] = state
    checkpoint: dict = {}
    task.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, tmp_path / "c.ckpt")
    loaded = torch.load(tmp_path / "c.ckpt", weights_only=True)
    assert loaded[CARRIED_STATE_KEY]["epoch"] == 0

    resumed = language_model(cell)
    resumed.on_load_checkpoint(loaded)
    resumed.on_train_start()  # resuming epoch 0: the next chunk starts from the saved state
    restored = resumed._states["train"]
    if cell == "lstm":
        assert all(torch.equal(a, b) for a, b in zip(restored, state, strict=True))
    else:
        assert torch.equal(restored, state)

    loaded[CARRIED_STATE_KEY]["epoch"] = 1  # a checkpoint from the end of an epoch before
    later = language_model(cell)
    later.on_load_checkpoint(loaded)
    later.on_train_start()
    assert later._states["train"] is None


# Several optimizer steps per Lightning batch: the same training, and the same exact resume.

# The classifier's 8 batches an epoch, taken four to a Lightning batch.
GROUPED_CLASSIFIER = [
    *(o for o in CLASSIFIER if not o.startswith("trainer.limit_train_batches=")),
    "trainer.limit_train_batches=2",
    "task.steps_per_batch=4",
]


def test_four_steps_a_batch_train_as_one_a_batch_and_resume_exactly(classifier_reference, tmp_path):
    expected, _ = classifier_reference
    with pytest.raises(Preempted):
        train(
            compose_config("train", [*GROUPED_CLASSIFIER, *signal_at([12], ["SIGTERM"])], tmp_path)
        )
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert epoch_position(last) == (1, 1)  # step 12 ends the first of the second epoch's 2

    resumed, objects = train(
        compose_config("train", [*GROUPED_CLASSIFIER, f"ckpt_path={last}"], tmp_path)
    )
    trainer = objects["trainer"]
    assert trainer.global_step == 16 and trainer.num_training_batches == 2
    # Every step as in the run of one step a batch: dropout's random draws, the one-cycle
    # schedule and the clipping included.
    assert_same_metrics(resumed, expected)
