"""What crosses the ONVIF adapter's boundary: plain frozen dataclasses in the ONVIF
generic spaces (pan/tilt -1..1, zoom 0..1). No ``onvif``/``zeep`` types leave the
adapter; the rest of the system reads these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None


@dataclass(frozen=True)
class Profile:
    token: str
    name: str | None
    width: int | None
    height: int | None
    encoding: str | None
    ptz: bool


@dataclass(frozen=True)
class Preset:
    token: str
    name: str | None
    x: float | None
    y: float | None
    zoom: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, "name": self.name, "x": self.x, "y": self.y, "zoom": self.zoom}


@dataclass(frozen=True)
class PtzStatus:
    """``GetStatus`` in the generic spaces; ``utc`` is the camera's time if it sent one."""

    x: float
    y: float
    zoom: float
    moving: bool
    utc: dt.datetime | None = None


@dataclass(frozen=True)
class Description:
    """Everything onboarding reads from a camera."""

    info: DeviceInfo
    profiles: list[Profile]
    main_profile: str
    sub_profile: str | None
    main_stream_uri: str | None
    sub_stream_uri: str | None
    ptz_supported: bool
    ptz_node: dict[str, Any] = field(default_factory=dict)
    ptz_configuration: dict[str, Any] = field(default_factory=dict)
    presets: list[Preset] = field(default_factory=list)
