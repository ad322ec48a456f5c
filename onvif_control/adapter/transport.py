"""onvif-zeep-async's HTTP side, bounded in time and in size.

A camera on a pole may be broken or hostile, and every reply it sends is read on the
media node's ONVIF loop. The library reads each reply whole into memory
(``response.read()``) under its own timeouts of 90 s. Here every service of a camera
gets a transport that:

- stops reading a reply past :data:`MAX_ONVIF_REPLY_BYTES` (:class:`ReplyTooLarge`,
  turned into ``Unavailable`` naming the camera, the operation and the limit by
  :func:`onvif_control.adapter.faults.translate`): a fast link carries hundreds of
  megabytes within the command timeout;
- bounds each request (connect and reply) by the device's timeout (``[cameras]
  command_timeout_seconds``), so a connect our timeout cut short, which
  :meth:`~onvif_control.adapter.device.OnvifDevice._settled` lets run to its end to close
  what it made, ends within that timeout instead of holding a connection for 90 s;
- checks, on an https camera, that the peer presents the pinned certificate before each
  request is written (:mod:`onvif_control.adapter.tls`): the library's own sessions
  verify nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from onvif import ONVIFCamera
from onvif.client import AsyncTransportProtocolErrorHandler, ONVIFService

from onvif_control.adapter.parsers import on_host
from onvif_control.adapter.tls import TlsCheck
from vms.urls import redact_credentials

log = logging.getLogger(__name__)

# The largest replies are GetProfiles and GetPresets of a camera with many of them: tens
# of kilobytes. A mebibyte is far past any camera's answer and bounds what zeep parses.
MAX_ONVIF_REPLY_BYTES = 1024 * 1024


class ReplyTooLarge(Exception):
    """A camera's reply went past ``limit`` bytes; the rest was not read."""

    def __init__(self, address: str, limit: int) -> None:
        super().__init__(f"{redact_credentials(address)}: a reply of more than {limit} bytes")
        self.address = address
        self.limit = limit


async def read_capped(response: aiohttp.ClientResponse, limit: int, address: str) -> bytes:
    """The body of ``response``, or :class:`ReplyTooLarge` (the connection closed)
    as soon as it is known to pass ``limit`` bytes: by its Content-Length, or once
    that much has arrived."""
    try:
        if (response.content_length or 0) > limit:
            raise ReplyTooLarge(address, limit)
        body = bytearray()
        async for chunk in response.content.iter_chunked(16 * 1024):
            body += chunk
            if len(body) > limit:
                raise ReplyTooLarge(address, limit)
    except ReplyTooLarge:
        response.close()  # not back to the pool with the rest of the reply unread
        raise
    return bytes(body)


class BoundedTransport(AsyncTransportProtocolErrorHandler):
    """The library's transport (its retry of a request a dead pooled connection never
    sent is kept) with each request bounded by ``timeout`` and each reply by ``limit``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float,
        limit: int,
        pin: TlsCheck | None = None,
    ) -> None:
        super().__init__(session=session, verify_ssl=False, cache=None)
        # An https camera's pinned certificate, checked before every request is written.
        self.pin = pin
        # Used for every request this transport sends (the library passes it per call).
        self._client_timeout = aiohttp.ClientTimeout(
            total=timeout, sock_connect=timeout, sock_read=timeout
        )
        self.limit = limit

    async def _post_internal(
        self, address: str, message: str | bytes, headers: dict[str, str]
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        # As the library's, but the reply is read by read_capped, not response.read().
        headers = dict(headers or {})
        headers.setdefault("Content-Type", 'text/xml; charset="utf-8"')
        data = message.encode("utf-8") if isinstance(message, str) else message
        if self.session.closed:
            # As the library does: a closed session is a connection error, not a bug.
            raise aiohttp.ClientConnectionError(f"Failed to post to {address}: session closed")
        # No redirect is followed: aiohttp would post the same request, WS-Security
        # digest of the camera's password included, wherever the camera pointed (#10.11).
        response = await self.session.post(
            address,
            data=data,
            headers=headers,
            timeout=self._client_timeout,
            allow_redirects=False,
            ssl=self.pin if self.pin is not None else True,
        )
        return response, await read_capped(response, self.limit, address)

    async def get(
        self,
        address: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        # zeep GETs only to load schemas; ours come from disk (the library's cached WSDL
        # documents). A GET to a camera would bypass the pin check above: none is made.
        raise aiohttp.ClientConnectionError(
            f"{redact_credentials(address)[:200]}: no GET is sent to a camera"
        )


class BoundedCamera(ONVIFCamera):
    """``ONVIFCamera`` whose every service talks through a :class:`BoundedTransport`,
    at the camera's own host whatever host its service addresses name (:meth:`rewrite_url`).
    """

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        passwd: str,
        *,
        timeout: float,
        limit: int,
        scheme: str = "http",
        pin: TlsCheck | None = None,
    ) -> None:
        # The library builds the device service's address from host and port, over
        # plain HTTP unless the host carries its scheme: an https camera URL was spoken
        # to in the clear on its https port.
        bracketed = f"[{host}]" if ":" in host else host
        super().__init__(f"https://{bracketed}" if scheme == "https" else host, port, user, passwd)
        self._own_host = host
        self._scheme = scheme
        self._timeout = timeout
        self._limit = limit
        self._pin = pin

    def rewrite_url(self, url: str | None) -> str | None:
        """Every service address the camera advertises (GetServices, GetCapabilities),
        moved to the camera's own host: a hostile camera naming another host had our
        calls, signed with a digest of its password, posted there (#10.11)."""
        if url is None:
            return None
        moved = on_host(url, self._own_host)
        if moved is not None and self._scheme == "https" and moved.startswith("http://"):
            moved = "https://" + moved.removeprefix("http://")  # no downgrade from TLS
        if moved != url:
            log.info(
                "camera %s advertised the service address %r; using %r",
                self.host,
                redact_credentials(url)[:200],
                moved,
            )
        return moved

    async def create_onvif_service(
        self,
        name: str,
        port_type: str | None = None,
        read_timeout: int | None = None,
        write_timeout: int | None = None,
    ) -> ONVIFService:
        service = await super().create_onvif_service(name, port_type, read_timeout, write_timeout)
        # The library's setup reads the WSDL from disk and sends nothing: the first
        # request of the service goes through the bounded transport.
        if not isinstance(service.transport, BoundedTransport):
            # The session is the service's own: its close() closes it.
            transport = BoundedTransport(
                service._session, timeout=self._timeout, limit=self._limit, pin=self._pin
            )
            _bound(service, transport)
        return service


def _bound(service: Any, transport: BoundedTransport) -> None:
    """``service`` and both its zeep clients (with and without WS-Security) use
    ``transport``; the session is the service's own, closed with it."""
    transport.cache = service.transport.cache
    service.transport = transport
    for client in (service.zeep_client, service.zeep_client_authless):
        if client is not None:
            client.transport = transport
