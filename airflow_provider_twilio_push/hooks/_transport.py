"""The async HTTP transport of the hook: httpcore connections on asyncio, pooled last-in first-out.

A triggerer runs thousands of triggers on one event loop, and each poll of each trigger crosses
this code. ``httpx.AsyncHTTPTransport`` costs more CPU per request than the rest of a poll
together (benchmarks/README.md): its pool rescans every connection on each request and response
(quadratic when many are idle, and it collapses once requests queue up), and its I/O goes
through anyio. This transport keeps httpcore's HTTP/1.1 connections (and so its parser, TLS
handling and timeouts, and what respx mocks in tests) but:

- hands them out last-in first-out from a list, in O(1) (the most recently used connection is
  the likeliest to be alive; the others age out after ``keepalive_expiry``);
- reads and writes through a plain asyncio protocol instead of anyio;
- can ``fetch`` a request: send it and read the whole body, without httpx's client machinery
  (auth flow, cookie jar, redirect loop). The hook uses it for the API's small JSON answers.

Everything here is plain HTTP/1.1 plumbing; what to send and how to read answers stays in
``core/``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import ssl
import time
import typing
from datetime import timedelta

import httpcore
import httpx

_httpx_log = logging.getLogger("httpx")

# httpcore's exceptions as httpx's (the same table as httpx.AsyncHTTPTransport): most specific
# first.
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _as_httpx_error(exc: Exception) -> httpx.TransportError | None:
    for source, target in _EXCEPTIONS:
        if isinstance(exc, source):
            return target(str(exc))
    return None


# -- asyncio network backend for httpcore -----------------------------------------------------


class _Protocol(asyncio.Protocol):
    """Buffers what the socket receives; wakes the reader waiting for more."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None
        self.paused = False

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake_reader()
        self.resume_writing()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)

    def _wake_reader(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await protocol.waiter
            except TimeoutError:
                raise httpcore.ReadTimeout("timed out while reading") from None
            finally:
                protocol.waiter = None
        if protocol.buffer:
            data = bytes(protocol.buffer[:max_bytes])
            del protocol.buffer[:max_bytes]
            return data
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        if protocol.paused:
            protocol.drain_waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await protocol.drain_waiter
            except TimeoutError:
                raise httpcore.WriteTimeout("timed out while writing") from None
            finally:
                protocol.drain_waiter = None
            if protocol.error is not None:
                raise httpcore.WriteError(str(protocol.error) or type(protocol.error).__name__)

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout("timed out during the TLS handshake") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:  # the connection was closed during the handshake
            raise httpcore.ConnectError("the connection was closed during the TLS handshake")
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":  # an idle connection the server closed (or wrote to) is spent
            return bool(self._protocol.buffer) or self._protocol.eof
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info in ("ssl_object", "socket"):
            return self._transport.get_extra_info(info)
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on plain asyncio transports (httpcore's own goes through anyio)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        _apply_socket_options(transport, socket_options)
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_unix_connection(_Protocol, path)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {path}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        _apply_socket_options(transport, socket_options)
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _apply_socket_options(
    transport: asyncio.BaseTransport, options: typing.Iterable[httpcore.SOCKET_OPTION] | None
) -> None:
    sock: socket.socket | None = transport.get_extra_info("socket")
    for option in options or ():
        if sock is not None:
            sock.setsockopt(*option)


# -- the pool ---------------------------------------------------------------------------------


class LifoConnectionPool:
    """At most ``max_connections`` httpcore HTTP/1.1 connections, reused last-in first-out.

    Checking a connection out or in is O(1); requests beyond the limit wait in FIFO order
    (``pool`` timeout). At most ``max_keepalive_connections`` idle connections are kept.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None,
        max_connections: int | None,
        max_keepalive_connections: int | None,
        keepalive_expiry: float | None,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections if max_connections is not None else float("inf")
        self._max_idle = max_keepalive_connections if max_keepalive_connections is not None else float("inf")
        self._keepalive_expiry = keepalive_expiry
        self._backend = AsyncioBackend()
        self._idle: list[httpcore.AsyncHTTPConnection] = []
        self._open = 0  # connections idle or in use
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    async def _checkout(
        self, origin: httpcore.Origin, pool_timeout: float | None
    ) -> httpcore.AsyncHTTPConnection:
        loop = asyncio.get_running_loop()
        deadline = None if pool_timeout is None else loop.time() + pool_timeout
        while True:
            if self._closed:
                raise httpcore.UnsupportedProtocol("the connection pool is closed")
            idle = self._idle
            while idle:
                connection = idle.pop()
                if (
                    connection.can_handle_request(origin)
                    and connection.is_available()
                    and not connection.has_expired()
                ):
                    return connection
                await self._discard(connection)
            if self._open < self._max_connections:
                self._open += 1
                return httpcore.AsyncHTTPConnection(
                    origin=origin,
                    ssl_context=self._ssl_context,
                    keepalive_expiry=self._keepalive_expiry,
                    network_backend=self._backend,
                )
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError:
                raise httpcore.PoolTimeout("timed out waiting for a connection from the pool") from None
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled: pass the turn on
                raise
            finally:
                waiter.cancel()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _discard(self, connection: httpcore.AsyncHTTPConnection) -> None:
        self._open -= 1
        self._wake_one()
        await connection.aclose()

    async def _checkin(self, connection: httpcore.AsyncHTTPConnection) -> None:
        if self._closed or not connection.is_available():
            await self._discard(connection)
            return
        self._idle.append(connection)
        if len(self._idle) > self._max_idle:
            await self._discard(self._idle.pop(0))
        elif len(self._idle) > 1 and self._idle[0].has_expired():
            # The oldest idle connection ages out here: cheap and enough to bound the idle list.
            await self._discard(self._idle.pop(0))
        self._wake_one()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        timeouts = request.extensions.get("timeout", {})
        origin = request.url.origin
        while True:
            connection = await self._checkout(origin, timeouts.get("pool"))
            try:
                response = await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                await self._discard(connection)  # raced with a server-side close: try another
                continue
            except BaseException:
                await self._checkin(connection)
                raise
            return httpcore.Response(
                status=response.status,
                headers=response.headers,
                content=_ReleasingStream(response.stream, self, connection),
                extensions=response.extensions,
            )

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await self._discard(connection)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


class _ReleasingStream:
    """A response body that gives its connection back to the pool once closed."""

    def __init__(
        self,
        stream: typing.Any,
        pool: LifoConnectionPool,
        connection: httpcore.AsyncHTTPConnection,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection: httpcore.AsyncHTTPConnection | None = connection

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if hasattr(self._stream, "aclose"):
                await self._stream.aclose()
        finally:
            await self._pool._checkin(connection)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: typing.Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            if (error := _as_httpx_error(exc)) is None:
                raise
            raise error from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


class PooledAsyncTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport over :class:`LifoConnectionPool` (HTTP/1.1, no proxy of its own:
    ``httpx.AsyncClient`` still mounts its proxy transports for the URLs the environment proxies).
    """

    def __init__(self, *, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        self._pool = LifoConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )

    async def _send(self, request: httpx.Request) -> httpcore.Response:
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            return await self._pool.handle_async_request(core_request)
        except Exception as exc:
            if (error := _as_httpx_error(exc)) is None:
                raise
            error.request = request
            raise error from exc

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._send(request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def fetch(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole answer, as ``client.send`` would, minus the client.

        No auth flow, cookie jar, redirects or event hooks: the request must carry its own
        headers. Logs httpx's ``HTTP Request: ...`` line all the same.
        """
        start = time.perf_counter()
        response = await self._send(request)
        try:
            body = b"".join([part async for part in response.stream])  # type: ignore[union-attr]
        except Exception as exc:
            if (error := _as_httpx_error(exc)) is None:
                raise
            error.request = request
            raise error from exc
        finally:
            await response.aclose()
        result = httpx.Response(
            status_code=response.status,
            headers=response.headers,
            content=body,
            extensions=response.extensions,
            request=request,
        )
        result.elapsed = timedelta(seconds=time.perf_counter() - start)
        if _httpx_log.isEnabledFor(logging.INFO):
            _httpx_log.info(
                'HTTP Request: %s %s "%s %d %s"',
                request.method,
                request.url,
                result.http_version,
                result.status_code,
                result.reason_phrase,
            )
        return result

    async def aclose(self) -> None:
        await self._pool.aclose()
