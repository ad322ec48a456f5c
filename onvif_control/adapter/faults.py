"""Vendor faults and transport errors into our error kinds: the one place (STYLE,
"one place that turns vendor faults into readable errors").

Every failure of a camera call leaves the adapter as one of the kinds of
:mod:`vms.errors`, with a message naming the camera and the operation:

| what happened | kind |
|---|---|
| no answer within the timeout | ``Unavailable`` |
| a reply past the size cap (:mod:`~onvif_control.adapter.transport`) | ``Unavailable`` |
| an https camera's certificate is not its pin (``adapter.tls``) | ``CertificateChanged`` |
| connection refused, DNS, reset (unreachable host) | ``Unavailable`` |
| camera refused the credentials (``NotAuthorized``, HTTP 401) | ``FailedPrecondition`` |
| ``Sender`` fault with ``InvalidArgVal`` (bad token, out-of-range value) | ``InvalidArgument`` |
| ``ActionNotSupported`` / other ``Sender`` faults | ``FailedPrecondition`` |
| ``Receiver`` faults, malformed replies, anything else | ``Unavailable`` |

``CertificateChanged`` (a pin) and ``CertificateUntrusted`` (a CA bundle) are
``FailedPrecondition`` raised before anything was sent.

Passwords never appear in messages or logs: what a library says about a failure goes
through :func:`vms.urls.redact_credentials` (#10.11).
"""

from __future__ import annotations

import asyncio

import aiohttp
import zeep.exceptions
from lxml import etree
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError
from onvif.util import extract_subcodes_as_strings, is_auth_error

from onvif_control.adapter.parsers import cut
from onvif_control.adapter.tls import CertificateChanged, CertificateUntrusted
from onvif_control.adapter.transport import ReplyTooLarge
from vms.errors import FailedPrecondition, InvalidArgument, Unavailable, VMSError
from vms.urls import redact_credentials


def _subcodes(fault: zeep.exceptions.Fault) -> list[str]:
    codes = extract_subcodes_as_strings(fault.subcodes) if fault.subcodes else []
    return [c.split("}")[-1].split(":")[-1] for c in codes]


def _root_cause(exc: BaseException) -> BaseException:
    """onvif-zeep-async wraps everything in ONVIFError; the cause says what happened."""
    seen = 0
    while isinstance(exc, ONVIFError) and exc.__cause__ is not None and seen < 5:
        exc = exc.__cause__
        seen += 1
    return exc


def translate(exc: BaseException, camera: str, operation: str, timeout: float) -> VMSError:
    """Our error kind for a failure of ``operation`` on ``camera`` (see the module table)."""
    if isinstance(exc, VMSError):
        return exc
    where = f"camera {camera}: {operation}"
    if isinstance(exc, ONVIFAuthError):
        return FailedPrecondition(f"{where}: the camera refused the username or password")
    cause = _root_cause(exc)
    if isinstance(cause, aiohttp.ServerFingerprintMismatch):
        # Refused after the handshake, before the request was written: nothing was sent.
        return CertificateChanged(camera, operation, cause.expected, cause.got)
    if isinstance(cause, aiohttp.ClientConnectorCertificateError):
        # The CA bundle's verification failed in the handshake: nothing was sent.
        reason = cut(redact_credentials(str(cause.certificate_error))) or "no reason given"
        return CertificateUntrusted(camera, operation, reason)
    if isinstance(cause, asyncio.TimeoutError | TimeoutError | ONVIFTimeoutError):
        return Unavailable(f"{where}: no answer within {timeout:g} s", camera=camera)
    if isinstance(cause, ReplyTooLarge):
        return Unavailable(
            f"{where}: the camera sent a reply of more than {cause.limit // 1024} KiB "
            "(a camera fault); the rest was not read",
            camera=camera,
        )
    if isinstance(cause, zeep.exceptions.Fault):
        codes = _subcodes(cause)
        # The camera's own words, cut: a camera may give a reason of megabytes.
        message = cut(redact_credentials((cause.message or "").strip())) or "no reason given"
        if is_auth_error(cause):
            return FailedPrecondition(
                f"{where}: the camera refused the username or password ({message})",
                camera=camera,
                subcodes=codes,
            )
        if "InvalidArgVal" in codes or "InvalidArgs" in codes:
            return InvalidArgument(
                f"{where}: the camera refused the values: {message} ({'/'.join(codes)})",
                camera=camera,
                subcodes=codes,
            )
        code = (cause.code or "").split("}")[-1].split(":")[-1]
        if "ActionNotSupported" in codes or code == "Sender":
            return FailedPrecondition(
                f"{where}: not supported by the camera: {message} ({'/'.join(codes) or code})",
                camera=camera,
                subcodes=codes,
            )
        return Unavailable(
            f"{where}: camera fault: {message} ({'/'.join(codes) or code or 'fault'})",
            camera=camera,
            subcodes=codes,
        )
    if isinstance(cause, zeep.exceptions.TransportError):
        if cause.status_code == 401:
            return FailedPrecondition(f"{where}: the camera refused the username or password")
        return Unavailable(f"{where}: HTTP {cause.status_code} from the camera", camera=camera)
    if isinstance(cause, aiohttp.ClientConnectorError | ConnectionError | OSError):
        reason = getattr(cause, "strerror", None) or type(cause).__name__
        return Unavailable(f"{where}: the camera is unreachable ({reason})", camera=camera)
    if isinstance(cause, aiohttp.ClientError):
        return Unavailable(f"{where}: connection failed ({type(cause).__name__})", camera=camera)
    said = cut(redact_credentials(str(cause)))
    if isinstance(cause, etree.XMLSyntaxError | zeep.exceptions.XMLParseError):
        return Unavailable(f"{where}: the camera sent a malformed reply ({said})", camera=camera)
    if isinstance(cause, zeep.exceptions.Error):
        return Unavailable(f"{where}: unexpected reply ({said})", camera=camera)
    return Unavailable(f"{where}: {type(cause).__name__}: {said}", camera=camera)
