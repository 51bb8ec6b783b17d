"""Files replaced whole or not at all: every file rnnlab writes goes through here.

A writer fills a temporary file in the target's own folder, the temporary is flushed and
``fsync``-ed, and ``os.replace`` puts it in place in one step. A process killed at any moment
leaves either the previous complete file or the new complete one, never a truncated one; at
worst a stray temporary (see :data:`PARTIAL_GLOB`) is left beside it. On an error the
temporary is removed and the target is untouched.

The temporary sits in the same folder because a rename is only atomic within one file
system (a temporary in ``/tmp`` would be copied onto a target elsewhere, byte by byte). Its
name is hidden and holds neither the target's name nor its suffix, so nothing that lists the
folder for a pattern (Lightning's ``last*.ckpt`` or ``hpc_ckpt_<n>``, a ``*.ckpt`` glob)
takes a stray temporary for a real file; a writer that infers a format from the file name
must therefore be told the format (``savefig(..., format="png")``).

This module imports nothing beyond the standard library, so light entry points can use it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

PARTIAL_GLOB = ".*.partial"
"""Matches the temporaries this module writes (and a killed process may leave behind)."""


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Replace ``path`` by a file holding ``text``, whole or not at all. Returns the path."""
    with atomic_open(path, "w", encoding=encoding) as file:
        file.write(text)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Replace ``path`` by a file holding ``data``, whole or not at all. Returns the path."""
    with atomic_open(path, "wb") as file:
        file.write(data)
    return Path(path)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike, mode: Literal["w", "wb"] = "w", encoding: str | None = None
) -> Iterator[IO]:
    """A file open for writing whose content replaces ``path`` when the block ends without
    an error; newlines are written as given (no translation).

    Args:
        path: the file to replace; its folder must exist.
        mode: ``"w"`` for text, ``"wb"`` for bytes.
        encoding: the text encoding (``"utf-8"`` when unset); ``None`` for bytes.
    """
    text = mode == "w"
    encoding = (encoding or "utf-8") if text else None
    newline = "" if text else None  # text as given: "\n" stays "\n" on every system
    with (
        atomic_path(path) as partial,
        open(partial, mode, encoding=encoding, newline=newline) as file,
    ):
        yield file


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that takes a path (``np.lib.format.
    open_memmap``, ``figure.savefig``, ``torch.save``); when the block ends without an error
    the file written there is synced and replaces ``path``, otherwise it is removed.

    The writer must have closed (or flushed) the file by the end of the block. An existing
    ``path`` passes its permission bits on to the file that replaces it.
    """
    path = Path(path)
    # pid and random token: unique per process and per call, so concurrent writers (two
    # runs, two threads) of the same target never share a temporary.
    partial = path.with_name(f".{os.getpid()}-{secrets.token_hex(6)}.partial")
    # Created here (exclusively, with the usual 0o666 less the umask) so the name is ours.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield partial
        _sync_file(partial)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(partial, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(partial, path)
    except BaseException:
        # BaseException too: a KeyboardInterrupt mid-write must not leave a temporary.
        partial.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_file(path: Path) -> None:
    """Put ``path``'s bytes on disk, so that after a crash the rename never points at an
    empty file (the data and the rename may otherwise reach the disk in either order)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Put the rename itself on disk; a best effort, as not every system can open a folder."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
