"""Timing shared by the bench scripts (imported as a sibling module: ``from timing import ...``)."""

from __future__ import annotations

import gc
import time
from typing import Callable


def interleaved_best(bodies: dict[str, Callable[[int], None]], count: int, rounds: int) -> dict[str, float]:
    """Seconds per operation for each body (``body(count)`` does ``count`` operations), best of
    ``rounds``; the bodies take turns within each round so background load on a shared machine hits
    them all alike."""
    best = dict.fromkeys(bodies, float("inf"))
    for _ in range(rounds):
        for name, body in bodies.items():
            gc.collect()
            started = time.perf_counter_ns()
            body(count)
            best[name] = min(best[name], (time.perf_counter_ns() - started) / count / 1e9)
    return best
