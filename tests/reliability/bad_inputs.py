"""The bad-input table: every case, the exact message the user sees, how many requests were sent.

``test_bad_inputs.py`` runs each case; ``docs/bad-inputs.md`` is rendered from the same list
(``render_markdown()``), and a test fails when the file and the list disagree. After changing a
case, regenerate the document with::

    .venv/bin/python tests/reliability/bad_inputs.py

Nothing here imports the emulator or respx: a case only says what to do and what must happen.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_twilio_push.exceptions import (
    TwilioPushAuthError,
    TwilioPushBadRequestError,
    TwilioPushConnectionError,
    TwilioPushError,
    TwilioPushInvalidInputError,
    TwilioPushMalformedResponseError,
    TwilioPushNotFoundError,
    TwilioPushRateLimitedError,
    TwilioPushSendUncertainError,
    TwilioPushServerError,
)

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md"

OP = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
UNKNOWN_OP = "comms_operation_01zzzzzzzzzzzzzzzzzzzzzzzz"
OP_PATH = f"/v1/PushNotifications/Operations/{OP}"
LIST_PATH = "/v1/PushNotifications/Operations"
SEND_PATH = "/v1/PushNotifications"
#: Every case runs with this connection extra, so that "retries exhausted" means 2 requests.
MAX_RETRIES = 1

_ID_EXPECTED = (
    "expected an id like 'comms_operation_01h9krwprkeee8fzqspvwy6nq8' "
    "(pattern ^comms_operation_[0-7][a-hjkmnpqrstv-z0-9]{25,34}$)."
)
_NO_TZ = (
    "it has no timezone. Pass a timezone-aware datetime (e.g. pendulum.datetime(..., tz='UTC')) "
    "or an ISO string with an offset ('...Z')."
)
_CONN = "The connection 'twilio_push_default'"
_SEND = "hook.send_push_notifications"
_HI = '{"title": "Hi"}'
_MAY_HAVE_BEEN_ACCEPTED = (
    ". Twilio may have accepted this send anyway, so it was not retried (a retry could deliver the "
    "notifications twice). Check the recent operations (TwilioPushHook.list_operations(start_date=...)) "
    "before sending again."
)


@dataclass(frozen=True)
class Answer:
    """What the mocked API (respx) answers: a response, or an ``httpx`` exception by name."""

    status: int = 200
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raises: str | None = None  # e.g. "ConnectError", raised with ``raises_message``
    raises_message: str = ""
    repeat_token: bool = False  # a list page whose pagination.next is the token just sent

    def describe(self) -> str:
        if self.raises:
            return f"mock raises `httpx.{self.raises}({self.raises_message!r})`"
        if self.repeat_token:
            return 'mock: every page has `"pagination": {"next": "c2FtZQ"}`'
        text = f"mock {self.status}"
        if self.headers:
            text += " " + ", ".join(f"`{k}: {v}`" for k, v in self.headers.items())
        if self.json is not None:
            text += f" `{json.dumps(self.json, separators=(',', ':'))}`"
        elif self.content is not None:
            text += f" body `{self.content.decode('latin-1')!r}`"
        return text


@dataclass(frozen=True)
class Case:
    """One bad input.

    ``call`` is Python, evaluated as it is shown (``hook`` is ``TwilioPushHook()``). With
    ``faults`` the emulator answers, with those faults; with ``answer`` a mock of
    https://comms.twilio.com does; with neither, the input must be refused before any request
    (the connection still points at the emulator, which counts whatever reaches it).
    """

    id: str
    what: str
    call: str
    error: type[TwilioPushError]
    message: str
    requests: int
    connection: dict[str, Any] | None = None  # top-level fields replacing the emulator connection's
    faults: dict[str, Any] | None = None
    emulator: bool = False  # the emulator answers (with ``faults`` if any)
    answer: Answer | None = None

    def setup(self) -> str:
        parts = []
        if self.connection is not None:
            parts.append(f"connection `{json.dumps(self.connection)}`")
        if self.answer is not None:
            parts.append(self.answer.describe())
        elif self.emulator:
            faults = ", ".join(f"{k}={v!r}" for k, v in (self.faults or {}).items())
            parts.append(f"emulator, faults `{faults}`" if faults else "emulator")
        return "; ".join(parts) or "—"


def _http_error(status: str, path: str, tail: str, method: str = "GET") -> str:
    return f"Twilio Push API answered {status} to {method} {path}{tail}"


CASES: list[Case] = [
    # -- arguments: refused before any request ------------------------------------------------
    Case(
        "invalid-operation-id",
        "invalid operation id",
        'hook.get_operation("op_123")',
        TwilioPushInvalidInputError,
        f"Invalid operation_id 'op_123': {_ID_EXPECTED}",
        0,
    ),
    Case(
        "operation-id-trailing-newline",
        "operation id with a trailing newline (e.g. from a file)",
        'hook.get_operation(OP + "\\n")',
        TwilioPushInvalidInputError,
        f"Invalid operation_id '{OP}\\n': {_ID_EXPECTED}",
        0,
    ),
    Case(
        "operation-id-none",
        "operation id None (an empty XCom)",
        "hook.get_operation(None)",
        TwilioPushInvalidInputError,
        f"Invalid operation_id None: {_ID_EXPECTED}",
        0,
    ),
    Case(
        "errors-invalid-operation-id",
        "invalid operation id for the Errors endpoint",
        'hook.get_operation_errors("op_123")',
        TwilioPushInvalidInputError,
        f"Invalid operation_id 'op_123': {_ID_EXPECTED}",
        0,
    ),
    Case(
        "page-size-0",
        "page_size 0",
        "hook.list_operations(page_size=0)",
        TwilioPushInvalidInputError,
        "Invalid page_size 0: expected an integer from 1 to 1000.",
        0,
    ),
    Case(
        "page-size-1001",
        "page_size 1001",
        "hook.list_operations(page_size=1001)",
        TwilioPushInvalidInputError,
        "Invalid page_size 1001: expected an integer from 1 to 1000.",
        0,
    ),
    Case(
        "unknown-status",
        "unknown status",
        'hook.list_operations(status="DONE")',
        TwilioPushInvalidInputError,
        "Invalid status 'DONE': expected one of SCHEDULED, PROCESSING, COMPLETED, CANCELED.",
        0,
    ),
    Case(
        "end-before-start",
        "end_date before start_date",
        'hook.list_operations(start_date="2024-01-16T00:00:00Z", end_date="2024-01-15T00:00:00Z")',
        TwilioPushInvalidInputError,
        "start_date 2024-01-16T00:00:00Z is after end_date 2024-01-15T00:00:00Z: "
        "expected start_date <= end_date.",
        0,
    ),
    Case(
        "naive-datetime",
        "naive datetime",
        "hook.list_operations(start_date=datetime(2024, 1, 15, 9, 30))",
        TwilioPushInvalidInputError,
        f"Invalid start_date '2024-01-15T09:30:00': {_NO_TZ}",
        0,
    ),
    Case(
        "naive-iso-string",
        "ISO string without an offset",
        'hook.list_operations(end_date="2024-01-15T09:30:00")',
        TwilioPushInvalidInputError,
        f"Invalid end_date '2024-01-15T09:30:00': {_NO_TZ}",
        0,
    ),
    Case(
        "unparsable-date",
        "a date that is not ISO 8601",
        'hook.list_operations(start_date="yesterday")',
        TwilioPushInvalidInputError,
        "Invalid start_date 'yesterday': expected an ISO 8601 date-time such as '2024-01-15T09:30:00Z'.",
        0,
    ),
    Case(
        "empty-page-token",
        "empty page token",
        'hook.list_operations(page_token="")',
        TwilioPushInvalidInputError,
        "Invalid page_token '': expected the non-empty string a previous page returned as next_page_token.",
        0,
    ),
    Case(
        "negative-max-items",
        "negative max_items",
        "list(hook.iter_operations(max_items=-1))",
        TwilioPushInvalidInputError,
        "Invalid max_items -1: expected None (no limit) or an integer >= 0.",
        0,
    ),
    # -- the connection: refused before any request -------------------------------------------
    Case(
        "missing-connection",
        "missing connection",
        'TwilioPushHook("twilio_push_missing").get_operation(OP)',
        TwilioPushInvalidInputError,
        "The connection 'twilio_push_missing' is not defined: create it (type twilio_push) in the UI "
        "or set AIRFLOW_CONN_TWILIO_PUSH_MISSING.",
        0,
    ),
    Case(
        "no-login",
        "connection without login",
        "hook.get_operation(OP)",
        TwilioPushInvalidInputError,
        f"{_CONN} has no login: set it to your Account SID (AC...) or API Key SID (SK...).",
        0,
        connection={"login": None},
    ),
    Case(
        "no-password",
        "connection without password",
        "hook.get_operation(OP)",
        TwilioPushInvalidInputError,
        f"{_CONN} has no password: set it to your Auth Token or API Key secret.",
        0,
        connection={"password": ""},
    ),
    Case(
        "http-non-loopback",
        "`http://` to a non-loopback host",
        "hook.get_operation(OP)",
        TwilioPushInvalidInputError,
        f"{_CONN} uses http:// for the non-loopback host 'comms.example.com': credentials would travel "
        "in clear text. Use https:// (plain http is accepted only for 127.0.0.1, ::1 and localhost, "
        "e.g. the emulator).",
        0,
        connection={"host": "http://comms.example.com"},
    ),
    Case(
        "credentials-in-host",
        "credentials inside the host URL",
        "hook.get_operation(OP)",
        TwilioPushInvalidInputError,
        f"{_CONN} has credentials inside its host URL: put them in the login and password fields instead.",
        0,
        connection={"host": "https://AC123:hunter2-secret@comms.twilio.com"},
    ),
    Case(
        "host-not-a-url",
        "host that is not a base URL",
        "hook.get_operation(OP)",
        TwilioPushInvalidInputError,
        f"{_CONN} has host 'ftp://comms.example.com', which is not a base URL: "
        "expected something like 'https://comms.twilio.com'.",
        0,
        connection={"host": "ftp://comms.example.com"},
    ),
    Case(
        "extra-not-an-object",
        "connection extra that is not a JSON object",
        "hook.get_operation(OP)",
        TwilioPushInvalidInputError,
        f"{_CONN} has an extra that is not a JSON object (got list): "
        'expected something like {"timeout": 10, "max_retries": 4}.',
        0,
        connection={"extra": ["timeout", 10]},
    ),
    Case(
        "extra-timeout",
        "extra timeout that is not a number",
        "hook.get_operation(OP)",
        TwilioPushInvalidInputError,
        f"{_CONN} has extra timeout='soon': expected a number of seconds > 0.",
        0,
        connection={"extra": {"timeout": "soon"}},
    ),
    Case(
        "extra-max-retries",
        "negative extra max_retries",
        "hook.get_operation(OP)",
        TwilioPushInvalidInputError,
        f"{_CONN} has extra max_retries=-1: expected an integer >= 0.",
        0,
        connection={"extra": {"max_retries": -1}},
    ),
    Case(
        "extra-max-requests-per-second",
        "extra max_requests_per_second 0",
        "hook.get_operation(OP)",
        TwilioPushInvalidInputError,
        f"{_CONN} has extra max_requests_per_second=0: expected a number > 0.",
        0,
        connection={"extra": {"max_requests_per_second": 0}},
    ),
    # -- operator arguments: refused when the DAG is parsed -----------------------------------
    Case(
        "negative-max-failed",
        "negative max_failed",
        'TwilioPushOperationStatsOperator(task_id="stats", operation_id=OP, max_failed=-1)',
        TwilioPushInvalidInputError,
        "Invalid max_failed=-1: expected a whole count >= 0.",
        0,
    ),
    Case(
        "fractional-max-failed",
        "max_failed that is not a whole number",
        'TwilioPushOperationStatsOperator(task_id="stats", operation_id=OP, max_failed=2.5)',
        TwilioPushInvalidInputError,
        "Invalid max_failed=2.5: expected a whole count >= 0.",
        0,
    ),
    Case(
        "max-failure-rate-above-1",
        "max_failure_rate above 1",
        'TwilioPushOperationStatsOperator(task_id="stats", operation_id=OP, max_failure_rate=1.5)',
        TwilioPushInvalidInputError,
        "Invalid max_failure_rate=1.5: expected a rate from 0 to 1 (e.g. 0.02 for 2%).",
        0,
    ),
    Case(
        "max-failure-rate-percent",
        "max_failure_rate given in percent",
        'TwilioPushOperationStatsOperator(task_id="stats", operation_id=OP, max_failure_rate=2)',
        TwilioPushInvalidInputError,
        "Invalid max_failure_rate=2: expected a rate from 0 to 1 (e.g. 0.02 for 2%).",
        0,
    ),
    Case(
        "poll-interval-0",
        "poll_interval 0",
        f'TwilioPushSendOperator(task_id="send", to=[{{"token": "t"}}], content={_HI}, poll_interval=0)',
        TwilioPushInvalidInputError,
        "Invalid poll_interval=0: expected a number of seconds > 0.",
        0,
    ),
    # -- send arguments: refused before anything is sent ---------------------------------------
    Case(
        "no-recipients",
        "empty recipient list",
        f"{_SEND}([], {_HI})",
        TwilioPushInvalidInputError,
        "Invalid to: 0 recipients; expected 1 to 10,000 per send (split larger audiences into several sends).",
        0,
    ),
    Case(
        "10001-recipients",
        "10,001 recipients",
        f'{_SEND}([{{"token": "t"}}] * 10_001, {_HI})',
        TwilioPushInvalidInputError,
        "Invalid to: 10,001 recipients; expected 1 to 10,000 per send "
        "(split larger audiences into several sends).",
        0,
    ),
    Case(
        "recipients-a-string",
        "recipients given as one string",
        f'{_SEND}("fcm-token", {_HI})',
        TwilioPushInvalidInputError,
        "Invalid to: expected a list of recipients such as [{'token': '...', 'provider': 'FCM'}], got str.",
        0,
    ),
    Case(
        "recipient-a-string",
        "a recipient that is not a dict",
        f'{_SEND}(["fcm-token"], {_HI})',
        TwilioPushInvalidInputError,
        "Invalid to[0]: expected a recipient dict such as {'token': '...', 'provider': 'FCM'}, got str.",
        0,
    ),
    Case(
        "empty-token",
        "empty device token",
        f'{_SEND}([{{"token": " "}}], {_HI})',
        TwilioPushInvalidInputError,
        "Invalid to[0]: token must be a non-empty string.",
        0,
    ),
    Case(
        "unknown-provider",
        "unknown push provider",
        f'{_SEND}([{{"token": "t", "provider": "GCM"}}], {_HI})',
        TwilioPushInvalidInputError,
        "Invalid to[0]: provider 'GCM'; expected 'FCM' or 'APN'.",
        0,
    ),
    Case(
        "empty-content",
        "content without title or body",
        f'{_SEND}([{{"token": "t"}}], {{"title": ""}})',
        TwilioPushInvalidInputError,
        "Invalid content: it needs a non-empty 'title' or 'body' string.",
        0,
    ),
    Case(
        "unknown-priority",
        "unknown priority",
        f'{_SEND}([{{"token": "t"}}], {_HI}, priority="URGENT")',
        TwilioPushInvalidInputError,
        "Invalid priority 'URGENT': expected one of HIGH, LOW.",
        0,
    ),
    Case(
        "11-tags",
        "11 tags",
        f'{_SEND}([{{"token": "t"}}], {_HI}, tags={{f"k{{i}}": "v" for i in range(11)}})',
        TwilioPushInvalidInputError,
        "Invalid tags: 11 tags; expected at most 10.",
        0,
    ),
    Case(
        "naive-schedule",
        "naive schedule",
        f"{_SEND}([{{'token': 't'}}], {_HI}, schedule=datetime(2030, 1, 1, 9))",
        TwilioPushInvalidInputError,
        f"Invalid schedule '2030-01-01T09:00:00': {_NO_TZ}",
        0,
    ),
    # -- the emulator's answers ---------------------------------------------------------------
    Case(
        "401",
        "401: wrong password",
        "hook.get_operation(OP)",
        TwilioPushAuthError,
        _http_error(
            "401 Unauthorized",
            OP_PATH,
            ": Authentication failed: wrong Account SID or Auth Token (Twilio error 20003). "
            "Check the login (Account SID or API Key SID) and password of connection 'twilio_push_default'.",
        ),
        1,
        connection={"password": "wrong-password"},
        emulator=True,
    ),
    Case(
        "404",
        "404: unknown (or expired) operation",
        "hook.get_operation(UNKNOWN_OP)",
        TwilioPushNotFoundError,
        _http_error(
            "404 Not Found",
            f"{LIST_PATH}/{UNKNOWN_OP}",
            f": Operation {UNKNOWN_OP} was not found (records are kept 7 days) (Twilio error 20404). "
            "The resource does not exist, or is older than Twilio's 7-day retention.",
        ),
        1,
        emulator=True,
    ),
    Case(
        "429-exhausted",
        "429 on every attempt",
        "hook.get_operation(OP)",
        TwilioPushRateLimitedError,
        _http_error(
            "429 Too Many Requests",
            OP_PATH,
            ": Too Many Requests: slow down (Twilio error 20429) (gave up after 2 attempts)",
        ),
        2,
        faults={"rate_429": 1, "retry_after": 0},
        emulator=True,
    ),
    Case(
        "500-exhausted",
        "500 on every attempt",
        "hook.get_operation(OP)",
        TwilioPushServerError,
        _http_error(
            "500 Internal Server Error",
            OP_PATH,
            ": Internal Server Error (Twilio error 20500) (gave up after 2 attempts)",
        ),
        2,
        faults={"rate_500": 1},
        emulator=True,
    ),
    Case(
        "503-exhausted",
        "503 on every attempt",
        "hook.list_operations()",
        TwilioPushServerError,
        _http_error(
            "503 Service Unavailable",
            LIST_PATH,
            ": Service Unavailable: try again later (Twilio error 20503) (gave up after 2 attempts)",
        ),
        2,
        faults={"rate_503": 1},
        emulator=True,
    ),
    Case(
        "non-json-200",
        "non-JSON 200 (not retried; a trigger waits it out)",
        "hook.list_operations(page_size=5)",
        TwilioPushMalformedResponseError,
        # The emulator's fault: the first half of the real body (drawn with its seed, so stable).
        _http_error(
            "200",
            LIST_PATH,
            " with a body that is not JSON "
            """(starts with '{"operations":[],"pagination":{"next":null,"self":"eyJraW5kIjoib3BlcmF0aW9ucyIsI').""",
        ),
        1,
        faults={"rate_malformed": 1},
        emulator=True,
    ),
    Case(
        "send-500",
        "500 to a send (Twilio may have accepted it)",
        f'{_SEND}([{{"token": "t"}}], {_HI})',
        TwilioPushSendUncertainError,
        _http_error(
            "500 Internal Server Error", SEND_PATH, ": Internal Server Error (Twilio error 20500)", "POST"
        )
        + _MAY_HAVE_BEEN_ACCEPTED,
        1,
        faults={"rate_500": 1},
        emulator=True,
    ),
    Case(
        "send-429-exhausted",
        "429 to every attempt of a send (safe to retry: never processed)",
        f'{_SEND}([{{"token": "t"}}], {_HI})',
        TwilioPushRateLimitedError,
        _http_error(
            "429 Too Many Requests",
            SEND_PATH,
            ": Too Many Requests: slow down (Twilio error 20429) (gave up after 2 attempts)",
            "POST",
        ),
        2,
        faults={"rate_429": 1, "retry_after": 0},
        emulator=True,
    ),
    Case(
        "send-rejected",
        "a recipient without a token (passes local checks, the API refuses it)",
        f'{_SEND}([{{"provider": "FCM"}}], {_HI})',
        TwilioPushBadRequestError,
        _http_error(
            "400 Bad Request",
            SEND_PATH,
            ": to[0].token must be a non-empty string, got null (Twilio error 20001)",
            "POST",
        ),
        1,
        emulator=True,
    ),
    # -- answers the emulator does not give: a mock of https://comms.twilio.com -----------------
    Case(
        "403",
        "403: credentials without access to the Comms API",
        "hook.get_operation(OP)",
        TwilioPushAuthError,
        _http_error(
            "403 Forbidden",
            OP_PATH,
            ": Comms API not enabled for this account (Twilio error 20403). Check the login (Account SID or "
            "API Key SID) and password of connection 'twilio_push_default' and that it may use the Comms API.",
        ),
        1,
        answer=Answer(403, json={"code": 20403, "message": "Comms API not enabled for this account"}),
    ),
    Case(
        "wrong-shape",
        "JSON of the wrong shape",
        "hook.get_operation(OP)",
        TwilioPushMalformedResponseError,
        _http_error(
            "200",
            OP_PATH,
            " with JSON that is not a valid Operation: "
            "body: Input should be a valid dictionary or instance of Operation (got []).",
        ),
        1,
        answer=Answer(200, json=[]),
    ),
    Case(
        "unknown-server-status",
        "an unknown status value from the server",
        "hook.get_operation(OP)",
        TwilioPushMalformedResponseError,
        _http_error(
            "200",
            OP_PATH,
            " with JSON that is not a valid Operation: status: Input should be 'SCHEDULED', 'PROCESSING', "
            "'COMPLETED' or 'CANCELED' (got 'FAILED').",
        ),
        1,
        answer=Answer(200, json={"id": OP, "status": "FAILED"}),
    ),
    Case(
        "negative-counter",
        "a negative counter from the server",
        "hook.get_operation(OP)",
        TwilioPushMalformedResponseError,
        _http_error(
            "200",
            OP_PATH,
            " with JSON that is not a valid Operation: "
            "stats.sent: Input should be greater than or equal to 0 (got -1).",
        ),
        1,
        answer=Answer(200, json={"id": OP, "status": "PROCESSING", "stats": {"sent": -1}}),
    ),
    Case(
        "page-of-garbage",
        "a list page whose operations are not objects",
        "hook.list_operations()",
        TwilioPushMalformedResponseError,
        _http_error(
            "200",
            LIST_PATH,
            " with JSON that is not a valid OperationPage: operations.0: Input should be a valid "
            f"dictionary or instance of Operation (got '{OP}').",
        ),
        1,
        answer=Answer(200, json={"operations": ["comms_operation_01h9krwprkeee8fzqspvwy6nq8"]}),
    ),
    Case(
        "repeated-page-token",
        "a list whose next page token never changes",
        "list(hook.iter_operations())",
        TwilioPushMalformedResponseError,
        f"Twilio Push API answered GET {LIST_PATH} with pagination.next equal to the token of the page "
        "just read: paging would never end.",
        2,
        answer=Answer(repeat_token=True),
    ),
    Case(
        "errors-not-a-list",
        "an Errors answer without a list",
        "hook.get_operation_errors(OP)",
        TwilioPushMalformedResponseError,
        _http_error("200", f"{OP_PATH}/Errors", " without a list of errors."),
        1,
        answer=Answer(200, json={"errors": "none"}),
    ),
    Case(
        "broken-gzip",
        "a body that cannot be decoded (broken gzip)",
        "hook.get_operation(OP)",
        TwilioPushMalformedResponseError,
        f"The Twilio Push API's answer to GET {OP_PATH} could not be decoded: "
        "DecodingError (Error -3 while decompressing data: incorrect header check).",
        1,
        answer=Answer(200, content=b"not gzip", headers={"Content-Encoding": "gzip"}),
    ),
    Case(
        "redirect",
        "a redirect (never followed: it would resend the credentials)",
        "hook.get_operation(OP)",
        TwilioPushBadRequestError,
        _http_error("301 Moved Permanently", OP_PATH, ""),
        1,
        answer=Answer(301, headers={"Location": "https://example.com/"}),
    ),
    Case(
        "send-accepted-without-id",
        "202 to a send without an operation id",
        f'{_SEND}([{{"token": "t"}}], {_HI})',
        TwilioPushSendUncertainError,
        "Twilio Push API accepted POST /v1/PushNotifications (202) but its answer holds no operation id "
        "(neither operationId in the body nor operation-id / Location headers). The notifications are "
        "probably being sent: do not send again before checking the recent operations "
        "(TwilioPushHook.list_operations).",
        1,
        answer=Answer(202, json={"accepted": True}),
    ),
    Case(
        "dropped-connection",
        "connection dropped on every attempt",
        "hook.get_operation(OP)",
        TwilioPushConnectionError,
        f"No answer from the Twilio Push API to GET {OP_PATH}: RemoteProtocolError "
        "(Server disconnected without sending a response.) (gave up after 2 attempts)",
        2,
        answer=Answer(
            raises="RemoteProtocolError", raises_message="Server disconnected without sending a response."
        ),
    ),
    Case(
        "connection-refused",
        "connection refused on every attempt",
        "hook.get_operation(OP)",
        TwilioPushConnectionError,
        f"No answer from the Twilio Push API to GET {OP_PATH}: ConnectError "
        "([Errno 111] Connection refused) (gave up after 2 attempts)",
        2,
        answer=Answer(raises="ConnectError", raises_message="[Errno 111] Connection refused"),
    ),
    Case(
        "send-read-timeout",
        "a send whose answer timed out (not retried)",
        f'{_SEND}([{{"token": "t"}}], {_HI})',
        TwilioPushSendUncertainError,
        f"No answer from the Twilio Push API to POST {SEND_PATH}: ReadTimeout (timed out)"
        + _MAY_HAVE_BEEN_ACCEPTED,
        1,
        answer=Answer(raises="ReadTimeout", raises_message="timed out"),
    ),
]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "\\n")


def render_markdown(cases: list[Case] = CASES) -> str:
    lines = [
        "# Bad inputs and what you see",
        "",
        "Every row is a case of `tests/reliability/test_bad_inputs.py`, which checks the exception, its",
        "exact message and how many HTTP requests were sent; this page is generated from that list",
        "(`.venv/bin/python tests/reliability/bad_inputs.py`) and a test fails when they disagree.",
        "",
        "In the calls, `hook = TwilioPushHook()`,",
        f"`OP = '{OP}'`, and `UNKNOWN_OP` is a valid id the",
        "API does not know. The connection `twilio_push_default` points at the emulator, with the extra",
        f"`max_retries={MAX_RETRIES}`: a fault on every attempt takes {MAX_RETRIES + 1} requests "
        f"(with the default of 4 retries, 5).",
        "Rows whose server is a *mock* get their answer from a mock of `https://comms.twilio.com`",
        "because the emulator never gives it. Input that can be checked locally is refused with",
        "**0 requests**, and what an operator can check is refused when the DAG is parsed. Every error",
        "is a `TwilioPushError` (an `AirflowException`); the invalid-input ones are also `ValueError`s.",
        "No message ever contains a password.",
        "",
        "| # | bad input | call | connection / server | error | message | requests |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for number, case in enumerate(cases, 1):
        lines.append(
            f"| {number} | {_cell(case.what)} | `{_cell(case.call)}` | {_cell(case.setup())} "
            f"| `{case.error.__name__}` | `{_cell(case.message)}` | {case.requests} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    DOC_PATH.write_text(render_markdown())
    sys.stdout.write(f"wrote {DOC_PATH}\n")
