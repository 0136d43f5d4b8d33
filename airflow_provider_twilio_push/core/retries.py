"""Which failures a request is retried after, how long to wait, and tenacity's options for both."""

from __future__ import annotations

import email.utils
import enum
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt

from airflow_provider_twilio_push.exceptions import (
    TwilioPushAPIError,
    TwilioPushConnectionError,
    TwilioPushNotFoundError,
    TwilioPushRateLimitedError,
    TwilioPushSendUncertainError,
    TwilioPushServerError,
)

RETRY_AFTER_CAP = 60.0
RETRYABLE_STATUS_CODES = frozenset({429, 500, 502, 503, 504})
#: Seconds after Twilio accepted a send during which its operation may not be readable yet: a
#: 404 then is waited out, as a transient error is.
NOT_FOUND_GRACE = 30.0


def not_found_yet(exc: BaseException, sent_at: float | None, *, now: float | None = None) -> bool:
    """Whether ``exc`` is a 404 for an operation whose send Twilio accepted less than
    :data:`NOT_FOUND_GRACE` seconds before ``now`` (``sent_at``: UNIX time, None: unknown)."""
    if sent_at is None or not isinstance(exc, TwilioPushNotFoundError):
        return False
    return (time.time() if now is None else now) - sent_at < NOT_FOUND_GRACE


class RetryPolicy(enum.Enum):
    """Which failures a request may be retried after."""

    #: Reads: any answer or fault that may pass (429, 5xx, connection errors, timeouts).
    IDEMPOTENT = "idempotent"
    #: Sends: only when Twilio surely did not process the request (429, failure to connect).
    NEVER_PROCESSED = "never-processed"


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait (delta-seconds or an HTTP-date), capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def backoff_delay(attempt: int, backoff: float, backoff_max: float) -> float:
    """Exponential backoff with equal jitter: half of the delay is fixed, half random."""
    delay: float = min(backoff_max, backoff * 2.0 ** min(attempt - 1, 32))
    return delay / 2 + random.uniform(0, delay / 2)


def surely_not_processed(exc: BaseException) -> bool:
    """Whether Twilio surely did not process the request: a 429 ("never processed", says Twilio)
    or a connection that was never made."""
    return isinstance(exc, TwilioPushRateLimitedError) or (
        isinstance(exc, TwilioPushConnectionError) and exc.never_sent
    )


def is_retryable(policy: RetryPolicy, exc: BaseException) -> bool:
    if policy is RetryPolicy.IDEMPOTENT:
        return isinstance(exc, TwilioPushRateLimitedError | TwilioPushConnectionError) or (
            isinstance(exc, TwilioPushServerError) and exc.http_status in RETRYABLE_STATUS_CODES
        )
    return surely_not_processed(exc)


def retry_delay(exc: BaseException | None, attempt: int, backoff: float, backoff_max: float) -> float:
    """Seconds to wait after failed attempt number ``attempt``: ``Retry-After``, else backoff."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return float(retry_after)
    return backoff_delay(attempt, backoff, backoff_max)


def retry_options(
    policy: RetryPolicy,
    *,
    max_retries: int,
    backoff: float,
    backoff_max: float,
    on_retry: Callable[[str], None],
) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike.

    ``on_retry`` is told each retry with its reason; the error of the last attempt is raised,
    saying how many attempts were made.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return retry_delay(exc, state.attempt_number, backoff, backoff_max)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        on_retry(
            f"{exc}; retrying in {delay:.1f} s (attempt {state.attempt_number + 1} of {max_retries + 1})"
        )

    def give_up(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, TwilioPushAPIError)
        raise exc.after_attempts(state.attempt_number) from exc

    return {
        "stop": stop_after_attempt(max_retries + 1),
        "wait": wait,
        "retry": retry_if_exception(lambda exc: is_retryable(policy, exc)),
        "before_sleep": before_sleep,
        "retry_error_callback": give_up,
    }


@contextmanager
def uncertain_send_failures() -> Iterator[None]:
    """Around a send: a failure that leaves in doubt whether Twilio accepted it (a 5xx, a lost
    answer) becomes :class:`TwilioPushSendUncertainError`; other errors pass as they are."""
    try:
        yield
    except TwilioPushAPIError as exc:
        if surely_not_processed(exc) or not exc.transient:
            raise
        raise TwilioPushSendUncertainError(
            f"{exc}. Twilio may have accepted this send anyway, so it was not retried (a retry could "
            "deliver the notifications twice). Check the recent operations "
            "(TwilioPushHook.list_operations(start_date=...)) before sending again.",
            http_status=exc.http_status,
            path=exc.path,
            code=exc.code,
            twilio_message=exc.twilio_message,
            more_info=exc.more_info,
            errors=exc.errors,
        ) from exc
