"""``cpu_memory=reuse``: memory a step frees is reused, not mapped and faulted in again."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rnnlab.utils.errors import ConfigError
from rnnlab.utils.memory import _glibc, set_cpu_memory
from tests.conftest import run_main

# Each round takes 4 MB in blocks of the given size (100 kB: below glibc's first mmap threshold,
# so from the heap; 40 MB: above the most that ``reuse`` serves from the heap), writes them, and
# frees them all; the minor page faults of each round are printed.
PROBE = """
import json, resource, sys
from rnnlab.utils.memory import set_cpu_memory
applied = set_cpu_memory(sys.argv[1])
size = int(sys.argv[2])
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds = []
for _ in range(10):
    before = faults()
    blocks = [bytearray(size) for _ in range(max(1, 4_000_000 // size))]
    del blocks
    rounds.append(faults() - before)
print(json.dumps({"applied": applied, "rounds": rounds}))
"""


def probe(policy: str, size: int = 100_000) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, policy, str(size)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.skipif(not _glibc(), reason="the setting applies to glibc's malloc only")
def test_reuse_keeps_freed_memory_for_the_next_round():
    system, reuse = probe("system"), probe("reuse")
    assert not system["applied"] and reuse["applied"]
    # glibc's defaults hand the 4 MB back each round and fault ~1,000 pages in again.
    assert min(system["rounds"][1:]) > 500
    # Kept: after the first round, the same memory serves every round.
    assert reuse["rounds"][0] > 500
    assert max(reuse["rounds"][1:]) < 50


@pytest.mark.skipif(not _glibc(), reason="the setting applies to glibc's malloc only")
def test_heap_keeps_blocks_larger_than_reuse_can():
    """A 40 MB block, as a long sequence's activations: ``reuse`` maps it afresh every round
    (about 10,000 pages faulted in), ``heap`` serves it again from the heap."""
    reuse, heap = probe("reuse", 40_000_000), probe("heap", 40_000_000)
    assert reuse["applied"] and heap["applied"]
    assert min(reuse["rounds"][1:]) > 5_000
    assert heap["rounds"][0] > 5_000
    assert max(heap["rounds"][1:]) < 50


def test_an_unknown_policy_is_refused():
    with pytest.raises(ConfigError, match="cpu_memory=fast is not available; choose one of"):
        set_cpu_memory("fast")


def test_the_command_refuses_an_unknown_policy_in_one_line(tmp_path):
    result = run_main("rnnlab.train", "cpu_memory=fast", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: cpu_memory=fast is not available; choose one of: reuse, heap, system."
    ]
