"""The request/response core shared by the hook's sync and async paths.

Everything here is pure: it validates arguments and builds :class:`ApiRequest` objects, decides
which failures may be retried and for how long to wait, and turns ``httpx`` responses into models
or typed errors. The hook only moves bytes.
"""

from __future__ import annotations

import base64
import email.utils
import enum
import ipaddress
import json
import math
import random
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

import certifi
import httpx
import pendulum
import pydantic_core
from pydantic import BaseModel, Field, ValidationError
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt

from airflow_provider_twilio_push import __version__
from airflow_provider_twilio_push.exceptions import (
    TwilioPushAPIError,
    TwilioPushAuthError,
    TwilioPushBadRequestError,
    TwilioPushConnectionError,
    TwilioPushInvalidInputError,
    TwilioPushMalformedResponseError,
    TwilioPushNotFoundError,
    TwilioPushRateLimitedError,
    TwilioPushSendUncertainError,
    TwilioPushServerError,
)
from airflow_provider_twilio_push.models import Operation, OperationError, OperationPage, OperationStatus

DEFAULT_BASE_URL = "https://comms.twilio.com"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 4
PUSH_NOTIFICATIONS_PATH = "/v1/PushNotifications"
OPERATIONS_PATH = "/v1/PushNotifications/Operations"
OPERATION_ID_PATTERN = r"^comms_operation_[0-7][a-hjkmnpqrstv-z0-9]{25,34}$"
MAX_PAGE_SIZE = 1000
MAX_RECIPIENTS = 10_000
MAX_TAGS = 10
# Twilio does not document tag lengths; these bounds are ours, to fail before sending.
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
PRIORITIES = ("HIGH", "LOW")
RETRY_AFTER_CAP = 60.0
RETRYABLE_STATUS_CODES = frozenset({429, 500, 502, 503, 504})

_OPERATION_ID_RE = re.compile(OPERATION_ID_PATTERN)
_BODY_PREVIEW = 80

M = TypeVar("M", bound=BaseModel)


class RetryPolicy(enum.Enum):
    """Which failures a request may be retried after."""

    #: Reads: any answer or fault that may pass (429, 5xx, connection errors, timeouts).
    IDEMPOTENT = "idempotent"
    #: Sends: only when Twilio surely did not process the request (429, failure to connect).
    NEVER_PROCESSED = "never-processed"


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Any = None
    retry_policy: RetryPolicy = RetryPolicy.IDEMPOTENT

    def describe(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class ConnectionSettings:
    """What the hook needs from an Airflow connection; the secret is kept out of ``repr``."""

    conn_id: str
    base_url: str
    username: str
    password: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    max_requests_per_second: float | None = None


# ---------------------------------------------------------------------------------------------
# Connection settings


def connection_settings(
    conn_id: str,
    *,
    host: str | None,
    schema: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
) -> ConnectionSettings:
    """Check an Airflow connection's fields and turn them into :class:`ConnectionSettings`."""
    where = f"connection {conn_id!r}"
    if not login:
        raise TwilioPushInvalidInputError(
            f"The {where} has no login: set it to your Account SID (AC...) or API Key SID (SK...)."
        )
    if not password:
        raise TwilioPushInvalidInputError(
            f"The {where} has no password: set it to your Auth Token or API Key secret."
        )
    if not isinstance(extra, Mapping):  # e.g. extra '[...]' in an AIRFLOW_CONN_ variable
        raise TwilioPushInvalidInputError(
            f"The {where} has an extra that is not a JSON object (got {type(extra).__name__}): "
            'expected something like {"timeout": 10, "max_retries": 4}.'
        )
    return ConnectionSettings(
        conn_id=conn_id,
        base_url=_base_url(where, host, schema, port),
        username=login,
        password=password,
        timeout=_extra_number(
            where, extra, "timeout", DEFAULT_TIMEOUT, float, minimum=0.001, expected="a number of seconds > 0"
        ),
        max_retries=_extra_number(
            where, extra, "max_retries", DEFAULT_MAX_RETRIES, int, minimum=0, expected="an integer >= 0"
        ),
        max_requests_per_second=_extra_number(
            where, extra, "max_requests_per_second", None, float, minimum=0.001, expected="a number > 0"
        ),
    )


def _base_url(where: str, host: str | None, schema: str | None, port: int | None) -> str:
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        scheme = schema.lower() if schema and schema.lower() in ("http", "https") else "https"
        host = f"{scheme}://{host}"
    try:
        parts = urlsplit(host)
        host_port = parts.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        parts, host_port = None, None
    # Before any message that quotes the host: it must not quote credentials.
    if parts is not None and (parts.username or parts.password):
        raise TwilioPushInvalidInputError(
            f"The {where} has credentials inside its host URL: "
            "put them in the login and password fields instead."
        )
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise TwilioPushInvalidInputError(
            f"The {where} has host {host!r}, which is not a base URL: "
            f"expected something like {DEFAULT_BASE_URL!r}."
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise TwilioPushInvalidInputError(
            f"The {where} uses http:// for the non-loopback host {parts.hostname!r}: "
            "credentials would travel in clear text. Use https:// "
            "(plain http is accepted only for 127.0.0.1, ::1 and localhost, e.g. the emulator)."
        )
    netloc = parts.netloc
    if port and host_port is None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _extra_number(
    where: str,
    extra: Mapping[str, Any],
    key: str,
    default: Any,
    kind: Callable[[Any], Any],
    *,
    minimum: float,
    expected: str,
) -> Any:
    raw = extra.get(key, extra.get(f"extra__twilio_push__{key}"))
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        value = None
    if (
        value is None
        or isinstance(raw, bool)
        or not math.isfinite(value)  # "nan" would compare False with the minimum; "inf" never times out
        or value < minimum
        or (isinstance(raw, float) and value != raw)  # int(2.5) would silently drop the .5
    ):
        raise TwilioPushInvalidInputError(f"The {where} has extra {key}={raw!r}: expected {expected}.")
    return value


# ---------------------------------------------------------------------------------------------
# Clients


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """One SSL context for every client of the process: loading the CA bundle is costly."""
    return ssl.create_default_context(cafile=certifi.where())


def basic_auth_header(settings: ConnectionSettings) -> str:
    """The ``Authorization`` header value for the connection, as ``httpx.BasicAuth`` sends it."""
    token = base64.b64encode(f"{settings.username}:{settings.password}".encode()).decode()
    return f"Basic {token}"


def client_options(settings: ConnectionSettings) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client`` and ``httpx.AsyncClient`` alike."""
    return {
        "base_url": settings.base_url,
        "auth": httpx.BasicAuth(settings.username, settings.password),
        "timeout": httpx.Timeout(settings.timeout),
        "verify": shared_ssl_context(),
        "headers": {
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-twilio-push/{__version__}",
        },
        "follow_redirects": False,
    }


# ---------------------------------------------------------------------------------------------
# Requests


def validate_operation_id(operation_id: object) -> str:
    # fullmatch: with match(), '$' also accepts a trailing newline, which httpx then refuses.
    if not isinstance(operation_id, str) or not _OPERATION_ID_RE.fullmatch(operation_id):
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


# ---------------------------------------------------------------------------------------------
# Responses


def check_response(
    request: ApiRequest, response: httpx.Response, conn_id: str, budget: RequestBudget | None = None
) -> None:
    """Raise the typed error for a non-2xx response; a 429's ``Retry-After`` pauses ``budget``."""
    if response.is_success:
        return
    status = response.status_code
    body = _error_body(response)
    code = body.get("code")
    twilio_message = body.get("message")
    more_info = body.get("moreInfo", body.get("more_info"))
    message = f"Twilio Push API answered {status} {response.reason_phrase} to {request.describe()}"
    if twilio_message:
        message += f": {twilio_message}"
    if code is not None:
        message += f" (Twilio error {code})"
    error_class: type[TwilioPushAPIError]
    if status in (401, 403):
        error_class = TwilioPushAuthError
        message += (
            f". Check the login (Account SID or API Key SID) and password of connection {conn_id!r}"
            + (" and that it may use the Comms API" if status == 403 else "")
            + "."
        )
    elif status == 404:
        error_class = TwilioPushNotFoundError
        message += ". The resource does not exist, or is older than Twilio's 7-day retention."
    elif status == 429:
        error_class = TwilioPushRateLimitedError
    elif status >= 500:
        error_class = TwilioPushServerError
    else:
        error_class = TwilioPushBadRequestError
    error = error_class(
        message,
        http_status=status,
        path=request.path,
        code=code if isinstance(code, int) else None,
        twilio_message=twilio_message if isinstance(twilio_message, str) else None,
        more_info=more_info if isinstance(more_info, str) else None,
    )
    error.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    if budget is not None and status == 429 and error.retry_after:
        budget.pause(error.retry_after)
    raise error


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to decode
        return {}
    return body if isinstance(body, dict) else {}


def transport_error(request: ApiRequest, exc: httpx.TransportError) -> TwilioPushConnectionError:
    error = TwilioPushConnectionError(
        f"No answer from the Twilio Push API to {request.describe()}: {type(exc).__name__}"
        + (f" ({exc})" if str(exc) else ""),
        path=request.path,
    )
    error.never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    return error


def decoding_error(request: ApiRequest, exc: httpx.DecodingError) -> TwilioPushMalformedResponseError:
    """An answer whose body could not be decoded (e.g. a broken ``Content-Encoding: gzip``)."""
    return TwilioPushMalformedResponseError(
        f"The Twilio Push API's answer to {request.describe()} could not be decoded: "
        f"{type(exc).__name__} ({exc}).",
        path=request.path,
    )


@contextmanager
def typed_transport_errors(request: ApiRequest) -> Iterator[None]:
    """Around sending ``request``: httpx's transport and decoding errors become ours."""
    try:
        yield
    except httpx.TransportError as exc:
        raise transport_error(request, exc) from None
    except httpx.DecodingError as exc:
        raise decoding_error(request, exc) from None


def parse_json(request: ApiRequest, response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to decode
        preview = response.content[:_BODY_PREVIEW].decode("utf-8", "replace")
        raise TwilioPushMalformedResponseError(
            f"Twilio Push API answered {response.status_code} to {request.describe()} with a body "
            f"that is not JSON (starts with {preview!r}).",
            http_status=response.status_code,
            path=request.path,
        ) from None


def parse_model(request: ApiRequest, response: httpx.Response, model: type[M]) -> M:
    try:
        # pydantic parses and validates the bytes in one pass (2x faster than json.loads, then
        # validation; a 1,000-operation page is ~10 ms less). It accepts nothing the path below
        # would refuse; what it refuses goes down that path, for the usual messages.
        return model.model_validate_json(response.content)
    except ValidationError:
        pass
    data = parse_json(request, response)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _malformed(request, response.status_code, model.__name__, exc) from None


def _malformed(
    request: ApiRequest,
    status_code: int,
    model_name: str,
    exc: ValidationError,
    *,
    at: tuple[str | int, ...] = (),
) -> TwilioPushMalformedResponseError:
    return TwilioPushMalformedResponseError(
        f"Twilio Push API answered {status_code} to {request.describe()} with JSON "
        f"that is not a valid {model_name}: {describe_validation_error(exc, at=at)}.",
        http_status=status_code,
        path=request.path,
    )


def describe_validation_error(exc: ValidationError, limit: int = 3, *, at: tuple[str | int, ...] = ()) -> str:
    problems = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(part) for part in (*at, *error["loc"])) or "body"
        got = repr(error.get("input"))
        if len(got) > _BODY_PREVIEW:
            got = got[: _BODY_PREVIEW - 3] + "..."
        problems.append(f"{where}: {error['msg']} (got {got})")
    more = len(exc.errors()) - limit
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def describe_progress(operation: Operation) -> str:
    """One line for the task log: the user's progress bar."""
    stats = operation.stats
    return (
        f"Operation {operation.id} is {operation.status.value}: {stats.sent:,} sent, "
        f"{stats.failed:,} failed, {stats.queued:,} queued of {stats.total:,}"
    )


def parse_operation(request: ApiRequest, response: httpx.Response) -> Operation:
    return parse_model(request, response, Operation)


def parse_operation_page(request: ApiRequest, response: httpx.Response) -> OperationPage:
    return parse_model(request, response, OperationPage)


class _UncheckedOperationPage(OperationPage):
    operations: list[Any] = Field(default_factory=list)


_validate_operation = Operation.__pydantic_validator__.validate_python


@dataclass(frozen=True)
class LazyOperationPage:
    """A page of the operations list whose operations are validated one by one, as they are read.

    Validated all at once, a page of 1,000 operations is ~5,000 objects that stay alive while the
    page is read: the garbage collector promotes them, then rescans the whole process (an Airflow
    worker is large) every few pages. Validated when reached, each operation dies young; a walk
    costs a third less CPU (``benchmarks/listing.py``).
    """

    request: ApiRequest
    status_code: int
    operations: list[Any]
    next_page_token: str | None

    def validated(self, items: list[Any]) -> Iterator[Operation]:
        """``items``, this page's operations or the first of them (``Pager.take``), as models."""
        for index, item in enumerate(items):
            try:
                operation = _validate_operation(item)
            except ValidationError as exc:
                raise _malformed(
                    self.request, self.status_code, "OperationPage", exc, at=("operations", index)
                ) from None
            yield operation


def parse_lazy_operation_page(request: ApiRequest, response: httpx.Response) -> LazyOperationPage:
    """The page's shape is checked now, each operation by :meth:`LazyOperationPage.validated`."""
    try:
        # 2x faster than json.loads; only keys are cached: ids would fill the cache, for nothing
        data = pydantic_core.from_json(response.content, cache_strings="keys")
    except ValueError:
        data = parse_json(request, response)  # its error message, or what it alone accepts
    page: OperationPage
    try:
        page = _UncheckedOperationPage.model_validate(data)
    except ValidationError:
        page = parse_operation_page(request, response)  # refuses it, in OperationPage's words
    return LazyOperationPage(request, response.status_code, page.operations, page.next_page_token)


# ---------------------------------------------------------------------------------------------
# Retries


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


class RequestBudget:
    """The requests of one connection in one process, paced together.

    After a 429 every request of the connection waits out its ``Retry-After`` (Twilio limits
    per account, so one trigger's 429 is every trigger's); with ``max_requests_per_second`` the
    requests are also spaced evenly, so that a fleet stays under the limit in the first place.
    ``reserve()`` books the next slot and returns how long to wait for it (0 for none).
    """

    #: Seconds after its slot beyond which a request that wakes up late (a blocked event loop,
    #: a stalled process) books a new slot: the requests due during a stall must not all go at once.
    late_after = 0.5

    def __init__(self, max_requests_per_second: float | None = None) -> None:
        self.interval = 1.0 / max_requests_per_second if max_requests_per_second else 0.0
        self._next_slot = 0.0
        self._paused_until = 0.0

    def reserve(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        slot = max(now, self._next_slot, self._paused_until)
        self._next_slot = slot + self.interval
        return slot - now

    def pause(self, seconds: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._paused_until = max(self._paused_until, now + seconds)


def is_retryable(policy: RetryPolicy, exc: BaseException) -> bool:
    if isinstance(exc, TwilioPushRateLimitedError):
        return True
    if policy is RetryPolicy.IDEMPOTENT:
        return isinstance(exc, TwilioPushConnectionError) or (
            isinstance(exc, TwilioPushServerError) and exc.http_status in RETRYABLE_STATUS_CODES
        )
    return isinstance(exc, TwilioPushConnectionError) and exc.never_sent


def retry_delay(exc: BaseException | None, attempt: int, backoff: float, backoff_max: float) -> float:
    """Seconds to wait after failed attempt number ``attempt``: ``Retry-After``, else backoff."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return float(retry_after)
    return backoff_delay(attempt, backoff, backoff_max)


def _retry_message(exc: BaseException | None, delay: float, next_attempt: int, max_retries: int) -> str:
    return f"{exc}; retrying in {delay:.1f} s (attempt {next_attempt} of {max_retries + 1})"


def first_retry_delay(
    request: ApiRequest,
    exc: Exception,
    *,
    max_retries: int,
    backoff: float,
    backoff_max: float,
    on_retry: Callable[[str], None],
) -> float:
    """After a failed first attempt: the wait before the second one, said through ``on_retry``.

    Raises what the call ends with when there is no second attempt: ``exc`` itself when it may
    not be retried, else ``exc`` saying it gave up after 1 attempt (``max_retries`` 0). The
    first attempt runs outside tenacity (cheaper); later ones use :func:`retry_options` with
    ``attempts_made=1``, and together they behave as ``retry_options()`` alone would.
    """
    if not is_retryable(request.retry_policy, exc):
        raise exc
    if max_retries < 1:
        assert isinstance(exc, TwilioPushAPIError)
        raise exc.after_attempts(1) from exc
    delay = retry_delay(exc, 1, backoff, backoff_max)
    on_retry(_retry_message(exc, delay, 2, max_retries))
    return delay


def retry_options(
    request: ApiRequest,
    *,
    max_retries: int,
    backoff: float,
    backoff_max: float,
    on_retry: Callable[[str], None],
    attempts_made: int = 0,
) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike.

    ``attempts_made``: attempts already made before tenacity takes over (see
    :func:`first_retry_delay`); attempt numbers in waits and messages count them.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return retry_delay(exc, state.attempt_number + attempts_made, backoff, backoff_max)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        on_retry(_retry_message(exc, delay, state.attempt_number + attempts_made + 1, max_retries))

    def give_up(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        assert isinstance(exc, TwilioPushAPIError)
        raise exc.after_attempts(state.attempt_number + attempts_made) from exc

    return {
        "stop": stop_after_attempt(max_retries + 1 - attempts_made),
        "wait": wait,
        "retry": retry_if_exception(lambda exc: is_retryable(request.retry_policy, exc)),
        "before_sleep": before_sleep,
        "retry_error_callback": give_up,
    }


def validate_max_items(max_items: object, expected: str = "an integer >= 0") -> int:
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0:
        raise TwilioPushInvalidInputError(f"Invalid max_items {max_items!r}: expected {expected}.")
    return max_items


class Pager:
    """Walks the pages of the operations list: which request comes next, what to yield of a page."""

    def __init__(
        self,
        *,
        status: object = None,
        start_date: object = None,
        end_date: object = None,
        page_size: object = MAX_PAGE_SIZE,
        max_items: object = None,
    ) -> None:
        self._remaining = (
            None if max_items is None else validate_max_items(max_items, "None (no limit) or an integer >= 0")
        )
        self._first = list_operations_request(
            status=status, start_date=start_date, end_date=end_date, page_size=page_size
        )
        self._request: ApiRequest | None = None if self._remaining == 0 else self._first
        self._seen_tokens: set[str] = set()

    def next_request(self) -> ApiRequest | None:
        return self._request

    def take(self, page: OperationPage | LazyOperationPage) -> list[Any]:
        """The operations of ``page`` to yield; prepares the request of the next page."""
        operations = page.operations
        if self._remaining is not None:
            operations = operations[: self._remaining]
            self._remaining -= len(operations)
        token = page.next_page_token
        current = self._request.params.get("pageToken") if self._request and self._request.params else None
        if not token or self._remaining == 0:
            self._request = None
        elif token == current or token in self._seen_tokens:
            which = "the page just read" if token == current else "an earlier page"
            raise TwilioPushMalformedResponseError(
                f"Twilio Push API answered GET {OPERATIONS_PATH} with pagination.next equal to the "
                f"token of {which}: paging would never end.",
                path=OPERATIONS_PATH,
            )
        else:
            self._seen_tokens.add(token)
            self._request = ApiRequest(
                "GET", OPERATIONS_PATH, params={**(self._first.params or {}), "pageToken": token}
            )
        return operations


def operation_errors_request(operation_id: object, *, page_token: str | None = None) -> ApiRequest:
    params = {"pageSize": str(MAX_PAGE_SIZE)}
    if page_token:
        params["pageToken"] = page_token
    return ApiRequest("GET", f"{OPERATIONS_PATH}/{validate_operation_id(operation_id)}/Errors", params=params)


def parse_operation_errors(
    request: ApiRequest, response: httpx.Response
) -> tuple[list[OperationError], str | None]:
    """One page of an operation's errors and the next page's token.

    The shape is undocumented: a list, or an object whose ``errors`` (or first list-valued
    field) holds the items; items that are not objects are skipped.
    """
    data = parse_json(request, response)
    items: Any = data
    token = None
    if isinstance(data, dict):
        items = data.get("errors")
        if items is None:
            items = next((v for v in data.values() if isinstance(v, list)), [])
        pagination = data.get("pagination")
        if isinstance(pagination, dict) and isinstance(pagination.get("next"), str):
            token = pagination["next"] or None
    if not isinstance(items, list):
        raise TwilioPushMalformedResponseError(
            f"Twilio Push API answered {response.status_code} to {request.describe()} without a list "
            "of errors.",
            http_status=response.status_code,
            path=request.path,
        )
    errors = []
    for item in items:
        if isinstance(item, dict):
            try:
                errors.append(OperationError.model_validate(item))
            except ValidationError:
                errors.append(OperationError())
    return errors, token


class ErrorsPager:
    """Walks the pages of an operation's Errors endpoint until ``max_items`` errors are collected."""

    def __init__(self, operation_id: object, max_items: object) -> None:
        self._operation_id = validate_operation_id(operation_id)
        self._max_items = validate_max_items(max_items)
        self._request: ApiRequest | None = (
            operation_errors_request(self._operation_id) if self._max_items else None
        )
        self._errors: list[OperationError] = []

    def next_request(self) -> ApiRequest | None:
        return self._request

    def add(self, request: ApiRequest, response: httpx.Response) -> None:
        page, token = parse_operation_errors(request, response)
        self._errors.extend(page)
        more = token and page and len(self._errors) < self._max_items
        self._request = operation_errors_request(self._operation_id, page_token=token) if more else None

    @property
    def errors(self) -> list[OperationError]:
        return self._errors[: self._max_items]


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


def parse_send_response(request: ApiRequest, response: httpx.Response) -> str:
    """The operation id of an accepted send: from the body, else the headers."""
    candidates: list[object] = []
    try:
        body = json.loads(response.content) if response.content else None
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to decode
        body = None
    if isinstance(body, dict):
        candidates += [body.get("operationId"), _last_segment(body.get("operationLocation"))]
    headers = response.headers
    candidates += [
        headers.get("operation-id"),
        _last_segment(headers.get("operation-location")),
        _last_segment(headers.get("location")),
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and _OPERATION_ID_RE.fullmatch(candidate):
            return candidate
    raise TwilioPushSendUncertainError(
        f"Twilio Push API accepted {request.describe()} ({response.status_code}) but its answer holds no "
        "operation id (neither operationId in the body nor operation-id / Location headers). The "
        "notifications are probably being sent: do not send again before checking the recent "
        "operations (TwilioPushHook.list_operations).",
        http_status=response.status_code,
        path=request.path,
    )


def _last_segment(url: object) -> str | None:
    return url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) and url else None


def uncertain_send(exc: TwilioPushAPIError) -> TwilioPushAPIError:
    """What a failed send raises: the error itself when Twilio surely did not process it."""
    surely_not_processed = isinstance(exc, TwilioPushRateLimitedError) or (
        isinstance(exc, TwilioPushConnectionError) and exc.never_sent
    )
    if surely_not_processed or not exc.transient:
        return exc
    error = TwilioPushSendUncertainError(
        f"{exc}. Twilio may have accepted this send anyway, so it was not retried (a retry could "
        "deliver the notifications twice). Check the recent operations "
        "(TwilioPushHook.list_operations(start_date=...)) before sending again.",
        http_status=exc.http_status,
        path=exc.path,
        code=exc.code,
        twilio_message=exc.twilio_message,
        more_info=exc.more_info,
    )
    return error
