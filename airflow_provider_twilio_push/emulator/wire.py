"""Wire helpers shared by the API and the control API: error bodies, page tokens, dates."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

ROUTE_SEND = "POST /v1/PushNotifications"
ROUTE_LIST = "GET /v1/PushNotifications/Operations"
ROUTE_GET = "GET /v1/PushNotifications/Operations/{id}"
ROUTE_ERRORS = "GET /v1/PushNotifications/Operations/{id}/Errors"
#: The /v1 route templates: keys of the counters and of fault scoping.
ROUTES = (ROUTE_SEND, ROUTE_LIST, ROUTE_GET, ROUTE_ERRORS)
#: Counter key (after the method) of requests to paths outside the routes above.
UNMATCHED = "(unmatched)"

#: Twilio-style error code for each HTTP status the emulator answers with.
ERROR_CODES = {
    400: 20001,
    401: 20003,
    404: 20404,
    405: 20004,
    409: 20409,
    413: 20413,
    429: 20429,
    500: 20500,
    503: 20503,
}


def error_body(status: int, message: str) -> bytes:
    """The one error shape of every error response."""
    code = ERROR_CODES.get(status, 20000 + status)
    return dumps(
        {
            "code": code,
            "message": message,
            "moreInfo": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    )


class ApiError(Exception):
    """An error answer: its status, message and extra headers."""

    def __init__(self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []

    @property
    def body(self) -> bytes:
        return error_body(self.status, self.message)


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def describe(value: Any) -> str:
    """How a JSON value is named in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_datetime(text: str, *, require_tz: bool = False) -> float | None:
    """An ISO 8601 date or date-time as epoch seconds (no time zone means UTC); None if unparsable."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if require_tz:
            return None
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def encode_token(data: dict[str, Any]) -> str:
    """An opaque page token: base64url JSON without padding."""
    return base64.urlsafe_b64encode(dumps(data)).rstrip(b"=").decode()


def decode_token(token: str, kind: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        data = None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise ApiError(400, f"Invalid pageToken {token!r}: pass the token of a previous page unchanged")
    return data
