"""The retention API and page over HTTP (Flask test client, bearer tokens and a browser
session): RET-2, RET-3, RET-10, RET-12, RET-13, TAG-3, TAG-7, ACC-1."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from sqlalchemy import select

from retention.plugin import get as get_retention
from tests.conftest import sign_in
from tests.retention.conftest import DAY, ingest
from vms.clock import isoformat
from vms.db.models import AuditEntry, SourceKind
from vms.services import Services


def auth(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


def request_body(media_ids: list[str], **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request_number": "PR-API-1",
        "requester": {"name": "Public Defender", "organization": "PD", "contact": "555"},
        "received_at": "2026-01-01T00:00:00Z",
        "received_via": "written",
        "reason": "pending case",
        "litigation_anticipated": False,
        "case_number": None,
        "scope": [],
        "media_ids": media_ids,
    }
    body.update(over)
    return body


def test_preservation_request_api_round_trip_RET_2_RET_3_RET_12(
    services: Services, client, tokens
) -> None:
    now = services.clock.now()
    media = ingest(services, recorded_at=now - 2 * DAY)
    gone = ingest(services, device="CAM-9", recorded_at=now - 40 * DAY)
    get_retention(services).purger.run()

    # GET /media/{id} explains which rule decided the expiry (RET-12).
    detail = client.get(f"/api/v1/media/{media}", headers=auth(tokens, "investigator")).json
    assert detail["retention_rule"] == "RET-1 fixed 30 days" and detail["expires_at"]

    scope = [
        {
            "device_id": "CAM-9",
            "start": isoformat(now - 41 * DAY),
            "end": isoformat(now - 39 * DAY),
        }
    ]
    r = client.post(
        "/api/v1/preservation-requests",
        json=request_body([media], scope=scope),
        headers=auth(tokens, "commander"),
    )
    assert r.status_code == 201, r.json
    out = r.json
    assert out["state"] == "active" and out["pinned"] == [media]
    assert [p["media_id"] for p in out["already_purged"]] == [gone]
    detail = client.get(f"/api/v1/media/{media}", headers=auth(tokens, "investigator")).json
    assert detail["expires_at"] is None and detail["evidence"] is True
    assert detail["retention_rule"] == "RET-2 preservation request PR-API-1"

    listed = client.get("/api/v1/preservation-requests", headers=auth(tokens, "auditor")).json
    assert [x["request_number"] for x in listed["requests"]] == ["PR-API-1"]
    one = client.get(f"/api/v1/preservation-requests/{out['id']}", headers=auth(tokens, "admin"))
    assert one.json["pinned"] == [media]

    bad = client.post(
        f"/api/v1/preservation-requests/{out['id']}/release",
        json={"reason": "no notice"},
        headers=auth(tokens, "commander"),
    )
    assert bad.status_code == 400 and bad.json["error"]["kind"] == "invalid_argument"
    ok = client.post(
        f"/api/v1/preservation-requests/{out['id']}/release",
        json={"notice": "N-1", "reason": "closed"},
        headers=auth(tokens, "commander"),
    )
    assert ok.status_code == 200 and ok.json["state"] == "released"

    log = client.get("/api/v1/retention/destruction-log", headers=auth(tokens, "auditor")).json
    assert [r["media_id"] for r in log["records"]] == [gone]


def test_bad_input_and_permissions_over_http_ACC_1_RET_10(
    services: Services, client, tokens
) -> None:
    media = ingest(services, recorded_at=services.clock.now())
    inverted = [{"device_id": "CAM-1", "start": "2026-02-02T00:00Z", "end": "2026-02-01T00:00Z"}]
    r = client.post(
        "/api/v1/preservation-requests",
        json=request_body([], scope=inverted),
        headers=auth(tokens, "commander"),
    )
    assert r.status_code == 400 and "not before end" in r.json["error"]["message"]
    r = client.post(
        "/api/v1/preservation-requests",
        json=request_body([media]),
        headers=auth(tokens, "officer"),
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/legal-holds",
        json={"reference": "LH", "reason": "r", "media_ids": [media]},
        headers=auth(tokens, "investigator"),
    )
    assert r.status_code == 403
    with services.db.session() as s:
        denied = list(
            s.execute(
                select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.outcome == "denied")
            ).all()
        )
    assert ("officer", "preservation.manage") in denied
    assert ("investigator", "retention.manage") in denied

    hold = client.post(
        "/api/v1/legal-holds",
        json={"reference": "LH-1", "reason": "suit", "media_ids": [media]},
        headers=auth(tokens, "commander"),
    )
    assert hold.status_code == 201
    r = client.post(
        f"/api/v1/legal-holds/{hold.json['id']}/release", json={}, headers=auth(tokens, "admin")
    )
    assert r.status_code == 400 and "release notice" in r.json["error"]["message"]
    r = client.post(
        f"/api/v1/legal-holds/{hold.json['id']}/release",
        json={"notice": "RN-9"},
        headers=auth(tokens, "admin"),
    )
    assert r.status_code == 200 and r.json["state"] == "released"


def test_bodies_and_queries_are_refused_by_their_models_naming_field_and_value(
    services: Services, client, tokens
) -> None:
    """Syntax is refused before any service runs: 400 naming the field and the value,
    and nothing is logged."""
    media = ingest(services, recorded_at=services.clock.now())
    h = auth(tokens, "commander")
    refused = [
        (
            client.post(
                "/api/v1/preservation-requests",
                json=request_body([media], received_via="carrier pigeon"),
                headers=h,
            ),
            "received_via: 'carrier pigeon' must be one of 'written', 'electronic' or 'oral'",
        ),
        (
            client.post(
                "/api/v1/preservation-requests",
                json=request_body([media], priority="high"),
                headers=h,
            ),
            "priority is not a field of this request",
        ),
        (
            client.post(
                "/api/v1/legal-holds",
                json={"reference": "LH", "reason": "r", "media_ids": media},
                headers=h,
            ),
            f"media_ids: {media!r} is not valid",
        ),
        (
            client.put("/api/v1/cases/C-1", json={"state": "reopened"}, headers=h),
            "state: 'reopened' must be one of 'open' or 'closed'",
        ),
        (
            client.get("/api/v1/preservation-requests?state=lost", headers=h),
            "state: 'lost' must be one of 'active' or 'released'",
        ),
        (
            client.post("/api/v1/legal-holds", json=[media], headers=h),
            "the request body must be a JSON object",
        ),
    ]
    for r, message in refused:
        assert r.status_code == 400, r.json
        assert r.json["error"]["message"].startswith(message), r.json
    assert client.get("/api/v1/preservation-requests", headers=h).json == {"requests": []}
    assert client.get("/api/v1/legal-holds", headers=h).json == {"holds": []}


# The monthly report is calendar-bound: run it on the first, a middle and the last day of
# a month (on the 1st every earlier item falls in the previous month), never on the wall
# clock, so the test passes whatever today's date is (#10.18).
MONTH_DAYS = [
    dt.datetime(2027, 3, 1, 0, 30, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC),
]


@pytest.mark.parametrize("clock", MONTH_DAYS, indirect=True, ids=["1st", "15th", "31st"])
def test_upcoming_and_untagged_reports_RET_13_TAG_3_TAG_7(
    timed: Services, timed_client, timed_tokens
) -> None:
    services, client, tokens = timed, timed_client, timed_tokens
    now = services.clock.now()
    assert now in MONTH_DAYS  # the injected clock, not the wall clock
    fixed_at = [now - 27 * DAY, now - 10 * DAY]
    soon = ingest(services, recorded_at=fixed_at[0])  # fixed: expires in 3 days
    ingest(services, recorded_at=fixed_at[1])  # expires in 20 days
    up = client.get("/api/v1/retention/upcoming?days=7", headers=auth(tokens, "commander")).json
    assert [i["id"] for i in up["items"]] == [soon]
    r = client.get("/api/v1/retention/upcoming?days=x", headers=auth(tokens, "commander"))
    assert r.status_code == 400

    untagged = ingest(
        services, source=SourceKind.BWC, device="BWC-1", officer="B1", recorded_at=now
    )
    retention = get_retention(services)
    retention.reports.deadline = dt.timedelta(0)  # the 72 h deadline has passed (TAG-3)
    report = client.get("/api/v1/reports/untagged", headers=auth(tokens, "sergeant")).json
    [row] = report["items"]
    assert (row["id"], row["officer"], row["supervisor"]) == (untagged, "officer", "sergeant")
    assert retention.reports.notify_untagged() == 1
    assert retention.reports.notify_untagged() == 0  # once a day
    report = client.get("/api/v1/reports/untagged", headers=auth(tokens, "sergeant")).json
    assert report["failures_per_officer"] == {"B1": 1}

    # TAG-7: each month counts the untagged fixed items recorded in it, and the tagging
    # failure falls in the month it was notified (now).
    def month_of(t: dt.datetime) -> str:
        return t.strftime("%Y-%m")

    for month in sorted({month_of(t) for t in [*fixed_at, now]}):
        monthly = client.get(
            f"/api/v1/reports/monthly?month={month}", headers=auth(tokens, "auditor")
        ).json
        fixed = sum(month_of(t) == month for t in fixed_at)
        assert monthly["untagged_not_requiring_tags"] == ({"fixed": fixed} if fixed else {})
        failures = {"B1": 1} if month == month_of(now) else {}
        assert monthly["tagging_failures_per_officer"] == failures
    default = client.get("/api/v1/reports/monthly", headers=auth(tokens, "auditor")).json
    assert default["month"] == month_of(now)
    assert (
        client.get("/api/v1/reports/untagged", headers=auth(tokens, "officer")).status_code == 403
    )


def test_reading_the_monthly_tagging_report_is_audited_TAG_7_ACC_6(
    services: Services, client, tokens
) -> None:
    """ACC-6, TAG-7: every other report (untagged, upcoming deletions, destruction log,
    the monthly audit) audits its reading; the TAG-7 report, which names the officers
    who failed to tag, was read without an entry (and the monthly audit, which shows it,
    counted on it auditing itself)."""
    now = services.clock.now()
    ingest(services, source=SourceKind.BWC, device="BWC-1", officer="B1", recorded_at=now)
    retention = get_retention(services)
    retention.reports.deadline = dt.timedelta(0)
    assert retention.reports.notify_untagged() == 1
    month = now.strftime("%Y-%m")
    r = client.get(f"/api/v1/reports/monthly?month={month}", headers=auth(tokens, "auditor"))
    assert r.status_code == 200 and r.json["tagging_failures_per_officer"] == {"B1": 1}
    with services.db.session() as s:
        read = s.execute(
            select(AuditEntry.actor, AuditEntry.details).where(
                AuditEntry.action == "report.view", AuditEntry.target == "reports:monthly"
            )
        ).all()
    assert read == [("auditor", {"month": month, "officer_badges": ["B1"]})]
    assert services.audit.verify(services.db) is None


def test_request_log_page_and_form_with_csrf_RET_3(services: Services, client) -> None:
    media = ingest(services, recorded_at=services.clock.now())
    csrf = sign_in(client, "commander")
    page = client.get("/retention/preservation")
    assert page.status_code == 200 and b"Log a request" in page.data
    form = {
        "csrf_token": csrf,
        "request_number": "PR-FORM-1",
        "requester_name": "Claims rep",
        "received_at": "2026-01-05T10:00Z",
        "received_via": "oral",
        "reason": "anticipated litigation",
        "litigation_anticipated": "on",
        "scope": "",
        "media_ids": media,
    }
    no_csrf = client.post("/retention/preservation", data={**form, "csrf_token": "x"})
    assert no_csrf.status_code == 403
    r = client.post("/retention/preservation", data=form)
    assert r.status_code == 302
    page = client.get(r.headers["Location"])
    assert b"PR-FORM-1" in page.data and b"Claims rep" in page.data


def test_preservation_page_refuses_other_roles_with_the_page_RET_3(
    services: Services, client
) -> None:
    """An officer (no retention.read) gets the "Not permitted" page, not JSON; audited."""
    sign_in(client, "officer")
    page = client.get("/retention/preservation")
    assert page.status_code == 403
    assert page.mimetype == "text/html" and b"Not permitted" in page.data
    with services.db.session() as s:
        denied = (
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.actor == "officer", AuditEntry.outcome == "denied"
                )
            )
            .scalars()
            .all()
        )
    assert denied


def test_scanned_form_is_ingested_hashed_and_kept_with_the_request_RET_3(
    services: Services, client, tokens
) -> None:
    from tests.retention.conftest import document

    media = ingest(services, recorded_at=services.clock.now())
    created = client.post(
        "/api/v1/preservation-requests",
        json=request_body([media], request_number="PR-FORM-2"),
        headers=auth(tokens, "commander"),
    ).json
    form = document("scanned form")
    r = client.post(
        f"/api/v1/preservation-requests/{created['id']}/form?filename=form.pdf",
        data=form,
        headers={**auth(tokens, "commander"), "Content-Type": "application/pdf"},
    )
    assert r.status_code == 200, r.json
    form_id = r.json["form_media_id"]
    assert form_id in r.json["pinned"]
    detail = client.get(f"/api/v1/media/{form_id}", headers=auth(tokens, "admin")).json
    import hashlib

    assert detail["sha256"] == hashlib.sha256(form).hexdigest()
    assert detail["retention_rule"] == "RET-2 preservation request PR-FORM-2"
    released = client.post(
        f"/api/v1/preservation-requests/{created['id']}/release",
        json={"notice": "NOTICE-1", "reason": "claim settled"},
        headers=auth(tokens, "commander"),
    )
    assert released.status_code == 200, released.json
    # RET-3, RET-7: the form stays with the log entry as evidence, like its footage.
    detail = client.get(f"/api/v1/media/{form_id}", headers=auth(tokens, "admin")).json
    assert detail["retention_rule"] == "RET-7 evidence 1461 days"
    # A late form of the released request is logged without a hold (RET-2).
    late = client.post(
        f"/api/v1/preservation-requests/{created['id']}/form?filename=late.pdf",
        data=document("late form"),
        headers={**auth(tokens, "commander"), "Content-Type": "application/pdf"},
    )
    assert late.status_code == 200, late.json
    assert late.json["state"] == "released"
    assert late.json["form_media_id"] not in late.json["pinned"]


def test_vms_purge_dry_run_cli_lists_and_keeps_RET_13(
    services: Services, config, monkeypatch, capsys
) -> None:
    import json

    from vms.cli import main

    old = ingest(services, recorded_at=services.clock.now() - 40 * DAY)
    monkeypatch.setenv("VMS_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("VMS_DATABASE_URL", config.effective_database_url)
    monkeypatch.setenv("VMS_INGEST_MIN_FREE_BYTES", "0")
    monkeypatch.setenv("VMS_RETENTION_DISK_ALARM_FREE_BYTES", "0")
    assert main(["purge", "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["media_id"] for p in report["would_purge"]] == [old]
    [candidate] = report["would_purge"]
    assert list(candidate) == ["media_id", "source", "rule", "expired_at"]
    assert candidate["expired_at"].endswith("Z") and report["now"].endswith("Z")
    assert main(["purge"]) == 0
    assert "purged 1 items" in capsys.readouterr().out


def test_disk_alarm_reaches_signed_in_browsers_over_socketio_INV_3(
    services: Services, tokens
) -> None:
    from web.app import create_app

    app, socketio = create_app(services, testing=True)
    browser = socketio.test_client(app, headers=auth(tokens, "dispatcher"))
    assert browser.is_connected()
    retention = get_retention(services)
    retention.purger.alarm_free_bytes = 1 << 62
    retention.purger.run()
    messages = browser.get_received()
    received = [m for m in messages if m["name"] == "retention.disk_alarm"]
    assert received and received[0]["args"][0]["active"] is True
    # And the alarm it raises, for the wall and the alarms page (issue 12.3).
    alarms = [m["args"][0] for m in messages if m["name"] == "alarm.raised"]
    assert [a["kind"] for a in alarms] == ["disk_alarm"]
    # Another run with another threshold: the open alarm's current detail reaches the
    # pages too (alarm.changed, the same alarm).
    retention.purger.alarm_free_bytes = 1 << 61
    retention.purger.run()
    changed = [m["args"][0] for m in browser.get_received() if m["name"] == "alarm.changed"]
    assert [(a["id"], a["kind"]) for a in changed] == [(alarms[0]["id"], "disk_alarm")]
    assert str(1 << 61) in changed[0]["detail"]
    browser.disconnect()


def test_request_form_is_read_by_the_api_model_and_refused_with_its_message_RET_3(
    services: Services, client, actors
) -> None:
    media = ingest(services, recorded_at=services.clock.now())
    csrf = sign_in(client, "commander")
    form = {
        "csrf_token": csrf,
        "request_number": "PR-FORM-9",
        "requester_name": "Claims rep",
        "received_at": "2026-01-05T10:00Z",
        "received_via": "fax",
        "reason": "anticipated litigation",
        "scope": "",
        "media_ids": media,
    }
    r = client.post("/retention/preservation", data=form)
    assert r.status_code == 400
    assert b"received_via: &#39;fax&#39; must be one of" in r.data
    assert get_retention(services).preservation.log(actors["commander"]) == ()


def test_the_request_log_page_is_paged_and_reaches_the_oldest_request_RET_3(
    services: Services, client
) -> None:
    """RET-3: the log kept by the records commander shows every request. Before, the
    page showed the newest 100 and nothing said more existed."""
    media = ingest(services, recorded_at=services.clock.now())
    csrf = sign_in(client, "commander")
    for n in range(101):
        form = {
            "csrf_token": csrf,
            "request_number": f"PR-{n:03d}",
            "requester_name": "Claims rep",
            "received_at": f"2026-01-05T10:{n // 60:02d}:{n % 60:02d}Z",
            "received_via": "written",
            "reason": "claim",
            "media_ids": media,
        }
        assert client.post("/retention/preservation", data=form).status_code == 302
    seen: set[str] = set()
    url: str | None = "/retention/preservation"
    pages = 0
    while url is not None and pages < 5:
        page = client.get(url).get_data(as_text=True)
        pages += 1
        seen |= set(re.findall(r"<td>(PR-\d{3})</td>", page))
        older = re.search(r'<a [^>]*href="([^"]+)"[^>]*>Older', page)
        url = html.unescape(older.group(1)) if older else None
    assert seen == {f"PR-{n:03d}" for n in range(101)}, sorted(
        {f"PR-{n:03d}" for n in range(101)} - seen
    )
    assert pages == 2 and "Newer" in page


def test_a_release_retried_with_its_request_id_is_answered_as_the_first_RET_2_ACC_6(
    services: Services, client: Any, tokens: dict[str, str]
) -> None:
    """RET-2, ACC-6: a client that retried a preservation request's release after a lost
    answer got a 409 "already released" although its first request had released it.
    With ``request_id`` (a UUID of the client's) the retry gets the first answer,
    released and audited once; without it, with another id, another notice or another
    reason, a second release is still refused (409)."""
    media = ingest(services, recorded_at=services.clock.now())
    commander = auth(tokens, "commander")
    r = client.post("/api/v1/preservation-requests", json=request_body([media]), headers=commander)
    assert r.status_code == 201, r.json
    path = f"/api/v1/preservation-requests/{r.json['id']}/release"
    sent = {
        "notice": "N-2",
        "reason": "closed",
        "request_id": "1d2c3b4a-5e6f-4a8b-9c0d-e1f2a3b4c5d6",
    }
    first = client.post(path, json=sent, headers=commander)
    again = client.post(path, json=sent, headers=commander)
    assert first.status_code == 200, first.json
    assert (again.status_code, again.json) == (200, first.json)
    with services.db.session() as s:
        released = select(AuditEntry).where(AuditEntry.action == "preservation.release")
        assert len(s.execute(released).scalars().all()) == 1
    for changed in (
        {"request_id": "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"},
        {"request_id": None},
        {"notice": "N-3"},
        {"reason": "other"},
    ):
        refused = client.post(path, json={**sent, **changed}, headers=commander)
        assert refused.status_code == 409 and "already released" in refused.json["error"]["message"]
