"""The retention API's models (web/schemas/retention.py): request bodies become the
services' command values; domain records are written as the JSON the API always wrote."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from pydantic import TypeAdapter

from retention.commands import NewPreservationRequest, Requester, ScopePart
from retention.holds import Window
from retention.records import DestructionEntry, PreservationRecord, PurgeInProgress
from vms.errors import InvalidArgument
from web.contract import parse_model
from web.schemas.retention import (
    CaseStateIn,
    NewHoldIn,
    NewPreservationIn,
    PreservationCreatedOut,
    PreservationSummaryOut,
    ReleaseHoldIn,
)

T = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def written(model: type, value: object) -> dict[str, object]:
    adapter = TypeAdapter(model)
    return dict(json.loads(adapter.dump_json(adapter.validate_python(value, from_attributes=True))))


def test_a_request_body_becomes_a_frozen_command_with_empty_text_as_absent() -> None:
    command = parse_model(
        NewPreservationIn,
        {
            "request_number": " PR-1 ",
            "requester": {"name": "Counsel", "organization": "  ", "contact": None},
            "received_at": "2026-11-20T10:00:00+01:00",
            "received_via": "oral",
            "reason": "claim",
            "case_number": "",
            "scope": [{"device_id": "CAM-1", "start": "2026-11-01T00:00Z", "end": T.isoformat()}],
            "media_ids": ["m-1", "m-2"],
        },
    ).command()
    assert command == NewPreservationRequest(
        request_number="PR-1",
        requester=Requester("Counsel", None, None),
        received_at=T,
        received_via="oral",
        reason="claim",
        case_number=None,
        scope=(ScopePart(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), T, "CAM-1", None),),
        media_ids=("m-1", "m-2"),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.reason = "other"  # type: ignore[misc]
    assert parse_model(ReleaseHoldIn, {"notice": "  "}).command().notice is None


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (CaseStateIn, {"state": "reopened"}, "state: 'reopened' must be one of 'open' or 'closed'"),
        (CaseStateIn, {}, "state is required"),
        (NewHoldIn, {"reference": "LH", "reason": "r", "media_ids": "m-1"}, "media_ids: 'm-1'"),
        (
            NewHoldIn,
            {"reference": "LH", "reason": "r", "media_ids": [""]},
            "media_ids[0]: '' is empty",
        ),
        (NewHoldIn, {"reference": "LH", "reason": "r", "until": "x"}, "until is not a field"),
        (ReleaseHoldIn, {"notice": 7}, "notice: 7 is not a string"),
    ],
)
def test_request_models_refuse_naming_the_field_and_the_value(
    model: type, data: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse_model(model, data)
    assert message in refused.value.message


def record(**over: object) -> PreservationRecord:
    base: dict[str, object] = dict(
        id="p-1",
        request_number="PR-1",
        requester=Requester("Counsel", None, "x@y"),
        received_at=T,
        received_via="written",
        received_by="commander",
        reason="claim",
        litigation_anticipated=False,
        case_number=None,
        scope=(Window(T, T + dt.timedelta(hours=1), device_id="CAM-1"),),
        media_ids=("m-1",),
        state="active",
        form_media_id=None,
        created_at=T,
        created_by="commander",
        released_at=None,
        released_by=None,
        release_notice=None,
        release_reason=None,
        pinned=("m-1",),
        already_purged=(),
    )
    base.update(over)
    return PreservationRecord(**base)  # type: ignore[arg-type]


def test_a_request_is_written_as_the_api_always_wrote_it() -> None:
    gone = DestructionEntry(
        id=3,
        media_id="m-0",
        sha256="ab" * 32,
        source="fixed",
        device_id="CAM-1",
        officer_badge=None,
        recorded_start=T,
        recorded_end=None,
        size_bytes=10,
        case_number=None,
        rule="RET-1 fixed 30 days",
        expired_at=T,
        purged_at=T,
        run_id="r-1",
    )
    value = record(already_purged=(gone, PurgeInProgress("m-9")), rescued_from_purge=("m-1",))
    out = written(PreservationCreatedOut, value)
    # The scope part names only its subject; times are ISO 8601 with Z; nulls stay.
    assert out["scope"] == [
        {"start": "2026-11-20T09:00:00Z", "end": "2026-11-20T10:00:00Z", "device_id": "CAM-1"}
    ]
    assert out["requester"] == {"name": "Counsel", "organization": None, "contact": "x@y"}
    assert out["released_at"] is None and out["received_at"] == "2026-11-20T09:00:00Z"
    first, second = out["already_purged"]  # type: ignore[misc]
    assert first["recorded_end"] is None and first["purged_at"] == "2026-11-20T09:00:00Z"
    assert second == {"media_id": "m-9", "state": "destruction in progress"}
    assert out["already_purged_count"] == 1  # destruction records, not those in progress
    assert out["pinned_count"] == 1 and out["rescued_from_purge"] == ["m-1"]
    # The log's summary leaves the lists out.
    summary = written(PreservationSummaryOut, value)
    assert not {"pinned", "already_purged", "rescued_from_purge"} & set(summary)
