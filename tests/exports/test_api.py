"""``GET /api/v1/exports/public-key``: the key packages are signed with, for any
signed-in user; refused without credentials."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vms.exports.signing import load_or_create_signer
from vms.services import Services


def test_the_public_key_is_the_one_packages_are_signed_with(
    client: Any, tokens: dict[str, str], services: Services
) -> None:
    r = client.get(
        "/api/v1/exports/public-key", headers={"Authorization": f"Bearer {tokens['officer']}"}
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    signer = load_or_create_signer(services.config.secrets_dir)
    assert body["algorithm"] == "Ed25519" and body["fingerprint"] == signer.fingerprint
    key = serialization.load_pem_public_key(body["pem"].encode())
    assert isinstance(key, Ed25519PublicKey)
    key.verify(signer.sign(b"manifest"), b"manifest")  # raises if not the pair
    assert client.get("/api/v1/exports/public-key").status_code == 401


def _ingest_bwc(services: Services, seconds: float = 2.0) -> str:
    import datetime as dt
    import io

    from tests.media import make_video
    from vms.audit.log import Who
    from vms.db.models import SourceKind
    from vms.ingest import IngestRequest

    return services.ingestor.ingest(
        io.BytesIO(make_video(seconds=seconds, fps=10, seed=5)),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-1",
            officer_badge="B1",
            recorded_at=dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC),
        ),
        Who("setup", "admin"),
    ).media_id


@pytest.mark.parametrize("store_backend", ["local", "s3"], indirect=True)
def test_export_api_queue_run_read_download_issue_15_4(
    client: Any, tokens: dict[str, str], services: Services, tmp_path: Any, store_backend: str
) -> None:
    """POST -> 202 {id, state}; the job runs it; GET shows done with the package;
    the package downloads as a ZIP the verifier accepts, audited once the response
    carries it (a 416 or 304 records nothing). On either store backend (issue 13.6): on
    S3 the job cuts from checked local copies that are gone when it ends, and the package
    is streamed from the bucket."""
    from sqlalchemy import select

    from vms.db.models import AuditEntry, CustodyEvent
    from vms.exports import verify

    media_id = _ingest_bwc(services)
    inv = {"Authorization": f"Bearer {tokens['investigator']}"}
    assert client.post("/api/v1/cases", json={"case_number": "C-9"}, headers=inv).status_code == 201
    body = {
        "purpose": "court copy",
        "case_number": "C-9",
        "sources": [{"media_id": media_id}],
        "cut": "keyframe",
        "include_audit": False,
    }
    r = client.post("/api/v1/exports", json=body, headers=inv)
    assert r.status_code == 202, r.get_json()
    created = r.get_json()
    assert set(created) == {"id", "state"} and created["state"] == "queued"
    export_id = created["id"]
    r = client.get(f"/api/v1/exports/{export_id}", headers=inv)
    assert r.status_code == 200 and r.get_json()["state"] == "queued"
    assert r.get_json()["package"] is None
    assert services.exports.run_pending() == 1
    shown = client.get(f"/api/v1/exports/{export_id}", headers=inv).get_json()
    assert shown["state"] == "done" and shown["progress"] == 1.0 and shown["error"] is None
    assert set(shown["package"]) == {"media_id", "sha256", "size"}
    listed = client.get("/api/v1/exports", headers=inv).get_json()["exports"]
    assert [e["id"] for e in listed] == [export_id]
    r = client.get(f"/api/v1/exports/{export_id}/package", headers=inv)
    assert r.status_code == 200 and r.mimetype == "application/zip"
    assert len(r.data) == shown["package"]["size"]
    package = tmp_path / "p.zip"
    package.write_bytes(r.data)
    r.close()
    assert verify.main([str(package)]) == 0
    if store_backend == "s3":
        assert list(services.store.iter_objects()) == []  # nothing kept on local disk
        assert list(services.store.tmp.iterdir()) == []  # the job's copies are gone
    with services.db.session() as s:
        actions = list(
            s.execute(
                select(AuditEntry.action).where(AuditEntry.target == f"export:{export_id}")
            ).scalars()
        )
    assert actions == ["export.create", "media.export", "media.export.download"]
    # Audited after the response is built (ACC-6): a download that hands nothing over
    # (a range past the end: 416; the copy the client has: 304) records nothing.
    url = f"/api/v1/exports/{export_id}/package"
    size = shown["package"]["size"]
    r = client.get(url, headers={**inv, "Range": f"bytes={size + 10}-"})
    assert r.status_code == 416
    r.close()
    etag = f'"{shown["package"]["sha256"]}"'
    r = client.get(url, headers={**inv, "If-None-Match": etag})
    assert r.status_code == 304
    r.close()
    r = client.get(url, headers={**inv, "Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.data) == 100
    r.close()
    with services.db.session() as s:
        downloads = list(
            s.execute(
                select(AuditEntry.details).where(
                    AuditEntry.target == f"export:{export_id}",
                    AuditEntry.action == "media.export.download",
                )
            ).scalars()
        )
        custody = list(
            s.execute(
                select(CustodyEvent.action).where(
                    CustodyEvent.media_id == shown["package"]["media_id"],
                    CustodyEvent.action == "downloaded",
                )
            ).scalars()
        )
    assert len(downloads) == 2 and len(custody) == 2  # the 200 and the 206 only
    # The case page lists the case's exports (vms/case_exports.py).
    case = client.get("/api/v1/cases/C-9", headers=inv).get_json()
    assert [(e["id"], e["state"]) for e in case["exports"]] == [(export_id, "done")]
    assert case["exports"][0]["package_media_id"] == shown["package"]["media_id"]
    # Auditors read it, but may not download the content; officers may not even read.
    aud = {"Authorization": f"Bearer {tokens['auditor']}"}
    assert client.get(f"/api/v1/exports/{export_id}", headers=aud).status_code == 200
    assert client.get(f"/api/v1/exports/{export_id}/package", headers=aud).status_code == 403
    off = {"Authorization": f"Bearer {tokens['officer']}"}
    assert client.get(f"/api/v1/exports/{export_id}", headers=off).status_code == 403


def test_export_api_bad_input_names_the_problem_issue_15_6(
    client: Any, tokens: dict[str, str], services: Services
) -> None:
    media_id = _ingest_bwc(services)
    inv = {"Authorization": f"Bearer {tokens['investigator']}"}

    def post(body: dict[str, Any]) -> tuple[int, str]:
        r = client.post("/api/v1/exports", json=body, headers=inv)
        return r.status_code, r.get_json()["error"]["message"]

    t = "2026-11-20T11:00:00Z"
    status, message = post(
        {"purpose": "x", "sources": [{"camera_id": "CAM-9", "start": t, "end": t}]}
    )
    assert status == 400 and "empty or inverted" in message
    status, message = post(
        {
            "purpose": "x",
            "sources": [{"camera_id": "CAM-9", "start": t, "end": "2026-11-21T12:00:00Z"}],
        }
    )
    assert status == 400 and "max_hours" in message
    status, message = post(
        {
            "purpose": "x",
            "sources": [{"camera_id": "CAM-9", "start": t, "end": "2026-11-20T11:01:00Z"}],
        }
    )
    assert status == 404 and "CAM-9" in message
    status, message = post({"purpose": "x", "sources": [{"media_id": "nope"}]})
    assert status == 404 and "'nope'" in message
    status, message = post({"sources": [{"media_id": media_id}]})
    assert status == 400 and "purpose" in message
    status, message = post({"purpose": "x", "sources": [{"media_id": media_id}], "cut": "fast"})
    assert status == 400 and "cut" in message
    assert client.get("/api/v1/exports", headers=inv).get_json()["exports"] == []


def test_one_user_has_at_most_max_pending_per_user_exports_queued(
    client: Any, tokens: dict[str, str], services: Services
) -> None:
    """The job runs exports one after another, oldest first: one investigator queueing
    requests in a loop used to put every one of them (each up to 16 sources of 24 h)
    ahead of everyone else's. One more than ``[exports] max_pending_per_user`` is 429
    naming the limit, audited, nothing queued; another user still exports, and a
    finished export gives its place back."""
    from sqlalchemy import select

    from vms.db.models import AuditEntry

    limit = services.config.exports.max_pending_per_user
    assert limit == 5  # the default
    media_id = _ingest_bwc(services, seconds=1.0)
    posted = iter(range(100))

    def post(user: str) -> Any:
        # Each a request of its own (the same one again while queued is that one).
        body = {"purpose": f"court copy {next(posted)}", "sources": [{"media_id": media_id}]}
        headers = {"Authorization": f"Bearer {tokens[user]}"}
        return client.post("/api/v1/exports", json=body, headers=headers)

    queued = [post("investigator") for _ in range(limit)]
    assert [r.status_code for r in queued] == [202] * limit
    refused = post("investigator")
    assert refused.status_code == 429, refused.get_json()
    error = refused.get_json()["error"]
    assert error["kind"] == "rate_limited"
    assert f"[exports] max_pending_per_user = {limit}" in error["message"]
    assert f"investigator has {limit} exports queued or running" in error["message"]
    inv = {"Authorization": f"Bearer {tokens['investigator']}"}
    assert len(client.get("/api/v1/exports", headers=inv).get_json()["exports"]) == limit
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "export.create", AuditEntry.outcome == "denied"
            )
        ).scalar_one()
    assert (denied.actor, denied.target) == ("investigator", "exports")
    assert "max_pending_per_user" in denied.details["reason"]
    assert post("admin").status_code == 202  # per user
    services.exports.run(queued[0].get_json()["id"])  # one finishes
    assert post("investigator").status_code == 202
    assert post("investigator").status_code == 429


def test_export_progress_reaches_only_its_creator_over_socketio(
    services: Services, tokens: dict[str, str]
) -> None:
    """``export.progress`` goes to the creator's room, not to other signed-in users."""
    from vms.exports.service import ExportSource, NewExport
    from web.app import create_app

    media_id = _ingest_bwc(services)
    app, socketio = create_app(services, testing=True)
    creator = socketio.test_client(
        app, headers={"Authorization": f"Bearer {tokens['investigator']}"}
    )
    other = socketio.test_client(app, headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert creator.is_connected() and other.is_connected()
    with services.db.session() as s:
        from vms.db.models import User

        user = s.query(User).filter_by(username="investigator").one()
        actor = services.users.actor_for(s, user)
    record = services.exports.create(actor, NewExport("court", (ExportSource(None, media_id),)))
    services.exports.run(record.id)
    received = [m["args"][0] for m in creator.get_received() if m["name"] == "export.progress"]
    assert received[0]["state"] == "queued" and received[-1]["state"] == "done"
    assert received[-1]["package"]["media_id"] and received[-1]["id"] == record.id
    assert any(m["state"] == "running" for m in received)
    assert not [m for m in other.get_received() if m["name"] == "export.progress"]
    creator.disconnect()
    other.disconnect()


def test_the_same_export_posted_twice_is_one_export_ACC_6(
    client: Any, tokens: dict[str, str], services: Services
) -> None:
    """A double-click on the review page's export button (its form stays enabled) or a
    client retrying after a timeout sends the same request again while the first one
    is still queued: one export (one package, one audited ``export.create``), and the
    repeat answers with it. Two at once too (the user's row is locked), on either
    backend. Another purpose, or the same one once the first has left the queue, is a
    new export."""
    from sqlalchemy import func, select

    from tests.races import together
    from vms.db.models import AuditEntry, Export, User
    from vms.exports.service import ExportSource, NewExport

    media_id = _ingest_bwc(services, seconds=1.0)
    body = {"purpose": "court copy", "sources": [{"media_id": media_id}]}
    inv = {"Authorization": f"Bearer {tokens['investigator']}"}
    first = client.post("/api/v1/exports", json=body, headers=inv)
    again = client.post("/api/v1/exports", json=body, headers=inv)
    assert first.status_code == again.status_code == 202, again.get_json()
    assert again.get_json()["id"] == first.get_json()["id"]

    with services.db.session() as s:
        user = s.execute(select(User).where(User.username == "investigator")).scalar_one()
        actor = services.users.actor_for(s, user)
    command = NewExport(purpose="hearing", sources=(ExportSource(None, media_id),))
    got = together(*[lambda: services.exports.create(actor, command)] * 2)
    assert not [g for g in got if isinstance(g, Exception)], got
    assert len({g.id for g in got}) == 1, got  # type: ignore[attr-defined]

    other = client.post("/api/v1/exports", json={**body, "purpose": "appeal"}, headers=inv)
    assert other.get_json()["id"] != first.get_json()["id"]
    services.exports.run(first.get_json()["id"])
    later = client.post("/api/v1/exports", json=body, headers=inv)
    assert later.get_json()["id"] != first.get_json()["id"]
    with services.db.session() as s:
        exports = s.execute(select(func.count()).select_from(Export)).scalar_one()
        created = s.execute(
            select(func.count()).where(
                AuditEntry.action == "export.create", AuditEntry.outcome == "ok"
            )
        ).scalar_one()
    assert (exports, created) == (4, 4)
