"""Fault injection for the /v1 routes: what to inject (``Faults``) and the seeded draws
(``FaultInjector``) that decide, request by request, which fault a request meets."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

EXCLUSIVE_FAULTS = ("rate_drop", "rate_429", "rate_500", "rate_503", "rate_malformed")


@dataclass
class Faults:
    """Fault injection for /v1 routes; rates are probabilities, drawn from a seeded generator.

    One draw per request picks at most one of ``EXCLUSIVE_FAULTS`` (so their sum is at most
    1); ``rate_slow`` is drawn separately and delays the response by ``slow_seconds``. Only the
    requests of ``routes`` (all if None) are faulted, and of those, the first ``skip`` never are,
    nor any after ``max_faults`` of them were.
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0
    rate_malformed: float = 0.0
    rate_slow: float = 0.0
    slow_seconds: float = 1.0
    retry_after: int = 1
    rps_limit: float | None = None
    routes: tuple[str, ...] | None = None
    skip: int = 0
    max_faults: int | None = None

    @property
    def active(self) -> bool:
        rates = (self.rate_slow, *(getattr(self, name) for name in EXCLUSIVE_FAULTS))
        return (any(rates) or self.rps_limit is not None) and self.max_faults != 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["routes"] = None if self.routes is None else list(self.routes)
        return data


@dataclass(frozen=True, slots=True)
class FaultDecision:
    kind: str | None  # None, "429", "500", "503", "drop" or "malformed"
    slow: bool
    malformed_html: bool = False
    slow_seconds: float = 0.0


NO_FAULT = FaultDecision(None, False)


class TokenBucket:
    def __init__(self, rate: float, monotonic: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self._monotonic = monotonic
        self.last = monotonic()

    def take(self) -> bool:
        now = self._monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class FaultInjector:
    """The faults in force and the seeded draws; a new one per ``PUT /_emulator/faults`` and reset,
    so that a sequence of requests meets the same faults every time."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self.active = faults.active
        self._rng = random.Random(seed)
        self._bucket = None if faults.rps_limit is None else TokenBucket(faults.rps_limit, time.monotonic)
        self._seen = 0
        self._faulted = 0

    def decide(self, route: str) -> FaultDecision:
        if not self.active:
            return NO_FAULT
        faults = self.faults
        if faults.routes is not None and route not in faults.routes:
            return NO_FAULT
        self._seen += 1
        if self._seen <= faults.skip:
            return NO_FAULT
        decision = self._draw(faults)
        if decision is not NO_FAULT:
            self._faulted += 1
            if self._faulted == faults.max_faults:
                self.active = False
        return decision

    def _draw(self, faults: Faults) -> FaultDecision:
        if self._bucket is not None and not self._bucket.take():
            return FaultDecision("429", False)
        rng = self._rng
        slow = faults.rate_slow > 0 and rng.random() < faults.rate_slow
        draw = rng.random()
        for name in EXCLUSIVE_FAULTS:
            rate: float = getattr(faults, name)
            if draw < rate:
                kind = name.removeprefix("rate_")
                html = kind == "malformed" and rng.random() < 0.5
                return FaultDecision(kind, slow, html, faults.slow_seconds)
            draw -= rate
        return FaultDecision(None, slow, slow_seconds=faults.slow_seconds) if slow else NO_FAULT
