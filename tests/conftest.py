"""Shared fixtures: configs composed exactly as the command line would, sized for a CPU test."""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from rnnlab.cli import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]

# Small enough for seconds per run, large enough that every split has a few batches.
TINY = [
    "data.length=3000",
    "data.batch_size=64",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=5",
    "trainer.log_every_n_steps=1",
    "callbacks.rich_progress_bar.refresh_rate=0",
]


@functools.cache
def cpu_runs_bf16_lstm() -> bool:
    """Whether this CPU's PyTorch build runs an LSTM under bf16 autocast: some builds' oneDNN
    has no bf16 LSTM kernel for some CPUs ("could not create a primitive descriptor")."""
    lstm = torch.nn.LSTM(2, 4, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.randn(1, 3, 2))
    except RuntimeError:
        return False
    return True


# For the CPU tests of bf16 mixed precision; on a GPU, tests/test_gpu.py covers it.
needs_cpu_bf16_lstm = pytest.mark.skipif(
    not cpu_runs_bf16_lstm(), reason="this CPU's PyTorch build has no bf16 LSTM kernel"
)


def compose_config(name: str, overrides: Sequence[str], output_dir: Path) -> DictConfig:
    """Compose ``conf/<name>.yaml`` with ``overrides``, writing into ``output_dir``."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=list(overrides))
    if "paths" in cfg:  # `generate` writes nothing
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
    return cfg


@pytest.fixture
def train_config(tmp_path: Path) -> Callable[..., DictConfig]:
    """``train_config(*overrides)``: a tiny training config whose run directory is ``tmp_path``."""

    def make(*overrides: str, output_dir: Path = tmp_path) -> DictConfig:
        return compose_config("train", [*TINY, *overrides], output_dir)

    return make


def _cli_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def run_cli(
    module: str, *args: str, cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m <module> <args>`` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=_cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(module: str, *args: str, cwd: Path) -> subprocess.Popen:
    """Start ``python -m <module> <args>`` as :func:`run_cli` runs it, without waiting; its
    output is piped."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=_cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_main(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -m <module> <args>`` inside this process: its ``main()`` with ``args`` on the
    command line, from ``cwd``, with warnings ignored as ``run_cli`` does; the exit status,
    stdout and stderr as ``run_cli`` returns them.

    For the many checks that bad input ends in one line: a new process would spend about four
    seconds importing Lightning first. ``run_cli`` keeps a real process for everything else.
    """
    main = importlib.import_module(module).main
    out, err = io.StringIO(), io.StringIO()
    argv, here, handlers = sys.argv, Path.cwd(), logging.root.handlers[:]
    hydra_config = HydraConfig.instance().cfg  # a multirun leaves its last job's set
    hydra_full_error = os.environ.pop("HYDRA_FULL_ERROR", None)
    sys.argv, status = [module, *args], 0
    os.chdir(cwd)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out):
            warnings.simplefilter("ignore")
            with contextlib.redirect_stderr(err):
                main()
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
    finally:
        sys.argv = argv
        os.chdir(here)
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = hydra_config
        logging.root.handlers[:] = handlers  # Hydra configures logging for its job
        if hydra_full_error is not None:
            os.environ["HYDRA_FULL_ERROR"] = hydra_full_error
    return subprocess.CompletedProcess([module, *args], status, out.getvalue(), err.getvalue())


def tree_digest(path: Path) -> str:
    """A SHA-256 of everything under ``path``: each file's and folder's relative name, and each
    file's bytes, in sorted order; equal digests before and after mean nothing there changed."""
    import hashlib

    digest = hashlib.sha256()
    for item in sorted(path.rglob("*")):
        digest.update(str(item.relative_to(path)).encode() + b"\0")
        if item.is_file():
            digest.update(item.read_bytes() + b"\0")
    return digest.hexdigest()
