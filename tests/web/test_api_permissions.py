"""Every role against every endpoint (ACC-1, ACC-2, ACC-3, ACC-4, ACC-7, ACC-8, ACC-11); refusals
are 403s with a reason, and audited.

The expected table is written out here by hand, independently of vms/auth/permissions.py,
so a wrong entry in the product's table fails this test.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.media import make_video
from vms.audit.log import Who
from vms.db.models import AuditEntry, MediaItem, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

ROLES = [
    "admin",
    "dispatcher",
    "commander",
    "investigator",
    "auditor",
    "sergeant",
    "officer",
    "other_officer",
    "approver",
]


ITEM_KEYS = ("own", "restricted", "critical", "private")


@pytest.fixture
def items(services: Services) -> dict[str, str]:
    """An item recorded by officer B1 (supervised by sergeant), a restricted one, one
    of a critical incident (ACC-2) and a privacy-sensitive one (ACC-11)."""
    who = Who("setup", "admin")
    own = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=1)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1"),
        who,
    )
    restricted = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=2)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1"),
        who,
    )
    critical = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=3)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1"),
        who,
    )
    private = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=4)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1"),
        who,
    )
    with services.db.transaction() as s:
        row = s.get(MediaItem, private.media_id)
        assert row is not None
        row.privacy_sensitive = True  # ACC-11
        row = s.get(MediaItem, restricted.media_id)
        assert row is not None
        row.restricted = True  # ACC-7
        row = s.get(MediaItem, critical.media_id)
        assert row is not None
        row.critical_incident = True  # ACC-2
    return {
        "own": own.media_id,
        "restricted": restricted.media_id,
        "critical": critical.media_id,
        "private": private.media_id,
    }


Call = Callable[[FlaskClient, dict[str, str], dict[str, str]], Any]

_case_numbers = itertools.count(1)  # a case or request number of its own per call


def _unrestrict_and_back(c: FlaskClient, h: dict[str, str], i: dict[str, str]) -> Any:
    """Clear the restricted item's mark; when that worked, set it again (the item stays
    restricted for the other rows)."""
    url = f"/api/v1/media/{i['restricted']}/restricted"
    r = c.put(url, json={"restricted": False, "reason": "matrix"}, headers=h)
    if r.status_code == 200:
        again = c.put(url, json={"restricted": True, "reason": "matrix"}, headers=h)
        assert again.status_code == 200, again.get_json()
    return r


def _critical_and_back(c: FlaskClient, h: dict[str, str], i: dict[str, str]) -> Any:
    """Flag the plain item as of a critical incident; when that worked, clear it again."""
    url = f"/api/v1/media/{i['own']}/critical-incident"
    r = c.put(url, json={"critical_incident": True, "reason": "matrix"}, headers=h)
    if r.status_code == 200:
        again = c.put(url, json={"critical_incident": False, "reason": "matrix"}, headers=h)
        assert again.status_code == 200, again.get_json()
    return r


ENDPOINTS: dict[str, Call] = {
    "search": lambda c, h, i: c.get("/api/v1/media", headers=h),
    "detail": lambda c, h, i: c.get(f"/api/v1/media/{i['own']}", headers=h),
    "content": lambda c, h, i: c.get(
        f"/api/v1/media/{i['own']}/content?purpose=investigation", headers=h
    ),
    # ACC-4: outside their own scope a reviewer states a purpose (400 without).
    "content-no-purpose": lambda c, h, i: c.get(f"/api/v1/media/{i['own']}/content", headers=h),
    # ACC-2: before any approval is recorded (the review-approve row comes later).
    "critical-content": lambda c, h, i: c.get(
        f"/api/v1/media/{i['critical']}/content?purpose=investigation", headers=h
    ),
    "critical-set": _critical_and_back,
    "review-approve": lambda c, h, i: c.post(
        f"/api/v1/media/{i['critical']}/review-approvals",
        json={"reason": "matrix", "document_ref": "MEMO-1"},
        headers=h,
    ),
    # ACC-3: grants are made by admins (ends far ahead of the test clock).
    "grant-create": lambda c, h, i: c.post(
        "/api/v1/review-grants",
        json={
            "officer": "other_officer",
            "media_ids": [i["own"]],
            "ends_at": "2100-01-01T00:00:00Z",
            "reason": "matrix",
        },
        headers=h,
    ),
    "grants": lambda c, h, i: c.get("/api/v1/review-grants", headers=h),
    "grant-revoke": lambda c, h, i: c.post(
        "/api/v1/review-grants/unknown/revoke", json={"reason": "matrix"}, headers=h
    ),
    "restricted-detail": lambda c, h, i: c.get(f"/api/v1/media/{i['restricted']}", headers=h),
    "restricted-content": lambda c, h, i: c.get(
        f"/api/v1/media/{i['restricted']}/content?purpose=legal", headers=h
    ),
    "patch": lambda c, h, i: c.patch(
        f"/api/v1/media/{i['own']}", json={"case_number": "C-1"}, headers=h
    ),
    "categories": lambda c, h, i: c.get("/api/v1/categories", headers=h),
    "upload": lambda c, h, i: c.post(
        "/api/v1/uploads",
        json={
            "filename": "x.mp4",
            "size": 10,
            "sha256": "0" * 64,
            "source": "bwc",
            "device_id": "BWC-9",
        },
        headers=h,
    ),
    "audit": lambda c, h, i: c.get("/api/v1/audit", headers=h),
    "me": lambda c, h, i: c.get("/api/v1/auth/me", headers=h),
    "devices": lambda c, h, i: c.get("/api/v1/devices", headers=h),
    "device-assign": lambda c, h, i: c.put("/api/v1/devices/BWC-7/officers/B2", headers=h),
    "device-unassign": lambda c, h, i: c.delete("/api/v1/devices/BWC-7/officers/B2", headers=h),
    "alarms": lambda c, h, i: c.get("/api/v1/alarms?open=true", headers=h),
    "alarm-ack": lambda c, h, i: c.post("/api/v1/alarms/999/ack", headers=h),
    "masks": lambda c, h, i: c.get("/api/v1/cameras/CAM-1/masks", headers=h),
    "mask-create": lambda c, h, i: c.post(
        "/api/v1/cameras/CAM-1/masks",
        json={"name": "x", "polygon": [[10, -5], [20, -5], [20, 5], [10, 5]]},
        headers=h,
    ),
    # PSCS-1 exceptions: mask lifts (issue 14.6); no such mask / lift here: 404 for admins.
    "mask-lift-create": lambda c, h, i: c.post(
        "/api/v1/cameras/CAM-1/mask-lifts",
        json={"mask_id": "nope", "reason": "warrant 2026-1", "minutes": 10},
        headers=h,
    ),
    "mask-lifts": lambda c, h, i: c.get("/api/v1/cameras/CAM-1/mask-lifts", headers=h),
    "mask-lift-end": lambda c, h, i: c.delete("/api/v1/cameras/CAM-1/mask-lifts/nope", headers=h),
    "recording-state": lambda c, h, i: c.get("/api/v1/cameras/CAM-1/recording/state", headers=h),
    "recording-switch": lambda c, h, i: c.put(
        "/api/v1/cameras/CAM-1/recording/state", json={"recording": True}, headers=h
    ),
    "timeline": lambda c, h, i: c.get("/api/v1/cameras/CAM-1/timeline", headers=h),
    "media-restricted": _unrestrict_and_back,
    "snapshot": lambda c, h, i: c.get("/api/v1/cameras/CAM-1/snapshot.jpg", headers=h),
    "whep-offer": lambda c, h, i: c.post(
        "/api/v1/cameras/CAM-1/whep",
        data="v=0\r\n",
        headers=h | {"Content-Type": "application/sdp"},
    ),
    "whep-end": lambda c, h, i: c.delete("/api/v1/cameras/CAM-1/whep/no-such-session", headers=h),
    "wall-layout": lambda c, h, i: c.put("/api/v1/me/wall-layout", json={"layout": 9}, headers=h),
    "review": lambda c, h, i: c.get(
        "/api/v1/review?start=2026-11-20T08:00Z&end=2026-11-20T12:00Z", headers=h
    ),
    # Exports (issue 15.4): queued here, never run (no jobs role in this test).
    "export-create": lambda c, h, i: c.post(
        "/api/v1/exports",
        json={"purpose": "court", "sources": [{"media_id": i["own"]}]},
        headers=h,
    ),
    "export-restricted": lambda c, h, i: c.post(
        "/api/v1/exports",
        json={"purpose": "court", "sources": [{"media_id": i["restricted"]}]},
        headers=h,
    ),
    "exports": lambda c, h, i: c.get("/api/v1/exports", headers=h),
    "export-get": lambda c, h, i: c.get("/api/v1/exports/unknown", headers=h),
    "export-package": lambda c, h, i: c.get("/api/v1/exports/unknown/package", headers=h),
    "export-key": lambda c, h, i: c.get("/api/v1/exports/public-key", headers=h),
    # Redaction jobs (issue 16.3): queued here, never run (no jobs role in this test).
    "redaction-create": lambda c, h, i: c.post(
        "/api/v1/redactions", json={"media_id": i["own"], "detect": ["faces"]}, headers=h
    ),
    "redaction-restricted": lambda c, h, i: c.post(
        "/api/v1/redactions", json={"media_id": i["restricted"], "detect": ["faces"]}, headers=h
    ),
    "redaction-get": lambda c, h, i: c.get("/api/v1/redactions/unknown", headers=h),
    "redaction-edit": lambda c, h, i: c.patch(
        "/api/v1/redactions/unknown", json={"method": "solid"}, headers=h
    ),
    "redaction-render": lambda c, h, i: c.post("/api/v1/redactions/unknown/render", headers=h),
    # The review page's reads (issue 16.4): an item's jobs, a job's original video.
    "redactions-of-item": lambda c, h, i: c.get(
        "/api/v1/redactions", query_string={"media_id": i["own"]}, headers=h
    ),
    "redactions-restr": lambda c, h, i: c.get(
        "/api/v1/redactions", query_string={"media_id": i["restricted"]}, headers=h
    ),
    "redaction-video": lambda c, h, i: c.get("/api/v1/redactions/unknown/video", headers=h),
    # Supervisor reviews and the monthly audit (OPS-6, OPS-7, issue 14.3).
    "review-record": lambda c, h, i: c.post(
        "/api/v1/reviews", json={"media_id": i["own"], "note": "matrix"}, headers=h
    ),
    "review-restricted": lambda c, h, i: c.post(
        "/api/v1/reviews", json={"media_id": i["restricted"], "note": "matrix"}, headers=h
    ),
    "reviews": lambda c, h, i: c.get("/api/v1/reviews?month=2026-11", headers=h),
    "monthly-audit": lambda c, h, i: c.get(
        "/api/v1/reports/monthly-audit?month=2026-11", headers=h
    ),
    # Release requests (issue 16.5): unknown ids (404) once the role may act.
    "release-create": lambda c, h, i: c.post(
        "/api/v1/releases",
        json={
            "kind": "foia",
            "request_number": "F-1",
            "requester": {"name": "A. Reporter"},
            "received_at": "2026-11-19T09:00Z",
            "legal_basis": "public records act",
            "items": [i["own"]],
        },
        headers=h,
    ),
    "releases": lambda c, h, i: c.get("/api/v1/releases", headers=h),
    "release-get": lambda c, h, i: c.get("/api/v1/releases/unknown", headers=h),
    "release-review": lambda c, h, i: c.post("/api/v1/releases/unknown/review", headers=h),
    "release-approve": lambda c, h, i: c.post(
        "/api/v1/releases/unknown/approve", json={"reason": "ok"}, headers=h
    ),
    "release-deny": lambda c, h, i: c.post(
        "/api/v1/releases/unknown/deny", json={"reason": "no"}, headers=h
    ),
    "release-release": lambda c, h, i: c.post("/api/v1/releases/unknown/release", headers=h),
    "release-share": lambda c, h, i: c.post(
        "/api/v1/releases/unknown/share",
        json={"expires_at": "2026-11-21T12:00Z", "max_downloads": 1},
        headers=h,
    ),
    "privacy-flag": lambda c, h, i: c.put(
        f"/api/v1/media/{i['own']}/privacy",
        json={"privacy_sensitive": True, "reason": "ACC-11"},
        headers=h,
    ),
    "privacy-clear": lambda c, h, i: c.put(
        f"/api/v1/media/{i['own']}/privacy",
        json={"privacy_sensitive": False, "reason": "reviewed"},
        headers=h,
    ),
    "release-revoke": lambda c, h, i: c.delete("/api/v1/releases/unknown/share/unknown", headers=h),
    # ACC-11: a privacy-sensitive item's metadata as any item's; its content (play,
    # export, redaction) only for [access] privacy_sensitive_roles (default: admin,
    # investigator, records_commander).
    "private-detail": lambda c, h, i: c.get(f"/api/v1/media/{i['private']}", headers=h),
    "private-content": lambda c, h, i: c.get(
        f"/api/v1/media/{i['private']}/content?purpose=investigation", headers=h
    ),
    "private-export": lambda c, h, i: c.post(
        "/api/v1/exports",
        json={"purpose": "court", "sources": [{"media_id": i["private"]}]},
        headers=h,
    ),
    "private-redact": lambda c, h, i: c.post(
        "/api/v1/redactions", json={"media_id": i["private"], "detect": ["faces"]}, headers=h
    ),
    # Write routes the table had left out (ACC-1): unknown ids, so who may act gets a 404.
    # Configuring cameras and masks is administration (ARCHITECTURE: admins configure).
    "camera-add": lambda c, h, i: c.post(
        "/api/v1/cameras",
        json={
            "name": "matrix",
            "onvif_url": "http://127.0.0.1:9/onvif/device_service",  # nothing listens
            "username": "u",
            "password": "p",
        },
        headers=h,
    ),
    "camera-edit": lambda c, h, i: c.patch("/api/v1/cameras/nope", json={"name": "x"}, headers=h),
    "camera-delete": lambda c, h, i: c.delete("/api/v1/cameras/nope", headers=h),
    "camera-calibrate": lambda c, h, i: c.put(
        "/api/v1/cameras/nope/calibration", json={}, headers=h
    ),
    "camera-certificate": lambda c, h, i: c.post(
        "/api/v1/cameras/nope/certificate", json={"tls_fingerprint": "ab" * 32}, headers=h
    ),
    "mask-edit": lambda c, h, i: c.put(
        "/api/v1/cameras/CAM-1/masks/nope", json={"name": "x"}, headers=h
    ),
    "mask-delete": lambda c, h, i: c.delete("/api/v1/cameras/CAM-1/masks/nope", headers=h),
    # PSCS-2: steering a camera (a session with its purpose, commands in it).
    "ptz-open": lambda c, h, i: c.post(
        "/api/v1/cameras/nope/ptz/session",
        json={"purpose": "emergency", "incident_number": "I-1"},
        headers=h,
    ),
    "ptz-command": lambda c, h, i: c.post(
        "/api/v1/cameras/nope/ptz", json={"session_id": "nope", "op": "stop"}, headers=h
    ),
    "ptz-close": lambda c, h, i: c.delete("/api/v1/cameras/nope/ptz/session", headers=h),
    # Cases (RET-5, issue 15.3): each role that may opens its own case number.
    "case-create": lambda c, h, i: c.post(
        "/api/v1/cases", json={"case_number": f"MATRIX-{next(_case_numbers)}"}, headers=h
    ),
    "case-state": lambda c, h, i: c.put("/api/v1/cases/nope", json={"state": "closed"}, headers=h),
    "case-item": lambda c, h, i: c.post(
        "/api/v1/cases/nope/items", json={"media_id": i["own"]}, headers=h
    ),
    "bookmark": lambda c, h, i: c.post(
        "/api/v1/bookmarks",
        json={"start": "2026-11-20T11:00:00Z", "label": "matrix", "camera_id": "nope"},
        headers=h,
    ),
    # RET-2, RET-3, RET-10: preservation requests and legal holds, the data steward's.
    "pres-create": lambda c, h, i: c.post(
        "/api/v1/preservation-requests",
        json={
            "request_number": f"PR-{next(_case_numbers)}",
            "requester": {"name": "A. Counsel"},
            "received_at": "2026-11-20T09:00:00Z",
            "received_via": "written",
            "reason": "matrix",
            "media_ids": [i["own"]],
        },
        headers=h,
    ),
    "pres-form": lambda c, h, i: c.post(
        "/api/v1/preservation-requests/nope/form?filename=form.pdf",
        data=b"%PDF-1.4\n%%EOF\n",
        headers=h | {"Content-Type": "application/pdf"},
    ),
    "pres-release": lambda c, h, i: c.post(
        "/api/v1/preservation-requests/nope/release",
        json={"notice": "N-1", "reason": "matrix"},
        headers=h,
    ),
    "hold-create": lambda c, h, i: c.post(
        "/api/v1/legal-holds",
        json={
            "reference": f"LH-{next(_case_numbers)}",
            "reason": "matrix",
            "media_ids": [i["own"]],
        },
        headers=h,
    ),
    "hold-release": lambda c, h, i: c.post(
        "/api/v1/legal-holds/nope/release", json={"notice": "N-1"}, headers=h
    ),
    # TAG-5: an upload's chunks and completion, for who may upload (an unknown upload).
    "upload-chunk": lambda c, h, i: c.put(
        "/api/v1/uploads/nope",
        data=b"x",
        headers=h | {"Content-Range": "bytes 0-0/10", "Content-Type": "application/octet-stream"},
    ),
    "upload-complete": lambda c, h, i: c.post("/api/v1/uploads/nope/complete", headers=h),
    # ACC-1: ending another user's sessions is administration; a token is revoked by its
    # holder (admins: anyone's), and an unknown one is a 404 for all (no token oracle).
    "user-revoke": lambda c, h, i: c.post("/api/v1/users/nobody/revoke", headers=h),
    "token-revoke": lambda c, h, i: c.post(
        "/api/v1/auth/tokens/revoke", json={"token": "vms_nope"}, headers=h
    ),
}

# (method, rule) of an /api/v1 write the table does not try, and why: each is decided per
# object or per user, not by role (test_every_api_write_route_is_in_the_table_ACC_1).
EXEMPT = {
    # Public: signing in (tests/security/test_anonymous.py, tests/web/test_api_auth.py).
    ("POST", "/api/v1/auth/token"),
    # The caller's own session or password; trying them here would end the matrix's
    # tokens (tests/web/test_api_auth.py).
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password"),
}

# role -> endpoint -> expected status
A, D, C, I, U, S, O, X, P = ROLES  # noqa: E741
EXPECTED: dict[str, dict[str, int]] = {
    "search": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 200, X: 200, P: 403},
    "detail": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 200, X: 403, P: 403},
    "content": {A: 200, D: 403, C: 403, I: 200, U: 403, S: 200, O: 200, X: 403, P: 403},
    "restricted-detail": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 200, X: 403, P: 403},
    "restricted-content": {A: 200, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "patch": {A: 200, D: 403, C: 200, I: 200, U: 403, S: 200, O: 200, X: 403, P: 403},
    "categories": {A: 200, D: 200, C: 200, I: 200, U: 200, S: 200, O: 200, X: 200, P: 200},
    "upload": {A: 201, D: 403, C: 201, I: 201, U: 403, S: 201, O: 201, X: 201, P: 403},
    "audit": {A: 200, D: 403, C: 403, I: 403, U: 200, S: 403, O: 403, X: 403, P: 403},
    "me": {A: 200, D: 200, C: 200, I: 200, U: 200, S: 200, O: 200, X: 200, P: 200},
    # ACC-4: admins and investigators review outside their own scope: a purpose or 400.
    "content-no-purpose": {A: 400, D: 403, C: 403, I: 400, U: 403, S: 200, O: 200, X: 403, P: 403},
    # ACC-2: a critical incident's recording: the officer's own review needs an approval;
    # the flag is set by admins, investigators and the supervisor, never the officer;
    # the approval is recorded by admins and the supervisor.
    "critical-content": {A: 200, D: 403, C: 403, I: 200, U: 403, S: 200, O: 403, X: 403, P: 403},
    "critical-set": {A: 200, D: 403, C: 403, I: 200, U: 403, S: 200, O: 403, X: 403, P: 403},
    "review-approve": {A: 201, D: 403, C: 403, I: 403, U: 403, S: 201, O: 403, X: 403, P: 403},
    # ACC-3: review grants: admins make and revoke them, auditors read them.
    "grant-create": {A: 201, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "grants": {A: 200, D: 403, C: 403, I: 403, U: 200, S: 403, O: 403, X: 403, P: 403},
    "grant-revoke": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    # Device assignment (#10.1): admins only, so nobody assigns themselves a device.
    "devices": {A: 200, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "device-assign": {A: 200, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "device-unassign": {A: 200, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    # Alarms (issue 12.3): who watches the cameras reads and acknowledges them (an
    # unknown alarm: 404); auditors read the list.
    "alarms": {A: 200, D: 200, C: 403, I: 403, U: 200, S: 200, O: 403, X: 403, P: 403},
    "alarm-ack": {A: 404, D: 404, C: 403, I: 403, U: 403, S: 404, O: 403, X: 403, P: 403},
    # Privacy masks and the recording switch (PSCS-1): admins only.
    "masks": {A: 200, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "mask-create": {A: 201, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    # PSCS-1 exceptions: admins lift and end; whoever watches live sees them (banner).
    "mask-lift-create": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "mask-lifts": {A: 200, D: 200, C: 403, I: 403, U: 403, S: 200, O: 403, X: 403, P: 403},
    "mask-lift-end": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "recording-switch": {A: 200, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    # Live view: dispatchers, supervisors, admins (the camera is not recorded here: 404).
    "recording-state": {A: 200, D: 200, C: 403, I: 403, U: 403, S: 200, O: 403, X: 403, P: 403},
    "snapshot": {A: 404, D: 404, C: 403, I: 403, U: 403, S: 404, O: 403, X: 403, P: 403},
    "whep-offer": {A: 404, D: 404, C: 403, I: 403, U: 403, S: 404, O: 403, X: 403, P: 403},
    "whep-end": {A: 404, D: 404, C: 403, I: 403, U: 403, S: 404, O: 403, X: 403, P: 403},
    # The wall's layout (issue 12.2): a preference of whoever may watch live.
    "wall-layout": {A: 200, D: 200, C: 403, I: 403, U: 403, S: 200, O: 403, X: 403, P: 403},
    # ACC-7: only admins set or clear the restricted mark (issue 14.4).
    "media-restricted": {A: 200, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    # The timeline is metadata: whoever searches the catalog.
    "timeline": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 200, X: 200, P: 403},
    # The review (issue 15.2) is metadata too: each role is offered what it may search.
    "review": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 200, X: 200, P: 403},
    # Court exports (REL-2, ACC-10): who may view the items makes them (investigators,
    # admins; records commanders do not view media);
    # restricted items only admins (ACC-7). Admins and auditors read every export, the
    # others their own (an unknown id: 404); auditors never download content.
    "export-create": {A: 202, D: 403, C: 403, I: 202, U: 403, S: 403, O: 403, X: 403, P: 403},
    "export-restricted": {A: 202, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "exports": {A: 200, D: 403, C: 403, I: 200, U: 200, S: 403, O: 403, X: 403, P: 403},
    "export-get": {A: 404, D: 403, C: 403, I: 404, U: 404, S: 403, O: 403, X: 403, P: 403},
    "export-package": {A: 404, D: 403, C: 403, I: 404, U: 404, S: 403, O: 403, X: 403, P: 403},
    "export-key": {A: 200, D: 200, C: 200, I: 200, U: 200, S: 200, O: 200, X: 200, P: 200},
    # Redaction for release (REL-1, REL-3): records commanders prepare releases,
    # investigators redact for their cases, admins everything; restricted items only
    # admins (ACC-7). An unknown job is a 404 for who may redact, 403 for the others.
    "redaction-create": {A: 202, D: 403, C: 202, I: 202, U: 403, S: 403, O: 403, X: 403, P: 403},
    "redaction-restricted": {
        A: 202,
        D: 403,
        C: 403,
        I: 403,
        U: 403,
        S: 403,
        O: 403,
        X: 403,
        P: 403,
    },
    "redaction-get": {A: 404, D: 403, C: 404, I: 404, U: 403, S: 403, O: 403, X: 403, P: 403},
    "redaction-edit": {A: 404, D: 403, C: 404, I: 404, U: 403, S: 403, O: 403, X: 403, P: 403},
    "redaction-render": {A: 404, D: 403, C: 404, I: 404, U: 403, S: 403, O: 403, X: 403, P: 403},
    # The same reach for the review page's reads: the video through a job is seen by
    # whoever may redact the item (records commanders too; docs/design/redaction.md).
    "redactions-of-item": {A: 200, D: 403, C: 200, I: 200, U: 403, S: 403, O: 403, X: 403, P: 403},
    "redactions-restr": {A: 200, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "redaction-video": {A: 404, D: 403, C: 404, I: 404, U: 403, S: 403, O: 403, X: 403, P: 403},
    # OPS-6: supervisors review their officers' videos (not restricted ones, ACC-7),
    # admins anyone's; auditors, admins and supervisors read them (supervisors their
    # officers'). OPS-7: the monthly audit is for auditors and admins (audit.read).
    "review-record": {A: 201, D: 403, C: 403, I: 403, U: 403, S: 201, O: 403, X: 403, P: 403},
    "review-restricted": {A: 201, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "reviews": {A: 200, D: 403, C: 403, I: 403, U: 200, S: 200, O: 403, X: 403, P: 403},
    "monthly-audit": {A: 200, D: 403, C: 403, I: 403, U: 200, S: 403, O: 403, X: 403, P: 403},
    # Release requests (issue 16.5): records commanders and admins log and manage them,
    # release approvers (the chief or designee) and admins decide (ACC-5); auditors read.
    # The new role reaches nothing else (the rows above: only me, categories, the key).
    "release-create": {A: 201, D: 403, C: 201, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "releases": {A: 200, D: 403, C: 200, I: 403, U: 200, S: 403, O: 403, X: 403, P: 200},
    "release-get": {A: 404, D: 403, C: 404, I: 403, U: 404, S: 403, O: 403, X: 403, P: 404},
    "release-review": {A: 404, D: 403, C: 404, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "release-approve": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 404},
    "release-deny": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 404},
    "release-release": {A: 404, D: 403, C: 404, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "release-share": {A: 404, D: 403, C: 404, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    # The privacy flag (ACC-11): set by who may edit the item, cleared by approvers.
    "privacy-flag": {A: 200, D: 403, C: 200, I: 200, U: 403, S: 200, O: 200, X: 403, P: 403},
    "privacy-clear": {A: 200, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 200},
    "release-revoke": {A: 404, D: 403, C: 404, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    # ACC-11: the supervisor and the recording officer lose the content, not the metadata.
    "private-detail": {A: 200, D: 403, C: 200, I: 200, U: 200, S: 200, O: 200, X: 403, P: 403},
    "private-content": {A: 200, D: 403, C: 403, I: 200, U: 403, S: 403, O: 403, X: 403, P: 403},
    "private-export": {A: 202, D: 403, C: 403, I: 202, U: 403, S: 403, O: 403, X: 403, P: 403},
    "private-redact": {A: 202, D: 403, C: 202, I: 202, U: 403, S: 403, O: 403, X: 403, P: 403},
    # Configuration is administration (ARCHITECTURE 'Users'; PSCS-1 for the masks).
    "camera-add": {A: 503, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "camera-edit": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "camera-delete": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "camera-calibrate": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "camera-certificate": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "mask-edit": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "mask-delete": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    # Dispatchers steer the city cameras (ARCHITECTURE), supervisors and admins take over
    # (docs/design/ptz-arbitration.md A5); nobody else moves one.
    "ptz-open": {A: 404, D: 404, C: 403, I: 403, U: 403, S: 404, O: 403, X: 403, P: 403},
    "ptz-command": {A: 404, D: 404, C: 403, I: 403, U: 403, S: 404, O: 403, X: 403, P: 403},
    "ptz-close": {A: 404, D: 404, C: 403, I: 403, U: 403, S: 404, O: 403, X: 403, P: 403},
    # Cases: investigators, records commanders and admins open them, add items and
    # bookmark (docs/design/case-folders.md); closing one lifts what keeps its footage
    # (RET-5), so it is the data steward's: records commanders and admins (RET-10).
    "case-create": {A: 201, D: 403, C: 201, I: 201, U: 403, S: 403, O: 403, X: 403, P: 403},
    "case-state": {A: 404, D: 403, C: 404, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "case-item": {A: 404, D: 403, C: 404, I: 404, U: 403, S: 403, O: 403, X: 403, P: 403},
    "bookmark": {A: 404, D: 403, C: 404, I: 404, U: 403, S: 403, O: 403, X: 403, P: 403},
    # Records commanders log preservation requests and legal holds (ARCHITECTURE, RET-3,
    # RET-10); admins too. Nobody else pins or releases footage.
    "pres-create": {A: 201, D: 403, C: 201, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "pres-form": {A: 404, D: 403, C: 404, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "pres-release": {A: 404, D: 403, C: 404, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "hold-create": {A: 201, D: 403, C: 201, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "hold-release": {A: 404, D: 403, C: 404, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    # TAG-5: the roles of the upload row; an upload is then its uploader's.
    "upload-chunk": {A: 404, D: 403, C: 404, I: 404, U: 403, S: 404, O: 404, X: 404, P: 403},
    "upload-complete": {A: 404, D: 403, C: 404, I: 404, U: 403, S: 404, O: 404, X: 404, P: 403},
    "user-revoke": {A: 404, D: 403, C: 403, I: 403, U: 403, S: 403, O: 403, X: 403, P: 403},
    "token-revoke": {A: 404, D: 404, C: 404, I: 404, U: 404, S: 404, O: 404, X: 404, P: 404},
}


def check_table(
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    items: dict[str, str],
    endpoints: dict[str, Call],
    expected: dict[str, dict[str, int]],
) -> list[str]:
    """Each row of ``endpoints`` tried by every role: what differs from ``expected``, and
    each expected 403 that is not a permission refusal with a reason, audited (ACC-1)."""
    failures = []
    for endpoint, call in endpoints.items():
        for role in ROLES:
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            with services.db.session() as s:
                before = s.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())).scalar()
            response = call(client, headers, items)
            response.close()  # file responses stream: release the file
            want = expected[endpoint][role]
            if response.status_code != want:
                failures.append(
                    f"{role} {endpoint}: {response.status_code} != {want}"
                    f" {response.get_data(as_text=True)[:300] if response.is_json else ''}"
                )
                continue
            if want == 403:
                body = response.get_json()
                if body["error"]["kind"] != "permission_denied" or not body["error"]["message"]:
                    failures.append(f"{role} {endpoint}: 403 without a reason: {body}")
                with services.db.session() as s:
                    denied = (
                        s.execute(
                            select(AuditEntry).where(
                                AuditEntry.seq > before, AuditEntry.outcome == "denied"
                            )
                        )
                        .scalars()
                        .all()
                    )
                if not denied:
                    failures.append(f"{role} {endpoint}: denial not audited")
    return failures


def test_permission_matrix_every_role_every_endpoint_ACC_1(
    client: FlaskClient, services: Services, tokens: dict[str, str], items: dict[str, str]
) -> None:
    failures = check_table(client, services, tokens, items, ENDPOINTS, EXPECTED)
    assert not failures, "\n".join(failures)


def test_officer_search_sees_only_own_media_ACC_2_and_supervisor_theirs_ACC_8(
    client: FlaskClient, tokens: dict[str, str], items: dict[str, str]
) -> None:
    def ids(role: str) -> set[str]:
        r = client.get("/api/v1/media", headers={"Authorization": f"Bearer {tokens[role]}"})
        return {i["id"] for i in r.get_json()["items"]}

    assert ids("officer") == set(items.values())
    assert ids("sergeant") == set(items.values())
    assert ids("other_officer") == set()
    assert ids("investigator") == set(items.values())


def test_unauthenticated_requests_get_401(client: FlaskClient, items: dict[str, str]) -> None:
    for path in ("/api/v1/media", f"/api/v1/media/{items['own']}/content", "/api/v1/audit"):
        r = client.get(path)
        assert r.status_code == 401
        assert r.get_json()["error"]["kind"] == "unauthenticated"
    r = client.get("/api/v1/media", headers={"Authorization": "Bearer vms_forged"})
    assert r.status_code == 401


class _Recorder:
    """Stands in for the test client: notes each request's method and path, sends none."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def _note(self, method: str, path: str) -> Any:
        self.requests.append((method, path.partition("?")[0]))
        return type("Answer", (), {"status_code": 0})()

    def get(self, path: str, **_: Any) -> Any:
        return self._note("GET", path)

    def post(self, path: str, **_: Any) -> Any:
        return self._note("POST", path)

    def put(self, path: str, **_: Any) -> Any:
        return self._note("PUT", path)

    def patch(self, path: str, **_: Any) -> Any:
        return self._note("PATCH", path)

    def delete(self, path: str, **_: Any) -> Any:
        return self._note("DELETE", path)


def routes_tried(app: Flask, calls: Iterable[Call]) -> set[tuple[str, str]]:
    """(method, URL rule) of every request ``calls`` make (none is sent)."""
    adapter = app.url_map.bind("localhost")
    tried: set[tuple[str, str]] = set()
    for call in calls:
        recorder = _Recorder()
        call(cast(FlaskClient, recorder), {}, dict.fromkeys(ITEM_KEYS, "no-such-id"))
        for method, path in recorder.requests:
            rule, _ = adapter.match(path, method=method, return_rule=True)
            tried.add((method, rule.rule))
    return tried


def test_every_api_write_route_is_in_the_table_ACC_1(app: Flask) -> None:
    """A write route added to /api/v1 without a row above (or an EXEMPT entry saying why)
    fails here, so the table cannot fall behind the app's URL map again."""
    tried = routes_tried(app, ENDPOINTS.values())
    writes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in (rule.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
    }
    assert len(writes) > 50  # the URL map was read (56 API writes, audit-perms)
    assert sorted(writes - tried - EXEMPT) == []
    assert sorted(EXEMPT - writes) == []  # a stale exemption hides nothing
    assert sorted(EXEMPT & tried) == []  # tried after all: no longer exempt
