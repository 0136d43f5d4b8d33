"""The request core (``core/``): connection checks, request building, error mapping, retry
decisions, paging and response parsing, without any I/O."""

from __future__ import annotations

import email.utils
import json
import random
import re
from typing import Any

import httpx
import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_twilio_push import __version__
from airflow_provider_twilio_push.core.paging import (
    ErrorsPager,
    Pager,
)
from airflow_provider_twilio_push.core.progress import describe_progress
from airflow_provider_twilio_push.core.request import (
    OPERATIONS_PATH,
    ApiRequest,
    get_operation_request,
    list_operations_request,
    list_push_notifications_request,
    operation_errors_request,
    to_utc,
    validate_operation_id,
    validate_page_size,
    validate_status,
)
from airflow_provider_twilio_push.core.response import (
    error_for_status,
    parse_lazy_operation_page,
    parse_operation,
    parse_operation_page,
    transport_error,
)
from airflow_provider_twilio_push.core.retries import (
    RetryPolicy,
    backoff_delay,
    is_retryable,
    retry_after_seconds,
)
from airflow_provider_twilio_push.core.settings import (
    DEFAULT_BASE_URL,
    ConnectionSettings,
    client_options,
    connection_settings,
    shared_ssl_context,
)
from airflow_provider_twilio_push.exceptions import (
    TwilioPushAPIError,
    TwilioPushAuthError,
    TwilioPushBadRequestError,
    TwilioPushConnectionError,
    TwilioPushInvalidInputError,
    TwilioPushMalformedResponseError,
    TwilioPushNotFoundError,
    TwilioPushRateLimitedError,
    TwilioPushServerError,
)
from airflow_provider_twilio_push.models import Operation, OperationPage, OperationStatus

OP_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
GET_OP = get_operation_request(OP_ID)
LIST_OPS = list_operations_request()


def settings_for(**fields: Any) -> ConnectionSettings:
    conn: dict[str, Any] = {
        "host": None,
        "schema": None,
        "port": None,
        "login": "AC0123456789abcdef0123456789abcdef",
        "password": "tok-CANARY-9f1c2e7a",
        "extra": {},
    }
    conn.update(fields)
    return connection_settings("twilio_push_default", **conn)


def raise_for_status(request: ApiRequest, response: httpx.Response, connection: str) -> None:
    if (error := error_for_status(request, response, connection)) is not None:
        raise error


# ---------------------------------------------------------------------------------------------
# Connection settings


@pytest.mark.parametrize(
    ("fields", "base_url"),
    [
        ({}, "https://comms.twilio.com"),
        ({"host": "   "}, "https://comms.twilio.com"),
        ({"host": "comms.example.com"}, "https://comms.example.com"),
        ({"host": "https://comms.example.com/"}, "https://comms.example.com"),
        ({"host": "https://proxy.example.com/twilio/"}, "https://proxy.example.com/twilio"),
        ({"host": "comms.example.com", "port": 8443}, "https://comms.example.com:8443"),
        ({"host": "https://comms.example.com:8443", "port": 9000}, "https://comms.example.com:8443"),
        ({"host": "comms.example.com", "schema": "HTTPS"}, "https://comms.example.com"),
        ({"host": "comms.example.com", "schema": "postgres"}, "https://comms.example.com"),
        ({"host": "http://localhost:8080"}, "http://localhost:8080"),
        ({"host": "http://LOCALHOST"}, "http://LOCALHOST"),
        ({"host": "localhost", "schema": "http"}, "http://localhost"),
        ({"host": "127.0.0.1", "schema": "http", "port": 9000}, "http://127.0.0.1:9000"),
        ({"host": "http://127.0.0.2:1234"}, "http://127.0.0.2:1234"),
        ({"host": "[::1]", "schema": "http", "port": 8080}, "http://[::1]:8080"),
        ({"host": "http://[::1]:8080"}, "http://[::1]:8080"),
    ],
)
def test_base_url(fields: dict[str, Any], base_url: str) -> None:
    assert settings_for(**fields).base_url == base_url


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"host": "http://comms.example.com"},
            "The connection 'twilio_push_default' uses http:// for the non-loopback host "
            "'comms.example.com': credentials would travel in clear text. Use https:// (plain http is "
            "accepted only for 127.0.0.1, ::1 and localhost, e.g. the emulator).",
        ),
        (
            {"host": "10.1.2.3", "schema": "http"},
            "The connection 'twilio_push_default' uses http:// for the non-loopback host '10.1.2.3'",
        ),
        (
            {"host": "http://localhost.evil.example"},
            "uses http:// for the non-loopback host 'localhost.evil.example'",
        ),
        (
            {"host": "https://user:hostsecret@comms.example.com"},
            "The connection 'twilio_push_default' has credentials inside its Base URL (host): put them in "
            "Account SID or API Key SID (login) and Auth Token or API Key secret (password) instead.",
        ),
        ({"host": "https://user@comms.example.com"}, "has credentials inside its Base URL (host)"),
        ({"host": "ftp://user:hostsecret@comms.example.com"}, "has credentials inside its Base URL (host)"),
        ({"host": "https://user:hostsecret@"}, "has credentials inside its Base URL (host)"),
        (
            {"host": "ftp://comms.example.com"},
            "The connection 'twilio_push_default' has Base URL (host) 'ftp://comms.example.com', which is not a "
            "base URL: expected something like 'https://comms.twilio.com'.",
        ),
        ({"host": "https://"}, "has Base URL (host) 'https://', which is not a base URL"),
        ({"host": "https://comms.example.com:abc"}, "which is not a base URL"),
        ({"host": "https://comms.example.com:abc", "port": 8443}, "which is not a base URL"),
        ({"host": "https://comms.example.com:99999"}, "which is not a base URL"),
        ({"host": "https://[::1"}, "which is not a base URL"),
        (
            {"login": ""},
            "The connection 'twilio_push_default' has no Account SID or API Key SID (login): set it to your "
            "Account SID (AC...) or API Key SID (SK...).",
        ),
        ({"login": None}, "has no Account SID or API Key SID (login)"),
        (
            {"password": None},
            "The connection 'twilio_push_default' has no Auth Token or API Key secret (password).",
        ),
    ],
)
def test_a_bad_connection_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        settings_for(**fields)

    assert message in str(caught.value)
    assert "hostsecret" not in str(caught.value)
    assert "tok-CANARY" not in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "timeout", "max_retries"),
    [
        ({}, 10.0, 4),
        ({"timeout": None, "max_retries": ""}, 10.0, 4),
        ({"timeout": "2.5", "max_retries": "2"}, 2.5, 2),
        ({"timeout": 30, "max_retries": 0}, 30.0, 0),
        ({"max_retries": 3.0}, 10.0, 3),
        ({"extra__twilio_push__timeout": "7", "extra__twilio_push__max_retries": "1"}, 7.0, 1),
    ],
)
def test_valid_extras(extra: dict[str, Any], timeout: float, max_retries: int) -> None:
    settings = settings_for(extra=extra)

    assert (settings.timeout, settings.max_retries) == (timeout, max_retries)
    assert type(settings.max_retries) is int


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timeout": "soon"}, "has extra timeout='soon': expected a number of seconds > 0."),
        ({"timeout": 0}, "has extra timeout=0: expected a number of seconds > 0."),
        ({"timeout": -1.5}, "has extra timeout=-1.5: expected a number of seconds > 0."),
        ({"timeout": True}, "has extra timeout=True: expected a number of seconds > 0."),
        ({"timeout": "nan"}, "has extra timeout='nan': expected a number of seconds > 0."),
        ({"timeout": float("inf")}, "has extra timeout=inf: expected a number of seconds > 0."),
        ({"timeout": [5]}, "has extra timeout=[5]: expected a number of seconds > 0."),
        ({"max_retries": -1}, "has extra max_retries=-1: expected an integer >= 0."),
        ({"max_retries": "many"}, "has extra max_retries='many': expected an integer >= 0."),
        ({"max_retries": "2.5"}, "has extra max_retries='2.5': expected an integer >= 0."),
        ({"max_retries": 2.5}, "has extra max_retries=2.5: expected an integer >= 0."),
        ({"max_retries": False}, "has extra max_retries=False: expected an integer >= 0."),
        ({"max_retries": float("inf")}, "has extra max_retries=inf: expected an integer >= 0."),
    ],
)
def test_invalid_extras(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        settings_for(extra=extra)

    assert str(caught.value) == f"The connection 'twilio_push_default' {message}"


def test_connection_settings_hide_the_password() -> None:
    settings = settings_for()

    assert settings.password == "tok-CANARY-9f1c2e7a"
    assert "tok-CANARY" not in repr(settings)
    assert "tok-CANARY" not in str(settings)
    assert "AC0123456789abcdef0123456789abcdef" in repr(settings)


def test_client_options() -> None:
    options = client_options(settings_for(host="http://127.0.0.1:8080", extra={"timeout": 3}))
    basic = httpx.BasicAuth("AC0123456789abcdef0123456789abcdef", "tok-CANARY-9f1c2e7a")
    expected_auth = next(basic.sync_auth_flow(httpx.Request("GET", "http://127.0.0.1:8080/"))).headers

    assert options["base_url"] == "http://127.0.0.1:8080"
    assert options["timeout"] == httpx.Timeout(3)
    # Basic auth as httpx.BasicAuth sends it, as a default header for the sync and async clients.
    assert options["headers"] == {
        "Accept": "application/json",
        "User-Agent": f"airflow-provider-twilio-push/{__version__}",
        "Authorization": expected_auth["Authorization"],
    }
    assert "auth" not in options
    assert "tok-CANARY" not in repr(httpx.Client(**options).headers)
    assert options["follow_redirects"] is False  # a redirect must not carry the credentials elsewhere
    assert options["verify"] is shared_ssl_context()  # one CA bundle load per process


# ---------------------------------------------------------------------------------------------
# Requests


@pytest.mark.parametrize(
    "operation_id",
    [
        OP_ID,
        "comms_operation_0" + "a" * 25,
        "comms_operation_7" + "z" * 34,
        "comms_operation_0123456789abcdefghjkmnpqrstvwxyz",
    ],
)
def test_valid_operation_ids(operation_id: str) -> None:
    assert validate_operation_id(operation_id) == operation_id
    assert get_operation_request(operation_id).path == f"/v1/PushNotifications/Operations/{operation_id}"


@pytest.mark.parametrize(
    "operation_id",
    [
        "comms_operation_0" + "a" * 24,
        "comms_operation_8" + "a" * 25,
        "comms_operation_0" + "i" * 25,
        "comms_operation_0" + "l" * 25,
        "comms_operation_0" + "o" * 25,
        "comms_operation_0" + "u" * 25,
        OP_ID.upper(),
        "comms_pushnotification_01h9krwprkeee8fzqspvwy6nq8",
        f" {OP_ID}",
        f"{OP_ID}\n",
        f"{OP_ID}?x=1",
        f"../{OP_ID}",
        b"comms_operation_01h9krwprkeee8fzqspvwy6nq8",
        None,
        42,
    ],
)
def test_invalid_operation_ids(operation_id: Any) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        get_operation_request(operation_id)

    assert str(caught.value) == (
        f"Invalid operation_id {operation_id!r}: expected an id like "
        "'comms_operation_01h9krwprkeee8fzqspvwy6nq8' (pattern "
        "^comms_operation_[0-7][a-hjkmnpqrstv-z0-9]{25,34}[A-Za-z0-9._~-]*$)."
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("COMPLETED", OperationStatus.COMPLETED),
        ("completed", OperationStatus.COMPLETED),
        (" Processing\n", OperationStatus.PROCESSING),
        (OperationStatus.CANCELED, OperationStatus.CANCELED),
        ("scheduled", OperationStatus.SCHEDULED),
    ],
)
def test_status_is_case_insensitive(status: Any, expected: OperationStatus) -> None:
    assert validate_status(status) is expected


@pytest.mark.parametrize("status", ["FAILED", "", "COMPLETE", None, 1, ["COMPLETED"]])
def test_unknown_status(status: Any) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        validate_status(status)

    assert str(caught.value) == (
        f"Invalid status {status!r}: expected one of SCHEDULED, PROCESSING, COMPLETED, CANCELED."
    )


@pytest.mark.parametrize("page_size", [1, 50, 1000])
def test_valid_page_sizes(page_size: int) -> None:
    assert validate_page_size(page_size) == page_size


@pytest.mark.parametrize("page_size", [0, -1, 1001, "50", True, False, 50.0, None])
def test_invalid_page_sizes(page_size: Any) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        validate_page_size(page_size)

    assert str(caught.value) == f"Invalid page_size {page_size!r}: expected an integer from 1 to 1000."


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-15T09:30:00Z",
        "2024-01-15T10:30:00+01:00",
        "2024-01-15T04:30:00-05:00",
        "2024-01-15 09:30:00Z",
        pendulum.datetime(2024, 1, 15, 9, 30),
        pendulum.datetime(2024, 1, 15, 18, 30, tz="Asia/Tokyo"),
        pendulum.datetime(2024, 1, 15, 9, 30).naive().replace(tzinfo=pendulum.timezone("UTC")),
    ],
)
def test_to_utc_accepts_aware_values(value: Any) -> None:
    converted = to_utc(value, "start_date")

    assert converted == pendulum.datetime(2024, 1, 15, 9, 30)
    assert converted.utcoffset() == pendulum.duration(0)
    assert converted.tzname() == "UTC"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            pendulum.datetime(2024, 1, 15, 9, 30).naive(),
            "Invalid start_date '2024-01-15T09:30:00': it has no timezone. Pass a timezone-aware datetime "
            "(e.g. pendulum.datetime(..., tz='UTC')) or an ISO string with an offset ('...Z').",
        ),
        ("2024-01-15T09:30:00", "Invalid start_date '2024-01-15T09:30:00': it has no timezone."),
        (
            "2024-01-15",
            "Invalid start_date '2024-01-15': expected an ISO 8601 date-time such as '2024-01-15T09:30:00Z'.",
        ),
        ("P1D", "Invalid start_date 'P1D': expected an ISO 8601 date-time"),
        ("09:30", "Invalid start_date '09:30': expected an ISO 8601 date-time"),
        ("2024-13-45T00:00:00Z", "Invalid start_date '2024-13-45T00:00:00Z': expected an ISO 8601 date-time"),
        ("", "Invalid start_date '': expected an ISO 8601 date-time"),
        (
            1705311000,
            "Invalid start_date 1705311000: expected a timezone-aware datetime or an ISO 8601 string.",
        ),
        (pendulum.date(2024, 1, 15), "Invalid start_date Date(2024, 1, 15): expected a timezone-aware"),
    ],
)
def test_to_utc_refuses_naive_and_unparsable_values(value: Any, message: str) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        to_utc(value, "start_date")

    assert str(caught.value).startswith(message)


def test_list_operations_request_with_every_filter() -> None:
    request = list_operations_request(
        status="canceled",
        start_date="2024-01-15T10:30:00.999+01:00",
        end_date=pendulum.datetime(2024, 1, 16, tz="America/New_York"),
        page_size=1000,
        page_token="eyJvZmZzZXQiOjEwfQ",
    )

    assert (request.method, request.path) == ("GET", "/v1/PushNotifications/Operations")
    assert request.params == {
        "pageSize": "1000",
        "status": "CANCELED",
        "startDate": "2024-01-15T09:30:00Z",
        "endDate": "2024-01-16T05:00:00Z",
        "pageToken": "eyJvZmZzZXQiOjEwfQ",
    }
    assert request.retry_policy is RetryPolicy.IDEMPOTENT
    assert list_operations_request().params == {"pageSize": "50"}


def test_equal_start_and_end_dates_are_allowed_but_not_reversed() -> None:
    same = list_operations_request(start_date="2024-01-15T09:30:00Z", end_date="2024-01-15T10:30:00+01:00")
    assert same.params is not None
    assert same.params["startDate"] == same.params["endDate"] == "2024-01-15T09:30:00Z"

    with pytest.raises(TwilioPushInvalidInputError) as caught:
        list_operations_request(start_date="2024-01-15T09:30:01Z", end_date="2024-01-15T09:30:00Z")
    assert str(caught.value) == (
        "start_date 2024-01-15T09:30:01Z is after end_date 2024-01-15T09:30:00Z: "
        "expected start_date <= end_date."
    )


# ---------------------------------------------------------------------------------------------
# Error responses


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, TwilioPushBadRequestError),
        (401, TwilioPushAuthError),
        (403, TwilioPushAuthError),
        (404, TwilioPushNotFoundError),
        (405, TwilioPushBadRequestError),
        (409, TwilioPushBadRequestError),
        (422, TwilioPushBadRequestError),
        (429, TwilioPushRateLimitedError),
        (500, TwilioPushServerError),
        (501, TwilioPushServerError),
        (502, TwilioPushServerError),
        (503, TwilioPushServerError),
        (504, TwilioPushServerError),
    ],
)
def test_each_status_has_its_error(status: int, error_class: type[TwilioPushAPIError]) -> None:
    with pytest.raises(error_class) as caught:
        raise_for_status(GET_OP, httpx.Response(status), "the connection")

    assert type(caught.value) is error_class
    assert str(caught.value).startswith(
        f"Twilio Push API answered {status} {httpx.codes.get_reason_phrase(status)} to GET {GET_OP.path}"
    )
    assert (caught.value.http_status, caught.value.path) == (status, GET_OP.path)
    assert caught.value.transient is (status == 429 or status >= 500)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_success_statuses_pass(status: int) -> None:
    assert raise_for_status(GET_OP, httpx.Response(status), "the connection") is None


@pytest.mark.parametrize(
    "body",
    [
        {"code": 20404, "message": "Not found", "more_info": "https://www.twilio.com/docs/errors/20404"},
        {"code": 20404, "message": "Not found", "moreInfo": "https://www.twilio.com/docs/errors/20404"},
    ],
    ids=["classic-more_info", "comms-moreInfo"],
)
def test_twilio_error_bodies_are_read(body: dict[str, Any]) -> None:
    with pytest.raises(TwilioPushNotFoundError) as caught:
        raise_for_status(GET_OP, httpx.Response(404, json={**body, "status": 404}), "my_conn")

    error = caught.value
    assert str(error) == (
        f"Twilio Push API answered 404 Not Found to GET {GET_OP.path}: Not found (Twilio error 20404). "
        "The resource does not exist, or is older than Twilio's 7-day retention."
    )
    assert (error.code, error.twilio_message) == (20404, "Not found")
    assert error.more_info == "https://www.twilio.com/docs/errors/20404"


def test_twilio_errors_are_read_entry_by_entry_with_their_field() -> None:
    """The contract's error body: every entry is named, with its code, message and field."""
    entries = [
        {
            "code": 20001,
            "message": "to[0].provider must be one of FCM, APN",
            "infoUrl": "https://i/20001",
            "context": "$.to[0].provider",
        },
        "not an entry",
        {
            "code": 20001,
            "message": "content.body is required",
            "infoUrl": "https://i/20001",
            "context": "$.content.body",
        },
        {"code": 20500, "message": "Internal server error.", "infoUrl": "https://i/20500", "context": "null"},
        {"infoUrl": "https://i/nothing"},
    ]
    with pytest.raises(TwilioPushBadRequestError) as caught:
        raise_for_status(GET_OP, httpx.Response(400, json={"errors": entries}), "my_conn")

    assert str(caught.value) == (
        f"Twilio Push API answered 400 Bad Request to GET {GET_OP.path}: to[0].provider must be one of FCM, "
        "APN (Twilio error 20001, field $.to[0].provider); content.body is required (Twilio error 20001, "
        "field $.content.body); Internal server error. (Twilio error 20500)"
    )
    assert [(e.code, e.context) for e in caught.value.errors] == [
        (20001, "$.to[0].provider"),
        (20001, "$.content.body"),
        (20500, None),
    ]
    assert (caught.value.code, caught.value.more_info) == (20001, "https://i/20001")


def test_a_long_list_of_errors_is_cut_in_the_message_and_kept_whole() -> None:
    entries = [
        {"code": 20001, "message": f"to[{i}].token is invalid", "context": f"$.to[{i}].token"}
        for i in range(25)
    ]
    with pytest.raises(TwilioPushBadRequestError) as caught:
        raise_for_status(GET_OP, httpx.Response(400, json={"errors": entries}), "my_conn")

    message = str(caught.value)
    assert (
        "to[19].token is invalid (Twilio error 20001, field $.to[19].token); and 5 more (see the error's .errors)"
        in message
    )
    assert "to[20]" not in message
    assert len(caught.value.errors) == 25


ADVICE = "Check the Account SID or API Key SID (login) and the Auth Token or API Key secret (password)"


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        (401, f"{ADVICE} of the connection 'my_conn'."),
        (
            403,
            f"{ADVICE} of the connection 'my_conn' and that it may use the Comms API.",
        ),
    ],
)
def test_auth_errors_say_what_to_check(status: int, advice: str) -> None:
    with pytest.raises(TwilioPushAuthError) as caught:
        raise_for_status(
            LIST_OPS, httpx.Response(status, json={"message": "Denied"}), "the connection 'my_conn'"
        )

    assert str(caught.value).endswith(f"to GET {LIST_OPS.path}: Denied. {advice}")


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>502</html>", b"[1, 2]", b'"oops"', b"{" * 5000, b"[" * 100_000 + b"]" * 100_000],
    ids=["empty", "html", "list", "string", "truncated", "deeply-nested"],
)
def test_error_bodies_that_are_not_twilio_errors_keep_the_status(content: bytes) -> None:
    with pytest.raises(TwilioPushServerError) as caught:
        raise_for_status(GET_OP, httpx.Response(502, content=content), "my_conn")

    assert str(caught.value) == f"Twilio Push API answered 502 Bad Gateway to GET {GET_OP.path}"
    assert caught.value.code is None


def test_a_code_of_the_wrong_type_is_shown_but_not_kept() -> None:
    with pytest.raises(TwilioPushBadRequestError) as caught:
        raise_for_status(GET_OP, httpx.Response(400, json={"code": "E42", "message": 7}), "c")

    assert "(Twilio error E42)" in str(caught.value)
    assert (caught.value.code, caught.value.twilio_message) == (None, None)


@pytest.mark.parametrize(("header", "retry_after"), [("7", 7.0), (None, None), ("3600", 60.0)])
def test_the_error_carries_retry_after(header: str | None, retry_after: float | None) -> None:
    headers = {"Retry-After": header} if header else {}
    with pytest.raises(TwilioPushRateLimitedError) as caught:
        raise_for_status(GET_OP, httpx.Response(429, headers=headers), "c")

    assert caught.value.retry_after == retry_after


@pytest.mark.parametrize(
    ("exc", "never_sent"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), True),
        (httpx.ConnectTimeout("timed out"), True),
        (httpx.PoolTimeout("no free connection"), True),
        (httpx.ReadTimeout("The read operation timed out"), False),
        (httpx.WriteTimeout("timed out"), False),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), False),
        (httpx.ReadError(""), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_transport_errors(exc: httpx.TransportError, never_sent: bool) -> None:
    error = transport_error(GET_OP, exc, "http://127.0.0.1:8089")

    assert isinstance(error, TwilioPushConnectionError)
    detail = f" ({exc})" if str(exc) else ""
    assert (
        str(error) == f"No answer from the Twilio Push API at http://127.0.0.1:8089 to GET {GET_OP.path}: "
        f"{type(exc).__name__}{detail}"
    )
    assert error.never_sent is never_sent
    assert error.path == GET_OP.path
    assert error.transient


def test_after_attempts_names_the_count_and_keeps_the_details() -> None:
    error = TwilioPushServerError("Twilio Push API answered 503", http_status=503, path="/p", code=1)

    final = error.after_attempts(5)

    assert str(final) == "Twilio Push API answered 503 (gave up after 5 attempts)"
    assert str(error.after_attempts(1)) == "Twilio Push API answered 503 (gave up after 1 attempt)"
    assert str(error) == "Twilio Push API answered 503"  # the original is left alone
    assert (type(final), final.http_status, final.path, final.code) == (TwilioPushServerError, 503, "/p", 1)


# ---------------------------------------------------------------------------------------------
# Retries


NOW = 1_705_311_000.0  # 2024-01-15T09:30:00Z


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("1", 1.0),
        (" 30 ", 30.0),
        ("2.5", 2.5),
        ("-5", 0.0),
        ("60", 60.0),
        ("61", 60.0),
        ("86400", 60.0),
        ("inf", 60.0),
        ("nan", None),
        ("soon", None),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        (email.utils.formatdate(NOW + 3600, usegmt=True), 60.0),
        ("Mon, 15 Jan 2024 09:30:45 GMT", 45.0),
        ("Mon, 15 Jan 2024 10:30:45 +0100", 45.0),
        ("Mon, 45 Foo 2024 99:99:99 GMT", None),
    ],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


def test_retry_after_http_date_defaults_to_the_current_time() -> None:
    in_ten_seconds = email.utils.formatdate(pendulum.now("UTC").timestamp() + 10, usegmt=True)

    assert 8.0 <= retry_after_seconds(in_ten_seconds) <= 10.0  # type: ignore[operator]


@pytest.mark.parametrize(
    ("attempt", "backoff", "backoff_max", "low", "high"),
    [
        (1, 0.5, 30.0, 0.25, 0.5),
        (2, 0.5, 30.0, 0.5, 1.0),
        (4, 0.5, 30.0, 2.0, 4.0),
        (10, 0.5, 30.0, 15.0, 30.0),
        (100, 0.5, 30.0, 15.0, 30.0),
        (1, 100.0, 0.02, 0.01, 0.02),
    ],
)
def test_backoff_delay_doubles_with_jitter_up_to_the_max(
    attempt: int, backoff: float, backoff_max: float, low: float, high: float
) -> None:
    random.seed(attempt)
    delays = [backoff_delay(attempt, backoff, backoff_max) for _ in range(200)]

    assert all(low <= delay <= high for delay in delays)
    assert len(set(delays)) > 100  # jittered: a fleet does not retry in lockstep


def _rate_limited() -> TwilioPushRateLimitedError:
    return TwilioPushRateLimitedError("429", http_status=429)


def _server(status: int) -> TwilioPushServerError:
    return TwilioPushServerError(str(status), http_status=status)


@pytest.mark.parametrize(
    ("exc", "idempotent", "never_processed"),
    [
        (_rate_limited(), True, True),
        (_server(500), True, False),
        (_server(502), True, False),
        (_server(503), True, False),
        (_server(504), True, False),
        (_server(501), False, False),
        (transport_error(GET_OP, httpx.ConnectError("refused"), DEFAULT_BASE_URL), True, True),
        (transport_error(GET_OP, httpx.ReadTimeout("slow"), DEFAULT_BASE_URL), True, False),
        (TwilioPushBadRequestError("400", http_status=400), False, False),
        (TwilioPushAuthError("401", http_status=401), False, False),
        (TwilioPushAuthError("403", http_status=403), False, False),
        (TwilioPushNotFoundError("404", http_status=404), False, False),
        (TwilioPushMalformedResponseError("bad body", http_status=200), False, False),
        (ValueError("a bug"), False, False),
    ],
)
def test_is_retryable(exc: BaseException, idempotent: bool, never_processed: bool) -> None:
    assert is_retryable(RetryPolicy.IDEMPOTENT, exc) is idempotent
    assert is_retryable(RetryPolicy.NEVER_PROCESSED, exc) is never_processed


# ---------------------------------------------------------------------------------------------
# Success responses


def test_parse_operation(make_operation: Any) -> None:
    operation = parse_operation(GET_OP, httpx.Response(200, json=make_operation(status="CANCELED")))

    assert operation.id == "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
    assert operation.status is OperationStatus.CANCELED
    assert operation.stats.sent == 2


def test_parse_operation_page(make_operation: Any) -> None:
    body = {
        "operations": [make_operation(), make_operation(status="SCHEDULED")],
        "pagination": {"next": "bmV4dA", "self": "c2VsZg"},
    }

    page = parse_operation_page(LIST_OPS, httpx.Response(200, json=body))

    assert [op.status for op in page.operations] == [OperationStatus.PROCESSING, OperationStatus.SCHEDULED]
    assert page.next_page_token == "bmV4dA"


def test_a_lazy_page_checks_its_shape_now_and_each_operation_when_it_is_reached(make_operation: Any) -> None:
    body = {"operations": [make_operation(), {"id": OP_ID}], "pagination": {"next": "bmV4dA"}}

    page = parse_lazy_operation_page(LIST_OPS, httpx.Response(200, json=body))
    operations = page.validated(page.operations)

    assert page.next_page_token == "bmV4dA"
    assert next(operations).status is OperationStatus.PROCESSING
    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        next(operations)
    assert str(caught.value) == (
        f"Twilio Push API answered 200 to GET {LIST_OPS.path} with JSON that is not a valid OperationPage: "
        "operations.1.status: Field required (got {'id': '" + OP_ID + "'})."
    )
    assert (caught.value.http_status, caught.value.path) == (200, LIST_OPS.path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html>", "with a body that is not JSON (starts with '<html>')."),
        (b'{"operations": "none"}', "not a valid OperationPage: operations: Input should be a valid list"),
        (
            b"[]",
            "not a valid OperationPage: body: Input should be a valid dictionary or instance of OperationPage",
        ),
    ],
)
def test_a_lazy_page_refuses_a_malformed_page_as_the_whole_page_does(content: bytes, message: str) -> None:
    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        parse_lazy_operation_page(LIST_OPS, httpx.Response(200, content=content))

    assert str(caught.value).startswith(f"Twilio Push API answered 200 to GET {LIST_OPS.path} with ")
    assert message in str(caught.value)


def test_a_lazy_page_reads_json_that_only_the_standard_library_decodes(make_operation: Any) -> None:
    body = json.dumps({"operations": [make_operation()], "pagination": {"next": None}}).encode("utf-16")

    page = parse_lazy_operation_page(LIST_OPS, httpx.Response(200, content=body))

    assert [op.id for op in page.validated(page.operations)] == [make_operation()["id"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "with a body that is not JSON (starts with '')."),
        (b"<html>" + b"x" * 200, "with a body that is not JSON (starts with '<html>" + "x" * 74 + "')."),
        (b"\xff\xfe{}", "with a body that is not JSON (starts with '\ufffd\ufffd{}')."),
        (b"[" * 100_000 + b"]" * 100_000, "with a body that is not JSON (starts with '[[["),
        (b'{"id": "x"}', "with JSON that is not a valid Operation: status: Field required"),
        (
            b'{"id": "x", "status": "FAILED"}',
            "with JSON that is not a valid Operation: status: Input should be 'SCHEDULED', 'PROCESSING', "
            "'COMPLETED' or 'CANCELED' (got 'FAILED').",
        ),
        (b'{"id": "x", "status": "COMPLETED", "stats": []}', "stats: Input should be a valid dictionary"),
        (
            b'{"id": "x", "status": "COMPLETED", "stats": {"sent": -2}}',
            "stats.sent: Input should be greater than or equal to 0 (got -2).",
        ),
        (b'{"status": "COMPLETED"}', "id: Field required"),
        (b"null", "body: Input should be a valid dictionary or instance of Operation (got None)."),
    ],
)
def test_malformed_operations(content: bytes, message: str) -> None:
    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        parse_operation(GET_OP, httpx.Response(200, content=content))

    assert str(caught.value).startswith(f"Twilio Push API answered 200 to GET {GET_OP.path} ")
    assert message in str(caught.value)
    assert (caught.value.http_status, caught.value.path) == (200, GET_OP.path)


def test_a_validation_message_lists_three_problems_and_counts_the_rest() -> None:
    body = {"id": 1, "status": "?", "stats": {"total": -1, "sent": -1, "failed": -1}}

    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        parse_operation(GET_OP, httpx.Response(200, json=body))

    assert str(caught.value).endswith("; and 2 more.")
    assert str(caught.value).count(" (got ") == 3


def test_a_long_wrong_value_is_shortened_in_the_message() -> None:
    body = {"id": OP_ID, "status": "X" * 10_000}

    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        parse_operation(GET_OP, httpx.Response(200, json=body))

    assert "(got 'XXXX" in str(caught.value)
    assert "X" * 100 not in str(caught.value)
    assert len(str(caught.value)) < 400


# ---------------------------------------------------------------------------------------------
# Paging


def _ops(*ids: str) -> list[Operation]:
    return [Operation(id=i, status=OperationStatus.COMPLETED) for i in ids]


def test_pager_walks_tokens_and_keeps_filters() -> None:
    pager: Pager[Operation] = Pager(list_operations_request(status="completed", page_size=2))
    first = pager.next_request()

    assert first is not None
    assert first.params == {"pageSize": "2", "status": "COMPLETED"}
    assert [op.id for op in pager.take(_ops("a", "b"), "t1")] == ["a", "b"]
    second = pager.next_request()
    assert second is not None
    assert second.params == {"pageSize": "2", "status": "COMPLETED", "pageToken": "t1"}
    assert [op.id for op in pager.take(_ops("c"), None)] == ["c"]
    assert pager.next_request() is None


def test_pager_max_items_cuts_a_page_and_stops() -> None:
    pager: Pager[Operation] = Pager(list_operations_request(), max_items=3)

    assert [op.id for op in pager.take(_ops("a", "b"), "t1")] == ["a", "b"]
    assert [op.id for op in pager.take(_ops("c", "d"), "t2")] == ["c"]
    assert pager.next_request() is None
    assert Pager(list_operations_request(), max_items=0).next_request() is None


def test_pager_refuses_a_repeated_token() -> None:
    pager: Pager[Operation] = Pager(list_push_notifications_request(status="FAILED"))
    pager.take(_ops("a"), "same")

    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        pager.take(_ops("b"), "same")

    assert str(caught.value) == (
        "Twilio Push API answered GET /v1/PushNotifications with pagination.next equal to the "
        "token of the page just read: paging would never end."
    )


def _errors_page(codes: list[int], next_token: str | None) -> httpx.Response:
    return httpx.Response(
        200, json={"errors": [{"code": code} for code in codes], "pagination": {"next": next_token}}
    )


def test_errors_pager_follows_tokens_until_max_items() -> None:
    pager = ErrorsPager(OP_ID, 3)
    first = pager.next_request()

    assert first is not None
    assert (first.path, first.params) == (f"{OPERATIONS_PATH}/{OP_ID}/Errors", {"pageSize": "1000"})
    pager.add(first, _errors_page([1, 2], "t1"))
    second = pager.next_request()
    assert second is not None
    assert second.params == {"pageSize": "1000", "pageToken": "t1"}
    pager.add(second, _errors_page([3, 4], "t2"))
    assert pager.next_request() is None  # 4 collected, 3 asked for
    assert [error.code for error in pager.errors] == [1, 2, 3]


@pytest.mark.parametrize(
    "last_page", [_errors_page([1], None), _errors_page([], "t2")], ids=["no-token", "empty-page"]
)
def test_errors_pager_stops_at_the_last_page_or_an_empty_one(last_page: httpx.Response) -> None:
    pager = ErrorsPager(OP_ID, 1000)
    pager.add(operation_errors_request(OP_ID), _errors_page([7], "t1"))
    request = pager.next_request()
    assert request is not None
    pager.add(request, last_page)

    assert pager.next_request() is None
    assert [error.code for error in pager.errors] == [7] + [1] * len(last_page.json()["errors"])


def test_errors_pager_with_max_items_0_makes_no_request() -> None:
    assert ErrorsPager(OP_ID, 0).next_request() is None
    assert ErrorsPager(OP_ID, 0).errors == []


@pytest.mark.parametrize("max_items", [-1, "5", 2.5, True, None])
def test_errors_pager_refuses_an_invalid_max_items(max_items: Any) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        ErrorsPager(OP_ID, max_items)

    assert str(caught.value) == f"Invalid max_items {max_items!r}: expected an integer >= 0."


@pytest.mark.parametrize("max_items", [-1, "5", 2.5, True])
def test_pager_refuses_an_invalid_max_items(max_items: Any) -> None:
    with pytest.raises(TwilioPushInvalidInputError, match=r"expected None \(no limit\) or an integer >= 0\."):
        Pager(list_operations_request(), max_items=max_items)


# ---------------------------------------------------------------------------------------------
# Property: any 200 body parses, or is a malformed response; never another exception


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)
COUNTERS = ["total", "recipients", "unaddressable", "scheduled", "queued", "sent", "failed", "canceled"]
timestamps = st.one_of(
    st.sampled_from(
        ["2024-01-15T09:30:00Z", "2024-01-15T09:30:00.5+05:30", "2024-01-15T09:30:00", "2024-01-15", "later"]
    ),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.integers(min_value=-(2**40), max_value=2**40),
    json_values,
)
counters = st.integers(min_value=0, max_value=10**6)
almost_stats = st.one_of(
    st.dictionaries(st.sampled_from(COUNTERS), counters, max_size=8),
    st.dictionaries(
        st.sampled_from([*COUNTERS, "delivered"]),
        st.integers(min_value=-3, max_value=2**70) | st.floats() | json_values,
        max_size=9,
    ),
    json_values,
)
optional_fields = {
    "stats": almost_stats,
    "createdAt": timestamps,
    "updatedAt": timestamps,
    "errors": json_values,
}
# Mostly well-formed: the right id and status, anything in the other fields.
plausible_operations = st.fixed_dictionaries(
    {"id": st.just(OP_ID) | st.text(max_size=40), "status": st.sampled_from(list(OperationStatus))},
    optional=optional_fields,
)
almost_operations = plausible_operations | st.fixed_dictionaries(
    {},
    optional={
        "id": st.just(OP_ID) | st.text(max_size=40) | json_values,
        "status": st.sampled_from([*OperationStatus, "FAILED", "completed", ""]) | json_values,
        **optional_fields,
    },
)
almost_pages = st.fixed_dictionaries(
    {},
    optional={
        "operations": st.lists(plausible_operations, max_size=4)
        | st.lists(almost_operations | json_values, max_size=4)
        | json_values,
        "pagination": st.fixed_dictionaries(
            {}, optional={"next": st.none() | st.text(max_size=10) | json_values, "self": json_values}
        )
        | json_values,
        "next_page_token": json_values,
    },
)
bodies = st.one_of(
    json_values.map(json.dumps).map(str.encode),
    almost_operations.map(json.dumps).map(str.encode),
    almost_pages.map(json.dumps).map(str.encode),
    st.binary(max_size=64),
)


def _check_parse(parser: Any, request: ApiRequest, content: bytes) -> Any:
    try:
        return parser(request, httpx.Response(200, content=content))
    except TwilioPushMalformedResponseError as exc:
        error = exc
    assert error.path == request.path
    assert str(error).startswith(f"Twilio Push API answered 200 to GET {request.path} with ")
    return None


def _check_xcom(operation: Operation) -> None:
    value = operation.to_xcom()
    assert json.loads(json.dumps(value, allow_nan=False)) == value  # JSON-safe: no NaN, no objects
    assert Operation.model_validate(value) == operation


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=bodies)
def test_any_200_body_is_an_operation_or_a_malformed_response(content: bytes) -> None:
    operation = _check_parse(parse_operation, GET_OP, content)
    if operation is not None:
        assert isinstance(operation, Operation)
        _check_xcom(operation)

    page = _check_parse(parse_operation_page, LIST_OPS, content)
    if page is not None:
        assert isinstance(page, OperationPage)
        assert page.next_page_token is None or isinstance(page.next_page_token, str)
        for operation in page.operations:
            _check_xcom(operation)

    lazy = _check_parse(parse_lazy_operation_page, LIST_OPS, content)
    if page is not None:  # the lazy page accepts what the whole page does, and yields the same
        assert lazy is not None
        assert list(lazy.validated(lazy.operations)) == page.operations
        assert lazy.next_page_token == page.next_page_token
    elif lazy is not None:  # a page refused only for its operations: the first bad one is named
        with pytest.raises(TwilioPushMalformedResponseError) as whole:
            parse_operation_page(LIST_OPS, httpx.Response(200, content=content))
        with pytest.raises(TwilioPushMalformedResponseError) as caught:
            list(lazy.validated(lazy.operations))
        first_bad = re.search(r"not a valid OperationPage: (operations\.\d+)\b", str(whole.value))
        assert first_bad is not None
        assert f"not a valid OperationPage: {first_bad.group(1)}" in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Progress lines


@pytest.mark.parametrize(
    ("status", "stats", "line"),
    [
        (
            "PROCESSING",
            {"total": 1000, "sent": 812, "failed": 3, "unaddressable": 2, "queued": 183},
            "PROCESSING, 81% done: 812 sent, 3 failed, 2 unaddressable, 183 queued of 1,000",
        ),
        (
            "SCHEDULED",
            {"total": 50, "scheduled": 50},
            "SCHEDULED, 0% done: 0 sent, 0 failed, 0 queued, 50 scheduled of 50",
        ),
        (
            "CANCELED",
            {"total": 100, "sent": 30, "canceled": 70},
            "CANCELED, 100% done: 30 sent, 0 failed, 70 canceled, 0 queued of 100",
        ),
        # Floored: 100% only once nothing is left to send.
        (
            "PROCESSING",
            {"total": 1000, "sent": 999, "queued": 1},
            "PROCESSING, 99% done: 999 sent, 0 failed, 1 queued of 1,000",
        ),
        ("COMPLETED", {"total": 0}, "COMPLETED, 100% done: 0 sent, 0 failed, 0 queued of 0"),
        ("PROCESSING", {"total": 0}, "PROCESSING, 0% done: 0 sent, 0 failed, 0 queued of 0"),
    ],
)
def test_progress_lines_lead_with_the_status_and_their_counts_add_up(
    status: str, stats: dict[str, int], line: str
) -> None:
    operation = Operation.model_validate(
        {"id": "comms_operation_01h9krwprkeee8fzqspvwy6nq8", "status": status, "stats": stats}
    )

    assert describe_progress(operation) == f"{line} (operation {operation.id})"
    counts = line.partition(": ")[2].rpartition(" of ")[0].split(", ")
    assert sum(int(count.split()[0].replace(",", "")) for count in counts) == operation.stats.total


def test_the_shared_ssl_context_honours_ssl_cert_file_and_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """As httpx's default context does: users behind a TLS-inspecting proxy set these."""
    import certifi

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    default = shared_ssl_context()
    assert shared_ssl_context() is default  # loaded once per process
    assert default.cert_store_stats()["x509_ca"] > 0

    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))  # an empty directory: no CA at all
    from_dir = shared_ssl_context()
    assert from_dir is not default
    assert from_dir.cert_store_stats()["x509_ca"] == 0

    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))  # the file wins over the dir
    with pytest.raises(FileNotFoundError):
        shared_ssl_context()
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    assert shared_ssl_context().cert_store_stats()["x509_ca"] == default.cert_store_stats()["x509_ca"]
