"""Case folders and bookmarks API (issue 15.3), on both databases: the case page's items
(tagged and added by hand), bookmarks and exports; who may do what (a matrix written out
by hand, ACC-1); refusals and changes audited (ACC-6, INV-4); bad input a 4xx naming
the value, never a 500."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.media import make_video
from vms.audit.log import Who
from vms.db.models import AuditEntry, CustodyEvent, MediaItem, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

SETUP = Who("setup", "admin")
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)  # the clock fixture says 12:00


def h(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def ingest(
    services: Services,
    *,
    seed: int,
    badge: str = "B1",
    case: str | None = None,
    at: dt.datetime = T0,
) -> str:
    result = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2, seed=seed)),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-1",
            officer_badge=badge,
            recorded_at=at,
            case_number=case,
        ),
        SETUP,
    )
    return result.media_id


@pytest.fixture
def media(services: Services) -> dict[str, str]:
    """A BWC item of officer B1, one tagged with case C-100, and a restricted one."""
    own = ingest(services, seed=1)
    tagged = ingest(services, seed=2, case="C-100", at=T0 + dt.timedelta(minutes=5))
    restricted = ingest(services, seed=3, at=T0 + dt.timedelta(minutes=10))
    with services.db.transaction() as s:
        row = s.get(MediaItem, restricted)
        assert row is not None
        row.restricted = True  # ACC-7
    return {"own": own, "tagged": tagged, "restricted": restricted}


def audit_entries(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            ).scalars()
        )


def test_case_folder_lists_tagged_and_added_items_and_audits_everything_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], media: dict[str, str]
) -> None:
    inv = h(tokens, "investigator")
    r = client.post("/api/v1/cases", json={"case_number": "C-100"}, headers=inv)
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert created["state"] == "open" and created["item_count"] == 1  # the tagged one
    assert created["opened_at"].endswith("Z") and created["closed_at"] is None

    r = client.post(
        "/api/v1/cases/C-100/items",
        json={"media_id": media["own"], "note": "officer's view of the stop"},
        headers=inv,
    )
    assert r.status_code == 201, r.get_json()
    added = r.get_json()
    assert added["added"] is True and added["tagged"] is False
    assert added["note"] == "officer's view of the stop" and added["added_by"] == "investigator"
    assert added["source"] == "bwc" and added["officer_badge"] == "B1"
    assert added["expires_at"] is None and added["retention_rule"] == "RET-5 open case C-100"

    r = client.get("/api/v1/cases/C-100", headers=inv)
    assert r.status_code == 200, r.get_json()
    folder = r.get_json()
    assert folder["case_number"] == "C-100" and folder["state"] == "open"
    by_id = {i["media_id"]: i for i in folder["items"]}
    assert set(by_id) == {media["own"], media["tagged"]}
    assert by_id[media["tagged"]]["tagged"] is True and by_id[media["tagged"]]["added"] is False
    assert by_id[media["own"]]["display_title"]  # a readable title, never empty
    # Time order.
    assert [i["media_id"] for i in folder["items"]] == [media["own"], media["tagged"]]
    assert folder["bookmarks"] == [] and folder["exports"] == []

    listing = client.get("/api/v1/cases", headers=inv).get_json()["cases"]
    assert [(c["case_number"], c["item_count"]) for c in listing] == [("C-100", 2)]

    # Every change and the page view audited, with the ids shown (ACC-6).
    assert [e.target for e in audit_entries(services, "case.create")] == ["case:C-100"]
    adds = audit_entries(services, "case.item_add")
    assert len(adds) == 1 and adds[0].details["media_id"] == media["own"]
    views = audit_entries(services, "case.view")
    assert len(views) == 1
    assert sorted(views[0].details["media_ids"]) == sorted([media["own"], media["tagged"]])
    assert views[0].actor == "investigator"
    with services.db.session() as s:
        custody = s.execute(
            select(CustodyEvent).where(
                CustodyEvent.media_id == media["own"], CustodyEvent.action == "added_to_case"
            )
        ).scalar_one()
    assert custody.details == {"case_number": "C-100", "note": "officer's view of the stop"}


def test_bookmarks_instant_and_range_filed_in_a_case(
    client: FlaskClient, services: Services, tokens: dict[str, str], media: dict[str, str]
) -> None:
    inv = h(tokens, "investigator")
    assert client.post("/api/v1/cases", json={"case_number": "C-7"}, headers=inv).status_code == 201
    instant = {
        "media_id": media["own"],
        "start": "2026-11-20T09:00:01Z",
        "label": "door opens",
        "note": "suspect leaves the car",
        "case_number": "C-7",
    }
    r = client.post("/api/v1/bookmarks", json=instant, headers=inv)
    assert r.status_code == 201, r.get_json()
    mark = r.get_json()
    assert mark["start"] == "2026-11-20T09:00:01Z" and mark["end"] is None
    assert mark["author"] == "investigator" and mark["camera_id"] is None
    ranged = {
        "media_id": media["tagged"],
        "start": "2026-11-20T09:05:00Z",
        "end": "2026-11-20T09:05:01.500Z",
        "label": "shouting",
    }
    r = client.post("/api/v1/bookmarks", json=ranged, headers=inv)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["end"] == "2026-11-20T09:05:01.500000Z"

    def ids(**query: str) -> list[str]:
        r = client.get("/api/v1/bookmarks", query_string=query, headers=inv)
        assert r.status_code == 200, r.get_json()
        return [b["label"] for b in r.get_json()["bookmarks"]]

    assert ids(case="C-7") == ["door opens"]
    assert ids(media_id=media["tagged"]) == ["shouting"]
    assert ids() == ["door opens", "shouting"]
    assert ids(start="2026-11-20T09:05:01Z") == ["shouting"]  # overlaps by its end
    assert ids(end="2026-11-20T09:04:00Z") == ["door opens"]
    assert ids(camera="CAM-NONE") == []
    folder = client.get("/api/v1/cases/C-7", headers=inv).get_json()
    assert [b["label"] for b in folder["bookmarks"]] == ["door opens"]
    assert client.get("/api/v1/cases", headers=inv).get_json()["cases"][0]["bookmark_count"] == 1
    created = audit_entries(services, "bookmark.create")
    assert [e.details["label"] for e in created] == ["door opens", "shouting"]
    reads = audit_entries(services, "bookmark.read")
    assert reads[0].details["bookmark_ids"] == [mark["id"]]
    assert reads[0].details["filters"] == {"case_number": "C-7"}


# -- permissions: every role, written out by hand (ACC-1) -------------------------------

ROLES = ["admin", "dispatcher", "commander", "investigator", "auditor"]
ROLES += ["sergeant", "officer", "other_officer"]
A, D, C, I, U, S, O, X = ROLES  # noqa: E741

Call = Any
ENDPOINTS: dict[str, Call] = {
    "list": lambda c, hd, m, role: c.get("/api/v1/cases", headers=hd),
    "create": lambda c, hd, m, role: c.post(
        "/api/v1/cases", json={"case_number": f"NEW-{role}"}, headers=hd
    ),
    "get": lambda c, hd, m, role: c.get("/api/v1/cases/P-1", headers=hd),
    "add-item": lambda c, hd, m, role: c.post(
        f"/api/v1/cases/P-{role}/items", json={"media_id": m["own"]}, headers=hd
    ),
    "add-restricted": lambda c, hd, m, role: c.post(
        f"/api/v1/cases/P-{role}/items", json={"media_id": m["restricted"]}, headers=hd
    ),
    "bookmark": lambda c, hd, m, role: c.post(
        "/api/v1/bookmarks",
        json={"media_id": m["own"], "start": "2026-11-20T09:00:01Z", "label": "x"},
        headers=hd,
    ),
    "bookmark-restricted": lambda c, hd, m, role: c.post(
        "/api/v1/bookmarks",
        json={"media_id": m["restricted"], "start": "2026-11-20T09:10:01Z", "label": "x"},
        headers=hd,
    ),
    "bookmarks": lambda c, hd, m, role: c.get("/api/v1/bookmarks", headers=hd),
}
EXPECTED: dict[str, dict[str, int]] = {
    # Investigators, records staff and admins manage cases; auditors read them.
    "list": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 403, O: 403, X: 403},
    "create": {A: 201, D: 403, C: 201, I: 201, U: 403, S: 403, O: 403, X: 403},
    "get": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 403, O: 403, X: 403},
    "add-item": {A: 201, D: 403, C: 201, I: 201, U: 403, S: 403, O: 403, X: 403},
    # A restricted item only by admins (ACC-7).
    "add-restricted": {A: 201, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403},
    "bookmark": {A: 201, D: 403, C: 201, I: 201, U: 403, S: 403, O: 403, X: 403},
    "bookmark-restricted": {A: 201, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403},
    "bookmarks": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 403, O: 403, X: 403},
}


def test_case_permissions_every_role_refusals_audited_ACC_1_ACC_7(
    client: FlaskClient, services: Services, tokens: dict[str, str], media: dict[str, str]
) -> None:
    admin = h(tokens, "admin")
    for number in ["P-1", *(f"P-{role}" for role in ROLES)]:
        r = client.post("/api/v1/cases", json={"case_number": number}, headers=admin)
        assert r.status_code == 201, r.get_json()
    failures = []
    for endpoint, call in ENDPOINTS.items():
        for role in ROLES:
            with services.db.session() as s:
                before = s.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())).scalar()
            r = call(client, h(tokens, role), media, role)
            expected = EXPECTED[endpoint][role]
            if r.status_code != expected:
                failures.append(f"{role} {endpoint}: {r.status_code} != {expected} {r.get_json()}")
                continue
            if expected == 403:
                assert r.get_json()["error"]["kind"] == "permission_denied"
                with services.db.session() as s:
                    denied = s.execute(
                        select(AuditEntry).where(
                            AuditEntry.seq > before,
                            AuditEntry.outcome == "denied",
                            AuditEntry.actor == role,
                        )
                    ).scalar()
                if denied is None:
                    failures.append(f"{role} {endpoint}: denial not audited")
    assert not failures, "\n".join(failures)


# -- bad input: a 4xx naming the value, nothing stored ----------------------------------

BAD: list[tuple[str, str, dict[str, Any] | None, int, str]] = [
    ("GET", "/api/v1/cases/NO-SUCH-CASE", None, 404, "NO-SUCH-CASE"),
    ("POST", "/api/v1/cases/NO-SUCH-CASE/items", {"media_id": "{own}"}, 404, "NO-SUCH-CASE"),
    ("POST", "/api/v1/cases/B-1/items", {"media_id": "no-such-item"}, 404, "no-such-item"),
    ("POST", "/api/v1/cases/B-1/items", {"media_id": "{own}", "colour": "red"}, 400, "colour"),
    ("POST", "/api/v1/cases/B-1/items", {"media_id": "{tagged}"}, 201, ""),
    ("POST", "/api/v1/cases/B-1/items", {"media_id": "{tagged}"}, 409, "{tagged}"),
    ("POST", "/api/v1/cases", {"case_number": "B-1"}, 409, "B-1"),
    ("POST", "/api/v1/cases", {"case_number": "A/B"}, 400, "A/B"),
    ("POST", "/api/v1/cases", {"case_number": "   "}, 400, "case_number"),
    ("POST", "/api/v1/cases", {"case_number": 12}, 400, "12"),
    ("POST", "/api/v1/cases", [], 400, "JSON object"),
    ("GET", "/api/v1/cases?state=lost", None, 400, "lost"),
    ("GET", "/api/v1/cases?limit=0", None, 400, "0"),
    ("GET", "/api/v1/bookmarks?limit=99999", None, 400, "99999"),
    ("GET", "/api/v1/bookmarks?start=yesterday", None, 400, "yesterday"),
    (
        "GET",
        "/api/v1/bookmarks?start=2026-11-20T10:00:00Z&end=2026-11-20T09:00:00Z",
        None,
        400,
        "2026-11-20T09:00:00Z",
    ),
]
MARK = {"media_id": "{own}", "label": "x"}
BAD_MARKS: list[tuple[dict[str, Any], int, str]] = [
    # Inverted range.
    ({**MARK, "start": "2026-11-20T09:00:01Z", "end": "2026-11-20T09:00:00Z"}, 400, "09:00:00"),
    # Absurd dates: outside the input years, in the future, outside the recording.
    ({**MARK, "start": "1850-01-01T00:00:00Z"}, 400, "1850-01-01T00:00:00Z"),
    ({**MARK, "start": "9999-12-31T23:59:59Z"}, 400, "9999-12-31T23:59:59Z"),
    ({**MARK, "start": "2150-01-01T00:00:00Z"}, 400, "2150-01-01T00:00:00Z"),
    ({**MARK, "start": "2026-11-19T09:00:00Z"}, 400, "2026-11-19T09:00:00Z"),
    ({**MARK, "start": "2026-11-20T09:00:01"}, 400, "2026-11-20T09:00:01"),  # no offset
    ({**MARK, "start": "2026-11-20T09:00:00Z", "end": "2026-11-22T09:00:00Z"}, 400, "future"),
    # A span over 24 h (checked before the item's recording).
    (
        {**MARK, "start": "2026-11-18T00:00:00Z", "end": "2026-11-19T00:00:01Z"},
        400,
        "'2026-11-19T00:00:01Z' is more than 24 h after start",
    ),
    # Unknown item, camera, case.
    ({"media_id": "ghost", "label": "x", "start": "2026-11-20T09:00:00Z"}, 404, "ghost"),
    ({"camera_id": "CAM-X", "label": "x", "start": "2026-11-20T09:00:00Z"}, 404, "CAM-X"),
    ({**MARK, "start": "2026-11-20T09:00:00Z", "case_number": "NOPE-9"}, 404, "NOPE-9"),
    # Both or neither source; no label.
    (
        {**MARK, "camera_id": "CAM-X", "start": "2026-11-20T09:00:00Z"},
        400,
        "camera_id and media_id",
    ),
    ({"label": "x", "start": "2026-11-20T09:00:00Z"}, 400, "camera_id and media_id"),
    ({"media_id": "{own}", "start": "2026-11-20T09:00:00Z"}, 400, "label is required"),
    ({**MARK, "start": "2026-11-20T09:00:00Z", "label": "\u202e"}, 400, "printable"),
]


def _fill(value: Any, media: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**media)
    if isinstance(value, dict):
        return {k: _fill(v, media) for k, v in value.items()}
    return value


def test_bad_input_is_a_4xx_naming_the_value(
    client: FlaskClient, services: Services, tokens: dict[str, str], media: dict[str, str]
) -> None:
    inv = h(tokens, "investigator")
    assert client.post("/api/v1/cases", json={"case_number": "B-1"}, headers=inv).status_code == 201
    failures = []
    for method, url, body, status, named in BAD:
        r = client.open(url, method=method, json=_fill(body, media), headers=inv)
        message = (r.get_json() or {}).get("error", {}).get("message", "")
        if r.status_code != status or _fill(named, media) not in message:
            failures.append(f"{method} {url} {body}: {r.status_code} {message!r}")
    for mark, status, named in BAD_MARKS:
        r = client.post("/api/v1/bookmarks", json=_fill(mark, media), headers=inv)
        message = (r.get_json() or {}).get("error", {}).get("message", "")
        if r.status_code != status or named not in message:
            failures.append(f"bookmark {mark}: {r.status_code} {message!r}")
    assert not failures, "\n".join(failures)
    # Nothing refused was stored.
    marks = client.get("/api/v1/bookmarks", headers=inv).get_json()["bookmarks"]
    assert marks == []


def test_a_closed_case_takes_no_items(
    client: FlaskClient, tokens: dict[str, str], media: dict[str, str]
) -> None:
    inv, commander = h(tokens, "investigator"), h(tokens, "commander")
    assert client.post("/api/v1/cases", json={"case_number": "K-1"}, headers=inv).status_code == 201
    r = client.put("/api/v1/cases/K-1", json={"state": "closed"}, headers=commander)
    assert r.status_code == 200, r.get_json()
    r = client.post("/api/v1/cases/K-1/items", json={"media_id": media["own"]}, headers=inv)
    assert r.status_code == 409 and "K-1" in r.get_json()["error"]["message"]
    # And a case that exists already (open or closed) is not opened twice.
    r = client.post("/api/v1/cases", json={"case_number": "K-1"}, headers=inv)
    assert r.status_code == 409 and "closed" in r.get_json()["error"]["message"]


def test_case_forms_need_the_csrf_token(client: FlaskClient, services: Services) -> None:
    from tests.web.test_api_auth import _login

    csrf = _login(client, "investigator")
    r = client.post("/cases", data={"case_number": "F-1"})
    assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
    r = client.post("/cases", data={"case_number": "F-1", "csrf_token": "forged"})
    assert r.status_code == 403
    with services.db.session() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.target == "case:F-1")).first() is None
    r = client.post("/cases", data={"case_number": "F-1", "csrf_token": csrf})
    assert r.status_code == 302 and r.headers["Location"].endswith("/cases/F-1?opened=1")
    # The page shows the form with the token; a bad form value is a page naming it.
    page = client.get("/cases/F-1").get_data(as_text=True)
    assert f'name="csrf_token" value="{csrf}"' in page
    r = client.post("/cases/F-1/items", data={"media_id": "no-such-item", "csrf_token": csrf})
    assert r.status_code == 404 and "no-such-item" in r.get_data(as_text=True)


def test_the_case_list_page_is_paged_and_reaches_the_oldest_case(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    """RET-5: every case folder is reachable from the case list. Before, the page showed
    the newest 100 and nothing said more existed: case 101 could not be found there."""
    from tests.web.test_api_auth import _login

    for n in range(101):
        r = client.post(
            "/api/v1/cases", json={"case_number": f"P-{n:03d}"}, headers=h(tokens, "admin")
        )
        assert r.status_code == 201, r.json
    _login(client, "investigator")
    seen: set[str] = set()
    url: str | None = "/cases"
    pages = 0
    while url is not None and pages < 5:
        page = client.get(url).get_data(as_text=True)
        pages += 1
        seen |= set(re.findall(r">(P-\d{3})</a>", page))
        older = re.search(r'<a [^>]*href="([^"]+)"[^>]*>Older', page)
        url = html.unescape(older.group(1)) if older else None
    assert seen == {f"P-{n:03d}" for n in range(101)}, sorted(
        {f"P-{n:03d}" for n in range(101)} - seen
    )
    assert pages == 2
    assert "Newer" in page  # the older page leads back
    bad = client.get("/cases?offset=-1")
    assert bad.status_code == 400
    assert "offset: '-1'" in html.unescape(bad.get_data(as_text=True)).lower()


def test_a_bookmark_sent_twice_is_stored_once_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], media: dict[str, str]
) -> None:
    """The case and media pages' bookmark forms are plain HTML forms: a double submit sent
    two POSTs, and the server stored the instant twice, audited twice. A repeat (the same
    user, the same bookmark, within the repeat window) is answered with the first."""
    inv = h(tokens, "investigator")
    assert client.post("/api/v1/cases", json={"case_number": "C-8"}, headers=inv).status_code == 201
    mark = {"media_id": media["own"], "start": "2026-11-20T09:00:01Z", "label": "door opens"}
    first = client.post("/api/v1/bookmarks", json={**mark, "case_number": "C-8"}, headers=inv)
    again = client.post("/api/v1/bookmarks", json={**mark, "case_number": "C-8"}, headers=inv)
    assert first.status_code == again.status_code == 201, again.get_json()
    assert again.get_json()["id"] == first.get_json()["id"]
    assert len(audit_entries(services, "bookmark.create")) == 1
    other = client.post("/api/v1/bookmarks", json=mark, headers=inv)  # not in the case
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]
    assert len(audit_entries(services, "bookmark.create")) == 2


def test_a_retry_with_the_same_request_id_is_answered_as_the_first_was_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], media: dict[str, str]
) -> None:
    """ACC-6: an API client that retries "open case" or "add an item" after a lost answer
    got a 409 although its first request had worked. With ``request_id`` (a UUID of the
    client's) the retry is answered with the first answer, made and audited once; a
    second request without it, or with another id, is still refused (409)."""
    headers = h(tokens, "investigator")
    opening = {"case_number": "R-1", "request_id": "0b9c6f3e-2f4d-4d7e-9a51-3c1e0d2b7a10"}
    first = client.post("/api/v1/cases", json=opening, headers=headers)
    again = client.post("/api/v1/cases", json=opening, headers=headers)
    assert first.status_code == 201, first.get_json()
    assert (again.status_code, again.get_json()) == (201, first.get_json())
    adding = {"media_id": media["own"], "request_id": "5d1a7c22-8e0f-4b3a-b6c9-0e4f2a9d8c31"}
    first = client.post("/api/v1/cases/R-1/items", json=adding, headers=headers)
    again = client.post("/api/v1/cases/R-1/items", json=adding, headers=headers)
    assert first.status_code == 201, first.get_json()
    assert (again.status_code, again.get_json()) == (201, first.get_json())
    assert len(audit_entries(services, "case.create")) == 1
    assert len(audit_entries(services, "case.item_add")) == 1
    other = "7e3b9a04-1c2d-4f5e-8a6b-9c0d1e2f3a4b"
    for path, body in (("/api/v1/cases", opening), ("/api/v1/cases/R-1/items", adding)):
        for changed in ({"request_id": other}, {"request_id": None}):
            refused = client.post(path, json={**body, **changed}, headers=headers)
            assert refused.status_code == 409, refused.get_json()
    bad = client.post("/api/v1/cases", json={**opening, "request_id": "twice"}, headers=headers)
    assert bad.status_code == 400 and "request_id" in bad.get_json()["error"]["message"]


def test_closing_a_closed_case_again_is_refused_or_answered_as_the_first_RET_5_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    """RET-5, ACC-6: ``PUT /api/v1/cases/{number}`` closing a closed case moved its close
    time and audited a second close. Now it is a 409 naming the state, since when and by
    whom; a retry with the first request's ``request_id`` gets the first answer."""
    inv, commander = h(tokens, "investigator"), h(tokens, "commander")
    assert client.post("/api/v1/cases", json={"case_number": "S-1"}, headers=inv).status_code == 201
    closing = {"state": "closed", "request_id": "3f6b1c2d-4e5a-4b7c-8d9e-0a1b2c3d4e5f"}
    first = client.put("/api/v1/cases/S-1", json=closing, headers=commander)
    assert first.status_code == 200, first.get_json()
    again = client.put("/api/v1/cases/S-1", json=closing, headers=commander)
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    closed_at = first.get_json()["closed_at"]
    for changed in ({"request_id": None}, {"request_id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"}):
        refused = client.put("/api/v1/cases/S-1", json={**closing, **changed}, headers=commander)
        message = refused.get_json()["error"]["message"]
        assert refused.status_code == 409, message
        assert f"'S-1' is already closed (since {closed_at}, by commander)" in message
    assert len(audit_entries(services, "case.close")) == 1
    reopened = client.put("/api/v1/cases/S-1", json={"state": "open"}, headers=commander)
    assert reopened.status_code == 200 and reopened.get_json()["closed_at"] is None
    refused = client.put("/api/v1/cases/S-1", json={"state": "open"}, headers=commander)
    assert refused.status_code == 409 and "already open" in refused.get_json()["error"]["message"]
    bad = client.put("/api/v1/cases/S-1", json={**closing, "request_id": "x"}, headers=commander)
    assert bad.status_code == 400 and "request_id" in bad.get_json()["error"]["message"]


@pytest.mark.parametrize("state", ["closed", "open"])
def test_a_state_change_of_an_unknown_case_is_a_404_and_opens_nothing_RET_5(
    client: FlaskClient, services: Services, tokens: dict[str, str], state: str
) -> None:
    """RET-5: ``PUT /api/v1/cases/{number}`` on a number that is no case made one, even
    straight into "closed": a case "opened" and closed at once that nobody opened, a
    ``case.close`` audited for it, and the number then refused to ``POST /api/v1/cases``
    (409, exists). A case is opened by ``POST /api/v1/cases`` (docs/design/
    case-folders.md); closing or reopening one that does not exist is a 404 naming it,
    nothing written or audited."""
    from vms.db.models import Case

    commander = h(tokens, "commander")
    r = client.put("/api/v1/cases/NO-SUCH-1", json={"state": state}, headers=commander)
    assert r.status_code == 404, r.get_json()
    assert "'NO-SUCH-1'" in r.get_json()["error"]["message"], r.get_json()
    with services.db.session() as s:
        assert s.get(Case, "NO-SUCH-1") is None
    assert audit_entries(services, "case.close") == audit_entries(services, "case.open") == []
    inv = h(tokens, "investigator")
    opened = client.post("/api/v1/cases", json={"case_number": "NO-SUCH-1"}, headers=inv)
    assert opened.status_code == 201, opened.get_json()
