"""Bad input files, one test per row of docs/bad_input.md ("Bad files"): for every file-based
dataset, a missing, empty, binary, truncated, malformed and non-UTF-8 file each end the run in
one sentence (a :class:`ConfigError`) that names the file, before anything is written: an
existing run directory that the run points at is left exactly as it was.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rnnlab.train import run
from rnnlab.utils.errors import ConfigError
from tests.conftest import run_cli, run_main, tree_digest

# Built by gzip (a compressed file given as the data): its second byte is not UTF-8.
BINARY = gzip.compress(b"y\n1\n2\n3\n", mtime=0)


@dataclass(frozen=True)
class Row:
    """One bad file: how to write it (``None`` leaves it missing), the overrides that point a
    run at it, and a fragment of the sentence the run must end with."""

    dataset: str
    problem: str
    name: str  # the file (or folder) the run is pointed at
    write: Callable[[Path], None] | None
    overrides: tuple[str, ...]  # with {path} for the file's path
    says: str

    @property
    def id(self) -> str:
        return f"{self.dataset}-{self.problem}"


def text(content: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content.encode(encoding))


def data(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


def npz_cut_in_half(path: Path) -> None:
    np.savez(path, frames=np.zeros((8, 2, 1, 4, 4), np.float32), labels=np.arange(8) % 2)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])


def npy_of_objects(path: Path) -> None:
    """An .npy of Python objects (a pickle inside), which is never unpickled."""
    np.save(path, np.array([{"frame": 1}, None], dtype=object), allow_pickle=True)


def frames_of_four_dims(path: Path) -> None:
    np.savez(path, frames=np.zeros((8, 2, 4, 4), np.float32), labels=np.arange(8) % 2)


def folder_with_latin1_labels(path: Path) -> None:
    path.mkdir()
    for i in range(4):
        np.save(path / f"s{i}.npy", np.zeros((2, 1, 4, 4), np.float32))
    rows = "".join(f"s{i},{'été' if i % 2 else 'hiver'}\n" for i in range(4))
    (path / "labels.csv").write_bytes(("file,label\n" + rows).encode("latin-1"))


def word2vec_binary(path: Path) -> None:
    """A word2vec *binary* file where the text format is expected."""
    vector = struct.pack("<3f", -0.1, 0.2, -0.3)
    path.write_bytes(b"2 3\nthe " + vector + b"\ncat " + vector + b"\n")


TS_HEADER = "@problemName Toy\n@univariate true\n@classLabel true a b\n@data\n"
CSV = ("data=csv", "data.path={path}", "data.target=y")
PAIRS = ("data=pairs", "data.path={path}")
CONLL = ("data=conll", "data.path={path}")
TEXT = ("data=text", "data.path={path}")
TEXT_CLS = ("data=text_cls", "data.path={path}")
UCR = ("data=ucr", "data.path={path}")
FRAMES = ("data=frames", "data.path={path}")
VECTORS = ("data=text_cls", "data.vectors={path}")
NOT_UTF8 = "is not UTF-8 text"

ROWS = [
    # data=csv
    Row("csv", "missing", "series.csv", None, CSV, "is not an existing file"),
    Row("csv", "empty", "series.csv", text(""), CSV, "is empty; it needs a header and rows"),
    Row("csv", "binary", "series.csv", data(BINARY), CSV, NOT_UTF8),
    Row("csv", "truncated", "series.csv", text("y,x\n1,2\n3"), CSV,
        "line 3: 1 fields where the header has 2"),
    Row("csv", "malformed", "series.csv", text("y\n1\nabc\n"), CSV,
        "line 3: column 'y' holds 'abc', not a number"),
    Row("csv", "not UTF-8", "series.csv", text("y,city\n1,Zürich\n", "latin-1"), CSV, NOT_UTF8),
    # data=pairs
    Row("pairs", "missing", "pairs.tsv", None, PAIRS, "does not exist"),
    Row("pairs", "empty", "pairs.tsv", text(""), PAIRS, "holds no pairs"),
    Row("pairs", "binary", "pairs.tsv", data(BINARY), PAIRS, NOT_UTF8),
    Row("pairs", "truncated", "pairs.tsv", text("hello\tbonjour\nthe cat"), PAIRS,
        "line 2: no TAB between source and target"),
    Row("pairs", "malformed", "pairs.tsv", text("hello\tbonjour\nyes\t \n"), PAIRS,
        "line 2: the target is empty"),
    Row("pairs", "not UTF-8", "pairs.tsv", text("café\tcoffee\n", "latin-1"), PAIRS, NOT_UTF8),
    # data=conll
    Row("conll", "missing", "tagged.conllu", None, CONLL, "does not exist"),
    Row("conll", "empty", "tagged.conllu", text(""), CONLL, "holds no tagged sentences"),
    Row("conll", "binary", "tagged.conllu", data(BINARY), CONLL, NOT_UTF8),
    Row("conll", "truncated", "tagged.conllu", text("1\tThe\tthe\tDET"), CONLL,
        "line 1: 4 columns where CoNLL-U has 10"),
    Row("conll", "malformed", "tagged.txt", text("The DT B-NP\ncat NN\n"), CONLL,
        "line 2: 2 columns where the file has 3"),
    Row("conll", "not UTF-8", "tagged.txt", text("Café NOUN\n", "latin-1"), CONLL, NOT_UTF8),
    # data=text
    Row("text", "missing", "corpus.txt", None, TEXT, "does not exist"),
    Row("text", "empty", "corpus.txt", text(""), TEXT, "holds no text"),
    Row("text", "binary", "corpus.txt", data(BINARY), TEXT, NOT_UTF8),
    Row("text", "truncated", "corpus.txt", data("il était une fois".encode()[:4]), TEXT,
        "is not UTF-8 text (unexpected end of data"),
    Row("text", "malformed", "corpus", lambda path: path.mkdir(), TEXT, "is not a file"),
    Row("text", "not UTF-8", "corpus.txt", text("il était une fois\n", "latin-1"), TEXT,
        NOT_UTF8),
    # data=text_cls
    Row("text_cls", "missing", "reviews.csv", None, TEXT_CLS, "does not exist"),
    Row("text_cls", "empty", "reviews.csv", text(""), TEXT_CLS, "is empty"),
    Row("text_cls", "binary", "reviews.csv", data(BINARY), TEXT_CLS, NOT_UTF8),
    Row("text_cls", "truncated", "reviews.csv", text("text,label\ngood film,pos\nbad fi"),
        TEXT_CLS, "line 3: 1 fields where the header has 2"),
    Row("text_cls", "malformed", "reviews.csv", text("review,sentiment\ngood,pos\n"), TEXT_CLS,
        "has no column 'text'; its columns are: review, sentiment"),
    Row("text_cls", "not UTF-8", "reviews.csv", text("text,label\ncafé,pos\n", "latin-1"),
        TEXT_CLS, NOT_UTF8),
    # data=ucr with a .ts file
    Row("ucr", "missing", "cases.ts", None, UCR, "does not exist"),
    Row("ucr", "empty", "cases.ts", text(""), UCR, "has no @data line"),
    Row("ucr", "binary", "cases.ts", data(BINARY), UCR, NOT_UTF8),
    Row("ucr", "truncated", "cases.ts", text(TS_HEADER + "1,2,3:a\n4,5"), UCR,
        "line 6 has no ':' before a label"),
    Row("ucr", "malformed", "cases.ts", text(TS_HEADER + "1,x,3:a\n"), UCR,
        "line 5 has 'x' in dimension 1"),
    Row("ucr", "not UTF-8", "cases.ts", text("# Zürich\n" + TS_HEADER, "latin-1"), UCR,
        NOT_UTF8),
    # data=frames
    Row("frames", "missing", "frames.npz", None, FRAMES, "does not exist"),
    Row("frames", "empty", "frames.npz", text(""), FRAMES, "is not a readable .npz file"),
    Row("frames", "binary", "frames.npy", npy_of_objects, FRAMES,
        "is not a readable .npy array of numbers (Array can't be memory-mapped: Python objects"),
    Row("frames", "truncated", "frames.npz", npz_cut_in_half, FRAMES,
        "is not a readable .npz file"),
    Row("frames", "malformed", "frames.npz", frames_of_four_dims, FRAMES, "4 dimensions"),
    Row("frames", "not UTF-8", "samples", folder_with_latin1_labels, FRAMES, NOT_UTF8),
    # data.vectors (with data=text_cls)
    Row("vectors", "missing", "vectors.txt", None, VECTORS, "does not exist"),
    Row("vectors", "empty", "vectors.txt", text(""), VECTORS, "holds no vectors"),
    Row("vectors", "binary", "vectors.bin", word2vec_binary, VECTORS, NOT_UTF8),
    Row("vectors", "truncated", "vectors.txt", text("the 0.1 0.2 0.3\ncat 0.4 0.5"), VECTORS,
        "line 2: 2 values where the first line had 3"),
    Row("vectors", "malformed", "vectors.txt", text("the 0.1 abc 0.3\n"), VECTORS,
        "line 1: 'abc' is not a number"),
    Row("vectors", "not UTF-8", "vectors.txt", text("café 0.1 0.2\n", "latin-1"), VECTORS,
        NOT_UTF8),
]  # fmt: skip


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """An earlier run's directory, with a few files, that the bad run is pointed at."""
    out = tmp_path / "earlier_run"
    (out / "checkpoints").mkdir(parents=True)
    (out / ".hydra").mkdir()
    (out / "checkpoints" / "last.ckpt").write_bytes(b"\x80\x04 an earlier checkpoint")
    (out / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (out / "metrics.json").write_text('{"test/mse": 0.25}\n')
    (out / "train.log").write_text("an earlier run's log\n")
    return out


def bad_file(row: Row, folder: Path) -> Path:
    path = folder / row.name
    if row.write is not None:
        row.write(path)
    return path


def overrides(row: Row, path: Path, run_dir: Path) -> list[str]:
    return [*(o.format(path=path) for o in row.overrides), f"hydra.run.dir={run_dir}"]


def assert_one_sentence(message: str, row: Row, path: Path) -> None:
    assert row.says in message, message
    assert path.name in message, message  # names the bad file (or folder)
    assert "\n" not in message and message.endswith("."), message


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_a_bad_file_ends_the_run_in_one_sentence_and_writes_nothing(row, tmp_path, run_dir):
    path = bad_file(row, tmp_path / "input" if row.write is None else tmp_path)
    before, around = tree_digest(run_dir), set(tmp_path.iterdir())
    with pytest.raises(ConfigError) as error:
        run(overrides(row, path, run_dir))
    assert_one_sentence(str(error.value), row, path)
    assert tree_digest(run_dir) == before
    assert set(tmp_path.iterdir()) == around


# Through a real process (run_cli) for two rows; through the command's main() in this process
# (run_main: the same argument parsing, exit status and stderr, without a new interpreter's
# start-up) for a few more.
COMMAND_ROWS = [
    ("csv-missing", run_cli),
    ("frames-truncated", run_cli),
    ("text-not UTF-8", run_main),
    ("conll-malformed", run_main),
    ("ucr-binary", run_main),
    ("vectors-malformed", run_main),
]
BY_ID = {row.id: row for row in ROWS}


@pytest.mark.parametrize(
    "row, runner",
    [(BY_ID[id], runner) for id, runner in COMMAND_ROWS],
    ids=[f"{id}-{runner.__name__}" for id, runner in COMMAND_ROWS],
)
def test_the_command_line_prints_the_sentence_and_exits_2(row, runner, tmp_path, run_dir):
    path = bad_file(row, tmp_path)
    before, around = tree_digest(run_dir), set(tmp_path.iterdir())
    result = runner("rnnlab.train", *overrides(row, path, run_dir), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert_one_sentence(lines[0], row, path)
    assert tree_digest(run_dir) == before
    assert set(tmp_path.iterdir()) == around  # no run directory of its own either


def test_every_dataset_has_every_kind_of_bad_file():
    """The table is complete: six kinds of bad file for each of the eight file inputs."""
    kinds = {"missing", "empty", "binary", "truncated", "malformed", "not UTF-8"}
    datasets = {row.dataset for row in ROWS}
    assert len(datasets) == 8
    for dataset in datasets:
        assert {row.problem for row in ROWS if row.dataset == dataset} == kinds, dataset
