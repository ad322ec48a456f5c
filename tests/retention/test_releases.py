"""Release requests (issue 16.5, 16.8): the service on both databases, every rule and
every refusal (ACC-5, ACC-9, ACC-11, REL-1, REL-3, REL-4)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from retention.commands import Requester
from retention.plugin import Retention
from retention.release_shares import ReleaseShares
from retention.releases import Decision, NewRelease, NewShare, ReleaseService
from tests.retention.conftest import ingest
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.db.models import (
    AuditEntry,
    CustodyEvent,
    Export,
    MediaItem,
    MediaLink,
    ShareLink,
    SourceKind,
)
from vms.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from vms.services import Services

DAY = dt.timedelta(days=1)


@pytest.fixture
def releases(retention: Retention) -> ReleaseService:
    return retention.releases


@pytest.fixture
def release_shares(retention: Retention) -> ReleaseShares:
    return retention.release_shares


@pytest.fixture
def who(timed: Services) -> dict[str, Actor]:
    from vms.db.models import User

    with timed.db.session() as s:
        return {u.username: timed.users.actor_for(s, u) for u in s.execute(select(User)).scalars()}


def new(items: tuple[str, ...], **overrides: Any) -> NewRelease:
    base = NewRelease(
        kind="foia",
        request_number="FOIA-1",
        requester=Requester("A. Reporter", "Gazette", "a@gazette.example"),
        received_at=dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.UTC),
        legal_basis="State public records act",
        items=items,
    )
    return dataclasses.replace(base, **overrides)


def denied(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.action == action, AuditEntry.outcome == "denied"
                )
            ).scalars()
        )


def test_foia_gets_a_due_date_and_overdue_requests_come_first_REL_1(
    timed: Services, releases: ReleaseService, who: dict[str, Actor], clock: ManualClock
) -> None:
    media = ingest(timed, recorded_at=clock.now() - DAY)
    foia = releases.create(who["commander"], new((media,)))
    assert foia.state == "received"
    assert foia.due_at == foia.received_at + 20 * DAY  # [releases] foia_due_days
    late = releases.create(
        who["commander"],
        new(
            (media,),
            request_number="FOIA-OLD",
            received_at=clock.now() - 30 * DAY,
        ),
    )
    media_req = releases.create(who["commander"], new((media,), kind="media", request_number="M-1"))
    assert media_req.due_at is None
    listing = releases.log(who["approver"])
    order = [r.request_number for r in listing.releases]
    assert order == ["FOIA-OLD", "FOIA-1", "M-1"]
    assert listing.releases[0].overdue and late.overdue
    assert not listing.releases[1].overdue


def test_agency_and_court_order_need_their_document_ACC_9(
    timed: Services, releases: ReleaseService, who: dict[str, Actor], clock: ManualClock
) -> None:
    media = ingest(timed, recorded_at=clock.now() - DAY)
    for kind in ("agency", "court_order"):
        with pytest.raises(InvalidArgument, match=r"document_media_id.*ACC-9"):
            releases.create(who["commander"], new((media,), kind=kind))
    with pytest.raises(InvalidArgument, match="no media item 'nope'"):
        releases.create(who["commander"], new((media,), kind="agency", document_media_id="nope"))
    letter = ingest(timed, recorded_at=clock.now() - DAY)
    ok = releases.create(who["commander"], new((media,), kind="agency", document_media_id=letter))
    assert ok.document_media_id == letter


def test_bad_items_are_refused_and_nothing_is_left(
    timed: Services, releases: ReleaseService, who: dict[str, Actor], clock: ManualClock
) -> None:
    media = ingest(timed, recorded_at=clock.now() - DAY)
    with pytest.raises(InvalidArgument, match="no export or media item 'ghost'"):
        releases.create(who["commander"], new((media, "ghost")))
    with timed.db.transaction() as s:
        s.add(
            Export(
                id="exp-queued",
                state="queued",
                created_by="investigator",
                created_role="investigator",
                created_at=clock.now(),
                purpose="court",
                request={},
            )
        )
    with pytest.raises(InvalidArgument, match="export 'exp-queued' has no package"):
        releases.create(who["commander"], new(("exp-queued",)))
    with pytest.raises(InvalidArgument, match="request_number is required"):
        releases.create(who["commander"], new((media,), request_number=" "))
    assert releases.log(who["admin"]).releases == ()


def test_only_records_staff_log_and_only_approvers_decide_ACC_5(
    timed: Services, releases: ReleaseService, who: dict[str, Actor], clock: ManualClock
) -> None:
    media = ingest(timed, recorded_at=clock.now() - DAY)
    for name in ("investigator", "approver", "officer"):
        with pytest.raises(PermissionDenied):
            releases.create(who[name], new((media,)))
    request = releases.create(who["commander"], new((media,)))
    with pytest.raises(PermissionDenied):
        releases.approve(who["commander"], request.id, Decision("fine"))
    approved = releases.approve(who["approver"], request.id, Decision("public interest"))
    assert (approved.state, approved.decided_by) == ("approved", "approver")
    assert approved.decision_reason == "public interest"
    with pytest.raises(Conflict, match="is approved"):
        releases.deny(who["admin"], request.id, Decision("changed my mind"))
    assert denied(timed, "releases.approve")  # the commander's refusal is audited


def test_approving_ones_own_request_is_refused_by_default(
    timed: Services, releases: ReleaseService, who: dict[str, Actor], clock: ManualClock
) -> None:
    media = ingest(timed, recorded_at=clock.now() - DAY)
    own = releases.create(who["admin"], new((media,)))  # admins log and approve
    with pytest.raises(PermissionDenied, match="allow_self_approval"):
        releases.approve(who["admin"], own.id, Decision("mine"))
    assert denied(timed, "release.approve")
    relaxed = ReleaseService(
        timed.db,
        timed.store,
        timed.audit,
        timed.clock,
        timed.authoriser,
        dataclasses.replace(timed.config.releases, allow_self_approval=True),
    )
    assert relaxed.approve(who["admin"], own.id, Decision("mine")).state == "approved"


def test_release_before_approval_is_409_and_audited_and_denied_stays_denied(
    timed: Services,
    releases: ReleaseService,
    release_shares: ReleaseShares,
    who: dict[str, Actor],
    clock: ManualClock,
) -> None:
    media = ingest(timed, recorded_at=clock.now() - DAY)
    request = releases.create(who["commander"], new((media,)))
    assert releases.review(who["commander"], request.id).state == "in_review"
    with pytest.raises(Conflict, match="must be approved first"):
        releases.release(who["commander"], request.id)
    with pytest.raises(Conflict, match="must be approved first"):
        release_shares.share(who["commander"], request.id, NewShare(clock.now() + DAY, 1))
    assert denied(timed, "release.release") and denied(timed, "release.share")
    releases.deny(who["approver"], request.id, Decision("exempt: ongoing investigation"))
    with pytest.raises(Conflict, match="denied"):
        releases.release(who["commander"], request.id)
    with pytest.raises(NotFound):
        releases.release(who["commander"], "no-such-id")


def test_release_records_custody_and_internal_affairs_a_secondary_copy_REL_4(
    timed: Services, releases: ReleaseService, who: dict[str, Actor], clock: ManualClock
) -> None:
    media = ingest(timed, recorded_at=clock.now() - DAY)
    request = releases.create(
        who["commander"], new((media,), kind="internal_affairs", request_number="IA-7")
    )
    releases.approve(who["approver"], request.id, Decision("IA investigation 7"))
    released = releases.release(who["commander"], request.id)
    assert released.state == "released" and released.secondary_copy
    with timed.db.session() as s:
        actions = list(
            s.execute(select(CustodyEvent.action).where(CustodyEvent.media_id == media)).scalars()
        )
    assert "secondary_copy" in actions
    foia = releases.create(who["commander"], new((media,), request_number="F-2"))
    releases.approve(who["approver"], foia.id, Decision("ok"))
    assert not releases.release(who["commander"], foia.id).secondary_copy


def test_privacy_sensitive_items_only_redacted_unless_court_order_REL_3_ACC_11(
    timed: Services, releases: ReleaseService, who: dict[str, Actor], clock: ManualClock
) -> None:
    original = ingest(timed, recorded_at=clock.now() - DAY)
    redacted = ingest(timed, recorded_at=clock.now() - DAY)
    package = ingest(timed, recorded_at=clock.now() - DAY)
    with timed.db.transaction() as s:
        s.get_one(MediaItem, original).privacy_sensitive = True
        red = s.get_one(MediaItem, redacted)
        red.source, red.derived_from_id = SourceKind.REDACTED, original
        red.privacy_sensitive = True  # inherited flag: the derivative is what REL-3 asks for
        # An export package cut from the original: its links lead to the flagged item.
        s.get_one(MediaItem, package).source = SourceKind.EXPORT
        s.add(MediaLink(media_id=package, source_id=original))
        s.add(
            Export(
                id="exp-1",
                state="done",
                created_by="investigator",
                created_role="investigator",
                created_at=clock.now(),
                purpose="court",
                request={},
                package_media_id=package,
                sha256="0" * 64,
                size_bytes=1,
            )
        )
    for items in ((original,), ("exp-1",)):
        with pytest.raises(PermissionDenied, match=f"{original}.*REL-3"):
            releases.create(who["commander"], new(items))
    assert len(denied(timed, "release.create")) == 2
    ok = releases.create(who["commander"], new((redacted,)))
    assert ok.items[0].media_id == redacted
    # A court order overrides (REL-3), recorded on the release and the item's custody.
    order = ingest(timed, recorded_at=clock.now() - DAY)
    court = releases.create(
        who["commander"],
        new(("exp-1",), kind="court_order", request_number="CO-1", document_media_id=order),
    )
    assert court.items[0].export_id == "exp-1" and court.items[0].media_id == package
    releases.approve(who["approver"], court.id, Decision("court order CO-1"))
    releases.release(who["commander"], court.id)
    with timed.db.session() as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == "release.release")
        ).scalar_one()
        assert entry.details["privacy_override"] == [original]
    # Flagged after logging: approving is refused then.
    plain = ingest(timed, recorded_at=clock.now() - DAY)
    later = releases.create(who["commander"], new((plain,), request_number="F-9"))
    with timed.db.transaction() as s:
        s.get_one(MediaItem, plain).privacy_sensitive = True
    with pytest.raises(PermissionDenied, match="REL-3"):
        releases.approve(who["approver"], later.id, Decision("ok"))


def test_share_link_token_is_hashed_counted_and_stops(
    timed: Services,
    releases: ReleaseService,
    release_shares: ReleaseShares,
    retention: Retention,
    who: dict[str, Actor],
    clock: ManualClock,
) -> None:
    media = ingest(timed, recorded_at=clock.now() - DAY)
    request = releases.create(who["commander"], new((media,)))
    releases.approve(who["approver"], request.id, Decision("ok"))
    with pytest.raises(InvalidArgument, match="expires_at must be in the future"):
        release_shares.share(who["commander"], request.id, NewShare(clock.now(), 1))
    with pytest.raises(InvalidArgument, match="max_downloads"):
        release_shares.share(who["commander"], request.id, NewShare(clock.now() + DAY, 0))
    shared = release_shares.share(who["commander"], request.id, NewShare(clock.now() + DAY, 2))
    assert len(shared.token) >= 43  # 256 bits, URL-safe base64
    with timed.db.session() as s:
        stored = s.get_one(ShareLink, shared.link.id)
        assert shared.token not in (stored.token_sha256, stored.id)
    shares = retention.shares
    assert shares.landing(shared.token, remote="203.0.113.9").files[0].position == 1
    shares.download(shared.token, 1, remote="203.0.113.9").close()
    shares.download(shared.token, 1, remote="203.0.113.9").close()
    with pytest.raises(NotFound, match="no such link"):
        shares.download(shared.token, 1, remote="203.0.113.9")  # max downloads
    again = release_shares.share(who["commander"], request.id, NewShare(clock.now() + DAY, 5))
    clock.advance(2 * DAY)
    with pytest.raises(NotFound, match="no such link"):
        shares.landing(again.token, remote="203.0.113.9")  # expired
    assert [e.details["reason"] for e in denied(timed, "release.share.open")] == [
        "download limit reached",
        "expired",
    ]


def test_privacy_flag_set_by_editors_cleared_by_approvers_and_recorded_ACC_11(
    timed: Services, releases: ReleaseService, who: dict[str, Actor], clock: ManualClock
) -> None:
    from retention.releases import SetPrivacy

    media = ingest(timed, recorded_at=clock.now() - DAY)
    with pytest.raises(PermissionDenied):
        releases.set_privacy(who["approver"], media, SetPrivacy(True, "undressed person"))
    flag = releases.set_privacy(who["commander"], media, SetPrivacy(True, "undressed person"))
    assert flag.privacy_sensitive
    with pytest.raises(PermissionDenied):
        releases.set_privacy(who["commander"], media, SetPrivacy(False, "mistake"))
    with pytest.raises(InvalidArgument, match="reason is required"):
        releases.set_privacy(who["approver"], media, SetPrivacy(False, ""))
    with pytest.raises(NotFound):
        releases.set_privacy(who["admin"], "ghost", SetPrivacy(True, "x"))
    assert not releases.set_privacy(
        who["approver"], media, SetPrivacy(False, "ok")
    ).privacy_sensitive
    with timed.db.session() as s:
        events = list(
            s.execute(
                select(CustodyEvent.details).where(
                    CustodyEvent.media_id == media, CustodyEvent.action == "privacy_flag"
                )
            ).scalars()
        )
    assert [e["privacy_sensitive"] for e in events] == [True, False]
    assert denied(timed, "media.edit") and denied(timed, "releases.approve")


def test_a_retried_decision_or_release_is_answered_as_the_first_ACC_5_ACC_6(
    timed: Services,
    timed_client: Any,
    timed_tokens: dict[str, str],
    releases: ReleaseService,
    who: dict[str, Actor],
    clock: ManualClock,
) -> None:
    """ACC-5, ACC-6: the release workflow's steps (start review, approve or deny, record
    the release) answered a client's retry after a lost answer with a 409 ("is
    approved: it cannot become approved"; the release's retry was even audited as
    refused), although its first request had worked. With ``request_id`` (a UUID of the
    client's, as the other write endpoints take it) the retry by the same user is
    answered with the first answer, the step audited once; another attempt (no id,
    another id, another decision) is still a 409."""
    media = ingest(timed, recorded_at=clock.now() - DAY)
    request = releases.create(who["commander"], new((media,)))
    base = f"/api/v1/releases/{request.id}"
    commander = {"Authorization": f"Bearer {timed_tokens['commander']}"}
    approver = {"Authorization": f"Bearer {timed_tokens['approver']}"}
    steps = (
        ("review", commander, {"request_id": "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"}),
        (
            "approve",
            approver,
            {"reason": "public record", "request_id": "2c3d4e5f-6071-4829-9bac-1d2e3f4a5b6c"},
        ),
        ("release", commander, {"request_id": "3d4e5f60-7182-493a-8cbd-2e3f4a5b6c7d"}),
    )
    for step, headers, body in steps:
        first = timed_client.post(f"{base}/{step}", json=body, headers=headers)
        assert first.status_code == 200, (step, first.get_json())
        again = timed_client.post(f"{base}/{step}", json=body, headers=headers)
        assert (again.status_code, again.get_json()) == (200, first.get_json()), step
        other = {**body, "request_id": "4e5f6071-8293-4a4b-9dce-3f4a5b6c7d8e"}
        for changed in ({k: v for k, v in body.items() if k != "request_id"}, other):
            refused = timed_client.post(f"{base}/{step}", json=changed, headers=headers)
            assert refused.status_code == 409, (step, refused.get_json())
    denial = {"reason": "public record", "request_id": steps[1][2]["request_id"]}
    refused = timed_client.post(f"{base}/deny", json=denial, headers=approver)
    assert refused.status_code == 409, refused.get_json()  # not the step that key made
    bad = timed_client.post(f"{base}/release", json={"request_id": "x"}, headers=commander)
    assert bad.status_code == 400 and "request_id" in bad.get_json()["error"]["message"]
    with timed.db.session() as s:
        audited = s.execute(
            select(AuditEntry.action, AuditEntry.outcome)
            .where(AuditEntry.target == f"release:{request.id}")
            .order_by(AuditEntry.seq)
        ).all()
    assert [a.action for a in audited if a.outcome == "ok"] == [
        "release.create",
        "release.review",
        "release.approve",
        "release.release",
    ]
    # The two other attempts at a release are refused and audited (ACC-5); the retry is not.
    assert [a.action for a in audited if a.outcome == "denied"] == ["release.release"] * 2
