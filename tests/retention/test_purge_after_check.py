"""Race: the purge (RET-1, RET-13) lands between a service's check of an item, as read
before its transaction, and its writing transaction, on SQLite and PostgreSQL. Each
request is refused as one sent after the purge is (a 404 or 400 naming the item, or a
409), and nothing is half-written: no row naming the purged item, no audit entry
claiming the request succeeded, the store and the catalog agreeing (INV-1) and the
audit chain whole (INV-4).

The purge is a whole run, made to happen there by :func:`tests.races.purged_after_check`
(the moment a restriction lands in the ACC-7 race tests); the items are fixed-camera
recordings 40 days old, expired under RET-1's 30 days and kept by nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import func, select

from privacy_masks.redaction import EditRedaction, ManualTrack, NewRedaction, RedactionService
from retention.casefile import AddCaseItem, CaseFileService, NewCase
from retention.plugin import get
from retention.releases import SetPrivacy
from tests.media import make_video
from tests.races import purged_after_check
from tests.retention.conftest import ingest
from tests.retention.test_releases import new
from vms.access import CriticalIncidentChange, NewApproval
from vms.auth.permissions import Action, Actor
from vms.bookmarks import NewBookmark
from vms.check import check
from vms.clock import ManualClock
from vms.db.models import (
    AuditEntry,
    Bookmark,
    CaseItem,
    CustodyEvent,
    Export,
    Redaction,
    ReleaseRequest,
    ReviewApproval,
    User,
)
from vms.errors import InvalidArgument, NotFound
from vms.exports.service import ExportSource, NewExport
from vms.services import Services

DAY = dt.timedelta(days=1)
EXPIRED = 40 * DAY  # RET-1: fixed recordings go 30 days after recording


@pytest.fixture
def people(timed: Services) -> dict[str, Actor]:
    with timed.db.session() as s:
        return {u.username: timed.users.actor_for(s, u) for u in s.execute(select(User)).scalars()}


def expired_video(
    services: Services, clock: ManualClock, *, seed: int = 1, officer: str | None = None
) -> str:
    """A fixed camera's recording, 2 s, expired (RET-1) and kept by nothing."""
    return ingest(
        services,
        recorded_at=clock.now() - EXPIRED,
        data=make_video(seconds=2.0, fps=10, seed=seed),
        officer=officer,
    )


def expired_document(services: Services, clock: ManualClock) -> str:
    """A catalogued document (a written request, a memo), expired and kept by nothing."""
    return ingest(services, recorded_at=clock.now() - EXPIRED)


def count(services: Services, model: type) -> int:
    with services.db.session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def refused_whole(
    services: Services, armed: list[bool], action: str, model: type | None = None
) -> None:
    """The purge ran between the check and the write (``armed`` spent); no ``model``
    row was written, no entry claims ``action`` succeeded; the audit chain is unbroken
    (INV-4) and every row's original is stored, no original without its row (INV-1: the
    purge removed both)."""
    assert not armed[0], "the purge did not land between the check and the write"
    if model is not None:
        assert count(services, model) == 0
    with services.db.session() as s:
        claimed = s.execute(
            select(AuditEntry.seq).where(AuditEntry.action == action, AuditEntry.outcome == "ok")
        ).first()
    assert claimed is None, f"an entry claims {action} succeeded"
    assert services.audit.verify(services.db) is None
    report = check(services.db, services.store)
    assert report.clean, report


# -- release requests ------------------------------------------------------------------


def test_an_item_purged_while_its_release_request_is_logged_is_not_logged_RET_1(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The records commander logs a FOIA request for a recording at the moment the purge
    destroys it: refused as a request naming an item no longer catalogued is (400 naming
    it), no request filed, no ``release.create`` entry."""
    releases = get(timed).releases
    media = expired_video(timed, clock)
    armed = purged_after_check(
        monkeypatch, timed, releases.authoriser, Action.RELEASES_MANAGE, media
    )
    with pytest.raises(InvalidArgument, match=f"no export or media item '{media}'"):
        releases.create(people["commander"], new((media,), request_number="P-1"))
    refused_whole(timed, armed, "release.create", ReleaseRequest)


def test_a_document_purged_while_its_release_request_is_logged_is_not_logged_ACC_9(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A court-order request names the order document (ACC-9), which the purge destroys
    between the request's checks and its transaction. The document was looked up only
    before the transaction: the request was filed and audited naming a document that no
    longer exists. Refused as one sent after the purge is (400 naming it), nothing filed."""
    releases = get(timed).releases
    media = ingest(timed, recorded_at=clock.now() - DAY)  # kept another 29 days
    order = expired_document(timed, clock)
    armed = purged_after_check(
        monkeypatch, timed, releases.authoriser, Action.RELEASES_MANAGE, order
    )
    command = dataclasses.replace(
        new((media,), request_number="C-1"), kind="court_order", document_media_id=order
    )
    with pytest.raises(InvalidArgument, match=f"document_media_id: no media item '{order}'"):
        releases.create(people["commander"], command)
    refused_whole(timed, armed, "release.create", ReleaseRequest)


def test_an_item_purged_while_it_is_flagged_privacy_sensitive_is_a_404_ACC_11(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commander flags a recording privacy-sensitive (ACC-11) at the moment the
    purge destroys it. The flag's transaction read the item with ``get_one``: gone, an
    SQLAlchemy ``NoResultFound``, a 500. Refused as a flag sent after the purge is (404
    naming the item), no custody event, no ``media.privacy`` entry."""
    releases = get(timed).releases
    media = expired_video(timed, clock)
    armed = purged_after_check(monkeypatch, timed, releases.authoriser, Action.MEDIA_EDIT, media)
    with pytest.raises(NotFound, match=f"media item '{media}' does not exist"):
        releases.set_privacy(people["commander"], media, SetPrivacy(True, "a person undressed"))
    assert count(timed, CustodyEvent) == 0  # the item's went with it; none added
    refused_whole(timed, armed, "media.privacy")


# -- redactions ------------------------------------------------------------------------


def _redactions(services: Services) -> RedactionService:
    return services.ports.get(RedactionService)


def _in_review(services: Services, actor: Actor, media_id: str) -> str:
    """A job as its analysis leaves it: in review, one detected track."""
    job = _redactions(services).create(actor, NewRedaction(media_id, ("faces",)))
    video = {"width": 160, "height": 120, "fps": 10.0, "frames": 20, "duration": 2.0}
    with services.db.transaction() as s:
        row = s.get_one(Redaction, job.id)
        row.state = "review"
        row.request = {**row.request, "video": {**video, "has_audio": False}}
        row.tracks = [{"id": 1, "class": "face", "enabled": True, "manual": False, "frames": []}]
    return job.id


def _in_review_purged_after_check(
    services: Services, actor: Actor, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str, list[bool]]:
    """An expired item, ``actor``'s job on it in review, the purge set to land after the
    next check of the item: (item, job, :func:`purged_after_check`'s list)."""
    media = expired_video(services, clock)
    job = _in_review(services, actor, media)
    authoriser = _redactions(services).authoriser
    armed = purged_after_check(monkeypatch, services, authoriser, Action.REDACTIONS_MANAGE, media)
    return media, job, armed


def test_an_item_purged_while_its_redaction_is_filed_gets_no_job_RET_1(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _redactions(timed)
    media = expired_video(timed, clock)
    armed = purged_after_check(
        monkeypatch, timed, service.authoriser, Action.REDACTIONS_MANAGE, media
    )
    with pytest.raises(NotFound, match=f"media_id: {media} is no longer in the catalog"):
        service.create(people["commander"], NewRedaction(media, ("faces",)))
    refused_whole(timed, armed, "redaction.create", Redaction)


def test_an_item_purged_while_its_render_is_queued_is_not_queued_RET_1(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job stays in review (its reviewed tracks kept as history), no render queued
    or audited: there is nothing left to render."""
    service, commander = _redactions(timed), people["commander"]
    media, job, armed = _in_review_purged_after_check(timed, commander, clock, monkeypatch)
    with pytest.raises(NotFound, match=f"media_id: {media} is no longer in the catalog"):
        service.render(commander, job)
    with timed.db.session() as s:
        row = s.get_one(Redaction, job)
        assert row.state == "review" and "render_by" not in row.request
    refused_whole(timed, armed, "redaction.render")


def test_an_item_purged_while_its_redaction_is_edited_is_not_edited_RET_1(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, commander = _redactions(timed), people["commander"]
    media, job, armed = _in_review_purged_after_check(timed, commander, clock, monkeypatch)
    plate = ManualTrack("plate", ((0.0, 10, 10, 20, 10), (1.0, 15, 10, 20, 10)))
    with pytest.raises(NotFound, match=f"media_id: {media} is no longer in the catalog"):
        service.edit(commander, job, EditRedaction(add=(plate,)))
    with timed.db.session() as s:
        assert not [t for t in s.get_one(Redaction, job).tracks if t.get("manual")]
    refused_whole(timed, armed, "redaction.edit")


# -- exports ---------------------------------------------------------------------------


def test_an_item_purged_while_its_export_is_filed_gets_no_export_RET_1(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An investigator asks for an export of a recording at the moment the purge
    destroys it. Refused as one sent after the purge is (404 naming the source), no job
    queued for the export job to fail on later, no ``export.create`` entry."""
    media = expired_video(timed, clock)
    armed = purged_after_check(
        monkeypatch, timed, timed.exports.authoriser, Action.EXPORTS_CREATE, media
    )
    with pytest.raises(NotFound, match=f"sources\\[0\\].media_id: '{media}' does not exist"):
        timed.exports.create(
            people["investigator"],
            NewExport(purpose="court copy", sources=(ExportSource(None, media),)),
        )
    refused_whole(timed, armed, "export.create", Export)


# -- case folders, bookmarks, review approvals -----------------------------------------


def test_an_item_purged_while_it_is_added_to_a_case_is_not_added_RET_1_RET_5(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    casefiles = timed.ports.get(CaseFileService)
    investigator = people["investigator"]
    casefiles.create(investigator, NewCase("C-7"))
    media = expired_video(timed, clock)
    armed = purged_after_check(monkeypatch, timed, casefiles.authoriser, Action.MEDIA_EDIT, media)
    with pytest.raises(NotFound, match=f"media_id '{media}' does not exist"):
        casefiles.add_item(investigator, "C-7", AddCaseItem(media, "seen on the corner"))
    assert count(timed, CustodyEvent) == 0  # the item's went with it; none added
    refused_whole(timed, armed, "case.item_add", CaseItem)


def test_an_item_purged_while_it_is_bookmarked_gets_no_bookmark_RET_1(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = expired_video(timed, clock)
    start = clock.now() - EXPIRED + dt.timedelta(seconds=1)
    armed = purged_after_check(
        monkeypatch, timed, timed.bookmarks.authoriser, Action.MEDIA_EDIT, media
    )
    with pytest.raises(NotFound, match=f"media_id '{media}' does not exist"):
        timed.bookmarks.create(
            people["investigator"], NewBookmark(start, "suspect enters", media_id=media)
        )
    refused_whole(timed, armed, "bookmark.create", Bookmark)


def test_an_item_purged_while_its_review_approval_is_recorded_gets_none_RET_1_ACC_2(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = expired_video(timed, clock, officer="B1")
    timed.catalog.set_critical_incident(people["admin"], media, CriticalIncidentChange(True, "OIS"))
    armed = purged_after_check(monkeypatch, timed, timed.authoriser, Action.REVIEW_APPROVE, media)
    memo = NewApproval(reason="after the interview", document_ref="MEMO-2026-18")
    with pytest.raises(NotFound, match=media):
        timed.review_access.approve(people["sergeant"], media, memo)
    refused_whole(timed, armed, "review.approve", ReviewApproval)


def test_a_document_purged_while_a_review_approval_cites_it_is_not_cited_ACC_2(
    timed: Services, people: dict[str, Actor], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sergeant's approval cites a catalogued memo, which the purge destroys between
    the approval's checks and its transaction. The memo was looked up only before the
    transaction: the approval was recorded and audited citing a document that no longer
    exists. Refused as one sent after the purge is (400 naming it), nothing recorded."""
    media = ingest(timed, recorded_at=clock.now() - DAY, officer="B1")  # kept 29 more days
    timed.catalog.set_critical_incident(people["admin"], media, CriticalIncidentChange(True, "OIS"))
    memo_item = expired_document(timed, clock)
    armed = purged_after_check(
        monkeypatch, timed, timed.authoriser, Action.REVIEW_APPROVE, memo_item
    )
    memo = NewApproval(reason="after the interview", document_media_id=memo_item)
    with pytest.raises(InvalidArgument, match=f"document_media_id '{memo_item}'"):
        timed.review_access.approve(people["sergeant"], media, memo)
    refused_whole(timed, armed, "review.approve", ReviewApproval)
