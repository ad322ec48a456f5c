"""The ONVIF adapter: the only package that imports ``onvif`` (onvif-zeep-async),
``zeep`` or ``aiohttp`` (ARCHITECTURE section 2; the camera simulator, a test peer,
speaks SOAP with its own lxml code).

One module per concept (docs/design/ptz-arbitration.md, "Adapter"):

- :mod:`~onvif_control.adapter.device`: one camera, :class:`OnvifDevice`;
- :mod:`~onvif_control.adapter.status`: the lean ``GetStatus`` the pose tracker polls;
- :mod:`~onvif_control.adapter.faults`: vendor faults and transport errors into our
  error kinds, the one place (:func:`translate`);
- :mod:`~onvif_control.adapter.models`: the dataclasses that cross the boundary;
- :mod:`~onvif_control.adapter.parsers`: pure readers of replies and device URLs.

The names other modules use are re-exported here, lazily: importing the package (or its
light modules ``models`` and ``parsers``) does not import ``onvif``, ``zeep`` and
``aiohttp`` (about 0.25 s), so a ``vms`` command that talks to no camera does not pay for
them; the first use of :class:`OnvifDevice` or :func:`translate` does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from onvif_control.adapter.models import Description, DeviceInfo, Preset, Profile, PtzStatus
from onvif_control.adapter.parsers import onvif_endpoint, parse_onvif_url, plain

if TYPE_CHECKING:
    from onvif_control.adapter.device import DEFAULT_TIMEOUT, OnvifDevice
    from onvif_control.adapter.faults import translate

_LAZY = {
    "DEFAULT_TIMEOUT": "onvif_control.adapter.device",
    "OnvifDevice": "onvif_control.adapter.device",
    "translate": "onvif_control.adapter.faults",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_TIMEOUT",
    "Description",
    "DeviceInfo",
    "OnvifDevice",
    "Preset",
    "Profile",
    "PtzStatus",
    "onvif_endpoint",
    "parse_onvif_url",
    "plain",
    "translate",
]
