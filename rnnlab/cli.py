"""What every ``python -m rnnlab.<entry>`` shares: the config directory, clean errors, and the
same run started from Python."""

from __future__ import annotations

import copy
import functools
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue

from rnnlab.sweeps.trial import current_trial
from rnnlab.utils.errors import ConfigError

# rnnlab's own configs: `rnnlab/conf`, which in the repository links to its top-level `conf/`
# and in a wheel is a copy of it; where a checkout has no links (some Windows set-ups), `conf/`.
_PACKAGED = Path(__file__).resolve().parent / "conf"
CONFIG_DIR = (_PACKAGED if _PACKAGED.is_dir() else _PACKAGED.parents[1] / "conf").resolve()

# `group=a` or `group=a,b,c` (a sweep); anything fancier is left to Hydra.
_CHOICE = re.compile(r"^(?P<group>[a-z_]+)=(?P<values>[\w\-./]+(,[\w\-./]+)*)$")
# The settings that move configs, which the check of choices must see as Hydra does.
_SEARCH_PATH = re.compile(r"^\+*hydra\.searchpath=")
_CONFIG_DIR_FLAGS = ("--config-dir", "-cd")
# Keys of earlier rnnlab releases that moved: the old prefix, the new one.
_RENAMED = {"task.optimizer": "optimizer", "task.scheduler": "scheduler"}


def available(group: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    """The config names rnnlab itself offers in ``group``."""
    return sorted(p.stem for p in (config_dir / group).glob("*.yaml"))


def check_choices(args: Sequence[str], config_name: str = "train") -> None:
    """Fail with one sentence when an argument picks a config that no config directory holds
    (rnnlab's own, and those ``hydra.searchpath`` or ``--config-dir`` add), or uses a renamed
    key.

    Hydra would say so too, in a paragraph; this names the bad value and the allowed ones.
    """
    _check_renamed(args)
    choices = [(arg, m) for arg in args if (m := _CHOICE.match(arg))]
    if not choices:
        return
    extra = _search_path_overrides(args)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        for _, match in choices:
            group = match["group"]
            options = loader.get_group_options(group, config_name=config_name, overrides=extra)
            if not options:
                continue  # not a config group: a plain key
            for value in match["values"].split(","):
                if value not in options and value != "null":
                    raise ConfigError(
                        f"{group}={value} is not available; choose one of: {', '.join(options)}."
                    )


def _check_renamed(args: Sequence[str]) -> None:
    for arg in args:
        key = arg.lstrip("+~").split("=", 1)[0]
        for old, new in _RENAMED.items():
            if key == old or key.startswith(old + "."):
                raise ConfigError(
                    f"{key} is now {new + key[len(old) :]}: the optimizer and the scheduler are "
                    "groups of their own (optimizer=adam|adamw|sgd, "
                    "scheduler=onecycle|cosine|none)."
                )


def _search_path_overrides(args: Sequence[str]) -> list[str]:
    """The arguments that add config directories, as overrides Hydra's loader reads."""
    paths, overrides = [], [arg for arg in args if _SEARCH_PATH.match(arg)]
    for i, arg in enumerate(args):
        flag, _, value = arg.partition("=")
        if flag in _CONFIG_DIR_FLAGS:
            value = value or (args[i + 1] if i + 1 < len(args) else "")
            paths.append(f"file://{Path(value).resolve()}")
    if paths:
        overrides.append(f"hydra.searchpath=[{','.join(paths)}]")
    return overrides


def exit_on_config_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`ConfigError`, or a required value left ``???``, into one line on stderr
    and exit status 2. Inside an Optuna trial the error is raised instead: it fails that trial,
    and the sweep goes on."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigError, MissingMandatoryValue) as error:
            if os.environ.get("HYDRA_FULL_ERROR") == "1" or current_trial() is not None:
                raise
            if isinstance(error, MissingMandatoryValue):
                key = error.full_key
                error = ConfigError(f"{key} is required; give it on the command line ({key}=...).")
            _fail(error)

    return wrapper


def run(task: Callable[[DictConfig], Any], config_name: str) -> None:
    """Run ``task`` as a Hydra application over ``conf/<config_name>.yaml``."""
    try:
        check_choices(sys.argv[1:], config_name)
    except ConfigError as error:
        _fail(error)
    app = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)
    app(exit_on_config_error(task))()


def run_in_python(
    task: Callable[[DictConfig], Any], config_name: str, overrides: Sequence[str]
) -> Any:
    """Run ``task`` on ``conf/<config_name>.yaml`` composed with ``overrides`` as the command
    line would, and return what it returns: the same checks of the overrides, the same run
    directory with its ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml``, and the
    same Hydra settings for the task to read. Unlike the command line it leaves the process as
    it is (no logging set up, no change of directory) and raises a :class:`ConfigError` for a
    user's mistake instead of exiting.
    """
    overrides = list(overrides)
    check_choices(overrides, config_name)
    with initialize_config_dir(
        config_dir=str(CONFIG_DIR), version_base="1.3", job_name=config_name
    ):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    output_dir = Path(str(cfg.hydra.run.dir)).absolute()
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.name = config_name
    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    hydra_config.set_config(cfg)
    try:
        job_cfg = copy.deepcopy(cfg)
        with open_dict(job_cfg):
            del job_cfg["hydra"]
        if cfg.hydra.output_subdir is not None:
            saved = output_dir / cfg.hydra.output_subdir
            _save_yaml(job_cfg, saved / "config.yaml")
            _save_yaml(OmegaConf.create({"hydra": cfg.hydra}), saved / "hydra.yaml")
            _save_yaml(OmegaConf.create(overrides), saved / "overrides.yaml")
        return task(job_cfg)
    finally:
        if previous is not None:
            hydra_config.set_config(previous)
        else:
            hydra_config.cfg = None


def _save_yaml(cfg: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_output(OmegaConf.to_yaml(cfg), str(path))


def read_input_lines(path: Path) -> list[str]:
    """The stripped lines of the UTF-8 file ``input=path``, blank ones included; a file that is
    not UTF-8 or holds no text is refused in one sentence."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as error:
        raise ConfigError(f"input={path} is not UTF-8 text ({error.reason}).") from None
    if not any(lines):
        raise ConfigError(f"input={path} holds no text.")
    return lines


def write_output(text: str, output: str | None) -> None:
    """``text`` to the file ``output``, replacing an existing one whole or not at all; to
    standard output when ``output`` is unset."""
    if not output:
        sys.stdout.write(text)
        return
    path = Path(output)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _fail(error: ConfigError) -> None:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
