"""A small synchronous client of the emulator's control API (``/_emulator/...``)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

from airflow_provider_twilio_push.emulator.wire import ROUTE_GET


class EmulatorControlError(RuntimeError):
    """The control API answered with an error; ``status`` and ``body`` say which."""

    def __init__(self, status: int, body: Any) -> None:
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list):
            message: Any = "; ".join(str(error.get("message")) for error in errors if isinstance(error, dict))
        else:
            message = body
        super().__init__(f"emulator control API answered {status}: {message}")
        self.status = status
        self.body = body


class EmulatorControl:
    """Drive a running emulator: scenarios, cancel, clock, faults, defaults, listing delay,
    counters, recipient counts, reset."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        # trust_env=False: never route loopback traffic through a proxy from the environment.
        self._client = httpx.Client(base_url=f"{self.base_url}/_emulator", timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, path, json=body)
        if response.status_code >= 400:
            try:
                detail: Any = response.json()
            except ValueError:
                detail = response.text
            raise EmulatorControlError(response.status_code, detail)
        return response.json()

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/info")
        return result

    def create_operation(self, **scenario: Any) -> dict[str, Any]:
        """Create an operation; fields: total, duration, failure_ratio, unaddressable_ratio,
        schedule_in (seconds until processing starts), age (seconds since it was created).
        Returns the Operation JSON."""
        result: dict[str, Any] = self._call("POST", "/operations", scenario)
        return result

    def operation(self, operation_id: str) -> dict[str, Any]:
        """``{"operation": ..., "expired": bool, "scenario": {...}}``, also for expired ones."""
        result: dict[str, Any] = self._call("GET", f"/operations/{operation_id}")
        return result

    def cancel(self, operation_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/operations/{operation_id}/cancel")
        return result

    def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/clock")
        return result

    def advance(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock", {"advance": seconds})
        return result

    def freeze(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock", {"freeze": True})
        return result

    def unfreeze(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock", {"freeze": False})
        return result

    def reset(self) -> None:
        """Forget operations, faults and counters, restore the defaults and the listing delay of
        the command line; the clock is real time again."""
        self._call("POST", "/reset")

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/faults")
        return result

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the faults: rate_429, rate_500, rate_503, rate_drop, rate_malformed, rate_slow,
        slow_seconds, retry_after, rps_limit, routes (route templates, None for all), skip (the
        first requests of those routes that are never faulted), max_faults (no more after that
        many, None for no limit)."""
        result: dict[str, Any] = self._call("PUT", "/faults", faults)
        return result

    def clear_faults(self) -> dict[str, Any]:
        return self.set_faults()

    def defaults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/defaults")
        return result

    def set_defaults(self, **defaults: Any) -> dict[str, Any]:
        """Replace what sends get: duration, failure_ratio, unaddressable_ratio."""
        result: dict[str, Any] = self._call("PUT", "/defaults", defaults)
        return result

    def listing_delay(self) -> float:
        """Seconds after a send's 202 before its notifications show up in listings."""
        result: dict[str, float] = self._call("GET", "/listing-delay")
        return result["seconds"]

    def set_listing_delay(self, seconds: float) -> float:
        """From now on, a send's notifications show up in ``GET /v1/PushNotifications`` listings
        only ``seconds`` (on the emulated clock) after its 202; ``reset`` restores the
        ``--listing-delay`` of the command line. Sends accepted before keep their delay."""
        result: dict[str, float] = self._call("PUT", "/listing-delay", {"seconds": seconds})
        return result["seconds"]

    def recipient_counts(self, *, min_count: int = 1) -> dict[str, int]:
        """For every recipient address (the device token, or the userId of a user recipient):
        how many notifications all the sends accepted since the last reset created for it.

        The exactly-once judge: each address of an audience sent once maps to 1. Unaddressable
        recipients get no notification and are left out; ``min_count=2`` lists only the
        addresses that got more than one.
        """
        result: dict[str, dict[str, int]] = self._call("GET", f"/recipient-counts?min_count={min_count}")
        return result["counts"]

    def counters(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/counters")
        return result

    def request_count(self, route: str | None = None, status: int | str | None = None) -> int:
        """Requests the /v1 routes served, optionally of one route and one status.

        ``route`` is a counter key such as ``"GET /v1/PushNotifications/Operations/{id}"``, or
        just its path template to count every method; ``status`` is a code or ``"dropped"``.
        """
        total = 0
        for key, by_status in self.counters()["routes"].items():
            if route is not None and route not in (key, key.partition(" ")[2]):
                continue
            for code, count in by_status.items():
                if status is None or str(status) == code:
                    total += count
        return total

    @contextlib.contextmanager
    def advance_after(
        self,
        seconds: float,
        *,
        requests: int,
        route: str | None = ROUTE_GET,
        status: int | str | None = 200,
        poll_interval: float = 0.02,
    ) -> Iterator[None]:
        """While the ``with`` body runs: advance the (frozen) clock by ``seconds`` once
        ``requests`` requests of ``route`` with ``status`` were served (``request_count``).

        For tests of tasks that wait, whatever the machine's speed: freeze the clock, create an
        operation, and run the DAG inside ``with control.advance_after(60, requests=2):``. The
        task reads the operation unfinished and defers, its trigger polls (the second read), and
        only then does the operation complete. A background thread watches, with its own client.
        """
        stop = threading.Event()

        def watch() -> None:
            with EmulatorControl(self.base_url) as control:
                while not stop.wait(poll_interval):
                    if control.request_count(route, status) >= requests:
                        control.advance(seconds)
                        return

        watcher = threading.Thread(target=watch, name="emulator-advance-after", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join(10)
