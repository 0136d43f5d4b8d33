"""The requests to one account, in one process, paced together (:class:`RequestPacer`)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from airflow_provider_twilio_push.core.settings import ConnectionSettings


class RequestPacer:
    """Spaces the requests to one account and holds them back after a 429.

    After a 429 every request to the account waits out its ``Retry-After`` (Twilio limits per
    account, so one trigger's 429 is every trigger's); with ``max_requests_per_second`` the
    requests are also spaced evenly, so that a fleet stays under the limit in the first place:
    at the lowest rate of the connections in use (:meth:`use`), which a connection no longer in
    use stops slowing.
    ``book_slot()`` books the next free slot and returns how long to wait for it (0 for none); a
    lock keeps threads (sync hooks in a thread pool) from booking the same slot.
    """

    #: Seconds after its slot beyond which a request that wakes up late (a blocked event loop,
    #: a stalled process) books a new slot: the requests due during a stall must not all go at once.
    late_after = 0.5

    def __init__(self, max_requests_per_second: float | None = None) -> None:
        self._base_rate = max_requests_per_second
        self._rates: Counter[float] = Counter()  # of the connections in use: how many users each
        self.interval = 1.0 / max_requests_per_second if max_requests_per_second else 0.0
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def book_slot(self, now: float | None = None) -> float:
        with self._lock:
            now = time.monotonic() if now is None else now
            slot = max(now, self._next_slot, self._paused_until)
            self._next_slot = slot + self.interval
        return slot - now

    def pause(self, seconds: float, now: float | None = None) -> None:
        with self._lock:
            now = time.monotonic() if now is None else now
            self._paused_until = max(self._paused_until, now + seconds)

    def use(self, max_requests_per_second: float | None) -> Callable[[], None]:
        """Space requests at least as far apart as ``max_requests_per_second`` asks (None: no
        limit of its own) until the returned function is called (once or more)."""
        if not max_requests_per_second:
            return _nothing
        rate = float(max_requests_per_second)
        with self._lock:
            self._rates[rate] += 1
            self._set_interval()
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if not released:
                    released = True
                    self._rates[rate] -= 1
                    if not self._rates[rate]:
                        del self._rates[rate]
                    self._set_interval()

        return release

    def _set_interval(self) -> None:
        rates = [*self._rates, *([self._base_rate] if self._base_rate else [])]
        self.interval = 1.0 / min(rates) if rates else 0.0


def _nothing() -> None:
    pass


_pacers: dict[tuple[str, str], RequestPacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(settings: ConnectionSettings) -> RequestPacer:
    """The pacer of the settings' account (base URL and login), shared by every connection id
    naming it; its spacing is the strictest ``max_requests_per_second`` of those in use (a hook
    with a client open, a trigger's watch: :meth:`RequestPacer.use`)."""
    with _pacers_lock:
        pacer = _pacers.get(settings.account)
        if pacer is None:
            pacer = _pacers[settings.account] = RequestPacer()
    return pacer
