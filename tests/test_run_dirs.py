"""Run directories: runs started at the same moment never share one, and a refused run writes
nothing."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from rnnlab.cli import run_name
from rnnlab.train import run
from rnnlab.utils.errors import ConfigError
from tests.conftest import TINY, run_cli, run_main, start_cli, tree_digest

# One stamp for every run: as if all were started in the same second.
STAMP = "2026-01-01_00-00-00"


def finish(process: subprocess.Popen) -> None:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]


def test_run_name_tells_processes_and_repeated_runs_apart():
    first, second = run_name("stamp"), run_name("stamp")
    host_pid = first.removeprefix("stamp_")
    assert host_pid.endswith(f"-{os.getpid()}") and host_pid.replace("-", "").isalnum()
    assert second == f"{first}-2"


def test_four_runs_started_in_the_same_second_get_four_complete_run_directories(tmp_path):
    run_dir = f"hydra.run.dir=logs/train/runs/${{run_name:{STAMP}}}"
    processes = [
        start_cli("rnnlab.train", *TINY, "data.length=2000", run_dir, cwd=tmp_path)
        for _ in range(4)
    ]
    for process in processes:
        finish(process)
    runs = sorted((tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 4
    assert all(r.name.startswith(f"{STAMP}_") for r in runs)
    pids = {str(p.pid) for p in processes}
    assert {r.name.rsplit("-", 1)[1] for r in runs} == pids
    for r in runs:
        metrics = json.loads((r / "metrics.json").read_text())
        assert "test/mse" in metrics
        assert (r / "checkpoints" / "last.ckpt").is_file()
        assert (r / ".hydra" / "config.yaml").is_file() and (r / "train.log").is_file()
        assert len(list((r / "tensorboard").glob("events.out.tfevents.*"))) >= 1


def test_two_sweeps_started_in_the_same_second_keep_apart(tmp_path):
    sweep_dir = f"hydra.sweep.dir=logs/train/multiruns/${{run_name:{STAMP}}}"
    sweeps = [
        start_cli(
            "rnnlab.train",
            "-m",
            *TINY,
            "data.length=2000",
            "model=rnn,gru",
            sweep_dir,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    for sweep in sweeps:
        finish(sweep)
    roots = sorted((tmp_path / "logs" / "train" / "multiruns").iterdir())
    assert len(roots) == 2
    for root in roots:
        jobs = [root / str(n) for n in range(2)]
        assert all((job / "metrics.json").is_file() for job in jobs)
        models = {
            (job / ".hydra" / "overrides.yaml").read_text().count("model=gru") for job in jobs
        }
        assert models == {0, 1}  # each sweep's own two jobs, one per model


def test_runs_of_one_process_in_the_same_second_get_their_own_directories(tmp_path):
    run_dir = f"hydra.run.dir={tmp_path}/runs/${{run_name:{STAMP}}}"
    for _ in range(2):
        run([*TINY, "data.length=2000", run_dir])
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(names) == 2 and names[1] == f"{names[0]}-2"


def test_a_run_that_disables_job_logging_writes_no_log_file(tmp_path):
    """rnnlab's own job logging (the default) writes train.log (the tests above); a run that
    disables Hydra's job logging gets none. Its own process: ``disabled`` silences every logger
    made before it."""
    args = [*TINY, "data.length=2000", "hydra/job_logging=disabled", "hydra.run.dir=run"]
    result = run_cli("rnnlab.train", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / "metrics.json").is_file()
    assert not (tmp_path / "run" / "train.log").exists()


def test_a_refused_run_writes_nothing(tmp_path):
    result = run_cli("rnnlab.train", *TINY, "data.window=0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: data.window=0 must be at least 1."
    assert list(tmp_path.iterdir()) == []  # not even an empty logs/


def test_a_refused_run_leaves_an_existing_run_directory_as_it_was(tmp_path):
    existing = tmp_path / "run"
    run([*TINY, "data.length=2000", f"hydra.run.dir={existing}"])
    before = {p: p.read_bytes() for p in existing.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match="data.window=0"):
        run([*TINY, "data.window=0", f"hydra.run.dir={existing}"])
    after = {p: p.read_bytes() for p in existing.rglob("*") if p.is_file()}
    assert after == before


def test_a_new_run_in_the_directory_of_an_earlier_one_is_refused_and_changes_nothing(tmp_path):
    existing = tmp_path / "run"
    run([*TINY, "data.length=2000", f"hydra.run.dir={existing}"])
    before = tree_digest(existing)
    with pytest.raises(ConfigError) as caught:
        run([*TINY, "data.length=2000", "model=gru", f"hydra.run.dir={existing}"])
    assert str(caught.value) == (
        f"the run directory {existing} already holds a run (.hydra/config.yaml, checkpoints, "
        "metrics.json), which a new run would overwrite; give another hydra.run.dir, or "
        "resume=true to continue that run."
    )
    assert tree_digest(existing) == before


def test_a_run_directory_that_cannot_be_made_is_one_sentence(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"^the run directory .*file/run cannot be made \("):
        run([*TINY, "data.length=2000", f"hydra.run.dir={blocker / 'run'}"])
    assert blocker.read_text() == "not a folder"


def test_a_refused_run_keeps_an_empty_folder_the_user_named(tmp_path):
    named = tmp_path / "mine"
    named.mkdir()
    result = run_main(
        "rnnlab.train", *TINY, "data.window=0", f"hydra.run.dir={named}", cwd=tmp_path
    )
    assert result.returncode == 2
    assert named.is_dir() and not any(named.iterdir())


# A failing job of a sweep fails alone: Hydra runs the others, then reports the first failure.


@pytest.mark.parametrize(
    ("sweep", "says"),
    [
        (["model.hidden_size=0,8"], "model.hidden_size=0 must be a whole number of at least 1."),
        (
            ["optimizer.lr=1e30,0.01", "trainer.gradient_clip_val=null"],
            "training stopped at step ",
        ),
    ],
    ids=["refused-setting", "diverged-run"],
)
def test_a_failing_job_of_a_sweep_fails_alone_and_the_sweep_goes_on(tmp_path, sweep, says):
    result = run_main(
        "rnnlab.train", "-m", *TINY, "data.length=2000", *sweep,
        f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1  # Hydra's status for a sweep with a failed job
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert lines[0].startswith(f"error: {says}"), result.stderr[-3000:]  # as the job ended
    assert lines[-1].startswith("error: job 0 of the sweep (")  # Hydra's report, at the end
    assert f"failed: {says}" in lines[-1]
    assert (tmp_path / "sweep" / "1" / "metrics.json").is_file()  # the next job ran
    failed = tmp_path / "sweep" / "0"
    assert not (failed / "metrics.json").exists()
    if sweep[0].startswith("model."):  # refused before it wrote anything: no folder
        assert not failed.exists()
