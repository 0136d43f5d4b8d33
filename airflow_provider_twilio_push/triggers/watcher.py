"""One watcher per account and event loop serves the polls of every trigger watching an operation.

A triggerer runs thousands of :class:`TwilioPushOperationTrigger` on one event loop. Each registers
its operation here (:func:`watch_operation`) and waits for observations newer than its last one;
the watcher of the account (base URL, login and secret: two connection ids naming one account share it)
reads the operations the cheapest way :func:`~airflow_provider_twilio_push.core.watching.plan_requests`
finds: one sweep of ``GET /v1/PushNotifications/Operations`` (1,000 a page, over the creation
dates of the operations due) or one GET per operation due. An operation a sweep does not show is
read with a GET. The watcher owns the account's HTTP client: it is created with the first watch
and closed when the last one leaves (or the loop cancels the watcher's task).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import time
from collections.abc import Callable
from contextlib import aclosing
from datetime import datetime

from airflow_provider_twilio_push.core.pacing import pacer_for
from airflow_provider_twilio_push.core.request import MAX_PAGE_SIZE
from airflow_provider_twilio_push.core.settings import ConnectionSettings
from airflow_provider_twilio_push.core.watching import (
    GET_AHEAD,
    RequestPlan,
    WatchedOperation,
    next_due,
    plain_utc,
    plan_requests,
    wake_in,
)
from airflow_provider_twilio_push.exceptions import (
    TwilioPushConnectionError,
    TwilioPushError,
    TwilioPushMalformedResponseError,
    TwilioPushRateLimitedError,
    TwilioPushServerError,
)
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation

log = logging.getLogger(__name__)

#: GETs in flight at once, per watcher.
MAX_CONCURRENT_GETS = 32
#: Observations a sweep hands over between two turns of the event loop: each wakes a trigger, and
#: a page can wake a thousand (other tasks would wait for all of them).
OFFERS_BETWEEN_YIELDS = 100

#: What a failed sweep means for the operations it was for: the API is struggling (wait it out,
#: as a failed poll does) or the sweep itself went wrong (read them with a GET instead).
_STRUGGLING = (TwilioPushRateLimitedError, TwilioPushServerError, TwilioPushConnectionError)

Outcome = Operation | TwilioPushError


def _nothing() -> None:
    pass


def _failure(exc: Exception) -> TwilioPushError:
    """What the triggers are told when the watcher meets a bug: an error that ends them."""
    return TwilioPushError(f"The operation watcher failed: {type(exc).__name__}: {exc}")


class Watch:
    """One trigger's registration: the newest observation of its operation it has not taken yet."""

    def __init__(
        self, watcher: OperationWatcher, operation_id: str, interval: float, deadline: float | None
    ) -> None:
        self.operation_id = operation_id
        self.interval = interval
        #: ``time.monotonic()`` of the deadline, or None.
        self.deadline = deadline
        #: When it needs its next look (monotonic): the first within one interval, at random, so
        #: that a lone trigger polls as it always did.
        first = time.monotonic() + random.uniform(0, interval)
        self.due_at = first if deadline is None else min(first, deadline)
        self._watcher = watcher
        self._outcome: Outcome | None = None
        self._observed_at = -math.inf
        self._ready = asyncio.Event()
        self._release_pacing: Callable[[], None] = _nothing
        self.closed = False

    def offer(self, outcome: Outcome, observed_at: float) -> None:
        """A look at the operation taken at ``observed_at``; older than the last one: ignored."""
        if observed_at < self._observed_at or self.closed:
            return
        unchanged = outcome == self._outcome
        self._observed_at = observed_at
        self._outcome = outcome
        self.due_at = next_due(observed_at, self.interval, self.deadline)
        if not unchanged or self.past_deadline:
            # The trigger is woken for news only (and for its last look): the same operation
            # again would not change what it does.
            self._ready.set()

    @property
    def lead(self) -> float:
        """The interval that reads ahead of time are a share of: none for the last look, which
        is taken at the deadline."""
        return 0.0 if self.due_at == self.deadline else self.interval

    @property
    def past_deadline(self) -> bool:
        """Whether the last observation taken was made at or after the deadline (the last look)."""
        return self.deadline is not None and self._observed_at >= self.deadline

    async def next(self) -> Outcome:
        """The first observation newer than the one taken last."""
        await self._ready.wait()
        self._ready.clear()
        assert self._outcome is not None
        return self._outcome

    def close(self) -> None:
        """Unregister at once (idempotent)."""
        if not self.closed:
            self.closed = True
            self._release_pacing()
            self._watcher.remove(self)


class OperationWatcher:
    """Reads the operations its watches are for, for one account on one event loop."""

    #: What to ask the API for next (a benchmark may set its own, e.g. GETs only).
    planner = staticmethod(plan_requests)

    def __init__(
        self, key: tuple[asyncio.AbstractEventLoop, tuple[str, str, str]], hook: TwilioPushHook
    ) -> None:
        self._key = key
        self._hook = hook
        self._watches: dict[str, set[Watch]] = {}
        self._created: dict[str, datetime] = {}
        self._in_flight: set[str] = set()
        self._gets: set[asyncio.Task[None]] = set()
        self._get_slots = asyncio.Semaphore(MAX_CONCURRENT_GETS)
        self._wake = asyncio.Event()
        self._wake_at = math.inf
        #: When the watcher last looked (a sweep or GETs started; monotonic).
        self._last_look_at = math.inf
        #: Pages the last sweep took: what the next one is expected to cost.
        self._pages_per_sweep: int | None = None
        #: Why sweeps are no longer tried (a permanent error of the list), or None.
        self._sweeps_refused: str | None = None
        self._task: asyncio.Task[None] | None = None

    def add(
        self, operation_id: str, interval: float, deadline: float | None, created_at: datetime | None
    ) -> Watch:
        watch = Watch(self, operation_id, interval, deadline)
        next_look = min(self._wake_at, self._last_look_at + interval)
        if created_at is not None and self._watches and next_look < math.inf:
            # Its first look is the watcher's next one (at the latest an interval after its last
            # look began, so within one interval from now), which a sweep can serve: a fleet that
            # joins over a few seconds, even while the first trigger's GET is out, costs no
            # requests of its own.
            watch.due_at = max(time.monotonic(), next_look)
            if deadline is not None:
                watch.due_at = min(watch.due_at, deadline)
        self._watches.setdefault(operation_id, set()).add(watch)
        if created_at is not None:
            self._created.setdefault(operation_id, plain_utc(created_at))
        if self._task is None:
            self._task = asyncio.create_task(
                self._run(), name=f"twilio-push-watcher-{self._hook.twilio_push_conn_id}"
            )
        self._schedule(watch)
        return watch

    def remove(self, watch: Watch) -> None:
        watches = self._watches.get(watch.operation_id)
        if watches is None:
            return
        watches.discard(watch)
        if not watches:
            del self._watches[watch.operation_id]
            self._created.pop(watch.operation_id, None)
        if not self._watches:
            # The last watch left: the next trigger of the account gets a new watcher; this one
            # closes its client (in its task) and is gone.
            if _watchers.get(self._key) is self:
                del _watchers[self._key]
            if self._task is not None:
                self._task.cancel()

    def _schedule(self, watch: Watch) -> None:
        """Wake the loop if ``watch`` needs a look before the loop would wake anyway."""
        if watch.due_at - watch.lead * GET_AHEAD < self._wake_at:
            self._wake.set()

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._hook.aget_client()
            while self._watches:
                now = time.monotonic()
                watched = self._watched(now)
                plan = self.planner(
                    watched, pages_per_sweep=self._pages_per_sweep, sweep=self._sweeps_refused is None
                )
                if plan.due:
                    await self._serve(plan)
                    await asyncio.sleep(0)  # whatever was served: the loop turns
                else:
                    # Nothing is due: each look is wake_in() > 0 away, by the planner's own measure.
                    await self._sleep_until(now + min(map(wake_in, watched), default=math.inf))
        except Exception as exc:  # a bug must end the triggers with an error, not leave them waiting
            log.exception("The operation watcher of connection %r failed", self._hook.twilio_push_conn_id)
            failure = _failure(exc)
            for watches in list(self._watches.values()):
                for watch in list(watches):
                    watch.offer(failure, time.monotonic())
        finally:
            if _watchers.get(self._key) is self:
                del _watchers[self._key]
            for task in list(self._gets):
                task.cancel()
            await asyncio.gather(*self._gets, return_exceptions=True)
            await self._hook.aclose()

    async def _sleep_until(self, wake_at: float) -> None:
        """Until ``wake_at`` (monotonic), or until a watch needs a look sooner (:meth:`_schedule`)."""
        self._wake_at = wake_at
        self._wake.clear()
        delay = wake_at - time.monotonic()
        try:
            async with asyncio.timeout(None if math.isinf(delay) else max(delay, 0.0)):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake_at = math.inf

    def _watched(self, now: float) -> list[WatchedOperation]:
        """Every watch of an operation not being read, as the planner sees it."""
        return [
            WatchedOperation(operation_id, watch.due_at - now, watch.lead, self._created.get(operation_id))
            for operation_id, watches in self._watches.items()
            if operation_id not in self._in_flight
            for watch in watches
        ]

    async def _serve(self, plan: RequestPlan) -> None:
        if plan.due:
            self._last_look_at = time.monotonic()
        shown: set[str] = set()
        if plan.windows:
            shown = await self._sweep(plan)
        for operation_id in plan.due - shown:
            if operation_id in self._watches and operation_id not in self._in_flight:
                self._in_flight.add(operation_id)
                task = asyncio.create_task(self._get(operation_id))
                self._gets.add(task)
                task.add_done_callback(self._gets.discard)

    def _offer(self, operation_id: str, outcome: Outcome, observed_at: float) -> None:
        watches = self._watches.get(operation_id)
        if not watches:
            return
        if (
            isinstance(outcome, Operation)
            and outcome.created_at is not None
            and self._created.get(operation_id) != outcome.created_at
        ):
            # The API's word: a created_at the trigger was given may be wrong (a trigger row
            # written by hand or by an older version), and the sweeps would never find it.
            self._created[operation_id] = plain_utc(outcome.created_at)
        for watch in list(watches):
            watch.offer(outcome, observed_at)
            self._schedule(watch)

    async def _get(self, operation_id: str) -> None:
        outcome: Outcome
        observed_at = time.monotonic()
        try:
            async with self._get_slots:
                observed_at = time.monotonic()
                outcome = await self._hook.aget_operation(operation_id)
        except TwilioPushError as exc:
            outcome = exc
        except Exception as exc:  # a bug must end the triggers with an error, not leave them waiting
            log.exception("Reading operation %s failed", operation_id)
            outcome = _failure(exc)
        finally:
            self._in_flight.discard(operation_id)
        self._offer(operation_id, outcome, observed_at)

    async def _sweep(self, plan: RequestPlan) -> set[str]:
        """List the plan's windows; the operations due that the sweep stands for (shown, or told
        of its failure); those it does not cover get a GET (as do malformed items: the GET says
        what is wrong)."""
        observed_at = time.monotonic()
        shown: set[str] = set()
        pages = 0
        try:
            for start, end in plan.windows:
                listing = self._hook.aiter_operation_pages(
                    start_date=start, end_date=end, page_size=MAX_PAGE_SIZE
                )
                async with aclosing(listing):
                    async for page in listing:
                        pages += 1
                        for operation in page.lenient(self._watches):
                            shown.add(operation.id)
                            self._offer(operation.id, operation, observed_at)
                            if len(shown) % OFFERS_BETWEEN_YIELDS == 0:
                                await asyncio.sleep(0)
        except TwilioPushError as exc:
            if isinstance(exc, _STRUGGLING):
                # For each operation due, what a failed poll is: logged by its triggers, then waited out.
                for operation_id in plan.due - shown:
                    self._offer(operation_id, exc, time.monotonic())
                return set(plan.due)
            if not isinstance(exc, TwilioPushMalformedResponseError):
                self._sweeps_refused = str(exc)
                log.warning(
                    "Listing the operations of connection %r failed, reading each operation with a GET "
                    "from now on: %s",
                    self._hook.twilio_push_conn_id,
                    exc,
                )
            return shown
        self._pages_per_sweep = pages
        for operation_id in plan.swept - shown:
            # Not where its creation time said (wrong, or not listed yet): no sweep is made for
            # it until a GET (when it is due) tells the API's creation time.
            self._created.pop(operation_id, None)
        return shown


_watchers: dict[tuple[asyncio.AbstractEventLoop, tuple[str, str, str]], OperationWatcher] = {}


def _credentials(settings: ConnectionSettings) -> tuple[str, str, str]:
    """The account and a digest of the secret it is read with: a trigger that read a rotated
    secret gets a watcher of its own, rather than joining one whose client still sends the old."""
    return (*settings.account, hashlib.sha256(settings.password.encode()).hexdigest())


def watch_operation(
    hook: TwilioPushHook,
    settings: ConnectionSettings,
    operation_id: str,
    *,
    interval: float,
    end_time: float | None,
    created_at: datetime | None = None,
) -> Watch:
    """Register ``operation_id`` with the watcher of the settings' account on this event loop.

    ``hook`` (its settings read) becomes the watcher's own if this starts a new watcher; the
    connection's ``max_requests_per_second`` joins the account's pacing either way, until the
    watch closes. ``end_time`` is a UNIX timestamp. Close the returned :class:`Watch` when done.
    """
    key = (asyncio.get_running_loop(), _credentials(settings))
    watcher = _watchers.get(key)
    if watcher is None:
        watcher = _watchers[key] = OperationWatcher(key, hook)
    deadline = None if end_time is None else time.monotonic() + (end_time - time.time())
    watch = watcher.add(operation_id, interval, deadline, created_at)
    watch._release_pacing = pacer_for(settings).use(settings.max_requests_per_second)
    return watch
