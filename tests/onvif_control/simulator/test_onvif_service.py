"""ONVIF over SOAP, proven with clients not written here.

- onvif-zeep-async (the project's client library) performs every operation of issue 3,
  including authentication failure and the realistic faults;
- zeep in strict mode with the official WSDLs parses every response, and each response
  body also validates against the official XSD with lxml;
- malformed input gets a proper fault or HTTP status, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import httpx
import onvif
import pytest
import zeep
from lxml import etree
from onvif import ONVIFCamera
from onvif.util import extract_subcodes_as_strings, is_auth_error
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.wsse.username import UsernameToken

from .conftest import PASSWORD, USERNAME

WSDL_DIR = Path(onvif.__file__).parent / "wsdl"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
}
PROFILE = "profile_1"
TT = "http://www.onvif.org/ver10/schema"
OASIS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss"
STREAM_SETUP = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}

pytestmark = pytest.mark.timeout(120)


def subcodes(exc: BaseException) -> list[str]:
    assert isinstance(exc, Fault), f"expected a SOAP Fault, got {exc!r}"
    # Subcodes come as "{namespace}Name" QNames (or "prefix:Name").
    return [s.split("}")[-1].split(":")[-1] for s in extract_subcodes_as_strings(exc.subcodes)]


# onvif-zeep-async: every operation ---------------------------------------------------


async def _every_operation(port: int) -> dict[str, Any]:
    cam = ONVIFCamera("127.0.0.1", port, USERNAME, PASSWORD)
    out: dict[str, Any] = {}
    try:
        await cam.update_xaddrs()
        dev = await cam.create_devicemgmt_service()
        media = await cam.create_media_service()
        ptz = await cam.create_ptz_service()
        out["time"] = await dev.GetSystemDateAndTime()
        out["info"] = await dev.GetDeviceInformation()
        out["caps"] = await dev.GetCapabilities({"Category": "All"})
        out["services"] = await dev.GetServices({"IncludeCapability": True})
        out["scopes"] = await dev.GetScopes()
        out["nics"] = await dev.GetNetworkInterfaces()
        out["profiles"] = await media.GetProfiles()
        out["profile"] = await media.GetProfile({"ProfileToken": PROFILE})
        out["sources"] = await media.GetVideoSources()
        out["encoders"] = await media.GetVideoEncoderConfigurations()
        out["stream"] = await media.GetStreamUri(
            {"ProfileToken": PROFILE, "StreamSetup": STREAM_SETUP}
        )
        out["snapshot_uri"] = await media.GetSnapshotUri({"ProfileToken": PROFILE})
        out["snapshot"] = await cam.get_snapshot(PROFILE)
        out["nodes"] = await ptz.GetNodes()
        out["node"] = await ptz.GetNode({"NodeToken": out["nodes"][0].token})
        out["configs"] = await ptz.GetConfigurations()
        token = out["configs"][0].token
        out["config"] = await ptz.GetConfiguration({"PTZConfigurationToken": token})
        out["options"] = await ptz.GetConfigurationOptions({"ConfigurationToken": token})
        out["status0"] = await ptz.GetStatus({"ProfileToken": PROFILE})
        # ContinuousMove with Timeout: moving, then stopped by the Timeout.
        await ptz.ContinuousMove(
            {
                "ProfileToken": PROFILE,
                "Velocity": {"PanTilt": {"x": 0.5, "y": 0.0}},
                "Timeout": "PT0.4S",
            }
        )
        out["moving"] = await ptz.GetStatus({"ProfileToken": PROFILE})
        await asyncio.sleep(0.6)
        out["after_timeout"] = await ptz.GetStatus({"ProfileToken": PROFILE})
        await ptz.ContinuousMove({"ProfileToken": PROFILE, "Velocity": {"Zoom": {"x": 0.5}}})
        await asyncio.sleep(0.1)
        await ptz.Stop({"ProfileToken": PROFILE})
        out["stopped"] = await ptz.GetStatus({"ProfileToken": PROFILE})
        await ptz.AbsoluteMove(
            {
                "ProfileToken": PROFILE,
                "Position": {"PanTilt": {"x": 0.1, "y": 0.5}, "Zoom": {"x": 0.2}},
                "Speed": {"PanTilt": {"x": 1.0, "y": 1.0}, "Zoom": {"x": 1.0}},
            }
        )
        await asyncio.sleep(1.0)
        out["absolute"] = await ptz.GetStatus({"ProfileToken": PROFILE})
        await ptz.RelativeMove(
            {
                "ProfileToken": PROFILE,
                "Translation": {"PanTilt": {"x": 0.05, "y": -0.1}, "Zoom": {"x": 0.1}},
            }
        )
        await asyncio.sleep(1.0)
        out["relative"] = await ptz.GetStatus({"ProfileToken": PROFILE})
        out["preset_token"] = await ptz.SetPreset({"ProfileToken": PROFILE, "PresetName": "door"})
        out["presets"] = await ptz.GetPresets({"ProfileToken": PROFILE})
        await ptz.SetHomePosition({"ProfileToken": PROFILE})
        await ptz.AbsoluteMove(
            {"ProfileToken": PROFILE, "Position": {"PanTilt": {"x": -0.2, "y": 0.0}}}
        )
        await asyncio.sleep(1.0)
        await ptz.GotoPreset({"ProfileToken": PROFILE, "PresetToken": out["preset_token"]})
        await asyncio.sleep(1.0)
        out["at_preset"] = await ptz.GetStatus({"ProfileToken": PROFILE})
        await ptz.RemovePreset({"ProfileToken": PROFILE, "PresetToken": out["preset_token"]})
        out["presets_after"] = await ptz.GetPresets({"ProfileToken": PROFILE})
        await ptz.AbsoluteMove(
            {"ProfileToken": PROFILE, "Position": {"PanTilt": {"x": 0.3, "y": 0.0}}}
        )
        await asyncio.sleep(0.1)
        await ptz.GotoHomePosition({"ProfileToken": PROFILE})
        await asyncio.sleep(1.5)
        out["home"] = await ptz.GetStatus({"ProfileToken": PROFILE})
    finally:
        await cam.close()
    return out


def test_onvif_zeep_async_performs_every_operation(camera):
    out = asyncio.run(_every_operation(camera.onvif_port))
    utc = out["time"].UTCDateTime
    device_time = dt.datetime(
        utc.Date.Year,
        utc.Date.Month,
        utc.Date.Day,
        utc.Time.Hour,
        utc.Time.Minute,
        utc.Time.Second,
        tzinfo=dt.UTC,
    )
    assert abs((device_time - dt.datetime.now(dt.UTC)).total_seconds()) < 30  # test takes ~10 s
    assert out["info"].Model == "Simulated PTZ camera"
    assert out["caps"].PTZ.XAddr.endswith("/onvif/ptz_service")
    assert {s.Namespace for s in out["services"]} == set(NS.values()) - {NS["s"]}
    assert any("ptz" in s.ScopeItem for s in out["scopes"])
    assert out["nics"][0].IPv4.Config.Manual[0].Address == "127.0.0.1"
    profile = out["profiles"][0]
    assert profile.token == PROFILE and profile.PTZConfiguration.NodeToken == out["nodes"][0].token
    assert out["profile"].VideoEncoderConfiguration.Resolution.Width == 320
    assert out["sources"][0].Framerate == 15
    assert out["encoders"][0].Encoding == "H264"
    assert out["stream"].Uri == camera.rtsp_url
    assert out["snapshot_uri"].Uri == camera.snapshot_url
    assert out["snapshot"][:2] == b"\xff\xd8"
    assert out["node"].HomeSupported is True
    assert out["config"].DefaultPTZTimeout is not None
    assert (
        out["options"].Spaces.ContinuousPanTiltVelocitySpace[0].URI.endswith("VelocityGenericSpace")
    )
    assert out["status0"].MoveStatus.PanTilt == "IDLE"
    assert out["status0"].UtcTime.tzinfo is not None
    assert out["moving"].MoveStatus.PanTilt == "MOVING"
    assert out["after_timeout"].MoveStatus.PanTilt == "IDLE"
    # 0.4 s at half of 90 deg/s = 18 deg = 0.1 generic
    pan_after = out["after_timeout"].Position.PanTilt.x - out["status0"].Position.PanTilt.x
    assert pan_after == pytest.approx(0.1, abs=0.02)
    assert out["stopped"].MoveStatus.Zoom == "IDLE"
    absolute = out["absolute"].Position
    assert (absolute.PanTilt.x, absolute.PanTilt.y, absolute.Zoom.x) == pytest.approx(
        (0.1, 0.5, 0.2), abs=1e-3
    )
    relative = out["relative"].Position
    assert (relative.PanTilt.x, relative.PanTilt.y, relative.Zoom.x) == pytest.approx(
        (0.15, 0.4, 0.3), abs=1e-3
    )
    assert [p.Name for p in out["presets"]] == ["door"]
    assert out["at_preset"].Position.PanTilt.x == pytest.approx(0.15, abs=1e-3)
    assert out["presets_after"] == []
    assert out["home"].Position.PanTilt.x == pytest.approx(0.15, abs=1e-3)  # the home we set
    assert out["home"].MoveStatus.PanTilt == "IDLE"


async def _wrong_password(port: int) -> tuple[Any, BaseException | None, BaseException | None]:
    cam = ONVIFCamera("127.0.0.1", port, USERNAME, "wrong-password")
    try:
        dev = await cam.create_devicemgmt_service()
        date = await dev.authless_GetSystemDateAndTime()  # allowed without auth
        errors: list[BaseException | None] = []
        for call in (dev.GetDeviceInformation, dev.GetScopes):
            try:
                await call()
                errors.append(None)
            except Exception as exc:
                errors.append(exc)
        return date, errors[0], errors[1]
    finally:
        await cam.close()


def test_wrong_password_gives_not_authorized_but_time_works(camera):
    date, info_error, scopes_error = asyncio.run(_wrong_password(camera.onvif_port))
    assert date.UTCDateTime.Date.Year >= 2024
    for error in (info_error, scopes_error):
        assert error is not None
        assert "NotAuthorized" in subcodes(error)
        assert is_auth_error(error)


async def _faults(port: int) -> dict[str, BaseException]:
    cam = ONVIFCamera("127.0.0.1", port, USERNAME, PASSWORD)
    found: dict[str, BaseException] = {}
    try:
        await cam.update_xaddrs()
        media = await cam.create_media_service()
        ptz = await cam.create_ptz_service()
        calls = {
            "unknown_preset": lambda: ptz.GotoPreset(
                {"ProfileToken": PROFILE, "PresetToken": "nope"}
            ),
            "remove_unknown": lambda: ptz.RemovePreset(
                {"ProfileToken": PROFILE, "PresetToken": "nope"}
            ),
            "out_of_range": lambda: ptz.AbsoluteMove(
                {"ProfileToken": PROFILE, "Position": {"PanTilt": {"x": 1.5, "y": 0.0}}}
            ),
            "zoom_out_of_range": lambda: ptz.AbsoluteMove(
                {"ProfileToken": PROFILE, "Position": {"Zoom": {"x": -0.5}}}
            ),
            "velocity": lambda: ptz.ContinuousMove(
                {"ProfileToken": PROFILE, "Velocity": {"PanTilt": {"x": 2.0, "y": 0.0}}}
            ),
            "timeout": lambda: ptz.ContinuousMove(
                {
                    "ProfileToken": PROFILE,
                    "Velocity": {"PanTilt": {"x": 0.1, "y": 0.0}},
                    "Timeout": "PT2H",
                }
            ),
            "translation": lambda: ptz.RelativeMove(
                {"ProfileToken": PROFILE, "Translation": {"PanTilt": {"x": 3.0, "y": 0.0}}}
            ),
            "bad_profile": lambda: ptz.GetStatus({"ProfileToken": "profile_9"}),
            "bad_media_profile": lambda: media.GetStreamUri(
                {"ProfileToken": "x", "StreamSetup": STREAM_SETUP}
            ),
            "bad_node": lambda: ptz.GetNode({"NodeToken": "node_9"}),
            "bad_config": lambda: ptz.GetConfiguration({"PTZConfigurationToken": "c9"}),
            "unsupported_ptz": lambda: ptz.GetCompatibleConfigurations({"ProfileToken": PROFILE}),
            "unsupported_media": lambda: media.GetOSDs({}),
            "multicast": lambda: media.GetStreamUri(
                {
                    "ProfileToken": PROFILE,
                    "StreamSetup": {"Stream": "RTP-Multicast", "Transport": {"Protocol": "UDP"}},
                }
            ),
            "space": lambda: ptz.AbsoluteMove(
                {
                    "ProfileToken": PROFILE,
                    "Position": {
                        "PanTilt": {"x": 0.1, "y": 0.0, "space": "http://example.com/degrees"}
                    },
                }
            ),
        }
        for name, call in calls.items():
            try:
                await call()
            except Exception as exc:
                found[name] = exc
        # The camera still answers normally afterwards.
        await ptz.GetStatus({"ProfileToken": PROFILE})
    finally:
        await cam.close()
    return found


def test_realistic_faults(camera):
    faults = asyncio.run(_faults(camera.onvif_port))
    expected = {
        "unknown_preset": ["InvalidArgVal", "NoToken"],
        "remove_unknown": ["InvalidArgVal", "NoToken"],
        "out_of_range": ["InvalidArgVal", "InvalidPosition"],
        "zoom_out_of_range": ["InvalidArgVal", "InvalidPosition"],
        "velocity": ["InvalidArgVal", "InvalidVelocity"],
        "timeout": ["InvalidArgVal", "TimeoutNotSupported"],
        "translation": ["InvalidArgVal", "InvalidTranslation"],
        "bad_profile": ["InvalidArgVal", "NoProfile"],
        "bad_media_profile": ["InvalidArgVal", "NoProfile"],
        "bad_node": ["InvalidArgVal", "NoEntity"],
        "bad_config": ["InvalidArgVal", "NoConfig"],
        "unsupported_ptz": ["ActionNotSupported"],
        "unsupported_media": ["ActionNotSupported"],
        "multicast": ["InvalidArgVal", "InvalidStreamSetup"],
        "space": ["SpaceNotSupported"],
    }
    assert set(faults) == set(expected)
    for name, codes in expected.items():
        assert subcodes(faults[name]) == codes, name
    receiver, sender = faults["unsupported_ptz"], faults["unknown_preset"]
    assert isinstance(receiver, Fault) and receiver.code.endswith("Receiver")
    assert isinstance(sender, Fault) and sender.code.endswith("Sender")


# zeep strict mode + XSD validation of every response ----------------------------------


def _schema(wsdl: str) -> etree.XMLSchema:
    doc = etree.parse(str(WSDL_DIR / wsdl))
    embedded = doc.find(".//{http://www.w3.org/2001/XMLSchema}schema")
    assert embedded is not None
    # The WSDL declares some prefixes on its root; the extracted schema needs them too.
    schema = etree.Element(
        embedded.tag, attrib=dict(embedded.attrib), nsmap={**doc.getroot().nsmap, **embedded.nsmap}
    )
    schema.extend(copy.deepcopy(child) for child in embedded)
    return etree.XMLSchema(
        etree.fromstring(etree.tostring(schema), base_url=str(WSDL_DIR / "schema.xsd"))
    )


def _zeep_service(
    camera, wsdl: str, binding: str, path: str, history: HistoryPlugin, password: str = PASSWORD
):
    settings = zeep.Settings(strict=True, xml_huge_tree=False)
    client = zeep.Client(
        str(WSDL_DIR / wsdl),
        wsse=UsernameToken(USERNAME, password, use_digest=True),
        settings=settings,
        plugins=[history],
    )
    base = camera.onvif_url.rsplit("/onvif/", 1)[0]
    return client.create_service(binding, f"{base}{path}")


def test_every_response_validates_strictly_against_the_official_wsdl_and_xsd(camera):
    history = HistoryPlugin(maxlen=1)
    dev = _zeep_service(
        camera,
        "devicemgmt.wsdl",
        "{{{}}}DeviceBinding".format(NS["tds"]),
        "/onvif/device_service",
        history,
    )
    media = _zeep_service(
        camera,
        "media.wsdl",
        "{{{}}}MediaBinding".format(NS["trt"]),
        "/onvif/media_service",
        history,
    )
    ptz = _zeep_service(
        camera, "ptz.wsdl", "{{{}}}PTZBinding".format(NS["tptz"]), "/onvif/ptz_service", history
    )
    schemas = {
        NS["tds"]: _schema("devicemgmt.wsdl"),
        NS["trt"]: _schema("media.wsdl"),
        NS["tptz"]: _schema("ptz.wsdl"),
    }
    calls = [
        lambda: dev.GetSystemDateAndTime(),
        lambda: dev.GetDeviceInformation(),
        lambda: dev.GetCapabilities(Category=["All"]),
        lambda: dev.GetCapabilities(Category=["PTZ"]),
        lambda: dev.GetServices(IncludeCapability=True),
        lambda: dev.GetServices(IncludeCapability=False),
        lambda: dev.GetScopes(),
        lambda: dev.GetNetworkInterfaces(),
        lambda: dev.GetServiceCapabilities(),
        lambda: dev.GetWsdlUrl(),
        lambda: dev.GetHostname(),
        lambda: dev.GetEndpointReference(),
        lambda: media.GetServiceCapabilities(),
        lambda: ptz.GetServiceCapabilities(),
        lambda: media.GetProfiles(),
        lambda: media.GetProfile(ProfileToken=PROFILE),
        lambda: media.GetVideoSources(),
        lambda: media.GetVideoEncoderConfigurations(),
        lambda: media.GetStreamUri(StreamSetup=STREAM_SETUP, ProfileToken=PROFILE),
        lambda: media.GetSnapshotUri(ProfileToken=PROFILE),
        lambda: media.SetSynchronizationPoint(ProfileToken=PROFILE),
        lambda: ptz.GetNodes(),
        lambda: ptz.GetNode(NodeToken="ptz_node_1"),
        lambda: ptz.GetConfigurations(),
        lambda: ptz.GetConfiguration(PTZConfigurationToken="ptz_config_1"),
        lambda: ptz.GetConfigurationOptions(ConfigurationToken="ptz_config_1"),
        lambda: ptz.GetStatus(ProfileToken=PROFILE),
        lambda: ptz.ContinuousMove(
            ProfileToken=PROFILE,
            Velocity={"PanTilt": {"x": 0.1, "y": 0.1}},
            Timeout=dt.timedelta(seconds=1),
        ),
        lambda: ptz.GetStatus(ProfileToken=PROFILE),
        lambda: ptz.Stop(ProfileToken=PROFILE, PanTilt=True, Zoom=True),
        lambda: ptz.AbsoluteMove(
            ProfileToken=PROFILE, Position={"PanTilt": {"x": 0.0, "y": 0.6}, "Zoom": {"x": 0.1}}
        ),
        lambda: ptz.RelativeMove(
            ProfileToken=PROFILE, Translation={"Zoom": {"x": 0.1}}, Speed={"Zoom": {"x": 0.5}}
        ),
        lambda: ptz.SetPreset(ProfileToken=PROFILE, PresetName="strict"),
        lambda: ptz.GetPresets(ProfileToken=PROFILE),
        lambda: ptz.GotoPreset(
            ProfileToken=PROFILE, PresetToken=ptz.GetPresets(ProfileToken=PROFILE)[0].token
        ),
        lambda: ptz.RemovePreset(
            ProfileToken=PROFILE, PresetToken=ptz.GetPresets(ProfileToken=PROFILE)[0].token
        ),
        lambda: ptz.SetHomePosition(ProfileToken=PROFILE),
        lambda: ptz.GotoHomePosition(ProfileToken=PROFILE, Speed={"PanTilt": {"x": 0.5, "y": 0.5}}),
    ]
    for call in calls:
        call()  # zeep parses the response in strict mode; raises on unexpected XML
        last = history.last_received
        assert last is not None
        received = last["envelope"]
        body = received.find("s:Body", NS)
        assert body is not None and len(body) == 1
        element = body[0]
        namespace = etree.QName(element).namespace
        schema = schemas[namespace]
        if not schema.validate(element):
            raise AssertionError(f"{etree.QName(element).localname}: {schema.error_log}")
    # Faults parse as SOAP 1.2 faults with ONVIF subcodes.
    bad = _zeep_service(
        camera,
        "devicemgmt.wsdl",
        "{{{}}}DeviceBinding".format(NS["tds"]),
        "/onvif/device_service",
        history,
        "bad",
    )
    with pytest.raises(Fault) as info:
        bad.GetScopes()
    assert subcodes(info.value) == ["NotAuthorized"]


# Raw HTTP: malformed SOAP and other bad input ----------------------------------------


def _security_header(password: str = PASSWORD, created: dt.datetime | None = None) -> str:
    nonce = os.urandom(16)
    stamp = (created or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(
        hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()
    ).decode()
    return (
        f'<s:Header><wsse:Security xmlns:wsse="{OASIS}-wssecurity-secext-1.0.xsd" '
        f'xmlns:wsu="{OASIS}-wssecurity-utility-1.0.xsd">'
        f"<wsse:UsernameToken><wsse:Username>{USERNAME}</wsse:Username>"
        f'<wsse:Password Type="{OASIS}-username-token-profile-1.0#PasswordDigest">'
        f"{digest}</wsse:Password>"
        f'<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-soap-message-security-1.0#Base64Binary">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"
    )


def _envelope(body: str, header: str = "") -> bytes:
    return f'<s:Envelope xmlns:s="{NS["s"]}">{header}<s:Body>{body}</s:Body></s:Envelope>'.encode()


def _fault_codes(response: httpx.Response) -> list[str]:
    root = etree.fromstring(response.content)
    return [v.text.split(":")[-1] for v in root.iter("{{{}}}Value".format(NS["s"]))]


@pytest.mark.parametrize(
    ("name", "data", "status", "codes"),
    [
        ("garbage", b"\x00\x01 not xml", 400, ["Sender", "WellFormed"]),
        ("truncated", _envelope("<GetScopes")[:-10], 400, ["Sender", "WellFormed"]),
        (
            "soap11",
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>',
            500,
            ["VersionMismatch"],
        ),
        (
            "no_auth",
            _envelope(f'<GetScopes xmlns="{NS["tds"]}"/>'),
            400,
            ["Sender", "NotAuthorized"],
        ),
        (
            "bad_password",
            _envelope(f'<GetScopes xmlns="{NS["tds"]}"/>', "BAD"),
            400,
            ["Sender", "NotAuthorized"],
        ),
        (
            "stale_token",
            _envelope(f'<GetScopes xmlns="{NS["tds"]}"/>', "STALE"),
            400,
            ["Sender", "NotAuthorized"],
        ),
        (
            "unknown_action",
            _envelope('<Launch xmlns="http://example.com/rockets"/>', "AUTH"),
            500,
            ["Receiver", "ActionNotSupported"],
        ),
        (
            "unknown_device_op",
            _envelope(f'<SystemReboot xmlns="{NS["tds"]}"/>', "AUTH"),
            500,
            ["Receiver", "ActionNotSupported"],
        ),
        (
            "missing_token",
            _envelope(f'<GetStatus xmlns="{NS["tptz"]}"/>', "AUTH"),
            400,
            ["Sender", "InvalidArgVal"],
        ),
        (
            "nan_position",
            _envelope(
                f'<AbsoluteMove xmlns="{NS["tptz"]}"><ProfileToken>{PROFILE}</ProfileToken>'
                "<Position>"
                f'<PanTilt xmlns="{TT}" x="NaN" y="0"/></Position></AbsoluteMove>',
                "AUTH",
            ),
            400,
            ["Sender", "InvalidArgVal"],
        ),
        (
            "text_position",
            _envelope(
                f'<AbsoluteMove xmlns="{NS["tptz"]}"><ProfileToken>{PROFILE}</ProfileToken>'
                "<Position>"
                f'<PanTilt xmlns="{TT}" x="left" y="0"/></Position></AbsoluteMove>',
                "AUTH",
            ),
            400,
            ["Sender", "InvalidArgVal"],
        ),
        (
            "bad_duration",
            _envelope(
                f'<ContinuousMove xmlns="{NS["tptz"]}"><ProfileToken>{PROFILE}</ProfileToken>'
                f'<Velocity><Zoom xmlns="{TT}" x="0.1"/></Velocity>'
                "<Timeout>soon</Timeout></ContinuousMove>",
                "AUTH",
            ),
            400,
            ["Sender", "InvalidArgVal"],
        ),
        (
            "bad_bool",
            _envelope(
                f'<Stop xmlns="{NS["tptz"]}"><ProfileToken>{PROFILE}</ProfileToken>'
                "<PanTilt>maybe</PanTilt></Stop>",
                "AUTH",
            ),
            400,
            ["Sender", "InvalidArgVal"],
        ),
        (
            "entity_bomb",
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            + _envelope("<x>&b;</x>"),
            400,
            ["Sender", "WellFormed"],
        ),
    ],
)
def test_malformed_soap_gets_a_fault(camera, name, data, status, codes):
    header = {
        "AUTH": _security_header(),
        "BAD": _security_header("wrong"),
        "STALE": _security_header(created=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)),
    }
    for marker, value in header.items():
        data = data.replace(marker.encode(), value.encode()) if b"<s:Body>" in data else data
    response = httpx.post(
        camera.onvif_url, content=data, headers={"Content-Type": "application/soap+xml"}, timeout=10
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/soap+xml")
    assert _fault_codes(response) == codes


def test_bad_http_gets_a_status_and_server_survives(camera):
    base = camera.onvif_url.rsplit("/onvif/", 1)[0]
    with httpx.Client(timeout=10) as client:
        assert client.get(camera.onvif_url).status_code == 405
        assert client.get(f"{base}/nothing/here").status_code == 404
        big = client.post(camera.onvif_url, content=b"x" * (2 * 1024 * 1024))
        assert big.status_code == 413
        chunked = client.post(camera.onvif_url, content=iter([b"<a/>"]))
        assert chunked.status_code == 411
    # A client that sends half a request and vanishes, and one that never sends.
    import socket

    port = camera.onvif_port
    for payload in (
        b"POST /onvif/device_service HTTP/1.1\r\nContent-Length: 100\r\n\r\n<s:Env",
        b"",
    ):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(payload)
        sock.close()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"NONSENSE\r\n\r\n")
    assert sock.recv(100).startswith(b"HTTP/1.1 400")
    sock.close()
    ok = httpx.post(
        camera.onvif_url,
        content=_envelope(f'<GetSystemDateAndTime xmlns="{NS["tds"]}"/>'),
        headers={"Content-Type": "application/soap+xml"},
        timeout=10,
    )
    assert ok.status_code == 200


# /sim/state and the snapshot ----------------------------------------------------------


def test_sim_state_over_http_matches_python(camera):
    base = camera.onvif_url.rsplit("/onvif/", 1)[0]
    state = httpx.get(f"{base}/sim/state", timeout=10).json()
    local = camera.state()
    assert set(state) >= {"pose", "calibration", "private_zones", "signature_rgb"}
    assert state["signature_rgb"] == [255, 0, 255]
    assert state["private_zones"] == local["private_zones"]
    assert len(state["private_zones"]) >= 2
    assert all(
        set(z) == {"name", "polygon"} and len(z["polygon"][0]) == 2 for z in state["private_zones"]
    )
    assert state["pose"] == pytest.approx(local["pose"], abs=1e-6) or state["moving"]["pan_tilt"]
    assert state["calibration"]["pan_min"] == -180.0
    assert state["calibration_notes"]["max_speed"]["pan_deg_s"] == 90.0
    # The VMS's own calibration type reads it as is.
    from vms.camera_model import Calibration

    assert Calibration.from_dict(state["calibration"]).hfov_wide == 60.0


def test_sim_state_refuses_non_loopback_peers():
    from onvif_control.simulator.http_server import HttpRequest
    from onvif_control.simulator.onvif_service import OnvifService

    service = OnvifService.__new__(OnvifService)
    request = HttpRequest("GET", "/sim/state", {}, {}, b"", "192.0.2.7")
    assert service._state_response(request).status == 403


def test_snapshot_needs_auth(camera):
    assert httpx.get(camera.snapshot_url, timeout=10).status_code == 401
    challenge = httpx.get(camera.snapshot_url, timeout=10).headers["www-authenticate"]
    assert challenge.startswith("Digest ") and 'qop="auth"' in challenge
    bad = httpx.get(camera.snapshot_url, auth=httpx.DigestAuth(USERNAME, "nope"), timeout=10)
    assert bad.status_code == 401
    started = time.monotonic()
    good = httpx.get(camera.snapshot_url, auth=httpx.DigestAuth(USERNAME, PASSWORD), timeout=10)
    assert good.status_code == 200 and good.headers["content-type"] == "image/jpeg"
    assert good.content[:2] == b"\xff\xd8"
    assert time.monotonic() - started < 5


def test_the_schema_check_can_fail():
    """Guard against a vacuous XSD check: a response with a wrong element is rejected."""
    schema = _schema("ptz.wsdl")
    bad = etree.fromstring(
        f'<tptz:GetStatusResponse xmlns:tptz="{NS["tptz"]}" xmlns:tt="http://www.onvif.org/ver10/schema">'
        "<tptz:PTZStatus><tt:Bogus/><tt:UtcTime>2026-01-01T00:00:00Z</tt:UtcTime></tptz:PTZStatus>"
        "</tptz:GetStatusResponse>"
    )
    assert not schema.validate(bad)
