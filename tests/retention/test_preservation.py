"""Written preservation requests (RET-2, RET-3, RET-8, RET-9) and legal holds (RET-10):
pinning now and later, already purged parts, bad input, permissions."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from sqlalchemy import select

from retention.commands import (
    NewLegalHold,
    NewPreservationRequest,
    ReleaseLegalHold,
    ReleasePreservation,
)
from retention.plugin import Retention
from retention.records import DestructionEntry
from tests.retention.conftest import (
    DAY,
    active_holds,
    document,
    exists,
    ingest,
    item,
    preservation_command,
)
from vms.auth.permissions import Actor
from vms.clock import ManualClock, isoformat
from vms.db.models import AuditEntry, MediaHold, MediaItem, SourceKind
from vms.errors import Conflict, InvalidArgument, PermissionDenied
from vms.services import Services


def body(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "request_number": "PR-2026-001",
        "requester": {"name": "A. Counsel", "organization": "City Attorney", "contact": "x@y"},
        "received_at": "2026-11-20T09:00:00Z",
        "received_via": "written",
        "reason": "claim about an incident at 5th and Main",
        "litigation_anticipated": True,
        "case_number": "C-1",
        "scope": [],
        "media_ids": [],
    }
    base.update(over)
    return base


def request(**over: Any) -> NewPreservationRequest:
    return preservation_command(body(**over))


def window(start: dt.datetime, end: dt.datetime, **who: str) -> dict[str, str]:
    return {**who, "start": isoformat(start) or "", "end": isoformat(end) or ""}


def test_fixed_segment_pinned_on_day_29_survives_day_31_RET_1_RET_2(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    recorded = clock.now()
    media = ingest(timed, recorded_at=recorded)
    other = ingest(timed, device="CAM-2", recorded_at=recorded)
    clock.advance(29 * DAY)
    out = retention.preservation.create(
        actors["commander"],
        request(
            scope=[
                window(
                    recorded - dt.timedelta(hours=1),
                    recorded + dt.timedelta(hours=1),
                    device_id="CAM-1",
                )
            ]
        ),
    )
    assert out.state == "active" and out.pinned == (media,) and out.already_purged == ()
    row = item(timed, media)
    assert row is not None and row.evidence  # RET-2: pinned footage is evidence
    assert row.expires_at is None and row.retention_rule == "RET-2 preservation request PR-2026-001"
    clock.advance(2 * DAY)  # day 31
    retention.purger.run()
    assert exists(timed, media) and item(timed, other) is None


def test_request_pins_items_ingested_later_in_scope_RET_2(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    """A BWC video uploaded days after the request is pinned at ingest."""
    incident = clock.now() - DAY
    retention.preservation.create(
        actors["commander"],
        request(scope=[window(incident, incident + dt.timedelta(hours=2), officer_badge="B1")]),
    )
    clock.advance(3 * DAY)
    late = ingest(
        timed,
        source=SourceKind.BWC,
        device="BWC-9",
        officer="B1",
        recorded_at=incident + dt.timedelta(minutes=30),
    )
    outside = ingest(
        timed,
        source=SourceKind.BWC,
        device="BWC-9",
        officer="B1",
        recorded_at=incident + dt.timedelta(hours=5),
    )
    assert item(timed, late).retention_rule.startswith("RET-2")  # type: ignore[union-attr]
    assert item(timed, outside).retention_rule == "RET-4 bwc 90 days"  # type: ignore[union-attr]
    [logged] = retention.preservation.log(actors["investigator"])
    assert logged.pinned_count == 1
    clock.advance(400 * DAY)
    retention.purger.run()
    assert exists(timed, late) and item(timed, outside) is None


def test_response_names_the_parts_already_purged_RET_2_RET_13(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    start = clock.now() - 40 * DAY
    gone = ingest(timed, recorded_at=start)
    retention.purger.run()
    kept = ingest(timed, recorded_at=clock.now() - DAY)
    out = retention.preservation.create(
        actors["commander"],
        request(
            scope=[window(start - DAY, clock.now(), device_id="CAM-1")],
            media_ids=[gone],
        ),
    )
    assert out.pinned == (kept,)
    [record] = out.already_purged
    assert isinstance(record, DestructionEntry)
    assert record.media_id == gone and record.rule == "RET-1 fixed 30 days"
    assert record.sha256 and record.purged_at
    again = retention.preservation.get(actors["auditor"], out.id)
    assert [r.media_id for r in again.already_purged] == [gone]


def test_release_keeps_evidence_retention_RET_2_RET_7(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    media = ingest(timed, recorded_at=clock.now())
    out = retention.preservation.create(actors["commander"], request(media_ids=[media]))
    with pytest.raises(InvalidArgument, match="notice"):
        retention.preservation.release(
            actors["commander"], out.id, ReleasePreservation(notice="", reason="done")
        )
    released = retention.preservation.release(
        actors["commander"], out.id, ReleasePreservation("NOTICE-1", "claim settled")
    )
    assert released.state == "released" and released.release_notice == "NOTICE-1"
    row = item(timed, media)
    assert row is not None and row.retention_rule == "RET-7 evidence 1461 days"
    with pytest.raises(Conflict):
        retention.preservation.release(
            actors["commander"], out.id, ReleasePreservation("N", "again")
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "scope": [
                    {"device_id": "CAM-1", "start": "2026-11-02T00:00Z", "end": "2026-11-01T00:00Z"}
                ]
            },
            "not before end",
        ),
        (
            {
                "scope": [
                    {
                        "device_id": "CAM-1",
                        "start": "2026-11-01T00:00Z",
                        "end": "2026-11-01T06:00Z",
                    },
                    {
                        "device_id": "CAM-1",
                        "start": "2026-11-01T05:00Z",
                        "end": "2026-11-01T08:00Z",
                    },
                ]
            },
            "overlap",
        ),
        (
            {
                "scope": [
                    {
                        "device_id": "NO-SUCH-CAM",
                        "start": "2026-11-01T00:00Z",
                        "end": "2026-11-01T06:00Z",
                    }
                ]
            },
            "unknown camera",
        ),
        (
            {
                "scope": [
                    {
                        "officer_badge": "B999",
                        "start": "2026-11-01T00:00Z",
                        "end": "2026-11-01T06:00Z",
                    }
                ]
            },
            "unknown officer",
        ),
        (
            {
                "scope": [
                    {
                        "device_id": "CAM-1",
                        "officer_badge": "B1",
                        "start": "2026-11-01T00:00Z",
                        "end": "2026-11-01T06:00Z",
                    }
                ]
            },
            "exactly one",
        ),
        (
            {
                "scope": [
                    {"device_id": "CAM-1", "start": "2026-11-01T00:00", "end": "2026-11-01T06:00Z"}
                ]
            },
            "offset",
        ),
        ({"received_via": "carrier pigeon"}, "received_via"),
        ({"media_ids": ["no-such-id"]}, "unknown media"),
        ({"scope": [], "media_ids": []}, "no scope"),
        ({"requester": {"organization": "x"}}, "requester.name"),
    ],
    ids=[
        "inverted",
        "overlapping",
        "unknown-camera",
        "unknown-officer",
        "both",
        "naive",
        "via",
        "media",
        "empty",
        "requester",
    ],
)
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # validation, not storage
def test_bad_requests_are_refused_with_the_reason_RET_3(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    change: dict[str, Any],
    message: str,
) -> None:
    ingest(timed, recorded_at=clock.now())  # CAM-1 exists
    with pytest.raises(InvalidArgument, match=message):
        retention.preservation.create(actors["commander"], request(**change))
    assert retention.preservation.log(actors["commander"]) == ()


def test_duplicate_request_number_is_a_conflict_RET_3(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    media = ingest(timed, recorded_at=clock.now())
    retention.preservation.create(actors["commander"], request(media_ids=[media]))
    with pytest.raises(Conflict):
        retention.preservation.create(actors["admin"], request(media_ids=[media]))


def test_the_same_request_logged_twice_is_answered_with_the_first_RET_3(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    """RET-3, ACC-6: the preservation page's form sent twice (a double-click, a retry)
    logged the request and answered the second post with "already logged" (409), in the
    form, as if the request had not been logged by this user just now. The same request
    asked again by the same user within the repeat window is answered with the first,
    logged and audited once; another user, or other answers, under the number stay a
    409."""
    media = ingest(timed, recorded_at=clock.now())
    scope = [window(clock.now() - DAY, clock.now(), device_id="CAM-1")]
    first = retention.preservation.create(
        actors["commander"], request(media_ids=[media], scope=scope)
    )
    again = retention.preservation.create(
        actors["commander"], request(media_ids=[media], scope=scope)
    )
    assert again.id == first.id and again.pinned == first.pinned
    with pytest.raises(Conflict, match="already logged"):
        retention.preservation.create(actors["commander"], request(media_ids=[media]))
    with pytest.raises(Conflict, match="already logged"):
        retention.preservation.create(actors["admin"], request(media_ids=[media], scope=scope))
    with timed.db.session() as s:
        created = select(AuditEntry).where(AuditEntry.action == "preservation.create")
        assert len(s.execute(created).scalars().all()) == 1


@pytest.mark.parametrize("role", ["officer", "investigator"])
def test_only_data_stewards_log_requests_and_holds_denials_audited_RET_10(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor], role: str
) -> None:
    media = ingest(timed, recorded_at=clock.now())
    with pytest.raises(PermissionDenied):
        retention.preservation.create(actors[role], request(media_ids=[media]))
    with pytest.raises(PermissionDenied):
        retention.legal_holds.create(actors[role], NewLegalHold("LH", "r", (media,)))
    with timed.db.session() as s:
        denied = list(
            s.execute(
                select(AuditEntry.action).where(
                    AuditEntry.outcome == "denied", AuditEntry.actor == role
                )
            ).scalars()
        )
    assert denied == ["preservation.manage", "retention.manage"]


def test_legal_hold_release_needs_the_notice_RET_10(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    media = ingest(timed, recorded_at=clock.now())
    hold = retention.legal_holds.create(actors["admin"], NewLegalHold("LH-7", "suit", (media,)))
    assert hold.pinned == (media,) and hold.state == "active"
    with pytest.raises(InvalidArgument, match="release notice"):
        retention.legal_holds.release(actors["admin"], hold.id, ReleaseLegalHold())
    with pytest.raises(InvalidArgument, match="release notice"):
        retention.legal_holds.release(actors["admin"], hold.id, ReleaseLegalHold("  "))
    assert item(timed, media).expires_at is None  # type: ignore[union-attr]
    out = retention.legal_holds.release(actors["commander"], hold.id, ReleaseLegalHold("RN-1"))
    assert out.state == "released" and out.release_notice == "RN-1"


def test_the_release_form_sent_again_is_answered_with_the_hold_it_released_RET_10_ACC_6(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    """ACC-6: ``ReleaseLegalHold.form_key`` tells the page form sent again from a second
    attempt: the first is answered with the hold, released and audited once; another
    key, no key, another notice or another user is refused (409)."""
    media = ingest(timed, recorded_at=clock.now())
    hold = retention.legal_holds.create(actors["admin"], NewLegalHold("LH-9", "suit", (media,)))
    sent = ReleaseLegalHold("RN-9", form_key="key-1")
    first = retention.legal_holds.release(actors["commander"], hold.id, sent)
    assert retention.legal_holds.release(actors["commander"], hold.id, sent) == first
    for user, notice, key in (
        ("commander", "RN-9", "key-2"),
        ("commander", "RN-9", None),
        ("commander", "RN-10", "key-1"),
        ("admin", "RN-9", "key-1"),
    ):
        with pytest.raises(Conflict, match="'LH-9' is already released"):
            retention.legal_holds.release(actors[user], hold.id, ReleaseLegalHold(notice, key))
    with timed.db.session() as s:
        released = s.execute(select(AuditEntry).where(AuditEntry.action == "legal_hold.release"))
        assert [e.details.get("form_key") for e in released.scalars()] == ["key-1"]


@pytest.mark.parametrize(
    ("via", "organization", "litigation", "notify"),
    [
        # RET-9: an oral or electronic request from the public anticipating litigation
        ("oral", "", True, ["supervisor", "municipal attorney"]),
        ("electronic", "", True, ["supervisor", "municipal attorney"]),
        # RET-8: a prosecutor's or counsel's request, nothing to notify
        ("written", "Division of Criminal Justice", False, []),
    ],
)
def test_requests_of_every_kind_pin_and_litigation_notifies_RET_8_RET_9(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    via: str,
    organization: str,
    litigation: bool,
    notify: list[str],
) -> None:
    """Any request (oral, electronic, written; from the public, a prosecutor or counsel)
    pins what it names; one anticipating litigation records the notice to the supervisor
    and the municipal attorney in its audit entry."""
    media = ingest(timed, recorded_at=clock.now())
    out = retention.preservation.create(
        actors["commander"],
        request(
            received_via=via,
            requester={"name": "R. Quester", "organization": organization},
            litigation_anticipated=litigation,
            media_ids=[media],
        ),
    )
    assert out.pinned == (media,)
    row = item(timed, media)
    assert row is not None and row.evidence and row.expires_at is None
    with timed.db.session() as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == "preservation.create")
        ).scalar_one()
        assert entry.details["received_via"] == via
        assert entry.details["notify"] == notify


def test_form_attached_after_the_release_is_logged_but_pins_nothing_RET_2_RET_3(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    """The paperwork of a released request may arrive late: it joins the RET-3 log, but a
    released request holds nothing (RET-2). Before, the form got an active hold of the
    released request, which no release could end (the request was already released):
    kept "while held" forever."""
    media = ingest(timed, recorded_at=clock.now())
    out = retention.preservation.create(actors["commander"], request(media_ids=[media]))
    retention.preservation.release(
        actors["commander"], out.id, ReleasePreservation("NOTICE-1", "claim settled")
    )
    clock.advance(DAY)
    late = retention.preservation.attach_form(
        actors["commander"], out.id, io.BytesIO(document("late form")), "late.pdf"
    )
    form = late.form_media_id
    assert form is not None and late.state == "released"
    assert active_holds(timed, form) == []
    row = item(timed, form)
    assert row is not None and row.retention_rule == "RET-7 evidence 1461 days"
    with pytest.raises(Conflict, match="already released"):
        retention.preservation.release(
            actors["commander"], out.id, ReleasePreservation("NOTICE-2", "again")
        )
    clock.advance(1462 * DAY)
    retention.purger.run()
    assert item(timed, form) is None  # not kept forever by a request that ended


def test_form_outlives_the_release_with_the_evidence_it_pinned_RET_3_RET_7(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    """A request's scanned form is kept at least as long as the footage it pinned: the
    evidence retention (RET-7), not the 90 days of a handheld file counted from when it
    was attached. Before, a request released more than 90 days after its form was
    attached lost the form at the next purge, while its footage stayed four years: the
    RET-3 log entry pointed at a destroyed form."""
    media = ingest(timed, recorded_at=clock.now())
    out = retention.preservation.create(actors["commander"], request(media_ids=[media]))
    attached = retention.preservation.attach_form(
        actors["commander"], out.id, io.BytesIO(document("signed form")), "form.pdf"
    )
    form = attached.form_media_id
    assert form is not None and form in attached.pinned
    clock.advance(120 * DAY)
    retention.preservation.release(
        actors["commander"], out.id, ReleasePreservation("NOTICE-1", "claim settled")
    )
    retention.purger.run()
    assert exists(timed, media) and exists(timed, form)
    row = item(timed, form)
    assert row is not None and row.retention_rule == "RET-7 evidence 1461 days"
    assert row.expires_at is not None
    footage = item(timed, media)
    assert footage is not None and footage.expires_at is not None
    assert row.expires_at >= footage.expires_at
    clock.set(row.expires_at + DAY)
    retention.purger.run(confirm_clock=True)  # years in one step (RET-1 clock guard)
    assert item(timed, media) is None and item(timed, form) is None


def test_release_keeps_a_form_attached_before_forms_were_evidence_RET_3_RET_7(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    """A form attached before forms were marked evidence (a catalog upgraded with active
    requests) is marked at the release, so it is not purged at the next run."""
    media = ingest(timed, recorded_at=clock.now())
    out = retention.preservation.create(actors["commander"], request(media_ids=[media]))
    form = retention.preservation.attach_form(
        actors["commander"], out.id, io.BytesIO(document("old form")), "form.pdf"
    ).form_media_id
    assert form is not None
    with timed.db.transaction() as s:
        s.get_one(MediaItem, form).evidence = False  # as attached before the fix
    clock.advance(120 * DAY)
    retention.preservation.release(
        actors["commander"], out.id, ReleasePreservation("NOTICE-1", "claim settled")
    )
    retention.purger.run()
    row = item(timed, form)
    assert row is not None and exists(timed, form)
    assert row.evidence and row.retention_rule == "RET-7 evidence 1461 days"


def test_form_matching_an_old_form_purged_meanwhile_is_refused_RET_3_RET_1(
    timed: Services,
    retention: Retention,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scanned form's bytes are those of an older form on the records office's
    device, expired (handheld, 90 days: RET-1) and held by nothing: the upload is that
    item (a duplicate), and the purge removes it before the attachment reads it. Before,
    the attachment's ``scalar_one()`` found no row: a 500. Now it is a 409 naming the
    item, and nothing is attached or audited as attached."""
    from retention.preservation import FORMS_DEVICE

    clock = timed.clock
    scan = document("scanned twice")
    old = ingest(
        timed,
        source=SourceKind.HANDHELD,
        device=FORMS_DEVICE,
        recorded_at=clock.now(),
        data=scan,
    )
    clock.advance(91 * DAY)
    out = retention.preservation.create(
        actors["commander"], request(media_ids=[ingest(timed, recorded_at=clock.now())])
    )
    ingestor = retention.preservation.ingestor
    upload = ingestor.ingest

    def purged_after_upload(*args: Any, **kw: Any) -> Any:
        result = upload(*args, **kw)
        assert result.media_id == old and result.duplicate
        retention.purger.run()
        assert item(timed, old) is None
        return result

    monkeypatch.setattr(ingestor, "ingest", purged_after_upload)
    with pytest.raises(Conflict, match=f"{old}.*purged"):
        retention.preservation.attach_form(
            actors["commander"], out.id, io.BytesIO(scan), "form.pdf"
        )
    again = retention.preservation.get(actors["auditor"], out.id)
    assert again.form_media_id is None
    with timed.db.session() as s:
        assert (
            s.execute(select(AuditEntry).where(AuditEntry.action == "preservation.form")).first()
            is None
        )
    monkeypatch.undo()  # sent again: stored anew, and attached
    form = retention.preservation.attach_form(
        actors["commander"], out.id, io.BytesIO(scan), "form.pdf"
    ).form_media_id
    assert form is not None and form != old and exists(timed, form)


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_a_commander_changed_while_attaching_a_form_attaches_nothing_ACC_1_RET_3(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """ACC-1, RET-3: the records commander attaches the scanned form to a preservation
    request at the moment an admin disables them or makes them an officer (officers keep
    no preservation log). Authorised with the role it started with, the form was
    attached, held and audited after the change that forbids it. Refused (403, audited)
    as an attachment sent after the change is: the log entry has no form, nothing holds
    the upload, no ``preservation.form`` entry."""
    from tests.races import user_changed_after_check
    from vms.auth.permissions import Action

    out = retention.preservation.create(
        actors["commander"], request(media_ids=[ingest(timed, recorded_at=clock.now())])
    )
    target = f"preservation:{out.id}"
    armed = user_changed_after_check(
        monkeypatch,
        timed,
        timed.authoriser,
        Action.PRESERVATION_MANAGE,
        "commander",
        change,
        on=target,
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        retention.preservation.attach_form(
            actors["commander"], out.id, io.BytesIO(document("signed form")), "form.pdf"
        )
    assert not armed[0]
    assert retention.preservation.get(actors["auditor"], out.id).form_media_id is None
    with timed.db.session() as s:
        held = s.execute(select(MediaHold.media_id).where(MediaHold.hold_id == out.id))
        assert list(held.scalars()) == list(out.pinned)
        audited = s.execute(
            select(AuditEntry.action, AuditEntry.outcome).where(
                AuditEntry.action.in_(("preservation.form", "preservation.manage")),
                AuditEntry.actor == "commander",
            )
        ).all()
    assert [tuple(a) for a in audited] == [("preservation.manage", "denied")]


@pytest.mark.parametrize("refusal", ["disabled", "demoted", "not a PDF"])
def test_a_refused_form_leaves_no_upload_behind_ACC_1_RET_3(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    refusal: str,
) -> None:
    """ACC-1, RET-3: a form refused because the commander was disabled or made an
    officer meanwhile, or because it is not a PDF, was refused only after its upload had
    been catalogued: the bytes stayed stored as a loose handheld item of the records
    office, catalogued, audited as ingested and kept 90 days, though nobody attached or
    may see it as a form. A refused form now leaves nothing: no item, no stored file, no
    ``media.ingest`` entry; the refusal answered (403 audited, or the 422 naming the
    file) as before."""
    import hashlib

    from retention.preservation import FORMS_DEVICE
    from tests.media import make_video
    from tests.races import user_changed_after_check
    from vms.auth.permissions import Action
    from vms.errors import FailedPrecondition

    out = retention.preservation.create(
        actors["commander"], request(media_ids=[ingest(timed, recorded_at=clock.now())])
    )
    data = document("refused form")
    if refusal == "not a PDF":
        data = make_video(seconds=1, seed=5)
        expected: tuple[type[Exception], str] = (FailedPrecondition, "must be a document")
    else:
        user_changed_after_check(
            monkeypatch,
            timed,
            timed.authoriser,
            Action.PRESERVATION_MANAGE,
            "commander",
            refusal,
            on=f"preservation:{out.id}",
        )
        expected = (PermissionDenied, "disabled" if refusal == "disabled" else "officer")
    with pytest.raises(expected[0], match=expected[1]):
        retention.preservation.attach_form(
            actors["commander"], out.id, io.BytesIO(data), "form.pdf"
        )
    assert retention.preservation.get(actors["auditor"], out.id).form_media_id is None
    with timed.db.session() as s:
        loose = s.execute(select(MediaItem.id).where(MediaItem.device_id == FORMS_DEVICE))
        assert list(loose.scalars()) == []
        ingested = s.execute(
            select(AuditEntry.seq).where(
                AuditEntry.action == "media.ingest", AuditEntry.actor == "commander"
            )
        )
        assert list(ingested.scalars()) == []
    assert not timed.store.exists(hashlib.sha256(data).hexdigest())
