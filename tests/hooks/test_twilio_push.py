"""TwilioPushHook against a mocked transport (respx): the Operations endpoints, sync and async.

Most tests run twice (``mode`` = sync / async) through the small helpers below, which call
``get_operation`` or ``aget_operation`` (and so on) on the same hook.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gc
import json
import logging
import threading
import time
import traceback
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pendulum
import pytest
import respx

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
    TwilioPushServerError,
)
from airflow_provider_twilio_push.hooks.twilio_push import TwilioPushHook
from airflow_provider_twilio_push.models import Operation, OperationPage, OperationStatus

BASE_URL = "https://comms.twilio.com"
OPS_PATH = "/v1/PushNotifications/Operations"
OP_ID = "comms_operation_01h9krwprkeee8fzqspvwy6nq8"
OP_PATH = f"{OPS_PATH}/{OP_ID}"
HOOK_LOGGER = "airflow_provider_twilio_push.hooks.twilio_push"
DONE = object()


# ---------------------------------------------------------------------------------------------
# Helpers and fixtures


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def hook(twilio_conn: dict[str, Any]) -> AsyncIterator[TwilioPushHook]:
    """The default connection; retries wait about a millisecond."""
    hook = TwilioPushHook(retry_backoff=0.001, retry_backoff_max=0.002)
    yield hook
    await hook.aclose()


@pytest.fixture
def api_mock() -> Iterator[respx.MockRouter]:
    """Every request must match a route (anything else fails the test); none is required."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


@pytest.fixture
def set_conn(monkeypatch: pytest.MonkeyPatch, secret_token: str) -> Callable[..., str]:
    """Define a connection from its fields (login and password default to valid ones)."""

    def set_conn(conn_id: str = "twilio_push_custom", **fields: Any) -> str:
        conn = {"conn_type": "twilio_push", "login": "AC0123456789abcdef0123456789abcdef"}
        conn["password"] = secret_token
        conn.update(fields)
        conn = {key: value for key, value in conn.items() if value is not None}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return set_conn


async def call(hook: TwilioPushHook, mode: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """``hook.method(...)`` in sync mode, ``await hook.amethod(...)`` in async mode."""
    if mode == "sync":
        return getattr(hook, method)(*args, **kwargs)
    return await getattr(hook, f"a{method}")(*args, **kwargs)


def iterate(hook: TwilioPushHook, mode: str, **kwargs: Any) -> Any:
    return hook.iter_operations(**kwargs) if mode == "sync" else hook.aiter_operations(**kwargs)


async def step(iterator: Any) -> Any:
    """The next item of a sync or async iterator, or DONE."""
    try:
        if hasattr(iterator, "__anext__"):
            return await anext(iterator)
        return next(iterator)
    except (StopIteration, StopAsyncIteration):
        return DONE


async def collect(iterator: Any) -> list[Any]:
    items = []
    while (item := await step(iterator)) is not DONE:
        items.append(item)
    return items


def op_id(n: int) -> str:
    return f"comms_operation_01h9krwprkeee8fzqspvwy{n:04d}"


def page_body(operations: list[dict[str, Any]], next_token: str | None) -> dict[str, Any]:
    return {"operations": operations, "pagination": {"next": next_token, "self": "c2VsZg"}}


class Pages:
    """A list endpoint serving pages of the given sizes; page i > 0 is asked for with token ``tok-i``.

    ``last_page`` replaces the pagination of the last page (None: no pagination at all).
    """

    MISSING = object()

    def __init__(
        self, make_operation: Callable[..., dict[str, Any]], sizes: list[int], last_page: Any = MISSING
    ) -> None:
        self.bodies: dict[str | None, dict[str, Any]] = {}
        n = 0
        for index, size in enumerate(sizes):
            operations = [make_operation(id=op_id(n + k)) for k in range(size)]
            n += size
            token = None if index == 0 else f"tok-{index}"
            next_token = f"tok-{index + 1}" if index + 1 < len(sizes) else None
            self.bodies[token] = page_body(operations, next_token)
        if last_page is not Pages.MISSING:
            last = self.bodies[None if len(sizes) == 1 else f"tok-{len(sizes) - 1}"]
            if last_page is None:
                del last["pagination"]
            else:
                last["pagination"] = last_page

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=self.bodies[request.url.params.get("pageToken")])


def sent_params(route: respx.Route, index: int = -1) -> dict[str, str]:
    return dict(route.calls[index].request.url.params)


def texts_of(exc: BaseException) -> str:
    """Everything an exception can show: str and repr of it and of its causes, and its traceback."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def log_texts(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join([caplog.text] + [f"{r.getMessage()} {r.msg!r} {r.args!r}" for r in caplog.records])


def capture_every_log(caplog: pytest.LogCaptureFixture) -> None:
    """DEBUG and up, from every logger (httpx's and httpcore's have levels of their own)."""
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "tenacity", HOOK_LOGGER):
        caplog.set_level(logging.DEBUG, logger=name)


def secrets_of(login: str, password: str) -> list[str]:
    """The password, and the Basic credentials as they travel in the Authorization header."""
    return [password, base64.b64encode(f"{login}:{password}".encode()).decode()]


# ---------------------------------------------------------------------------------------------
# The operations endpoints


async def test_get_operation_returns_the_parsed_operation(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, make_operation: Callable[..., Any]
) -> None:
    route = api_mock.get(OP_PATH).respond(200, json=make_operation(status="COMPLETED"))

    operation = await call(hook, mode, "get_operation", OP_ID)

    assert isinstance(operation, Operation)
    assert operation.id == OP_ID
    assert operation.status is OperationStatus.COMPLETED
    assert operation.terminal
    assert (operation.stats.total, operation.stats.sent, operation.stats.queued) == (3, 2, 1)
    assert operation.created_at == dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)
    assert route.call_count == 1
    assert route.calls[0].request.method == "GET"
    assert route.calls[0].request.url.path == OP_PATH


async def test_list_operations_sends_every_filter_as_a_query_parameter(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, make_operation: Callable[..., Any]
) -> None:
    route = api_mock.get(OPS_PATH).respond(200, json=page_body([make_operation()], "bmV4dA"))

    page = await call(
        hook,
        mode,
        "list_operations",
        status="completed",
        start_date=dt.datetime(2024, 1, 15, 11, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        end_date="2024-01-16T00:00:00+01:00",
        page_size=10,
        page_token="cGFnZTI",
    )

    assert sent_params(route) == {
        "pageSize": "10",
        "status": "COMPLETED",
        "startDate": "2024-01-15T09:30:00Z",
        "endDate": "2024-01-15T23:00:00Z",
        "pageToken": "cGFnZTI",
    }
    assert isinstance(page, OperationPage)
    assert [op.id for op in page.operations] == [OP_ID]
    assert page.next_page_token == "bmV4dA"


async def test_list_operations_defaults_to_fifty_and_no_filter(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    route = api_mock.get(OPS_PATH).respond(200, json={"operations": [], "pagination": {"next": None}})

    page = await call(hook, mode, "list_operations")

    assert sent_params(route) == {"pageSize": "50"}
    assert page.operations == []
    assert page.next_page_token is None


@pytest.mark.parametrize(
    "last_pagination",
    [{"next": None, "self": "c2VsZg"}, {"self": "c2VsZg"}, {"next": ""}, None],
    ids=["next-null", "next-absent", "next-empty", "no-pagination"],
)
async def test_iter_operations_walks_every_page_and_stops_at_the_last(
    hook: TwilioPushHook,
    api_mock: respx.MockRouter,
    mode: str,
    make_operation: Callable[..., Any],
    last_pagination: Any,
) -> None:
    route = api_mock.get(OPS_PATH).mock(side_effect=Pages(make_operation, [2, 2, 1], last_pagination))

    operations = await collect(iterate(hook, mode, status="SCHEDULED", start_date="2024-01-15T09:30:00Z"))

    assert [op.id for op in operations] == [op_id(n) for n in range(5)]
    assert route.call_count == 3
    filters = {"pageSize": "1000", "status": "SCHEDULED", "startDate": "2024-01-15T09:30:00Z"}
    assert sent_params(route, 0) == filters
    assert sent_params(route, 1) == {**filters, "pageToken": "tok-1"}
    assert sent_params(route, 2) == {**filters, "pageToken": "tok-2"}


@pytest.mark.parametrize(
    ("max_items", "expected_items", "expected_requests"),
    [(3, 3, 2), (2, 2, 1), (4, 4, 2), (100, 6, 3), (0, 0, 0)],
)
async def test_iter_operations_max_items_stops_early_without_extra_requests(
    hook: TwilioPushHook,
    api_mock: respx.MockRouter,
    mode: str,
    make_operation: Callable[..., Any],
    max_items: int,
    expected_items: int,
    expected_requests: int,
) -> None:
    route = api_mock.get(OPS_PATH).mock(side_effect=Pages(make_operation, [2, 2, 2]))

    operations = await collect(iterate(hook, mode, page_size=2, max_items=max_items))

    assert [op.id for op in operations] == [op_id(n) for n in range(expected_items)]
    assert route.call_count == expected_requests


async def test_iter_operations_is_lazy_and_fetches_one_page_at_a_time(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, make_operation: Callable[..., Any]
) -> None:
    route = api_mock.get(OPS_PATH).mock(side_effect=Pages(make_operation, [2, 2, 1]))

    iterator = iterate(hook, mode, page_size=2)
    assert route.call_count == 0  # nothing until the first item is asked for

    requests_after_each_item = []
    while await step(iterator) is not DONE:
        requests_after_each_item.append(route.call_count)

    assert requests_after_each_item == [1, 1, 2, 2, 3]
    assert route.call_count == 3


async def test_iter_operations_does_not_hold_previous_pages(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, make_operation: Callable[..., Any]
) -> None:
    api_mock.get(OPS_PATH).mock(side_effect=Pages(make_operation, [2, 2, 2]))
    iterator = iterate(hook, mode, page_size=2)
    first_page = [weakref.ref(await step(iterator)), weakref.ref(await step(iterator))]
    second_page = [weakref.ref(await step(iterator)), weakref.ref(await step(iterator))]
    current = await step(iterator)  # the first operation of the third page
    gc.collect()

    assert [ref() for ref in first_page + second_page] == [None] * 4
    assert current.id == op_id(4)


async def test_iter_operations_yields_the_operations_before_a_malformed_one_then_says_where_it_is(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, make_operation: Callable[..., Any]
) -> None:
    good = make_operation(id=op_id(0))
    api_mock.get(OPS_PATH).respond(200, json=page_body([good, {"id": op_id(1), "status": "DONE"}], None))
    iterator = iterate(hook, mode)

    first = await step(iterator)
    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        await step(iterator)

    assert first.id == op_id(0)
    assert str(caught.value) == (
        f"Twilio Push API answered 200 to GET {OPS_PATH} with JSON that is not a valid "
        "OperationPage: operations.1.status: Input should be 'SCHEDULED', 'PROCESSING', 'COMPLETED' or "
        "'CANCELED' (got 'DONE')."
    )


async def test_operation_pages_hand_over_raw_items_each_read_on_its_own(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, make_operation: Callable[..., Any]
) -> None:
    """The pages under iter_operations (what the triggerer's watcher reads): items as the API
    sent them, max_items in all; ``lenient`` skips what is malformed, each item on its own."""
    malformed = [{"id": ["x"]}, {"id": op_id(1), "status": "DONE"}, "text", {"id": op_id(2) + "0123456789"}]
    first = page_body([make_operation(id=op_id(0)), *malformed], "tok-1")
    second = page_body([make_operation(id=op_id(3)), make_operation(id=op_id(4))], None)
    route = api_mock.get(OPS_PATH).mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    pages_of = hook.iter_operation_pages if mode == "sync" else hook.aiter_operation_pages

    pages = await collect(pages_of(start_date="2024-01-15T09:30:00Z", max_items=6))
    wanted = {op_id(n) for n in range(5)}

    assert [len(page.operations) for page in pages] == [5, 1]
    assert pages[0].operations[1:] == malformed
    assert [op.id for page in pages for op in page.lenient(wanted)] == [op_id(0), op_id(3)]
    assert sent_params(route, 1) == {
        "pageSize": "1000",
        "startDate": "2024-01-15T09:30:00Z",
        "pageToken": "tok-1",
    }


async def test_iter_operations_does_not_read_operations_past_max_items(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, make_operation: Callable[..., Any]
) -> None:
    body = page_body([make_operation(id=op_id(0)), {"id": op_id(1), "status": "DONE"}], "tok-1")
    route = api_mock.get(OPS_PATH).respond(200, json=body)

    operations = await collect(iterate(hook, mode, max_items=1))

    assert [op.id for op in operations] == [op_id(0)]
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"operations": {"id": OP_ID}}, "operations: Input should be a valid list"),
        (
            {"operations": [{"id": OP_ID, "status": "COMPLETED"}], "pagination": {"next": 42}},
            "pagination.next: Input should be a valid string",
        ),
        ([], "body: Input should be a valid dictionary or instance of OperationPage (got [])"),
    ],
)
async def test_iter_operations_refuses_a_malformed_page_before_yielding_from_it(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, body: Any, fragment: str
) -> None:
    api_mock.get(OPS_PATH).respond(200, json=body)

    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        await step(iterate(hook, mode))

    assert f"answered 200 to GET {OPS_PATH} with JSON that is not a valid OperationPage: " in str(
        caught.value
    )
    assert fragment in str(caught.value)


async def test_get_operation_errors_follows_pages_up_to_max_items(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str
) -> None:
    errors_path = f"{OP_PATH}/Errors"
    pages = [
        {"errors": [{"code": 1}, {"code": 2}], "pagination": {"next": "tok-1"}},
        {"errors": [{"code": 3}, {"code": 4}], "pagination": {"next": "tok-2"}},
    ]
    route = api_mock.get(errors_path).mock(side_effect=[httpx.Response(200, json=page) for page in pages])

    errors = await call(hook, mode, "get_operation_errors", OP_ID, max_items=3)

    assert [error.code for error in errors] == [1, 2, 3]
    assert route.call_count == 2
    assert sent_params(route, 1) == {"pageSize": "1000", "pageToken": "tok-1"}


@pytest.mark.parametrize("max_items", [-1, "5", None])
async def test_get_operation_errors_refuses_an_invalid_max_items_before_any_request(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, max_items: Any
) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        await call(hook, mode, "get_operation_errors", OP_ID, max_items=max_items)

    assert str(caught.value) == f"Invalid max_items {max_items!r}: expected an integer >= 0."
    assert api_mock.calls.call_count == 0


async def test_iter_operations_refuses_a_next_token_that_repeats(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, make_operation: Callable[..., Any]
) -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        if route.call_count > 3:  # without the check, fail now rather than loop forever
            return httpx.Response(400, json={"message": "the client kept paging"})
        return httpx.Response(200, json=page_body([make_operation()], "c2FtZQ"))

    route = api_mock.get(OPS_PATH).mock(side_effect=endless)

    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        await collect(iterate(hook, mode))

    assert "pagination.next equal to the token of the page just read" in str(caught.value)
    assert "paging would never end" in str(caught.value)
    assert route.call_count == 2


# ---------------------------------------------------------------------------------------------
# What every request carries, and where it goes


async def test_requests_carry_basic_auth_user_agent_and_accept(
    hook: TwilioPushHook,
    api_mock: respx.MockRouter,
    mode: str,
    make_operation: Callable[..., Any],
    twilio_conn: dict[str, Any],
    secret_token: str,
) -> None:
    route = api_mock.get(OP_PATH).respond(200, json=make_operation())

    await call(hook, mode, "get_operation", OP_ID)

    headers = route.calls[0].request.headers
    credentials = base64.b64encode(f"{twilio_conn['login']}:{secret_token}".encode()).decode()
    assert headers["Authorization"] == f"Basic {credentials}"
    assert headers["User-Agent"] == f"airflow-provider-twilio-push/{__version__}"
    assert headers["Accept"] == "application/json"


@pytest.mark.parametrize(
    ("fields", "expected_base"),
    [
        ({}, "https://comms.twilio.com"),
        ({"host": "https://comms.example.com/twilio/"}, "https://comms.example.com/twilio"),
        ({"host": "comms.example.com", "port": 8443}, "https://comms.example.com:8443"),
        ({"host": "http://localhost:8080"}, "http://localhost:8080"),
        ({"host": "localhost", "schema": "http", "port": 8080}, "http://localhost:8080"),
        ({"host": "127.0.0.1", "schema": "http", "port": 9000}, "http://127.0.0.1:9000"),
        ({"host": "http://[::1]", "port": 8081}, "http://[::1]:8081"),
        ({"host": "[::1]", "schema": "http"}, "http://[::1]"),
    ],
)
async def test_base_url_comes_from_the_connection(
    set_conn: Callable[..., str],
    mode: str,
    make_operation: Callable[..., Any],
    fields: dict[str, Any],
    expected_base: str,
) -> None:
    hook = TwilioPushHook(set_conn(**fields))
    with respx.mock() as router:
        route = router.get(f"{expected_base}{OP_PATH}").respond(200, json=make_operation())
        try:
            operation = await call(hook, mode, "get_operation", OP_ID)
        finally:
            await hook.aclose()

    assert operation.id == OP_ID
    assert route.call_count == 1
    assert str(route.calls[0].request.url) == f"{expected_base}{OP_PATH}"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"host": "http://comms.example.com"},
            "uses http:// for the non-loopback host 'comms.example.com': credentials would travel in "
            "clear text. Use https://",
        ),
        (
            {"host": "comms.example.com", "schema": "http"},
            "uses http:// for the non-loopback host 'comms.example.com'",
        ),
        (
            {"host": "http://10.0.0.8:8080"},
            "uses http:// for the non-loopback host '10.0.0.8'",
        ),
        (
            {"host": "https://AC123:hostsecret@comms.example.com"},
            "has credentials inside its Base URL (host): put them in Account SID or API Key SID (login) "
            "and Auth Token or API Key secret (password) instead.",
        ),
        (
            {"host": "ftp://comms.example.com"},
            "has Base URL (host) 'ftp://comms.example.com', which is not a base URL",
        ),
        (
            {"login": None},
            "has no Account SID or API Key SID (login): set it to your Account SID (AC...) or API Key SID (SK...).",
        ),
        (
            {"password": None},
            "has no Auth Token or API Key secret (password).",
        ),
        ({"extra": {"timeout": "soon"}}, "has extra timeout='soon': expected a number of seconds > 0."),
        ({"extra": {"timeout": 0}}, "has extra timeout=0: expected a number of seconds > 0."),
        ({"extra": {"timeout": -5}}, "has extra timeout=-5: expected a number of seconds > 0."),
        ({"extra": {"timeout": True}}, "has extra timeout=True: expected a number of seconds > 0."),
        ({"extra": {"timeout": "nan"}}, "has extra timeout='nan': expected a number of seconds > 0."),
        ({"extra": {"max_retries": -1}}, "has extra max_retries=-1: expected an integer >= 0."),
        ({"extra": {"max_retries": "two"}}, "has extra max_retries='two': expected an integer >= 0."),
        ({"extra": {"max_retries": 2.5}}, "has extra max_retries=2.5: expected an integer >= 0."),
    ],
)
async def test_a_bad_connection_is_refused_before_any_request(
    set_conn: Callable[..., str],
    api_mock: respx.MockRouter,
    mode: str,
    fields: dict[str, Any],
    message: str,
) -> None:
    conn_id = set_conn(**fields)
    hook = TwilioPushHook(conn_id)

    with pytest.raises(TwilioPushInvalidInputError) as caught:
        await call(hook, mode, "get_operation", OP_ID)

    assert f"The connection {conn_id!r} " in str(caught.value)
    assert message in str(caught.value)
    assert "hostsecret" not in texts_of(caught.value)
    with pytest.raises(TwilioPushInvalidInputError):
        await call(hook, mode, "list_operations")
    # Any request, to any host, would have failed the test: none was routed, and the mock
    # refuses what it does not route.
    assert api_mock.calls.call_count == 0


async def test_valid_extras_set_the_timeout_and_the_number_of_retries(
    set_conn: Callable[..., str], api_mock: respx.MockRouter, mode: str
) -> None:
    conn_id = set_conn(extra={"timeout": "2.5", "max_retries": "2"})
    hook = TwilioPushHook(conn_id, retry_backoff=0.001)
    route = api_mock.get(OP_PATH).respond(503)

    with pytest.raises(TwilioPushServerError) as caught:
        await call(hook, mode, "get_operation", OP_ID)
    await hook.aclose()

    assert route.call_count == 3
    assert "(gave up after 3 attempts)" in str(caught.value)
    assert route.calls[0].request.extensions["timeout"]["read"] == 2.5
    assert route.calls[0].request.extensions["timeout"]["connect"] == 2.5


async def test_max_retries_zero_makes_a_single_attempt(
    set_conn: Callable[..., str], api_mock: respx.MockRouter, mode: str
) -> None:
    hook = TwilioPushHook(set_conn(extra={"max_retries": 0}), retry_backoff=0.001)
    route = api_mock.get(OP_PATH).respond(429)

    with pytest.raises(TwilioPushRateLimitedError) as caught:
        await call(hook, mode, "get_operation", OP_ID)
    await hook.aclose()

    assert route.call_count == 1
    assert str(caught.value).endswith("(gave up after 1 attempt)")


async def test_a_missing_connection_is_a_clear_error(
    api_mock: respx.MockRouter, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_TWILIO_PUSH_NOWHERE", raising=False)
    hook = TwilioPushHook("twilio_push_nowhere")

    with pytest.raises(TwilioPushInvalidInputError) as caught:
        await call(hook, mode, "get_operation", OP_ID)

    assert "'twilio_push_nowhere' is not defined" in str(caught.value)
    assert "AIRFLOW_CONN_TWILIO_PUSH_NOWHERE" in str(caught.value)
    assert api_mock.calls.call_count == 0


async def test_the_hook_reuses_one_client_until_closed(
    twilio_conn: dict[str, Any], api_mock: respx.MockRouter, mode: str, make_operation: Callable[..., Any]
) -> None:
    route = api_mock.get(OP_PATH).respond(200, json=make_operation())
    hook = TwilioPushHook()
    if mode == "sync":
        with hook:
            client = hook.get_client()
            hook.get_operation(OP_ID)
            hook.get_operation(OP_ID)
            assert hook.get_client() is client
    else:
        async with hook:
            client = await hook.aget_client()
            await hook.aget_operation(OP_ID)
            await hook.aget_operation(OP_ID)
            assert await hook.aget_client() is client

    assert route.call_count == 2
    assert client.is_closed


async def test_concurrent_first_uses_of_a_hook_build_one_client(
    twilio_conn: dict[str, Any], api_mock: respx.MockRouter, make_operation: Callable[..., Any]
) -> None:
    """Triggers or tasks that share a hook and start together get one client, not one each
    (of which all but the last would never be closed)."""
    route = api_mock.get(OP_PATH).respond(200, json=make_operation())
    hook = TwilioPushHook()

    async with hook:
        clients = await asyncio.gather(*(hook.aget_client() for _ in range(5)))
        await asyncio.gather(*(hook.aget_operation(OP_ID) for _ in range(3)))
        threads = await asyncio.gather(*(asyncio.to_thread(hook.get_client) for _ in range(5)))
        client = await hook.aget_client()

    assert len({id(c) for c in clients}) == 1
    assert clients[0] is client
    assert client.is_closed
    assert len({id(c) for c in threads}) == 1
    assert threads[0].is_closed
    assert route.call_count == 3


async def test_aclose_on_the_event_loop_does_not_wait_for_a_connection_lookup_in_a_thread(
    twilio_conn: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher closes its hook on the triggerer's event loop; a thread that is building a sync
    client meanwhile, slowly looking up its connection (a secrets backend), must not make it wait."""
    async_hook = TwilioPushHook()
    await async_hook.aget_client()
    in_lookup, end_lookup = threading.Event(), threading.Event()
    order: list[str] = []
    look_up = TwilioPushHook.get_connection

    def slow_lookup(conn_id: str) -> Any:
        order.append("lookup started")
        in_lookup.set()
        end_lookup.wait(timeout=20)  # a backstop only: the test ends it
        order.append("lookup done")
        return look_up(conn_id)

    monkeypatch.setattr(TwilioPushHook, "get_connection", staticmethod(slow_lookup))
    sync_hook = TwilioPushHook()
    building = asyncio.ensure_future(asyncio.to_thread(sync_hook.get_client))
    assert await asyncio.to_thread(in_lookup.wait, 20)

    await async_hook.aclose()
    order.append("aclose done")
    end_lookup.set()
    client = await building
    sync_hook.close()

    assert order == ["lookup started", "aclose done", "lookup done"]
    assert client.is_closed


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("status", "body", "error_class", "fragments", "code", "more_info"),
    [
        (
            400,
            {
                "code": 21211,
                "message": "Invalid pageSize",
                "moreInfo": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            },
            TwilioPushBadRequestError,
            ["answered 400 Bad Request to GET", ": Invalid pageSize (Twilio error 21211)"],
            21211,
            "https://www.twilio.com/docs/errors/21211",
        ),
        (
            401,
            {
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            },
            TwilioPushAuthError,
            [
                "answered 401 Unauthorized to GET",
                ": Authenticate (Twilio error 20003)",
                "Check the Account SID or API Key SID (login) and the Auth Token or API Key secret (password) of the connection "
                "'twilio_push_default'.",
            ],
            20003,
            "https://www.twilio.com/docs/errors/20003",
        ),
        (
            403,
            {"code": 20403, "message": "Forbidden"},
            TwilioPushAuthError,
            ["answered 403 Forbidden to GET", "and that it may use the Comms API."],
            20403,
            None,
        ),
        (
            404,
            {
                "code": 20404,
                "message": "The requested resource was not found",
                "more_info": "https://www.twilio.com/docs/errors/20404",
                "status": 404,
            },
            TwilioPushNotFoundError,
            [
                "answered 404 Not Found to GET",
                ": The requested resource was not found (Twilio error 20404)",
                "older than Twilio's 7-day retention",
            ],
            20404,
            "https://www.twilio.com/docs/errors/20404",
        ),
        (
            400,
            "<html>Bad Request</html>",
            TwilioPushBadRequestError,
            [f"Twilio Push API answered 400 Bad Request to GET {OP_PATH}"],
            None,
            None,
        ),
    ],
    ids=["400-moreInfo", "401-classic-more_info", "403", "404-classic", "400-not-json"],
)
async def test_client_errors_are_typed_named_and_never_retried(
    hook: TwilioPushHook,
    api_mock: respx.MockRouter,
    mode: str,
    status: int,
    body: Any,
    error_class: type[TwilioPushAPIError],
    fragments: list[str],
    code: int | None,
    more_info: str | None,
) -> None:
    response = (
        httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)
    )
    route = api_mock.get(OP_PATH).mock(return_value=response)

    with pytest.raises(error_class) as caught:
        await call(hook, mode, "get_operation", OP_ID)

    error = caught.value
    message = str(error)
    assert OP_PATH in message
    for fragment in fragments:
        assert fragment in message
    assert "gave up" not in message
    assert (error.http_status, error.path, error.code, error.more_info) == (status, OP_PATH, code, more_info)
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "error_class", "reason"),
    [
        (429, TwilioPushRateLimitedError, "429 Too Many Requests"),
        (500, TwilioPushServerError, "500 Internal Server Error"),
        (502, TwilioPushServerError, "502 Bad Gateway"),
        (503, TwilioPushServerError, "503 Service Unavailable"),
        (504, TwilioPushServerError, "504 Gateway Timeout"),
    ],
)
async def test_retryable_statuses_are_retried_then_raised(
    hook: TwilioPushHook,
    api_mock: respx.MockRouter,
    mode: str,
    status: int,
    error_class: type[TwilioPushAPIError],
    reason: str,
) -> None:
    route = api_mock.get(OPS_PATH).respond(status, json={"code": 20500 + status % 100, "message": "Busy"})

    with pytest.raises(error_class) as caught:
        await call(hook, mode, "list_operations")

    assert route.call_count == 5  # the default max_retries is 4
    assert str(caught.value) == (
        f"Twilio Push API answered {reason} to GET {OPS_PATH}: Busy "
        f"(Twilio error {20500 + status % 100}) (gave up after 5 attempts)"
    )
    assert caught.value.http_status == status
    assert caught.value.transient


async def test_a_transient_failure_then_success_returns_the_result(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, make_operation: Callable[..., Any]
) -> None:
    route = api_mock.get(OP_PATH).mock(
        side_effect=[
            httpx.Response(503),
            httpx.ConnectError("connection refused"),
            httpx.Response(429),
            httpx.Response(200, json=make_operation()),
        ]
    )

    operation = await call(hook, mode, "get_operation", OP_ID)

    assert operation.id == OP_ID
    assert route.call_count == 4


@pytest.mark.parametrize(
    "transport_error",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadTimeout("The read operation timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=lambda exc: type(exc).__name__,
)
async def test_transport_errors_become_connection_errors_after_retries(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, transport_error: httpx.TransportError
) -> None:
    route = api_mock.get(OP_PATH).mock(side_effect=transport_error)

    with pytest.raises(TwilioPushConnectionError) as caught:
        await call(hook, mode, "get_operation", OP_ID)

    assert route.call_count == 5
    assert str(caught.value) == (
        f"No answer from the Twilio Push API at {BASE_URL} to GET {OP_PATH}: {type(transport_error).__name__} "
        f"({transport_error}) (gave up after 5 attempts)"
    )
    assert caught.value.path == OP_PATH


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (b"<html>gateway</html>", ["with a body that is not JSON (starts with '<html>gateway</html>')"]),
        ({"id": OP_ID}, ["not a valid Operation", "status: Field required"]),
        ({"id": OP_ID, "status": "FAILED"}, ["not a valid Operation", "status: Input should be", "'FAILED'"]),
        ({"id": OP_ID, "status": "COMPLETED", "stats": "lots"}, ["not a valid Operation", "stats: "]),
        (
            {"id": OP_ID, "status": "COMPLETED", "stats": {"total": -1}},
            ["stats.total: Input should be greater than or equal to 0 (got -1)"],
        ),
        ([1, 2], ["not a valid Operation", "body: Input should be a valid dictionary"]),
    ],
    ids=["not-json", "no-status", "unknown-status", "stats-not-object", "negative-counter", "a-list"],
)
async def test_a_malformed_operation_raises_a_malformed_response_error(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, body: Any, fragments: list[str]
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    route = api_mock.get(OP_PATH).respond(200, content=content)

    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        await call(hook, mode, "get_operation", OP_ID)

    message = str(caught.value)
    assert message.startswith(f"Twilio Push API answered 200 to GET {OP_PATH} with ")
    for fragment in fragments:
        assert fragment in message
    assert (caught.value.http_status, caught.value.path) == (200, OP_PATH)
    assert route.call_count == 1  # a 200 is an answer: asking again would not fix it


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"operations": {"id": OP_ID}}, "operations: Input should be a valid list"),
        ({"operations": [{"id": OP_ID, "status": "DONE"}]}, "operations.0.status: Input should be"),
        ({"operations": [], "pagination": {"next": 42}}, "Input should be a valid string"),
    ],
)
async def test_a_malformed_page_raises_a_malformed_response_error(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, body: Any, fragment: str
) -> None:
    api_mock.get(OPS_PATH).respond(200, json=body)

    with pytest.raises(TwilioPushMalformedResponseError) as caught:
        await call(hook, mode, "list_operations")

    assert f"answered 200 to GET {OPS_PATH} with JSON that is not a valid OperationPage" in str(caught.value)
    assert fragment in str(caught.value)


async def test_retry_after_is_honoured(
    hook: TwilioPushHook,
    api_mock: respx.MockRouter,
    mode: str,
    make_operation: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=HOOK_LOGGER)
    route = api_mock.get(OP_PATH).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "1"}),
            httpx.Response(200, json=make_operation()),
        ]
    )

    started = time.monotonic()
    operation = await call(hook, mode, "get_operation", OP_ID)
    waited = time.monotonic() - started

    assert operation.id == OP_ID
    assert route.call_count == 2
    assert 0.9 <= waited < 5  # the hook's own backoff is a millisecond
    retries = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == HOOK_LOGGER]
    assert retries == [
        (
            logging.WARNING,
            f"Twilio Push API answered 429 Too Many Requests to GET {OP_PATH}; "
            "retrying in 1.0 s (attempt 2 of 5)",
        )
    ]


@pytest.mark.timeout(20)  # unbounded, the waits would add up to minutes
async def test_backoff_is_bounded_by_retry_backoff_max(
    twilio_conn: dict[str, Any], api_mock: respx.MockRouter, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=HOOK_LOGGER)
    # Without the bound, the first wait alone would be 50 to 100 s.
    hook = TwilioPushHook(retry_backoff=100.0, retry_backoff_max=0.02)
    route = api_mock.get(OP_PATH).respond(502)

    started = time.monotonic()
    with pytest.raises(TwilioPushServerError, match=r"\(gave up after 5 attempts\)$"):
        await call(hook, mode, "get_operation", OP_ID)
    await hook.aclose()

    assert time.monotonic() - started < 3
    assert route.call_count == 5
    waits = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert [w.rsplit("; ", 1)[1] for w in waits] == [
        f"retrying in 0.0 s (attempt {n} of 5)" for n in range(2, 6)
    ]


# ---------------------------------------------------------------------------------------------
# Invalid input: refused before any request


@pytest.mark.parametrize(
    "operation_id",
    [
        "comms_pushnotification_01h9krwprkeee8fzqspvwy6nq8",
        "COMMS_OPERATION_01H9KRWPRKEEE8FZQSPVWY6NQ8",
        "comms_operation_01h9krwp",
        "comms_operation_81h9krwprkeee8fzqspvwy6nq8",
        "comms_operation_01h9krwprkeee8fzqspvwy6nqu",
        f"{OP_ID}\n",
        f"{OP_ID}/Errors",
        "",
        None,
        12345,
    ],
)
async def test_an_invalid_operation_id_sends_nothing(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, operation_id: Any
) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        await call(hook, mode, "get_operation", operation_id)

    assert str(caught.value).startswith(
        f"Invalid operation_id {operation_id!r}: expected an id like "
        "'comms_operation_01h9krwprkeee8fzqspvwy6nq8' (pattern ^comms_operation_"
    )
    assert api_mock.calls.call_count == 0


NAIVE = dt.datetime(2024, 1, 15, 9, 30)
INVALID_LIST_ARGUMENTS = [
    ({"page_size": 0}, "Invalid page_size 0: expected an integer from 1 to 1000."),
    ({"page_size": 1001}, "Invalid page_size 1001: expected an integer from 1 to 1000."),
    ({"page_size": "50"}, "Invalid page_size '50': expected an integer from 1 to 1000."),
    ({"page_size": True}, "Invalid page_size True: expected an integer from 1 to 1000."),
    (
        {"status": "FAILED"},
        "Invalid status 'FAILED': expected one of SCHEDULED, PROCESSING, COMPLETED, CANCELED.",
    ),
    ({"status": 2}, "Invalid status 2: expected one of SCHEDULED, PROCESSING, COMPLETED, CANCELED."),
    ({"start_date": NAIVE}, "Invalid start_date '2024-01-15T09:30:00': it has no timezone."),
    ({"end_date": NAIVE}, "Invalid end_date '2024-01-15T09:30:00': it has no timezone."),
    (
        {"start_date": "last tuesday"},
        "Invalid start_date 'last tuesday': expected an ISO 8601 date-time such as '2024-01-15T09:30:00Z'.",
    ),
    (
        {"end_date": 1705311000},
        "Invalid end_date 1705311000: expected a timezone-aware datetime or an ISO 8601 string.",
    ),
    (
        {"start_date": "2024-01-16T00:00:00Z", "end_date": "2024-01-15T00:00:00Z"},
        "start_date 2024-01-16T00:00:00Z is after end_date 2024-01-15T00:00:00Z: "
        "expected start_date <= end_date.",
    ),
]


@pytest.mark.parametrize(("kwargs", "message"), INVALID_LIST_ARGUMENTS)
async def test_invalid_list_arguments_send_nothing(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        await call(hook, mode, "list_operations", **kwargs)
    assert str(caught.value).startswith(message)

    # The iterators check their arguments when called, before the first item is asked for.
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        iterate(hook, mode, **kwargs)
    assert str(caught.value).startswith(message)

    assert api_mock.calls.call_count == 0


async def test_a_naive_datetime_message_says_how_to_fix_it(hook: TwilioPushHook, mode: str) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        await call(hook, mode, "list_operations", start_date=NAIVE)

    assert "Pass a timezone-aware datetime (e.g. pendulum.datetime(..., tz='UTC'))" in str(caught.value)
    assert "or an ISO string with an offset ('...Z')" in str(caught.value)


@pytest.mark.parametrize("page_token", ["", 7])
async def test_an_invalid_page_token_sends_nothing(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, page_token: Any
) -> None:
    with pytest.raises(TwilioPushInvalidInputError, match="expected the non-empty string a previous page"):
        await call(hook, mode, "list_operations", page_token=page_token)
    assert api_mock.calls.call_count == 0


@pytest.mark.parametrize("max_items", [-1, "3", True, 2.0])
async def test_an_invalid_max_items_sends_nothing(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, max_items: Any
) -> None:
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        iterate(hook, mode, max_items=max_items)

    assert str(caught.value) == (
        f"Invalid max_items {max_items!r}: expected None (no limit) or an integer >= 0."
    )
    assert api_mock.calls.call_count == 0


@pytest.mark.parametrize(
    ("status", "sent"),
    [
        ("completed", "COMPLETED"),
        (" Scheduled ", "SCHEDULED"),
        ("PROCESSING", "PROCESSING"),
        (OperationStatus.CANCELED, "CANCELED"),
    ],
)
async def test_status_is_case_insensitive(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, status: Any, sent: str
) -> None:
    route = api_mock.get(OPS_PATH).respond(200, json={"operations": []})

    await call(hook, mode, "list_operations", status=status)

    assert sent_params(route)["status"] == sent


@pytest.mark.parametrize(
    "start_date",
    [
        "2024-01-15T09:30:00Z",
        "2024-01-15T04:30:00-05:00",
        "2024-01-15T09:30:00.123456+00:00",
        pendulum.datetime(2024, 1, 15, 10, 30, tz="Europe/Paris"),
        dt.datetime(2024, 1, 15, 15, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC),
    ],
    ids=["iso-z", "iso-offset", "iso-fraction", "pendulum-paris", "aware-ist", "aware-utc"],
)
async def test_dates_are_sent_in_utc(
    hook: TwilioPushHook, api_mock: respx.MockRouter, mode: str, start_date: Any
) -> None:
    route = api_mock.get(OPS_PATH).respond(200, json={"operations": []})

    await call(hook, mode, "list_operations", start_date=start_date, end_date=start_date)

    assert sent_params(route)["startDate"] == "2024-01-15T09:30:00Z"
    assert sent_params(route)["endDate"] == "2024-01-15T09:30:00Z"


# ---------------------------------------------------------------------------------------------
# Secrets


def _respond_401(route: respx.Route) -> None:
    route.respond(401, json={"code": 20003, "message": "Authenticate", "more_info": "https://x"})


def _respond_connect_error(route: respx.Route) -> None:
    route.mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))


def _respond_not_json(route: respx.Route) -> None:
    route.respond(200, text="<html>oops</html>")


def _respond_503(route: respx.Route) -> None:
    route.respond(503, headers={"Retry-After": "0"})


@pytest.mark.parametrize(
    ("respond", "error_class", "retried"),
    [
        (_respond_401, TwilioPushAuthError, False),
        (_respond_connect_error, TwilioPushConnectionError, True),
        (_respond_not_json, TwilioPushMalformedResponseError, False),
        (_respond_503, TwilioPushServerError, True),
    ],
    ids=["401", "connect-error", "not-json", "503-retries"],
)
async def test_the_password_never_leaks(
    hook: TwilioPushHook,
    api_mock: respx.MockRouter,
    mode: str,
    caplog: pytest.LogCaptureFixture,
    twilio_conn: dict[str, Any],
    secret_token: str,
    respond: Callable[[respx.Route], None],
    error_class: type[TwilioPushAPIError],
    retried: bool,
) -> None:
    capture_every_log(caplog)
    respond(api_mock.get(OP_PATH))

    with pytest.raises(error_class) as caught:
        await call(hook, mode, "get_operation", OP_ID)

    settings = hook.get_settings()
    shown = "\n".join(
        [
            texts_of(caught.value),
            log_texts(caplog),
            repr(hook),
            str(hook.__dict__),
            repr(settings),
            str(settings),
            repr(hook.get_client()),
            repr(await hook.aget_client()),
        ]
    )
    for secret in secrets_of(twilio_conn["login"], secret_token):
        assert secret not in shown
    assert settings.password == secret_token  # the hook did use it
    # The logs were captured (the scan above is not vacuous): httpx logs each request...
    if error_class is not TwilioPushConnectionError:
        assert f"HTTP Request: GET {BASE_URL}{OP_PATH}" in caplog.text
    # ...and the hook each retry.
    assert ("retrying in" in caplog.text) is retried


def test_the_secret_scan_would_see_a_leak(
    caplog: pytest.LogCaptureFixture, twilio_conn: dict[str, Any], secret_token: str
) -> None:
    """If Airflow's secret masker redacted logs, the test above would prove nothing: it does not."""
    capture_every_log(caplog)
    TwilioPushHook().get_settings()  # fetching the connection registers the password with the masker
    logging.getLogger(HOOK_LOGGER).debug("leaked %s", secret_token)
    logging.getLogger("httpx").debug("leaked %s", secrets_of(twilio_conn["login"], secret_token)[1])

    shown = log_texts(caplog)
    assert all(secret in shown for secret in secrets_of(twilio_conn["login"], secret_token))


# ---------------------------------------------------------------------------------------------
# The UI's Test button


def test_test_connection_succeeds_with_one_cheap_call(
    hook: TwilioPushHook, api_mock: respx.MockRouter
) -> None:
    route = api_mock.get(OPS_PATH).respond(200, json={"operations": [], "pagination": {"next": None}})

    assert hook.test_connection() == (True, f"Connected to the Twilio Push API at {BASE_URL}.")
    assert route.call_count == 1
    assert sent_params(route) == {"pageSize": "1"}


def test_test_connection_reports_bad_credentials(
    hook: TwilioPushHook, api_mock: respx.MockRouter, secret_token: str
) -> None:
    route = api_mock.get(OPS_PATH).respond(401, json={"code": 20003, "message": "Authenticate"})

    ok, reason = hook.test_connection()

    assert ok is False
    # The UI tests an unsaved copy under a random connection id: the message names none.
    assert reason == (
        f"Twilio Push API answered 401 Unauthorized to GET {OPS_PATH}: Authenticate (Twilio error 20003). "
        "Check the Account SID or API Key SID (login) and the Auth Token or API Key secret (password) "
        "of this connection."
    )
    assert secret_token not in reason
    assert route.call_count == 1


def test_test_connection_reports_an_unreachable_host(
    hook: TwilioPushHook, api_mock: respx.MockRouter
) -> None:
    api_mock.get(OPS_PATH).mock(side_effect=httpx.ConnectError("[Errno -2] Name or service not known"))

    ok, reason = hook.test_connection()

    assert ok is False
    assert reason.startswith(
        f"No answer from the Twilio Push API at {BASE_URL} to GET {OPS_PATH}: ConnectError"
    )
    assert "Name or service not known" in reason


def test_test_connection_reports_a_missing_connection(
    api_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_TWILIO_PUSH_NOWHERE", raising=False)

    ok, reason = TwilioPushHook("twilio_push_nowhere").test_connection()

    assert ok is False
    assert "twilio_push_nowhere" in reason
    assert "defined" in reason
    assert "Traceback" not in reason
    assert "\n" not in reason
    assert api_mock.calls.call_count == 0


def test_test_connection_reports_a_bad_connection(set_conn: Callable[..., str]) -> None:
    ok, reason = TwilioPushHook(set_conn(host="http://comms.example.com")).test_connection()

    assert ok is False
    assert reason.startswith("This connection uses http:// for the non-loopback host 'comms.example.com'")


def test_test_connection_names_the_forms_fields_and_no_connection_id(set_conn: Callable[..., str]) -> None:
    """The UI's Test runs on an unsaved copy of the form, under a random connection id."""
    hook = TwilioPushHook(set_conn("XdbD7b0L", password=None))

    assert hook.test_connection() == (
        False,
        "This connection has no Auth Token or API Key secret (password).",
    )
    # Outside the Test button, messages name the connection again.
    with pytest.raises(TwilioPushInvalidInputError) as caught:
        hook.get_settings()
    assert str(caught.value) == "The connection 'XdbD7b0L' has no Auth Token or API Key secret (password)."


def test_test_connection_leaves_the_hooks_retries_as_they_were(
    hook: TwilioPushHook, api_mock: respx.MockRouter, make_operation: Callable[..., Any]
) -> None:
    api_mock.get(OPS_PATH).respond(200, json={"operations": [], "pagination": {"next": None}})
    route = api_mock.get(OP_PATH).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=make_operation())]
    )

    assert hook.test_connection()[0] is True
    # The Test button makes one attempt; the hook's later calls still retry (max_retries=4).
    assert hook.get_operation(OP_ID).id == OP_ID
    assert route.call_count == 2
