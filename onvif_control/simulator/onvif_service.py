"""The camera's HTTP front: ONVIF SOAP endpoints, the JPEG snapshot and ``/sim/state``.

Routes (on the ONVIF port):

- ``POST /onvif/device_service``, ``/onvif/media_service``, ``/onvif/ptz_service``: SOAP
  1.2, dispatched by the operation element's namespace and name (table-driven). The
  operations of access class PRE_AUTH (ONVIF Core: ``GetSystemDateAndTime``,
  ``GetCapabilities``, ``GetServices``, ``GetServiceCapabilities`` of every service,
  ``GetWsdlUrl``, ``GetHostname``, ``GetEndpointReference``) are answered whatever the
  credentials, as real cameras do; every other operation needs a valid WS-Security
  UsernameToken (PasswordDigest), else ``ter:NotAuthorized``.
- ``GET /onvif/snapshot``: the current view as JPEG, HTTP Digest (or Basic) auth.
- ``GET /sim/state``: ground truth as JSON, answered to loopback peers only.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from onvif_control.simulator import onvif_device, onvif_media, onvif_ptz
from onvif_control.simulator.auth import DigestAuthenticator, UsernameTokenChecker
from onvif_control.simulator.http_server import HttpRequest, HttpResponse
from onvif_control.simulator.onvif_common import OnvifContext
from onvif_control.simulator.soap import (
    NS,
    SoapFault,
    envelope,
    fault_envelope,
    not_authorized,
    parse_request,
    receiver_fault,
    sender_fault,
)

log = logging.getLogger(__name__)

SOAP_PATHS = ("/onvif/device_service", "/onvif/media_service", "/onvif/ptz_service")
SNAPSHOT_PATH = "/onvif/snapshot"
STATE_PATH = "/sim/state"
_SOAP_TYPE = "application/soap+xml; charset=utf-8"

_TABLES = {
    NS["tds"]: onvif_device.HANDLERS,
    NS["trt"]: onvif_media.HANDLERS,
    NS["tptz"]: onvif_ptz.HANDLERS,
}
_PRE_AUTH = frozenset(
    {(NS["tds"], op) for op in onvif_device.PRE_AUTH}
    | {(NS["trt"], "GetServiceCapabilities"), (NS["tptz"], "GetServiceCapabilities")}
)


class OnvifService:
    """Answers the HTTP requests of one simulated camera."""

    def __init__(
        self,
        ctx: OnvifContext,
        username: str,
        password: str,
        snapshot: Callable[[], Awaitable[bytes]],
        state: Callable[[], dict[str, Any]],
        monotonic: Callable[[], float] = time.monotonic,
        reply_delay: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.ctx = ctx
        self._reply_delay = reply_delay
        self._tokens = UsernameTokenChecker(username, password)
        self._digest = DigestAuthenticator(f"vms-sim-{ctx.serial}", username, password)
        self._snapshot = snapshot
        self._state = state
        self._monotonic = monotonic
        # Requests that carried a UsernameToken to check (tests count them to prove a
        # password digest was, or was not, sent here).
        self.auth_attempts = 0
        # Requests answered per operation (tests count GetStatus polls per camera).
        self.operations: collections.Counter[str] = collections.Counter()
        # Faults to inject: operation -> the reason a Receiver fault gives for it.
        self.faults: dict[str, str] = {}

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Route one request."""
        if request.path in SOAP_PATHS:
            if request.method != "POST":
                return HttpResponse(405, b"SOAP endpoints take POST", headers={"Allow": "POST"})
            response = self._soap(request)
            delay = self._reply_delay()
            if delay > 0:
                # A slow link: the answer was computed now and arrives later.
                await asyncio.sleep(delay)
            return response
        if request.path == SNAPSHOT_PATH:
            if request.method not in ("GET", "HEAD"):
                return HttpResponse(405, b"GET only", headers={"Allow": "GET"})
            return await self._snapshot_response(request)
        if request.path == STATE_PATH:
            if request.method != "GET":
                return HttpResponse(405, b"GET only", headers={"Allow": "GET"})
            return self._state_response(request)
        return HttpResponse(404, f"no resource at {request.path}".encode())

    def _soap(self, request: HttpRequest) -> HttpResponse:
        try:
            body = self.dispatch(request.body)
            return HttpResponse(200, body, _SOAP_TYPE)
        except SoapFault as fault:
            log.info("%s SOAP fault %s", self.ctx.name, fault)
            return HttpResponse(fault.http_status, fault_envelope(fault), _SOAP_TYPE)

    def dispatch(self, data: bytes) -> bytes:
        """Answer one SOAP request (bytes) with a response envelope; raises SoapFault."""
        request = parse_request(data)
        key = (request.namespace, request.operation)
        if request.token is not None:
            self.auth_attempts += 1
        if key not in _PRE_AUTH:
            reason = self._tokens.check(request.token, self.ctx.utc_now())
            if reason is not None:
                raise not_authorized(reason)
        handler = _TABLES.get(request.namespace, {}).get(request.operation)
        self.operations[request.operation] += 1
        if request.operation in self.faults:
            raise receiver_fault(self.faults[request.operation])
        if handler is None:
            raise receiver_fault(
                f"operation {{{request.namespace}}}{request.operation} is not supported",
                "ActionNotSupported",
            )
        try:
            return envelope(handler(self.ctx, request.body))
        except ValueError as exc:  # a value the motion model refuses
            raise sender_fault(str(exc), "InvalidArgVal") from exc

    async def _snapshot_response(self, request: HttpRequest) -> HttpResponse:
        now = self._monotonic()
        header = request.headers.get("authorization")
        if not self._digest.check(request.method, header, now, allow_basic=True):
            if header:
                log.info("%s snapshot: authentication failed (%s)", self.ctx.name, header[:200])
            challenge = self._digest.challenge(now, qop=True)
            return HttpResponse(
                401, b"authentication required", headers={"WWW-Authenticate": challenge}
            )
        jpeg = await self._snapshot()
        return HttpResponse(200, b"" if request.method == "HEAD" else jpeg, "image/jpeg")

    def _state_response(self, request: HttpRequest) -> HttpResponse:
        try:
            loopback = ipaddress.ip_address(request.peer.split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return HttpResponse(403, b"/sim/state is served to loopback clients only")
        body = json.dumps(self._state(), indent=1).encode()
        return HttpResponse(200, body, "application/json")


def utc_now() -> dt.datetime:
    """The real UTC time (the default device clock)."""
    return dt.datetime.now(dt.UTC)
