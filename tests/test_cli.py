"""The command line as a user meets it: sweeps, DDP processes, and one-line errors."""

import json
import os
import subprocess
import sys

import pytest
import torch

from rnnlab.cli import available, check_choices
from rnnlab.utils.errors import ConfigError
from tests.conftest import TINY, run_cli, run_main

# The same tiny run as the in-process tests, without the progress bar's redraws.
FAST = [*TINY, "~callbacks.rich_progress_bar", "~callbacks.rich_model_summary"]


def test_sweep_leaves_one_directory_per_job(tmp_path):
    result = run_cli(
        "rnnlab.train",
        "-m",
        "model=rnn,lstm,gru",
        "data=sine",
        *FAST,
        f"hydra.sweep.dir={tmp_path}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0", "1", "2"]
    cells = []
    for job in jobs:
        assert "test/mse" in json.loads((job / "metrics.json").read_text())
        assert (job / ".hydra" / "config.yaml").is_file()
        assert list((job / "tensorboard").glob("events.out.tfevents.*"))
        cells.append((job / ".hydra" / "overrides.yaml").read_text())
    assert ["model=rnn" in cells[0], "model=lstm" in cells[1], "model=gru" in cells[2]] == [
        True
    ] * 3


@pytest.mark.parametrize("steps_per_batch", [1, 4, 5])
def test_ddp_sim_trains_in_two_gloo_processes(tmp_path, steps_per_batch):
    out = tmp_path / "run"
    result = run_cli(
        "rnnlab.train",
        *FAST,
        "trainer=ddp_sim",
        "verbose=true",
        f"task.steps_per_batch={steps_per_batch}",
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )  # fmt: skip (verbose: Lightning's note of each rank joining)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test/mse"] > 0
    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    # One step a batch: the 5 batches of limit_train_batches. Four: the split's 8 groups of 4
    # batches dealt out to the two processes, 4 groups each. Five: 6 groups of 5 and one of 2,
    # padded to 8 by the first again; the group of 2 is the first process' fourth, so both
    # take 5 + 5 + 5 + 2 steps (taking 20 and 17 they would wait on each other for ever).
    assert checkpoint["global_step"] == {1: 5, 4: 16, 5: 17}[steps_per_batch]


def test_main_command_resumes_and_evaluates_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    assert run_cli("rnnlab.train", *FAST, f"hydra.run.dir={out}", cwd=tmp_path).returncode == 0
    ckpt = out / "checkpoints" / "last.ckpt"
    # With Python's warnings shown, as a user's shell shows them: Lightning warns when a
    # trainer restores a checkpoint whose callbacks it lacks, and eval must give it no cause.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "HYDRA_FULL_ERROR")}
    command = ["rnnlab.eval", f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'ev'}"]
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "callbacks used to create the checkpoint" not in result.stdout + result.stderr
    evaluated = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    trained = json.loads((out / "metrics.json").read_text())
    assert evaluated["test/mse"] == pytest.approx(trained["test/mse"], rel=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["model=nope"],
            # Every config in conf/model/, as the message lists them: no list kept here.
            f"error: model=nope is not available; choose one of: {', '.join(available('model'))}.",
        ),
        (["data.window=0"], "error: data.window=0 must be at least 1."),
        (
            ["data.window=5000", "data.length=3000"],
            "error: data.window=5000 plus data.horizon=1 is longer than the training span of "
            "2100 steps (data.length=3000); use a shorter window or a longer series.",
        ),
        (["model.dropout=2"], "error: model.dropout=2 must be in [0, 1)"),
        (
            ["data.noise_std=0.1,0.2"],  # a sweep, outside a multirun
            "error: data.noise_std=0.1,0.2: Hydra reads a comma as a sweep over several values; "
            "give -m to sweep them, quote the value to keep it whole "
            "('data.noise_std=\"0.1,0.2\"'), or write a list as data.noise_std=[0.1,0.2].",
        ),
        (["model=rnn,gru"], "error: model=rnn,gru chooses several configs: give -m to sweep"),
        (
            ["-m", "hparams_search=nope"],
            "error: hparams_search=nope is not available; choose one of: parity, sine_lstm.",
        ),
    ],
)
def test_mistakes_end_with_one_line_and_a_nonzero_exit(tmp_path, args, message):
    earlier = tmp_path / "run"
    earlier.mkdir()
    (earlier / "metrics.json").write_text('{"test/mse": 0.5}\n')
    result = run_cli("rnnlab.train", *args, f"hydra.run.dir={earlier}", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert (earlier / "metrics.json").read_text() == '{"test/mse": 0.5}\n'


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["task.optimizer.lr=0.1"],
            "error: task.optimizer.lr is now optimizer.lr: the optimizer and the scheduler are "
            "groups of their own (optimizer=adam|adamw|sgd, scheduler=onecycle|cosine|none).",
        ),
        (
            ["model=cnn_lstm"],
            "error: model=cnn_lstm cannot read data=sine, which gives 1 feature per step (as "
            "input_size, which CnnRnn does not take); choose a model that reads them.",
        ),
        (
            ["data=parity", "task=tagging"],
            "error: task=tagging does not fit data=parity: its labels are one per sequence, "
            "which task=classification predicts.",
        ),
    ],
)
def test_parts_that_do_not_fit_and_renamed_keys_are_one_line(tmp_path, args, message):
    result = run_main("rnnlab.train", *args, f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [message], result.stderr


def test_eval_of_a_missing_checkpoint_is_one_line(tmp_path):
    result = run_cli("rnnlab.eval", f"ckpt_path={tmp_path}/none.ckpt", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: ckpt_path={tmp_path}/none.ckpt does not exist; give the path of a .ckpt file."
    )


def test_choice_check_accepts_sweeps_and_names_the_bad_value():
    check_choices(["-m", "model=rnn,lstm", "data=sine", "trainer.max_epochs=3", "+x=1"])
    with pytest.raises(ConfigError, match="^model=rnn,lstm chooses several configs: give -m"):
        check_choices(["model=rnn,lstm", "data=sine"])  # a sweep outside a multirun
    with pytest.raises(
        ConfigError, match="trainer=tpu_pod is not available; choose one of: cpu, ddp, "
    ):
        check_choices(["trainer=tpu_pod"])


def console(*args: str, cwd) -> subprocess.CompletedProcess:
    """What the command prints, with Python's own warning settings (``run_cli`` hides them)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "HYDRA_FULL_ERROR")}
    command = [sys.executable, "-m", "rnnlab.train", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_console_shows_rnnlabs_lines_and_one_table_unless_verbose(tmp_path):
    quiet = console(*TINY, f"hydra.run.dir={tmp_path / 'quiet'}", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    text = quiet.stdout + quiet.stderr
    assert text.count("test metrics") == 1  # rnnlab's table, not Lightning's too
    for noise in (
        "Test metric",  # Lightning's own test table
        "Trainer already configured with model summary callbacks",
        "Tip:",
        "Total FLOPs",
        "GPU available",
        "is deprecated",
    ):
        assert noise not in text, noise
    assert "Trainable params" in text  # the model summary itself stays
    loud = console(*TINY, "verbose=true", f"hydra.run.dir={tmp_path / 'loud'}", cwd=tmp_path)
    assert loud.returncode == 0 and "GPU available" in loud.stdout + loud.stderr


def test_a_profilers_report_shows_on_the_quiet_console(tmp_path):
    run = console(*TINY, "debug=profiler", "trainer.limit_val_batches=1",
                  f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    text = run.stdout + run.stderr
    assert "FIT Profiler Report" in text and "GPU available" not in text


@pytest.mark.parametrize(
    ("tool", "setting"),
    [
        ("generate", "temperature: 1.0"),
        ("translate", "beam_size: null"),
        ("predict", "split: test"),
        ("export", "format: torch_export"),
        ("report", "dir: ???"),
    ],
)
def test_a_tools_help_lists_its_own_settings_and_not_trainings_groups(tool, setting, tmp_path):
    result = run_main(f"rnnlab.{tool}", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"python -m rnnlab.{tool}: give any setting")
    assert "ckpt_path: ???" in result.stdout or tool == "report"
    assert setting in result.stdout.splitlines()
    assert "callbacks:" not in result.stdout and "Configuration groups" not in result.stdout


def test_trainings_help_lists_its_groups(tmp_path):
    result = run_main("rnnlab.train", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "model: cnn_avg, cnn_gru" in result.stdout
