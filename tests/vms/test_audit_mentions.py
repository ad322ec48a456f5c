"""Audit completeness (issue 14 item 2, ACC-6): metadata views are audited with what they
showed, and an auditor can pull everything that touched one item or one camera."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from recorder.recording import RecordingLog, TimelineWindow
from retention.plugin import Retention
from tests.conftest import sign_in
from tests.retention.conftest import ingest
from vms.audit.mentions import mentioned
from vms.audit.view import AuditQuery
from vms.auth.permissions import Actor
from vms.catalog_values import MediaQuery
from vms.db.models import AuditEntry, SourceKind
from vms.services import Services


def _auth(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def _last(services: Services) -> AuditEntry:
    with services.db.session() as s:
        return s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()


def _two_items(services: Services) -> tuple[str, str]:
    at = services.clock.now() - dt.timedelta(hours=1)
    a = ingest(services, device="CAM-A", recorded_at=at)
    b = ingest(services, device="CAM-B", recorded_at=at + dt.timedelta(minutes=1))
    return a, b


def test_mentions_come_from_the_chained_details() -> None:
    assert mentioned("catalog", {"media_ids": ["a", "b"], "camera_id": "c"}) == {
        "media:a",
        "media:b",
        "camera:c",
    }
    # The target itself, empty values, booleans and nested objects are not mentions.
    assert mentioned("media:a", {"media_id": "a", "media_ids": ["", None, True, {"x": 1}]}) == set()


def test_metadata_views_are_audited_with_what_they_showed_ACC_6(
    services: Services, actors: dict[str, Actor]
) -> None:
    a, b = _two_items(services)
    investigator = actors["investigator"]

    page = services.catalog.search(investigator, MediaQuery(source=SourceKind.FIXED))
    entry = _last(services)
    assert (entry.actor, entry.action, entry.target) == ("investigator", "media.search", "catalog")
    assert entry.details == {
        "filters": {"source": "fixed"},
        "media_ids": [i.id for i in page.items],
    }
    assert set(entry.details["media_ids"]) == {a, b}

    services.catalog.get(investigator, a)
    entry = _last(services)
    assert (entry.action, entry.target) == ("media.detail", f"media:{a}")

    recording = services.ports.get(RecordingLog, reader="the test")
    window = TimelineWindow(services.clock.now() - dt.timedelta(hours=2), services.clock.now())
    recording.timeline(investigator, "CAM-A", window)
    entry = _last(services)
    assert (entry.action, entry.target) == ("recording.timeline", "camera:CAM-A")
    assert entry.details["media_ids"] == [a]

    commander = actors["commander"]
    retention = services.ports.get(Retention, reader="the test")
    reports = retention.reports
    reports.upcoming(commander, days=3660)
    entry = _last(services)
    assert (entry.action, entry.target) == ("report.view", "upcoming-deletions")
    assert set(entry.details["media_ids"]) == {a, b}
    reports.untagged(commander)
    assert (_last(services).action, _last(services).target) == ("report.view", "reports:untagged")
    reports.destruction_log(commander)
    assert _last(services).target == "destruction-log"

    retention.preservation.log(commander)
    assert (_last(services).action, _last(services).target) == (
        "preservation.read",
        "preservation-requests",
    )
    retention.legal_holds.log(commander)
    assert (_last(services).action, _last(services).target) == ("legal_hold.read", "legal-holds")


def test_everything_that_touched_one_item_ACC_6(
    services: Services, actors: dict[str, Actor]
) -> None:
    a, b = _two_items(services)
    investigator = actors["investigator"]
    services.catalog.search(investigator, MediaQuery(device_id="CAM-B"))  # shows b only
    services.catalog.search(investigator, MediaQuery())  # shows both
    services.catalog.get(investigator, b)
    services.catalog.get(investigator, a)

    page = services.audit_view.search(actors["auditor"], AuditQuery(target=f"media:{a}"))
    got = [(e.action, e.target) for e in page.entries]
    # Newest first: its detail view, the search that showed it, its ingest; nothing of b's.
    assert got[:2] == [("media.detail", f"media:{a}"), ("media.search", "catalog")]
    assert ("media.detail", f"media:{b}") not in got
    assert all(
        e.target == f"media:{a}" or a in e.details.get("media_ids", []) for e in page.entries
    )
    searches = [e for e in page.entries if e.action == "media.search"]
    assert len(searches) == 1  # the CAM-B search did not show it

    # By kind only: entries whose own target is a media item.
    kinds = services.audit_view.search(actors["auditor"], AuditQuery(target_type="media"))
    assert kinds.entries and all(e.target.startswith("media:") for e in kinds.entries)
    # "%" or "_" in a kind is not a wildcard.
    wild = services.audit_view.search(actors["auditor"], AuditQuery(target_type="%"))
    assert wild.entries == ()


def test_audit_api_filters_by_target_type_and_id(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    a, _b = _two_items(services)
    assert client.get("/api/v1/media", headers=_auth(tokens, "investigator")).status_code == 200
    r = client.get(
        f"/api/v1/audit?target_type=media&target_id={a}", headers=_auth(tokens, "auditor")
    )
    assert r.status_code == 200, r.json
    actions = [e["action"] for e in r.json["items"]]
    assert actions[0] == "media.search" and "media.search" in actions
    assert all(
        e["target"] == f"media:{a}" or a in e["details"]["media_ids"] for e in r.json["items"]
    )

    r = client.get(f"/api/v1/audit?target_id={a}", headers=_auth(tokens, "auditor"))
    assert r.status_code == 400
    assert r.json["error"]["details"]["field"] == "target_type" and a in r.json["error"]["message"]
    r = client.get("/api/v1/audit?target_type=Media%25", headers=_auth(tokens, "auditor"))
    assert r.status_code == 400 and "target_type" in r.json["error"]["message"]
    r = client.get(
        f"/api/v1/audit?target_type=media&target_id={a}", headers=_auth(tokens, "investigator")
    )
    assert r.status_code == 403


def test_item_page_shows_its_access_history_to_auditors_only(services: Services, app: Any) -> None:
    a, _b = _two_items(services)
    investigator = app.test_client()
    sign_in(investigator, "investigator")
    page = investigator.get(f"/media/{a}")
    assert page.status_code == 200 and b"Access history" not in page.data

    auditor = app.test_client()
    sign_in(auditor, "auditor")
    page = auditor.get(f"/media/{a}")
    assert page.status_code == 200 and b"Access history" in page.data
    html = page.data.decode()
    history = html[html.index('id="access-history"') :]
    # The investigator's view of the page (media.detail) is in the item's history.
    assert "investigator" in history and "media.detail" in history
