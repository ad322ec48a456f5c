"""What the ONVIF handlers share: the device context, tokens, space URIs, value parsing."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from onvif_control.simulator.ptz_unit import PtzUnit
from onvif_control.simulator.soap import NS, sender_fault

# ONVIF reference tokens (names of entities), not secrets.
PROFILE_TOKEN = "profile_1"  # noqa: S105
VIDEO_SOURCE_TOKEN = "video_source_1"  # noqa: S105
VIDEO_SOURCE_CONFIG_TOKEN = "video_source_config_1"  # noqa: S105
VIDEO_ENCODER_CONFIG_TOKEN = "video_encoder_config_1"  # noqa: S105
PTZ_NODE_TOKEN = "ptz_node_1"  # noqa: S105
PTZ_CONFIG_TOKEN = "ptz_config_1"  # noqa: S105

_SPACES = "http://www.onvif.org/ver10/tptz/"
PT_POSITION = _SPACES + "PanTiltSpaces/PositionGenericSpace"
Z_POSITION = _SPACES + "ZoomSpaces/PositionGenericSpace"
PT_TRANSLATION = _SPACES + "PanTiltSpaces/TranslationGenericSpace"
Z_TRANSLATION = _SPACES + "ZoomSpaces/TranslationGenericSpace"
PT_VELOCITY = _SPACES + "PanTiltSpaces/VelocityGenericSpace"
Z_VELOCITY = _SPACES + "ZoomSpaces/VelocityGenericSpace"
PT_SPEED = _SPACES + "PanTiltSpaces/GenericSpeedSpace"
Z_SPEED = _SPACES + "ZoomSpaces/ZoomGenericSpeedSpace"

#: ContinuousMove without Timeout stops after this long (PTZConfiguration DefaultPTZTimeout).
DEFAULT_PTZ_TIMEOUT = 10.0
MAX_PTZ_TIMEOUT = 300.0


@dataclass
class OnvifContext:
    """Everything the SOAP handlers of one camera read or command.

    The URL fields are filled in once the servers are bound (ports may be ephemeral).
    """

    name: str
    serial: str
    size: tuple[int, int]
    fps: int
    gop: int
    ptz: PtzUnit
    utc_now: Callable[[], dt.datetime]
    # Media SetSynchronizationPoint: forces the next frame to be an IDR; None: the camera
    # does not support it (ActionNotSupported).
    synchronization_point: Callable[[], None] | None = None
    device_xaddr: str = ""
    media_xaddr: str = ""
    ptz_xaddr: str = ""
    rtsp_url: str = ""
    # What GetStreamUri answers; some cameras put ``user:password@`` in it.
    stream_uri: str = ""
    snapshot_url: str = ""
    # A fault to inject: GetStatus answers these texts as the position's x, y and zoom
    # (a broken or hostile camera: "NaN", "INF", "1e308"); None: the true position.
    position_texts: tuple[str, str, str] | None = None
    # A fault to inject: GetStatus answers this as its UtcTime (None: the clock's time).
    utc_text: str | None = None
    # The media profile's token (a broken camera may answer one of kilobytes).
    profile_token: str = PROFILE_TOKEN
    manufacturer: str = "VMS project"
    model: str = "Simulated PTZ camera"
    firmware: str = "0.1.0"


def child(element: etree._Element, name: str, prefix: str = "") -> etree._Element | None:
    """First child with local name ``name`` (any namespace unless ``prefix`` is given)."""
    if prefix:
        return element.find(f"{prefix}:{name}", NS)
    for item in element:
        if isinstance(item.tag, str) and etree.QName(item).localname == name:
            return item
    return None


def child_text(element: etree._Element, name: str) -> str | None:
    """Stripped text of child ``name``, or ``None`` if absent."""
    found = child(element, name)
    if found is None:
        return None
    return (found.text or "").strip()


def required_text(element: etree._Element, name: str) -> str:
    """Text of the required child ``name``; a ``ter:InvalidArgVal`` fault if missing."""
    value = child_text(element, name)
    if value is None:
        raise sender_fault(f"missing required element {name}", "InvalidArgVal")
    return value


def parse_bool(text: str | None, default: bool) -> bool:
    """An xs:boolean (``true``/``false``/``1``/``0``); ``default`` when absent."""
    if text is None:
        return default
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise sender_fault(f"{text!r} is not an xs:boolean", "InvalidArgVal")


def float_attr(element: etree._Element, name: str) -> float:
    """A finite xs:float attribute; ``ter:InvalidArgVal`` if missing or not a number."""
    raw = element.get(name)
    if raw is None:
        raise sender_fault(
            f"{etree.QName(element).localname} lacks attribute {name}", "InvalidArgVal"
        )
    try:
        value = float(raw)
    except ValueError:
        raise sender_fault(f"{name}={raw!r} is not a number", "InvalidArgVal") from None
    if not math.isfinite(value):
        raise sender_fault(f"{name}={raw!r} is not finite", "InvalidArgVal")
    return value


def check_space(element: etree._Element, expected: str, subcode: str) -> None:
    """Fault ``ter:InvalidArgVal/ter:SpaceNotSupported`` if ``space`` names another space."""
    space = element.get("space")
    if space is not None and space != expected:
        raise sender_fault(f"space {space!r} is not supported (use {expected})", subcode)


_DURATION = re.compile(
    r"^P(?!$)(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float:
    """Seconds in an xs:duration without years or months (``PT5S``, ``PT1M0.5S``, ``P0DT1H``)."""
    match = _DURATION.match(text.strip())
    if not match:
        raise sender_fault(f"{text!r} is not an xs:duration like PT5S", "InvalidArgVal")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def duration(seconds: float) -> str:
    """An xs:duration for a number of seconds (``PT10S``)."""
    return f"PT{seconds:g}S"


def utc_text(when: dt.datetime) -> str:
    """An xs:dateTime in UTC with a ``Z`` suffix."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
