"""Which page to ask for next: the operations and notifications lists (:class:`Pager`) and an
operation's errors (:class:`ErrorsPager`). The hook sends the requests; these decide them and what to keep."""

from __future__ import annotations

from typing import Generic, TypeVar

import httpx

from airflow_provider_twilio_push.core.request import (
    ApiRequest,
    operation_errors_request,
    validate_max_items,
    validate_operation_id,
)
from airflow_provider_twilio_push.core.response import parse_operation_errors
from airflow_provider_twilio_push.exceptions import TwilioPushMalformedResponseError
from airflow_provider_twilio_push.models import OperationError

T = TypeVar("T")


class Pager(Generic[T]):
    """Walks the pages of a list (operations, notifications) from its ``first`` request: which
    request comes next, and what to yield of a page."""

    def __init__(self, first: ApiRequest, max_items: object = None) -> None:
        self._remaining = (
            None if max_items is None else validate_max_items(max_items, "None (no limit) or an integer >= 0")
        )
        self._first = first
        self._request: ApiRequest | None = None if self._remaining == 0 else first
        self._seen_tokens: set[str] = set()

    def next_request(self) -> ApiRequest | None:
        return self._request

    def take(self, items: list[T], next_page_token: str | None) -> list[T]:
        """The ``items`` of a page to yield; prepares the request of the next page."""
        if self._remaining is not None:
            items = items[: self._remaining]
            self._remaining -= len(items)
        token = next_page_token
        current = self._request.params.get("pageToken") if self._request and self._request.params else None
        path = self._first.path
        if not token or self._remaining == 0:
            self._request = None
        elif token == current or token in self._seen_tokens:
            which = "the page just read" if token == current else "an earlier page"
            raise TwilioPushMalformedResponseError(
                f"Twilio Push API answered GET {path} with pagination.next equal to the "
                f"token of {which}: paging would never end.",
                path=path,
            )
        else:
            self._seen_tokens.add(token)
            self._request = ApiRequest("GET", path, params={**(self._first.params or {}), "pageToken": token})
        return items


class ErrorsPager:
    """Walks the pages of an operation's Errors endpoint until ``max_items`` errors are collected."""

    def __init__(self, operation_id: object, max_items: object) -> None:
        self._operation_id = validate_operation_id(operation_id)
        self._max_items = validate_max_items(max_items)
        self._request: ApiRequest | None = (
            operation_errors_request(self._operation_id) if self._max_items else None
        )
        self._errors: list[OperationError] = []

    def next_request(self) -> ApiRequest | None:
        return self._request

    def add(self, request: ApiRequest, response: httpx.Response) -> None:
        page, token = parse_operation_errors(request, response)
        self._errors.extend(page)
        more = token and page and len(self._errors) < self._max_items
        self._request = operation_errors_request(self._operation_id, page_token=token) if more else None

    @property
    def errors(self) -> list[OperationError]:
        return self._errors[: self._max_items]
