"""Reading checkpoints, for every entry point that takes ``ckpt_path=`` (glue beside
:mod:`rnnlab.build`: it knows the data specs, which ``rnnlab.utils`` does not).

A checkpoint is read as weights only (``torch.load(weights_only=True)``): tensors, numbers,
strings, lists and dicts. A file that holds anything else, such as a pickled object whose
unpickling would run code, is refused in one sentence, and nothing in it is run. Every other
way a checkpoint can be wrong is one sentence too, found before a run writes anything: a
missing, empty, truncated or foreign file, one written before rnnlab stored its config in
checkpoints, one of another task, and one whose weights do not fit the net the run builds.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from rnnlab.callbacks.run_config import CHECKPOINT_KEY, SPEC_KEY
from rnnlab.data.specs import Spec, spec_from_dict
from rnnlab.utils.errors import ConfigError, check

# Where a run keeps the checkpoint that `resume=true` and `ckpt_path=last` continue from.
LAST = Path("checkpoints") / "last.ckpt"
# The global that torch's weights-only unpickler refused to import, in its message.
_REFUSED_GLOBAL = re.compile(r"GLOBAL (\S+)")
# Model and data settings named when a checkpoint's weights do not fit this run's net.
_SHOWN = 3


def load_checkpoint(ckpt_path: str | Path, key: str = "ckpt_path") -> dict[str, Any]:
    """The checkpoint ``ckpt_path`` (given as ``key=...``), written by ``rnnlab.train``, read
    onto the CPU as weights only."""
    path = Path(ckpt_path)
    where = f"{key}={ckpt_path}"
    check(path.exists(), f"{where} does not exist; give the path of a .ckpt file.")
    check(
        path.is_file(),
        f"{where} is a folder; give the path of a .ckpt file (a run's checkpoints/last.ckpt).",
    )
    check(path.stat().st_size > 0, f"{where} is empty; give a .ckpt file written by rnnlab.train.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = _REFUSED_GLOBAL.search(str(error))
        if refused:  # a pickled object: its code is never run
            raise ConfigError(
                f"{where} holds a pickled {refused[1]}, not only weights; rnnlab loads "
                "checkpoints as weights only and never runs code from them, so give a .ckpt "
                "file written by rnnlab.train."
            ) from None
        raise ConfigError(_unreadable(where)) from None
    except Exception:  # noqa: BLE001 - torch fails on a foreign or cut file in many ways
        raise ConfigError(_unreadable(where)) from None
    check(
        isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict),
        f"{where} holds no model weights (state_dict); give a .ckpt file written by rnnlab.train.",
    )
    check(
        CHECKPOINT_KEY in checkpoint,
        f"{where} holds no rnnlab config: it was written by an earlier rnnlab release or not by "
        "rnnlab.train; retrain the model with this release to use it.",
    )
    return checkpoint


def _unreadable(where: str) -> str:
    return (
        f"{where} is not a readable checkpoint (truncated, corrupt or no PyTorch file); give a "
        ".ckpt file written by rnnlab.train."
    )


def load_run(ckpt_path: str | Path) -> tuple[DictConfig, Spec, dict[str, Any]]:
    """The training config and data spec stored in a checkpoint, and the checkpoint; a
    checkpoint of an earlier release, whose spec this one cannot read, is refused in one
    sentence."""
    checkpoint = load_checkpoint(ckpt_path)
    spec = spec_from_dict(checkpoint.get(SPEC_KEY), f"ckpt_path={ckpt_path}")
    return OmegaConf.create(checkpoint[CHECKPOINT_KEY]), spec, checkpoint


def check_weights(task: torch.nn.Module, checkpoint: dict[str, Any], where: str) -> None:
    """Refuse, in one sentence, a checkpoint whose weights do not fit ``task``, the net its own
    config builds (a file edited or put together by hand)."""
    problem = weights_problem(task, checkpoint["state_dict"])
    check(problem is None, f"{where} does not fit the net its config builds: {problem}.")


def load_weights(task: torch.nn.Module, checkpoint: dict[str, Any], where: str) -> None:
    """Load the checkpoint's weights into ``task``, once they are known to fit it."""
    check_weights(task, checkpoint, where)
    task.load_state_dict(checkpoint["state_dict"])


def weights_problem(task: torch.nn.Module, saved: dict[str, Any]) -> str | None:
    """Why the weights ``saved`` (a state dict) do not load into ``task``, in a few words;
    ``None`` when they do."""
    own = task.state_dict()
    missing = [name for name in own if name not in saved]
    if missing:
        return f"it has no {missing[0]}" + (f" (nor {len(missing) - 1} more)" * (len(missing) > 1))
    extra = [name for name in saved if name not in own]
    if extra:
        return f"it has {extra[0]}, which this net has not"
    for name, tensor in own.items():
        value = saved[name]
        shape = tuple(getattr(value, "shape", ()))
        if shape != tuple(tensor.shape):
            return f"{name} is {shape} there and {tuple(tensor.shape)} here"
    return None


def resolve_ckpt_path(cfg: DictConfig) -> tuple[str, dict[str, Any]] | None:
    """The checkpoint a training run resumes from, and its content (a readable rnnlab
    checkpoint); ``None`` for a fresh run.

    ``ckpt_path=last`` and ``resume=true`` mean the run's own ``checkpoints/last.ckpt``, in
    ``cfg.paths.output_dir`` (``hydra.run.dir=<the run>``); any other ``ckpt_path`` is a file.
    """
    ckpt_path, resume = cfg.get("ckpt_path"), cfg.get("resume", False)
    check(isinstance(resume, bool), f"resume={resume} must be true or false.")
    if resume and ckpt_path not in (None, "last"):
        raise ConfigError(
            f"resume=true continues the run's own last checkpoint, and ckpt_path={ckpt_path} "
            "names another; give one of them."
        )
    if resume or ckpt_path == "last":
        asked = "resume=true" if resume else "ckpt_path=last"
        last = Path(str(cfg.paths.output_dir)) / LAST
        check(
            last.is_file(),
            f"{asked} continues the run in hydra.run.dir, and {last} does not exist; give "
            "hydra.run.dir=<the run's directory> (or ckpt_path=<a .ckpt file>).",
        )
        ckpt_path = str(last)
    if ckpt_path is None:
        return None
    return str(ckpt_path), load_checkpoint(ckpt_path)


def check_resume(
    ckpt_path: str,
    checkpoint: dict[str, Any],
    cfg: DictConfig,
    task: torch.nn.Module,
    spec: Spec,
) -> None:
    """Refuse, in one sentence, to resume the run ``cfg`` (whose ``task`` reads data of
    ``spec``) from the checkpoint ``ckpt_path`` (its content ``checkpoint``) of another task
    or data, or whose weights do not fit."""
    where = f"ckpt_path={ckpt_path}"
    saved = checkpoint[CHECKPOINT_KEY]
    trained = OmegaConf.select(OmegaConf.create(saved), "task._target_", default=None)
    here = cfg.task._target_
    if trained != here:
        raise ConfigError(
            f"{where} is a checkpoint of {_name(trained)}, and this run trains {_name(here)}; "
            "resume it with the settings it was trained with, or give a checkpoint of this task."
        )
    saved_spec = spec_from_dict(checkpoint.get(SPEC_KEY), where)
    check(
        type(saved_spec) is type(spec),
        f"{where} was trained on {saved_spec.description}, and this run's data is "
        f"{spec.description}; resume it on the data it was trained on.",
    )
    check(
        saved_spec.inputs.vocab == spec.inputs.vocab,
        f"the data of this run is not that of {where}: its vocabulary differs from the "
        "checkpoint's; resume on the data it was trained on.",
    )
    problem = weights_problem(task, checkpoint["state_dict"])
    if problem:
        changed = _changed_settings(saved, cfg)
        settings = f", trained with {changed}" if changed else ""
        raise ConfigError(
            f"{where} holds weights that do not fit this run's net{settings}: {problem}; resume "
            "with the settings it was trained with."
        )


def _changed_settings(saved: dict[str, Any], cfg: DictConfig) -> str:
    """The model and data settings where the checkpoint's config and ``cfg`` differ, as
    ``model.hidden_size=64 (not 32)``, the first few."""
    now = OmegaConf.to_container(cfg, resolve=True)
    changed = []
    for group in ("model", "data"):
        old, new = _flat(saved.get(group) or {}), _flat(now.get(group) or {})
        for key in sorted(old.keys() | new.keys()):
            if old.get(key) != new.get(key):
                changed.append(f"{group}.{key}={old.get(key)} (not {new.get(key)})")
    return ", ".join(changed[:_SHOWN])


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out |= _flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value}
    return out


def _name(target: str | None) -> str:
    return "no rnnlab task" if target is None else str(target).rsplit(".", 1)[-1]


# The settings that fix how many optimizer steps a run takes, which a schedule spanning the run
# is built to last.
_LENGTH_SETTINGS = (
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.limit_train_batches",
    "trainer.accumulate_grad_batches",
    "trainer.devices",
    "trainer.num_nodes",
    "data.batch_size",
    "task.steps_per_batch",
)


def check_resumed_schedule(
    ckpt_path: str, checkpoint: dict[str, Any], cfg: DictConfig, spans_run: bool
) -> None:
    """Refuse, in one sentence, to resume under a learning-rate schedule that spans the run
    (``spans_run``: one-cycle, or cosine without its own length) with settings that change
    the run's length: the schedule comes back from ``checkpoint`` at its old length, and
    torch would stop the run once it stepped past that end."""
    if not spans_run:
        return
    saved = OmegaConf.create(checkpoint[CHECKPOINT_KEY])
    for key in _LENGTH_SETTINGS:
        before = OmegaConf.select(saved, key, default=None)
        now = OmegaConf.select(cfg, key, default=None)
        if before != now:
            raise ConfigError(
                f"ckpt_path={ckpt_path} was trained with {key}={_text(before)}, and its "
                f"learning-rate schedule spans that run's steps; resume it with "
                f"{key}={_text(before)}, or give scheduler=none to go on at the rate it "
                "reached (or start a new run)."
            )


def _text(value: Any) -> str:
    """``value`` as it is written on the command line."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)
