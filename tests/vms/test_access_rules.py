"""ACC-2, ACC-3, ACC-4 (issue 14 item 4): the critical-incident flag and the written
approval of an officer's own review, time-boxed review grants for an officer under
investigation, and the purpose a reviewer outside their own scope states. Each refusal
is a 403 audited naming the rule; each use is audited with the approval, grant or purpose.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import sign_in
from tests.media import make_video
from tests.races import together
from tests.vms.test_crash_safety import run_cli
from tests.web.forms import hidden_fields, sent_twice
from vms.access import CriticalIncidentChange, NewApproval, NewGrant
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.catalog_values import RestrictionChange
from vms.clock import ManualClock
from vms.config import AccessConfig, Config
from vms.db.models import AuditEntry, MediaItem, Role, SourceKind
from vms.errors import Conflict, InvalidArgument, PermissionDenied
from vms.ingest import IngestRequest
from vms.services import Services

HOUR = dt.timedelta(hours=1)


def ingest(services: Services, badge: str, seed: int) -> str:
    return services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=seed)),
        IngestRequest(source=SourceKind.BWC, device_id=f"BWC-{badge}", officer_badge=badge),
        Who("setup", "admin"),
    ).media_id


@pytest.fixture
def b1_item(services: Services) -> str:
    """Recorded by officer B1 (supervised by sergeant)."""
    return ingest(services, "B1", 11)


@pytest.fixture
def b2_item(services: Services) -> str:
    """Recorded by other_officer B2: it captures officer B1 too."""
    return ingest(services, "B2", 12)


def view(services: Services, actor: Actor, media_id: str, purpose: str | None = None) -> None:
    """Open the item's content and record the viewing, as the content route does."""
    access = services.catalog.authorise_content(actor, media_id, download=False, purpose=purpose)
    services.catalog.record_content(actor, access, remote="127.0.0.1")


def entries(services: Services, media_id: str, **where: Any) -> list[AuditEntry]:
    with services.db.session() as s:
        stmt = select(AuditEntry).where(AuditEntry.target == f"media:{media_id}")
        for key, value in where.items():
            stmt = stmt.where(getattr(AuditEntry, key) == value)
        return list(s.execute(stmt.order_by(AuditEntry.seq)).scalars())


def test_critical_incident_own_review_needs_a_recorded_written_approval_ACC_2(
    services: Services, actors: dict[str, Actor], clock: ManualClock, b1_item: str
) -> None:
    officer, sergeant, admin = actors["officer"], actors["sergeant"], actors["admin"]
    view(services, officer, b1_item)  # own recording (ACC-2 first sentence)

    with pytest.raises(PermissionDenied):  # never the officer
        services.catalog.set_critical_incident(
            officer, b1_item, CriticalIncidentChange(True, "mine")
        )
    sergeants_own = ingest(services, "S1", 14)  # nor a supervisor on their own recording
    with pytest.raises(PermissionDenied, match="their own recording"):
        services.catalog.set_critical_incident(
            sergeant, sergeants_own, CriticalIncidentChange(True, "mine")
        )
    for role in ("commander", "auditor", "other_officer", "dispatcher"):
        with pytest.raises(PermissionDenied):
            services.catalog.set_critical_incident(
                actors[role], b1_item, CriticalIncidentChange(True, "x")
            )
    record = services.catalog.set_critical_incident(
        actors["investigator"], b1_item, CriticalIncidentChange(True, "officer-involved shooting")
    )
    assert record.critical_incident
    with pytest.raises(Conflict, match="already flagged"):
        services.catalog.set_critical_incident(admin, b1_item, CriticalIncidentChange(True, "x"))

    with pytest.raises(PermissionDenied, match=r"written approval.*ACC-2"):
        view(services, officer, b1_item)
    denied = entries(services, b1_item, actor="officer", outcome="denied")
    assert denied and "ACC-2" in denied[-1].details["reason"]
    view(services, sergeant, b1_item)  # the supervisor's review is not the officer's own

    # The approval: by an admin or the supervisor, never the officer; with a document.
    memo = NewApproval(reason="after the interview", document_ref="MEMO-2026-17")
    with pytest.raises(PermissionDenied):
        services.review_access.approve(officer, b1_item, memo)
    with pytest.raises(PermissionDenied):
        services.review_access.approve(actors["other_officer"], b1_item, memo)
    with pytest.raises(InvalidArgument, match="document_ref"):
        services.review_access.approve(sergeant, b1_item, NewApproval(reason="r"))
    with pytest.raises(InvalidArgument, match="document_media_id"):
        services.review_access.approve(
            sergeant, b1_item, NewApproval(reason="r", document_media_id="nope")
        )
    approval = services.review_access.approve(
        sergeant,
        b1_item,
        NewApproval(
            reason="after the interview",
            document_ref="MEMO-2026-17",
            expires_at=clock.now() + HOUR,
        ),
    )
    assert approval.officer == "officer" and approval.approved_by == "sergeant"
    view(services, officer, b1_item)
    viewed = entries(services, b1_item, actor="officer", action="media.view", outcome="ok")
    assert viewed[-1].details["review_approval"] == approval.id
    recorded = entries(services, b1_item, action="review.approve")
    assert recorded[-1].details["document_ref"] == "MEMO-2026-17"

    clock.advance(2 * HOUR)  # the approval expired
    with pytest.raises(PermissionDenied, match="ACC-2"):
        view(services, officer, b1_item)

    services.catalog.set_critical_incident(
        admin, b1_item, CriticalIncidentChange(False, "no injury after all")
    )
    view(services, officer, b1_item)
    actions = [e.action for e in entries(services, b1_item, outcome="ok")]
    assert "media.critical_incident" in actions and "media.critical_cleared" in actions
    assert services.audit.verify(services.db) is None


def test_review_grant_opens_other_officers_items_while_active_ACC_3(
    services: Services,
    actors: dict[str, Actor],
    clock: ManualClock,
    b1_item: str,
    b2_item: str,
) -> None:
    officer, admin = actors["officer"], actors["admin"]
    with pytest.raises(PermissionDenied, match="ACC-2"):  # not their own
        view(services, officer, b2_item)
    with pytest.raises(PermissionDenied):
        services.catalog.get(officer, b2_item)

    new = NewGrant("officer", (b2_item,), clock.now() + HOUR, "IA case 26-4: review")
    for role in ("investigator", "sergeant", "auditor", "officer"):
        with pytest.raises(PermissionDenied):
            services.review_access.grant(actors[role], new)
    with pytest.raises(InvalidArgument, match="ends_at"):
        services.review_access.grant(
            admin, NewGrant("officer", (b2_item,), clock.now() - HOUR, "r")
        )
    with pytest.raises(InvalidArgument, match="officer"):
        services.review_access.grant(admin, NewGrant("nobody", (b2_item,), new.ends_at, "r"))
    with pytest.raises(InvalidArgument, match="media_ids"):
        services.review_access.grant(admin, NewGrant("officer", ("nope",), new.ends_at, "r"))
    grant = services.review_access.grant(admin, new)
    assert grant.active and grant.media_ids == (b2_item,)

    detail = services.catalog.get(officer, b2_item)  # metadata
    assert detail.id == b2_item
    view(services, officer, b2_item)  # content: no purpose asked (the grant is it)
    (used,) = entries(services, b2_item, actor="officer", action="media.view", outcome="ok")
    assert used.details["review_grant"] == grant.id
    (shown,) = entries(services, b2_item, actor="officer", action="media.detail")
    assert shown.details["review_grant"] == grant.id
    # The grant reaches only the items it lists; other_officer's own review is unchanged.
    view(services, actors["other_officer"], b2_item)

    # Revoked: refused again; revoking twice is a conflict.
    revoked = services.review_access.revoke(admin, grant.id, "interview done")
    assert not revoked.active and revoked.revoked_by == "admin"
    with pytest.raises(PermissionDenied):
        view(services, officer, b2_item)
    with pytest.raises(Conflict, match="revoked"):
        services.review_access.revoke(admin, grant.id, "again")

    # A grant in the future opens nothing yet; past its end, nothing again.
    later = services.review_access.grant(
        admin,
        NewGrant("officer", (b2_item,), clock.now() + 3 * HOUR, "r", clock.now() + HOUR),
    )
    with pytest.raises(PermissionDenied):
        view(services, officer, b2_item)
    clock.advance(2 * HOUR)
    view(services, officer, b2_item)
    clock.advance(2 * HOUR)
    with pytest.raises(PermissionDenied):
        view(services, officer, b2_item)

    # A grant does not open a restricted item (ACC-7: administration only).
    services.review_access.grant(admin, NewGrant("officer", (b2_item,), clock.now() + HOUR, "r"))
    view(services, officer, b2_item)
    services.catalog.set_restricted(admin, b2_item, RestrictionChange(True, "juvenile"))
    with pytest.raises(PermissionDenied, match="ACC-7"):
        view(services, officer, b2_item)

    listed = services.review_access.grants(actors["auditor"], "officer")
    assert {g.id for g in listed} >= {grant.id, later.id}
    with services.db.session() as s:
        actions = set(
            s.execute(
                select(AuditEntry.action).where(AuditEntry.target.like("review_grant:%"))
            ).scalars()
        )
    assert {"review.grant", "review.revoke"} <= actions
    assert services.audit.verify(services.db) is None


def test_reviewers_outside_their_scope_state_a_purpose_ACC_4(
    services: Services, actors: dict[str, Actor], b1_item: str
) -> None:
    investigator, admin = actors["investigator"], actors["admin"]
    with pytest.raises(InvalidArgument, match=r"purpose is required.*internal_affairs"):
        view(services, investigator, b1_item)
    with pytest.raises(InvalidArgument, match=r"'curiosity' is not one of .*report_writing"):
        view(services, admin, b1_item, "curiosity")
    assert not entries(services, b1_item, action="media.view")
    view(services, investigator, b1_item, "internal_affairs")
    view(services, admin, b1_item, "legal")
    # Own and supervised recordings: no purpose asked.
    view(services, actors["officer"], b1_item)
    view(services, actors["sergeant"], b1_item)
    purposes = {
        e.actor: e.details.get("purpose")
        for e in entries(services, b1_item, action="media.view", outcome="ok")
    }
    assert purposes == {
        "investigator": "internal_affairs",
        "admin": "legal",
        "officer": None,
        "sergeant": None,
    }


def test_configured_purposes_ACC_4(config: Config, clock: ManualClock) -> None:
    custom = replace(config, access=AccessConfig(review_purposes="court, audit"))
    services = Services.open(custom, clock=clock)
    try:
        services.migrate()
        item = ingest(services, "B1", 13)
        investigator = Actor(user_id=99, username="inv", role=Role.INVESTIGATOR)
        with pytest.raises(InvalidArgument, match="one of court, audit"):
            view(services, investigator, item, "investigation")
        view(services, investigator, item, "court")
    finally:
        services.close()
    with pytest.raises(InvalidArgument, match="purposes"):
        AccessConfig(review_purposes=" , ")


def test_api_critical_incident_approvals_grants_and_purpose(
    client: Any, tokens: dict[str, str], services: Services, b1_item: str, b2_item: str
) -> None:
    def h(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    url = f"/api/v1/media/{b1_item}/critical-incident"
    r = client.put(url, json={"critical_incident": True}, headers=h("sergeant"))
    assert r.status_code == 400 and "reason" in r.get_json()["error"]["message"]
    r = client.put(url, json={"critical_incident": True, "reason": "death"}, headers=h("sergeant"))
    assert r.status_code == 200 and r.get_json()["critical_incident"] is True
    r = client.put(url, json={"critical_incident": True, "reason": "again"}, headers=h("admin"))
    assert r.status_code == 409

    content = f"/api/v1/media/{b1_item}/content"
    r = client.get(content, headers=h("officer"))
    assert r.status_code == 403 and "ACC-2" in r.get_json()["error"]["message"]
    approvals = f"/api/v1/media/{b1_item}/review-approvals"
    r = client.post(approvals, json={"reason": "r"}, headers=h("admin"))
    assert r.status_code == 400 and "document_ref" in r.get_json()["error"]["message"]
    r = client.post(
        approvals, json={"reason": "r", "document_ref": "M-1"}, headers=h("other_officer")
    )
    assert r.status_code == 403
    r = client.post(approvals, json={"reason": "r", "document_ref": "M-1"}, headers=h("admin"))
    assert r.status_code == 201 and r.get_json()["officer"] == "officer"
    r = client.get(content, headers=h("officer"))
    assert r.status_code == 200
    r.close()

    r = client.get(content, headers=h("investigator"))
    assert r.status_code == 400 and "report_writing" in r.get_json()["error"]["message"]
    r = client.get(content + "?purpose=training", headers=h("investigator"))
    assert r.status_code == 200
    r.close()

    body = {
        "officer": "officer",
        "media_ids": [b2_item],
        "ends_at": "2026-11-20T13:00:00Z",
        "reason": "IA 26-4",
    }
    r = client.post("/api/v1/review-grants", json={**body, "media_ids": []}, headers=h("admin"))
    assert r.status_code == 400 and "media_ids" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/review-grants", json=body, headers=h("admin"))
    assert r.status_code == 201 and r.get_json()["active"] is True
    grant_id = r.get_json()["id"]
    r = client.get(f"/api/v1/media/{b2_item}/content", headers=h("officer"))
    assert r.status_code == 200
    r.close()
    r = client.get("/api/v1/review-grants?officer=officer", headers=h("auditor"))
    assert [g["id"] for g in r.get_json()["grants"]] == [grant_id]
    revoke = f"/api/v1/review-grants/{grant_id}/revoke"
    r = client.post(revoke, json={"reason": "done"}, headers=h("admin"))
    assert r.status_code == 200 and r.get_json()["active"] is False
    r = client.post(revoke, json={"reason": "done"}, headers=h("admin"))
    assert r.status_code == 409
    r = client.get(f"/api/v1/media/{b2_item}/content", headers=h("officer"))
    assert r.status_code == 403


def test_cli_flags_and_clears_a_critical_incident_ACC_2(
    config: Config, services: Services, b1_item: str
) -> None:
    r = run_cli(config, "media", "critical-incident", b1_item, "--reason", "serious injury")
    assert r.returncode == 0, r.stderr
    assert f"{b1_item} critical incident: yes" in r.stdout
    r = run_cli(config, "media", "critical-incident", b1_item, "--clear")
    assert r.returncode == 2 and "--reason" in r.stderr
    r = run_cli(config, "media", "critical-incident", b1_item, "--clear", "--reason", "minor")
    assert r.returncode == 0 and "critical incident: no" in r.stdout
    with services.db.session() as s:
        item = s.get(MediaItem, b1_item)
        assert item is not None and not item.critical_incident


def test_media_page_asks_the_purpose_before_playing_ACC_4_and_says_why_not_ACC_2(
    services: Services, app: Any, actors: dict[str, Actor], b1_item: str
) -> None:
    investigator = app.test_client()
    sign_in(investigator, "investigator")
    page = investigator.get(f"/media/{b1_item}").get_data(as_text=True)
    assert 'id="purpose-form"' in page and 'id="player"' not in page
    assert '<option value="internal_affairs">' in page
    page = investigator.get(f"/media/{b1_item}?purpose=legal").get_data(as_text=True)
    assert f"/api/v1/media/{b1_item}/content?purpose=legal" in page
    assert 'id="purpose-form"' not in page

    officer = app.test_client()
    sign_in(officer, "officer")
    page = officer.get(f"/media/{b1_item}").get_data(as_text=True)  # own: no purpose asked
    assert 'id="purpose-form"' not in page and f"/api/v1/media/{b1_item}/content" in page
    services.catalog.set_critical_incident(
        actors["admin"], b1_item, CriticalIncidentChange(True, "serious injury")
    )
    page = officer.get(f"/media/{b1_item}").get_data(as_text=True)
    assert 'id="player"' not in page and "written approval" in page
    assert "critical incident" in page


def test_media_page_forms_flag_and_approve_ACC_2(
    services: Services, app: Any, b1_item: str
) -> None:
    officer = app.test_client()
    csrf = sign_in(officer, "officer")
    assert b'id="critical-form"' not in officer.get(f"/media/{b1_item}").data
    r = officer.post(
        f"/media/{b1_item}/critical-incident",
        data={"csrf_token": csrf, "critical_incident": "1", "reason": "mine"},
    )
    assert r.status_code == 403

    sergeant = app.test_client()
    csrf = sign_in(sergeant, "sergeant")
    page = sergeant.get(f"/media/{b1_item}").data
    assert b'id="critical-form"' in page and b'id="approval-form"' not in page
    r = sergeant.post(
        f"/media/{b1_item}/critical-incident",
        data={"csrf_token": csrf, "critical_incident": "1", "reason": "serious injury"},
    )
    assert r.status_code == 302
    page = sergeant.get(r.headers["Location"]).data
    assert b"now flagged as a critical incident" in page and b'id="approval-form"' in page
    r = sergeant.post(
        f"/media/{b1_item}/review-approval",
        data={"csrf_token": csrf, "reason": "after the interview", "expires_at": ""},
    )
    assert r.status_code == 400 and b"ocument_ref or document_media_id is required" in r.data
    r = sergeant.post(
        f"/media/{b1_item}/review-approval",
        data={"csrf_token": csrf, "reason": "after the interview", "document_ref": "MEMO-9"},
    )
    assert r.status_code == 302
    page = officer.get(f"/media/{b1_item}").get_data(as_text=True)
    assert f"/api/v1/media/{b1_item}/content" in page  # the officer may now review it


def test_an_item_restricted_while_its_approval_is_recorded_gets_none_ACC_2_ACC_7(
    services: Services,
    actors: dict[str, Actor],
    b1_item: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sergeant records the written approval of officer B1's own review (ACC-2) at
    the moment an admin restricts the item (ACC-7: administration only). The approval
    was allowed on the item as read before its transaction, so it was recorded and
    audited after the restriction that forbids the sergeant the item. It is refused
    (403, audited) as one sent after the restriction is."""
    from tests.races import restricted_after_check
    from vms.auth.permissions import Action
    from vms.db.models import ReviewApproval

    admin, sergeant = actors["admin"], actors["sergeant"]
    services.catalog.set_critical_incident(admin, b1_item, CriticalIncidentChange(True, "OIS"))
    armed = restricted_after_check(
        monkeypatch, services, services.authoriser, Action.REVIEW_APPROVE, admin, b1_item
    )
    memo = NewApproval(reason="after the interview", document_ref="MEMO-2026-18")
    with pytest.raises(PermissionDenied, match="ACC-7"):
        services.review_access.approve(sergeant, b1_item, memo)
    assert not armed[0]
    with services.db.session() as s:
        assert s.execute(select(ReviewApproval.id)).first() is None
    assert not entries(services, b1_item, action="review.approve", outcome="ok")
    assert entries(services, b1_item, action="review.approve", outcome="denied")


def test_an_item_restricted_while_an_investigator_flags_it_is_not_flagged_ACC_2_ACC_7(
    services: Services,
    actors: dict[str, Actor],
    b1_item: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An investigator flags officer B1's recording as of a critical incident (ACC-2) at
    the moment an admin restricts it (ACC-7: administration only). The flag was allowed
    on the item as read before its transaction, so it was set and audited after the
    restriction that forbids the investigator the item. It is refused (403, audited) as
    one sent after the restriction is."""
    from tests.races import restricted_after_check
    from vms.auth.permissions import Action

    armed = restricted_after_check(
        monkeypatch, services, services.authoriser, Action.MEDIA_CRITICAL, actors["admin"], b1_item
    )
    with pytest.raises(PermissionDenied, match="ACC-7"):
        services.catalog.set_critical_incident(
            actors["investigator"], b1_item, CriticalIncidentChange(True, "OIS")
        )
    assert not armed[0]
    with services.db.session() as s:
        item = s.get_one(MediaItem, b1_item)
        assert item.restricted and not item.critical_incident
    assert not entries(services, b1_item, action="media.critical_incident", outcome="ok")
    assert entries(services, b1_item, action="media.critical_incident", outcome="denied")


def test_the_same_approval_recorded_twice_is_one_approval_ACC_2_ACC_6(
    services: Services, actors: dict[str, Actor], clock: ManualClock, b1_item: str
) -> None:
    """ACC-2, ACC-6: the media page's approval form sent twice (a double-click, a retry)
    recorded two approvals, each audited as review.approve: the audit trail showed the
    act twice. The same approval asked again by the same approver within the repeat
    window, one after the other or at once, is answered with the first; another (other
    document) is a new one."""
    sergeant = actors["sergeant"]
    services.catalog.set_critical_incident(
        actors["investigator"], b1_item, CriticalIncidentChange(True, "officer-involved shooting")
    )
    memo = NewApproval(
        reason="after the interview", document_ref="MEMO-2026-18", expires_at=clock.now() + HOUR
    )
    first = services.review_access.approve(sergeant, b1_item, memo)
    again = services.review_access.approve(sergeant, b1_item, memo)
    assert again.id == first.id
    other = replace(memo, document_ref="MEMO-2026-19")
    at_once = together(
        lambda: services.review_access.approve(sergeant, b1_item, other),
        lambda: services.review_access.approve(sergeant, b1_item, other),
    )
    assert all(not isinstance(a, Exception) for a in at_once), at_once
    assert len({a.id for a in at_once}) == 1, at_once  # type: ignore[attr-defined]
    assert len(entries(services, b1_item, action="review.approve")) == 2


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_a_supervisor_changed_while_approving_a_review_approves_nothing_ACC_1_ACC_2(
    services: Services,
    actors: dict[str, Actor],
    b1_item: str,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """ACC-1, ACC-2: the sergeant records the written approval of officer B1's own
    review at the moment an admin disables them or makes them an officer (officers
    approve nothing). Refused (403, audited) as an approval sent after the change is;
    no approval recorded, none audited as made."""
    from tests.races import user_changed_after_check
    from vms.auth.permissions import Action
    from vms.db.models import ReviewApproval

    services.catalog.set_critical_incident(
        actors["admin"], b1_item, CriticalIncidentChange(True, "OIS")
    )
    armed = user_changed_after_check(
        monkeypatch, services, services.authoriser, Action.REVIEW_APPROVE, "sergeant", change
    )
    memo = NewApproval(reason="after the interview", document_ref="MEMO-2026-20")
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        services.review_access.approve(actors["sergeant"], b1_item, memo)
    assert not armed[0]
    with services.db.session() as s:
        assert s.execute(select(ReviewApproval.id)).first() is None
    assert not entries(services, b1_item, action="review.approve", outcome="ok")
    assert entries(services, b1_item, action="review.approve", outcome="denied")


@pytest.mark.parametrize("change", ["disabled", "demoted"])
@pytest.mark.parametrize("step", ["grant", "revoke"])
def test_an_admin_changed_while_granting_or_revoking_a_review_changes_nothing_ACC_1_ACC_3(
    services: Services,
    actors: dict[str, Actor],
    clock: ManualClock,
    b2_item: str,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    change: str,
) -> None:
    """ACC-1, ACC-3: an admin grants officer B1 review of another officer's item, or
    revokes such a grant, at the moment another admin disables them or makes them an
    officer (only admins grant). Authorised with the role it started with, the grant
    opened the item (or the revocation ended one) after the change that forbids it.
    Refused (403, audited) as one sent after the change is; nothing written."""
    from tests.races import user_changed_after_check
    from vms.auth.permissions import Action
    from vms.db.models import ReviewGrant

    new = NewGrant("officer", (b2_item,), clock.now() + HOUR, "IA case 26-4: review")
    grant = services.review_access.grant(actors["admin"], new) if step == "revoke" else None
    target = "user:officer" if grant is None else f"review_grant:{grant.id}"
    armed = user_changed_after_check(
        monkeypatch, services, services.authoriser, Action.REVIEW_GRANT, "admin", change, on=target
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        if grant is None:
            services.review_access.grant(actors["admin"], new)
        else:
            services.review_access.revoke(actors["admin"], grant.id, "interview done")
    assert not armed[0]
    with services.db.session() as s:
        rows = list(s.execute(select(ReviewGrant)).scalars())
        denied = s.execute(
            select(AuditEntry.action).where(
                AuditEntry.actor == "admin", AuditEntry.outcome == "denied"
            )
        ).scalars()
        assert list(denied) == ["review.grant"]
        done = s.execute(
            select(AuditEntry.action).where(
                AuditEntry.action.in_(("review.grant", "review.revoke")), AuditEntry.outcome == "ok"
            )
        ).scalars()
        assert list(done) == ([] if grant is None else ["review.grant"])  # the grant revoked
    assert [r.revoked_at for r in rows] == ([] if grant is None else [None])


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_a_supervisor_changed_while_clearing_the_critical_flag_clears_nothing_ACC_1_ACC_2(
    services: Services,
    actors: dict[str, Actor],
    b1_item: str,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """ACC-1, ACC-2: officer B1's sergeant clears the critical-incident flag of B1's
    recording at the moment an admin disables them or makes them an officer (officers
    never set or clear it). The transaction decided the item again by the role the
    request was authorised with, so the flag was cleared (B1's own review open again
    without the written approval) after the change that forbids it. Refused (403,
    audited) as a clearing sent after the change is: the flag stays, no custody event, no
    ``media.critical_cleared`` entry."""
    from tests.races import user_changed_after_check
    from vms.auth.permissions import Action
    from vms.db.models import CustodyEvent

    services.catalog.set_critical_incident(
        actors["admin"], b1_item, CriticalIncidentChange(True, "OIS")
    )
    armed = user_changed_after_check(
        monkeypatch, services, services.authoriser, Action.MEDIA_CRITICAL, "sergeant", change
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        services.catalog.set_critical_incident(
            actors["sergeant"], b1_item, CriticalIncidentChange(False, "no injury")
        )
    assert not armed[0]
    with services.db.session() as s:
        assert s.get_one(MediaItem, b1_item).critical_incident
        cleared = s.execute(
            select(CustodyEvent.id).where(
                CustodyEvent.media_id == b1_item,
                CustodyEvent.action == "critical_incident_cleared",
            )
        ).all()
    assert cleared == []
    assert not entries(services, b1_item, action="media.critical_cleared")
    denied = entries(services, b1_item, actor="sergeant", outcome="denied")
    assert [e.action for e in denied] == ["media.critical_incident"]


def test_a_revoke_retried_with_its_request_id_is_answered_as_the_first_ACC_3_ACC_6(
    client: Any, tokens: dict[str, str], services: Services, b2_item: str
) -> None:
    """ACC-3, ACC-6: a client that retried a grant's revocation after a lost answer got a
    409 "revoked at ..." although its first request had revoked it. With ``request_id``
    (a UUID of the client's) the retry gets the first answer, revoked and audited once;
    without it, with another id or another reason, a second revocation is still a 409."""
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    body = {"officer": "officer", "media_ids": [b2_item], "ends_at": "2026-11-20T13:00:00Z"}
    r = client.post("/api/v1/review-grants", json={**body, "reason": "IA 26-5"}, headers=admin)
    assert r.status_code == 201, r.get_json()
    revoke = f"/api/v1/review-grants/{r.get_json()['id']}/revoke"
    sent = {"reason": "done", "request_id": "6c5b4a39-2817-4f6e-9d5c-4b3a29180f7e"}
    first = client.post(revoke, json=sent, headers=admin)
    again = client.post(revoke, json=sent, headers=admin)
    assert first.status_code == 200, first.get_json()
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    assert len(entries_of(services, "review.revoke")) == 1
    for changed in (
        {"request_id": "0f1e2d3c-4b5a-4968-8776-655443322110"},
        {"request_id": None},
        {"reason": "done again"},
    ):
        refused = client.post(revoke, json={**sent, **changed}, headers=admin)
        assert refused.status_code == 409 and "was revoked at" in refused.get_data(as_text=True)


def entries_of(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars()
        return list(rows)


def test_a_retried_critical_incident_flag_is_answered_as_the_first_ACC_2_ACC_6(
    client: Any, tokens: dict[str, str], services: Services, b1_item: str
) -> None:
    """ACC-2, ACC-6: an API client retrying ``PUT .../critical-incident`` after a lost
    answer got a 409 "already flagged" although its first request had worked. With the
    first request's ``request_id`` the retry is answered with the item, flagged and
    audited once; without it, with another id, another reason, or by another user with
    the same id, it is still a 409."""
    url = f"/api/v1/media/{b1_item}/critical-incident"
    sergeant = {"Authorization": f"Bearer {tokens['sergeant']}"}
    body = {
        "critical_incident": True,
        "reason": "officer-involved shooting",
        "request_id": "7d3e1f0a-2b4c-4d6e-8f1a-3b5c7d9e1f20",
    }
    first = client.put(url, json=body, headers=sergeant)
    assert first.status_code == 200, first.get_json()
    again = client.put(url, json=body, headers=sergeant)
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    for changed, user in (
        ({"request_id": None}, "sergeant"),
        ({"request_id": "1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"}, "sergeant"),
        ({"reason": "another reason"}, "sergeant"),
        ({}, "admin"),  # another user's request under the same id is not a retry
    ):
        headers = {"Authorization": f"Bearer {tokens[user]}"}
        refused = client.put(url, json={**body, **changed}, headers=headers)
        assert refused.status_code == 409, refused.get_json()
        assert "already flagged" in refused.get_json()["error"]["message"]
    assert len(entries(services, b1_item, action="media.critical_incident")) == 1


def test_the_critical_incident_form_sent_twice_flags_once_ACC_2_ACC_6(
    app: Any, services: Services, b1_item: str
) -> None:
    """ACC-2, ACC-6: the media page's *Flag as a critical incident* form sent twice (a
    double-click, a browser's retry) flagged with the first post and answered the
    second with the page's 409 "already flagged". Its one-time key tells the repeat: it
    goes where the first went, flagged and audited once; a post without the key is
    still refused."""
    sergeant = app.test_client()
    sign_in(sergeant, "sergeant")
    path = f"/media/{b1_item}/critical-incident"
    form = {**hidden_fields(sergeant.get(f"/media/{b1_item}").data, "critical-form")}
    form["reason"] = "serious bodily injury"
    assert "form_key" in form
    went = sent_twice(sergeant, path, form)
    assert "critical=1" in went
    refused = sergeant.post(path, data={**form, "form_key": ""})
    assert refused.status_code == 409 and b"already flagged" in refused.data
    assert len(entries(services, b1_item, action="media.critical_incident")) == 1
