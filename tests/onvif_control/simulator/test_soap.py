"""SOAP parsing and faults (pure)."""

from __future__ import annotations

import pytest
from lxml import etree

from onvif_control.simulator.soap import (
    NS,
    SoapFault,
    envelope,
    fault_envelope,
    not_authorized,
    parse_request,
)

ENV = '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">{}</s:Envelope>'


def test_parse_body_and_token():
    data = ENV.format(
        '<s:Header><Security xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
        "<UsernameToken><Username>admin</Username>"
        '<Password Type="T">pw</Password><Nonce>bm9uY2U=</Nonce>'
        '<Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">2026-01-01T00:00:00Z</Created>'
        "</UsernameToken></Security></s:Header>"
        '<s:Body><GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/></s:Body>'
    ).encode()
    request = parse_request(data)
    assert (request.namespace, request.operation) == (NS["trt"], "GetProfiles")
    assert request.token is not None
    assert request.token.username == "admin"
    assert request.token.nonce_b64 == "bm9uY2U="
    assert request.token.created == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("data", "subcode"),
    [
        (b"<not xml", "WellFormed"),
        (b"", "WellFormed"),
        (b"<a/>", "Tag"),
        (ENV.format("").encode(), "Tag"),
        (ENV.format("<s:Body/>").encode(), "Tag"),
        (ENV.format("<s:Body><a/><b/></s:Body>").encode(), "Tag"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>'
            + ENV.format("<s:Body><a>&e;</a></s:Body>").encode(),
            "WellFormed",
        ),
    ],
)
def test_malformed_requests_are_sender_faults(data, subcode):
    with pytest.raises(SoapFault) as info:
        parse_request(data)
    assert info.value.code == "Sender"
    assert info.value.subcodes == (subcode,)
    assert info.value.http_status == 400


def test_soap11_is_a_version_mismatch():
    data = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>'
    with pytest.raises(SoapFault) as info:
        parse_request(data)
    assert info.value.code == "VersionMismatch"


def test_fault_envelope_structure():
    root = etree.fromstring(fault_envelope(not_authorized("wrong password <x>")))
    values = [v.text for v in root.iter("{{{}}}Value".format(NS["s"]))]
    assert values == ["s:Sender", "ter:NotAuthorized"]
    reason = root.find(".//s:Reason/s:Text", NS)
    assert reason is not None and "wrong password <x>" in reason.text


def test_envelope_is_well_formed():
    root = etree.fromstring(envelope("<tds:GetScopesResponse/>"))
    assert root.find("s:Body/tds:GetScopesResponse", NS) is not None
