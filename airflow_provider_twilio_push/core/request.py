"""Every check of user input, and the API requests built from it: bad input fails here, before any
request, with what was wrong and what was expected."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pendulum

from airflow_provider_twilio_push.core.retries import RetryPolicy
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError
from airflow_provider_twilio_push.models import OperationStatus

PUSH_NOTIFICATIONS_PATH = "/v1/PushNotifications"
OPERATIONS_PATH = "/v1/PushNotifications/Operations"
OPERATION_ID_PATTERN = r"^comms_operation_[0-7][a-hjkmnpqrstv-z0-9]{25,34}$"
OPERATION_ID_RE = re.compile(OPERATION_ID_PATTERN)
MAX_PAGE_SIZE = 1000
MAX_RECIPIENTS = 10_000
MAX_TAGS = 10
# Twilio does not document tag lengths; these bounds are ours, to fail before sending.
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
PRIORITIES = ("HIGH", "LOW")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Any = None
    retry_policy: RetryPolicy = RetryPolicy.IDEMPOTENT

    def describe(self) -> str:
        return f"{self.method} {self.path}"


# ---------------------------------------------------------------------------------------------
# Arguments of the hook's reads


def validate_operation_id(operation_id: object) -> str:
    # fullmatch: with match(), '$' also accepts a trailing newline, which httpx then refuses.
    if not isinstance(operation_id, str) or not OPERATION_ID_RE.fullmatch(operation_id):
        raise TwilioPushInvalidInputError(
            f"Invalid operation_id {operation_id!r}: expected an id like "
            f"'comms_operation_01h9krwprkeee8fzqspvwy6nq8' (pattern {OPERATION_ID_PATTERN})."
        )
    return operation_id


def validate_status(status: object) -> OperationStatus:
    if isinstance(status, OperationStatus):
        return status
    if isinstance(status, str):
        try:
            return OperationStatus(status.strip().upper())
        except ValueError:
            pass
    allowed = ", ".join(s.value for s in OperationStatus)
    raise TwilioPushInvalidInputError(f"Invalid status {status!r}: expected one of {allowed}.")


def validate_page_size(page_size: object) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise TwilioPushInvalidInputError(
            f"Invalid page_size {page_size!r}: expected an integer from 1 to {MAX_PAGE_SIZE}."
        )
    return page_size


def to_utc(value: object, name: str) -> datetime:
    """A timezone-aware datetime, pendulum DateTime or ISO 8601 string, as UTC.

    Naive datetimes are refused: a date without a timezone could mean any of 24 hours.
    """
    if isinstance(value, str):
        try:
            # tz=None: without it pendulum reads a string with no offset as UTC, silently.
            parsed = pendulum.parse(value, exact=True, tz=None)
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            parsed = None
        if not isinstance(parsed, datetime):
            raise TwilioPushInvalidInputError(
                f"Invalid {name} {value!r}: expected an ISO 8601 date-time such as '2024-01-15T09:30:00Z'."
            )
        value = parsed
    if not isinstance(value, datetime):
        raise TwilioPushInvalidInputError(
            f"Invalid {name} {value!r}: expected a timezone-aware datetime or an ISO 8601 string."
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise TwilioPushInvalidInputError(
            f"Invalid {name} {value.isoformat()!r}: it has no timezone. "
            "Pass a timezone-aware datetime (e.g. pendulum.datetime(..., tz='UTC')) "
            "or an ISO string with an offset ('...Z')."
        )
    return pendulum.instance(value).in_timezone("UTC")


def validate_max_items(max_items: object, expected: str = "an integer >= 0") -> int:
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0:
        raise TwilioPushInvalidInputError(f"Invalid max_items {max_items!r}: expected {expected}.")
    return max_items


def _wire_datetime(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def get_operation_request(operation_id: object) -> ApiRequest:
    return ApiRequest("GET", f"{OPERATIONS_PATH}/{validate_operation_id(operation_id)}")


def list_operations_request(
    *,
    status: object = None,
    start_date: object = None,
    end_date: object = None,
    page_size: object = 50,
    page_token: object = None,
) -> ApiRequest:
    params = {"pageSize": str(validate_page_size(page_size))}
    if status is not None:
        params["status"] = validate_status(status).value
    start = to_utc(start_date, "start_date") if start_date is not None else None
    end = to_utc(end_date, "end_date") if end_date is not None else None
    if start and end and start > end:
        raise TwilioPushInvalidInputError(
            f"start_date {_wire_datetime(start)} is after end_date {_wire_datetime(end)}: "
            "expected start_date <= end_date."
        )
    if start:
        params["startDate"] = _wire_datetime(start)
    if end:
        params["endDate"] = _wire_datetime(end)
    if page_token is not None:
        if not isinstance(page_token, str) or not page_token:
            raise TwilioPushInvalidInputError(
                f"Invalid page_token {page_token!r}: expected the non-empty string "
                "a previous page returned as next_page_token."
            )
        params["pageToken"] = page_token
    return ApiRequest("GET", OPERATIONS_PATH, params=params)


def operation_errors_request(operation_id: object, *, page_token: str | None = None) -> ApiRequest:
    params = {"pageSize": str(MAX_PAGE_SIZE)}
    if page_token:
        params["pageToken"] = page_token
    return ApiRequest("GET", f"{OPERATIONS_PATH}/{validate_operation_id(operation_id)}/Errors", params=params)


# ---------------------------------------------------------------------------------------------
# Sends


def send_request(
    to: object,
    content: object,
    *,
    from_: object = None,
    priority: object = None,
    schedule: object = None,
    tags: object = None,
) -> ApiRequest:
    """``POST /v1/PushNotifications``, every argument checked first."""
    body: dict[str, Any] = {"to": _recipients(to), "content": _content(content)}
    if from_ is not None:
        if not from_ or not isinstance(from_, str | Mapping):
            raise TwilioPushInvalidInputError(f"Invalid from_ {from_!r}: expected a string or a dict.")
        body["from"] = dict(from_) if isinstance(from_, Mapping) else from_
    if priority is not None:
        if not isinstance(priority, str) or priority.upper() not in PRIORITIES:
            raise TwilioPushInvalidInputError(
                f"Invalid priority {priority!r}: expected one of {', '.join(PRIORITIES)}."
            )
        body["priority"] = priority.upper()
    if schedule is not None:
        body["schedule"] = _schedule(schedule)
    if tags is not None:
        body["tags"] = _tags(tags)
    return ApiRequest("POST", PUSH_NOTIFICATIONS_PATH, body=body, retry_policy=RetryPolicy.NEVER_PROCESSED)


def _recipients(to: object) -> list[dict[str, Any]]:
    if isinstance(to, str | bytes | Mapping) or not isinstance(to, list | tuple):
        raise TwilioPushInvalidInputError(
            f"Invalid to: expected a list of recipients such as [{{'token': '...', 'provider': 'FCM'}}], "
            f"got {type(to).__name__}."
        )
    if not 1 <= len(to) <= MAX_RECIPIENTS:
        raise TwilioPushInvalidInputError(
            f"Invalid to: {len(to):,} recipients; expected 1 to {MAX_RECIPIENTS:,} per send "
            "(split larger audiences into several sends)."
        )
    recipients = []
    for index, item in enumerate(to):
        if not isinstance(item, Mapping) or not item:
            raise TwilioPushInvalidInputError(
                f"Invalid to[{index}]: expected a recipient dict such as {{'token': '...', 'provider': 'FCM'}}, "
                f"got {type(item).__name__}."
            )
        token = item.get("token")
        if "token" in item and (not isinstance(token, str) or not token.strip()):
            raise TwilioPushInvalidInputError(f"Invalid to[{index}]: token must be a non-empty string.")
        provider = item.get("provider")
        if provider is not None and provider not in ("FCM", "APN"):
            raise TwilioPushInvalidInputError(
                f"Invalid to[{index}]: provider {provider!r}; expected 'FCM' or 'APN'."
            )
        recipients.append(dict(item))
    return recipients


def _content(content: object) -> dict[str, Any]:
    if not isinstance(content, Mapping):
        raise TwilioPushInvalidInputError(
            f"Invalid content: expected a dict with a title and/or body, got {type(content).__name__}."
        )
    if not any(isinstance(content.get(key), str) and content.get(key) for key in ("title", "body")):
        raise TwilioPushInvalidInputError("Invalid content: it needs a non-empty 'title' or 'body' string.")
    return dict(content)


def _schedule(schedule: object) -> dict[str, Any]:
    if isinstance(schedule, Mapping):
        return dict(schedule)
    return {"sendAt": _wire_datetime(to_utc(schedule, "schedule"))}


def _tags(tags: object) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise TwilioPushInvalidInputError(
            f"Invalid tags: expected a dict of strings, got {type(tags).__name__}."
        )
    if len(tags) > MAX_TAGS:
        raise TwilioPushInvalidInputError(f"Invalid tags: {len(tags)} tags; expected at most {MAX_TAGS}.")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY_LENGTH:
            raise TwilioPushInvalidInputError(
                f"Invalid tag key {key!r}: expected a string of 1 to {MAX_TAG_KEY_LENGTH} characters."
            )
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH:
            raise TwilioPushInvalidInputError(
                f"Invalid value of tag {key!r}: expected a string of at most {MAX_TAG_VALUE_LENGTH} characters."
            )
    return dict(tags)


# ---------------------------------------------------------------------------------------------
# Arguments of the operators, checked when the DAG is parsed


def validate_max_failed(value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise TwilioPushInvalidInputError(f"Invalid max_failed={value!r}: expected a whole count >= 0.")


def validate_max_failure_rate(value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise TwilioPushInvalidInputError(
            f"Invalid max_failure_rate={value!r}: expected a rate from 0 to 1 (e.g. 0.02 for 2%)."
        )


def _positive_seconds(value: object) -> float | None:
    """``value`` if it is a finite number of seconds > 0, else None.

    NaN passes "<= 0" and makes time.sleep() raise; 0 or inf would poll in a busy loop or never.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        return None
    return float(value)


def validate_poll_interval(value: object) -> None:
    if _positive_seconds(value) is None:
        raise TwilioPushInvalidInputError(
            f"Invalid poll_interval={value!r}: expected a number of seconds > 0."
        )


def wait_timeout_seconds(value: object) -> float:
    """``wait_timeout`` (seconds or a timedelta) in seconds."""
    seconds = _positive_seconds(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds is None:
        raise TwilioPushInvalidInputError(
            f"Invalid wait_timeout={value!r}: expected a number of seconds > 0 or a positive timedelta."
        )
    return seconds
