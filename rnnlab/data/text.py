"""Text as one stream of characters, for character-level language models (``data=text``).

The file is read once to find its characters and once more to encode them into token ids.
Both passes stream the file in blocks, and a file larger than ``max_in_memory_mb`` is encoded
into an array file in a cache folder (reused while the file is unchanged) that training reads
batch by batch, so a text larger than memory trains in bounded memory.

The stream is cut into contiguous train, validation and test spans. The vocabulary is the set
of characters of the training span, in code-point order; a character seen only in the other
spans reads as the unknown token ``\\ufffd``, appended to the vocabulary when needed.

Each span is laid out as ``batch_size`` parallel lanes, and batch ``k`` holds the ``k``-th
chunk of ``seq_len`` characters of every lane, so each batch continues the previous one and a
model can carry its hidden state from one batch to the next.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from rnnlab.data.batch import Batch, ResumableLoader
from rnnlab.data.specs import Inputs, StreamSpec
from rnnlab.utils.atomic import atomic_path, atomic_write_text
from rnnlab.utils.errors import ConfigError, check, check_count
from rnnlab.utils.progress import progress

CORPUS = Path(__file__).with_name("corpus") / "tales.txt"
UNKNOWN = "\ufffd"
_BLOCK = 1 << 22  # characters read at a time
_BAR_FROM = 32 * 2**20  # bytes: a file that large shows a bar while it is read


@dataclass(frozen=True)
class EncodedText:
    """A text as token ids, with its vocabulary and span edges.

    Attributes:
        ids: ``(N,)`` token ids of the whole text; a memory map for a large file.
        vocab: the character of each id.
        bounds: edges of the train, validation and test spans, ``(0, a, b, N)``.
    """

    ids: np.ndarray
    vocab: tuple[str, ...]
    bounds: tuple[int, int, int, int]


def _blocks(path: Path, step: str) -> Iterator[np.ndarray]:
    """The file's characters as code points, a block at a time (newlines read as ``\\n``, a
    leading byte-order mark left out), with a bar named ``step`` for a large file."""
    size = path.stat().st_size
    try:
        with (
            path.open(encoding="utf-8") as file,
            progress(f"{step} {path.name}", size, _BAR_FROM, in_bytes=True) as update,
        ):
            # The mark as Notepad writes it. Not "utf-8-sig": its stream decoder reads a file
            # cut inside the mark as empty text, not as a file that is not UTF-8.
            block = file.read(_BLOCK)
            if block.startswith("\ufeff"):
                block = block[1:] or file.read(_BLOCK)
            while block:
                update(file.buffer.tell())
                yield np.frombuffer(block.encode("utf-32-le"), dtype="<u4")
                block = file.read(_BLOCK)
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"data.path={path} is not UTF-8 text ({error.reason} in a block of the file); "
            "convert it first, for example with scripts/prepare_text.py --encoding latin-1."
        ) from None


def _span_edges(total: int, splits: tuple[float, float, float]) -> tuple[int, int, int, int]:
    a = int(round(total * splits[0]))
    b = int(round(total * (splits[0] + splits[1])))
    return 0, a, b, total


def scan_text(path: Path, splits: tuple[float, float, float]) -> tuple[tuple[str, ...], tuple]:
    """The vocabulary of ``path``'s training span, and the span edges, in one streaming pass."""
    first_seen: dict[int, int] = {}  # code point -> position of its first occurrence
    total = 0
    for codes in _blocks(path, "reading the vocabulary of"):
        points, first = np.unique(codes, return_index=True)
        for point, index in zip(points.tolist(), first.tolist(), strict=True):
            first_seen.setdefault(point, total + index)
        total += len(codes)
    check(total > 0, f"data.path={path} holds no text.")
    bounds = _span_edges(total, splits)
    vocab = [chr(p) for p in sorted(first_seen) if first_seen[p] < bounds[1]]
    if any(first >= bounds[1] for first in first_seen.values()) and UNKNOWN not in vocab:
        vocab.append(UNKNOWN)
    return tuple(vocab), bounds


def encode_text(
    path: Path,
    splits: tuple[float, float, float],
    cache_dir: Path | None = None,
    max_in_memory_mb: float = 64,
) -> EncodedText:
    """Encode ``path`` into token ids: in memory, or for a file over ``max_in_memory_mb``
    into a memory map under ``cache_dir`` that later runs reuse while the file is unchanged."""
    in_memory = path.stat().st_size <= max_in_memory_mb * 2**20
    if not in_memory:
        cache_dir = cache_dir or default_cache_dir()
        stat = path.stat()
        # v2: a byte-order mark is no longer encoded as a character.
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{list(splits)}|v2"
        stem = cache_dir / f"{path.stem}-{hashlib.sha1(key.encode()).hexdigest()[:16]}"
        cached = _load_cached(stem)
        if cached is not None:
            return cached

    vocab, bounds = scan_text(path, splits)
    dtype = np.uint8 if len(vocab) <= 2**8 else np.uint16 if len(vocab) <= 2**16 else np.uint32
    points = np.array([ord(c) for c in vocab], dtype=np.int64)
    unknown = vocab.index(UNKNOWN) if UNKNOWN in vocab else 0  # 0: every character is known
    lookup = np.full(int(points.max()) + 1, unknown)  # code point -> id
    lookup[points] = np.arange(len(vocab))
    if in_memory:
        ids = np.empty(bounds[-1], dtype=dtype)
        _encode_into(ids, path, lookup, unknown)
        return EncodedText(ids, vocab, bounds)
    stem.parent.mkdir(parents=True, exist_ok=True)
    # The array first, its metadata last: a cache entry counts only once both are complete.
    # Written block by block through the file, not through a map, whose written pages would
    # stay resident in this process until it ends.
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": (bounds[-1],)}  # fmt: skip
    with atomic_path(stem.with_suffix(".npy")) as partial, open(partial, "wb") as file:
        np.lib.format.write_array_header_1_0(file, header)
        for block in _encoded_blocks(path, lookup, unknown):
            file.write(block.astype(dtype).tobytes())
    meta = {"vocab": list(vocab), "bounds": list(bounds)}
    atomic_write_text(stem.with_suffix(".json"), json.dumps(meta))
    return _load_cached(stem)


def _encode_into(ids: np.ndarray, path: Path, lookup: np.ndarray, unknown: int) -> None:
    """Fill ``ids`` with the token id of each character of ``path``, by code point."""
    at = 0
    for block in _encoded_blocks(path, lookup, unknown):
        ids[at : at + len(block)] = block
        at += len(block)


def _encoded_blocks(path: Path, lookup: np.ndarray, unknown: int) -> Iterator[np.ndarray]:
    """The token ids of ``path``'s characters, a block at a time."""
    for codes in _blocks(path, "encoding"):
        inside = codes < len(lookup)
        block = np.full(len(codes), unknown, dtype=np.int64)
        block[inside] = lookup[codes[inside]]
        yield block


def _load_cached(stem: Path) -> EncodedText | None:
    array, meta = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if not (array.is_file() and meta.is_file()):
        return None
    info = json.loads(meta.read_text())
    ids = np.load(array, mmap_mode="r")
    return EncodedText(ids, tuple(info["vocab"]), tuple(info["bounds"]))


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/rnnlab/text``, or ``~/.cache/rnnlab/text``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rnnlab" / "text"


class TextStreams(IterableDataset):
    """Consecutive chunks of ``streams`` parallel lanes over ``ids[start:stop]``.

    The span is cut into ``streams * world_size`` lanes of equal length (the remainder, fewer
    characters than lanes, is left out); this rank reads lanes ``rank * streams`` onwards.
    Each batch holds ``x`` ``(streams, T)`` and the next characters ``y`` ``(streams, T)``,
    with ``T = seq_len`` except in a shorter last chunk. :meth:`start_at` makes the next passes
    begin further along the lanes, which is how a resumed run continues an epoch.
    """

    def __init__(
        self,
        ids: np.ndarray,
        start: int,
        stop: int,
        streams: int,
        seq_len: int,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.ids = ids
        self.seq_len = seq_len
        self.lane = (stop - start) // (streams * world_size)
        first = rank * streams
        self.starts = start + self.lane * np.arange(first, first + streams)  # (S,)
        self.first_batch = 0

    def __len__(self) -> int:
        return -(-(self.lane - 1) // self.seq_len)

    def start_at(self, batch: int) -> None:
        """Begin the passes started from now on with chunk number ``batch`` (0: the first)."""
        self.first_batch = batch

    def __iter__(self) -> Iterator[Batch]:
        # Not a generator itself: the first chunk is fixed when the pass begins.
        return self._chunks(self.first_batch * self.seq_len)

    def _chunks(self, first: int) -> Iterator[Batch]:
        with _LaneReader(self.ids) as read:
            for offset in range(first, self.lane - 1, self.seq_len):
                steps = min(self.seq_len, self.lane - 1 - offset)
                chunk = torch.from_numpy(read(self.starts + offset, steps + 1))  # (S, T+1)
                yield Batch(x=chunk[:, :-1], y=chunk[:, 1:])


class _LaneReader:
    """Reads ``count`` ids from each of several positions of ``ids``, as ``(S, count)`` int64.

    An array in memory is indexed. A memory-mapped one (a large file's encoding) is read
    through its file instead, lane by lane: every page a map has touched stays in the
    process' resident set while it is mapped, so an epoch over a map would make the process
    as large as the file, where reads through the file leave the pages to the kernel's cache.
    """

    def __init__(self, ids: np.ndarray):
        self.ids = ids
        self.file = None

    def __enter__(self) -> _LaneReader:
        ids = self.ids
        # Only a map of a whole file (np.load's): a slice of one keeps the file's offset.
        # (Without os.pread, as on Windows, the map is indexed.)
        whole = isinstance(ids, np.memmap) and hasattr(os, "pread")
        if whole and ids.offset + ids.nbytes == os.path.getsize(ids.filename):
            self.file = open(ids.filename, "rb", buffering=0)  # noqa: SIM115
        return self

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.close()

    def __call__(self, starts: np.ndarray, count: int) -> np.ndarray:
        if self.file is None:
            return self.ids[starts[:, None] + np.arange(count)].astype(np.int64)
        size, base, fd = self.ids.dtype.itemsize, self.ids.offset, self.file.fileno()
        lanes = [os.pread(fd, count * size, base + int(start) * size) for start in starts]
        return (
            np.frombuffer(b"".join(lanes), dtype=self.ids.dtype)
            .reshape(len(starts), count)
            .astype(np.int64)
        )


class TextDataModule(L.LightningDataModule):
    """A UTF-8 text file as a character stream for language modelling.

    Args:
        path: the text file; ``None`` reads the small corpus that ships with rnnlab.
        seq_len: characters of each lane in one batch.
        batch_size: parallel lanes in a training batch. Validation and test use as many lanes
            as hold a whole chunk each, up to ``batch_size``.
        splits: fractions of the stream for train, validation and test, in that order; the
            test fraction may be 0 (then run with ``test=false``).
        cache_dir: where large files are encoded; ``None`` for :func:`default_cache_dir`.
        max_in_memory_mb: files up to this size are encoded in memory, larger ones into a
            memory map.
        num_workers: 0 (batches are cut in the main process) or 1 (in one worker); batches
            continue one another, so more workers would break their order.
        seed: unused by the data, which has no randomness; kept for the common interface.
    """

    def __init__(
        self,
        path: str | None = None,
        seq_len: int = 128,
        batch_size: int = 64,
        splits: tuple[float, float, float] = (0.9, 0.05, 0.05),
        cache_dir: str | None = None,
        max_in_memory_mb: float = 64,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        check(path != "", "data.path is empty; give a UTF-8 text file, or leave it unset.")
        self.path = CORPUS if path is None else Path(path).expanduser()
        check(
            self.path.exists(),
            f"data.path={path} does not exist; give a UTF-8 text file, or leave data.path "
            "unset for the corpus that ships with rnnlab.",
        )
        check(self.path.is_file(), f"data.path={path} is not a file; give a UTF-8 text file.")
        check_count("data.seq_len", seq_len, 1)
        check_count("data.batch_size", batch_size, 1)
        check(num_workers in (0, 1), f"data.num_workers={num_workers} must be 0 or 1 for text.")
        check(
            len(splits) == 3
            and splits[0] > 0
            and splits[1] > 0
            and splits[2] >= 0
            and abs(sum(splits) - 1) < 1e-6,
            f"data.splits={list(splits)} must be train, validation and test fractions that "
            "sum to 1, the first two positive.",
        )
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.splits = tuple(splits)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.max_in_memory_mb = max_in_memory_mb
        self.num_workers = num_workers
        self.seed = seed
        self._text: EncodedText | None = None

    @property
    def text(self) -> EncodedText:
        """The encoded file, read on first use."""
        if self._text is None:
            text = encode_text(self.path, self.splits, self.cache_dir, self.max_in_memory_mb)
            lane = (text.bounds[1] - text.bounds[0]) // self.batch_size
            check(
                lane >= 2,
                f"the training span of data.path={self.path} ({text.bounds[1]} characters) is "
                "too short for "
                f"data.batch_size={self.batch_size} lanes of at least 2 characters; "
                "lower data.batch_size or use a longer text.",
            )
            for name, a, b in (("validation", *text.bounds[1:3]), ("test", *text.bounds[2:4])):
                check(
                    b == a or b - a >= 2,
                    f"the {name} span of data.path={self.path} holds {b - a} character; give "
                    "it a larger share in data.splits, or use a longer text.",
                )
            self._text = text
        return self._text

    @property
    def spec(self) -> StreamSpec:
        return StreamSpec(Inputs(vocab=tuple(self.text.vocab)), seq_len=self.seq_len)

    def train_dataloader(self) -> DataLoader:
        return self._loader(0, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(1)

    def test_dataloader(self) -> DataLoader:
        a, b = self.text.bounds[2:4]
        check(
            b > a,
            f"data.splits={list(self.splits)} leaves no test text: train with test=false, and "
            "there is nothing for rnnlab.eval to test.",
        )
        return self._loader(2)

    def _loader(self, span: int, streams: int | None = None) -> DataLoader:
        start, stop = self.text.bounds[span : span + 2]
        rank, world = 0, 1
        if self.trainer is not None:
            rank, world = self.trainer.global_rank, self.trainer.world_size
        if streams is None:  # evaluation: as many lanes as hold a whole chunk each
            streams = max(1, min(self.batch_size, (stop - start - 1) // (self.seq_len * world)))
        dataset = TextStreams(self.text.ids, start, stop, streams, self.seq_len, rank, world)
        # Resumable: a checkpoint in the middle of an epoch continues with its next chunk. Its
        # own generator keeps starting a pass from touching the global random state.
        return ResumableLoader(
            dataset,
            batch_size=None,
            num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.seed),
        )
