"""An answer turned into a model or a typed error: status to error, one JSON decoder for every
endpoint, and the one place that says a body is not JSON."""

from __future__ import annotations

import json
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pydantic_core
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from airflow_provider_twilio_push.core.request import OPERATION_ID_RE, ApiRequest
from airflow_provider_twilio_push.core.retries import retry_after_seconds
from airflow_provider_twilio_push.exceptions import (
    TwilioErrorDetail,
    TwilioPushAPIError,
    TwilioPushAuthError,
    TwilioPushBadRequestError,
    TwilioPushConnectionError,
    TwilioPushMalformedResponseError,
    TwilioPushNotFoundError,
    TwilioPushRateLimitedError,
    TwilioPushSendUncertainError,
    TwilioPushServerError,
)
from airflow_provider_twilio_push.models import Operation, OperationError, OperationPage, PushNotificationPage

_BODY_PREVIEW = 80
#: How many entries of an error body the message shows; ``error.errors`` has them all.
MAX_ERRORS_SHOWN = 20

M = TypeVar("M", bound=BaseModel)


# ---------------------------------------------------------------------------------------------
# Failures


def error_for_status(
    request: ApiRequest, response: httpx.Response, connection: str
) -> TwilioPushAPIError | None:
    """The typed error of a non-2xx response (``retry_after`` set from its header); None for a 2xx.

    :param connection: How messages name the connection (``ConnectionSettings.name``).
    """
    if response.is_success:
        return None
    status = response.status_code
    errors = twilio_errors(_json_object_or_empty(response.content))
    message = f"Twilio Push API answered {status} {response.reason_phrase} to {request.describe()}"
    if errors:
        shown = "; ".join(error.describe() for error in errors[:MAX_ERRORS_SHOWN])
        more = len(errors) - MAX_ERRORS_SHOWN
        message += f": {shown}" + (f"; and {more} more (see the error's .errors)" if more > 0 else "")
    first = errors[0] if errors else TwilioErrorDetail()
    error_class: type[TwilioPushAPIError]
    if status in (401, 403):
        error_class = TwilioPushAuthError
        message += (
            ". Check the Account SID or API Key SID (login) and the Auth Token or API Key secret "
            f"(password) of {connection}"
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
        code=first.code if isinstance(first.code, int) else None,
        twilio_message=first.message,
        more_info=first.info_url,
        errors=errors,
    )
    error.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    return error


def twilio_errors(body: dict[str, Any]) -> tuple[TwilioErrorDetail, ...]:
    """Every entry of an error body: Twilio's contract says ``{"errors": [{"code", "message",
    "infoUrl", "context"}]}``; a flat ``{"code", "message", "moreInfo"}`` (Twilio's older APIs) is
    read too, and whatever is missing or of another type is left out."""
    entries = body.get("errors")
    items = [item for item in entries if isinstance(item, dict)] if isinstance(entries, list) else [body]
    details = []
    for item in items:
        code, message = item.get("code"), item.get("message")
        info_url = item.get("infoUrl", item.get("moreInfo", item.get("more_info")))
        context = item.get("context")
        detail = TwilioErrorDetail(
            code=code if isinstance(code, int | str) and not isinstance(code, bool) and code != "" else None,
            message=message if isinstance(message, str) and message else None,
            info_url=info_url if isinstance(info_url, str) else None,
            # The contract's own examples say "null" for no field.
            context=context if isinstance(context, str) and context not in ("", "null") else None,
        )
        if detail.code is not None or detail.message is not None:
            details.append(detail)
    return tuple(details)


def transport_error(
    request: ApiRequest, exc: httpx.TransportError, base_url: str
) -> TwilioPushConnectionError:
    """No answer to ``request`` sent to ``base_url`` (which the connection checks holds no credentials)."""
    error = TwilioPushConnectionError(
        f"No answer from the Twilio Push API at {base_url} to {request.describe()}: {type(exc).__name__}"
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
def typed_transport_errors(request: ApiRequest, base_url: str) -> Iterator[None]:
    """Around sending ``request`` to ``base_url``: httpx's transport and decoding errors become ours."""
    try:
        yield
    except httpx.TransportError as exc:
        raise transport_error(request, exc, base_url) from None
    except httpx.DecodingError as exc:
        raise decoding_error(request, exc) from None


# ---------------------------------------------------------------------------------------------
# JSON and models


def _loads(content: bytes) -> Any:
    """The JSON decoder of every answer; ``ValueError`` when ``content`` is not JSON.

    pydantic's parser first (2x faster than ``json.loads``); ``json.loads`` for what only it
    accepts (a byte order mark, UTF-16, lone surrogates).
    """
    try:
        # Only keys are cached: ids would fill the cache, for nothing.
        return pydantic_core.from_json(content, cache_strings="keys")
    except ValueError:
        pass
    try:
        return json.loads(content)
    except RecursionError as exc:  # JSON nested too deep to decode
        raise ValueError("JSON nested too deep") from exc


def _json_object_or_empty(content: bytes) -> dict[str, Any]:
    """A body that is meant to be read leniently (an error's details): its object, else ``{}``."""
    try:
        body = _loads(content) if content else None
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def parse_json(request: ApiRequest, response: httpx.Response) -> Any:
    try:
        return _loads(response.content)
    except ValueError:
        preview = response.content[:_BODY_PREVIEW].decode("utf-8", "replace")
        raise TwilioPushMalformedResponseError(
            f"Twilio Push API answered {response.status_code} to {request.describe()} with a body "
            f"that is not JSON (starts with {preview!r}).",
            http_status=response.status_code,
            path=request.path,
        ) from None


def parse_model(request: ApiRequest, response: httpx.Response, model: type[M]) -> M:
    """The body as ``model``, or the error that says why it is not one."""
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


def parse_operation(request: ApiRequest, response: httpx.Response) -> Operation:
    return parse_model(request, response, Operation)


def parse_operation_page(request: ApiRequest, response: httpx.Response) -> OperationPage:
    return parse_model(request, response, OperationPage)


def parse_push_notification_page(request: ApiRequest, response: httpx.Response) -> PushNotificationPage:
    return parse_model(request, response, PushNotificationPage)


class _UncheckedOperationPage(OperationPage):
    operations: list[Any] = Field(default_factory=list)


#: One operation of a page (a dict) as a model: the adapter's validator itself, without
#: ``model_validate``'s keyword handling, which cost 0.5 us an operation (listing 100,000
#: operations: 4.1 us of CPU each instead of 3.6).
validate_operation = TypeAdapter(Operation).validator.validate_python


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
                operation = validate_operation(item)
            except ValidationError as exc:
                raise _malformed(
                    self.request, self.status_code, "OperationPage", exc, at=("operations", index)
                ) from None
            yield operation

    def lenient(self, wanted: Container[str]) -> Iterator[Operation]:
        """The valid operations of this page whose id is in ``wanted`` (looked up as each is
        reached); any other item, malformed or not, is skipped without failing the others."""
        for item in self.operations:
            operation_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(operation_id, str) or operation_id not in wanted:
                continue
            try:
                operation = validate_operation(item)
            except ValidationError:
                continue
            yield operation


def parse_lazy_operation_page(request: ApiRequest, response: httpx.Response) -> LazyOperationPage:
    """The page's shape is checked now, each operation by :meth:`LazyOperationPage.validated`."""
    data = parse_json(request, response)
    page: OperationPage
    try:
        page = _UncheckedOperationPage.model_validate(data)
    except ValidationError:
        page = parse_operation_page(request, response)  # refuses it, in OperationPage's words
    return LazyOperationPage(request, response.status_code, page.operations, page.next_page_token)


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


def parse_send_response(request: ApiRequest, response: httpx.Response) -> str:
    """The operation id of an accepted send: from the body, else the headers."""
    body = _json_object_or_empty(response.content)
    headers = response.headers
    candidates = [
        body.get("operationId"),
        _last_segment(body.get("operationLocation")),
        headers.get("operation-id"),
        _last_segment(headers.get("operation-location")),
        _last_segment(headers.get("location")),
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and OPERATION_ID_RE.fullmatch(candidate):
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
