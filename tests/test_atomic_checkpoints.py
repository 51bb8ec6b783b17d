"""A training process killed again and again while it writes checkpoints leaves a ``last.ckpt``
that always loads."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.plugins.io import AsyncCheckpointIO
from omegaconf import DictConfig, OmegaConf

from rnnlab.build import build_trainer
from rnnlab.utils.atomic import PARTIAL_GLOB
from rnnlab.utils.checkpoint_io import AtomicCheckpointIO
from tests.conftest import ROOT


def trainer_node(**settings) -> DictConfig:
    return OmegaConf.create({"_target_": "lightning.pytorch.Trainer", "logger": False, **settings})


def test_every_trainer_writes_checkpoints_atomically_unless_told_otherwise():
    module = L.LightningModule()
    built = build_trainer(trainer_node(), module, enable_progress_bar=False)
    assert type(built.strategy.checkpoint_io) is AtomicCheckpointIO
    environment = {"_target_": "lightning.pytorch.plugins.environments.LightningEnvironment"}
    built = build_trainer(trainer_node(plugins=environment), module, enable_progress_bar=False)
    assert type(built.strategy.checkpoint_io) is AtomicCheckpointIO  # beside other plugins
    own = {"_target_": "lightning.pytorch.plugins.io.AsyncCheckpointIO"}
    built = build_trainer(trainer_node(plugins=[own]), module, enable_progress_bar=False)
    assert type(built.strategy.checkpoint_io) is AsyncCheckpointIO  # the user's choice stands


def test_a_checkpoint_is_saved_whole_and_refuses_storage_options_as_lightning_does(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "new" / "folder" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 7}, path)
    loaded = io.load_checkpoint(path, weights_only=True)
    assert loaded["global_step"] == 7 and torch.equal(loaded["state_dict"]["w"], torch.ones(3))
    with pytest.raises(TypeError, match="storage_options"):
        io.save_checkpoint({}, path, storage_options={"x": 1})
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


# Builds a real run's datamodule, task and trainer once (imports take seconds), then for each
# line on stdin forks a child that fits, resuming from last.ckpt, until the test kills it.
SERVER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import torch
    torch.set_num_threads(1)  # no thread pool for the forked children to inherit
    from rnnlab.build import build_callbacks, build_system, build_trainer
    from tests.conftest import compose_config

    cfg = compose_config("train", sys.argv[2:], Path(sys.argv[1]))
    datamodule, net, task = build_system(cfg)
    callbacks = build_callbacks(cfg.callbacks, task)
    trainer = build_trainer(cfg.trainer, task, callbacks=callbacks, logger=False)
    if os.environ.get("LIGHTNING_WRITER"):  # the control: Lightning's own checkpoint writer
        from lightning.pytorch.plugins.io import TorchCheckpointIO
        trainer.strategy.checkpoint_io = TorchCheckpointIO()
    last = Path(trainer.checkpoint_callback.dirpath) / "last.ckpt"
    print("@writer", type(trainer.strategy.checkpoint_io).__name__, flush=True)
    for _ in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                resume = last if last.exists() else None
                trainer.fit(task, datamodule=datamodule, ckpt_path=resume)
            finally:
                os._exit(1)  # killed before it ends: reaching here is a failure
        print("@pid", pid, flush=True)
        os.waitpid(pid, 0)
        print("@reaped", flush=True)
    """
)

# A checkpoint of some 10 MB, every training step: most of the time goes into writing it.
RUN = [
    "model=lstm",
    "model.hidden_size=256",
    "model.num_layers=2",
    "data=sine",
    "data.length=3000",
    "data.batch_size=8",
    "trainer=cpu",
    "trainer.max_epochs=100000",
    "trainer.limit_train_batches=20",
    "trainer.limit_val_batches=2",
    "trainer.num_sanity_val_steps=0",
    "+trainer.enable_progress_bar=false",
    "callbacks=step_checkpoint",
    "callbacks.step_checkpoint.every_n_train_steps=1",
    "logger=none",
]


def expect(server: subprocess.Popen, mark: str) -> str:
    """The rest of the next line of ``server``'s output that starts with ``mark``."""
    for line in server.stdout:
        if line.startswith(mark):
            return line[len(mark) :].strip()
    raise AssertionError(f"the training process ended before it said {mark}; see its stderr")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_while_checkpointing(
    run_dir: Path, kills: int, staging: Path | None = None, env: dict[str, str] | None = None
) -> tuple[str, list[str], list[str]]:
    """Start a training process up to ``kills`` times, each resuming from ``last.ckpt``, and
    SIGKILL it after its first new checkpoint: every other time at a random moment, otherwise
    as soon as a checkpoint is being written (a temporary exists in ``staging``, by default
    the checkpoint folder). After each kill, load every checkpoint left; stop at the first
    that fails. Returns the name of the run's checkpoint writer, what failed to load, and the
    stray temporaries left in the checkpoint folder (by kills in the middle of a write)."""
    rng = np.random.default_rng(0)
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(run_dir), *RUN],
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    folder = run_dir / "checkpoints"
    last = folder / "last.ckpt"

    def temporaries() -> set[Path]:
        return set(staging.iterdir()) if staging else set(folder.glob(PARTIAL_GLOB))

    failures, pid = [], None
    try:
        writer = expect(server, "@writer")  # once everything is built
        for kill in range(1, kills + 1):
            before = last.stat().st_mtime_ns if last.exists() else None
            earlier = temporaries()  # left by earlier kills
            server.stdin.write("fit\n")
            server.stdin.flush()
            pid = int(expect(server, "@pid"))
            deadline = time.monotonic() + 120
            while (last.stat().st_mtime_ns if last.exists() else None) == before:
                assert time.monotonic() < deadline, "the run wrote no checkpoint in 2 minutes"
                assert alive(pid), "the run ended by itself; see its stderr"
                time.sleep(0.005)
            if kill % 2:
                time.sleep(rng.uniform(0.0, 0.2))  # some steps on, at any point of a step
            else:
                while temporaries() <= earlier:
                    assert time.monotonic() < deadline, "the run wrote no second checkpoint"
                    time.sleep(0.001)
            os.kill(pid, signal.SIGKILL)
            expect(server, "@reaped")
            for path in sorted(folder.glob("*.ckpt")):
                try:
                    checkpoint = torch.load(path, weights_only=True)
                    assert checkpoint["state_dict"] and checkpoint["global_step"] > 0
                except Exception as error:  # any failure to load is the finding
                    failures.append(f"kill {kill}, {path.name}: {type(error).__name__}: {error}")
            if failures:
                break  # the next run could not resume
    finally:
        if pid is not None and alive(pid):  # a failed check leaves its training child running
            os.kill(pid, signal.SIGKILL)
        server.stdin.close()
        server.kill()
        server.wait()
    strays = [p.name for p in folder.glob(PARTIAL_GLOB)]
    return writer, failures, strays


needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork and SIGKILL")


@needs_fork
def test_last_ckpt_of_a_run_killed_while_checkpointing_always_loads(tmp_path):
    writer, failures, strays = kill_while_checkpointing(tmp_path / "run", kills=10)
    assert writer == "AtomicCheckpointIO" and failures == []
    # Kills that left a temporary landed in the middle of a checkpoint write: without them the
    # test would show nothing.
    assert strays, "no kill landed in the middle of a checkpoint write"


@needs_fork
@pytest.mark.slow
def test_lightnings_own_writer_leaves_torn_checkpoints_across_file_systems(tmp_path):
    """The control: Lightning's writer stages a checkpoint in $TMPDIR and moves it; where that
    is another file system, the move is a copy straight into last.ckpt, and a kill tears it."""
    staging = Path("/dev/shm")
    if not staging.is_dir() or staging.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's folder")
    stage = staging / f"rnnlab-test-{os.getpid()}"
    stage.mkdir()
    try:
        writer, failures, _ = kill_while_checkpointing(
            tmp_path / "run", 12, stage, {"TMPDIR": str(stage), "LIGHTNING_WRITER": "1"}
        )
    finally:
        for path in stage.iterdir():
            path.unlink()
        stage.rmdir()
    assert writer == "TorchCheckpointIO"
    assert failures, "no torn checkpoint: the kills missed every copy"
