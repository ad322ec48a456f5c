"""The monthly audits (OPS-6, OPS-7, TAG-7; issue 14 item 3): a generated month of
activity on both databases, and the report's numbers checked against truths counted
here independently; the CSV parses, the PDF renders (pdftoppm) and shows the numbers
(pdftotext); the viewing of the report is audited.

The month is December 2026. Activity is written as it is in production: audit entries
through ``AuditLog.record`` at instants set on the ManualClock (a few just outside the
month and a few refused, which must not count), reviews through ``ReviewService``;
stored items, holds, expiries, destruction records and tagging notices are rows the
report reads.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import shutil
import subprocess
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.audit_fill import Entry, fill
from tests.races import together
from tests.statements import captured
from vms.audit.log import Who
from vms.audit.monthly import RecordReview, ReviewQuery
from vms.audit.monthly_out import to_csv, to_pdf
from vms.auth.permissions import Actor
from vms.clock import ManualClock, isoformat
from vms.db.models import (
    AuditEntry,
    DestructionRecord,
    Device,
    MediaExpiry,
    MediaHold,
    MediaItem,
    TaggingNotice,
)
from vms.errors import InvalidArgument, PermissionDenied
from vms.ports import PtzUseReport
from vms.services import Services

UTC = dt.UTC
# December: the clock fixture starts on 2026-11-20 and only moves forward.
START = dt.datetime(2026, 12, 1, tzinfo=UTC)
END = dt.datetime(2027, 1, 1, tzinfo=UTC)
MONTH = "2026-12"
SECOND = dt.timedelta(seconds=1)

USERS = {  # who uses media in the generated month, and their roles
    "investigator": "investigator",
    "sergeant": "supervisor",
    "admin": "admin",
    "dispatcher": "dispatcher",
}
USAGE_ACTIONS = {
    "media.view": "views",
    "media.download": "downloads",
    "media.export.download": "downloads",
    "media.playback": "playbacks",
    "live.view": "live_views",
    "media.export": "exports",
    "release.approve": "releases",
}
CAMERAS = ("CAM-1", "CAM-2")


def _at(clock: ManualClock, when: dt.datetime) -> None:
    clock.advance(when - clock.now())  # events are generated in time order


def _item(
    s: Any,
    *,
    source: str,
    device: str,
    size: int,
    ingested: dt.datetime,
    badge: str | None = None,
    evidence: bool = False,
) -> str:
    media_id = str(uuid.uuid4())
    s.add(
        MediaItem(
            id=media_id,
            source=source,
            media_type="video",
            content_type="video/mp4",
            device_id=device,
            officer_badge=badge,
            recorded_start=ingested - dt.timedelta(hours=1),
            size_bytes=size,
            sha256=uuid.uuid4().hex + uuid.uuid4().hex,
            evidence=evidence,
            ingested_at=ingested,
            ingested_by="test",
            recorded_start_origin="ingest",
        )
    )
    return media_id


class Month:
    """The generated activity and the truths counted while generating it."""

    def __init__(self) -> None:
        self.usage: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        self.live: Counter[tuple[str, str]] = Counter()
        self.playbacks: Counter[tuple[str, str]] = Counter()
        self.playback_seconds: Counter[tuple[str, str]] = Counter()
        self.item_views: Counter[tuple[str, str]] = Counter()
        self.storage: dict[str, Counter[str]] = defaultdict(Counter)
        self.reviews: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.media: dict[str, str] = {}  # media id -> device


@pytest.fixture
def month(services: Services, clock: ManualClock, actors: dict[str, Actor]) -> Month:
    rng = random.Random(14_3)
    truth = Month()
    audit = services.audit
    with services.db.transaction() as s:
        for dev, kind in (("CAM-1", "fixed"), ("CAM-2", "fixed"), ("BWC-1", "bwc")):
            s.add(Device(id=dev, kind=kind, name=dev, created_at=START - dt.timedelta(days=60)))
        s.flush()
        # Storage: items ingested before and during the month, and one after it.
        for n in range(14):
            source, device, badge = (
                ("fixed", CAMERAS[n % 2], None)
                if n % 3
                else ("bwc", "BWC-1", "B1" if n % 2 else "B2")
            )
            size = 1000 * (n + 1)
            ingested = START + dt.timedelta(days=n * 3 - 8, hours=n)
            held, expiring = n % 4 == 0, n % 4 == 1
            media_id = _item(
                s,
                source=source,
                device=device,
                size=size,
                ingested=ingested,
                badge=badge,
                evidence=n == 6,
            )
            truth.media[media_id] = device
            if n % 4 == 0:
                s.add(
                    MediaHold(
                        media_id=media_id,
                        kind="legal",
                        hold_id=f"H{n}",
                        label="L",
                        created_at=START,
                    )
                )
            if n % 4 == 1:
                s.add(
                    MediaExpiry(
                        media_id=media_id,
                        expires_at=END + dt.timedelta(days=n),
                        retention_rule="RET-1",
                    )
                )
            if n % 4 == 2:  # a released hold: neither held nor expiring unless evidence
                s.add(
                    MediaHold(
                        media_id=media_id,
                        kind="legal",
                        hold_id=f"H{n}",
                        label="L",
                        created_at=START,
                        released_at=START + dt.timedelta(days=1),
                    )
                )
            held = held or n == 6
            expiring = expiring and not held
            if ingested < END:
                t = truth.storage[source]
                t["items"] += 1
                t["bytes"] += size
                t["held_items"] += held
                t["held_bytes"] += size * held
                t["expiring_items"] += expiring
                t["expiring_bytes"] += size * expiring
                if ingested >= START:
                    t["added_items"] += 1
                    t["added_bytes"] += size
        # Destruction records: purged in October, in November, and in December (still
        # stored at November's end).
        for n, purged in enumerate(
            (
                START - dt.timedelta(days=3),
                START + dt.timedelta(days=5),
                START + dt.timedelta(days=25),
                END + dt.timedelta(days=2),
            )
        ):
            source = "fixed" if n % 2 else "bwc"
            size = 50_000 + n
            s.add(
                DestructionRecord(
                    media_id=str(uuid.uuid4()),
                    sha256="0" * 64,
                    source=source,
                    device_id="CAM-1",
                    officer_badge=None,
                    recorded_start=START - dt.timedelta(days=40),
                    size_bytes=size,
                    rule="RET-1",
                    expired_at=purged,
                    purged_at=purged,
                    run_id="r",
                    file_unlinked=True,
                )
            )
            t = truth.storage[source]
            if START <= purged < END:
                t["purged_items"] += 1
                t["purged_bytes"] += size
            if purged >= END:
                t["items"] += 1
                t["bytes"] += size
        # TAG-7: tagging notices (one item notified on two days counts once).
        for day, media_id, badge in (
            (3, "m-a", "B1"),
            (4, "m-a", "B1"),
            (9, "m-b", "B1"),
            (12, "m-c", "B2"),
            (40, "m-d", "B2"),
        ):
            at = START + dt.timedelta(days=day)
            s.add(
                TaggingNotice(
                    media_id=media_id,
                    day=at.date().isoformat(),
                    officer_badge=badge,
                    supervisor="sergeant",
                    notified_at=at,
                )
            )
        truth.failures.update({"B1": 2, "B2": 1})
    media_ids = list(truth.media)
    events: list[tuple[dt.datetime, Callable[[], object]]] = []

    def entry(when: dt.datetime, who: Who, action: str, target: str, **kw: Any) -> None:
        events.append((when, lambda: audit.record(services.db, who, action, target, **kw)))

    # Usage and viewing: audit entries across the month, and a few that must not count.
    for _ in range(120):
        user = rng.choice(list(USERS))
        role = USERS[user]
        action = rng.choice(list(USAGE_ACTIONS))
        when = START + dt.timedelta(seconds=rng.randrange(int((END - START).total_seconds())))
        details: dict[str, Any] = {}
        if action in ("media.view", "media.download"):
            media_id = rng.choice(media_ids)
            target = f"media:{media_id}"
        elif action in ("media.playback", "live.view"):
            camera = rng.choice(CAMERAS)
            target = f"camera:{camera}"
            if action == "media.playback":
                minutes = rng.randrange(1, 90)
                start = when - dt.timedelta(hours=3)
                details = {
                    "start": isoformat(start),
                    "end": isoformat(start + dt.timedelta(minutes=minutes)),
                }
        else:
            target = f"export:{uuid.uuid4()}"
        refused = rng.random() < 0.1
        entry(
            when,
            Who(user, role),
            action,
            target,
            outcome="denied" if refused else "ok",
            details=details,
        )
        if refused:
            continue
        truth.usage[(user, role)][USAGE_ACTIONS[action]] += 1
        if action == "media.view":
            truth.item_views[(user, truth.media[target.removeprefix("media:")])] += 1
        elif action == "live.view":
            truth.live[(user, target.removeprefix("camera:"))] += 1
        elif action == "media.playback":
            truth.playbacks[(user, target.removeprefix("camera:"))] += 1
            truth.playback_seconds[(user, target.removeprefix("camera:"))] += minutes * 60
    for when in (START - SECOND, END):  # outside the month
        entry(when, Who("investigator", "investigator"), "media.view", f"media:{media_ids[0]}")
    # PTZ: one session of 10 minutes with two commands.
    ptz = START + dt.timedelta(days=8, hours=10)
    dispatcher = Who("dispatcher", "dispatcher")
    session = {"session_id": "s1", "camera_id": "CAM-1"}
    entry(
        ptz,
        dispatcher,
        "ptz.session.open",
        "camera:CAM-1",
        details={**session, "purpose": "patrol"},
    )
    for minute in (1, 2):
        entry(
            ptz + dt.timedelta(minutes=minute),
            dispatcher,
            "ptz.command",
            "camera:CAM-1",
            details={**session, "op": "stop"},
        )
    entry(
        ptz + dt.timedelta(minutes=10),
        dispatcher,
        "ptz.session.close",
        "camera:CAM-1",
        details={**session, "reason": "done"},
    )
    # OPS-6: the sergeant reviews B1 twice in the month, the admin B2 once; a review of
    # B2 in the next month does not count.
    b1 = [m for m in media_ids if _badge(services, m) == "B1"]
    b2 = [m for m in media_ids if _badge(services, m) == "B2"]
    for when, name, media_id in (
        (START + dt.timedelta(days=2), "sergeant", b1[0]),
        (START + dt.timedelta(days=16), "sergeant", b1[1]),
        (START + dt.timedelta(days=19), "admin", b2[0]),
        (END + dt.timedelta(hours=1), "admin", b2[0]),
    ):
        command = RecordReview(media_id, f"reviewed {when.date()}")
        events.append((when, partial(services.reviews.record, actors[name], command)))
        if when < END:
            truth.reviews[_badge(services, media_id) or ""] += 1
    for when, run in sorted(events, key=lambda e: e[0]):
        _at(clock, when)
        run()
    _at(clock, END + dt.timedelta(days=2))
    return truth


def _badge(services: Services, media_id: str) -> str | None:
    with services.db.session() as s:
        item = s.get(MediaItem, media_id)
        assert item is not None
        return item.officer_badge


def test_monthly_report_numbers_match_counted_truths_OPS_7_OPS_6_TAG_7(
    services: Services, actors: dict[str, Actor], month: Month, tmp_path: Path
) -> None:
    report = services.monthly_audit.report(actors["auditor"], MONTH)
    assert (report.start, report.end) == (START, END)
    # Usage per user and role.
    got_usage = {
        (u.user, u.role): Counter({k: v for k, v in vars(u).items() if isinstance(v, int) and v})
        for u in report.usage
    }
    assert got_usage == {k: +v for k, v in month.usage.items()}
    # Viewing: who watched which camera, for how long (the playback windows).
    for v in report.viewing:
        key = (v.user, v.camera_id)
        assert v.live_views == month.live[key], key
        assert v.playbacks == month.playbacks[key], key
        assert v.playback_seconds == month.playback_seconds[key], key
        assert v.item_views == month.item_views[key], key
    assert sum(v.live_views for v in report.viewing) == sum(month.live.values())
    assert sum(v.item_views for v in report.viewing) == sum(month.item_views.values())
    assert sum(v.playbacks for v in report.viewing) == sum(month.playbacks.values())
    # Storage by source.
    for row in report.storage:
        t = month.storage[row.source]
        for metric in (
            "items",
            "bytes",
            "added_items",
            "added_bytes",
            "purged_items",
            "purged_bytes",
            "held_items",
            "held_bytes",
            "expiring_items",
            "expiring_bytes",
        ):
            assert getattr(row, metric) == t[metric], (row.source, metric)
        assert row.growth_bytes == t["added_bytes"] - t["purged_bytes"]
    assert {r.source for r in report.storage} == set(month.storage)
    # PTZ: the PTZ-use report's own numbers.
    ptz = services.ports.get(PtzUseReport).report(actors["auditor"], START, END)
    assert report.ptz is not None
    assert (
        [(p.user, p.camera_id, p.sessions, p.commands) for p in report.ptz]
        == [(r.user, r.camera_id, r.sessions, r.commands) for r in ptz.rows]
        == [("dispatcher", "CAM-1", 1, 2)]
    )
    assert report.ptz[0].seconds_in_control == 600
    # TAG-7 and OPS-6.
    assert report.tagging_failures_per_officer == dict(month.failures)
    assert {c.officer_badge: c.reviews for c in report.reviews} == {"B1": 2, "B2": 1}
    assert [c.officer_badge for c in report.officers_short_of_reviews] == ["B2"]
    assert month.reviews == Counter({"B1": 2, "B2": 1})
    # The viewing of the report is audited (ACC-6).
    with services.db.session() as s:
        last = s.execute(
            select(AuditEntry)
            .where(AuditEntry.action == "report.view")
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).scalar_one()
    assert (last.actor, last.target, last.details["month"]) == (
        "auditor",
        "reports:monthly-audit",
        MONTH,
    )
    assert last.details["officers_short"] == ["B2"]

    # The CSV parses and sums to the same truths.
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    views = sum(int(r["value"]) for r in rows if r["section"] == "usage" and r["metric"] == "views")
    assert views == sum(c["views"] for c in month.usage.values())
    purged = {
        r["source"]: int(r["value"])
        for r in rows
        if r["section"] == "storage" and r["metric"] == "purged_items"
    }
    assert purged == {k: v["purged_items"] for k, v in month.storage.items()}

    # The PDF renders and shows the numbers as text.
    pdf = tmp_path / "monthly.pdf"
    pdf.write_bytes(to_pdf(report))
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: scripts/install-system.sh installs poppler-utils")
    done = subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr, done.stderr
    assert sorted(p.name for p in tmp_path.glob("page*.png"))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f"Monthly audit {MONTH}" in text
    for u in report.usage:
        assert any(
            line.split()[:2] == [u.user, u.role]
            and line.split()[2:8]
            == [
                str(u.views),
                str(u.downloads),
                str(u.playbacks),
                str(u.live_views),
                str(u.exports),
                str(u.releases),
            ]
            for line in text.splitlines()
        ), u
    for st in report.storage:
        assert any(
            line.split()[:3] == [st.source, str(st.items), str(st.bytes)]
            for line in text.splitlines()
        ), st
    assert any(line.split()[:1] == ["B2"] and "SHORT" in line for line in text.splitlines())


def test_monthly_report_refused_to_other_roles_and_bad_months_ACC_1(
    services: Services, actors: dict[str, Actor]
) -> None:
    for name in ("investigator", "sergeant", "officer", "dispatcher", "commander"):
        with pytest.raises(PermissionDenied):
            services.monthly_audit.report(actors[name], MONTH)
    for bad in ("2026-13", "2026-1", "9999-12", "november"):
        with pytest.raises(InvalidArgument, match="month"):
            services.monthly_audit.report(actors["admin"], bad)


def test_reviews_only_of_supervised_officers_videos_OPS_6_ACC_8(
    services: Services, actors: dict[str, Actor]
) -> None:
    with services.db.transaction() as s:
        s.add(Device(id="BWC-1", kind="bwc", name="BWC-1", created_at=START))
        s.flush()
        own = _item(s, source="bwc", device="BWC-1", size=1, ingested=START, badge="B1")
        other = _item(s, source="bwc", device="BWC-1", size=1, ingested=START, badge="B2")
        sergeants = _item(s, source="bwc", device="BWC-1", size=1, ingested=START, badge="S1")
        nobody = _item(s, source="fixed", device="BWC-1", size=1, ingested=START)
    review = services.reviews.record(actors["sergeant"], RecordReview(own, " fine "))
    assert (review.officer_badge, review.reviewer, review.note) == ("B1", "sergeant", "fine")
    for media_id in (other, sergeants):
        with pytest.raises(PermissionDenied):
            services.reviews.record(actors["sergeant"], RecordReview(media_id, "x"))
    with pytest.raises(InvalidArgument, match="officer badge"):
        services.reviews.record(actors["admin"], RecordReview(nobody, "x"))
    with pytest.raises(InvalidArgument, match="note"):
        services.reviews.record(actors["admin"], RecordReview(own, "  "))
    services.reviews.record(actors["admin"], RecordReview(other, "ok"))
    # Supervisors list their officers' reviews only; auditors all.
    assert [r.officer_badge for r in services.reviews.list(actors["sergeant"], ReviewQuery())] == [
        "B1"
    ]
    assert sorted(
        r.officer_badge
        for r in services.reviews.list(actors["auditor"], ReviewQuery(month="2026-11"))
    ) == ["B1", "B2"]
    with pytest.raises(PermissionDenied):
        services.reviews.list(actors["officer"], ReviewQuery())


def test_one_video_reviewed_twice_counts_once_OPS_6(
    services: Services, actors: dict[str, Actor]
) -> None:
    """OPS-6 asks for two *videos* per officer a month: the same review sent twice (a
    client retrying its POST after a timeout, or twice at once) made one video count
    as the two the officer needed, and the report no longer showed them short."""
    with services.db.transaction() as s:
        s.add(Device(id="BWC-1", kind="bwc", name="BWC-1", created_at=START))
        s.flush()
        video = _item(s, source="bwc", device="BWC-1", size=1, ingested=START, badge="B1")
    command = RecordReview(video, "reviewed")
    got = together(
        lambda: services.reviews.record(actors["sergeant"], command),
        lambda: services.reviews.record(actors["sergeant"], command),
    )
    assert not [g for g in got if isinstance(g, Exception)], got
    month = services.clock.now().strftime("%Y-%m")
    report = services.monthly_audit.report(actors["admin"], month)
    assert {c.officer_badge: c.reviews for c in report.reviews}["B1"] == 1
    assert "B1" in [c.officer_badge for c in report.officers_short_of_reviews]


def test_monthly_audit_api_csv_pdf_and_page_OPS_7(
    services: Services, client: FlaskClient, actors: dict[str, Actor], month: Month
) -> None:
    # Tokens issued now: the generated month moved the clock past the fixture's.
    tokens = {n: services.users.issue_token(actors[n]).token for n in ("auditor", "sergeant")}
    h = {"Authorization": f"Bearer {tokens['auditor']}"}
    r = client.get(f"/api/v1/reports/monthly-audit?month={MONTH}", headers=h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["month"] == MONTH
    assert {u["user"]: u["views"] for u in body["usage"]} == {
        user: c["views"] for (user, _), c in month.usage.items()
    }
    assert [c["officer_badge"] for c in body["reviews"] if c["short"]] == ["B2"]
    r = client.get(f"/api/v1/reports/monthly-audit?month={MONTH}&format=csv", headers=h)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert next(csv.reader(io.StringIO(r.get_data(as_text=True))))[0] == "section"
    r = client.get(f"/api/v1/reports/monthly-audit?month={MONTH}&format=pdf", headers=h)
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert r.data.startswith(b"%PDF-1.4") and r.data.rstrip().endswith(b"%%EOF")
    r = client.get("/api/v1/reports/monthly-audit?month=2026-13", headers=h)
    assert r.status_code == 400 and "month" in json.dumps(r.get_json())
    r = client.get(
        "/api/v1/reviews?officer=B1", headers={"Authorization": f"Bearer {tokens['sergeant']}"}
    )
    assert r.status_code == 200 and len(r.get_json()["items"]) == 2
    # The page: tables and server-rendered SVG charts with the numbers.
    r = client.get(f"/audit/monthly?month={MONTH}", headers=h)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert page.count("<svg") == 3 and "required 2" in page
    total = next(u for u in body["usage"] if u["user"] == "investigator")["total"]
    assert f"investigator: {total}</title>" in page
    assert client.get("/audit/monthly?month=2026-13", headers=h).status_code == 400
    sergeant = {"Authorization": f"Bearer {tokens['sergeant']}"}
    assert client.get(f"/audit/monthly?month={MONTH}", headers=sergeant).status_code == 403


def test_cli_vms_audit_monthly_writes_csv_and_pdf_OPS_7(
    services: Services,
    month: Month,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vms.cli import main

    monkeypatch.setenv("VMS_DATA_DIR", str(services.config.data_dir))
    monkeypatch.setenv("VMS_DATABASE_URL", services.config.database_url)
    out = tmp_path / "m.csv"
    assert main(["audit", "monthly", "--month", MONTH, "--format", "csv", "--out", str(out)]) == 0
    assert "B2" in capsys.readouterr().err  # the officer short of reviews (OPS-6)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    reviews = {r["officer"]: int(r["value"]) for r in rows if r["metric"] == "reviews"}
    assert reviews == dict(month.reviews)
    pdf = tmp_path / "m.pdf"
    assert main(["audit", "monthly", "--month", MONTH, "--format", "pdf", "--out", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF-")
    with services.db.session() as s:
        formats = [
            e.details["format"]
            for e in s.execute(
                select(AuditEntry).where(AuditEntry.target == "reports:monthly-audit")
            ).scalars()
        ]
    assert formats == ["csv", "pdf"]


def _views(services: Services, count: int, first: int) -> None:
    """``count`` catalog items of CAM-1, each viewed once in December, by one user."""
    rows = [f"m-{first + n:06d}" for n in range(count)]
    with services.db.transaction() as s:
        for media_id in rows:
            s.add(
                MediaItem(
                    id=media_id,
                    source="fixed",
                    media_type="video",
                    content_type="video/mp4",
                    device_id="CAM-1",
                    recorded_start=START,
                    size_bytes=1,
                    sha256=media_id.ljust(64, "0"),
                    ingested_at=START,
                    ingested_by="test",
                    recorded_start_origin="ingest",
                )
            )
    fill(services, (Entry(START + SECOND, "media.view", f"media:{m}") for m in rows))


def test_monthly_viewing_audit_costs_the_same_statements_for_any_number_of_views_OPS_7(
    services: Services, actors: dict[str, Actor]
) -> None:
    """OPS-7: the viewing audit counts a month's item views per user and camera in the
    database. It loaded every ``media.view`` entry of the month (details and all) into
    memory and looked their items up 500 at a time: an agency's month of views (hundreds
    of thousands) was 175 statements and 25 s on the audit page (bench_catalog_scale)."""
    with services.db.transaction() as s:
        s.add(Device(id="CAM-1", kind="fixed", name="CAM-1", created_at=START))
        s.add(
            DestructionRecord(
                media_id="m-purged",
                sha256="0" * 64,
                source="fixed",
                device_id="CAM-1",
                officer_badge=None,
                recorded_start=START,
                size_bytes=1,
                rule="RET-1",
                expired_at=START,
                purged_at=START + SECOND,
                run_id="r",
                file_unlinked=True,
            )
        )
    fill(
        services,
        [
            Entry(START + SECOND, "media.view", "media:m-purged"),  # its device: the record's
            Entry(START + SECOND, "media.view", "media:m-unknown"),
            Entry(START + SECOND, "media.view", "media:m-purged", outcome="denied"),
        ],
    )
    _views(services, 3, 0)

    def viewing() -> tuple[int, dict[str, int]]:
        with captured(services.db.engine) as sent:
            report = services.monthly_audit.report(actors["auditor"], MONTH)
        return len(sent), {v.camera_id: v.item_views for v in report.viewing}

    few, counts = viewing()
    assert counts == {"CAM-1": 4, "(unknown)": 1}
    _views(services, 1_200, 3)
    many, counts = viewing()
    assert counts == {"CAM-1": 1_204, "(unknown)": 1}
    assert many == few, f"{few} statements for 5 views, {many} for 1,205"
