"""Names people recognise for catalog items (issue 15.5): a fixed camera's name and
location, a body-worn or dash camera's officer, and a readable title for recorder
segments, instead of the internal ids the catalog stores.

Nothing here changes what is stored: the names are looked up when an item is shown, in
a few batched queries per page (cameras, devices, officers, assignments), so a camera
renamed later shows its new name on its old segments too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vms.db.models import Camera, Device, DeviceAssignment, MediaItem, Officer, SourceKind

# Sources whose device is issued to an officer (issue #10.1).
ISSUED_SOURCES = frozenset({SourceKind.BWC.value, SourceKind.DASH.value, SourceKind.HANDHELD.value})


@dataclass(frozen=True)
class ItemNames:
    """What an item is called on the pages and in the API, beside its ids."""

    device_name: str | None  # the camera's or device's name
    device_location: str | None  # a fixed camera's location, when set
    officer_label: str | None  # "Name (badge)" of the item's officer or the device's
    display_title: str  # the title a person gave it, or camera name and time
    # The recorded time a made-up title ends with (``display_title`` ends with
    # ``stamp(title_at)``), so a page can show it on the agency's clock; None when the
    # title is a person's or a file name, shown as stored. Not in the API (UTC there).
    title_at: dt.datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "device_name": self.device_name,
            "device_location": self.device_location,
            "officer_label": self.officer_label,
            "display_title": self.display_title,
        }


def officer_label(badge: str, name: str | None) -> str:
    """``Jane Roe (B1)``, or the badge alone when the officer has no name on record."""
    return f"{name} ({badge})" if name else badge


def stamp(at: dt.datetime, zone: dt.tzinfo = dt.UTC) -> str:
    """A recorded time as shown in titles: ``2026-11-20 12:00:00 UTC`` (the API's), or on
    ``zone``'s clock with its name (the pages': ``2026-11-20 06:00:00 CST``)."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def shown_title(display_title: str, title_at: dt.datetime | None, zone: dt.tzinfo) -> str:
    """``display_title`` with the time of a made-up title on ``zone``'s clock; a person's
    title (``title_at`` None) unchanged, whatever it says."""
    if title_at is None:
        return display_title
    return display_title.removesuffix(stamp(title_at)) + stamp(title_at, zone)


def is_recorder_title(item: MediaItem) -> bool:
    """True for the title the recorder gives its segments (``<camera id> <time>Z``) or
    none: those are replaced by the camera's name and the time."""
    return item.title is None or item.title.startswith(f"{item.device_id} ")


def load_names(session: Session, items: Sequence[MediaItem]) -> dict[str, ItemNames]:
    """The names of ``items`` by media id, from at most three batched queries (devices
    with their cameras, officers, and device assignments when an item names no
    officer)."""
    if not items:
        return {}
    device_ids = sorted({i.device_id for i in items})
    # One query for devices and the cameras among them (a camera's id is its device id).
    cameras: dict[str, tuple[str, str | None]] = {}
    devices: dict[str, str] = {}
    for device_id, device_name, camera_name, location in session.execute(
        select(Device.id, Device.name, Camera.name, Camera.location)
        .outerjoin(Camera, Camera.id == Device.id)
        .where(Device.id.in_(device_ids))
    ):
        devices[device_id] = device_name
        if camera_name is not None:
            cameras[device_id] = (camera_name, location)
    # Assignments only for issued devices of items that name no officer (rare: uploads
    # and dock imports record the officer), so most pages skip this query.
    issued = sorted(
        {i.device_id for i in items if i.source in ISSUED_SOURCES and not i.officer_badge}
    )
    assigned: dict[str, list[str]] = {}
    if issued:
        for device_id, badge in session.execute(
            select(DeviceAssignment.device_id, DeviceAssignment.officer_badge)
            .where(DeviceAssignment.device_id.in_(issued))
            .order_by(DeviceAssignment.device_id, DeviceAssignment.officer_badge)
        ):
            assigned.setdefault(device_id, []).append(badge)
    badges = {i.officer_badge for i in items if i.officer_badge}
    badges.update(b for group in assigned.values() for b in group)
    officers: dict[str, str | None] = {}
    if badges:
        officers = {
            badge: name
            for badge, name in session.execute(
                select(Officer.badge, Officer.name).where(Officer.badge.in_(sorted(badges)))
            )
        }
    return {i.id: _names(i, cameras, devices, assigned, officers) for i in items}


def _names(
    item: MediaItem,
    cameras: dict[str, tuple[str, str | None]],
    devices: dict[str, str],
    assigned: dict[str, list[str]],
    officers: dict[str, str | None],
) -> ItemNames:
    camera = cameras.get(item.device_id)
    device_name = camera[0] if camera else devices.get(item.device_id)
    location = camera[1] if camera else None
    if item.officer_badge:
        label: str | None = officer_label(item.officer_badge, officers.get(item.officer_badge))
    elif assigned.get(item.device_id):
        # An item brought in without an officer: the officers its device is issued to.
        label = ", ".join(officer_label(b, officers.get(b)) for b in assigned[item.device_id])
    else:
        label = None
    title_at: dt.datetime | None = None
    if item.source == SourceKind.FIXED.value and is_recorder_title(item):
        title_at = item.recorded_start
        title = f"{device_name or item.device_id} · {stamp(title_at)}"
    elif item.title:
        title = item.title
    elif item.original_filename:
        title = item.original_filename
    else:
        who = label or device_name or item.device_id
        title_at = item.recorded_start
        title = f"{who} · {stamp(title_at)}"
    return ItemNames(device_name, location, label, title, title_at)
