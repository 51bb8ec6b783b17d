"""Property-based tests of every file parser: whatever a file holds, reading it either works or
ends in one :class:`ConfigError` sentence that names the file, never another exception.

Each parser gets random bytes and random *valid-looking* files, built from the format's grammar
with corruptions (missing and extra fields, non-numbers, huge and non-finite numbers, blank
lines, a byte-order mark, CRLF, unicode, a cut at a random byte, a flipped byte). The file is
read the way a run reads it: by the datamodule's ``setup`` (or the reading function it calls).
Where reading succeeds, a sane invariant is checked (shapes agree, no NaN where one is refused).

The default suite runs :data:`EXAMPLES` examples per test; ``python -m pytest -m slow
tests/data/test_fuzz_parsers.py`` runs :data:`SLOW_EXAMPLES`.
"""

from __future__ import annotations

import io
import math
import shutil
import string
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402

from rnnlab.data.conll import ConllDataModule  # noqa: E402
from rnnlab.data.csv_series import CsvSeriesDataModule  # noqa: E402
from rnnlab.data.frames import FramesDataModule  # noqa: E402
from rnnlab.data.pairs import PairsDataModule  # noqa: E402
from rnnlab.data.text import TextDataModule  # noqa: E402
from rnnlab.data.text_cls import TextClassificationDataModule  # noqa: E402
from rnnlab.data.ts_format import read_ts  # noqa: E402
from rnnlab.data.ucr import UCRDataModule  # noqa: E402
from rnnlab.data.vocab import Vocabulary, load_vectors  # noqa: E402
from rnnlab.utils.errors import ConfigError  # noqa: E402

# Hypothesis keeps a cache under its home folder, ./.hypothesis by default: keep the working
# tree clean.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "rnnlab-hypothesis")

EXAMPLES = 200
SLOW_EXAMPLES = 2000
# No example database: nothing is written into the repository, and every run draws afresh.
_COMMON = dict(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAST = settings(max_examples=EXAMPLES, **_COMMON)
SLOW = settings(max_examples=SLOW_EXAMPLES, **_COMMON)


def _slow_selected(config: pytest.Config) -> bool:
    expression = config.getoption("markexpr") or ""
    return "slow" in expression and "not slow" not in expression


@pytest.fixture(scope="module")  # module scope: hypothesis reruns the test, not the fixture
def slow_only(request: pytest.FixtureRequest) -> None:
    """The slow variants run only when asked for (``-m slow``): the default suite stays fast."""
    if not _slow_selected(request.config):
        pytest.skip("the long fuzz run: select it with -m slow")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder the examples of a test overwrite (a function-scoped ``tmp_path`` would be
    shared by every example anyway)."""
    return tmp_path_factory.mktemp("fuzz")


def fresh(work: Path) -> Path:
    """An empty folder for one example."""
    folder = work / "case"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def parses_or_says_why(read: Callable[[], object], path: Path, *others: str) -> object | None:
    """``read()``'s result, or ``None`` when it raised a :class:`ConfigError` that is one line,
    one sentence, and names ``path`` (or one of the ``others`` files read with it, or the
    ``data.`` setting the file broke)."""
    try:
        result = read()
    except ConfigError as error:
        event("refused")  # --hypothesis-show-statistics shows how many examples were refused
        message = str(error)
        assert "\n" not in message and "\r" not in message, message
        assert message.endswith(".") and not message.endswith(".."), message
        assert any(name in message for name in (path.name, *others, "data.")), message
        assert len(message) < 1000, message
        return None
    event("read")
    return result


# --- corruptions shared by every text format -------------------------------------------------

# Cells a number parser meets in the wild, or should refuse.
# fmt: off
ODD_NUMBERS = [
    "nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e-400", "?", "1,5", "0x10",
    "1_000", "١٢", "²", "--1", "1e", ".", "NA", "null", "12345678901234567890", "", " ",
]
# fmt: on
NUMBER_LIKE = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(ODD_NUMBERS),
    st.text(max_size=6),
)
PLAIN = st.text(string.ascii_letters + "éß", min_size=1, max_size=6)
WORDS = st.one_of(
    st.text(string.ascii_letters, min_size=1, max_size=6),
    st.text(min_size=1, max_size=6),
    st.sampled_from(["", " ", "\t", ",", '"', "#", "@", "?", ":", "\x00", "é", "日本", "\u2028"]),
)


# How many flaws a valid-looking file gets: most files none or one.
FLAWS = st.sampled_from([0, 0, 0, 1, 1, 2, 3])


def flawed(draw: st.DrawFn, count: int) -> set[int]:
    """Which of ``count`` items get a flaw."""
    if count == 0:
        return set()
    return set(draw(st.lists(st.integers(0, count - 1), max_size=draw(FLAWS))))


@st.composite
def corrupted(draw: st.DrawFn, lines: list[str]) -> bytes:
    """``lines`` as a file, with corruptions: lines dropped, repeated or blank, a random
    line, CRLF or CR endings, a byte-order mark, a cut at a random byte, a flipped byte."""
    lines = list(lines)
    for _ in range(draw(FLAWS)):
        kind = draw(st.sampled_from(["drop", "repeat", "blank", "random"]))
        at = draw(st.integers(0, len(lines)))
        if kind == "drop" and lines:
            del lines[min(at, len(lines) - 1)]
        elif kind == "repeat" and lines:
            lines.insert(at, lines[min(at, len(lines) - 1)])
        elif kind == "blank":
            lines.insert(at, draw(st.sampled_from(["", " ", "\t"])))
        else:
            lines.insert(at, draw(st.text(max_size=20)))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = newline.join(lines) + draw(st.sampled_from([newline, ""]))
    data = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf"])) + text.encode("utf-8", "replace")
    if data and draw(st.integers(0, 3)) == 0:
        data = data[: draw(st.integers(0, len(data)))]  # truncated
    if data and draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return data


RANDOM_BYTES = st.binary(max_size=400)


# --- CSV series (data=csv) --------------------------------------------------------------------


@st.composite
def csv_series(draw: st.DrawFn) -> tuple[bytes, str, bool]:
    """A series table: header ``t,y,x`` in some order, time steps or dates, numbers."""
    tsv = draw(st.booleans())
    sep = "\t" if tsv else ","
    columns = draw(st.permutations(["t", "y", "x"]))
    if draw(st.integers(0, 5)) == 0:
        columns = draw(st.lists(st.sampled_from(["t", "y", "x", "z", ""]), max_size=4))
    dates = draw(st.booleans())
    start = draw(st.integers(0, 300))
    count = draw(st.integers(0, 30))
    bad = flawed(draw, count)
    rows = []
    for i in range(count):
        step = start + i
        time = f"{2000 + step // 12}-{1 + step % 12:02d}-01" if dates else str(step)
        cells = {"t": time, "x": str(i % 3), "y": repr(round(math.sin(i), 4))}
        if i in bad:
            flaw = draw(st.sampled_from(["y", "y", "t", "missing", "extra"]))
            if flaw in cells:
                cells[flaw] = draw(st.one_of(NUMBER_LIKE, st.sampled_from(["2024-13-01", "24:00"])))
        row = [cells.get(c, "1") for c in columns]
        if i in bad and flaw == "missing":
            row = row[:-1]
        elif i in bad and flaw == "extra":
            row.append("1")
        rows.append(sep.join(row))
    data = draw(corrupted([sep.join(columns), *rows]))
    return data, ".tsv" if tsv else ".csv", draw(st.booleans())


def read_csv_series(path: Path, with_time: bool, missing: str = "error") -> None:
    dm = CsvSeriesDataModule(
        str(path), target="y", time_column="t" if with_time else None, past_covariates=["x"],
        window=2, horizon=1, splits=(0.5, 0.25, 0.25), missing=missing, allow_gaps=True,
    )  # fmt: skip
    if parses_or_says_why(dm.setup, path) is None and dm.series is None:
        return
    assert dm.series.shape == (len(dm.timestamps), 2)
    assert torch.isfinite(dm.series).all()  # a NaN cell is refused or filled
    assert all(len(s) for s in dm.starts.values())


def _csv_random_bytes(work: Path, data: bytes, missing: str) -> None:
    path = fresh(work) / "series.csv"
    path.write_bytes(data)
    read_csv_series(path, with_time=False, missing=missing)


def _csv_grammar(work: Path, case: tuple[bytes, str, bool], missing: str) -> None:
    data, suffix, with_time = case
    path = fresh(work) / f"series{suffix}"
    path.write_bytes(data)
    read_csv_series(path, with_time, missing)


MISSING = st.sampled_from(["error", "ffill", "interpolate", "zero"])


@FAST
@given(data=RANDOM_BYTES, missing=MISSING)
def test_csv_series_random_bytes(work, data, missing):
    _csv_random_bytes(work, data, missing)


@FAST
@given(case=csv_series(), missing=MISSING)
def test_csv_series_valid_looking(work, case, missing):
    _csv_grammar(work, case, missing)


@pytest.mark.slow
@SLOW
@given(data=RANDOM_BYTES, case=csv_series(), missing=MISSING)
def test_csv_series_long(slow_only, work, data, case, missing):
    _csv_random_bytes(work, data, missing)
    _csv_grammar(work, case, missing)


# --- TSV pairs (data=pairs) -------------------------------------------------------------------


@st.composite
def pair_lines(draw: st.DrawFn) -> bytes:
    count = draw(st.integers(0, 14))
    bad = flawed(draw, count)
    lines = []
    for i in range(count):
        words = PLAIN if i not in bad else WORDS
        source, target = (draw(st.lists(words, min_size=1, max_size=3).map(" ".join)) for _ in "st")
        fields = [source, target]
        if i in bad:
            fields = fields[: draw(st.sampled_from([1, 2, 3]))] + [draw(WORDS)]
        lines.append("\t".join(fields))
    return draw(corrupted(lines))


def read_pairs_file(path: Path) -> None:
    dm = PairsDataModule(str(path), splits=(0.34, 0.33, 0.33), batch_size=4)
    if parses_or_says_why(dm.setup, path) is None and not dm.datasets:
        return
    for split, dataset in dm.datasets.items():
        assert len(dataset) == len(dm.pairs[split]) > 0
        assert dataset.values.shape[0] == dataset.lengths.shape[0] == dataset.targets.shape[0]
        assert (dataset.lengths >= 1).all()


def _pairs_case(work: Path, data: bytes) -> None:
    path = fresh(work) / "pairs.tsv"
    path.write_bytes(data)
    read_pairs_file(path)


@FAST
@given(data=RANDOM_BYTES)
def test_pairs_random_bytes(work, data):
    _pairs_case(work, data)


@FAST
@given(data=pair_lines())
def test_pairs_valid_looking(work, data):
    _pairs_case(work, data)


@pytest.mark.slow
@SLOW
@given(data=RANDOM_BYTES, lines=pair_lines())
def test_pairs_long(slow_only, work, data, lines):
    _pairs_case(work, data)
    _pairs_case(work, lines)


# --- CoNLL (data=conll) -----------------------------------------------------------------------


@st.composite
def conll_lines(draw: st.DrawFn) -> tuple[bytes, str, int | str | None]:
    conllu = draw(st.booleans())
    width = draw(st.sampled_from([2, 3]))  # of a column file
    sentences = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(0, 8)))]
    bad = flawed(draw, sum(sentences))
    lines, token = [], 0
    for length in sentences:
        if draw(st.booleans()):
            lines.append("# sent_id = " + draw(st.text(max_size=5)))
        for i in range(1, length + 1):
            word = draw(PLAIN if token not in bad else WORDS)
            tag = draw(st.sampled_from(["NOUN", "VERB", "DET", "B-X", "O"]))
            if conllu:
                fields = [str(i), word, word, tag, "_", "_", "0", "root", "_", "_"]
                if token in bad:
                    fields[0] = draw(st.sampled_from([f"{i}-{i + 1}", f"{i}.1", "x", ""]))
                    fields = fields[: draw(st.sampled_from([10, 9]))] + ["_"] * draw(
                        st.integers(0, 1)
                    )
                lines.append("\t".join(fields))
            else:
                fields = [word, tag] if width == 2 else [word, "NN", tag]
                if token in bad:
                    fields = fields[: draw(st.sampled_from([1, 2, 3]))] + [draw(WORDS)]
                lines.append(" ".join(fields))
            token += 1
        lines.append("")
    tag_column = draw(st.sampled_from([None, None, None, 0, 1, 2, 9, "upos", "deprel", "nope"]))
    return draw(corrupted(lines)), ".conllu" if conllu else ".txt", tag_column


def read_conll_file(path: Path, tag_column: int | str | None) -> None:
    dm = ConllDataModule(str(path), tag_column=tag_column, splits=(0.34, 0.33, 0.33))
    if parses_or_says_why(dm.setup, path) is None and not dm.datasets:
        return
    for dataset in dm.datasets.values():
        assert dataset.values.shape == dataset.targets.shape  # one tag per token
        assert (dataset.lengths >= 1).all()
        assert int(dataset.targets.max()) < len(dm.tags)


def _conll_case(work: Path, data: bytes, suffix: str, tag_column) -> None:
    path = fresh(work) / f"tagged{suffix}"
    path.write_bytes(data)
    read_conll_file(path, tag_column)


SUFFIXES = st.sampled_from([".conllu", ".txt"])


@FAST
@given(data=RANDOM_BYTES, suffix=SUFFIXES)
def test_conll_random_bytes(work, data, suffix):
    _conll_case(work, data, suffix, None)


@FAST
@given(case=conll_lines())
def test_conll_valid_looking(work, case):
    _conll_case(work, *case)


@pytest.mark.slow
@SLOW
@given(data=RANDOM_BYTES, suffix=SUFFIXES, case=conll_lines())
def test_conll_long(slow_only, work, data, suffix, case):
    _conll_case(work, data, suffix, None)
    _conll_case(work, *case)


# --- plain text (data=text) -------------------------------------------------------------------


def read_text_file(path: Path, cache: Path) -> None:
    # max_in_memory_mb=0 sends every file through the memory-mapped cache as well.
    for in_memory in (64, 0):
        dm = TextDataModule(
            str(path), seq_len=4, batch_size=2, cache_dir=str(cache), max_in_memory_mb=in_memory
        )
        text = parses_or_says_why(lambda dm=dm: dm.text, path)
        if text is None:
            continue
        assert text.bounds[0] == 0 and text.bounds[-1] == len(text.ids)
        assert int(np.max(text.ids)) < len(text.vocab)
        assert len(dm.spec.inputs.vocab) == len(text.vocab)


def _text_case(work: Path, data: bytes) -> None:
    folder = fresh(work)
    path = folder / "corpus.txt"
    path.write_bytes(data)
    read_text_file(path, folder / "cache")


TEXTS = st.one_of(
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "replace")),
    st.lists(st.text(max_size=30), max_size=10).flatmap(corrupted),
)


@FAST
@given(data=RANDOM_BYTES)
def test_text_random_bytes(work, data):
    _text_case(work, data)


@FAST
@given(data=TEXTS)
def test_text_valid_looking(work, data):
    _text_case(work, data)


@pytest.mark.slow
@SLOW
@given(data=RANDOM_BYTES, text=TEXTS)
def test_text_long(slow_only, work, data, text):
    _text_case(work, data)
    _text_case(work, text)


# --- labelled texts (data=text_cls): a table, or a folder of class folders ---------------------


@st.composite
def label_table(draw: st.DrawFn) -> tuple[bytes, str]:
    tsv = draw(st.booleans())
    sep = "\t" if tsv else ","
    header = draw(st.permutations(["text", "label", "split"]))
    if draw(st.booleans()):
        header = [c for c in header if c != "split"]
    if draw(st.integers(0, 5)) == 0:
        header = draw(st.lists(st.sampled_from(["text", "label", "split", "x", '"a\nb"']),
                               max_size=4))  # fmt: skip
    count = draw(st.integers(0, 20))
    bad = flawed(draw, count)
    rows = []
    for i in range(count):
        cells = {
            "text": draw(st.one_of(PLAIN, st.just('"quoted, text"'))),
            "label": ["pos", "neg"][i % 2],
            "split": ["train", "train", "val", "test", "TEST", "dev"][i % 6],
        }
        if i in bad:
            cells[draw(st.sampled_from(list(cells)))] = draw(
                st.one_of(WORDS, st.sampled_from(['"open', "", "nope", "x"]))
            )
        row = [cells.get(c, "1") for c in header]
        if i in bad and draw(st.booleans()):
            row = row[:-1] if draw(st.booleans()) else [*row, "1"]
        rows.append(sep.join(row))
    return draw(corrupted([sep.join(header), *rows])), ".tsv" if tsv else ".csv"


@st.composite
def label_folder(draw: st.DrawFn) -> dict[str, list[bytes]]:
    names = st.sampled_from(["pos", "neg", "other", "é"])
    files = st.lists(st.one_of(RANDOM_BYTES, st.text(max_size=30).map(str.encode)), max_size=4)
    return draw(st.dictionaries(names, files, max_size=3))


def read_text_cls(path: Path) -> None:
    dm = TextClassificationDataModule(str(path), batch_size=4, splits=(0.34, 0.33, 0.33))
    if parses_or_says_why(dm.setup, path) is None and not dm.datasets:
        return
    assert len(dm.classes) >= 2
    for dataset in dm.datasets.values():
        assert dataset.values.shape[0] == dataset.lengths.shape[0] == dataset.targets.shape[0]
        assert (dataset.lengths >= 1).all() and int(dataset.targets.max()) < len(dm.classes)


def _table_case(work: Path, data: bytes, suffix: str) -> None:
    path = fresh(work) / f"labelled{suffix}"
    path.write_bytes(data)
    read_text_cls(path)


def _folder_case(work: Path, classes: dict[str, list[bytes]]) -> None:
    path = fresh(work) / "labelled"
    path.mkdir()
    for name, files in classes.items():
        (path / name).mkdir()
        for i, data in enumerate(files):
            (path / name / f"{i}.txt").write_bytes(data)
    read_text_cls(path)


TABLE_SUFFIXES = st.sampled_from([".csv", ".tsv"])


@FAST
@given(data=RANDOM_BYTES, suffix=TABLE_SUFFIXES)
def test_text_cls_random_bytes(work, data, suffix):
    _table_case(work, data, suffix)


@FAST
@given(case=label_table())
def test_text_cls_valid_looking_table(work, case):
    _table_case(work, *case)


@FAST
@given(classes=label_folder())
def test_text_cls_folder(work, classes):
    _folder_case(work, classes)


@pytest.mark.slow
@SLOW
@given(data=RANDOM_BYTES, suffix=TABLE_SUFFIXES, case=label_table(), classes=label_folder())
def test_text_cls_long(slow_only, work, data, suffix, case, classes):
    _table_case(work, data, suffix)
    _table_case(work, *case)
    _folder_case(work, classes)


# --- UCR/UEA .ts (data=ucr data.path=...) ------------------------------------------------------


# Each .ts header line, and what a flaw may turn it into.
TS_HEADER_FLAWS = {
    "@problemName": ["@problemName", "@problemName a b"],
    "@timeStamps": ["@timeStamps true", "@timeStamps maybe"],
    "@missing": ["@missing", "@missing yes"],
    "@univariate": ["@univariate", "@univariate 1"],
    "@dimensions": ["@dimensions 0", "@dimensions ²", "@dimensions -1", "@dimensions x"],
    "@equalLength": ["@equalLength true", "@equalLength"],
    "@seriesLength": ["@seriesLength 3", "@seriesLength 0"],
    "@classLabel": ["@classLabel false", "@classLabel true", "@classLabel true a"],
    "@data": ["@DATA", "@data x", "@", "@unknown x", "data"],
}


@st.composite
def ts_file(draw: st.DrawFn) -> bytes:
    dims = draw(st.integers(1, 3))
    length = draw(st.integers(1, 5))
    equal = draw(st.booleans())
    header = {
        "@problemName": "@problemName Toy",
        "@timeStamps": "@timeStamps false",
        "@missing": "@missing true",
        "@univariate": f"@univariate {str(dims == 1).lower()}",
        "@dimensions": f"@dimensions {dims}",
        "@equalLength": f"@equalLength {str(equal).lower()}",
        "@seriesLength": f"@seriesLength {length}",
        "@classLabel": "@classLabel true a b",
        "@data": "@data",
    }
    for key in flawed(draw, len(header)):
        name = list(header)[key]
        header[name] = draw(st.sampled_from(TS_HEADER_FLAWS[name]))
    count = draw(st.integers(0, 16))
    bad = flawed(draw, count)
    cases = []
    for i in range(count):
        steps = length if equal else draw(st.integers(1, 5))
        channels = [
            [repr(round(math.cos(i + j + c), 3)) for j in range(steps)] for c in range(dims)
        ]
        label = "ab"[i % 2]
        if i in bad:
            flaw = draw(st.sampled_from(["value", "value", "?", "dims", "label"]))
            c, j = draw(st.integers(0, dims - 1)), draw(st.integers(0, steps - 1))
            if flaw == "value":
                channels[c][j] = draw(NUMBER_LIKE)
            elif flaw == "?":
                channels[c][j] = "?"
            elif flaw == "dims":
                channels = channels[:-1] if draw(st.booleans()) else [*channels, ["1"]]
            else:
                label = draw(st.sampled_from(["c", "", "a:b"]))
        cases.append(":".join([*(",".join(ch) for ch in channels), label]))
    return draw(corrupted(["# a comment", *header.values(), *cases]))


def read_ts_file(path: Path) -> None:
    data = parses_or_says_why(lambda: read_ts(path), path)
    if data is None:
        return
    assert data.series and all(s.ndim == 2 for s in data.series)
    assert all(not np.isinf(s).any() for s in data.series)  # NaN only for '?'
    assert not data.labels or len(data.labels) == len(data.series)
    dm = parses_or_says_why(lambda: UCRDataModule(path=str(path), batch_size=4), path)
    if dm is None or parses_or_says_why(dm.setup, path) is None and not dm.datasets:
        return
    for dataset in dm.datasets.values():
        assert torch.isfinite(dataset.values).all()  # standardised, missing values at 0
        assert dataset.values.shape[0] == dataset.lengths.shape[0] == dataset.targets.shape[0]


def _ts_case(work: Path, data: bytes) -> None:
    path = fresh(work) / "cases.ts"
    path.write_bytes(data)
    read_ts_file(path)


@FAST
@given(data=RANDOM_BYTES)
def test_ts_random_bytes(work, data):
    _ts_case(work, data)


@FAST
@given(data=ts_file())
def test_ts_valid_looking(work, data):
    _ts_case(work, data)


@pytest.mark.slow
@SLOW
@given(data=RANDOM_BYTES, ts=ts_file())
def test_ts_long(slow_only, work, data, ts):
    _ts_case(work, data)
    _ts_case(work, ts)


# --- frames (data=frames): .npz, .npy with labels beside it -----------------------------------

DTYPES = st.sampled_from(["float32", "float64", "int16", "uint8", "bool", "complex64", "U2"])


@st.composite
def frame_arrays(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``(N, T, C, H, W)`` and their labels, with flaws: a wrong shape, a non-finite or
    huge value, another dtype, wrong labels."""
    n = draw(st.integers(3, 9))
    shape = (n, draw(st.integers(1, 3)), draw(st.integers(1, 2)), 2, 2)
    flaws = set(draw(st.lists(st.sampled_from(["shape", "value", "dtype", "labels"]),
                              max_size=draw(FLAWS))))  # fmt: skip
    if "shape" in flaws:
        shape = draw(st.sampled_from([(n, 2, 2), (0, 2, 1, 2, 2), (n, 2, 1, 0, 2), ()]))
    frames = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) % 7
    if "value" in flaws and frames.size:
        frames.flat[draw(st.integers(0, frames.size - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e39])
        )
    dtype = draw(st.sampled_from(["float32", "float64", "uint8", "int16"]))
    if "dtype" in flaws:
        dtype = draw(st.sampled_from(["bool", "float16", "complex64", "U2"]))
    frames = frames.astype(dtype, casting="unsafe")
    labels = np.array(["a", "b"] * n)[:n] if draw(st.booleans()) else np.arange(n) % 2
    if "labels" in flaws:
        labels = draw(
            st.sampled_from(
                [np.arange(n - 1) % 2, np.zeros(n), np.full(n, 0.5), np.full(n, np.nan),
                 np.ones((n, 2), int), np.array(1), np.arange(n) % 2 == 0]
            )
        )  # fmt: skip
    return frames, labels


@st.composite
def corrupted_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["keep", "keep", "keep", "cut", "flip", "flip"]))
    if kind == "cut":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "flip" and data:
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data) - 1))
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    return data


@st.composite
def npz_file(draw: st.DrawFn) -> bytes:
    frames, labels = draw(frame_arrays())
    buffer = io.BytesIO()
    save = np.savez_compressed if draw(st.booleans()) else np.savez
    save(buffer, frames=frames, labels=labels)
    return draw(corrupted_bytes(buffer.getvalue()))


@st.composite
def npy_files(draw: st.DrawFn) -> tuple[bytes, bytes]:
    frames, labels = draw(frame_arrays())
    out = []
    for array in (frames, labels):
        buffer = io.BytesIO()
        np.save(buffer, array)
        out.append(draw(corrupted_bytes(buffer.getvalue())))
    return out[0], out[1]


def read_frames(path: Path) -> None:
    dm = FramesDataModule(str(path), batch_size=2, splits=(0.34, 0.33, 0.33),
                          cache_dir=str(path.parent / "cache"))  # fmt: skip
    if parses_or_says_why(dm.setup, path, "frames_labels.npy") is None and not dm.datasets:
        return
    for dataset in dm.datasets.values():
        # Frames are checked as batches read them: a NaN sample is refused there.
        batch = parses_or_says_why(lambda d=dataset: d[torch.arange(len(d))], path)
        if batch is None:
            continue
        assert batch.x.shape[:2] == (len(dataset), dm.sample_shape[0])
        assert torch.isfinite(batch.x).all()
        assert len(batch.y) == len(dataset)


def _npz_case(work: Path, data: bytes) -> None:
    path = fresh(work) / "frames.npz"
    path.write_bytes(data)
    read_frames(path)


def _npy_case(work: Path, frames: bytes, labels: bytes) -> None:
    path = fresh(work) / "frames.npy"
    path.write_bytes(frames)
    (path.parent / "frames_labels.npy").write_bytes(labels)
    read_frames(path)


@FAST
@given(data=RANDOM_BYTES, labels=RANDOM_BYTES)
def test_frames_random_bytes(work, data, labels):
    _npz_case(work, data)
    _npy_case(work, data, labels)


@FAST
@given(data=npz_file())
def test_frames_valid_looking_npz(work, data):
    _npz_case(work, data)


@FAST
@given(files=npy_files())
def test_frames_valid_looking_npy(work, files):
    _npy_case(work, *files)


@pytest.mark.slow
@SLOW
@given(data=RANDOM_BYTES, npz=npz_file(), npy=npy_files())
def test_frames_long(slow_only, work, data, npz, npy):
    _npz_case(work, data)
    _npz_case(work, npz)
    _npy_case(work, *npy)


# --- word vectors (data.vectors=...) ----------------------------------------------------------

VOCAB = Vocabulary(("<pad>", "<unk>", "the", "cat", "é"))


@st.composite
def vector_lines(draw: st.DrawFn) -> bytes:
    dim = draw(st.integers(1, 3))
    count = draw(st.integers(0, 8))
    lines = [f"{count} {dim}"] if draw(st.booleans()) else []
    bad = flawed(draw, count)
    for i in range(count):
        word = draw(st.sampled_from(["the", "cat", "é", "dog", "The"]))
        values = [repr(round(math.sin(i + j), 3)) for j in range(dim)]
        if i in bad:
            flaw = draw(st.sampled_from(["value", "value", "word", "width"]))
            if flaw == "value":
                values[draw(st.integers(0, dim - 1))] = draw(NUMBER_LIKE)
            elif flaw == "word":
                word = draw(WORDS)
            else:
                values = values[:-1] if draw(st.booleans()) else [*values, "0.5"]
        lines.append(" ".join([word, *values]) + draw(st.sampled_from(["", "", " "])))
    return draw(corrupted(lines))


def read_vectors(path: Path) -> None:
    found = parses_or_says_why(lambda: load_vectors(path, VOCAB), path)
    if found is None:
        return
    weights, count = found
    assert weights.shape[0] == len(VOCAB) and 0 <= count <= len(VOCAB)
    assert torch.isfinite(weights).all()
    assert not weights[VOCAB.pad_index].any()


def _vectors_case(work: Path, data: bytes) -> None:
    path = fresh(work) / "vectors.txt"
    path.write_bytes(data)
    read_vectors(path)


@FAST
@given(data=RANDOM_BYTES)
def test_vectors_random_bytes(work, data):
    _vectors_case(work, data)


@FAST
@given(data=vector_lines())
def test_vectors_valid_looking(work, data):
    _vectors_case(work, data)


@pytest.mark.slow
@SLOW
@given(data=RANDOM_BYTES, lines=vector_lines())
def test_vectors_long(slow_only, work, data, lines):
    _vectors_case(work, data)
    _vectors_case(work, lines)
