"""SOAP 1.2 envelopes and ONVIF faults. Pure: bytes in, bytes out.

Requests are parsed with a hardened lxml parser (no DTDs, no entity expansion, no network
access), since anything on the network can post to the camera. Faults follow ONVIF Core
5.11.2: ``env:Sender``/``env:Receiver`` with ``ter:`` subcodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from lxml import etree

from onvif_control.simulator.auth import UsernameToken

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "ter": "http://www.onvif.org/ver10/error",
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
}
_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_REQUEST_BYTES = 256 * 1024
# A type URI, not a password.
PASSWORD_TEXT_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"  # noqa: S105


@dataclass
class SoapFault(Exception):
    """An ONVIF fault: code ``Sender``/``Receiver``, ``ter:`` subcodes, a reason, a status."""

    code: str
    subcodes: tuple[str, ...]
    reason: str
    http_status: int = field(default=0)

    def __post_init__(self) -> None:
        super().__init__(f"{self.code}/{'/'.join(self.subcodes)}: {self.reason}")
        if not self.http_status:
            self.http_status = 400 if self.code == "Sender" else 500


def sender_fault(reason: str, *subcodes: str) -> SoapFault:
    """An ``env:Sender`` fault (a client error)."""
    return SoapFault("Sender", subcodes, reason)


def receiver_fault(reason: str, *subcodes: str) -> SoapFault:
    """An ``env:Receiver`` fault (the device cannot do it)."""
    return SoapFault("Receiver", subcodes, reason)


def not_authorized(reason: str) -> SoapFault:
    """The ONVIF ``ter:NotAuthorized`` fault (wrong or missing credentials)."""
    return SoapFault("Sender", ("NotAuthorized",), f"Sender not Authorized: {reason}")


@dataclass(frozen=True)
class SoapRequest:
    """A parsed request: the body's first element, and the UsernameToken if any."""

    body: etree._Element
    token: UsernameToken | None

    @property
    def namespace(self) -> str:
        """Namespace of the operation element."""
        return etree.QName(self.body).namespace or ""

    @property
    def operation(self) -> str:
        """Local name of the operation element, e.g. ``GetProfiles``."""
        return etree.QName(self.body).localname


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


def parse_request(data: bytes) -> SoapRequest:
    """Parse a SOAP 1.2 request. Raises :class:`SoapFault` for malformed input."""
    if len(data) > MAX_REQUEST_BYTES:
        raise sender_fault(f"request of {len(data)} bytes is too large", "WellFormed")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise sender_fault(f"XML is not well formed: {exc}", "WellFormed") from exc
    if root.getroottree().docinfo.doctype:
        raise sender_fault("DTDs are not allowed", "WellFormed")
    qname = etree.QName(root)
    if qname.namespace == _SOAP11:
        raise SoapFault("VersionMismatch", (), "SOAP 1.1 is not supported, use SOAP 1.2")
    if qname.namespace != NS["s"] or qname.localname != "Envelope":
        raise sender_fault(f"root element {root.tag} is not a SOAP 1.2 Envelope", "Tag")
    body = root.find("s:Body", NS)
    if body is None:
        raise sender_fault("the Envelope has no Body", "Tag")
    elements = [child for child in body if isinstance(child.tag, str)]
    if len(elements) != 1:
        raise sender_fault(f"the Body has {len(elements)} elements, expected 1", "Tag")
    return SoapRequest(elements[0], _username_token(root))


def _username_token(root: etree._Element) -> UsernameToken | None:
    token = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
    if token is None:
        return None
    password = token.find("wsse:Password", NS)
    return UsernameToken(
        username=(token.findtext("wsse:Username", default="", namespaces=NS) or "").strip(),
        password=(password.text or "").strip() if password is not None else "",
        password_type=(
            password.get("Type", PASSWORD_TEXT_TYPE) if password is not None else PASSWORD_TEXT_TYPE
        ),
        nonce_b64=_strip(token.findtext("wsse:Nonce", namespaces=NS)),
        created=_strip(token.findtext("wsu:Created", namespaces=NS)),
    )


def _strip(text: str | None) -> str | None:
    return text.strip() if text is not None else None


def envelope(body_xml: str) -> bytes:
    """Wrap body XML (which may use the prefixes in :data:`NS`) in a SOAP 1.2 Envelope."""
    declarations = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope {declarations}>'
        f"<s:Body>{body_xml}</s:Body></s:Envelope>"
    ).encode()


def fault_envelope(fault: SoapFault) -> bytes:
    """The SOAP 1.2 Fault envelope for ``fault``."""
    subcode = ""
    for name in reversed(fault.subcodes):
        subcode = f"<s:Subcode><s:Value>ter:{name}</s:Value>{subcode}</s:Subcode>"
    return envelope(
        f"<s:Fault><s:Code><s:Value>s:{fault.code}</s:Value>{subcode}</s:Code>"
        f'<s:Reason><s:Text xml:lang="en">{escape(fault.reason)}</s:Text></s:Reason></s:Fault>'
    )


def text(value: object) -> str:
    """XML-escape a value for element content."""
    return escape(str(value))


def attr(value: object) -> str:
    """XML-escape a value for a double-quoted attribute."""
    return escape(str(value), {'"': "&quot;"})
