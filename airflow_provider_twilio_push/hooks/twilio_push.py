"""TwilioPushHook: the Comms API's push-notification Operations endpoints, sync and async."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
import types
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import httpx
from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook
from tenacity import AsyncRetrying, Retrying

from airflow_provider_twilio_push import api
from airflow_provider_twilio_push.api import ApiRequest, ConnectionSettings
from airflow_provider_twilio_push.exceptions import TwilioPushAPIError, TwilioPushInvalidInputError
from airflow_provider_twilio_push.hooks._transport import PooledAsyncTransport
from airflow_provider_twilio_push.models import Operation, OperationError, OperationPage, OperationStatus

log = logging.getLogger(__name__)

_shared_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[ConnectionSettings, httpx.AsyncClient]
] = weakref.WeakKeyDictionary()
# One lock per loop: a fleet of triggers starting together builds one client, not one each.
_shared_async_client_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)

_budgets: dict[ConnectionSettings, api.RequestBudget] = {}
# The transports that async clients may bypass the client for (see _fetch).
_fetchers: weakref.WeakKeyDictionary[httpx.AsyncClient, PooledAsyncTransport] = weakref.WeakKeyDictionary()
# httpx's default limits, for the clients of hooks that do not share theirs.
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def _budget(settings: ConnectionSettings) -> api.RequestBudget:
    """The request budget shared by every hook of this process on the same connection."""
    budget = _budgets.get(settings)
    if budget is None:
        budget = _budgets[settings] = api.RequestBudget(settings.max_requests_per_second)
    return budget


async def _await_slot(budget: api.RequestBudget) -> None:
    """Wait for this request's slot in the connection's budget.

    A request that wakes up well after its slot books a new one, once: otherwise, after the
    event loop was blocked, every request that fell due meanwhile would go out at the same time.
    """
    for _ in range(2):
        if (wait := budget.reserve()) <= 0:
            return
        due = time.monotonic() + wait
        await asyncio.sleep(wait)
        if time.monotonic() - due <= budget.late_after:
            return


async def _new_async_client(
    settings: ConnectionSettings, limits: httpx.Limits = _DEFAULT_LIMITS, **options: Any
) -> httpx.AsyncClient:
    if api.shared_ssl_context.cache_info().currsize == 0:
        # The first client of the process loads the CA bundle (~16 ms of CPU): keep it off the loop.
        await asyncio.to_thread(api.shared_ssl_context)
    # httpx's own transport costs more CPU per request than the rest of a trigger's poll (and
    # its pool collapses once requests queue): see _transport.py. Proxies from the environment
    # still get httpx's transports (mounted by the client, with these limits).
    transport = PooledAsyncTransport(ssl_context=api.shared_ssl_context(), limits=limits)
    client_options = api.client_options(settings)
    # A default header rather than an auth flow, so that a prepared request can be sent as it is
    # (httpx shows Authorization as [secure] in reprs).
    client_options.pop("auth")
    client_options["headers"] = {
        **client_options["headers"],
        "Authorization": api.basic_auth_header(settings),
    }
    client = httpx.AsyncClient(**client_options, limits=limits, transport=transport, **options)
    if getattr(client, "_mounts", None) == {}:  # no proxy from the environment: fetch directly
        _fetchers[client] = transport
    return client


async def _fetch(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """``client.send(request)``, through the transport directly when nothing needs the client.

    The client machinery (auth flow, cookie jar, redirect loop, event hooks) costs a third of the
    CPU of a poll; the hook needs none of it: the request carries its headers, redirects are not
    followed and the API sets no cookies.
    """
    transport = _fetchers.get(client)
    hooks = client.event_hooks
    if transport is None or hooks["request"] or hooks["response"]:
        return await client.send(request)
    return await transport.fetch(request)


async def _shared_async_client(settings: ConnectionSettings) -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    clients = _shared_async_clients.setdefault(loop, {})
    client = clients.get(settings)
    if client is not None and not client.is_closed:
        return client
    async with _shared_async_client_locks.setdefault(loop, asyncio.Lock()):
        client = clients.get(settings)
        if client is None or client.is_closed:
            # Many concurrent polls wait for a pooled connection instead of timing out on the
            # pool; each request keeps its connect/read timeouts.
            client = await _new_async_client(
                settings, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
            )
            client.timeout = httpx.Timeout(settings.timeout, pool=None)
            clients[settings] = client
    return client


class TwilioPushHook(BaseHook):
    """Talks to the Twilio Comms API for push notifications.

    :param twilio_push_conn_id: The Airflow connection: login is the Account SID or API Key SID,
        password the Auth Token or API Key secret, host an optional base URL (default
        ``https://comms.twilio.com``), extras ``timeout`` (seconds) and ``max_retries``.
    :param retry_backoff: First wait, in seconds, between retries (then doubled, with jitter).
    :param retry_backoff_max: Longest wait between retries, in seconds.
    :param shared_async_client: Use one ``httpx.AsyncClient`` per connection and event loop for
        every hook of the process that asks for it (triggers do: a triggerer runs thousands of
        them on one loop). ``aclose()`` then leaves the shared client open.

    Every method has an async twin (``aget_operation`` for ``get_operation``...). A hook builds its
    HTTP client once and reuses it; close it with ``close()`` / ``await aclose()`` or use the hook
    as a (async) context manager.
    """

    conn_name_attr = "twilio_push_conn_id"
    default_conn_name = "twilio_push_default"
    conn_type = "twilio_push"
    hook_name = "Twilio Push (Comms API)"

    def __init__(
        self,
        twilio_push_conn_id: str = default_conn_name,
        *,
        retry_backoff: float = 0.5,
        retry_backoff_max: float = 30.0,
        shared_async_client: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.twilio_push_conn_id = twilio_push_conn_id
        self.retry_backoff = retry_backoff
        self.retry_backoff_max = retry_backoff_max
        self.shared_async_client = shared_async_client
        self._settings: ConnectionSettings | None = None
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None
        # Requests without query or body (a trigger's poll), built once for the async client.
        self._prepared: dict[tuple[str, str], httpx.Request] = {}

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form; the same as ``connection-types`` in ``get_provider_info()``."""
        from airflow_provider_twilio_push.get_provider_info import UI_FIELD_BEHAVIOUR

        return UI_FIELD_BEHAVIOUR

    # -- connection and clients ----------------------------------------------------------------

    def _settings_from(self, conn: Any, extra: dict[str, Any]) -> ConnectionSettings:
        return api.connection_settings(
            self.twilio_push_conn_id,
            host=conn.host,
            schema=conn.schema,
            port=conn.port,
            login=conn.login,
            password=conn.password,
            extra=extra,
        )

    def _missing_connection(self) -> TwilioPushInvalidInputError:
        variable = f"AIRFLOW_CONN_{self.twilio_push_conn_id.upper()}"
        if variable in os.environ:
            return self._unreadable_variable(variable)
        return TwilioPushInvalidInputError(
            f"The connection {self.twilio_push_conn_id!r} is not defined: create it (type twilio_push) "
            f"in the UI or set {variable}."
        )

    def _unreadable_variable(self, variable: str) -> TwilioPushInvalidInputError:
        """Airflow reports a connection variable it could not read as a missing connection (before
        3.2, also one whose extra is not a JSON object): check its JSON here for the usual message."""
        try:
            fields = json.loads(os.environ[variable])
            extra = fields.get("extra") or {}
            conn = types.SimpleNamespace(
                **{key: fields.get(key) for key in ("host", "schema", "port", "login", "password")}
            )
            self._settings_from(conn, json.loads(extra) if isinstance(extra, str) else extra)
        except TwilioPushInvalidInputError as error:
            return error
        except (ValueError, AttributeError):  # not JSON (a URI), or not an object
            pass
        return TwilioPushInvalidInputError(
            f"Airflow could not read the connection {self.twilio_push_conn_id!r} from {variable}: expected "
            'a URI or a JSON object such as {"conn_type": "twilio_push", "login": "AC...", "password": "...", '
            '"extra": {"timeout": 10}}.'
        )

    def get_settings(self) -> ConnectionSettings:
        if self._settings is None:
            try:
                conn = self.get_connection(self.twilio_push_conn_id)
            except AirflowNotFoundException:
                raise self._missing_connection() from None
            self._settings = self._settings_from(conn, conn.extra_dejson)
        return self._settings

    async def aget_settings(self) -> ConnectionSettings:
        if self._settings is None:
            # Not imported with the module: DAG files import the hook, only async code needs this
            # (the trigger module imports it up front for the triggerer).
            from airflow.providers.common.compat.connection import (
                get_async_connection,
                get_async_extra_dejson,
            )

            try:
                conn = await get_async_connection(self.twilio_push_conn_id, hook=self)
            except AirflowNotFoundException:
                raise self._missing_connection() from None
            self._settings = self._settings_from(conn, await get_async_extra_dejson(conn))
        return self._settings

    def get_client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(**api.client_options(self.get_settings()))
        return self._client

    async def aget_client(self) -> httpx.AsyncClient:
        if self._async_client is None:
            settings = await self.aget_settings()
            if self.shared_async_client:
                self._async_client = await _shared_async_client(settings)
            else:
                self._async_client = await _new_async_client(settings)
        return self._async_client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        if self._async_client is not None and not self.shared_async_client:
            await self._async_client.aclose()
        self._async_client = None
        self._prepared.clear()
        self.close()

    def __enter__(self) -> TwilioPushHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> TwilioPushHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the I/O shells ------------------------------------------------------------------------

    def _retry_args(self, settings: ConnectionSettings) -> dict[str, Any]:
        return {
            "max_retries": settings.max_retries,
            "backoff": self.retry_backoff,
            "backoff_max": self.retry_backoff_max,
            "on_retry": log.warning,
        }

    def _retry_options(
        self, request: ApiRequest, settings: ConnectionSettings, attempts_made: int = 0
    ) -> dict[str, Any]:
        return api.retry_options(request, attempts_made=attempts_made, **self._retry_args(settings))

    # Both shells make the first attempt outside tenacity, which costs ~45 us per call even when
    # the first attempt succeeds (most calls); after a retryable failure tenacity takes over.

    def send(self, request: ApiRequest) -> httpx.Response:
        """Send one request with retries; return the 2xx response or raise a typed error."""
        client = self.get_client()
        settings = self.get_settings()
        budget = _budget(settings)
        try:
            return self._send_once(client, request, settings, budget)
        except Exception as exc:
            delay = api.first_retry_delay(request, exc, **self._retry_args(settings))
        time.sleep(delay)
        for attempt in Retrying(**self._retry_options(request, settings, attempts_made=1)):
            with attempt:
                return self._send_once(client, request, settings, budget)
        raise AssertionError("unreachable: tenacity returns or raises")

    def _send_once(
        self,
        client: httpx.Client,
        request: ApiRequest,
        settings: ConnectionSettings,
        budget: api.RequestBudget,
    ) -> httpx.Response:
        if (wait := budget.reserve()) > 0:
            time.sleep(wait)
        with api.typed_transport_errors(request):
            response = client.request(request.method, request.path, params=request.params, json=request.body)
        api.check_response(request, response, settings.conn_id, budget)
        return response

    def _prepare(self, client: httpx.AsyncClient, request: ApiRequest) -> httpx.Request:
        if request.params is not None or request.body is not None:
            return client.build_request(
                request.method, request.path, params=request.params, json=request.body
            )
        key = (request.method, request.path)
        prepared = self._prepared.get(key)
        if prepared is None:
            if len(self._prepared) >= 16:
                self._prepared.clear()
            prepared = self._prepared[key] = client.build_request(request.method, request.path)
        return prepared

    async def asend(self, request: ApiRequest) -> httpx.Response:
        """The async twin of :meth:`send`."""
        client = await self.aget_client()
        settings = await self.aget_settings()
        budget = _budget(settings)
        prepared = self._prepare(client, request)
        try:
            return await self._asend_once(client, prepared, request, settings, budget)
        except Exception as exc:
            delay = api.first_retry_delay(request, exc, **self._retry_args(settings))
        await asyncio.sleep(delay)
        async for attempt in AsyncRetrying(**self._retry_options(request, settings, attempts_made=1)):
            with attempt:
                return await self._asend_once(client, prepared, request, settings, budget)
        raise AssertionError("unreachable: tenacity returns or raises")

    async def _asend_once(
        self,
        client: httpx.AsyncClient,
        prepared: httpx.Request,
        request: ApiRequest,
        settings: ConnectionSettings,
        budget: api.RequestBudget,
    ) -> httpx.Response:
        await _await_slot(budget)
        with api.typed_transport_errors(request):
            response = await _fetch(client, prepared)
        api.check_response(request, response, settings.conn_id, budget)
        return response

    # -- operations ----------------------------------------------------------------------------

    def get_operation(self, operation_id: str) -> Operation:
        """Fetch one operation (``GET /v1/PushNotifications/Operations/{operation_id}``)."""
        request = api.get_operation_request(operation_id)
        return api.parse_operation(request, self.send(request))

    async def aget_operation(self, operation_id: str) -> Operation:
        request = api.get_operation_request(operation_id)
        return api.parse_operation(request, await self.asend(request))

    def list_operations(
        self,
        *,
        status: OperationStatus | str | None = None,
        start_date: Any = None,
        end_date: Any = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> OperationPage:
        """Fetch one page of operations, newest first.

        :param status: Only operations with this status (an ``OperationStatus`` or its name).
        :param start_date: Only operations created after this (aware datetime or ISO 8601 string).
        :param end_date: Only operations created before this.
        :param page_size: 1 to 1000.
        :param page_token: ``next_page_token`` of the previous page.
        """
        request = api.list_operations_request(
            status=status,
            start_date=start_date,
            end_date=end_date,
            page_size=page_size,
            page_token=page_token,
        )
        return api.parse_operation_page(request, self.send(request))

    async def alist_operations(
        self,
        *,
        status: OperationStatus | str | None = None,
        start_date: Any = None,
        end_date: Any = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> OperationPage:
        request = api.list_operations_request(
            status=status,
            start_date=start_date,
            end_date=end_date,
            page_size=page_size,
            page_token=page_token,
        )
        return api.parse_operation_page(request, await self.asend(request))

    def iter_operations(
        self,
        *,
        status: OperationStatus | str | None = None,
        start_date: Any = None,
        end_date: Any = None,
        page_size: int = 1000,
        max_items: int | None = None,
    ) -> Iterator[Operation]:
        """Every operation matching the filters, newest first, fetched page by page as you iterate.

        Arguments are checked now; requests are made only as the iterator is consumed, and only
        one page is held in memory. ``max_items`` stops after that many operations. Each operation
        is validated when it is reached: a malformed one raises
        :class:`TwilioPushMalformedResponseError` after those before it were yielded, and one past
        ``max_items`` is never read.
        """
        pager = api.Pager(
            status=status, start_date=start_date, end_date=end_date, page_size=page_size, max_items=max_items
        )
        return self._iter_pages(pager)

    def _iter_pages(self, pager: api.Pager) -> Iterator[Operation]:
        while (request := pager.next_request()) is not None:
            page = api.parse_lazy_operation_page(request, self.send(request))
            yield from page.validated(pager.take(page))

    def aiter_operations(
        self,
        *,
        status: OperationStatus | str | None = None,
        start_date: Any = None,
        end_date: Any = None,
        page_size: int = 1000,
        max_items: int | None = None,
    ) -> AsyncIterator[Operation]:
        """The async twin of :meth:`iter_operations`: ``async for operation in hook.aiter_operations()``."""
        pager = api.Pager(
            status=status, start_date=start_date, end_date=end_date, page_size=page_size, max_items=max_items
        )
        return self._aiter_pages(pager)

    async def _aiter_pages(self, pager: api.Pager) -> AsyncIterator[Operation]:
        while (request := pager.next_request()) is not None:
            page = api.parse_lazy_operation_page(request, await self.asend(request))
            for operation in page.validated(pager.take(page)):
                yield operation

    def get_operation_errors(self, operation_id: str, *, max_items: int = 1000) -> list[OperationError]:
        """Up to ``max_items`` failures of an operation, from its Errors endpoint.

        Twilio does not document this endpoint's shape: items are parsed leniently (see
        :class:`OperationError`).
        """
        pager = api.ErrorsPager(operation_id, max_items)
        while (request := pager.next_request()) is not None:
            pager.add(request, self.send(request))
        return pager.errors

    async def aget_operation_errors(
        self, operation_id: str, *, max_items: int = 1000
    ) -> list[OperationError]:
        pager = api.ErrorsPager(operation_id, max_items)
        while (request := pager.next_request()) is not None:
            pager.add(request, await self.asend(request))
        return pager.errors

    # -- sends ---------------------------------------------------------------------------------

    def send_push_notifications(
        self,
        to: Sequence[Mapping[str, Any]],
        content: Mapping[str, Any],
        *,
        from_: str | Mapping[str, Any] | None = None,
        priority: str | None = None,
        schedule: Any = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Send push notifications (``POST /v1/PushNotifications``); return the operation id.

        :param to: 1 to 10,000 recipients, e.g. ``[{"token": "...", "provider": "FCM"}]``.
        :param content: At least a ``title`` or a ``body``.
        :param from_: The sender, passed on as ``from``.
        :param priority: ``HIGH`` (Twilio's default) or ``LOW``.
        :param schedule: When to send: an aware datetime or ISO string (sent as
            ``{"sendAt": ...}``), or a dict passed on as it is.
        :param tags: Up to 10 string key/values.

        A send is retried only when Twilio surely did not process it (429, failure to connect).
        After a 5xx or a lost answer it raises :class:`TwilioPushSendUncertainError` instead:
        the notifications may have gone out, and a retry could send them twice.
        """
        request = api.send_request(to, content, from_=from_, priority=priority, schedule=schedule, tags=tags)
        try:
            response = self.send(request)
        except TwilioPushAPIError as exc:
            raise api.uncertain_send(exc) from exc
        return api.parse_send_response(request, response)

    async def asend_push_notifications(
        self,
        to: Sequence[Mapping[str, Any]],
        content: Mapping[str, Any],
        *,
        from_: str | Mapping[str, Any] | None = None,
        priority: str | None = None,
        schedule: Any = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        request = api.send_request(to, content, from_=from_, priority=priority, schedule=schedule, tags=tags)
        try:
            response = await self.asend(request)
        except TwilioPushAPIError as exc:
            raise api.uncertain_send(exc) from exc
        return api.parse_send_response(request, response)

    # -- the UI's Test button ------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap authenticated call (a one-item page of operations), without retries:
        the UI's Test button must answer at once."""
        try:
            self._settings = dataclasses.replace(self.get_settings(), max_retries=0)
            self.list_operations(page_size=1)
        except Exception as exc:  # the UI shows the reason; it must never see a traceback
            return False, str(exc) or type(exc).__name__
        finally:
            self.close()
        return True, f"Connected to the Twilio Push API at {self.get_settings().base_url}."
