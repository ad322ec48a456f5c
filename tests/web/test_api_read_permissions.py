"""Every role against the /api/v1 reads that tests/web/test_api_permissions.py does not try
(ACC-1, ACC-6): refusals are 403s with a reason, and audited.

As there, the expected answers are written out by hand from POLICY.md, ARCHITECTURE.md
and docs/design (and docs/api.md where those are silent; each row says which), not from
vms/auth/permissions.py. Unknown ids, so a role that may read gets 404 where a row names
one object, and is told nothing about it otherwise.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.web.test_api_permissions import (
    ENDPOINTS,
    ROLES,
    Call,
    check_table,
    items,
    routes_tried,
)
from vms.services import Services

__all__ = ["items"]  # the fixture, used by the table test

WINDOW = "start=2026-11-20T08:00:00Z&end=2026-11-20T09:00:00Z&purpose=investigation"

READS: dict[str, Call] = {
    # PSCS-2, PSCS-5: the PTZ audit and its report.
    "ptz-audit": lambda c, h, i: c.get("/api/v1/audit/ptz", headers=h),
    "ptz-report": lambda c, h, i: c.get("/api/v1/audit/ptz/report", headers=h),
    # Cameras and who steers them (live view, PTZ).
    "cameras": lambda c, h, i: c.get("/api/v1/cameras", headers=h),
    "camera": lambda c, h, i: c.get("/api/v1/cameras/nope", headers=h),
    "mjpeg": lambda c, h, i: c.get("/api/v1/cameras/nope/live.mjpeg", headers=h),
    "mjpeg-bad-fps": lambda c, h, i: c.get("/api/v1/cameras/nope/live.mjpeg?fps=fast", headers=h),
    "ptz-session": lambda c, h, i: c.get("/api/v1/cameras/nope/ptz/session", headers=h),
    "ptz-status": lambda c, h, i: c.get("/api/v1/cameras/nope/ptz/status", headers=h),
    # Recorded footage of a fixed camera (docs/design/playback.md).
    "playlist": lambda c, h, i: c.get(f"/api/v1/cameras/nope/playback.m3u8?{WINDOW}", headers=h),
    "m3u8-no-window": lambda c, h, i: c.get("/api/v1/cameras/nope/playback.m3u8", headers=h),
    "m3u8-inverted": lambda c, h, i: c.get(
        "/api/v1/cameras/nope/playback.m3u8?start=2026-11-20T09:00:00Z&end=2026-11-20T08:00:00Z",
        headers=h,
    ),
    "segment": lambda c, h, i: c.get("/api/v1/playback/nope/nope/init.mp4", headers=h),
    "segment-bad-part": lambda c, h, i: c.get("/api/v1/playback/nope/nope/all.mp4", headers=h),
    "recording": lambda c, h, i: c.get(
        "/api/v1/cameras/nope/recording?at=2026-11-20T08:00:00Z&purpose=investigation", headers=h
    ),
    "recording-no-at": lambda c, h, i: c.get("/api/v1/cameras/nope/recording", headers=h),
    "recording-bad-at": lambda c, h, i: c.get(
        "/api/v1/cameras/nope/recording?at=yesterday", headers=h
    ),
    # Cases and bookmarks (issue 15.3).
    "cases": lambda c, h, i: c.get("/api/v1/cases", headers=h),
    "case": lambda c, h, i: c.get("/api/v1/cases/nope", headers=h),
    "bookmarks": lambda c, h, i: c.get("/api/v1/bookmarks", headers=h),
    # Retention: the request log (RET-3), holds (RET-10), purges (RET-13), tagging
    # reports (TAG-3, TAG-7).
    "pres-requests": lambda c, h, i: c.get("/api/v1/preservation-requests", headers=h),
    "pres-request": lambda c, h, i: c.get("/api/v1/preservation-requests/nope", headers=h),
    "holds": lambda c, h, i: c.get("/api/v1/legal-holds", headers=h),
    "hold": lambda c, h, i: c.get("/api/v1/legal-holds/nope", headers=h),
    "destruction-log": lambda c, h, i: c.get("/api/v1/retention/destruction-log", headers=h),
    "upcoming": lambda c, h, i: c.get("/api/v1/retention/upcoming", headers=h),
    "untagged": lambda c, h, i: c.get("/api/v1/reports/untagged", headers=h),
    "monthly": lambda c, h, i: c.get("/api/v1/reports/monthly?month=2026-11", headers=h),
    # TAG-5: an upload's state (unknown here).
    "upload-status": lambda c, h, i: c.get("/api/v1/uploads/nope", headers=h),
    # Public: the API's description (tests/web/test_openapi.py).
    "openapi": lambda c, h, i: c.get("/api/v1/openapi.json", headers=h),
}

# (method, rule) of an /api/v1 read neither table tries, and why. None today.
EXEMPT_READS: set[tuple[str, str]] = set()

A, D, C, I, U, S, O, X, P = ROLES  # noqa: E741
EXPECTED: dict[str, dict[str, int]] = {
    # ARCHITECTURE: "Auditors check PTZ use"; docs/api.md: auditors and admins.
    "ptz-audit": {A: 200, D: 403, C: 403, I: 403, U: 200, S: 403, O: 403, X: 403, P: 403},
    "ptz-report": {A: 200, D: 403, C: 403, I: 403, U: 200, S: 403, O: 403, X: 403, P: 403},
    # Who manages, watches or steers cameras (ARCHITECTURE "Users"; docs/design/
    # live-view.md: the camera page for dispatchers, supervisors, admins).
    "cameras": {A: 200, D: 200, C: 403, I: 403, U: 403, S: 200, O: 403, X: 403, P: 403},
    "camera": {A: 404, D: 404, C: 403, I: 403, U: 403, S: 404, O: 403, X: 403, P: 403},
    # Live view (docs/design/live-view.md): dispatchers, supervisors, admins; the role
    # before the rate (docs/design/web-layer.md "Order of answers"), so a bad fps is an
    # audited 403 to the others.
    "mjpeg": {A: 404, D: 404, C: 403, I: 403, U: 403, S: 404, O: 403, X: 403, P: 403},
    "mjpeg-bad-fps": {A: 400, D: 400, C: 403, I: 403, U: 403, S: 400, O: 403, X: 403, P: 403},
    # docs/api.md: who steers, for the roles that watch live (live.view).
    # An unknown camera: nobody steers it (PtzSessions.control), not a 404.
    "ptz-session": {A: 200, D: 200, C: 403, I: 403, U: 403, S: 200, O: 403, X: 403, P: 403},
    "ptz-status": {A: 404, D: 404, C: 403, I: 403, U: 403, S: 404, O: 403, X: 403, P: 403},
    # docs/design/playback.md: media.view on a fixed camera's segments (no officer's
    # badge): admins and investigators (ARCHITECTURE: investigators retrieve clips across
    # fixed cameras); officers and supervisors refused. The role comes first (ACC-1,
    # refusals audited): before the camera's 404, and before a missing, malformed or
    # inverted window's 400.
    "playlist": {A: 404, D: 403, C: 403, I: 404, U: 403, S: 403, O: 403, X: 403, P: 403},
    "m3u8-no-window": {A: 400, D: 403, C: 403, I: 400, U: 403, S: 403, O: 403, X: 403, P: 403},
    "m3u8-inverted": {A: 400, D: 403, C: 403, I: 400, U: 403, S: 403, O: 403, X: 403, P: 403},
    # A damaged session link: who may play a camera back is told so (404); the others
    # are refused by role, audited, as when opening the playlist.
    # A damaged session link or an unknown part: who may play a camera back is told so
    # (404); the others are refused by role, audited, as when opening the playlist.
    "segment": {A: 404, D: 403, C: 403, I: 404, U: 403, S: 403, O: 403, X: 403, P: 403},
    "segment-bad-part": {A: 404, D: 403, C: 403, I: 404, U: 403, S: 403, O: 403, X: 403, P: 403},
    "recording": {A: 404, D: 403, C: 403, I: 404, U: 403, S: 403, O: 403, X: 403, P: 403},
    "recording-no-at": {A: 400, D: 403, C: 403, I: 400, U: 403, S: 403, O: 403, X: 403, P: 403},
    "recording-bad-at": {A: 400, D: 403, C: 403, I: 400, U: 403, S: 403, O: 403, X: 403, P: 403},
    # docs/design/case-folders.md "Who": cases.read is admins, records commanders,
    # investigators and auditors; officers, supervisors and dispatchers refused.
    "cases": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 403, O: 403, X: 403, P: 403},
    "case": {A: 404, D: 403, C: 404, I: 404, U: 404, S: 403, O: 403, X: 403, P: 403},
    "bookmarks": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 403, O: 403, X: 403, P: 403},
    # Retention reads. POLICY names the keepers (records commanders, RET-3; the data
    # steward, RET-10) but no other reader, and docs/api.md gives them to retention.read
    # without naming its roles. Followed: ARCHITECTURE "Users" (investigators retrieve
    # pinned clips, auditors check) and POLICY for supervisors (RET-9: notified of
    # preservation requests; TAG-3: overdue tagging reported with the supervisor; OPS-6:
    # their monthly report). Dispatchers, officers and release approvers read none.
    "pres-requests": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 403, X: 403, P: 403},
    "pres-request": {A: 404, D: 403, C: 404, I: 404, U: 404, S: 404, O: 403, X: 403, P: 403},
    "holds": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 403, X: 403, P: 403},
    "hold": {A: 404, D: 403, C: 404, I: 404, U: 404, S: 404, O: 403, X: 403, P: 403},
    "destruction-log": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 403, X: 403, P: 403},
    "upcoming": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 403, X: 403, P: 403},
    "untagged": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 403, X: 403, P: 403},
    "monthly": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 403, X: 403, P: 403},
    # TAG-5: the roles that upload (test_api_permissions' upload rows); an upload is then
    # its uploader's (docs/design/authorisation.md), so an unknown one is a 404.
    "upload-status": {A: 404, D: 403, C: 404, I: 404, U: 403, S: 404, O: 404, X: 404, P: 403},
    "openapi": {A: 200, D: 200, C: 200, I: 200, U: 200, S: 200, O: 200, X: 200, P: 200},
}


def test_read_matrix_every_role_every_read_ACC_1(
    client: FlaskClient, services: Services, tokens: dict[str, str], items: dict[str, str]
) -> None:
    failures = check_table(client, services, tokens, items, READS, EXPECTED)
    assert not failures, "\n".join(failures)


def test_every_api_read_route_is_in_a_table_ACC_1(app: Flask) -> None:
    """A GET route added to /api/v1 without a row here or in test_api_permissions (or an
    EXEMPT_READS entry saying why) fails here."""
    tried = routes_tried(app, [*ENDPOINTS.values(), *READS.values()])
    reads = {
        ("GET", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and "GET" in (rule.methods or set())
    }
    assert len(reads) > 40  # the URL map was read (49 API reads, audit-reads)
    assert sorted(reads - tried - EXEMPT_READS) == []
    assert sorted(EXEMPT_READS - reads) == []  # a stale exemption hides nothing
    assert sorted(EXEMPT_READS & tried) == []  # tried after all: no longer exempt
