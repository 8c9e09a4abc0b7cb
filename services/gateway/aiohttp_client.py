"""The edge's aiohttp client: ``aiohttp.ClientSession`` with one ``TCPConnector``
(keep-alive pool). The default is ``services.gateway.h1pool``; this one is kept for
comparison (``CLIENT=aiohttp``) and measured in ``bench/edge.py``."""

from __future__ import annotations

import aiohttp
from yarl import URL

from services.gateway.transport import (
    IDEMPOTENT_METHODS,
    ConnectFailed,
    ConnectionBroken,
    RawHeaders,
    RawResponse,
    ReadTimeout,
)


class AiohttpClient:
    """``UpstreamClient`` over one ``aiohttp.ClientSession``; create it inside a loop."""

    def __init__(self, connect_timeout: float, read_timeout: float, keepalive: float) -> None:
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=keepalive),
            timeout=self.timeout,
            # A proxy forwards bytes: no cookies kept between clients, no decompression,
            # no headers the caller did not send.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
            trust_env=False,
        )

    async def request(
        self,
        base_url: str,
        method: str,
        target: str,
        headers: RawHeaders,
        body: bytes,
        timeout: float | None = None,
        *,
        retryable: bool = False,
    ) -> RawResponse:
        """See ``UpstreamClient.request``."""
        try:
            return await self._request(base_url, method, target, headers, body, timeout)
        except ConnectionBroken:
            # aiohttp re-sends on a stale pooled connection by method only; the edge's
            # rule also covers a POST that carries an Idempotency-Key.
            if not retryable or method in IDEMPOTENT_METHODS:
                raise
            return await self._request(base_url, method, target, headers, body, timeout)

    async def _request(
        self,
        base_url: str,
        method: str,
        target: str,
        headers: RawHeaders,
        body: bytes,
        timeout: float | None,
    ) -> RawResponse:
        # Never pass timeout=None: aiohttp reads it as "no timeout at all".
        timeouts = self.timeout if timeout is None else aiohttp.ClientTimeout(total=timeout)
        try:
            async with self.session.request(
                method,
                URL(base_url + target, encoded=True),
                headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers],
                data=body or None,
                allow_redirects=False,
                timeout=timeouts,
            ) as response:
                payload = await response.read()
                return RawResponse(response.status, list(response.raw_headers), payload)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise ConnectFailed(str(exc)) from exc
        except TimeoutError as exc:
            raise ReadTimeout(f"no answer from {base_url}") from exc
        except aiohttp.ClientError as exc:
            raise ConnectionBroken(str(exc) or type(exc).__name__) from exc

    def sweep(self) -> None:
        """aiohttp closes idle connections itself."""

    async def close(self) -> None:
        """See ``UpstreamClient.close``."""
        await self.session.close()
