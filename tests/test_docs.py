"""The README and the pages under docs/: every link leads somewhere, and every config name they
use exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import run_main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A group choice written as a command-line override: `model=lstm`, ` data=sine`.
CHOICE = re.compile(r"(?<![\w.+~])(model|data|experiment|task|trainer|logger|debug)=([\w/]+)")


def prose(text: str) -> str:
    """``text`` without its fenced code blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#+ (.*)$", prose(path.read_text()), flags=re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_leads_to_a_file_and_a_heading(page):
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_config_name_the_docs_use_exists(page):
    text = page.read_text()
    lines = text.splitlines()
    missing = []
    for i, line in enumerate(lines):
        # A mistake shown with its refusal ("model=lstn is not available; ...") is meant to fail.
        if "is not available" in " ".join(lines[i : i + 2]):
            continue
        for group, name in CHOICE.findall(line):
            if name.endswith("/") or f"{group}/{name}.yaml" in text:  # a folder; the page's own
                continue
            if not (ROOT / "conf" / group / f"{name}.yaml").exists():
                missing.append(f"{group}={name}")
    assert not missing, f"{page.name} names configs that do not exist: {sorted(set(missing))}"


def test_the_readme_is_a_quickstart_and_a_map():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def readme_training_commands() -> list[str]:
    """The ``python -m rnnlab.train ...`` lines of the README's shell blocks."""
    blocks = re.findall(r"^```bash\n(.*?)^```", (ROOT / "README.md").read_text(), re.M | re.S)
    lines = [line.split("#", 1)[0] for block in blocks for line in block.splitlines()]
    commands = [part.strip() for line in lines for part in line.split("&&")]
    return [command for command in commands if command.startswith("python -m rnnlab.train")]


@pytest.mark.parametrize("command", readme_training_commands())
def test_the_readmes_training_commands_run(command, tmp_path):
    """Each runs as written, shortened to one batch of each stage (``debug=fdr``)."""
    args = shlex.split(command)[3:]
    where = "hydra.sweep.dir" if "-m" in args else "hydra.run.dir"
    result = run_main(
        "rnnlab.train", *args, "debug=fdr", f"{where}={tmp_path / 'run'}", cwd=tmp_path
    )
    assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
