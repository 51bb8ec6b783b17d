import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from rnnlab.utils.atomic import (
    PARTIAL_GLOB,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
)


class Boom(Exception):
    pass


def test_text_and_bytes_replace_the_file_and_leave_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    assert atomic_write_text(path, "{}\n") == path
    atomic_write_text(path, 'ü\r\n"new"\n')
    assert path.read_bytes() == 'ü\r\n"new"\n'.encode()  # UTF-8, newlines as given
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_a_writer_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path, error):
    path = tmp_path / "report.md"
    path.write_text("old, complete\n")
    with pytest.raises(error), atomic_open(path) as file:
        file.write("new, half")
        file.flush()
        raise error
    assert path.read_text() == "old, complete\n"
    assert list(tmp_path.iterdir()) == [path]


def test_a_path_writer_fills_a_hidden_temporary_beside_the_target(tmp_path):
    path = tmp_path / "ids.npy"
    with atomic_path(path) as partial:
        assert partial.parent == tmp_path and partial.match(PARTIAL_GLOB)
        # Nothing that lists the folder for the target's name or suffix may take it for one.
        assert path.stem not in partial.name and path.suffix not in partial.name
        assert not path.exists()
        ids = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(5,))
        ids[:] = np.arange(5)
        ids.flush()
        del ids
    np.testing.assert_array_equal(np.load(path), np.arange(5))
    assert list(tmp_path.iterdir()) == [path]
    with pytest.raises(Boom), atomic_path(path) as partial:
        with partial.open("wb") as file:
            np.save(file, np.zeros(3))
        raise Boom
    np.testing.assert_array_equal(np.load(path), np.arange(5))
    assert list(tmp_path.iterdir()) == [path]


def test_concurrent_writers_of_one_target_get_their_own_temporaries(tmp_path):
    path = tmp_path / "study.yaml"
    with atomic_open(path) as first, atomic_open(path) as second:
        assert first.name != second.name
        first.write("first\n")
        second.write("second\n")
    assert path.read_text() == "first\n"  # the last to finish wins, whole
    assert list(tmp_path.iterdir()) == [path]


def test_the_replaced_file_keeps_the_permissions_of_the_old_one(tmp_path):
    path = tmp_path / "shared.csv"
    path.write_text("a\n")
    path.chmod(0o640)
    atomic_write_text(path, "b\n")
    assert path.stat().st_mode & 0o777 == 0o640


# A writer that rewrites one file again and again, each version a run of one byte value with
# that value as its last byte too, so a reader can tell a complete version from a torn one.
WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from rnnlab.utils.atomic import atomic_open

    path, plain = Path(sys.argv[1]), sys.argv[2] == "plain"
    chunk = 1 << 16
    print("ready", flush=True)
    for version in range(10**9):
        value = bytes([version % 251])
        with (path.open("wb") if plain else atomic_open(path, "wb")) as file:
            for _ in range(32):  # 2 MiB in chunks, as torch.save writes a checkpoint
                file.write(value * chunk)
    """
)


def torn_versions(path, plain: bool, kills: int, seed: int = 0) -> int:
    """Start the writer ``kills`` times, SIGKILL it after a random short delay, and count the
    times the file it leaves is not one complete version."""
    rng = np.random.default_rng(seed)
    torn = 0
    for _ in range(kills):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), "plain" if plain else "atomic"],
            stdout=subprocess.PIPE,
        )
        assert writer.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.02, 0.2))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        data = path.read_bytes() if path.exists() else None
        if data is not None and (len(data) != 32 << 16 or data.count(data[-1:]) != len(data)):
            torn += 1
    return torn


@pytest.mark.parametrize("plain", [True, False], ids=["plain_write_is_torn", "atomic"])
def test_a_file_rewritten_until_killed_is_always_complete(tmp_path, plain):
    path = tmp_path / "state.bin"
    torn = torn_versions(path, plain, kills=4)
    # The plain control shows that the kills land mid-write, so the atomic pass means something.
    assert (torn > 0) if plain else (torn == 0)
    if not plain:
        assert [p.name for p in tmp_path.iterdir() if not p.match(PARTIAL_GLOB)] == [path.name]
