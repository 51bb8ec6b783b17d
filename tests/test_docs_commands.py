"""Every shell command that the README and the pages under docs/ show, held to the code: each
``python -m rnnlab.<tool>`` command composes with its tool's config (a sweep by its first
value), each refusal shown with its ``error:`` line gives that line, each distinct training
command runs one batch of each stage (``debug=fdr``) where this machine has what it needs
(a GPU, a cluster, the reader's own files are skipped, by name), and each
``python scripts/...`` command names a script that exists with the flags it is given."""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from tests.conftest import compose_config, run_main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = ("", "bash", "sh", "shell", "console")
# Words that only show the shape of a command: a run folder, the rest of the overrides.
PLACEHOLDER = re.compile(r"<[^>]*>|\.\.\.|\$\{|\$\w")
# Hydra's flags that take the next word as their value (``--cfg job``).
VALUED_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i", "--config-name", "-cn",
                "--config-path", "-cp", "--config-dir", "-cd"}  # fmt: skip


@dataclass(frozen=True)
class Command:
    page: str
    words: tuple[str, ...]  # without environment variables and a leading srun
    error: str | None  # the refusal the page shows for it

    def __str__(self) -> str:
        return f"{self.page}: {shlex.join(self.words)}"


@functools.cache
def commands() -> tuple[Command, ...]:
    """Every Python command of every shell block, in page order (read once: each test's
    parameters are drawn from it)."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.M | re.S):
            if lang in SHELL:
                found += _block_commands(page.name, re.sub(r"\\\n\s*", " ", body))
    return tuple(found)


def _block_commands(page: str, body: str) -> list[Command]:
    lines = body.splitlines()
    prompted = any(line.startswith("$ ") for line in lines)
    found = []
    for i, line in enumerate(lines):
        if prompted and not line.startswith("$ "):
            continue  # the output a prompt's command printed
        after = lines[i + 1] if i + 1 < len(lines) else ""
        error = after.removeprefix("error: ") if prompted and after.startswith("error: ") else None
        line = line.removeprefix("$ ").split(" #", 1)[0].strip()
        line = re.sub(r"<[^>]*>", "<placeholder>", line)  # `<the same overrides>`: one word
        for part in line.split("&&"):
            try:
                words = shlex.split(part.strip().removesuffix("&"))
            except ValueError:  # not a command: a line of output with a stray quote
                continue
            while words and (re.fullmatch(r"\w+=.*", words[0]) or words[0] == "srun"):
                words = words[1:]
            if words and words[0] == "python" and len(words) > 1:
                found.append(Command(page, tuple(words), error))
    return found


def tool_commands() -> list[Command]:
    return [c for c in commands() if c.words[1] == "-m" and c.words[2].startswith("rnnlab.")]


def script_commands() -> list[Command]:
    return [c for c in commands() if c.words[1].startswith("scripts/")]


def first_values(args: list[str]) -> list[str]:
    """The overrides of a command, a sweep by its first value; words that only show a
    command's shape (``<run>``, ``...``) are left out."""
    parser = OverridesParser.create()
    overrides = []
    for before, arg in zip(["", *args], args, strict=False):
        if arg.startswith("-") or before in VALUED_FLAGS or PLACEHOLDER.search(arg):
            continue
        override = parser.parse_overrides([arg])[0]
        if override.is_sweep_override():
            value = next(iter(override.sweep_string_iterator()))
            arg = f"{override.get_key_element()}={value}"
        overrides.append(arg)
    return overrides


@pytest.mark.parametrize("command", tool_commands(), ids=str)
def test_every_rnnlab_command_composes_or_gives_the_refusal_shown(command, tmp_path):
    tool = command.words[2].removeprefix("rnnlab.")
    assert (ROOT / "conf" / f"{tool}.yaml").is_file(), f"{command}: no conf/{tool}.yaml"
    args = list(command.words[3:])
    if any("searchpath" in arg for arg in args):
        pytest.skip("composes with the reader's own project's configs")
    overrides = first_values(args)
    if command.error is None:
        compose_config(tool, overrides, tmp_path)
        return
    reads_a_file = any("path=" in arg for arg in overrides) and "not exist" not in command.error
    if tool != "train" or reads_a_file:
        pytest.skip("the refusal needs the reader's own checkpoint or file")
    result = run_main("rnnlab.train", *overrides, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode != 0, f"{command}: not refused"
    assert f"error: {command.error}" in result.stderr, f"{command}: {result.stderr[-600:]}"


@pytest.mark.parametrize("command", script_commands(), ids=str)
def test_every_script_command_names_a_script_and_flags_it_has(command):
    script = ROOT / command.words[1]
    assert script.is_file(), f"{command}: no {command.words[1]}"
    source = script.read_text()
    flags = {w.split("=", 1)[0] for w in command.words[2:] if w.startswith("--")}
    unknown = sorted(f for f in flags if f'"{f}"' not in source)
    assert not unknown, f"{command}: {script.name} has no {', '.join(unknown)}"


def test_the_pages_show_commands_of_every_kind():
    # The parser above finds what it should: a change to how pages write commands that made
    # it find none would otherwise pass every test.
    assert len(tool_commands()) > 100 and len(script_commands()) > 20
    assert sum(c.error is not None for c in commands()) >= 5


# What a training command shown in the docs may need that this machine may not have.
_NEEDS = (
    ("searchpath", "the reader's own project's configs"),
    ("path=", "the reader's own file"),
    ("resume=", "an earlier run"),
    ("trainer=gpu", "a GPU"),
    ("trainer=ddp_sim", "two processes of its own (tests/test_cli.py runs DDP on CPU)"),
    ("trainer=ddp", "several GPUs"),
    ("slurm", "a SLURM cluster"),
    ("hparams_search=", "a study of many trials (tests/test_optuna_sweep.py runs one)"),
)


def training_commands() -> list[Command]:
    """The distinct ``rnnlab.train`` commands the docs show, each once (by its overrides, a
    sweep by its first value), refusals left to the test above."""
    distinct: dict[tuple[str, ...], Command] = {}
    for command in tool_commands():
        if command.words[2] == "rnnlab.train" and command.error is None:
            distinct.setdefault(tuple(sorted(first_values(list(command.words[3:])))), command)
    return list(distinct.values())


@pytest.mark.parametrize("command", training_commands(), ids=str)
def test_every_training_command_runs_one_batch_of_each_stage(command, tmp_path):
    shown = " ".join(command.words)
    for needle, need in _NEEDS:
        if needle in shown:
            pytest.skip(f"needs {need}")
    overrides = first_values(list(command.words[3:]))
    result = run_main(
        "rnnlab.train", *overrides, "debug=fdr", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path
    )
    if result.returncode != 0 and "pip install" in result.stderr:
        pytest.skip(f"needs an extra: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, f"{command}: {result.stderr[-1500:]}"
