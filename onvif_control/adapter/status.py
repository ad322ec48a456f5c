"""The lean ``GetStatus``: the pose tracker asks every PTZ camera for its pose at 5 Hz,
so this one call skips zeep: a hand-built WS-UsernameToken request and an lxml parse
cost a fraction of zeep's (bench/bench_ptz.py). Any reply it does not understand raises
:class:`NoFastPath`, and the device asks zeep instead, which also turns faults into our
errors (:mod:`onvif_control.adapter.faults`). The zeep reply is read here too, so both
paths give the same :class:`~onvif_control.adapter.models.PtzStatus`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from typing import Any
from xml.sax.saxutils import escape

import aiohttp
from lxml import etree

from onvif_control.adapter.models import PtzStatus
from onvif_control.adapter.parsers import as_float, get_path, parse_utc
from onvif_control.adapter.tls import TlsCheck
from onvif_control.adapter.transport import ReplyTooLarge, read_capped
from vms.errors import Unavailable
from vms.urls import redact_credentials

TT = "{http://www.onvif.org/ver10/schema}"
PTZ_WSDL = "http://www.onvif.org/ver20/ptz/wsdl"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSS_PROFILE_NS = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
)


# A GetStatus reply is about a kilobyte; anything past this is a camera fault.
MAX_REPLY_BYTES = 64 * 1024


class NoFastPath(Exception):
    """The lean GetStatus did not work: zeep answers (and translates faults). ``lasting``:
    the reply did not parse, so use zeep for this camera from now on."""

    def __init__(self, reason: object, *, lasting: bool = True) -> None:
        super().__init__(reason)
        self.lasting = lasting


def security_header(username: str, password: str) -> str:
    """A WS-Security UsernameToken header with a fresh nonce and a PasswordDigest."""
    nonce = os.urandom(16)
    # WS-Security needs the wall clock the camera compares with, not the domain clock.
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    digest = hashlib.sha1(nonce + created.encode() + password.encode()).digest()  # noqa: S324 (WS-Security PasswordDigest is SHA-1)
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{WSS_PROFILE_NS}#PasswordDigest">'
        f"{base64.b64encode(digest).decode()}</wsse:Password>"
        f'<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/'
        f'oasis-200401-wss-soap-message-security-1.0#Base64Binary">'
        f"{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


async def lean_status(
    http: aiohttp.ClientSession,
    xaddr: str,
    username: str,
    password: str,
    profile: str,
    *,
    pin: TlsCheck | None = None,
) -> PtzStatus:
    """``GetStatus`` of ``profile`` posted to the PTZ service at ``xaddr`` without zeep;
    raises :class:`NoFastPath` for any reply it does not understand. ``pin``: an https
    camera's pinned certificate, checked before the request is written (a mismatch
    raises ``aiohttp.ServerFingerprintMismatch``, never handed to zeep)."""
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        f"<s:Header>{security_header(username, password)}</s:Header><s:Body>"
        f'<tptz:GetStatus xmlns:tptz="{PTZ_WSDL}">'
        f"<tptz:ProfileToken>{escape(profile)}</tptz:ProfileToken>"
        "</tptz:GetStatus></s:Body></s:Envelope>"
    )
    headers = {
        "Content-Type": f'application/soap+xml; charset=utf-8; action="{PTZ_WSDL}/GetStatus"'
    }
    try:
        # No redirect followed: it would carry the signed request elsewhere (#10.11).
        async with http.post(
            xaddr,
            data=envelope,
            headers=headers,
            allow_redirects=False,
            ssl=pin if pin is not None else True,
        ) as response:
            body = await _bounded_body(response, xaddr)
            if response.status != 200:
                raise NoFastPath(response.status, lasting=False)
    except aiohttp.ClientConnectorCertificateError:
        if pin is not None:
            raise  # the camera's CA bundle refused it: CertificateUntrusted, not zeep
        raise NoFastPath("certificate not verified") from None
    except aiohttp.ClientSSLError as exc:
        # A TLS failure other than the pin (that one, ServerFingerprintMismatch, is no
        # ClientSSLError and leaves as CertificateChanged): zeep answers from now on,
        # through the same pin check (adapter/transport.py).
        raise NoFastPath(exc) from None
    try:
        root = etree.fromstring(body)
        pan_tilt = root.find(f".//{TT}Position/{TT}PanTilt")
        zoom = root.find(f".//{TT}Position/{TT}Zoom")
        if pan_tilt is None:
            raise NoFastPath("no position")
        move = root.find(f".//{TT}MoveStatus")
        moving = move is not None and any(
            (child.text or "").strip().upper() == "MOVING" for child in move
        )
        utc_text = root.findtext(f".//{TT}UtcTime")
        return PtzStatus(
            x=float(pan_tilt.get("x", "0")),
            y=float(pan_tilt.get("y", "0")),
            zoom=float(zoom.get("x", "0")) if zoom is not None else 0.0,
            moving=moving,
            utc=parse_utc(utc_text),
        )
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise NoFastPath(exc) from None


# How far a reported position may stray outside the generic spaces (pan/tilt -1..1,
# zoom 0..1): rounding only.
GENERIC_SLACK = 0.01


def impossible_position(status: PtzStatus) -> str | None:
    """What makes ``status``'s position impossible in the generic spaces, or None.

    A broken or hostile camera may answer NaN, infinity, 1e308 or a negative zoom: none
    is a pose. Taken as one, it would reach the pose tracker (masks projected at
    nowhere, INV-5), the PTZ audit (INV-6) and the pages."""
    limit = 1.0 + GENERIC_SLACK
    axes = (("x", status.x, -limit), ("y", status.y, -limit), ("zoom", status.zoom, -GENERIC_SLACK))
    for name, value, low in axes:
        if not low <= value <= limit:  # NaN fails every comparison
            return f"{name}={value!r} is outside {low:g}..{limit:g}"
    return None


async def _bounded_body(response: aiohttp.ClientResponse, xaddr: str) -> bytes:
    """The reply's body, refused (Unavailable) past ``MAX_REPLY_BYTES``: a hostile or
    broken camera could otherwise fill the media node's memory, 5 times a second (the
    timeout bounds the time, not the bytes a fast link carries meanwhile)."""
    try:
        return await read_capped(response, MAX_REPLY_BYTES, xaddr)
    except ReplyTooLarge:
        raise Unavailable(_too_large(xaddr)) from None


def _too_large(xaddr: str) -> str:
    return (
        f"{redact_credentials(xaddr)} sent a GetStatus reply of more than "
        f"{MAX_REPLY_BYTES // 1024} KiB; a pose is about one"
    )


def status_from_reply(reply: Any) -> PtzStatus:
    """zeep's ``GetStatus`` reply as a :class:`PtzStatus` (missing values are 0, idle)."""
    position = get_path(reply, "Position")
    move = get_path(reply, "MoveStatus")
    moving = any(
        str(get_path(move, axis) or "IDLE").upper() == "MOVING" for axis in ("PanTilt", "Zoom")
    )
    utc = get_path(reply, "UtcTime")
    return PtzStatus(
        x=as_float(get_path(position, "PanTilt", "x")) or 0.0,
        y=as_float(get_path(position, "PanTilt", "y")) or 0.0,
        zoom=as_float(get_path(position, "Zoom", "x")) or 0.0,
        moving=moving,
        utc=utc if isinstance(utc, dt.datetime) and utc.tzinfo is not None else None,
    )
