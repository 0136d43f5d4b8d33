"""Errors raised by the Twilio Push provider.

Every error derives from :class:`TwilioPushError`. Messages name what went wrong and where (HTTP
status, Twilio's error code and message, the request path) and never carry a credential.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Self

from airflow.providers.common.compat.sdk import AirflowException


@dataclass(frozen=True)
class TwilioErrorDetail:
    """One entry of Twilio's error body (``{"errors": [{"code", "message", "infoUrl", "context"}]}``).

    ``context`` is the JSON path of the errant field of the request (``$.to[0].token``), if any;
    ``code`` is an int by the contract, kept as text when a body has another kind.
    """

    code: int | str | None = None
    message: str | None = None
    info_url: str | None = None
    context: str | None = None

    def describe(self) -> str:
        """``message (Twilio error code, field $.path)``, with what is known of it."""
        notes = [f"Twilio error {self.code}"] if self.code is not None else []
        if self.context:
            notes.append(f"field {self.context}")
        text = self.message or "no message"
        return f"{text} ({', '.join(notes)})" if notes else text


class TwilioPushError(AirflowException):
    """Base class of every error of this provider."""

    #: Whether waiting and asking again may succeed (rate limits, server errors, network faults).
    transient: bool = False


class TwilioPushInvalidInputError(TwilioPushError, ValueError):
    """Bad input caught before any request was made (an argument, a connection field)."""


class TwilioPushAPIError(TwilioPushError):
    """The API answered with an error status.

    ``http_status`` is the HTTP status; ``errors`` holds every entry of Twilio's error body
    (:class:`TwilioErrorDetail`), and ``code``, ``twilio_message`` and ``more_info`` are those of
    the first; ``path`` is the request path (no query, no host).
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        path: str = "",
        code: int | None = None,
        twilio_message: str | None = None,
        more_info: str | None = None,
        errors: tuple[TwilioErrorDetail, ...] = (),
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.path = path
        self.code = code
        self.twilio_message = twilio_message
        self.more_info = more_info
        self.errors = errors
        #: Seconds the server asked us to wait (``Retry-After``), if it said.
        self.retry_after: float | None = None

    def after_attempts(self, attempts: int) -> Self:
        """The same error, its message saying how many attempts were made."""
        plural = "attempt" if attempts == 1 else "attempts"
        error = copy.copy(self)
        error.args = (f"{self} (gave up after {attempts} {plural})",)
        return error


class TwilioPushBadRequestError(TwilioPushAPIError):
    """400 or another 4xx that asking again will not fix."""


class TwilioPushAuthError(TwilioPushAPIError):
    """401 or 403: the credentials are wrong or lack access."""


class TwilioPushNotFoundError(TwilioPushAPIError):
    """404: no such resource (or older than Twilio's 7-day retention)."""


class TwilioPushRateLimitedError(TwilioPushAPIError):
    """429 after every retry was used."""

    transient = True


class TwilioPushServerError(TwilioPushAPIError):
    """5xx after every retry was used."""

    transient = True


class TwilioPushConnectionError(TwilioPushAPIError):
    """No HTTP answer: the host could not be reached, the connection dropped, or it timed out.

    ``never_sent`` is True when the request surely never reached the server (failure to connect).
    """

    transient = True
    never_sent = False


class TwilioPushMalformedResponseError(TwilioPushAPIError):
    """A success status whose body is not JSON, or not of the documented shape."""

    transient = True


class TwilioPushSendUncertainError(TwilioPushAPIError):
    """A send failed in a way that does not tell whether Twilio accepted it (5xx, read timeout).

    It is never retried: the notifications might go out twice.
    """
