"""Sequences of image frames that a user brings (``data=frames``), for CNN+RNN models.

Frames are ``(N, T, C, H, W)`` (or ``(N, T, H, W, C)`` with ``channels_last``) with any number
of channels, such as the bands of a multispectral time series. They come from an ``.npz``
file, an ``.npy`` file with its labels beside it, or a folder of one ``.npy`` per sample
(whose lengths may differ). Labels are one per sequence ``(N,)`` (classification) or one per
step ``(N, T)`` (tagging), integers or strings.

Frames are never loaded whole: ``.npy`` files and uncompressed ``.npz`` members are
memory-mapped, a compressed member is extracted once to a cached ``.npy`` and mapped, and a
batch reads only its own samples. Each channel is standardised on the fly with the mean and
standard deviation of the training split, computed a chunk at a time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from rnnlab.data.batch import IGNORE, Batch, InMemoryDataModule
from rnnlab.data.specs import ClassesSpec, Inputs
from rnnlab.data.splits import check_splits, stratified_split
from rnnlab.data.text_cls import SPLIT_NAMES, read_table
from rnnlab.utils.atomic import atomic_open
from rnnlab.utils.errors import ConfigError, check

_CHUNK_BYTES = 1 << 26  # float64 bytes per chunk when the training split's statistics stream
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # zip local file header: signature, name/extra sizes
Frames = np.ndarray | list[Path]  # an (N, T, C, H, W) array, or one .npy path per sample
# What numpy raises on a damaged .npy: a bad header (ValueError, SyntaxError, TokenError), a
# short file (EOFError), a shape the file cannot hold (ValueError, OSError, OverflowError).
_NPY_ERRORS = (ValueError, EOFError, OSError, SyntaxError, OverflowError, tokenize.TokenError)
# What zipfile adds on a damaged .npz: a bad archive or member (BadZipFile, struct.error), a
# broken compressed stream (zlib.error), a compression method it lacks (zipfile raises
# NotImplementedError for that, as for a damaged method field).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, struct.error)


def _listed(names: Sequence[str]) -> str:
    """Array names for a sentence: plain ones as they are, others (a damaged name can hold a
    line break) quoted; at most ten."""
    shown = [n if n.isidentifier() else repr(n[:40]) for n in names[:10]]
    return ", ".join(shown) + (", ..." if len(names) > 10 else "") if shown else "none"


def _reason(error: BaseException) -> str:
    """``error``'s message on one short line, without a closing full stop."""
    text = " ".join(str(error).split()).rstrip(".") or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def map_npy_member(path: Path, key: str, cache_dir: Path | None = None) -> np.memmap:
    """The array ``key`` of the ``.npz`` file ``path``, memory-mapped read-only.

    A stored (uncompressed) member is mapped where it lies inside the zip file; a compressed
    one is extracted once to ``cache_dir`` (``<temp>/rnnlab-frames`` by default), under a name
    that changes with the file's path, size and modification time, and mapped from there.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.removesuffix(".npy") for n in archive.namelist()]
            if key not in names:
                raise ConfigError(
                    f"{path} has no array {key!r} (data.frames_key); its arrays are: "
                    f"{_listed(names)}."
                )
            info = archive.getinfo(f"{key}.npy")
            if info.compress_type == zipfile.ZIP_STORED:
                return _map_stored(path, info)
            return _map_extracted(path, archive, info, cache_dir)
    except ConfigError:
        raise
    except (*_ZIP_ERRORS, *_NPY_ERRORS) as error:
        raise ConfigError(
            f"{path} is not a readable .npz file, a zip of .npy arrays ({_reason(error)})."
        ) from None


def _map_stored(path: Path, info: zipfile.ZipInfo) -> np.memmap:
    with path.open("rb") as file:
        file.seek(info.header_offset)
        signature, name_size, extra_size = _LOCAL_HEADER.unpack(file.read(_LOCAL_HEADER.size))
        check(signature == b"PK\x03\x04", f"{path} is not a readable .npz file.")
        file.seek(name_size + extra_size, os.SEEK_CUR)  # now at the member's .npy bytes
        try:
            version = np.lib.format.read_magic(file)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
            else:  # 2.0 and 3.0 share the layout
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(file)
        except _NPY_ERRORS as error:
            raise ConfigError(
                f"{info.filename} in {path} is not a readable .npy array ({_reason(error)})."
            ) from None
        offset = file.tell()
    check(not dtype.hasobject, f"{info.filename} in {path} holds Python objects, not numbers.")
    order = "F" if fortran else "C"
    try:
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
    except _NPY_ERRORS as error:  # a shape larger than what the file holds
        raise ConfigError(
            f"{info.filename} in {path} is cut short or damaged: its header says {shape} "
            f"{dtype} ({_reason(error)})."
        ) from None


def _map_extracted(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, cache_dir: Path | None
) -> np.memmap:
    stat = path.stat()
    stamp = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{info.filename}"
    folder = cache_dir or Path(tempfile.gettempdir()) / "rnnlab-frames"
    cached = folder / f"{hashlib.sha256(stamp.encode()).hexdigest()[:24]}.npy"
    if not cached.exists():
        folder.mkdir(parents=True, exist_ok=True)
        # A run killed midway leaves at most a stray temporary, never a truncated .npy.
        with archive.open(info) as source, atomic_open(cached, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 22)
    return _map_npy(cached, f"{info.filename} in {path}")


def _map_npy(path: Path, name: str | None = None) -> np.memmap:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (*_NPY_ERRORS, *_ZIP_ERRORS) as error:  # objects, a damaged file, not an .npy
        raise ConfigError(
            f"{name or path} is not a readable .npy array of numbers ({_reason(error)})."
        ) from None
    if not isinstance(array, np.ndarray):  # np.load opens a zip as an .npz archive
        _close(array)
        raise ConfigError(f"{name or path} is an .npz archive, not an .npy array.")
    return array


def _load_small(path: Path) -> np.ndarray:
    """A whole ``.npy`` of labels or split names."""
    try:
        array = np.load(path, allow_pickle=False)
    except (*_NPY_ERRORS, *_ZIP_ERRORS) as error:
        raise ConfigError(
            f"{path} is not a readable .npy array ({_reason(error)}); save labels as integers "
            "or as strings (np.array(labels, dtype=str)), not as Python objects."
        ) from None
    if not isinstance(array, np.ndarray):
        _close(array)
        raise ConfigError(f"{path} is an .npz archive, not an .npy array of labels.")
    return array


def _readable_strings(array: np.ndarray) -> bool:
    """Whether string ``array`` items are text: a damaged file can hold code points past
    U+10FFFF, or bytes that are not UTF-8, which Python cannot turn into ``str``."""
    if array.dtype.kind == "U" and array.size:
        return int(np.ascontiguousarray(array).view(np.uint32).max()) <= 0x10FFFF
    if array.dtype.kind == "S":
        try:
            [item.decode("utf-8") for item in array.reshape(-1).tolist()]
        except UnicodeDecodeError:
            return False
    return True


def _close(loaded: object) -> None:
    """Close what ``np.load`` opened when it is not an array (an ``NpzFile``)."""
    close = getattr(loaded, "close", None)
    if close is not None:
        close()


def channel_stats(
    frames: Frames, rows: np.ndarray, channels_last: bool
) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of each channel over the samples ``rows`` of ``frames``.

    Chunks are read one at a time and merged with Chan et al.'s pairwise update, so memory
    stays at one chunk and the variance suffers no cancellation. A constant channel gets a
    standard deviation of 1, so that standardising it leaves it at 0.
    """
    axis = -1 if channels_last else -3
    count, mean, m2 = 0, 0.0, 0.0
    for chunk in _chunks(frames, rows):
        axes = tuple(a for a in range(chunk.ndim) if a != chunk.ndim + axis)
        size = chunk.size // chunk.shape[axis]
        chunk_mean = chunk.mean(axis=axes, dtype=np.float64, keepdims=True)
        chunk_m2 = np.square(chunk - chunk_mean).sum(axis=axes)  # (C,)
        delta = chunk_mean.reshape(-1) - mean
        total = count + size
        mean = mean + delta * size / total
        m2 = m2 + chunk_m2 + np.square(delta) * count * size / total
        count = total
    std = np.sqrt(m2 / count)
    return np.asarray(mean).tolist(), np.where(std > 0, std, 1.0).tolist()


def _chunks(frames: Frames, rows: np.ndarray) -> Iterator[np.ndarray]:
    """The samples ``rows`` (sorted), a few at a time: ``(k, T, ...)`` or one ``(T_i, ...)``."""
    rows = np.sort(rows)
    if isinstance(frames, list):
        yield from (_map_npy(frames[i]) for i in rows)
        return
    step = max(1, _CHUNK_BYTES // (8 * int(np.prod(frames.shape[1:]))))
    for start in range(0, len(rows), step):
        yield frames[rows[start : start + step]]


class FrameDataset(Dataset):
    """Frame sequences gathered a batch at a time from memory-mapped storage.

    Indexing with a tensor of ``B`` indices reads those samples in file order, converts them
    to float32 ``(B, T, C, H, W)``, standardises each channel and returns a :class:`Batch`.

    Args:
        frames: ``(N, T, C, H, W)`` (or channels-last) array, usually a ``np.memmap``, or one
            ``.npy`` path per sample, ``(T_i, C, H, W)`` each.
        rows: which of the ``N`` samples this dataset holds, ``(S,)``.
        targets: ``(S,)`` class indices, or ``(S, T)`` per step with ``IGNORE`` on padding.
        lengths: ``(S,)`` steps of each sample where they differ, else ``None``.
        channels_last: ``frames`` are ``(..., H, W, C)``.
        mean, std: per-channel statistics to standardise with; ``None`` keeps the values.
        source: the file or folder the frames came from, named when a sample holds a value
            that is not a finite float32 (checked batch by batch: the frames are never read
            whole).
    """

    def __init__(
        self,
        frames: Frames,
        rows: np.ndarray,
        targets: torch.Tensor,
        lengths: torch.Tensor | None = None,
        channels_last: bool = False,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        source: Path | None = None,
    ):
        self.frames, self.rows, self.targets, self.lengths = frames, rows, targets, lengths
        self.source = source
        self.channels_last = channels_last
        self.aligned = targets.ndim == 2
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32)[:, None, None]
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32)[:, None, None]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: torch.Tensor | int) -> Batch:
        index = torch.as_tensor(index).reshape(-1)  # (B,)
        # Read each sample once, in file order, then put the batch back in its own order.
        rows, inverse = np.unique(self.rows[index.numpy()], return_inverse=True)
        samples = self._read(rows)  # (b, T, C, H, W)
        finite = np.isfinite(samples).reshape(len(rows), -1).all(1)  # (b,)
        if not finite.all():
            row = int(rows[finite.argmin()])
            name = self.frames[row].name if isinstance(self.frames, list) else f"sample {row}"
            raise ConfigError(
                f"{self.source or 'the frames'}: {name} holds NaN, infinite or out-of-range "
                "values; frames must be finite numbers within float32's range (±3.4e38)."
            )
        x = torch.from_numpy(samples)[torch.from_numpy(inverse.reshape(-1))]
        if self.mean is not None:
            x = x.sub_(self.mean).div_(self.std)  # (B, T, C, H, W), x is a fresh copy
        y = self.targets[index]  # (B,) or (B, T_max)
        if self.lengths is None:
            return Batch(x, y)
        lengths = self.lengths[index]  # (B,)
        mask = torch.arange(x.shape[1])[None] < lengths[:, None]  # (B, T)
        x[~mask] = 0.0  # padding stays zero whatever the statistics
        return Batch(x, y[:, : x.shape[1]] if self.aligned else y, lengths, mask)

    def _read(self, rows: np.ndarray) -> np.ndarray:
        """Float32 channels-first samples ``rows`` (sorted), zero-padded to the longest."""
        if not isinstance(self.frames, list):
            x = self.frames[rows]  # one sorted gather from the memory map
            x = np.moveaxis(x, -1, 2) if self.channels_last else x
            with np.errstate(over="ignore"):  # past float32's range: inf, refused by the caller
                return np.ascontiguousarray(x, dtype=np.float32)  # (B, T, C, H, W)
        samples = [_map_npy(self.frames[i]) for i in rows]  # (T_i, ...) each
        samples = [np.moveaxis(s, -1, 1) if self.channels_last else s for s in samples]
        steps = max(len(s) for s in samples)
        out = np.zeros((len(samples), steps, *samples[0].shape[1:]), np.float32)
        with np.errstate(over="ignore"):
            for out_row, sample in zip(out, samples, strict=True):
                out_row[: len(sample)] = sample
        return out  # (B, T, C, H, W)

    def __getstate__(self) -> dict:
        # Pickling a np.memmap copies its data; a worker process reopens the file instead.
        state = dict(self.__dict__)
        if isinstance(self.frames, np.memmap):
            m = self.frames
            order = "F" if m.flags.f_contiguous and not m.flags.c_contiguous else "C"
            state["frames"] = (m.filename, m.dtype, m.offset, m.shape, order)
        return state

    def __setstate__(self, state: dict) -> None:
        if isinstance(state["frames"], tuple):
            filename, dtype, offset, shape, order = state["frames"]
            state["frames"] = np.memmap(filename, dtype, "r", offset, shape, order)
        self.__dict__.update(state)


class FramesDataModule(InMemoryDataModule):
    """Frame sequences with a label per sequence or per step, from ``.npz``/``.npy`` files.

    Args:
        path: one of: an ``.npz`` with the arrays ``frames_key`` and ``labels_key``; an
            ``.npy`` of frames with its labels in ``labels_path``, ``<stem>_labels.npy`` or
            ``labels.npy`` beside it; a folder of one ``.npy`` per sample (sorted by name)
            with a ``labels.csv`` (columns ``file,label``) or a ``labels.npy`` in that order.
        frames_key, labels_key: array names inside an ``.npz``.
        labels_path: an ``.npy`` of labels (or, for a folder, a ``file,label`` CSV) to use
            instead of those found beside the frames.
        channels_last: frames are ``(..., H, W, C)`` rather than ``(..., C, H, W)``.
        split_key: an ``.npz`` array (or ``labels.csv`` column) of ``train``/``val``/``test``
            per sample; ``None``: split by ``splits``.
        splits: train, validation and test fractions; stratified by class for sequence labels.
        normalize: standardise each channel with the training split's mean and std.
        batch_size, num_workers, seed: as for :class:`InMemoryDataModule`; the seed also
            draws the split.
        cache_dir: where a compressed ``.npz`` member is extracted to; ``None``:
            ``<system temp>/rnnlab-frames``.

    Per-step integer labels of ``-100`` mark steps to skip; in a folder of samples of
    different lengths, per-step labels are ``(N, T_max)`` and steps past a sample's end are
    skipped.
    """

    def __init__(
        self,
        path: str | None = None,
        frames_key: str = "frames",
        labels_key: str = "labels",
        labels_path: str | None = None,
        channels_last: bool = False,
        split_key: str | None = None,
        splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
        normalize: bool = True,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | None = None,
    ):
        super().__init__(batch_size, num_workers, seed)
        check(
            bool(path),
            "data.path is not set; give an .npz file, an .npy file of frames, or a folder of "
            "per-sample .npy files.",
        )
        self.path = Path(path).expanduser()
        check(
            self.path.exists(),
            f"data.path={path} does not exist; give an .npz file, an .npy file of frames, or "
            "a folder of per-sample .npy files.",
        )
        check_splits(splits)
        self.frames_key, self.labels_key, self.split_key = frames_key, labels_key, split_key
        self.labels_path = Path(labels_path).expanduser() if labels_path else None
        self.channels_last, self.normalize = channels_last, normalize
        self.splits = tuple(splits)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.frames: Frames = []  # the memory map, or the folder's sample paths
        self.classes: list[str] = []
        self.aligned = False
        self.sample_shape: tuple[int, ...] = ()  # (T_max, C, H, W)
        self.channel_mean: list[float] = []
        self.channel_std: list[float] = []

    @property
    def spec(self) -> ClassesSpec:
        self.setup()
        _, channels, height, width = self.sample_shape
        return ClassesSpec(
            Inputs(frame_shape=(channels, height, width)),
            class_names=tuple(map(str, self.classes)),
            aligned=self.aligned,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        read = {".npz": self._read_npz, ".npy": self._read_npy}.get(self.path.suffix.lower())
        if self.path.is_dir():
            read = self._read_folder
        check(
            read is not None,
            f"data.path={self.path} is not an .npz file, an .npy file or a folder.",
        )
        self.frames, labels, lengths, names, where = read()
        targets = self._encode(labels, lengths, where)
        parts = self._split(targets, names, where)
        channels = self.sample_shape[1]
        self.channel_mean, self.channel_std = [0.0] * channels, [1.0] * channels
        if self.normalize:  # from the training split only
            self.channel_mean, self.channel_std = channel_stats(
                self.frames, parts[0].numpy(), self.channels_last
            )
            limit = np.finfo(np.float32).max  # batches are standardised in float32
            check(
                all(abs(v) <= limit for v in self.channel_mean + self.channel_std),  # NaN fails
                f"{self.path}: the training frames hold NaN, infinite or out-of-range values; "
                "frames must be finite numbers within float32's range (±3.4e38).",
            )
        stats = (self.channel_mean, self.channel_std) if self.normalize else (None, None)
        varying = lengths is not None and bool((lengths != lengths[0]).any())
        for split, index in zip(("train", "val", "test"), parts, strict=True):
            self.datasets[split] = FrameDataset(
                self.frames, index.numpy(), targets[index], lengths[index] if varying else None,
                self.channels_last, *stats, source=self.path,
            )  # fmt: skip

    # Each reader returns frames, raw labels, lengths (folder only), split names and where the
    # labels came from, after checking the frames' shape.

    def _read_npz(self):
        frames = map_npy_member(self.path, self.frames_key, self.cache_dir)
        self.sample_shape = self._frame_shape(frames.shape, frames.dtype, f"frames in {self.path}")
        try:
            npz = np.load(self.path, allow_pickle=False)
        except (*_ZIP_ERRORS, *_NPY_ERRORS) as error:
            raise ConfigError(
                f"{self.path} is not a readable .npz file, a zip of .npy arrays ({_reason(error)})."
            ) from None
        check(
            isinstance(npz, np.lib.npyio.NpzFile),
            f"{self.path} is not a readable .npz file: it does not start as a zip archive.",
        )
        with npz:
            labels = self._member(npz, "labels_key") if self.labels_path is None else None
            names = self._member(npz, "split_key") if self.split_key is not None else None
        if self.labels_path is not None:
            labels = _load_small(self.labels_path)
        return frames, labels, None, names, self.labels_path or self.path

    def _member(self, npz, option: str) -> np.ndarray:
        key = getattr(self, option)
        check(
            key in npz.files,
            f"{self.path} has no array {key!r} (data.{option}); its arrays are: "
            f"{_listed(npz.files)}.",
        )
        try:
            return npz[key]
        except (*_ZIP_ERRORS, *_NPY_ERRORS) as error:  # Python objects, or a damaged member
            raise ConfigError(
                f"{key!r} in {self.path} is not a readable array ({_reason(error)}); save it as "
                "integers or strings (np.array(labels, dtype=str))."
            ) from None

    def _read_npy(self):
        check(
            self.split_key is None,
            f"data.split_key={self.split_key!r} needs an .npz file or a folder's labels.csv; "
            f"{self.path} is a single .npy, so leave it unset and use data.splits.",
        )
        frames = _map_npy(self.path)
        self.sample_shape = self._frame_shape(frames.shape, frames.dtype, f"frames in {self.path}")
        where = self.labels_path
        if where is None:
            beside = [self.path.with_name(f"{self.path.stem}_labels.npy")]
            beside.append(self.path.with_name("labels.npy"))
            where = next((p for p in beside if p.is_file()), None)
            check(
                where is not None,
                f"no labels for {self.path}: set data.labels_path, or put them in "
                f"{beside[0].name} or labels.npy beside it.",
            )
        return frames, _load_small(where), None, None, where

    def _read_folder(self):
        files = sorted(p for p in self.path.glob("*.npy") if p.name != "labels.npy")
        check(files, f"data.path={self.path} is a folder without .npy samples.")
        shapes = []  # (T_i, C, H, W) of each sample
        for file in files:
            sample = _map_npy(file)  # reads the header only
            shapes.append(self._frame_shape(sample.shape, sample.dtype, f"sample {file}"))
            check(
                shapes[-1][1:] == shapes[0][1:],
                f"sample {file.name} is {sample.shape} but {files[0].name} is "
                f"{_map_npy(files[0]).shape}; every sample needs the same channels and frame size.",
            )
        lengths = torch.tensor([s[0] for s in shapes])
        self.sample_shape = (int(lengths.max()), *shapes[0][1:])
        where = self.labels_path
        if where is None:
            found = [self.path / "labels.csv", self.path / "labels.npy"]
            where = next((p for p in found if p.is_file()), None)
            check(
                where is not None,
                f"data.path={self.path} has no labels.csv (columns file,label) or labels.npy; "
                "add one, or set data.labels_path.",
            )
        names = None
        if where.suffix.lower() == ".npy":
            check(
                self.split_key is None,
                f"data.split_key={self.split_key!r} needs a labels.csv with that column; "
                f"{where} is an .npy.",
            )
            labels = _load_small(where)
        else:
            labels, names = self._read_label_table(where, files)
        return files, labels, lengths, names, where

    def _read_label_table(self, where: Path, files: list[Path]):
        columns = ["file", "label", *([self.split_key] if self.split_key else [])]
        rows, lines = read_table(where, columns)
        found = {}  # file stem: [label] or [label, split]
        for row, line in zip(rows, lines, strict=True):
            stem = row[0].strip().removesuffix(".npy")
            check(
                (self.path / f"{stem}.npy").is_file(),
                f"{where}, line {line}: there is no sample {row[0]!r} in {self.path}.",
            )
            check(stem not in found, f"{where}, line {line}: {row[0]!r} is labelled twice.")
            found[stem] = row[1:]
        missing = [f.name for f in files if f.stem not in found]
        check(not missing, f"{where} has no label for {', '.join(missing[:3])}.")
        table = np.array([found[f.stem] for f in files], dtype=str)  # (N, 1 or 2)
        return table[:, 0], table[:, 1] if self.split_key else None

    def _frame_shape(self, shape: tuple[int, ...], dtype: np.dtype, what: str):
        """``(T, C, H, W)`` of frames ``(N, T, ...)`` or of a ``sample`` ``(T, ...)``."""
        one = what.startswith("sample")
        verb, dims = ("is", 4) if one else ("are", 5)
        must = "each sample must be (T, C, H, W), or (T, H, W, C)" if one else (
            "frames must be (N, T, C, H, W), or (N, T, H, W, C)"
        )  # fmt: skip
        check(
            len(shape) == dims,
            f"{what} {verb} {tuple(shape)} — {len(shape)} dimensions; {must} with "
            "data.channels_last=true.",
        )
        check(min(shape) > 0, f"{what} {verb} {tuple(shape)}; no dimension may be empty.")
        check(
            dtype.kind in "biuf",
            f"{what} {verb} of type {dtype}; frames must be numbers (bool, integer or float).",
        )
        steps, *frame = shape[-4:]
        channels, height, width = frame[2:] + frame[:2] if self.channels_last else frame
        return (steps, channels, height, width)

    def _encode(self, labels: np.ndarray, lengths: torch.Tensor | None, where: Path):
        """Class indices ``(N,)`` or ``(N, T)`` (``IGNORE`` where skipped); sets the classes."""
        count = len(self.frames)
        steps = self.sample_shape[0]
        check(
            labels.ndim in (1, 2),
            f"labels in {where} are {labels.shape}; give one label per sequence (N,) or one "
            "per step (N, T).",
        )
        check(
            len(labels) == count,
            f"there are {count} frame sequences in {self.path} but {len(labels)} labels in "
            f"{where}; give one label (or one row of per-step labels) per sequence.",
        )
        self.aligned = labels.ndim == 2
        check(
            not self.aligned or labels.shape[1] == steps,
            f"per-step labels in {where} are {labels.shape} but the frames have {steps} steps"
            f"{' (the longest sample)' if lengths is not None else ''}; per-step labels must "
            f"be ({count}, {steps}).",
        )
        if labels.dtype.kind == "f":
            check(
                bool(np.isfinite(labels).all() and (labels == np.round(labels)).all()),
                f"labels in {where} are fractions; give class numbers or names.",
            )
            labels = labels.astype(np.int64)
        check(
            labels.dtype.kind in "biuUS",
            f"labels in {where} are of type {labels.dtype}; give integers or strings.",
        )
        check(_readable_strings(labels), f"labels in {where} are strings that are not text.")
        valid = np.ones(labels.shape, bool)
        if self.aligned and lengths is not None:
            valid &= np.arange(steps)[None] < lengths.numpy()[:, None]
        if self.aligned and labels.dtype.kind in "iu":
            valid &= labels != IGNORE  # a step the user marked to skip
        values, index = np.unique(labels[valid], return_inverse=True)
        self.classes = [v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()]
        check(
            len(self.classes) >= 2,
            f"labels in {where} name {len(self.classes)} class(es) "
            f"({', '.join(self.classes) or 'none'}); classification needs at least two.",
        )
        targets = np.full(labels.shape, IGNORE, np.int64)
        targets[valid] = index.reshape(-1)
        return torch.from_numpy(targets)

    def _split(self, targets: torch.Tensor, names: np.ndarray | None, where: Path):
        """Each split's sample indices, from the file's names or by ``splits``."""
        if names is None:
            strata = targets if not self.aligned else torch.zeros(len(targets), dtype=torch.long)
            parts = stratified_split(strata, self.splits, self.seed)
        else:
            check(
                _readable_strings(names),
                f"data.split_key={self.split_key!r} in {where} holds strings that are not text.",
            )
            text = np.char.decode(names, "utf-8") if names.dtype.kind == "S" else names.astype(str)
            names = np.char.lower(np.char.strip(text)).reshape(-1)
            check(
                len(names) == len(targets),
                f"data.split_key={self.split_key!r} in {where} names {len(names)} splits for "
                f"{len(targets)} sequences.",
            )
            bad = [n for n in names if n not in SPLIT_NAMES]
            check(
                not bad,
                f"data.split_key={self.split_key!r} holds {bad[:1]}; each must be train, val "
                "or test.",
            )
            code = torch.tensor([SPLIT_NAMES[n] for n in names])
            parts = [(code == i).nonzero().flatten() for i in range(3)]
        for split, index in zip(("train", "validation", "test"), parts, strict=True):
            check(
                len(index) > 0,
                f"the {split} split of data.path={self.path} is empty ({len(targets)} "
                f"sequences); add sequences or change data.splits.",
            )
        return parts
