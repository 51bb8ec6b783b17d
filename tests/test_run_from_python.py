"""``rnnlab.train.run`` from a user's Python: inside the user's own Hydra context, with a
user's mistake as a ConfigError, and the process's random state left as it was."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from rnnlab.cli import CONFIG_DIR
from rnnlab.train import run
from rnnlab.utils.errors import ConfigError
from tests.conftest import TINY

SMALL = [*TINY, "data.length=2000", "logger=none", "test=false"]
DDP = [a for a in SMALL if a != "trainer=cpu"] + ["trainer=ddp_sim"]  # two processes over gloo


def test_a_run_inside_the_callers_own_hydra_context_keeps_that_context(tmp_path):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        mine = GlobalHydra.instance().hydra
        metrics, _ = run([*SMALL, "model=gru", f"hydra.run.dir={tmp_path / 'run'}"])
        assert GlobalHydra.instance().hydra is mine  # the caller's, put back
        assert compose("train", overrides=["model=rnn"]).model.cell == "rnn"
    assert "val/loss_best" in metrics
    assert not GlobalHydra.instance().is_initialized()


def test_a_required_value_left_out_is_a_config_error(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("y\n" + "\n".join(str(i % 7) for i in range(200)))
    with pytest.raises(ConfigError, match=r"^data\.target is required; give it among the"):
        run(["data=csv", f"data.path={path}", f"hydra.run.dir={tmp_path / 'run'}"])
    assert not (tmp_path / "run").exists()


def test_a_run_puts_back_the_random_generators_and_the_seed_variables(tmp_path):
    for name in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):
        os.environ.pop(name, None)
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = random.random(), np.random.rand(), torch.rand(1).item()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    run([*SMALL, "seed=7", f"hydra.run.dir={tmp_path / 'run'}"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    assert "PL_GLOBAL_SEED" not in os.environ and "PL_SEED_WORKERS" not in os.environ


def test_a_ddp_run_started_from_a_script_leaves_one_run_directory(tmp_path):
    # Lightning starts the second process by running the caller's script again; its run()
    # composes a run name of its own, and must not make a folder of that name.
    script = tmp_path / "train_ddp.py"
    script.write_text(f"from rnnlab.train import run\nrun({DDP!r})\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list((tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "checkpoints" / "last.ckpt").is_file()


def test_train_on_a_config_composed_outside_a_hydra_run_says_what_it_needs():
    from rnnlab.train import train

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["trainer.max_epochs=1"])
    with pytest.raises(ConfigError, match=r"^paths\.output_dir comes from Hydra's run directory"):
        train(cfg)
