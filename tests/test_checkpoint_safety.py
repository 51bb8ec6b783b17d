"""Checkpoints are read as weights only: a pickled payload in a checkpoint is never run, by any
entry point that takes ``ckpt_path=`` (resuming training, eval, predict, translate, generate).

The payload here creates a marker file when unpickled; the test first shows that an unsafe
load does run it, then that every entry point refuses the file in one sentence without it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from rnnlab import cli
from rnnlab.eval import evaluate
from rnnlab.generate import generate
from rnnlab.predict import predict
from rnnlab.train import run
from rnnlab.translate import translate
from rnnlab.utils.errors import ConfigError
from tests.conftest import run_main, tree_digest

QUICK = [
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "callbacks.rich_progress_bar.refresh_rate=0",
    "data.length=2000",
    "data.batch_size=16",
]


class Payload:
    """Unpickled unsafely, it creates the file ``marker``: a stand-in for any code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A tiny run; a checkpoint like its own with a payload beside the weights; and a copy of
    the run whose ``last.ckpt`` is that checkpoint (for ``resume=true``)."""
    root = tmp_path_factory.mktemp("checkpoint_safety")
    good = root / "run"
    run([*QUICK, f"hydra.run.dir={good}"])
    checkpoint = torch.load(good / "checkpoints" / "last.ckpt", weights_only=True)
    bad = root / "payload.ckpt"
    torch.save({**checkpoint, "payload": Payload(root / "marker")}, bad)
    resumed = root / "resumed"
    shutil.copytree(good, resumed)
    shutil.copyfile(bad, resumed / "checkpoints" / "last.ckpt")
    return {"root": root, "run": good, "bad": bad, "resumed": resumed}


def test_the_payload_runs_when_a_checkpoint_is_unpickled_unsafely(runs):
    marker = runs["root"] / "marker"
    torch.load(runs["bad"], weights_only=False)  # what rnnlab never does
    assert marker.exists()
    marker.unlink()


ENTRY_POINTS = {
    "train": lambda r: run([*QUICK, f"ckpt_path={r['bad']}", f"hydra.run.dir={r['run']}"]),
    "train-resume": lambda r: run([*QUICK, "resume=true", f"hydra.run.dir={r['resumed']}"]),
    "eval": lambda r: cli.run_in_python(
        evaluate, "eval", [f"ckpt_path={r['bad']}", "trainer=cpu", f"hydra.run.dir={r['run']}"]
    ),
    "predict": lambda r: cli.run_in_python(predict, "predict", [f"ckpt_path={r['bad']}"]),
    "translate": lambda r: cli.run_in_python(
        translate, "translate", [f"ckpt_path={r['bad']}", "text=hello"]
    ),
    "generate": lambda r: cli.run_in_python(generate, "generate", [f"ckpt_path={r['bad']}"]),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_refuses_a_pickled_payload_without_running_it(entry, runs):
    before = tree_digest(runs["root"])
    with pytest.raises(ConfigError) as caught:
        ENTRY_POINTS[entry](runs)
    sentence = str(caught.value)
    assert "holds a pickled io.open, not only weights" in sentence and "\n" not in sentence
    assert sentence.startswith("ckpt_path=")
    assert not (runs["root"] / "marker").exists()
    assert tree_digest(runs["root"]) == before


def test_the_command_line_refuses_it_in_one_line(runs):
    result = run_main("rnnlab.generate", f"ckpt_path={runs['bad']}", cwd=runs["root"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: ckpt_path={runs['bad']} holds a pickled"
    )
    assert not (runs["root"] / "marker").exists()
