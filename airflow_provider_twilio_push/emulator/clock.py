"""The emulated clock, and the one date format of the wire."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

#: Epoch seconds carry ~2.4e-7 s of float error; comparisons allow this much, so that advancing
#: the clock by exactly a duration gets there.
TIME_EPSILON = 1e-6


def iso(timestamp: float) -> str:
    """``2024-01-15T09:30:00Z``: UTC, whole seconds (rounded down)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.floor(timestamp)))


class Clock:
    """Emulated time: real time plus whatever was advanced, and it can stand still (frozen).

    It never goes backwards; ``reset`` brings it back to real time and unfreezes it.
    """

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.reset()

    def reset(self) -> None:
        self._base = self._wall()
        self._base_monotonic = self._monotonic()
        self.frozen = False

    def now(self) -> float:
        if self.frozen:
            return self._base
        return self._base + (self._monotonic() - self._base_monotonic)

    def freeze(self) -> None:
        if not self.frozen:
            self._base = self.now()
            self.frozen = True

    def unfreeze(self) -> None:
        if self.frozen:
            self._base_monotonic = self._monotonic()
            self.frozen = False

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock cannot go backwards")
        self._base += seconds

    def to_json(self) -> dict[str, Any]:
        now = self.now()
        return {"now": iso(now), "epoch": now, "frozen": self.frozen, "offset": now - self._wall()}
