"""How the C allocator treats the memory a CPU training step frees.

A training step allocates and frees the same tensors every step: activations, gradients,
the optimizer's temporaries. glibc's ``malloc`` serves blocks above its mmap threshold
(128 KiB at first) straight from the system, and hands free memory above its trim threshold
back to it; both thresholds adapt to what the program frees, so whether a given run keeps its
memory depends on the order of its first allocations. When it does not, every step maps fresh
pages again and the kernel zeroes each one: on a 2-core machine the tutorial LSTM (2 x 64,
batch 32) took about a thousand page faults a step and ran 1.2-1.9 times slower, in some runs
and not others, with the same code.

``reuse`` fixes both thresholds at the values glibc's adaptive rule settles at for its largest
block (32 MiB served from the heap, 64 MiB of free heap kept), so freed memory is reused from
the first step. Tensors larger than 32 MiB, glibc's ceiling for that threshold, still come
from the system and go back to it: long sequences, whose activations pass that size, fault
their pages in again at every step (``docs/performance.md``). ``heap`` serves every block from
the heap and never hands free heap back, so those are reused too; the process then keeps the
largest heap it ever needed until it ends. The same remedy is what PyTorch's CPU tuning guide
reaches for with jemalloc or tcmalloc; this needs no preloaded library. Other C libraries
(macOS, musl) are left as they are.
"""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

from rnnlab.utils.errors import ConfigError

CpuMemory = Literal["reuse", "heap", "system"]
POLICIES: tuple[str, ...] = get_args(CpuMemory)

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4  # mallopt's, from malloc.h
MMAP_THRESHOLD = 32 * 2**20  # glibc's ceiling for its adaptive mmap threshold on 64-bit
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # glibc keeps the trim threshold at twice the mmap one
NEVER_TRIM = 2**31 - 1  # the largest trim threshold mallopt takes: free heap is never returned


def set_cpu_memory(policy: CpuMemory) -> bool:
    """Apply ``policy`` (``cpu_memory=...``) to this process; return whether glibc took it.

    ``system`` leaves the allocator as it is. The setting holds for the rest of the process,
    and for the processes it forks (``DataLoader`` workers), so only the command-line entry
    points apply it (``python -m rnnlab.train``, before training): ``rnnlab.train.train`` called
    from a notebook leaves the notebook's allocator alone.
    """
    if policy not in POLICIES:
        raise ConfigError(
            f"cpu_memory={policy} is not available; choose one of: {', '.join(POLICIES)}."
        )
    if policy == "system" or not _glibc():
        return False
    if policy == "heap":
        return _mallopt(_M_MMAP_MAX, 0) and _mallopt(_M_TRIM_THRESHOLD, NEVER_TRIM)
    return _mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and _mallopt(
        _M_TRIM_THRESHOLD, TRIM_THRESHOLD
    )


def _mallopt(parameter: int, value: int) -> bool:
    """glibc's ``mallopt(parameter, value)``; whether it took the value."""
    libc = ctypes.CDLL(None)  # this process's own symbols: the glibc it runs on
    return bool(libc.mallopt(parameter, value))


def _glibc() -> bool:
    """Whether this process runs on glibc."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # no such name here: not glibc
        return False


def resident_growth_mib(work: Callable[[], object]) -> float:
    """How far the resident set rose above its level before ``work()`` while it ran, in MiB:
    ``VmHWM`` after it less ``VmRSS`` before, the high-water mark reset first through
    ``/proc/self/clear_refs``. What the process took from the kernel, the allocator's caching
    included; Linux only (the benchmarks' peak-memory columns)."""
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark starts again here
    before = _status_kib("VmRSS")
    work()
    return (_status_kib("VmHWM") - before) / 1024


def _status_kib(key: str) -> int:
    """A ``/proc/self/status`` figure in KiB."""
    return int(re.search(rf"{key}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))
