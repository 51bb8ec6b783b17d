"""What every ``python -m rnnlab.<entry>`` shares: the config directory, clean errors, and the
same run started from Python."""

from __future__ import annotations

import collections
import contextlib
import copy
import difflib
import functools
import inspect
import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import (
    CompactHydraException,
    ConfigCompositionException,
    HydraException,
    OverrideParseException,
)
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, MissingMandatoryValue

from rnnlab.sweeps.trial import current_trial
from rnnlab.utils.atomic import atomic_write_text
from rnnlab.utils.errors import ConfigError, NumericalFault, check

log = logging.getLogger(__name__)

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
# Where a run keeps its settings: the folder Hydra would name by ``hydra.output_subdir``, which
# rnnlab sets to null so that Hydra writes nothing before rnnlab has checked the run.
RUN_CONFIG_DIR = ".hydra"
# Hydra's own format for the lines of a job's log file.
_LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
# While a command-line task runs: the log files it opened (closed when the task ends).
_command_logs: list[logging.Handler] | None = None
RUN_JOB_LOGGING = "console"  # conf/hydra/job_logging/: Hydra's default less its file handler


def run_name(stamp: str) -> str:
    """``<stamp>_<host>-<pid>``: a run directory's name, distinct from that of every run started
    at the same ``stamp`` by another process of this or another machine (the ``run_name``
    resolver of ``conf/hydra/default.yaml``). A later run of this process with the same stamp
    (``rnnlab.train.run`` called twice in a second) gets ``-2``, ``-3``, ...

    The resolver is cached, so a configuration resolves its run directory once, and Hydra
    copies that cache into each job of a sweep.
    """
    host = re.sub(r"[^\w-]", "", socket.gethostname().split(".")[0]) or "host"
    name = f"{stamp}_{host}-{os.getpid()}"
    _run_names[name] += 1
    count = _run_names[name]
    name = name if count == 1 else f"{name}-{count}"
    _issued.add(name)
    return name


_run_names: collections.Counter[str] = collections.Counter()
_issued: set[str] = set()  # names this process gave: the directories it created itself
if not OmegaConf.has_resolver("run_name"):
    OmegaConf.register_new_resolver("run_name", run_name, use_cache=True)
if not OmegaConf.has_resolver("abspath"):
    # ${abspath:logs}: a path made absolute from where the command runs (an MLflow store's URI).
    OmegaConf.register_new_resolver("abspath", lambda path: str(Path(path).expanduser().resolve()))


def available(group: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    """The config names rnnlab itself offers in ``group``, those in its subfolders as
    ``folder/name`` (``experiment=long_range/adding``)."""
    folder = config_dir / group
    return sorted(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml"))


def check_choices(args: Sequence[str], config_name: str = "train") -> None:
    """Fail with one sentence when an argument picks a config that no config directory holds
    (rnnlab's own, and those ``hydra.searchpath`` or ``--config-dir`` add), uses a renamed
    key, or (in a single run) sets a key that the composed config does not have.

    Hydra would say so too, in a paragraph; this names the bad value and the allowed ones.
    """
    _check_renamed(args)
    choices = [(arg, m) for arg in args if (m := _CHOICE.match(arg))]
    extra = _search_path_overrides(args)
    overrides = _single_run_overrides(args)
    if not choices and not overrides:
        return
    with _hydra_of_its_own(), initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        groups = _check_groups(choices, config_name, extra)
        _refuse_sweeps(overrides, groups)
        if any(o not in groups for o in overrides):  # a key is set, not only groups chosen
            _check_keys(overrides, config_name)


def _check_groups(
    choices: list[tuple[str, re.Match]], config_name: str, extra: list[str]
) -> list[str]:
    """Refuse a choice of ``group=value`` that the group does not offer; the arguments that
    choose a group."""
    loader = GlobalHydra.instance().config_loader()
    groups = []
    for arg, match in choices:
        group = match["group"]
        options = loader.get_group_options(group, config_name=config_name, overrides=extra)
        if not options:
            continue  # not a config group: a plain key
        groups.append(arg)
        for value in match["values"].split(","):
            # A config in a subfolder of the group (experiment=long_range/adding).
            sub = value.rpartition("/")[0]
            offered = options
            if sub:
                nested = loader.get_group_options(
                    f"{group}/{sub}", config_name=config_name, overrides=extra
                )
                offered = [f"{sub}/{n}" for n in nested]
            if value not in offered and value != "null":
                raise ConfigError(
                    f"{group}={value} is not available; choose one of: {', '.join(offered)}."
                )
    return groups


def _single_run_overrides(args: Sequence[str]) -> list[str]:
    """The overrides of a command line that runs one job with the primary config, which
    :func:`_check_keys` composes; none for a sweep, or where a flag (``-m``, ``--cfg``,
    ``--config-name``, ...) changes what Hydra does with them."""
    if any(arg.startswith("-") for arg in args):
        return []
    return [arg for arg in args if "=" in arg]


def _check_keys(overrides: list[str], config_name: str) -> None:
    """Refuse, in one sentence, an override of a key that the composed config lacks (a
    misspelt ``model.hidden_sizee=3``), naming the key it may have meant, or one that Hydra
    cannot parse; Hydra would exit with a paragraph. Every other failure to compose is left
    for Hydra to report, as it would without this check."""
    try:
        compose(config_name, overrides=overrides)
    except OverrideParseException:
        _refuse_unreadable(overrides)
    except ConfigCompositionException as error:
        _refuse_missing_key(error, overrides, config_name)
    except Exception:  # noqa: BLE001 - Hydra reports it when it composes the run
        return


def _refuse_unreadable(overrides: list[str]) -> None:
    """Refuse the first of ``overrides`` that Hydra's grammar cannot read."""
    parser = OverridesParser.create()
    for given in overrides:
        try:
            parser.parse_override(given)
        except HydraException:
            key, _, value = given.partition("=")
            raise ConfigError(
                f"{given} cannot be read as a Hydra override; quote a value that holds spaces "
                f"or special characters, as in '{key}=\"{value}\"'."
            ) from None


def _refuse_sweeps(overrides: list[str], groups: list[str]) -> None:
    """Refuse, in a single run, an override that Hydra reads as a sweep (a value with an
    unquoted comma), saying what each reading of it takes; ``groups``: the overrides that
    choose a config group, whose only reading is the sweep."""
    parser = OverridesParser.create()
    for given in overrides:
        try:
            if not parser.parse_override(given).is_sweep_override():
                continue
        except HydraException:  # unreadable: _refuse_unreadable says so
            continue
        key, _, value = given.partition("=")
        if given in groups:
            raise ConfigError(f"{given} chooses several configs: give -m to sweep over them.")
        raise ConfigError(
            f"{given}: Hydra reads a comma as a sweep over several values; give -m to sweep "
            f"them, quote the value to keep it whole ('{key}=\"{value}\"'), or write a list "
            f"as {key}=[{value}]."
        )


def _refuse_missing_key(
    error: ConfigCompositionException, overrides: list[str], config_name: str
) -> None:
    """Refuse an override of a key that the config lacks, where that is why ``error`` came."""
    cause = error.__cause__
    if not isinstance(cause, ConfigAttributeError | ConfigKeyError) or not cause.full_key:
        return
    key = str(cause.full_key)
    given = next((o for o in overrides if o.split("=", 1)[0] == key), None)
    if given is None:
        return
    parent, _, name = key.rpartition(".")
    if parent == "trainer" and name in _trainer_arguments():
        raise ConfigError(
            f"{key} is a Lightning Trainer argument that rnnlab's trainer config leaves "
            f"unset; give +{given} to set it."
        ) from None
    others = [o for o in overrides if o is not given]
    with contextlib.suppress(HydraException):
        node = OmegaConf.select(compose(config_name, overrides=others), parent)
        known = [str(k) for k in node] if isinstance(node, DictConfig) else []
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            meant = f"{parent}.{close[0]}".lstrip(".")
            raise ConfigError(
                f"{key} is not a setting of {parent or 'the config'}: did you mean "
                f"{meant}? (+{given} would add it as a new key.)"
            ) from None
    raise ConfigError(
        f"{key} is not a setting of {parent or 'the config'}; check its spelling, or give "
        f"+{given} to add it as a new key."
    ) from None


def _trainer_arguments() -> set[str]:
    """The names of ``lightning.pytorch.Trainer``'s arguments."""
    from lightning.pytorch import Trainer

    return set(inspect.signature(Trainer.__init__).parameters) - {"self"}


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


class JobFailed(CompactHydraException):
    """A job of a multirun (``-m``) that ended in one sentence. Hydra treats it as any job that
    raises: the job counts as failed, the other jobs of the sweep's batch still run (all of
    them, under the basic sweeper), and then Hydra prints the first failure (this line, being a
    ``CompactHydraException``, without a traceback) and exits with status 1."""


def exit_on_config_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`ConfigError`, or a required value left ``???``, into one line on stderr
    and exit status 2, and a :class:`NumericalFault` (training diverged) into its one line and
    exit status 3. Inside an Optuna trial the error is raised instead: it fails that trial, and
    the sweep goes on. A job of any other multirun prints its line and fails as a
    :class:`JobFailed`, and the sweep goes on too."""

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
            _remove_empty_run_dir()
            _fail(error)
        except NumericalFault as error:
            if os.environ.get("HYDRA_FULL_ERROR") == "1" or current_trial() is not None:
                raise
            _fail(error, NumericalFault.exit_code)

    return wrapper


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _remove_empty_run_dir() -> None:
    """Take back the run directory Hydra made for a run refused before it wrote anything: one
    named by :func:`run_name` in this process, so new, never a folder the user named; or, in a
    multirun, the job's folder in the sweep's, if empty."""
    if not HydraConfig.initialized():
        return
    path = Path(HydraConfig.get().runtime.output_dir).absolute()
    if _in_multirun():
        with contextlib.suppress(OSError):  # not empty: it holds something of its own
            path.rmdir()
        return
    if path.name not in _issued:
        return
    here = Path.cwd().absolute()
    # The run directory, then the folders above it that Hydra made along with it (`logs/`,
    # `logs/<task_name>/`, ...): those that are empty, up to the working directory.
    for folder in (path, *path.parents):
        if folder == here or here not in folder.parents:
            break
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone): it holds something of its own
            break


def open_run_dir(cfg: DictConfig) -> Path:
    """Start writing the run directory ``cfg.paths.output_dir``, once the run has been checked:
    its settings in ``.hydra/`` (``config.yaml``, ``hydra.yaml``, ``overrides.yaml``, as Hydra
    saves them) from rank zero, and, for a command-line run under rnnlab's own job logging
    (``hydra/job_logging=console``, the default), the job's log file ``<job name>.log``: a run
    that picks another (``disabled``, ``none``, ``stdout``, Hydra's ``default``) gets the logging
    it chose. Returns the directory.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    output_dir = Path(str(cfg.paths.output_dir))
    hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
    if rank_zero_only.rank == 0:  # the other ranks start once rank zero is past this
        _check_not_another_run(output_dir, cfg, hydra_cfg.job.name if hydra_cfg else "train")
    elif _command_logs is None:
        # Another rank of a run started from Python (rnnlab.train.run): Lightning started it
        # by running the caller's script again, whose run gets a name of its own; rank zero
        # writes the run, and this rank has no log file to open, so it makes no folder.
        return output_dir
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"the run directory {output_dir} cannot be made ({error.strerror}); give a "
            "hydra.run.dir where you can write."
        ) from None
    if hydra_cfg is None:
        return output_dir
    if rank_zero_only.rank == 0:
        saved = output_dir / RUN_CONFIG_DIR
        saved.mkdir(exist_ok=True)
        _save_yaml(cfg, saved / "config.yaml")
        _save_yaml(OmegaConf.create({"hydra": hydra_cfg}), saved / "hydra.yaml")
        _save_yaml(OmegaConf.create(list(hydra_cfg.overrides.task)), saved / "overrides.yaml")
    log_file = (output_dir / f"{hydra_cfg.job.name}.log").absolute()
    ours = hydra_cfg.runtime.choices.get("hydra/job_logging") == RUN_JOB_LOGGING
    if _command_logs is not None and ours and not _logs_to(log_file):
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        logging.getLogger().addHandler(handler)
        _command_logs.append(handler)
    return output_dir


def _check_not_another_run(output_dir: Path, cfg: DictConfig, job: str) -> None:
    """Refuse to start a new run in ``output_dir`` where an earlier run left its files (its
    settings, checkpoints or metrics), which the new one would replace or mix with its own.

    Continuing that run is not refused: a training run given ``resume=true`` or a
    ``ckpt_path``, and a job that SLURM requeued (Lightning restores the ``hpc_ckpt_<n>.ckpt``
    it saved there before the requeue).
    """
    if not output_dir.is_dir():
        return
    training = job.startswith("train")
    if training and (cfg.get("resume") is True or cfg.get("ckpt_path") is not None):
        return
    if any(output_dir.glob("hpc_ckpt_*.ckpt")):
        return
    held = [name for name in _RUN_FILES if (output_dir / name).exists()]
    check(
        not held,
        f"the run directory {output_dir} already holds a run ({', '.join(held)}), which a new "
        "run would overwrite; give another hydra.run.dir"
        + (", or resume=true to continue that run." if training else "."),
    )


_RUN_FILES = (f"{RUN_CONFIG_DIR}/config.yaml", "checkpoints", "metrics.json")


def _logs_to(path: Path) -> bool:
    """Whether the root logger writes to ``path`` already (as Hydra's own file logging does
    for the other ranks of a DDP job, which run on the job's saved config)."""
    return any(
        isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path
        for h in logging.getLogger().handlers
    )


class _Command:
    """``task`` as the job of a command: it may open log files, closed when it ends.

    A class of this module, not a closure: a launcher that runs jobs in other processes
    (``hydra/launcher=joblib``) pickles the job, and a closure would travel by value, setting
    ``_command_logs`` in a copy of this module's globals that :func:`open_run_dir` never reads.
    """

    def __init__(self, task: Callable[[DictConfig], Any]):
        self.task = task
        functools.update_wrapper(self, task)

    def __call__(self, cfg: DictConfig) -> Any:
        global _command_logs
        _command_logs = []
        try:
            return self.task(cfg)
        except Exception as error:
            _log_failure(error, _command_logs)
            raise
        finally:
            for handler in _command_logs:
                logging.getLogger().removeHandler(handler)
                handler.close()
            _command_logs = None


FAILURE_PREFIX = "failed: "  # how a run's log file records the error that ended it


def _log_failure(error: Exception, handlers: list[logging.Handler]) -> None:
    """Record ``error``, which ended the run, in the run's own log files (where the run got as
    far as opening them): its sentence, or its type for an error that is not a user's
    mistake. The console shows it once, as the command reports it."""
    mistake = isinstance(error, ConfigError | NumericalFault)
    text = str(error) if mistake else f"{type(error).__name__}: {error}"
    fields = {"name": "rnnlab", "levelno": logging.ERROR, "levelname": "ERROR"}
    record = logging.makeLogRecord({**fields, "msg": FAILURE_PREFIX + text})
    for handler in handlers:
        handler.handle(record)


def run(task: Callable[[DictConfig], Any], config_name: str) -> None:
    """Run ``task`` as a Hydra application over ``conf/<config_name>.yaml``."""
    try:
        check_choices(sys.argv[1:], config_name)
    except ConfigError as error:
        _fail(error)
    app = hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name=config_name)
    app(exit_on_config_error(_Command(task)))()


@contextlib.contextmanager
def _hydra_of_its_own() -> Iterator[None]:
    """Let rnnlab compose its configs inside a caller's own Hydra context (a ``@hydra.main``
    script, a notebook's ``initialize``): Hydra holds one global instance, which ``initialize``
    refuses to replace, so the caller's is set aside and put back."""
    outer = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        yield
    finally:
        GlobalHydra.instance().clear()
        if outer is not None:
            GlobalHydra.instance().initialize(outer)


@contextlib.contextmanager
def _process_state_kept() -> Iterator[None]:
    """Put back what a run changes in its process besides its own objects: the random
    generators that seeding sets (Python's, NumPy's, torch's, and CUDA's once initialised) and
    the seed variables that Lightning's ``seed_everything`` exports."""
    import random

    import numpy as np
    import torch

    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    env = {name: os.environ.get(name) for name in _SEED_VARIABLES}
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_SEED_VARIABLES = ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")  # lightning.fabric's seed_everything


def run_in_python(
    task: Callable[[DictConfig], Any], config_name: str, overrides: Sequence[str]
) -> Any:
    """Run ``task`` on ``conf/<config_name>.yaml`` composed with ``overrides`` as the command
    line would, and return what it returns: the same checks of the overrides, the same run
    directory (whose ``.hydra/`` the task saves with :func:`open_run_dir`), and the same Hydra
    settings for the task to read. Unlike the command line it leaves the process as it is (no
    logging set up, no change of directory; the random generators and the seed variables put
    back; a caller's own Hydra context kept) and raises a :class:`ConfigError` for a user's
    mistake instead of exiting.
    """
    overrides = list(overrides)
    with _process_state_kept():
        try:
            return _run_in_python(task, config_name, overrides)
        except MissingMandatoryValue as error:
            key = error.full_key
            raise ConfigError(
                f"{key} is required; give it among the overrides ({key}=...)."
            ) from None


def _run_in_python(
    task: Callable[[DictConfig], Any], config_name: str, overrides: list[str]
) -> Any:
    check_choices(overrides, config_name)
    with (
        _hydra_of_its_own(),
        initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name=config_name),
    ):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    output_dir = Path(str(cfg.hydra.run.dir)).absolute()
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.name = config_name
        cfg.hydra.overrides.task = [o for o in overrides if not o.startswith("hydra.")]
    hydra_config = HydraConfig.instance()
    previous = hydra_config.cfg
    hydra_config.set_config(cfg)
    try:
        job_cfg = copy.deepcopy(cfg)
        with open_dict(job_cfg):
            del job_cfg["hydra"]
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
    """The stripped lines of the UTF-8 file ``input=path``, blank ones included, without a
    leading byte-order mark; a file that is not UTF-8 or holds no text is refused in one
    sentence."""
    try:
        text = path.read_text(encoding="utf-8").removeprefix("\ufeff")  # as Notepad writes
        # Lines end at a line feed only (CRLF's CR is stripped with the blanks), as training
        # reads its files: str.splitlines would also break at U+2028, U+0085 or a form feed.
        lines = [line.strip() for line in text.split("\n")]
        if lines[-1] == "" and text.endswith("\n"):
            lines.pop()  # the file's last line end ends a line; it starts none
    except UnicodeDecodeError as error:
        raise ConfigError(f"input={path} is not UTF-8 text ({error.reason}).") from None
    if not any(lines):
        raise ConfigError(f"input={path} holds no text.")
    return lines


def check_output(output: str | None) -> None:
    """Refuse, in one sentence, an ``output=`` file that cannot be written: a folder, or a
    file in a folder that does not exist. Commands check it before their work."""
    if not output:
        return
    path = Path(output)
    if path.is_dir():
        raise ConfigError(f"output={output} is a folder; give the path of a file to write.")
    if not path.parent.is_dir():
        raise ConfigError(
            f"output={output}: the folder {path.parent} does not exist; create it first."
        )


def write_output(text: str, output: str | None) -> None:
    """``text`` to the file ``output``, replacing an existing one whole or not at all; to
    standard output when ``output`` is unset."""
    if not output:
        sys.stdout.write(text)
        return
    check_output(output)
    atomic_write_text(output, text)


def _fail(error: Exception, status: int = 2) -> None:
    """``error``'s sentence on stderr, then exit with ``status``; in a multirun, the job fails
    (:class:`JobFailed`) and the sweep goes on."""
    print(f"error: {error}", file=sys.stderr)
    if _in_multirun():
        job = HydraConfig.get().job
        overrides = " ".join(HydraConfig.get().overrides.task)
        raise JobFailed(f"error: job {job.num} of the sweep ({overrides}) failed: {error}")
    sys.exit(status)
