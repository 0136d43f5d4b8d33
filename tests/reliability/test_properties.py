"""Property tests (issue 9): whatever the API answers, the user gets a result or one of our errors.

``tests/test_core.py`` already covers ``parse_operation`` and ``parse_operation_page`` over
arbitrary 200 bodies. This adds what it does not: the Errors endpoint's parser, the answer to a
send, and the whole hook (status, headers and body arbitrary, through the real ``httpx`` client,
for get, list, Errors and send), where nothing but a ``TwilioPushError`` may come out: the
trigger, the sensor and the operators rely on that to decide between waiting and failing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_twilio_push.core import pacing
from airflow_provider_twilio_push.core.request import (
    OPERATION_ID_PATTERN,
    operation_errors_request,
    send_request,
)
from airflow_provider_twilio_push.core.response import parse_operation_errors, parse_send_response
from airflow_provider_twilio_push.exceptions import (
    TwilioPushError,
    TwilioPushMalformedResponseError,
    TwilioPushSendUncertainError,
)
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation, OperationError, OperationPage, PushNotificationPage

OP = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
OTHER_OP = "comms_operation_01hm679ne04926xaz2sh56s3e0"
ERRORS = operation_errors_request(OP)
SEND = send_request([{"token": "t", "provider": "FCM"}], {"body": "Hi"})
ID_RE = re.compile(OPERATION_ID_PATTERN)
# Nested deeper than json can decode (RecursionError): a case random generation never reaches.
TOO_DEEP = [b"[" * 100_000, b'{"errors": ' * 50_000, b'{"operationId": [' + b"[" * 100_000]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)
ids = st.sampled_from([OP, OTHER_OP, "", "comms_operation_", "op_123", f"{OP}\n", OP.upper()]) | st.text(
    max_size=40
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
urls = (
    st.builds(
        lambda base, id_: f"{base}{id_}",
        st.sampled_from(["https://comms.twilio.com/v1/PushNotifications/Operations/", "", "/"]),
        ids,
    )
    | header_text
)


def to_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


error_items = st.fixed_dictionaries(
    {},
    optional={
        "code": json_values | st.integers(min_value=-(2**70), max_value=2**70),
        "errorCode": json_values,
        "message": json_values,
        "errorMessage": json_values,
        "pushNotificationId": json_values,
        "provider": json_values,
    },
)
errors_bodies = st.one_of(
    st.lists(error_items | json_values, max_size=5).map(to_bytes),
    st.fixed_dictionaries(
        {},
        optional={
            "errors": st.lists(error_items | json_values, max_size=5) | json_values,
            "items": st.lists(error_items, max_size=3),
            "pagination": st.fixed_dictionaries({}, optional={"next": json_values | st.text(max_size=8)})
            | json_values,
        },
    ).map(to_bytes),
    json_values.map(to_bytes),
    st.binary(max_size=64),
    st.sampled_from(TOO_DEEP),
)
send_bodies = st.one_of(
    st.fixed_dictionaries(
        {}, optional={"operationId": ids | json_values, "operationLocation": urls | json_values}
    ).map(to_bytes),
    json_values.map(to_bytes),
    st.binary(max_size=64),
    st.sampled_from(TOO_DEEP),
)
send_headers = st.fixed_dictionaries(
    {},
    optional={
        "operation-id": ids.filter(lambda s: s.isprintable()),
        "operation-location": urls,
        "location": urls,
    },
).map(lambda headers: {k: v.strip() for k, v in headers.items() if v.isascii() and v.isprintable()})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=errors_bodies)
def test_any_errors_answer_is_a_list_of_errors_or_a_malformed_response(content: bytes) -> None:
    try:
        errors, token = parse_operation_errors(ERRORS, httpx.Response(200, content=content))
    except TwilioPushMalformedResponseError as exc:
        malformed: TwilioPushMalformedResponseError | None = exc
    else:
        malformed = None
    if malformed is not None:
        assert malformed.path == ERRORS.path
        assert str(malformed).startswith(f"Twilio Push API answered 200 to GET {ERRORS.path} ")
        return
    assert all(isinstance(error, OperationError) for error in errors)
    assert token is None or (isinstance(token, str) and token)
    # Every object of the list is one error, whatever it holds; nothing else is.
    data = json.loads(content)
    items = data if isinstance(data, list) else data.get("errors")
    if isinstance(data, dict) and items is None:
        items = next((v for v in data.values() if isinstance(v, list)), [])
    assert len(errors) == sum(isinstance(item, dict) for item in items)
    for error in errors:
        assert error.code is None or isinstance(error.code, int | str)
        assert error.message is None or isinstance(error.message, str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.sampled_from([200, 201, 202]), content=send_bodies, headers=send_headers)
def test_any_send_answer_is_a_valid_operation_id_or_an_uncertain_send(
    status: int, content: bytes, headers: dict[str, str]
) -> None:
    response = httpx.Response(status, content=content, headers=headers)
    try:
        found: str | None = parse_send_response(SEND, response)
    except TwilioPushSendUncertainError as exc:
        found, uncertain = None, str(exc)
    if found is None:
        assert uncertain.startswith(f"Twilio Push API accepted POST /v1/PushNotifications ({status}) ")
        assert "do not send again before checking the recent operations" in uncertain
    else:
        assert ID_RE.fullmatch(found)
    # An id in the body wins; the headers are the fallback; an invalid id is never returned.
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        body = None
    candidates: list[Any] = []
    if isinstance(body, dict):
        location = body.get("operationLocation")
        candidates += [
            body.get("operationId"),
            location.rstrip("/").rsplit("/", 1)[-1] if isinstance(location, str) else None,
        ]
    candidates += [headers.get("operation-id")]
    candidates += [
        h.rstrip("/").rsplit("/", 1)[-1]
        for h in (headers.get("operation-location"), headers.get("location"))
        if h
    ]
    valid = [c for c in candidates if isinstance(c, str) and ID_RE.fullmatch(c)]
    assert found == (valid[0] if valid else None)


# -- the whole hook ------------------------------------------------------------------------------

statuses = st.sampled_from(
    [200, 201, 202, 204, 301, 304, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503, 504, 599]
)
any_headers = st.fixed_dictionaries(
    {},
    optional={
        "Retry-After": st.sampled_from(
            ["0", "1", "-5", "nan", "inf", "1e400", "Wed, 21 Oct 2015 07:28:00 GMT", ""]
        )
        | header_text,
        "Content-Encoding": st.sampled_from(["gzip", "deflate", "br", "identity", "zstd", "bogus"]),
        "Content-Type": st.sampled_from(
            ["application/json", "text/html", "application/json; charset=utf-16"]
        ),
        "operation-id": ids.filter(lambda s: s.isascii() and s.isprintable()),
        "Location": urls.filter(lambda s: s.isascii() and s.isprintable()),
    },
)
any_bodies = st.one_of(
    json_values.map(to_bytes),
    st.fixed_dictionaries(
        {},
        optional={
            "code": json_values,
            "message": json_values,
            "moreInfo": json_values,
            "status": json_values,
        },
    ).map(to_bytes),
    st.fixed_dictionaries(
        {"id": st.just(OP), "status": st.sampled_from(["COMPLETED", "FAILED", "processing"])},
        optional={"stats": json_values},
    ).map(to_bytes),
    st.fixed_dictionaries({}, optional={"operations": json_values, "pagination": json_values}).map(to_bytes),
    st.fixed_dictionaries({}, optional={"operationId": ids, "errors": json_values}).map(to_bytes),
    st.binary(max_size=64),
    st.sampled_from(TOO_DEEP),
)
CALLS = {
    "get_operation": (lambda hook: hook.get_operation(OP), Operation),
    "list_operations": (lambda hook: hook.list_operations(), OperationPage),
    "get_operation_errors": (lambda hook: hook.get_operation_errors(OP, max_items=3), list),
    "list_push_notifications": (
        lambda hook: hook.list_push_notifications(status="FAILED"),
        PushNotificationPage,
    ),
    "send_push_notifications": (
        lambda hook: hook.send_push_notifications([{"token": "t", "provider": "FCM"}], {"body": "Hi"}),
        str,
    ),
}


@pytest.fixture
def no_retries(twilio_conn: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """``twilio_push_default`` at https://comms.twilio.com with one attempt per request (no waits)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_TWILIO_PUSH_DEFAULT", json.dumps({**twilio_conn, "extra": {"max_retries": 0}})
    )


@pytest.mark.usefixtures("no_retries")
@pytest.mark.parametrize("method", list(CALLS))
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(status=statuses, headers=any_headers, content=any_bodies)
def test_whatever_the_api_answers_the_hook_returns_or_raises_a_twilio_push_error(
    method: str, status: int, headers: dict[str, str], content: bytes
) -> None:
    call, result_type = CALLS[method]
    pacing._pacers.clear()  # a 429's pause must not carry over to the next example
    with respx.mock(base_url="https://comms.twilio.com", assert_all_called=False) as router:
        route = router.route().mock(
            side_effect=lambda request: httpx.Response(
                status, headers=headers, stream=httpx.ByteStream(content)
            )
        )
        hook = TwilioPushHook()
        error: TwilioPushError | None = None
        try:
            result = call(hook)
        except TwilioPushError as exc:
            error = exc
        finally:
            hook.close()
    if error is not None:
        assert str(error)
        assert "tok-CANARY" not in str(error)  # the password of the twilio_conn fixture
    else:
        assert 200 <= status < 300
        assert isinstance(result, result_type)
    assert route.call_count == 1  # max_retries=0: one request, whatever happened
