"""The emulator's ASGI application.

The Comms API routes (/v1) are plain ASGI: there are six of them, they carry the fault
injection and the counters, and ``GET .../Operations/{id}`` is the hot path of every sensor.
The control API (/_emulator) is a Starlette app.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from airflow_provider_twilio_push.emulator.faults import FaultDecision
from airflow_provider_twilio_push.emulator.operation import (
    NOTIFICATION_ID_RE,
    NOTIFICATION_STATUSES,
    OPERATION_ID_RE,
    PROVIDERS,
    STATUSES,
    Operation,
)
from airflow_provider_twilio_push.emulator.send_validation import USER_ID_RE, validate_send
from airflow_provider_twilio_push.emulator.state import EmulatorState
from airflow_provider_twilio_push.emulator.wire import (
    ROUTE_ERRORS,
    ROUTE_GET,
    ROUTE_LIST,
    ROUTE_NOTIFICATION,
    ROUTE_NOTIFICATIONS,
    ROUTE_SEND,
    UNMATCHED,
    ApiError,
    decode_token,
    dumps,
    encode_token,
    parse_datetime,
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_BODY_BYTES = 16 * 1024 * 1024

_SEND_PATH = "/v1/PushNotifications"
_LIST_PATH = "/v1/PushNotifications/Operations"
_OP_PREFIX = _LIST_PATH + "/"
_NOTIFICATION_PREFIX = _SEND_PATH + "/"
_ERRORS_SUFFIX = "/Errors"
# Resources of the contract under /v1/PushNotifications/ that the emulator does not serve.
_NOT_EMULATED = frozenset({"DeviceRegistrations", "Credentials", "Apps", "Users"})
_TAGS_QUERY_RE = re.compile(r"(?:[a-zA-Z0-9._~-]+:[a-zA-Z0-9._~-]+;){1,10}")
_JSON = b"application/json"
_WWW_AUTHENTICATE = (b"www-authenticate", b'Basic realm="Twilio API"')
_MALFORMED_HTML = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    content_type: bytes = _JSON

    @classmethod
    def of(cls, error: ApiError) -> Reply:
        return cls(error.status, error.body, error.headers)

    async def send(self, send: Send) -> None:
        headers = [
            (b"content-type", self.content_type),
            (b"content-length", str(len(self.body)).encode()),
            *self.headers,
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def _match(method: str, path: str) -> tuple[str, tuple[str, ...], str | None]:
    """``(counter key, allowed methods (none if no route), id in the path)`` of a /v1 request."""
    if path.startswith(_OP_PREFIX):
        rest = path[len(_OP_PREFIX) :]
        if "/" not in rest:
            return ROUTE_GET.replace("GET", method, 1), ("GET",), rest
        if rest.endswith(_ERRORS_SUFFIX) and rest.count("/") == 1:
            return ROUTE_ERRORS.replace("GET", method, 1), ("GET",), rest[: -len(_ERRORS_SUFFIX)]
    elif path == _LIST_PATH:
        return ROUTE_LIST.replace("GET", method, 1), ("GET",), None
    elif path == _SEND_PATH:
        return f"{method} {_SEND_PATH}", ("GET", "POST"), None
    elif path.startswith(_NOTIFICATION_PREFIX):
        rest = path[len(_NOTIFICATION_PREFIX) :]
        if rest and "/" not in rest and rest not in _NOT_EMULATED:
            return ROUTE_NOTIFICATION.replace("GET", method, 1), ("GET",), rest
    return f"{method} {UNMATCHED}", (), None


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))


def _page_size(params: dict[str, str], default: int) -> int:
    raw = params.get("pageSize")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise ApiError(400, f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}, got {raw!r}")
    return int(raw)


def _is_int(value: Any, minimum: int, maximum: float = float("inf")) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= maximum


def _is_date(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _is_cursor(value: Any) -> bool:
    return value is None or (
        isinstance(value, list) and len(value) == 2 and _is_int(value[0], 0) and isinstance(value[1], str)
    )


_TOKEN_FIELDS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "operations": {
        "status": lambda v: v is None or v in STATUSES,
        "startDate": _is_date,
        "endDate": _is_date,
        "pageSize": lambda v: _is_int(v, 1, MAX_PAGE_SIZE),
        "before": _is_cursor,
    },
    "errors": {
        "operationId": lambda v: isinstance(v, str),
        "pageSize": lambda v: _is_int(v, 1, MAX_PAGE_SIZE),
        "after": lambda v: _is_int(v, 0),
    },
    "notifications": {
        "operationId": lambda v: v is None or isinstance(v, str),
        "status": lambda v: v is None or v in NOTIFICATION_STATUSES,
        "tags": lambda v: v is None or isinstance(v, str),
        "startDate": _is_date,
        "endDate": _is_date,
        "user": lambda v: v is None or isinstance(v, str),
        "provider": lambda v: v is None or v in PROVIDERS,
        "pageSize": lambda v: _is_int(v, 1, MAX_PAGE_SIZE),
        "after": lambda v: (
            v is None or (isinstance(v, list) and len(v) == 3 and _is_cursor(v[:2]) and _is_int(v[2], 0))
        ),
    },
}


def _page_token(raw: str, kind: str) -> dict[str, Any]:
    """A page token of ``kind`` as issued by the emulator (else 400)."""
    token = decode_token(raw, kind)
    if not all(check(token.get(key)) for key, check in _TOKEN_FIELDS[kind].items()):
        raise ApiError(400, f"Invalid pageToken {raw!r}: pass the token of a previous page unchanged")
    return token


def _paged_query(
    params: dict[str, str], query: dict[str, Any], kind: str
) -> tuple[int, dict[str, Any] | None]:
    """The page size and the page token of a list request; a token carries the query it was
    issued for into ``query`` (repeating the same filters is fine, different ones are 400)."""
    size = _page_size(params, DEFAULT_PAGE_SIZE)
    if not params.get("pageToken"):
        return size, None
    token = _page_token(params["pageToken"], kind)
    for key, value in query.items():
        if value is not None and value != token.get(key):
            raise ApiError(400, f"{key} differs from the query the pageToken was issued for")
        query[key] = token.get(key)
    return _page_size(params, token["pageSize"]), token


def _one_of(params: dict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name) or None
    if value is not None and value not in allowed:
        raise ApiError(400, f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _date_param(params: dict[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    value = parse_datetime(raw)
    if value is None:
        raise ApiError(400, f"{name} must be an ISO 8601 date-time such as 2024-01-15T09:30:00Z, got {raw!r}")
    return value


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "The client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"The request body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _drop_connection(receive: Receive) -> None:
    """Close the connection without answering, so that the client sees a connection error.

    ASGI has no way to say this; uvicorn's ``receive`` is a method of the request cycle, which
    holds the transport. Without one (e.g. in-process tests) the app raises instead.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("twilio-push-emulator dropped the connection (fault injection)")
    transport.abort()
    async with asyncio.timeout(1.0):
        while (await receive())["type"] != "http.disconnect":
            pass


def _malformed(reply: Reply, html: bool) -> Reply:
    status = reply.status if 200 <= reply.status < 300 else 200
    if html:
        return Reply(status, _MALFORMED_HTML, content_type=b"text/html")
    return Reply(status, reply.body[: max(1, len(reply.body) // 2)], reply.headers)


class EmulatorApp:
    """The ASGI app: /v1 here, /_emulator in the Starlette control app, 404 elsewhere."""

    def __init__(self, state: EmulatorState) -> None:
        from airflow_provider_twilio_push.emulator.control_api import control_app

        self.state = state
        self.control: ASGIApp = control_app(state)
        credentials = f"{state.account_sid}:{state.auth_token}".encode()
        self._expected_authorization = b"Basic " + base64.b64encode(credentials)
        self._handlers: dict[str, Callable[[Scope, str | None], Reply]] = {
            ROUTE_LIST: self._list_operations,
            ROUTE_GET: self._get_operation,
            ROUTE_ERRORS: self._list_errors,
            ROUTE_NOTIFICATIONS: self._list_notifications,
            ROUTE_NOTIFICATION: self._get_notification,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/_emulator/"):
                await self.control(scope, receive, send)
            else:
                await self._api(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        method: str = scope["method"]
        route, allowed, op_id = _match(method, scope["path"])
        decision: FaultDecision | None = None
        try:
            if not allowed:
                raise ApiError(404, f"The requested resource {scope['path']} was not found")
            if method not in allowed:
                raise ApiError(
                    405, f"Method {method} not allowed here", [(b"allow", ", ".join(allowed).encode())]
                )
            self._authenticate(scope)
            decision = state.injector.decide(route)
            # The contract: 429 and 503 say when to retry, in seconds.
            retry_after = [(b"retry-after", str(state.faults.retry_after).encode())]
            if decision.kind == "429":
                raise ApiError(429, "Too Many Requests: slow down", retry_after)
            if decision.kind == "503":
                raise ApiError(503, "Service Unavailable: try again later", retry_after)
            if route == ROUTE_SEND:
                reply = await self._send_push(scope, receive)
            else:
                reply = self._handlers[route](scope, op_id)
        except ApiError as exc:
            reply = Reply.of(exc)
        if decision is None or not (decision.kind or decision.slow):
            state.counters.add(route, str(reply.status))
            await reply.send(send)
            return
        if decision.kind == "500":
            reply = Reply.of(ApiError(500, "Internal Server Error"))
        elif decision.kind == "malformed":
            reply = _malformed(reply, decision.malformed_html)
        # Counted before the delay, so that a late answer never lands in the counters after a reset.
        state.counters.add(route, "dropped" if decision.kind == "drop" else str(reply.status))
        if decision.slow:
            await asyncio.sleep(decision.slow_seconds)
        if decision.kind == "drop":
            await _drop_connection(receive)
        else:
            await reply.send(send)

    def _authenticate(self, scope: Scope) -> None:
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        if header == self._expected_authorization:
            return
        if header is None:
            message = "Authentication required: use HTTP Basic with your Account SID and Auth Token"
            raise ApiError(401, message, [_WWW_AUTHENTICATE])
        scheme, _, encoded = header.partition(b" ")
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except binascii.Error:
            user = password = b""
        state = self.state
        if not (
            scheme.lower() == b"basic"
            and hmac.compare_digest(user, state.account_sid.encode())
            and hmac.compare_digest(password, state.auth_token.encode())
        ):
            raise ApiError(401, "Authentication failed: wrong Account SID or Auth Token", [_WWW_AUTHENTICATE])

    def _live_operation(self, op_id: str) -> Operation:
        if not OPERATION_ID_RE.fullmatch(op_id):
            raise ApiError(
                400,
                f"Invalid operation id {op_id!r}: "
                "expected comms_operation_ and 26 to 35 lower-case Crockford base32 characters",
            )
        op = self.state.live_operation(op_id)
        if op is None:
            raise ApiError(404, f"Operation {op_id} was not found (records are kept 7 days)")
        return op

    def _get_operation(self, scope: Scope, op_id: str | None) -> Reply:
        assert op_id is not None
        op = self._live_operation(op_id)
        return Reply(200, op.render(self.state.clock.now()))

    def _list_operations(self, scope: Scope, _: str | None) -> Reply:
        params = _query(scope)
        query: dict[str, Any] = {
            "status": _one_of(params, "status", STATUSES),
            "startDate": _date_param(params, "startDate"),
            "endDate": _date_param(params, "endDate"),
        }
        size, token = _paged_query(params, query, "operations")
        before = (token["before"][0], token["before"][1]) if token and token["before"] else None
        now = self.state.clock.now()
        ops, more = self.state.list_operations(
            now=now,
            before=before,
            limit=size,
            status=query["status"],
            start=query["startDate"],
            end=query["endDate"],
        )
        page = {"kind": "operations", **query, "pageSize": size}
        pagination = {
            "next": encode_token({**page, "before": list(ops[-1].sort_key)}) if more else None,
            "self": encode_token({**page, "before": list(before) if before else None}),
        }
        body = b'{"operations":[%s],"pagination":%s}' % (
            b",".join(op.render(now) for op in ops),
            dumps(pagination),
        )
        return Reply(200, body)

    def _list_errors(self, scope: Scope, op_id: str | None) -> Reply:
        assert op_id is not None
        op = self._live_operation(op_id)
        params = _query(scope)
        size = _page_size(params, DEFAULT_PAGE_SIZE)
        after = 0
        if params.get("pageToken"):
            token = _page_token(params["pageToken"], "errors")
            if token["operationId"] != op_id:
                raise ApiError(400, "The pageToken was issued for another operation's errors")
            after = token["after"]
            size = _page_size(params, token["pageSize"])
        happened = op.errors_so_far(self.state.clock.now())
        end = min(happened, after + size)
        page = {"kind": "errors", "operationId": op_id, "pageSize": size}
        body = {
            "errors": [op.error(j) for j in range(after, end)],
            "pagination": {
                "next": encode_token({**page, "after": end}) if end < happened else None,
                "self": encode_token({**page, "after": after}),
            },
        }
        return Reply(200, dumps(body))

    def _list_notifications(self, scope: Scope, _: str | None) -> Reply:
        params = _query(scope)
        query: dict[str, Any] = {
            "operationId": params.get("operationId") or None,
            "status": _one_of(params, "status", NOTIFICATION_STATUSES),
            "tags": params.get("tags") or None,
            "startDate": _date_param(params, "startDate"),
            "endDate": _date_param(params, "endDate"),
            "user": params.get("user") or None,
            "provider": _one_of(params, "provider", PROVIDERS),
        }
        if query["operationId"] is not None and not OPERATION_ID_RE.fullmatch(query["operationId"]):
            raise ApiError(400, f"operationId must be an operation id, got {query['operationId']!r}")
        if query["user"] is not None and not USER_ID_RE.fullmatch(query["user"]):
            raise ApiError(
                400, f"user must be a user id like comms_pushnotificationuser_..., got {query['user']!r}"
            )
        if query["tags"] is not None and not _TAGS_QUERY_RE.fullmatch(query["tags"]):
            raise ApiError(
                400,
                f"tags must be 1 to 10 'key:value;' pairs such as 'campaign:spring;', got {query['tags']!r}",
            )
        size, token = _paged_query(params, query, "notifications")
        after = token["after"] if token else None
        # A list, not a dict: ``k:a;k:b;`` asks for both, which no send has.
        pairs: list[str] = (query["tags"] or "").split(";")
        tags = [(key, value) for key, _, value in (pair.partition(":") for pair in pairs if pair)]
        now = self.state.clock.now()
        found, more = self.state.list_notifications(
            now=now,
            after=(after[0], after[1], after[2]) if after else None,
            limit=size,
            operation_id=query["operationId"],
            status=query["status"],
            provider=query["provider"],
            user=query["user"],
            tags=tags,
            start=query["startDate"],
            end=query["endDate"],
        )
        page = {"kind": "notifications", **query, "pageSize": size}
        last = [found[-1][0].created_s, found[-1][0].id, found[-1][1]] if found else None
        pagination = {
            "next": encode_token({**page, "after": last}) if more else None,
            "self": encode_token({**page, "after": after}),
        }
        items = [op.notification(k, now) for op, k in found]
        return Reply(200, dumps({"pushNotifications": items, "pagination": pagination}))

    def _get_notification(self, scope: Scope, notification_id: str | None) -> Reply:
        assert notification_id is not None
        if not NOTIFICATION_ID_RE.fullmatch(notification_id):
            raise ApiError(
                400,
                f"Invalid push notification id {notification_id!r}: expected comms_pushnotification_ "
                "and 26 to 35 lower-case Crockford base32 characters",
            )
        found = self.state.find_notification(notification_id)
        if found is None:
            raise ApiError(
                404, f"Push notification {notification_id} was not found (records are kept 7 days)"
            )
        op, k = found
        return Reply(200, dumps(op.notification(k, self.state.clock.now(), content=True)))

    async def _send_push(self, scope: Scope, receive: Receive) -> Reply:
        raw = await _read_body(receive)
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"The request body is not valid JSON: {exc}") from None
        send, send_at = validate_send(body, self.state.clock.now())
        message = {key: value for key, value in body.items() if key != "to"}
        op = self.state.create_send(send, send_at, message)
        location = f"{self._base_url(scope)}{_OP_PREFIX}{op.id}"
        reply = {"operationId": op.id, "operationLocation": location}
        return Reply(202, dumps(reply), [(b"location", location.encode())])

    def _base_url(self, scope: Scope) -> str:
        if self.state.base_url:
            return self.state.base_url
        for name, value in scope["headers"]:
            if name == b"host":
                return f"http://{value.decode('latin-1')}"
        host, port = scope.get("server") or ("127.0.0.1", 80)
        return f"http://{host}:{port}"


def create_app(state: EmulatorState) -> EmulatorApp:
    return EmulatorApp(state)
