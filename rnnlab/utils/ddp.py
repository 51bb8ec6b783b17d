"""DDP inside a Hydra multirun: each job starts its other processes from its own saved config.

Lightning starts the processes of a DDP run (``strategy=ddp`` with its default ``popen`` start)
by running the user's command line again with ``hydra.run.dir`` set. In a multirun that command
line still holds ``-m`` and the sweep, so every extra process starts a whole sweep of its own: an
Optuna sweep would ask the study for trials of its own, and a job whose settings differ from its
neighbour's joins the wrong process group. Lightning also leaves ``LOCAL_RANK``, ``WORLD_SIZE``
and the rendezvous address in ``os.environ``, so the next job of the sweep, run in the same
process, believes its processes were started for it and waits for ones that never come
(Lightning-AI/pytorch-lightning#11300, still open as #18175).

:func:`ddp_job` fixes both for the duration of one job: the other ranks run
``python -m <entry> -cp <job>/.hydra -cn config`` (the job's own resolved settings, in the job's
directory), and the environment and process group are put back when the job ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch.distributed as dist

from rnnlab.utils.errors import check

# Set by Lightning's process launcher for the processes it starts; a job must not inherit them.
_LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextlib.contextmanager
def ddp_job(entry: str) -> Iterator[None]:
    """Run one job of a Hydra multirun so that a DDP trainer inside it starts its other ranks as
    ``python -m <entry>`` on the job's saved config; outside a multirun, do nothing."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        yield
        return
    from lightning.pytorch.strategies.launchers import subprocess_script

    saved_env = {key: os.environ.get(key) for key in _LAUNCH_ENV}
    original = subprocess_script._hydra_subprocess_cmd
    subprocess_script._hydra_subprocess_cmd = lambda local_rank: job_rank_command(entry, local_rank)
    try:
        yield
    finally:
        subprocess_script._hydra_subprocess_cmd = original
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def job_rank_command(entry: str, local_rank: int) -> tuple[Sequence[str], str]:
    """The command line and working directory for rank ``local_rank`` of the current job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd

    from rnnlab.cli import RUN_CONFIG_DIR

    hydra_cfg = HydraConfig.get()
    job_dir = Path(hydra_cfg.runtime.output_dir)
    check(
        (job_dir / RUN_CONFIG_DIR / "config.yaml").is_file(),
        f"DDP inside a multirun starts its other processes from the job's saved config, and "
        f"{job_dir / RUN_CONFIG_DIR / 'config.yaml'} is missing.",
    )
    command = [
        sys.executable,
        "-m",
        entry,
        "--config-path",
        str(job_dir / RUN_CONFIG_DIR),
        "--config-name",
        "config",
        f'hydra.run.dir="{job_dir}"',
        f"hydra.job.name=train_ddp_process_{local_rank}",
        "hydra.output_subdir=null",  # one copy of the job's config, written by rank 0
    ]
    return command, get_original_cwd()
