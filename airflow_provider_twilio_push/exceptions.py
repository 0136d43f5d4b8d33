"""Errors raised by the Twilio Push provider.

Every error derives from :class:`TwilioPushError`. Messages name what went wrong and where (HTTP
status, Twilio's error code and message, the request path) and never carry a credential.
"""

from __future__ import annotations

from airflow.providers.common.compat.sdk import AirflowException


class TwilioPushError(AirflowException):
    """Base class of every error of this provider."""

    #: Whether waiting and asking again may succeed (rate limits, server errors, network faults).
    transient: bool = False


class TwilioPushInvalidInputError(TwilioPushError, ValueError):
    """Bad input caught before any request was made (an argument, a connection field)."""


class TwilioPushAPIError(TwilioPushError):
    """The API answered with an error status.

    ``status_code`` is the HTTP status; ``code``, ``twilio_message`` and ``more_info`` come from
    Twilio's error body when it has one; ``path`` is the request path (no query, no host).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        path: str = "",
        code: int | None = None,
        twilio_message: str | None = None,
        more_info: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.path = path
        self.code = code
        self.twilio_message = twilio_message
        self.more_info = more_info


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
    """No HTTP answer: the host could not be reached, the connection dropped, or it timed out."""

    transient = True


class TwilioPushMalformedResponseError(TwilioPushAPIError):
    """A success status whose body is not JSON, or not of the documented shape."""

    transient = True


class TwilioPushSendUncertainError(TwilioPushAPIError):
    """A send failed in a way that does not tell whether Twilio accepted it (5xx, read timeout).

    It is never retried: the notifications might go out twice.
    """
