"""What every ``python -m rnnlab.<entry>`` shares: the config directory and clean errors."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

from rnnlab.sweeps.trial import current_trial
from rnnlab.utils.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"

# `group=a` or `group=a,b,c` (a sweep); anything fancier is left to Hydra.
_CHOICE = re.compile(r"^(?P<group>[a-z_]+)=(?P<values>[\w\-./]+(,[\w\-./]+)*)$")


def available(group: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    """The config names a user may choose in ``group``."""
    return sorted(p.stem for p in (config_dir / group).glob("*.yaml"))


def check_choices(args: Sequence[str], config_dir: Path = CONFIG_DIR) -> None:
    """Fail with one sentence when an argument picks a config that ``config_dir`` lacks.

    Hydra would say so too, in a paragraph; this names the bad value and the allowed ones.
    """
    for arg in args:
        match = _CHOICE.match(arg)
        if not match or not (config_dir / match["group"]).is_dir():
            continue
        group, options = match["group"], available(match["group"], config_dir)
        for value in match["values"].split(","):
            if value not in options and value != "null":
                raise ConfigError(
                    f"{group}={value} is not available; choose one of: {', '.join(options)}."
                )


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
        check_choices(sys.argv[1:])
    except ConfigError as error:
        _fail(error)
    app = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)
    app(exit_on_config_error(task))()


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
