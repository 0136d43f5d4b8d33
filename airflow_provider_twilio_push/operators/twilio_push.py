"""Operators: send push notifications, and read an operation's stats with failure thresholds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    BaseOperator,
    Context,
    conf,
)

from airflow_provider_twilio_push.core.progress import describe_progress
from airflow_provider_twilio_push.core.request import (
    validate_max_failed,
    validate_max_failure_rate,
    validate_poll_interval,
    validate_recheck_delay,
    wait_timeout_seconds,
)
from airflow_provider_twilio_push.exceptions import TwilioPushAPIError, TwilioPushError
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.ledger import (
    DEFAULT_RECHECK_DELAY,
    ChunkSender,
)
from airflow_provider_twilio_push.models import (
    Operation,
    OperationError,
    OperationStats,
    PushNotification,
    PushNotificationStatus,
)
from airflow_provider_twilio_push.waiting import (
    defer_until_terminal,
    operation_from_event,
    poll_until_terminal,
    read_operation,
    terminal_result,
)

#: How many error items (or failed notifications) are read, how many distinct (code, message)
#: pairs are reported, and how many failed recipients are kept as a sample.
ERRORS_SAMPLE_SIZE = 1000
ERRORS_TOP = 5
RECIPIENTS_SAMPLE = 10
DEFAULT_WAIT_TIMEOUT = timedelta(days=1)


def stats_for_xcom(operation: Operation) -> dict[str, Any]:
    """The stats dict of :class:`TwilioPushOperationStatsOperator` (see its docstring)."""
    stats = operation.stats
    return {
        "operation_id": operation.id,
        "status": operation.status.value,
        **stats.model_dump(),
        "created_at": operation.created_at.isoformat() if operation.created_at else None,
        "updated_at": operation.updated_at.isoformat() if operation.updated_at else None,
        "failure_rate": stats.failure_rate,
        "sent_rate": stats.sent_rate,
    }


def summarize_errors(errors: list[OperationError], top: int = ERRORS_TOP) -> dict[str, Any]:
    """The most frequent (code, message) pairs among ``errors``, with counts."""
    counts = Counter((error.code, error.message) for error in errors)
    return {
        "sampled": len(errors),
        "top": [
            {"code": code, "message": message, "count": count}
            for (code, message), count in counts.most_common(top)
        ],
    }


def summarize_failed_notifications(
    notifications: list[PushNotification], sample: int = RECIPIENTS_SAMPLE
) -> dict[str, Any]:
    """Failed notifications counted by provider, with a sample of their recipients."""
    by_provider = Counter(_provider(notification) for notification in notifications)
    return {
        "source": "notifications",
        "sampled": len(notifications),
        "by_provider": dict(by_provider.most_common()),
        "recipients": [
            notification.to.model_dump(by_alias=True, exclude_none=True)
            for notification in notifications[:sample]
        ],
    }


def _provider(notification: PushNotification) -> str:
    """``FCM`` or ``APN``: the recipient's, else the one its credential was for (a user's device)."""
    if notification.to.provider:
        return notification.to.provider
    return next(iter(notification.from_), "unknown").upper()


def _short(recipient: dict[str, str]) -> str:
    if "userId" in recipient:
        return f"user {recipient['userId']}"
    token = recipient.get("token", "")
    return f"{recipient.get('provider', '?')} token {token[:16]}{'...' if len(token) > 16 else ''}"


def threshold_breaches(
    stats: OperationStats, *, max_failed: int | None, max_failure_rate: float | None
) -> list[str]:
    """Which of ``max_failed`` and ``max_failure_rate`` the stats exceed, each said for people."""
    counted = f"{stats.failed:,} of {stats.total:,} push notifications failed"
    breaches = []
    if max_failed is not None and stats.failed > max_failed:
        breaches.append(f"{counted}, above max_failed={max_failed:,}")
    if max_failure_rate is not None and stats.failure_rate > max_failure_rate:
        breaches.append(
            f"{counted} ({_percent(stats.failure_rate)}), above max_failure_rate={_percent(max_failure_rate)}"
        )
    return breaches


def _percent(rate: float) -> str:
    """As few decimals as tell the number apart from its neighbours: 3.7%, 2.0%, 2.04%."""
    for digits in (1, 2, 3):
        text = f"{rate * 100:.{digits}f}"
        if abs(float(text) - rate * 100) < 1e-9:
            return f"{text}%"
    return f"{rate * 100:.3f}%"


class TwilioPushOperationStatsOperator(BaseOperator):
    """Reads the delivery stats of an operation into XCom, and fails when too many failed.

    The ``return_value`` XCom is a JSON-safe dict, a public interface for downstream tasks:

    - ``operation_id``, ``status`` (``SCHEDULED``, ``PROCESSING``, ``COMPLETED``, ``CANCELED``);
    - the eight counters ``total``, ``recipients``, ``unaddressable``, ``scheduled``, ``queued``,
      ``sent``, ``failed``, ``canceled`` (ints);
    - ``created_at``, ``updated_at``: ISO 8601 strings (or None);
    - ``failure_rate`` = failed / total and ``sent_rate`` = sent / total (0.0 when total is 0);
    - on a threshold breach only, ``errors``: ``{"sampled": n, "top": [{"code", "message",
      "count"}, ...]}`` from the operation's Errors endpoint (which Twilio mentions without
      documenting it); when that endpoint is absent or fails, ``{"source": "notifications",
      "sampled": n, "by_provider": {"FCM": n, ...}, "recipients": [...]}`` from the documented
      list of its FAILED notifications (up to 1,000 read, 10 recipients kept); when both fail,
      ``{"unavailable": reason}``. The summary never fails the task by itself.

    The dict is pushed before any check fails the task, so failure callbacks and ``all_done``
    tasks can still read it.

    :param operation_id: The operation (templated), e.g. ``"{{ ti.xcom_pull('send') }}"``.
    :param twilio_push_conn_id: The Airflow connection to the Comms API.
    :param max_failed: Fail when more than this many notifications failed.
    :param max_failure_rate: Fail when failed / total is above this (0 to 1).
    :param require_terminal: Fail when the operation is still SCHEDULED or PROCESSING.
    :param wait_for_completion: Wait until the operation is COMPLETED or CANCELED first.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between polls while waiting.
    :param wait_timeout: How long to wait at most (seconds or timedelta).
    """

    template_fields: Sequence[str] = ("operation_id",)
    ui_color = "#f22f46"

    def __init__(
        self,
        *,
        operation_id: str,
        twilio_push_conn_id: str = TwilioPushHook.default_conn_name,
        max_failed: int | None = None,
        max_failure_rate: float | None = None,
        require_terminal: bool = True,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        wait_timeout: float | timedelta = DEFAULT_WAIT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        validate_max_failed(max_failed)
        validate_max_failure_rate(max_failure_rate)
        validate_poll_interval(poll_interval)
        self.operation_id = operation_id
        self.twilio_push_conn_id = twilio_push_conn_id
        self.max_failed = max_failed
        self.max_failure_rate = max_failure_rate
        self.require_terminal = require_terminal
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout_seconds(wait_timeout)

    @cached_property
    def hook(self) -> TwilioPushHook:
        return TwilioPushHook(self.twilio_push_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        operation = self.hook.get_operation(self.operation_id)
        self.log.info("%s", describe_progress(operation))
        if self.wait_for_completion and not operation.terminal:
            if self.deferrable:
                defer_until_terminal(
                    self,
                    operation_id=self.operation_id,
                    twilio_push_conn_id=self.twilio_push_conn_id,
                    poll_interval=self.poll_interval,
                    timeout=self.wait_timeout,
                    created_at=operation.created_at,
                )
            operation = poll_until_terminal(
                self,
                self.hook,
                operation.id,
                operation,
                poll_interval=self.poll_interval,
                timeout=self.wait_timeout,
            )
        return self._report(context, operation)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Called when the trigger fires; may run more than once for one event."""
        return self._report(context, operation_from_event(event, operation_id=self.operation_id))

    def _report(self, context: Context, operation: Operation) -> dict[str, Any]:
        stats = stats_for_xcom(operation)
        if self.require_terminal and not operation.terminal:
            context["ti"].xcom_push(key="return_value", value=stats)
            raise AirflowFailException(
                f"{describe_progress(operation)}: its stats are not final yet. Wait for it first: put a "
                "TwilioPushOperationSensor upstream, or set wait_for_completion=True "
                "(or require_terminal=False to accept partial stats)."
            )
        breaches = threshold_breaches(
            operation.stats, max_failed=self.max_failed, max_failure_rate=self.max_failure_rate
        )
        if not breaches:
            self.log.info(
                "Operation %s: %s of %s push notifications failed (%s); within thresholds.",
                operation.id,
                f"{operation.stats.failed:,}",
                f"{operation.stats.total:,}",
                _percent(stats["failure_rate"]),
            )
            return stats
        stats["errors"], details = self._error_details(operation)
        context["ti"].xcom_push(key="return_value", value=stats)
        raise AirflowFailException("; ".join(breaches) + f" for operation {operation.id}. {details}")

    def _error_details(self, operation: Operation) -> tuple[dict[str, Any], str]:
        try:
            errors = self.hook.get_operation_errors(operation.id, max_items=ERRORS_SAMPLE_SIZE)
        except Exception as exc:  # the summary never fails the task by itself
            absent = isinstance(exc, TwilioPushAPIError) and exc.http_status in (404, 405)
            self.log.warning(
                "The Errors endpoint of operation %s %s (%s); summarizing its FAILED notifications instead.",
                operation.id,
                "is not served" if absent else "could not be read",
                exc,
            )
            return self._failed_notifications(operation, exc)
        summary = summarize_errors(errors)
        lines = [f"{e['count']:,} x {e['code']}: {e['message']}" for e in summary["top"]]
        for line in lines:
            self.log.error("Operation %s error: %s", operation.id, line)
        if not lines:
            return summary, "The Errors endpoint listed no errors."
        return summary, f"Top errors (of {summary['sampled']:,} read): " + "; ".join(lines) + "."

    def _failed_notifications(
        self, operation: Operation, errors_failure: Exception
    ) -> tuple[dict[str, Any], str]:
        """The summary from the documented list of the operation's FAILED notifications."""
        try:
            failed = list(
                self.hook.iter_push_notifications(
                    operation_id=operation.id,
                    status=PushNotificationStatus.FAILED,
                    max_items=ERRORS_SAMPLE_SIZE,
                )
            )
        except Exception as exc:  # the summary never fails the task by itself
            reason = f"{errors_failure}; and its FAILED notifications could not be listed: {exc}"
            self.log.warning("Could not read the failures of operation %s: %s", operation.id, reason)
            return {"unavailable": reason}, f"Error details unavailable: {reason}"
        summary = summarize_failed_notifications(failed)
        if not failed:
            return summary, "Twilio listed no FAILED notifications."
        counts = ", ".join(f"{count:,} {provider}" for provider, count in summary["by_provider"].items())
        sample = ", ".join(_short(recipient) for recipient in summary["recipients"][:3])
        return summary, f"Failed notifications (of {summary['sampled']:,} read): {counts}; e.g. {sample}."


class TwilioPushSendOperator(BaseOperator):
    """Sends push notifications; returns the operation id (or, waiting, the final operation).

    ``return_value`` is the operation id, e.g. for ``TwilioPushOperationSensor(operation_id=
    "{{ ti.xcom_pull('send') }}")``. With ``wait_for_completion=True`` it is the final
    operation as a JSON-safe dict (like the sensor's), and the id is also pushed under the
    XCom key ``operation_id`` as soon as Twilio accepts the send.

    The send is exactly-once (``ledger.py``): it carries a tag derived from the task instance, so
    that after an answer that leaves in doubt whether Twilio accepted it (5xx, a lost connection),
    and before a retried task sends, Twilio is asked whether it accepted the send, whose operation
    is then adopted instead of sending again. Task retries are therefore safe: ``retries`` default
    to Airflow's own. Where the send's fate cannot be established, the task fails without retrying.

    :param to: Recipients (templated), e.g. ``[{"token": "...", "provider": "FCM"}]`` or
        ``[{"userId": "comms_pushnotificationuser_..."}]``; at most 10,000 (a larger audience:
        :class:`~airflow_provider_twilio_push.operators.campaign.TwilioPushCampaignOperator`).
    :param content: The notification (templated): a ``body``, an optional ``title`` and
        ``providerPassthrough``.
    :param from_: Sender (templated): an App name (``"my_app"``) or ``{"appName": ...}`` or
        credential ids ``{"fcm": ..., "apn": ...}``.
    :param priority: ``HIGH`` or ``LOW``.
    :param sound: The name of the sound to play (templated).
    :param schedule: When to send, at most 30 days ahead (aware datetime, ISO string or
        ``{"sendAt": [...]}``; templated).
    :param tags: Up to 9 key/values of ``a-z A-Z 0-9 . _ ~ -`` (templated); the tenth is the
        send's own ``airflow-chunk`` tag.
    :param wait_for_completion: Then wait until the operation is COMPLETED or CANCELED.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param poll_interval: Seconds between polls while waiting.
    :param wait_timeout: How long to wait at most (seconds or timedelta).
    :param fail_on_canceled: While waiting, fail when the operation ends CANCELED.
    :param recheck_delay: Seconds to wait after an uncertain answer before asking Twilio whether
        it accepted the send (it may list a send's notifications a moment after accepting it).
    """

    template_fields: Sequence[str] = ("to", "content", "from_", "sound", "schedule", "tags")
    template_fields_renderers = {"to": "json", "content": "json", "tags": "json"}
    ui_color = "#f22f46"

    def __init__(
        self,
        *,
        to: Any,
        content: Any,
        from_: Any = None,
        priority: str | None = None,
        sound: str | None = None,
        schedule: Any = None,
        tags: Any = None,
        twilio_push_conn_id: str = TwilioPushHook.default_conn_name,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        wait_timeout: float | timedelta = DEFAULT_WAIT_TIMEOUT,
        fail_on_canceled: bool = True,
        recheck_delay: float = DEFAULT_RECHECK_DELAY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        validate_poll_interval(poll_interval)
        validate_recheck_delay(recheck_delay)
        self.to = to
        self.content = content
        self.from_ = from_
        self.priority = priority
        self.sound = sound
        self.schedule = schedule
        self.tags = tags
        self.twilio_push_conn_id = twilio_push_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout_seconds(wait_timeout)
        self.fail_on_canceled = fail_on_canceled
        self.recheck_delay = recheck_delay

    @cached_property
    def hook(self) -> TwilioPushHook:
        return TwilioPushHook(self.twilio_push_conn_id)

    def execute(self, context: Context) -> Any:
        chunk = ChunkSender.of(self, context).send(0, self.to)
        operation_id = chunk.operation_id
        # A 404 right after the send is waited out; an adopted operation was read, so it has none.
        sent_at = chunk.sent_at
        self.log.info("Twilio accepted the send: operation %s.", operation_id)
        if not self.wait_for_completion:
            return operation_id
        context["ti"].xcom_push(key="operation_id", value=operation_id)
        with _sent_already(operation_id):
            # As the sensor does: transient errors are waited out, until the deadline.
            operation = read_operation(self, self.hook, operation_id, sent_at=sent_at)
            if (operation is None or not operation.terminal) and self.deferrable:
                defer_until_terminal(
                    self,
                    operation_id=operation_id,
                    twilio_push_conn_id=self.twilio_push_conn_id,
                    poll_interval=self.poll_interval,
                    timeout=self.wait_timeout,
                    method_kwargs={"operation_id": operation_id},
                    created_at=operation.created_at if operation else None,
                    sent_at=None if operation else sent_at,
                )
            operation = poll_until_terminal(
                self,
                self.hook,
                operation_id,
                operation,
                poll_interval=self.poll_interval,
                timeout=self.wait_timeout,
                sent_at=sent_at,
            )
        return terminal_result(operation, fail_on_canceled=self.fail_on_canceled)

    def execute_complete(
        self, context: Context, event: dict[str, Any], operation_id: str | None = None
    ) -> dict[str, Any]:
        """Called when the trigger fires; may run more than once for one event.

        ``operation_id`` comes from the deferral; tasks deferred by versions up to 0.1.0 resume
        without it, and the id is then read from the event's operation, when it has one.
        """
        if operation_id is None:
            # "operation" is None in a timeout or error event when the operation was never read.
            last = event.get("operation") if isinstance(event, dict) else None
            operation_id = last.get("id") if isinstance(last, dict) else None
        with _sent_already(operation_id):
            operation = operation_from_event(event, operation_id=operation_id or "(unknown)")
        return terminal_result(operation, fail_on_canceled=self.fail_on_canceled)


@contextmanager
def _sent_already(operation_id: str | None) -> Iterator[None]:
    """Around waiting for a send Twilio accepted: a permanent error fails the task without a retry,
    which would adopt the send and meet the same error."""
    try:
        yield
    except TwilioPushError as exc:
        which, sensor = (
            (f"operation {operation_id}", f"TwilioPushOperationSensor(operation_id={operation_id!r})")
            if operation_id
            else ("the operation", "TwilioPushOperationSensor (the id is this task's XCom operation_id)")
        )
        raise AirflowFailException(
            f"Twilio accepted the send: the notifications of {which} went out, but waiting for it "
            f"failed: {str(exc).rstrip('.')}. The task fails without retrying (a retry would not send them again, but "
            f"would meet the same error); watch the operation with {sensor}."
        ) from exc
