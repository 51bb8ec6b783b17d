"""scripts/prepare_text.py: member selection, cleaning, whole-document limits, one-line errors."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "prepare_text.py"

_spec = importlib.util.spec_from_file_location("prepare_text", SCRIPT)
prepare_text = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prepare_text)

GUTENBERG = (
    "The Project Gutenberg eBook of B\r\n"
    "Release date: never\r\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK B ***\r\n"
    "\r\n"
    "B first line   \r\n"
    "B second line\r\n"
    "\r\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK B ***\r\n"
    "Licence text that must go.\r\n"
)
# Stored out of order, with decoys the glob must skip.
MEMBERS = {
    "pkg-1.0/texts/b_gut.txt": GUTENBERG.encode(),
    "pkg-1.0/texts/notes.txt": b"not a play\n",
    "pkg-1.0/texts/a_gut.txt": b"\n\nA text\n\n",
    "pkg-1.0/README.md": b"readme\n",
    "pkg-1.0/texts/c_gut.txt": b"C text\n",
}
GLOB = "*/texts/*_gut.txt"
EXPECTED = "A text\n\nB first line\nB second line\n\nC text\n"


def make_tar(path: Path) -> Path:
    """A .tar.gz holding ``MEMBERS``."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in MEMBERS.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path) -> Path:
    """A .zip holding ``MEMBERS``."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in MEMBERS.items():
            archive.writestr(name, data)
    return path


def run_script(*args: str | Path) -> subprocess.CompletedProcess:
    """Run the script as a user would, from the repository root."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2 with one ``error:`` line on stderr naming every word, and no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("make", [make_tar, make_zip], ids=["tar.gz", "zip"])
def test_member_glob_picks_matching_members_in_sorted_order(tmp_path, make):
    archive = make(tmp_path / f"pkg.{'tar.gz' if make is make_tar else 'zip'}")
    assert prepare_text.prepare([str(archive)], [GLOB]) == EXPECTED


def test_default_glob_takes_every_txt_member(tmp_path):
    text = prepare_text.prepare([str(make_tar(tmp_path / "pkg.tgz"))])
    assert text == "A text\n\nB first line\nB second line\n\nC text\n\nnot a play\n"


def test_directory_files_are_taken_by_relative_path_in_order(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("b\n")
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "sub" / "c.txt").write_text("c\n")
    (tmp_path / "skip.md").write_text("md\n")
    assert prepare_text.prepare([str(tmp_path)]) == "a\n\nb\n\nc\n"
    assert prepare_text.prepare([str(tmp_path)], ["sub/*", "*.md"]) == "md\n\nc\n"


def test_clean_strips_gutenberg_header_footer_and_normalises_newlines():
    assert prepare_text.clean(GUTENBERG) == "B first line\nB second line"
    lower = "head\r*** start of this ebook ***\rbody\r*** end of this ebook ***\rtail"
    assert prepare_text.clean(lower) == "body"


def test_clean_leaves_text_without_markers_alone_but_trims_it():
    text = "\n  \n  indented first line  \n\n***not a marker***\r\nlast\t\n\n\n"
    assert prepare_text.clean(text) == "  indented first line\n\n***not a marker***\nlast"


def test_max_chars_keeps_whole_documents(tmp_path):
    archive = str(make_tar(tmp_path / "pkg.tar.gz"))
    # "A text\n" is 7 characters: a limit of 1 or 7 stops after it, 8 takes the next one whole.
    for limit in (1, 7):
        assert prepare_text.prepare([archive], [GLOB], max_chars=limit) == "A text\n"
    two = "A text\n\nB first line\nB second line\n"
    assert prepare_text.prepare([archive], [GLOB], max_chars=8) == two
    assert prepare_text.prepare([archive], [GLOB], max_chars=10**6) == EXPECTED


def test_cli_writes_the_joined_text_and_one_summary_line(tmp_path):
    out = tmp_path / "out" / "corpus.txt"
    tar, zip_ = make_tar(tmp_path / "pkg.tar.gz"), make_zip(tmp_path / "pkg.zip")
    result = run_script(tar, zip_, "--member", GLOB, "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == EXPECTED + "\n" + EXPECTED
    summary = result.stdout.splitlines()
    assert len(summary) == 1
    distinct = len(set(EXPECTED))
    assert f"6 documents, {2 * len(EXPECTED) + 1} characters, {distinct} distinct" in summary[0]
    assert str(out) in summary[0]


def test_failed_run_leaves_an_existing_output_untouched(tmp_path):
    out = tmp_path / "corpus.txt"
    out.write_text("previous corpus\n")
    result = run_script(make_tar(tmp_path / "pkg.tar.gz"), "--member", "*.rst", "--out", out)
    assert_one_line_error(result, "pkg.tar.gz", "*.rst")
    assert out.read_text() == "previous corpus\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "pkg.tar.gz"]


def test_non_utf8_file_fails_naming_the_file_and_offset(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café au lait\n".encode("latin-1"))
    out = tmp_path / "out.txt"
    assert_one_line_error(run_script(latin, "--out", out), "latin.txt", "offset 3")
    assert not out.exists()
    result = run_script(latin, "--encoding", "latin-1", "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == "café au lait\n"


def test_non_utf8_member_error_names_the_archive_member(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x/ok.txt", "fine\n")
        zf.writestr("x/bad.txt", b"\xff\xfe\x00")
    with pytest.raises(prepare_text.PrepareError, match=r"bad\.zip:x/bad\.txt .* offset 0"):
        prepare_text.prepare([str(archive)])


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("missing.txt", ["missing.txt", "does not exist"]),
        ("books.7z", ["books.7z", ".7z archive"]),
        ("http://127.0.0.1:9/x.txt", ["http://127.0.0.1:9/x.txt", "could not download"]),
    ],
)
def test_user_errors_are_one_line_with_status_2(tmp_path, source, words):
    if source.endswith(".7z"):
        source = str(tmp_path / source)
        Path(source).write_bytes(b"7z\xbc\xaf")
    assert_one_line_error(run_script(source, "--out", tmp_path / "out.txt"), *words)


def test_documents_empty_after_cleaning_are_refused(tmp_path):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n   \n")
    with pytest.raises(prepare_text.PrepareError, match="empty"):
        prepare_text.prepare([str(blank)])
