"""An Airflow connection checked and turned into :class:`ConnectionSettings`; the HTTP clients' options."""

from __future__ import annotations

import base64
import ipaddress
import math
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx

from airflow_provider_twilio_push import __version__
from airflow_provider_twilio_push.exceptions import TwilioPushInvalidInputError

DEFAULT_BASE_URL = "https://comms.twilio.com"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 4


@dataclass(frozen=True)
class ConnectionSettings:
    """What the hook needs from an Airflow connection; the secret is kept out of ``repr``."""

    conn_id: str
    base_url: str
    username: str
    password: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    max_requests_per_second: float | None = None
    #: How messages name the connection: "the connection 'my_id'", or "this connection" for the UI's
    #: Test button, which tests an unsaved copy of the form under a random id.
    name: str = "the connection"

    @property
    def account(self) -> tuple[str, str]:
        """What Twilio's rate limits apply to: the same for every connection id naming the account."""
        return self.base_url, self.username


def connection_settings(
    conn_id: str,
    *,
    host: str | None,
    schema: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, Any],
    name: str | None = None,
) -> ConnectionSettings:
    """Check an Airflow connection's fields and turn them into :class:`ConnectionSettings`.

    Messages name the fields by their labels in the connection form, then by their names, and the
    connection as ``name`` (default: "the connection '<conn_id>'").
    """
    name = name or f"the connection {conn_id!r}"
    where = name[:1].upper() + name[1:]
    if not login:
        raise TwilioPushInvalidInputError(
            f"{where} has no Account SID or API Key SID (login): set it to your Account SID (AC...) "
            "or API Key SID (SK...)."
        )
    if not password:
        raise TwilioPushInvalidInputError(f"{where} has no Auth Token or API Key secret (password).")
    if not isinstance(extra, Mapping):  # e.g. extra '[...]' in an AIRFLOW_CONN_ variable
        raise TwilioPushInvalidInputError(
            f"{where} has an extra that is not a JSON object (got {type(extra).__name__}): "
            'expected something like {"timeout": 10, "max_retries": 4}.'
        )
    return ConnectionSettings(
        conn_id=conn_id,
        base_url=_base_url(where, host, schema, port),
        username=login,
        password=password,
        timeout=_extra_number(
            where, extra, "timeout", DEFAULT_TIMEOUT, float, minimum=0.001, expected="a number of seconds > 0"
        ),
        max_retries=_extra_number(
            where, extra, "max_retries", DEFAULT_MAX_RETRIES, int, minimum=0, expected="an integer >= 0"
        ),
        max_requests_per_second=_extra_number(
            where, extra, "max_requests_per_second", None, float, minimum=0.001, expected="a number > 0"
        ),
        name=name,
    )


def _base_url(where: str, host: str | None, schema: str | None, port: int | None) -> str:
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        scheme = schema.lower() if schema and schema.lower() in ("http", "https") else "https"
        host = f"{scheme}://{host}"
    try:
        parts = urlsplit(host)
        host_port = parts.port  # raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        parts, host_port = None, None
    # Before any message that quotes the host: it must not quote credentials.
    if parts is not None and (parts.username or parts.password):
        raise TwilioPushInvalidInputError(
            f"{where} has credentials inside its Base URL (host): put them in Account SID or API Key "
            "SID (login) and Auth Token or API Key secret (password) instead."
        )
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise TwilioPushInvalidInputError(
            f"{where} has Base URL (host) {host!r}, which is not a base URL: "
            f"expected something like {DEFAULT_BASE_URL!r}."
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise TwilioPushInvalidInputError(
            f"{where} uses http:// for the non-loopback host {parts.hostname!r}: "
            "credentials would travel in clear text. Use https:// "
            "(plain http is accepted only for 127.0.0.1, ::1 and localhost, e.g. the emulator)."
        )
    netloc = parts.netloc
    if port and host_port is None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _extra_number(
    where: str,
    extra: Mapping[str, Any],
    key: str,
    default: Any,
    kind: Callable[[Any], Any],
    *,
    minimum: float,
    expected: str,
) -> Any:
    raw = extra.get(key, extra.get(f"extra__twilio_push__{key}"))
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        value = None
    if (
        value is None
        or isinstance(raw, bool)
        or not math.isfinite(value)  # "nan" would compare False with the minimum; "inf" never times out
        or value < minimum
        or (isinstance(raw, float) and value != raw)  # int(2.5) would silently drop the .5
    ):
        raise TwilioPushInvalidInputError(f"{where} has extra {key}={raw!r}: expected {expected}.")
    return value


def shared_ssl_context() -> ssl.SSLContext:
    """One SSL context for every client of the process (loading the CA bundle is costly), made as
    httpx makes its default one: from ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` when set (users behind
    a TLS-inspecting proxy set them), else certifi's bundle."""
    return _ssl_context(os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)


@cache
def _ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    if cert_file:
        return ssl.create_default_context(cafile=cert_file)
    if cert_dir:
        return ssl.create_default_context(capath=cert_dir)
    return ssl.create_default_context(cafile=certifi.where())


def client_options(settings: ConnectionSettings, ssl_context: ssl.SSLContext | None = None) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client`` and ``httpx.AsyncClient`` alike (``ssl_context``:
    :func:`shared_ssl_context`, if the caller loaded it already).

    Basic auth is a default header rather than an auth flow: httpx shows it as ``[secure]`` in
    reprs.
    """
    credentials = base64.b64encode(f"{settings.username}:{settings.password}".encode()).decode()
    return {
        "base_url": settings.base_url,
        "timeout": httpx.Timeout(settings.timeout),
        "verify": ssl_context or shared_ssl_context(),
        "headers": {
            "Accept": "application/json",
            "User-Agent": f"airflow-provider-twilio-push/{__version__}",
            "Authorization": f"Basic {credentials}",
        },
        "follow_redirects": False,
    }
