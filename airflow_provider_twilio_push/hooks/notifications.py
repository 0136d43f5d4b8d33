"""The hook's reads of push notifications and of an operation's errors: a part of
:class:`~airflow_provider_twilio_push.hooks.twilio_push.TwilioPushHook`, which makes the requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, TypedDict, Unpack

import httpx

from airflow_provider_twilio_push.core.paging import ErrorsPager, Pager
from airflow_provider_twilio_push.core.request import ApiRequest, list_push_notifications_request
from airflow_provider_twilio_push.core.response import parse_push_notification_page
from airflow_provider_twilio_push.models import (
    OperationError,
    PushNotification,
    PushNotificationPage,
    PushNotificationStatus,
)


class PushNotificationFilters(TypedDict, total=False):
    """The filters of the push-notification lists (``list_push_notifications`` and its twins),
    all optional, keyword arguments of those methods:

    - ``operation_id``: only the notifications of this operation (a send);
    - ``status``: only those with this status (``SCHEDULED``, ``QUEUED``, ``SENT``, ``FAILED`` or
      ``CANCELED``; any case);
    - ``tags``: only those whose send had all of these tags: a dict, or Twilio's
      ``"key:value;key2:value2;"`` text;
    - ``start_date``: only those created after this (aware datetime or ISO 8601 string);
    - ``end_date``: only those created before this;
    - ``user``: only those sent to this user (``comms_pushnotificationuser_...``);
    - ``provider``: only those sent through ``FCM`` or ``APN``.
    """

    operation_id: str | None
    status: PushNotificationStatus | str | None
    tags: Mapping[str, str] | str | None
    start_date: Any
    end_date: Any
    user: str | None
    provider: str | None


def _notifications_request(
    method: str, filters: Mapping[str, Any], page_size: object, page_token: object
) -> ApiRequest:
    if unknown := sorted(filters.keys() - PushNotificationFilters.__annotations__.keys()):
        raise TypeError(
            f"TwilioPushHook.{method}() got an unexpected keyword argument {unknown[0]!r}; its filters "
            f"are {', '.join(PushNotificationFilters.__annotations__)}."
        )
    return list_push_notifications_request(**filters, page_size=page_size, page_token=page_token)


class NotificationReads:
    """``TwilioPushHook``'s methods for notifications and errors; the hook provides the two
    request shells."""

    def _request(self, request: ApiRequest, *, max_retries: int | None = None) -> httpx.Response:
        raise NotImplementedError

    async def _arequest(self, request: ApiRequest) -> httpx.Response:
        raise NotImplementedError

    # -- an operation's errors -----------------------------------------------------------------

    def get_operation_errors(self, operation_id: str, *, max_items: int = 1000) -> list[OperationError]:
        """Up to ``max_items`` failures of an operation, from its Errors endpoint.

        Twilio does not document this endpoint's shape: items are parsed leniently (see
        :class:`OperationError`).
        """
        pager = ErrorsPager(operation_id, max_items)
        while (request := pager.next_request()) is not None:
            pager.add(request, self._request(request))
        return pager.errors

    async def aget_operation_errors(
        self, operation_id: str, *, max_items: int = 1000
    ) -> list[OperationError]:
        pager = ErrorsPager(operation_id, max_items)
        while (request := pager.next_request()) is not None:
            pager.add(request, await self._arequest(request))
        return pager.errors

    # -- notifications -------------------------------------------------------------------------

    def list_push_notifications(
        self,
        *,
        page_size: int = 50,
        page_token: str | None = None,
        **filters: Unpack[PushNotificationFilters],
    ) -> PushNotificationPage:
        """Fetch one page of push notifications (``GET /v1/PushNotifications``), newest first.

        :param filters: See :class:`PushNotificationFilters`.
        :param page_size: 1 to 1000.
        :param page_token: ``next_page_token`` of the previous page.
        """
        request = _notifications_request("list_push_notifications", filters, page_size, page_token)
        return parse_push_notification_page(request, self._request(request))

    async def alist_push_notifications(
        self,
        *,
        page_size: int = 50,
        page_token: str | None = None,
        **filters: Unpack[PushNotificationFilters],
    ) -> PushNotificationPage:
        request = _notifications_request("alist_push_notifications", filters, page_size, page_token)
        return parse_push_notification_page(request, await self._arequest(request))

    def iter_push_notifications(
        self,
        *,
        page_size: int = 1000,
        max_items: int | None = None,
        **filters: Unpack[PushNotificationFilters],
    ) -> Iterator[PushNotification]:
        """Every push notification matching the filters (:class:`PushNotificationFilters`),
        fetched page by page as you iterate; ``max_items`` stops after that many. E.g. an
        operation's failed recipients: ``hook.iter_push_notifications(operation_id=op_id, status="FAILED")``."""
        first = _notifications_request("iter_push_notifications", filters, page_size, None)
        return self._iter_notifications(Pager(first, max_items))

    def _iter_notifications(self, pager: Pager[PushNotification]) -> Iterator[PushNotification]:
        while (request := pager.next_request()) is not None:
            page = parse_push_notification_page(request, self._request(request))
            yield from pager.take(page.push_notifications, page.next_page_token)

    def aiter_push_notifications(
        self,
        *,
        page_size: int = 1000,
        max_items: int | None = None,
        **filters: Unpack[PushNotificationFilters],
    ) -> AsyncIterator[PushNotification]:
        """The async twin of :meth:`iter_push_notifications`."""
        first = _notifications_request("aiter_push_notifications", filters, page_size, None)
        return self._aiter_notifications(Pager(first, max_items))

    async def _aiter_notifications(self, pager: Pager[PushNotification]) -> AsyncIterator[PushNotification]:
        while (request := pager.next_request()) is not None:
            page = parse_push_notification_page(request, await self._arequest(request))
            for notification in pager.take(page.push_notifications, page.next_page_token):
                yield notification
