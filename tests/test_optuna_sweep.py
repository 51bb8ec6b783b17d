"""Optuna sweeps as a user runs them: real studies in a real SQLite file, real launchers.

Each sweep is the ``sine_lstm`` search on a tiny series, so that a trial takes a second or two.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from optuna.trial import TrialState  # noqa: E402

from rnnlab.report import report  # noqa: E402
from tests.test_cli import FAST  # noqa: E402

SEARCH = [
    "-m",
    "hparams_search=sine_lstm",
    *FAST,
    "trainer.max_epochs=3",
    "model.num_layers=1",
    "hydra.sweeper.pruner.n_warmup_steps=1",  # a trial may be pruned from its second epoch
    "~callbacks.forecast_figure",  # drawn at every validation, and read by no test here
]
STUDY = "sine_lstm"
TRIAL_FILE = "optuna_trial.json"


def storage(root: Path) -> str:
    return f"sqlite:///{root}/study.db"


def sweep_command(root: Path, name: str, *args: str) -> list[str]:
    """``python -m rnnlab.train -m hparams_search=sine_lstm ...`` into ``root/name``."""
    return [
        sys.executable,
        "-m",
        "rnnlab.train",
        *SEARCH,
        f"hydra.sweeper.storage={storage(root)}",
        f"hydra.sweep.dir={root / name}",
        *args,
    ]


def sweep(root: Path, name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("HYDRA_FULL_ERROR", None)
    command = sweep_command(root, name, *args)
    return subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )


def trials(root: Path, study: str = STUDY) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=storage(root)).trials


def enqueue(*lrs: float) -> str:
    """Trials to run first, in order, with these learning rates."""
    return "hydra.sweeper.enqueue=[" + ",".join(f"{{optimizer.lr:{lr}}}" for lr in lrs) + "]"


def test_a_stopped_study_resumes_and_the_same_command_continues_it(tmp_path):
    # A sweep stopped (SIGKILL) in the middle of its first trial leaves that trial running.
    command = sweep_command(tmp_path, "first", "hydra.sweeper.n_trials=3", "trainer.max_epochs=500")
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "first" / "0" / "tensorboard").is_dir():
            assert process.poll() is None and time.monotonic() < deadline, "the trial never started"
            time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    (stopped,) = trials(tmp_path)
    assert stopped.state == TrialState.RUNNING

    # The same command runs that trial again with its parameters, then the rest.
    result = sweep(tmp_path, "second", "hydra.sweeper.n_trials=3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Optuna study '{STUDY}' in {storage(tmp_path)}" in result.stdout
    assert "trial 0 was left running by a stopped sweep; rerunning" in result.stdout
    study = trials(tmp_path)
    assert [t.state for t in study] == [TrialState.COMPLETE] * 3
    assert study[0].params == stopped.params
    assert study[0].user_attrs["job_dir"] == str(tmp_path / "second" / "0")

    # Again, asking for more: only the missing trial runs, in the same study.
    result = sweep(tmp_path, "third", "hydra.sweeper.n_trials=4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3 finished trials (3 complete, 0 pruned, 0 failed)" in result.stdout
    assert "running 1 of n_trials=4" in result.stdout
    assert optuna.get_all_study_names(storage(tmp_path)) == [STUDY]
    study = trials(tmp_path)
    assert len(study) == 4 and sorted(
        p.name for p in (tmp_path / "third").iterdir() if p.is_dir()
    ) == ["0"]
    # A new session's sampler is seeded past the old trials, not back at their start.
    assert len({t.params["optimizer.lr"] for t in study}) == 4
    rows = (tmp_path / "third" / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("number,state,value,") and len(rows) == 5


@pytest.fixture(scope="module")
def parallel_sweep(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """Four trials of six epochs, two at a time through joblib; the last learns so slowly that
    the median pruner stops it early."""
    root = tmp_path_factory.mktemp("parallel")
    result = sweep(
        root,
        "sweep",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "trainer.max_epochs=6",
        enqueue(0.02, 0.01, 0.015, 1e-4),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return root, result


def test_trials_run_two_at_a_time_through_joblib(parallel_sweep):
    root, result = parallel_sweep
    assert "running 4 of n_trials=4, 2 at a time" in result.stdout
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    first, second = trials(root)[:2]
    assert second.datetime_start < first.datetime_complete  # they overlapped


def test_each_trial_through_joblib_keeps_its_log_file(parallel_sweep):
    # Each job pickled into a worker still opens its log file, as under the basic launcher.
    root, _ = parallel_sweep
    jobs = {path.parent for path in root.rglob(".hydra/config.yaml")}
    assert len(jobs) == 4
    assert {path.parent for path in root.rglob("train.log")} == {job.parent for job in jobs}


def test_each_completed_trial_prints_one_status_line(parallel_sweep):
    root, result = parallel_sweep
    study = trials(root)
    lines = [line for line in result.stderr.splitlines() if " complete: " in line]
    complete = [t for t in study if t.state == TrialState.COMPLETE]
    assert len(lines) == len(complete) >= 2
    best = None
    for line, trial in zip(lines, complete, strict=True):  # told in trial order within a batch
        if best is None or trial.value < best.value:
            best = trial
        assert line.startswith(f"[rnnlab] trial {trial.number} complete: val/loss_best=")
        assert f"={trial.value:.4g}; best {best.value:.4g} (trial {best.number}); " in line
        assert line.endswith(" of n_trials=4 finished")


def test_a_slow_trial_is_pruned_and_shows_as_pruned(parallel_sweep):
    root, result = parallel_sweep
    study = trials(root)
    slow = study[3]
    assert slow.params["optimizer.lr"] == 1e-4 and slow.state == TrialState.PRUNED
    last = max(slow.intermediate_values)  # reported after each epoch, until it was stopped
    assert sorted(slow.intermediate_values) == list(range(last + 1)) and 1 <= last < 5
    assert f"[rnnlab] trial 3 pruned after epoch {last}: val/loss=" in result.stderr
    pruned = sum(t.state == TrialState.PRUNED for t in study)
    assert f"4 trials ({4 - pruned} complete, {pruned} pruned)" in result.stdout

    job = Path(slow.user_attrs["job_dir"])
    assert not (job / "metrics.json").exists()
    record = json.loads((job / TRIAL_FILE).read_text())
    assert record["state"] == "pruned" and record["number"] == 3
    assert record["params"]["optimizer.lr"] == 1e-4

    rows = report(root / "sweep")  # ranked by the study's objective, read from study.yaml
    status = {row["run"]: row["status"] for row in rows}
    assert status["3"] == "pruned" and status["0"] == "ok"
    best_trial = min((t for t in study if t.value is not None and t.state.name == "COMPLETE"),
                     key=lambda t: t.value)  # fmt: skip
    assert [row["run"] for row in rows if row["best"]] == [str(best_trial.number)]
    best = json.loads((root / "sweep" / "0" / TRIAL_FILE).read_text())
    assert best["state"] == "complete" and best["value"] == study[0].value


def test_failed_trials_are_recorded_and_the_study_goes_on(tmp_path):
    # Through submitit's local executor: each trial a separate job, its outcome sent back.
    result = sweep(
        tmp_path,
        "sweep",
        "hydra/launcher=submitit_local",
        "hydra.sweeper.n_jobs=3",  # the three trials at once
        "data.window=choice(20,0)",  # window 0 is refused by the data module
        "optimizer.lr=choice(0.01,1e30)",  # 1e30 sends the loss to inf
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.enqueue=[{data.window:0},{data.window:20,optimizer.lr:1e30},"
        "{data.window:20,optimizer.lr:0.01}]",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = trials(tmp_path)
    assert [t.state for t in study] == [TrialState.FAIL, TrialState.FAIL, TrialState.COMPLETE]
    assert study[0].user_attrs["reason"] == "data.window=0 must be at least 1."
    assert study[1].user_attrs["reason"].startswith("training stopped at step ")  # diverged
    assert "3 trials (1 complete, 2 failed)" in result.stdout
    assert "best: trial 2, val/loss_best = " in result.stdout
    assert "best parameters: " in result.stdout and "optimizer.lr=0.01" in result.stdout
    summary = (tmp_path / "sweep" / "study.yaml").read_text()
    assert "failed: 2" in summary and "number: 2" in summary
    assert list((tmp_path / "sweep" / ".submitit").iterdir())  # submitit's own job folders


def test_a_batch_the_launcher_gives_up_on_fails_its_trials_and_the_sweep_goes_on(tmp_path):
    # joblib abandons a batch that outlasts its timeout: no job of it reports back.
    args = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.launcher.timeout=0.5"]
    result = sweep(tmp_path, "sweep", *args, "hydra.sweeper.n_trials=4")
    assert result.returncode == 1
    study = trials(tmp_path)
    assert [t.state for t in study] == [TrialState.FAIL] * 4  # the second batch still ran
    reason = study[0].user_attrs["reason"]
    assert reason.startswith("TimeoutError") and all(
        t.user_attrs["reason"] == reason for t in study
    )
    # A sweep whose every trial failed says so last, and exits 1.
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"error: all 4 trials of this sweep failed; the first: {reason}"


def test_ddp_sim_trials_write_each_metrics_json_once_and_prune_together(tmp_path):
    result = sweep(
        tmp_path,
        "sweep",
        "trainer=ddp_sim",
        "verbose=true",  # Lightning's note of each rank joining
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.pruner.n_startup_trials=1",
        enqueue(0.02, 1e-4),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    study = trials(tmp_path)
    assert [t.state for t in study] == [TrialState.COMPLETE, TrialState.PRUNED]
    # One sweep: no rank started a sweep of its own, and every job had its second rank.
    assert result.stdout.count("Optuna study 'sine_lstm' in") == 1
    assert (result.stdout + result.stderr).count("GLOBAL_RANK: 1, MEMBER: 2/2") == 2
    jobs = [tmp_path / "sweep" / str(n) for n in range(2)]
    assert all((job / "train_ddp_process_1.log").is_file() for job in jobs)
    # Rank zero alone wrote results: one metrics.json and one printed table, for the complete
    # trial; the pruned one stopped on both ranks (else this run would hang).
    assert sorted(tmp_path.rglob("metrics.json")) == [jobs[0] / "metrics.json"]
    assert result.stdout.count("test metrics") == 1
    assert not (tmp_path / "logs").exists()  # no rank wrote outside its job


def test_two_workers_share_one_study_and_neither_waits_for_the_other(tmp_path):
    """Two sweeps of one study through Optuna's journal file, started together: a fast worker
    (one epoch a trial) and a slow one (forty). Each takes the study's next trial as soon as its
    own ends, so the fast one runs trial after trial while the slow one is still on its first."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    store = f"journal:{tmp_path / 'study.journal'}"
    common = [
        *SEARCH,
        f"hydra.sweeper.storage={store}",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.pruner.n_warmup_steps=10",  # no trial is pruned: the timeline is plain
    ]
    workers = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rnnlab.train",
                *common,
                f"trainer.max_epochs={epochs}",
                f"hydra.sweep.dir={tmp_path / name}",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name, epochs in (("fast", 1), ("slow", 40))
    }
    for name, worker in workers.items():
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, f"{name}: {err[-3000:]}"
    from rnnlab.sweeps.trial import open_storage

    study = optuna.load_study(study_name=STUDY, storage=open_storage(store)).trials
    assert all(t.state == TrialState.COMPLETE for t in study)
    assert 6 <= len(study) <= 7  # two workers may both take the last trial, as Optuna's own do
    pid = {name: worker.pid for name, worker in workers.items()}
    by = {name: [t for t in study if t.user_attrs["sweeper_pid"] == pid[name]] for name in pid}
    assert by["fast"] and by["slow"] and len(by["fast"]) + len(by["slow"]) == len(study)
    slow = by["slow"][0]
    inside = [
        t
        for t in by["fast"]
        if slow.datetime_start < t.datetime_start and t.datetime_complete < slow.datetime_complete
    ]
    assert len(inside) >= 2, [(t.number, t.datetime_start, t.datetime_complete) for t in study]
