"""Devices API models (issue #10.1)."""

from __future__ import annotations

from typing import Literal

from web.contract import OutTime, RequestModel, ResponseModel


class AssignIn(RequestModel):
    """Registers a device never seen before with this kind (default ``bwc``)."""

    kind: Literal["bwc", "dash", "handheld"] | None = None


class DeviceOut(ResponseModel):
    id: str
    kind: str
    name: str
    created_at: OutTime
    officers: list[str]


class DeviceListOut(ResponseModel):
    assignment_enforced: bool
    devices: list[DeviceOut]
