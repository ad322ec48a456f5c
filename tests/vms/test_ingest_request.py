"""validate_request keeps every field of the request it does not check (INV-1).

It once rebuilt the request field by field, so a field added to IngestRequest was
silently dropped unless it was added there too (found when the continued-segment flag
was). This test sets every field to a value that is not its default; a field that
validation loses fails it, naming the field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from vms.categories import Category, CategoryList
from vms.db.models import SourceKind
from vms.ingest_request import IngestRequest, Origin, validate_request
from vms.markers import DeviceMarker, MarkerKind

START = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


def _hook(*args: object) -> None:
    return None


def _superseded(*args: object) -> dict[str, str]:
    return {}


# What validation normalises, and to what, for the values below.
NORMALISED = {
    "device_id": "dash-7",
    "officer_badge": "4711",
    "title": "Traffic stop",
    "categories": ("Evidence",),
    "case_number": "C-1",
    "incident_number": "I-2",
    "original_filename": "clip.mp4",
    "expected_sha256": "ab" * 32,
}


def test_validation_keeps_every_field_it_does_not_normalise_INV_1() -> None:
    request = IngestRequest(
        source=SourceKind.DASH,
        device_id="  dash-7 ",
        officer_badge=" 4711 ",
        recorded_at=START,
        recorded_end=START + dt.timedelta(minutes=5),
        title=" Traffic stop ",
        categories=("evidence",),
        case_number=" C-1 ",
        incident_number=" I-2 ",
        original_filename="clip.mp4",
        derived_from="parent-id",
        expected_size=1234,
        expected_sha256="AB" * 32,
        custody_details={"upload_id": "u-1"},
        origin=Origin.USER,
        pre_event_buffer_seconds=30,
        markers=(DeviceMarker(MarkerKind.MUTE, START + dt.timedelta(minutes=1), "privacy"),),
        fence=7,
        superseded=_superseded,
        catalogued=_hook,
        continues_without_keyframe=True,
    )
    defaults = IngestRequest(source=SourceKind.FIXED, device_id="x")
    for f in dataclasses.fields(IngestRequest):
        assert getattr(request, f.name) != getattr(defaults, f.name), (
            f"set {f.name} to a value that is not its default, so losing it shows"
        )

    checked = validate_request(request, CategoryList((Category("Evidence", evidence=True),)))

    for f in dataclasses.fields(IngestRequest):
        want = NORMALISED.get(f.name, getattr(request, f.name))
        assert getattr(checked, f.name) == want, f"{f.name} was not kept by validation"
