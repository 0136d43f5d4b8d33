"""TwilioPushHook: the Comms API's push-notification endpoints (operations, notifications, sends),
sync and async."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import types
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import httpx
from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook
from tenacity import AsyncRetrying, Retrying

from airflow_provider_twilio_push.core.pacing import RequestPacer, pacer_for
from airflow_provider_twilio_push.core.paging import Pager
from airflow_provider_twilio_push.core.request import (
    ApiRequest,
    get_operation_request,
    list_operations_request,
    send_request,
)
from airflow_provider_twilio_push.core.response import (
    LazyOperationPage,
    error_for_status,
    parse_lazy_operation_page,
    parse_operation,
    parse_operation_page,
    parse_send_response,
    typed_transport_errors,
)
from airflow_provider_twilio_push.core.retries import retry_options, uncertain_send_failures
from airflow_provider_twilio_push.core.settings import (
    ConnectionSettings,
    client_options,
    connection_settings,
    shared_ssl_context,
)
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError, TwilioPushRateLimitedError
from airflow_provider_twilio_push.hooks.notifications import NotificationReads
from airflow_provider_twilio_push.models import Operation, OperationPage, OperationStatus

log = logging.getLogger(__name__)


#: Held while a sync client is built or closed (rarely: once per hook), never during a lookup.
_sync_clients_lock = threading.Lock()


def _nothing() -> None:
    pass


async def _validated_operations(pages: AsyncIterator[LazyOperationPage]) -> AsyncIterator[Operation]:
    async for page in pages:
        for operation in page.validated(page.operations):
            yield operation


async def _await_slot(pacer: RequestPacer) -> None:
    """Wait for this request's slot in the account's pacing.

    A request that wakes up well after its slot books a new one, once: otherwise, after the
    event loop was blocked, every request that fell due meanwhile would go out at the same time.
    """
    for _ in range(2):
        if (wait := pacer.book_slot()) <= 0:
            return
        due = time.monotonic() + wait
        await asyncio.sleep(wait)
        if time.monotonic() - due <= pacer.late_after:
            return


class TwilioPushHook(NotificationReads, BaseHook):
    """Talks to the Twilio Comms API for push notifications.

    :param twilio_push_conn_id: The Airflow connection: login is the Account SID or API Key SID,
        password the Auth Token or API Key secret, host an optional base URL (default
        ``https://comms.twilio.com``), extras ``timeout`` (seconds) and ``max_retries``.
    :param retry_backoff: First wait, in seconds, between retries (then doubled, with jitter).
    :param retry_backoff_max: Longest wait between retries, in seconds.

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.twilio_push_conn_id = twilio_push_conn_id
        self.retry_backoff = retry_backoff
        self.retry_backoff_max = retry_backoff_max
        self._settings: ConnectionSettings | None = None
        self._connection_name: str | None = None  # for messages; None: "the connection '<id>'"
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None
        # Concurrent first uses build one client; while it is open, the connection's
        # max_requests_per_second paces its account (released when it closes).
        self._async_client_lock: asyncio.Lock | None = None
        self._release_pacing = _nothing
        self._release_async_pacing = _nothing

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form; the same as ``connection-types`` in ``get_provider_info()``."""
        from airflow_provider_twilio_push.get_provider_info import UI_FIELD_BEHAVIOUR

        return UI_FIELD_BEHAVIOUR

    # -- connection and clients ----------------------------------------------------------------

    def _settings_from(self, conn: Any, extra: dict[str, Any]) -> ConnectionSettings:
        return connection_settings(
            self.twilio_push_conn_id,
            host=conn.host,
            schema=conn.schema,
            port=conn.port,
            login=conn.login,
            password=conn.password,
            extra=extra,
            name=self._connection_name,
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
        # Looked up before the lock, which aclose() takes on the event loop: a slow connection
        # lookup must not hold it.
        settings = self.get_settings()
        with _sync_clients_lock:
            if self._client is None:
                self._client = httpx.Client(**client_options(settings))
                self._release_pacing = pacer_for(settings).use(settings.max_requests_per_second)
            return self._client

    async def aget_client(self) -> httpx.AsyncClient:
        if self._async_client_lock is None:
            self._async_client_lock = asyncio.Lock()  # made here: a new hook can be deep-copied
        async with self._async_client_lock:
            if self._async_client is None:
                settings = await self.aget_settings()
                # Loading the CA bundle costs ~16 ms of CPU (once per process): off the event loop.
                ssl_context = await asyncio.to_thread(shared_ssl_context)
                self._async_client = httpx.AsyncClient(**client_options(settings, ssl_context))
                self._release_async_pacing = pacer_for(settings).use(settings.max_requests_per_second)
            return self._async_client

    def close(self) -> None:
        with _sync_clients_lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            self._release_pacing()

    async def aclose(self) -> None:
        client, self._async_client = self._async_client, None
        if client is not None:
            await client.aclose()
        self._release_async_pacing()
        if self._client is not None:  # the sync lock is taken only when there is a sync client
            self.close()

    def __enter__(self) -> TwilioPushHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> TwilioPushHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the I/O shells: one API request each, with retries -----------------------------------

    def _retry_options(
        self, request: ApiRequest, settings: ConnectionSettings, max_retries: int | None
    ) -> dict[str, Any]:
        return retry_options(
            request.retry_policy,
            max_retries=settings.max_retries if max_retries is None else max_retries,
            backoff=self.retry_backoff,
            backoff_max=self.retry_backoff_max,
            on_retry=log.warning,
        )

    @staticmethod
    def _checked(
        request: ApiRequest, response: httpx.Response, settings: ConnectionSettings
    ) -> httpx.Response:
        """``response`` if it is a 2xx, else its typed error; a 429 pauses every request to the account."""
        error = error_for_status(request, response, settings.name)
        if error is None:
            return response
        if isinstance(error, TwilioPushRateLimitedError) and error.retry_after:
            pacer_for(settings).pause(error.retry_after)
        raise error

    def _request(self, request: ApiRequest, *, max_retries: int | None = None) -> httpx.Response:
        """Make ``request``, retried as its policy allows; return the 2xx response or raise a typed error.

        :param max_retries: Instead of the connection's.
        """
        client = self.get_client()
        settings = self.get_settings()
        for attempt in Retrying(**self._retry_options(request, settings, max_retries)):
            with attempt:
                if (wait := pacer_for(settings).book_slot()) > 0:
                    time.sleep(wait)
                with typed_transport_errors(request, settings.base_url):
                    response = client.request(
                        request.method, request.path, params=request.params, json=request.body
                    )
                return self._checked(request, response, settings)
        raise AssertionError("unreachable: tenacity returns or raises")

    async def _arequest(self, request: ApiRequest) -> httpx.Response:
        """The async twin of :meth:`_request`."""
        client = await self.aget_client()
        settings = await self.aget_settings()
        async for attempt in AsyncRetrying(**self._retry_options(request, settings, None)):
            with attempt:
                await _await_slot(pacer_for(settings))
                with typed_transport_errors(request, settings.base_url):
                    response = await client.request(
                        request.method, request.path, params=request.params, json=request.body
                    )
                return self._checked(request, response, settings)
        raise AssertionError("unreachable: tenacity returns or raises")

    # -- operations ----------------------------------------------------------------------------

    def get_operation(self, operation_id: str) -> Operation:
        """Fetch one operation (``GET /v1/PushNotifications/Operations/{operation_id}``)."""
        request = get_operation_request(operation_id)
        return parse_operation(request, self._request(request))

    async def aget_operation(self, operation_id: str) -> Operation:
        request = get_operation_request(operation_id)
        return parse_operation(request, await self._arequest(request))

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
        request = list_operations_request(
            status=status,
            start_date=start_date,
            end_date=end_date,
            page_size=page_size,
            page_token=page_token,
        )
        return parse_operation_page(request, self._request(request))

    async def alist_operations(
        self,
        *,
        status: OperationStatus | str | None = None,
        start_date: Any = None,
        end_date: Any = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> OperationPage:
        request = list_operations_request(
            status=status,
            start_date=start_date,
            end_date=end_date,
            page_size=page_size,
            page_token=page_token,
        )
        return parse_operation_page(request, await self._arequest(request))

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
        pages = self.iter_operation_pages(
            status=status, start_date=start_date, end_date=end_date, page_size=page_size, max_items=max_items
        )
        return (operation for page in pages for operation in page.validated(page.operations))

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
        pages = self.aiter_operation_pages(
            status=status, start_date=start_date, end_date=end_date, page_size=page_size, max_items=max_items
        )
        return _validated_operations(pages)

    def iter_operation_pages(
        self,
        *,
        status: OperationStatus | str | None = None,
        start_date: Any = None,
        end_date: Any = None,
        page_size: int = 1000,
        max_items: int | None = None,
    ) -> Iterator[LazyOperationPage]:
        """The pages of :meth:`iter_operations`, their operations not validated yet: each page's
        ``operations`` are its items as the API sent them (``max_items`` in all at most);
        ``page.validated(page.operations)`` validates them one by one (a malformed one raises),
        ``page.lenient(ids)`` reads only the valid ones of those ids (a malformed one is skipped)."""
        first = list_operations_request(
            status=status, start_date=start_date, end_date=end_date, page_size=page_size
        )
        return self._operation_pages(Pager(first, max_items))

    def _operation_pages(self, pager: Pager[Any]) -> Iterator[LazyOperationPage]:
        while (request := pager.next_request()) is not None:
            page = parse_lazy_operation_page(request, self._request(request))
            yield replace(page, operations=pager.take(page.operations, page.next_page_token))

    def aiter_operation_pages(
        self,
        *,
        status: OperationStatus | str | None = None,
        start_date: Any = None,
        end_date: Any = None,
        page_size: int = 1000,
        max_items: int | None = None,
    ) -> AsyncGenerator[LazyOperationPage, None]:
        """The async twin of :meth:`iter_operation_pages` (an async generator: ``aclose()`` it if
        you stop early)."""
        first = list_operations_request(
            status=status, start_date=start_date, end_date=end_date, page_size=page_size
        )
        return self._aoperation_pages(Pager(first, max_items))

    async def _aoperation_pages(self, pager: Pager[Any]) -> AsyncGenerator[LazyOperationPage, None]:
        while (request := pager.next_request()) is not None:
            page = parse_lazy_operation_page(request, await self._arequest(request))
            yield replace(page, operations=pager.take(page.operations, page.next_page_token))

    # -- sends ---------------------------------------------------------------------------------

    def send_push_notifications(
        self,
        to: Sequence[Mapping[str, Any]],
        content: Mapping[str, Any],
        *,
        from_: str | Mapping[str, Any] | None = None,
        priority: str | None = None,
        sound: str | None = None,
        schedule: Any = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Send push notifications (``POST /v1/PushNotifications``); return the operation id.

        :param to: The recipients, at most 10,000 (Twilio's limit a send): devices ``{"token": "...", "provider":
            "FCM"}`` (or ``"APN"``) and/or users ``{"userId": "comms_pushnotificationuser_..."}``,
            each with optional ``variables`` (a dict of strings for the content's Liquid variables).
        :param content: ``{"body": ...}`` (required), with an optional ``title`` (Twilio's default:
            the App's name) and ``providerPassthrough`` (``{"fcm": {"message": {...}}, "apn": {...}}``).
        :param from_: The sender: an App name (``"my_app"``, sent as ``{"appName": "my_app"}``) or
            credential ids ``{"fcm": "comms_credential_...", "apn": "comms_credential_..."}``;
            Twilio's default is the account's default App.
        :param priority: ``HIGH`` (Twilio's default) or ``LOW``.
        :param sound: The name of the sound to play.
        :param schedule: When to send, at most 30 days ahead: an aware datetime, an ISO string, or
            ``{"sendAt": [...]}`` (sent as ``{"sendAt": ["<RFC 3339, UTC>"]}``).
        :param tags: Up to 10; keys of up to 128 and values of up to 256 of ``a-z A-Z 0-9 . _ ~ -``.

        A send is retried only when Twilio surely did not process it (429, failure to connect).
        After a 5xx or a lost answer it raises :class:`TwilioPushSendUncertainError` instead:
        the notifications may have gone out, and a retry could send them twice.
        """
        request = send_request(
            to, content, from_=from_, priority=priority, sound=sound, schedule=schedule, tags=tags
        )
        with uncertain_send_failures():
            return parse_send_response(request, self._request(request))

    async def asend_push_notifications(
        self,
        to: Sequence[Mapping[str, Any]],
        content: Mapping[str, Any],
        *,
        from_: str | Mapping[str, Any] | None = None,
        priority: str | None = None,
        sound: str | None = None,
        schedule: Any = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        request = send_request(
            to, content, from_=from_, priority=priority, sound=sound, schedule=schedule, tags=tags
        )
        with uncertain_send_failures():
            return parse_send_response(request, await self._arequest(request))

    # -- the UI's Test button ------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Make one cheap authenticated call (a one-item page of operations), without retries:
        the UI's Test button must answer at once.

        The UI tests an unsaved copy of its form under a random connection id: the messages speak of
        "this connection", and name its fields by their labels in the form.
        """
        self.close()
        self._settings, self._connection_name = None, "this connection"
        request = list_operations_request(page_size=1)
        try:
            parse_operation_page(request, self._request(request, max_retries=0))
            return True, f"Connected to the Twilio Push API at {self.get_settings().base_url}."
        except Exception as exc:  # the UI shows the reason; it must never see a traceback
            return False, str(exc) or type(exc).__name__
        finally:
            self.close()
            self._settings, self._connection_name = None, None
