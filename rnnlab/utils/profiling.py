"""The profiler a run uses when none is asked for."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from lightning.pytorch.profilers import PassThroughProfiler

_NOTHING = nullcontext()


class NullProfiler(PassThroughProfiler):
    """Lightning's default pass-through profiler, without its cost per call.

    Lightning wraps every hook it calls, on the module and on each callback, in
    ``profiler.profile(name)``: about 150 times per training step. The pass-through profiler
    records nothing, yet builds a generator-based context manager each time (0.7 µs, against
    0.1 µs for one shared null context), about 0.1 ms of a small recurrent net's 2 ms step on a
    CPU. A profiler asked for (``trainer.profiler=simple``, ``debug=profiler``) replaces this one.
    """

    def profile(self, action_name: str) -> AbstractContextManager:
        return _NOTHING
