"""Race: two people editing one redaction under review at once, or its render sent
twice (a retried POST), on SQLite and PostgreSQL. No edit is lost; a render is queued
once and audited once; what the render's audit entry lists is what will be rendered
(REL-3, INV-4, INV-8: every redaction is recorded)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from privacy_masks.redaction import EditRedaction, ManualTrack, NewRedaction, TrackToggle
from tests.privacy_masks.redaction_media import street_video
from tests.privacy_masks.test_redaction import ingest, redactions
from tests.races import audited, restricted_after_check, together
from vms.auth.permissions import Action, Actor
from vms.db.models import AuditEntry, Redaction
from vms.errors import Conflict, PermissionDenied
from vms.services import Services

ITERATIONS = 6
VIDEO = {"width": 320, "height": 180, "fps": 10.0, "frames": 30, "duration": 3.0}
MANAGE = Action.REDACTIONS_MANAGE
DETECTED = {"id": 1, "class": "face", "enabled": True, "manual": False, "frames": []}


def in_review(services: Services, actor: Actor, media_id: str) -> str:
    """A job as its analysis leaves it: in review, one detected track (set here: what is
    examined is the editing, not the detector)."""
    job = redactions(services).create(actor, NewRedaction(media_id, ("faces",)))
    with services.db.transaction() as s:
        row = s.get_one(Redaction, job.id)
        row.state = "review"
        row.request = {**row.request, "video": {**VIDEO, "has_audio": False}}
        row.tracks = [dict(DETECTED)]
    return job.id


def finished(services: Services, job: str) -> None:
    """Out of the way of the next iteration (a queued render holds one of the user's
    ``max_pending_per_user`` places)."""
    with services.db.transaction() as s:
        s.get_one(Redaction, job).state = "failed"


def plate(n: int) -> ManualTrack:
    return ManualTrack("plate", ((0.0, 10 * n, 10, 20, 10), (1.0, 10 * n + 5, 10, 20, 10)))


def test_two_edits_at_once_lose_neither_REL_3(services: Services, actors: dict[str, Actor]) -> None:
    service = redactions(services)
    media_id = ingest(services, street_video())
    commander, admin = actors["commander"], actors["admin"]
    for i in range(ITERATIONS):
        job = in_review(services, admin, media_id)
        got = together(
            lambda: service.edit(commander, job, EditRedaction(add=(plate(1),))),
            lambda: service.edit(admin, job, EditRedaction(add=(plate(2),))),
        )
        assert not [g for g in got if isinstance(g, Exception)], got
        tracks = service.get(admin, job).tracks
        manual = [t for t in tracks if t.manual]
        assert len(manual) == 2, f"iteration {i}: an edit was lost, tracks {tracks}"
        assert len({t.id for t in tracks}) == len(tracks), f"iteration {i}: ids {tracks}"


def test_render_twice_at_once_is_queued_and_audited_once(
    services: Services, actors: dict[str, Actor]
) -> None:
    service = redactions(services)
    media_id = ingest(services, street_video())
    commander = actors["commander"]
    for i in range(ITERATIONS):
        job = in_review(services, commander, media_id)
        got = together(
            lambda: service.render(commander, job), lambda: service.render(commander, job)
        )
        assert sum(isinstance(g, Conflict) for g in got) == 1, f"iteration {i}: {got}"
        assert audited(services, "redaction.render", f"media:{media_id}") == i + 1
        finished(services, job)


def test_an_edit_racing_the_render_is_in_what_the_render_recorded_or_refused_INV_8(
    services: Services, actors: dict[str, Actor]
) -> None:
    """Disable the detected track while the render is queued: either the edit came first
    (the render's audit entry lists no track) or it is a 409; never an edit that lands
    after the render recorded the track as enabled."""
    service = redactions(services)
    media_id = ingest(services, street_video())
    commander = actors["commander"]
    for i in range(ITERATIONS):
        job = in_review(services, commander, media_id)
        got = together(
            lambda: service.render(commander, job),
            lambda: service.edit(commander, job, EditRedaction(tracks=(TrackToggle(1, False),))),
        )
        assert not isinstance(got[0], Exception), got
        with services.db.session() as s:
            entry = (
                s.execute(
                    select(AuditEntry)
                    .where(AuditEntry.action == "redaction.render")
                    .order_by(AuditEntry.seq.desc())
                )
                .scalars()
                .first()
            )
            row = s.get_one(Redaction, job)
        assert entry is not None and entry.details["redaction_id"] == job
        rendered = [t["id"] for t in row.tracks if t["enabled"]]
        assert entry.details["tracks"] == rendered, (
            f"iteration {i}: the render recorded tracks {entry.details['tracks']}, "
            f"the job renders {rendered} (edit: {got[1]!r})"
        )
        finished(services, job)


def test_the_same_redaction_posted_twice_is_one_job_ACC_6(
    services: Services, actors: dict[str, Actor]
) -> None:
    """The media page's Redact button is a plain form: a double-click (or a client's
    retry after a timeout) posts the same request again while the first job is still
    queued. One job (minutes of detection, one of the user's pending places), one
    ``redaction.create`` entry; the repeat answers with it, also when both arrive at
    once. Other classes, or the same request once the first has started, is a new job."""
    service = redactions(services)
    media_id = ingest(services, street_video())
    commander = actors["commander"]
    first = service.create(commander, NewRedaction(media_id, ("faces",)))
    again = service.create(commander, NewRedaction(media_id, ("faces",)))
    assert again.id == first.id
    got = together(*[lambda: service.create(commander, NewRedaction(media_id, ("plates",)))] * 2)
    assert not [g for g in got if isinstance(g, Exception)], got
    assert len({g.id for g in got}) == 1, got  # type: ignore[attr-defined]
    finished(services, first.id)
    later = service.create(commander, NewRedaction(media_id, ("faces",)))
    assert later.id != first.id
    assert audited(services, "redaction.create", f"media:{media_id}") == 3


def test_an_item_restricted_while_its_redaction_is_filed_gets_no_job_ACC_7(
    services: Services, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records commander asks for a redaction of an item at the moment an admin
    restricts it (ACC-7: administration only; the job's frames are the item's content).
    The request was checked on the item as read before its transaction, so the job was
    filed and audited after the restriction that forbids the commander the item. It is
    refused (403, audited) as one sent after the restriction is."""
    service = redactions(services)
    media_id = ingest(services, street_video())
    armed = restricted_after_check(
        monkeypatch,
        services,
        service.authoriser,
        Action.REDACTIONS_MANAGE,
        actors["admin"],
        media_id,
    )
    with pytest.raises(PermissionDenied, match="ACC-7"):
        service.create(actors["commander"], NewRedaction(media_id, ("faces",)))
    assert not armed[0]
    with services.db.session() as s:
        assert s.execute(select(Redaction.id)).first() is None
    assert audited(services, "redaction.create", f"media:{media_id}") == 0


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_a_user_disabled_or_demoted_while_their_redaction_is_filed_gets_no_job_ACC_1(
    services: Services, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The records commander asks for a redaction at the moment an admin disables them,
    or makes them an officer (ACC-1; officers redact nothing). The request was
    authorised with the role it started with, so the job was filed and audited after
    the change that forbids it. The writing transaction holds the user's row anyway
    (the repeat check): it decides again on the user as stored, and the request is
    refused (403, audited) as one sent after the change."""
    from tests.races import user_changed_after_check

    service = redactions(services)
    media_id = ingest(services, street_video())
    armed = user_changed_after_check(
        monkeypatch, services, service.authoriser, MANAGE, "commander", change
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        service.create(actors["commander"], NewRedaction(media_id, ("faces",)))
    assert not armed[0]
    with services.db.session() as s:
        assert s.execute(select(Redaction.id)).first() is None
        denied = s.execute(select(AuditEntry.seq).where(AuditEntry.outcome == "denied")).all()
    assert audited(services, "redaction.create", f"media:{media_id}") == 0
    assert len(denied) == 1


def test_an_item_restricted_while_its_render_is_queued_is_not_rendered_ACC_7(
    services: Services, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records commander queues the render of a reviewed redaction at the moment an
    admin restricts its item (ACC-7: administration only; the render is a copy of the
    content). The render was checked on the item as read before its transaction, so it
    was queued and audited after the restriction that forbids the commander the item.
    It is refused (403, audited) as one sent after the restriction is; the job stays in
    review."""
    service = redactions(services)
    media_id = ingest(services, street_video())
    commander = actors["commander"]
    job = in_review(services, commander, media_id)
    armed = restricted_after_check(
        monkeypatch,
        services,
        service.authoriser,
        Action.REDACTIONS_MANAGE,
        actors["admin"],
        media_id,
    )
    with pytest.raises(PermissionDenied, match="ACC-7"):
        service.render(commander, job)
    assert not armed[0]
    with services.db.session() as s:
        assert s.get_one(Redaction, job).state == "review"
    assert audited(services, "redaction.render", f"media:{media_id}") == 0


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_a_user_disabled_or_demoted_while_their_render_is_queued_gets_none_ACC_1(
    services: Services, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The records commander queues the render of a reviewed redaction at the moment an
    admin disables them, or makes them an officer (ACC-1). The render holds the user's
    row anyway (the pending limit): it decides again on the user as stored and is
    refused (403, audited) as one sent after the change; the job stays in review."""
    from tests.races import user_changed_after_check

    service = redactions(services)
    media_id = ingest(services, street_video())
    commander = actors["commander"]
    job = in_review(services, commander, media_id)
    armed = user_changed_after_check(
        monkeypatch, services, service.authoriser, MANAGE, "commander", change
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        service.render(commander, job)
    assert not armed[0]
    with services.db.session() as s:
        assert s.get_one(Redaction, job).state == "review"
    assert audited(services, "redaction.render", f"media:{media_id}") == 0


def test_an_item_restricted_while_its_redaction_is_edited_is_not_edited_ACC_7(
    services: Services, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records commander edits a redaction under review at the moment an admin
    restricts its item (ACC-7: administration only). The edit was checked on the item as
    read before its transaction, so it was saved and audited after the restriction that
    forbids the commander the item. It is refused (403, audited) as one sent after."""
    service = redactions(services)
    media_id = ingest(services, street_video())
    commander = actors["commander"]
    job = in_review(services, commander, media_id)
    armed = restricted_after_check(
        monkeypatch,
        services,
        service.authoriser,
        Action.REDACTIONS_MANAGE,
        actors["admin"],
        media_id,
    )
    with pytest.raises(PermissionDenied, match="ACC-7"):
        service.edit(commander, job, EditRedaction(add=(plate(1),)))
    assert not armed[0]
    with services.db.session() as s:
        assert not [t for t in s.get_one(Redaction, job).tracks if t.get("manual")]
    assert audited(services, "redaction.edit", f"media:{media_id}") == 0


def test_every_change_to_a_job_is_stamped_after_the_last_one(
    services: Services, actors: dict[str, Actor]
) -> None:
    """The review page orders the answers it gets by the job's ``updated_at`` (a read
    served before an edit was stored may answer after the edit): a change stamped by a
    clock behind the last one's (another node's, or one stepped back) is still later."""
    service = redactions(services)
    media_id = ingest(services, street_video())
    commander = actors["commander"]
    job = in_review(services, commander, media_id)
    ahead = services.clock.now() + dt.timedelta(minutes=5)  # the last change's clock
    with services.db.transaction() as s:
        s.get_one(Redaction, job).updated_at = ahead
    edited = service.edit(commander, job, EditRedaction(tracks=(TrackToggle(1, False),)))
    assert edited.updated_at > ahead
    again = service.edit(commander, job, EditRedaction(tracks=(TrackToggle(1, True),)))
    assert again.updated_at > edited.updated_at
    queued = service.render(commander, job)
    assert queued.updated_at > again.updated_at
