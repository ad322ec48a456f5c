"""ONVIF Core access classes on the simulator (#10.17): the PRE_AUTH operations answer
without credentials, as real cameras do and as clients expect before their first
authenticated call; every other operation needs a valid token."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from lxml import etree
from onvif import ONVIFCamera
from onvif.util import is_auth_error

from .conftest import USERNAME
from .test_onvif_service import NS, _envelope, _fault_codes, _security_header, subcodes


async def _discover_with_a_wrong_password(port: int) -> dict[str, Any]:
    cam = ONVIFCamera("127.0.0.1", port, USERNAME, "wrong-password")
    out: dict[str, Any] = {}
    try:
        # What a client does before its first authenticated call: clock skew, then the
        # service addresses (GetServices), all with the (wrong) token attached.
        await cam.update_xaddrs()
        out["xaddrs"] = dict(cam.xaddrs)
        dev = await cam.create_devicemgmt_service()
        media = await cam.create_media_service()
        ptz = await cam.create_ptz_service()
        out["caps"] = await dev.GetCapabilities({"Category": "All"})
        out["device_caps"] = await dev.GetServiceCapabilities()
        out["media_caps"] = await media.GetServiceCapabilities()
        out["ptz_caps"] = await ptz.GetServiceCapabilities()
        out["hostname"] = await dev.GetHostname()
        out["wsdl"] = await dev.GetWsdlUrl()
        out["guid"] = await dev.GetEndpointReference()
        for name, call in (
            ("info", dev.GetDeviceInformation),
            ("profiles", media.GetProfiles),
            ("nodes", ptz.GetNodes),
        ):
            try:
                await call()
                out[name] = None
            except Exception as exc:
                out[name] = exc
    finally:
        await cam.close()
    return out


def test_pre_auth_discovery_works_with_a_wrong_password_nothing_else_does(camera):
    """onvif-zeep-async's ``update_xaddrs`` (GetSystemDateAndTime, GetServices) and the
    other PRE_AUTH operations of ONVIF Core answer whatever the credentials, like a real
    camera; the first operation that needs the password is refused (#10.17)."""
    out = asyncio.run(_discover_with_a_wrong_password(camera.onvif_port))
    assert out["xaddrs"][NS["tptz"]].endswith("/onvif/ptz_service")
    assert out["xaddrs"][NS["trt"]].endswith("/onvif/media_service")
    assert out["caps"].Media.XAddr.endswith("/onvif/media_service")
    assert out["device_caps"].Security.UsernameToken is True
    assert out["media_caps"].SnapshotUri is True
    assert out["ptz_caps"].EFlip is False
    assert out["hostname"].Name == camera.name and out["hostname"].FromDHCP is False
    assert out["wsdl"].startswith("http://www.onvif.org/")
    assert out["guid"].GUID.startswith("urn:uuid:")
    for name in ("info", "profiles", "nodes"):
        assert out[name] is not None, name
        assert subcodes(out[name]) == ["NotAuthorized"] and is_auth_error(out[name])


def _service_path(namespace: str) -> str:
    return {
        NS["tds"]: "/onvif/device_service",
        NS["trt"]: "/onvif/media_service",
        NS["tptz"]: "/onvif/ptz_service",
    }[namespace]


PRE_AUTH_OPS = [
    (NS["tds"], "GetSystemDateAndTime"),
    (NS["tds"], "GetCapabilities"),
    (NS["tds"], "GetServices"),
    (NS["tds"], "GetServiceCapabilities"),
    (NS["tds"], "GetWsdlUrl"),
    (NS["tds"], "GetHostname"),
    (NS["tds"], "GetEndpointReference"),
    (NS["trt"], "GetServiceCapabilities"),
    (NS["tptz"], "GetServiceCapabilities"),
]


def test_pre_auth_operations_answer_without_credentials_every_other_is_refused(camera):
    """ONVIF Core access class PRE_AUTH: answered with no token and with a wrong one;
    every other operation the simulator implements is ``ter:NotAuthorized`` without a
    valid token (#10.17)."""
    from onvif_control.simulator import onvif_device, onvif_media, onvif_ptz

    tables = {
        NS["tds"]: onvif_device.HANDLERS,
        NS["trt"]: onvif_media.HANDLERS,
        NS["tptz"]: onvif_ptz.HANDLERS,
    }
    every = [(namespace, op) for namespace, table in tables.items() for op in table]
    assert set(PRE_AUTH_OPS) < set(every) and len(every) - len(PRE_AUTH_OPS) >= 20
    base = camera.onvif_url.rsplit("/onvif/", 1)[0]
    with httpx.Client(timeout=10) as client:
        for namespace, op in every:
            for header in ("", _security_header("wrong")):
                answer = client.post(
                    base + _service_path(namespace),
                    content=_envelope(f'<{op} xmlns="{namespace}"/>', header),
                    headers={"Content-Type": "application/soap+xml"},
                )
                if (namespace, op) in PRE_AUTH_OPS:
                    assert answer.status_code == 200, (op, answer.text)
                    body = etree.fromstring(answer.content).find("s:Body", NS)
                    assert body is not None
                    assert etree.QName(body[0]) == etree.QName(namespace, f"{op}Response")
                else:
                    assert answer.status_code == 400, op
                    assert _fault_codes(answer) == ["Sender", "NotAuthorized"], op
