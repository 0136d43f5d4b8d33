"""Wire helpers shared by the API and the control API: error bodies, page tokens, dates."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

ROUTE_SEND = "POST /v1/PushNotifications"
ROUTE_NOTIFICATIONS = "GET /v1/PushNotifications"
ROUTE_NOTIFICATION = "GET /v1/PushNotifications/{id}"
ROUTE_LIST = "GET /v1/PushNotifications/Operations"
ROUTE_GET = "GET /v1/PushNotifications/Operations/{id}"
ROUTE_ERRORS = "GET /v1/PushNotifications/Operations/{id}/Errors"
#: The /v1 route templates: keys of the counters and of fault scoping.
ROUTES = (ROUTE_SEND, ROUTE_NOTIFICATIONS, ROUTE_NOTIFICATION, ROUTE_LIST, ROUTE_GET, ROUTE_ERRORS)
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


def error_body(status: int, problems: list[tuple[str | None, str]]) -> bytes:
    """The one error shape of every error response, Twilio's ``TwilioErrors``.

    ``problems`` are ``(context, message)`` pairs; ``context`` is a JSON path to the errant
    field of the request (``$.to[0].token``), or None when no field is to blame.
    """
    code = ERROR_CODES.get(status, 20000 + status)
    info_url = f"https://www.twilio.com/docs/api/errors/{code}"
    return dumps(
        {
            "errors": [
                {"code": code, "message": message, "infoUrl": info_url, "context": context}
                for context, message in problems
            ]
        }
    )


class ApiError(Exception):
    """An error answer: its status, what was wrong (``(context, message)`` pairs), extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        context: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problems: list[tuple[str | None, str]] = [(context, message)]
        self.headers = headers or []

    @classmethod
    def invalid(cls, problems: list[tuple[str | None, str]]) -> ApiError:
        """A 400 naming every problem found in a request."""
        error = cls(400, problems[0][1], context=problems[0][0])
        error.problems = problems
        return error

    @property
    def body(self) -> bytes:
        return error_body(self.status, self.problems)


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


def parse_datetime(text: str) -> float | None:
    """An ISO 8601 date or date-time as epoch seconds (no time zone means UTC); None if unparsable."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def parse_rfc3339(text: str) -> float | None:
    """An RFC 3339 date-time (``2025-11-11T11:11:00Z``) as epoch seconds; None if it is not one."""
    if not _RFC3339.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.upper()).timestamp()
    except ValueError:
        return None


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
