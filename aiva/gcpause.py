"""Keep Python's cyclic garbage collector out of bulk work: pause it while a bulk load builds many
acyclic objects, and freeze a long-lived process's startup heap.

Loading 100,000 stored findings as pydantic models allocates millions of objects that
survive; each allocation burst triggers collections that traverse the ever larger heap,
which measured 4.8 s against 1.0 s without collection for the same 100k rows. The
objects hold no reference cycles, so nothing is leaked by deferring collection until the
load is over. Pauses nest and may overlap across coroutines and threads: the collector
comes back when the last one ends, and only if it was on before the first.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable cyclic collection for the block (nesting-safe); re-enable it when the last pause ends."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def freeze_startup_heap() -> None:
    """Collect once, then move every object alive now (imported modules, the worker's clients) out of
    the collector's sight: they live as long as the process, and each full pass would walk them again.

    Measured: parsing 100k Trivy findings in a process holding the worker's imports, 30-39k/s without,
    46-47k/s with (one run, this machine).
    """
    gc.collect()
    gc.freeze()
