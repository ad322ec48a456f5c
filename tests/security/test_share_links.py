"""Share links for outsiders (issue 16.6, ACC-5): the release workflow over the API, then
a client with no account downloads the package through ``/s/<token>``. A wrong, expired,
revoked or used-up token answers the same 404 body; the token is never stored or audited
in clear; every download is counted and audited with the remote address."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from vms.clock import ManualClock
from vms.db.models import AuditEntry, CustodyEvent, ShareLink
from vms.services import Services

OUTSIDER = {"REMOTE_ADDR": "198.51.100.7"}


def bearer(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


def share(
    client: FlaskClient, tokens: dict[str, str], release_id: str, **body: Any
) -> dict[str, Any]:
    body.setdefault("expires_at", "2026-11-22T12:00Z")
    body.setdefault("max_downloads", 3)
    r = client.post(
        f"/api/v1/releases/{release_id}/share", json=body, headers=bearer(tokens, "commander")
    )
    assert r.status_code == 201, r.get_json()
    out: dict[str, Any] = r.get_json()
    return out


def assert_link_dead(
    outsider: FlaskClient, services: Services, link: dict[str, Any], rule: str
) -> None:
    """The link answers an outsider as a dead link (404, nothing counted as downloaded),
    and each refusal is audited naming ``rule``."""
    for path in (f"/s/{link['token']}", f"/s/{link['token']}/package"):
        got = outsider.get(path, environ_base=OUTSIDER)
        assert got.status_code == 404, (path, got.status_code)
        got.close()
    with services.db.session() as s:
        assert s.get_one(ShareLink, link["id"]).downloads == 0
        reasons = [
            e.details["reason"]
            for e in s.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "release.share.open", AuditEntry.outcome == "denied"
                )
            ).scalars()
        ]
        assert reasons and all(rule in r for r in reasons), reasons


@pytest.mark.parametrize("store_backend", ["local", "s3"], indirect=True)
def test_no_account_downloads_the_released_package_and_each_download_is_audited(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    released: str,
    document_item: tuple[str, bytes],
    store_backend: str,
) -> None:
    """On either store backend (issue 13.6): from S3 the file streams from the bucket,
    whole (a Range is not honoured: one download is one count)."""
    link = share(client, tokens, released)
    assert link["url"].endswith(f"/s/{link['token']}")
    outsider = app.test_client()  # no session, no token
    page = outsider.get(f"/s/{link['token']}", environ_base=OUTSIDER)
    assert page.status_code == 200
    assert b"FOIA-2026-17" in page.data and b"r.pdf" in page.data
    assert page.headers["Referrer-Policy"] == "no-referrer"
    got = outsider.get(
        f"/s/{link['token']}/package", environ_base=OUTSIDER, headers={"Range": "bytes=0-9"}
    )
    assert got.status_code == 200 and got.data == document_item[1]
    assert "attachment" in got.headers["Content-Disposition"]
    got.close()
    with services.db.session() as s:
        entries = list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action == "release.share.download")
            ).scalars()
        )
        assert [e.details["remote_addr"] for e in entries] == ["198.51.100.7"]
        custody = s.execute(
            select(CustodyEvent).where(CustodyEvent.action == "shared_download")
        ).scalar_one()
        assert custody.media_id == document_item[0]
        assert s.get_one(ShareLink, link["id"]).downloads == 1
    r = client.get(f"/api/v1/releases/{released}", headers=bearer(tokens, "auditor"))
    assert r.get_json()["shares"][0]["downloads"] == 1


def test_wrong_expired_revoked_and_used_up_tokens_all_answer_the_same_404(
    app: Flask,
    client: FlaskClient,
    tokens: dict[str, str],
    clock: ManualClock,
    released: str,
) -> None:
    outsider = app.test_client()
    wrong = outsider.get("/s/" + "A" * 43, environ_base=OUTSIDER)
    assert wrong.status_code == 404
    bodies = {wrong.data}

    once = share(client, tokens, released, max_downloads=1)
    outsider.get(f"/s/{once['token']}/package", environ_base=OUTSIDER).close()
    for path in (f"/s/{once['token']}", f"/s/{once['token']}/package"):
        used = outsider.get(path, environ_base=OUTSIDER)
        assert used.status_code == 404
        bodies.add(used.data)

    revoked = share(client, tokens, released)
    r = client.delete(
        f"/api/v1/releases/{released}/share/{revoked['id']}", headers=bearer(tokens, "commander")
    )
    assert r.status_code == 200 and r.get_json()["revoked_by"] == "commander"
    gone = outsider.get(f"/s/{revoked['token']}/package", environ_base=OUTSIDER)
    assert gone.status_code == 404
    bodies.add(gone.data)

    expiring = share(client, tokens, released)
    clock.advance(dt.timedelta(days=3))
    late = outsider.get(f"/s/{expiring['token']}", environ_base=OUTSIDER)
    assert late.status_code == 404
    bodies.add(late.data)
    bad_n = outsider.get("/s/" + "B" * 43 + "/package/2", environ_base=OUTSIDER)
    bodies.add(bad_n.data)
    assert len(bodies) == 1, "a 404 must not tell a wrong token from a dead link"


def test_the_token_is_stored_only_as_its_sha256_and_never_audited(
    client: FlaskClient, services: Services, tokens: dict[str, str], released: str
) -> None:
    link = share(client, tokens, released)
    token = link["token"]
    assert len(token) >= 43  # 256 random bits
    with services.db.session() as s:
        row = s.get_one(ShareLink, link["id"])
        assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
        for table in ("share_links", "audit_entries", "custody_events", "release_requests"):
            dump = " ".join(
                str(v) for r in s.execute(text(f"SELECT * FROM {table}")).all() for v in r
            )
            assert token not in dump, table


def test_share_only_for_approved_or_released_requests(
    client: FlaskClient, tokens: dict[str, str], document_item: tuple[str, bytes]
) -> None:
    r = client.post(
        "/api/v1/releases",
        json={
            "kind": "media",
            "request_number": "M-1",
            "requester": {"name": "TV"},
            "received_at": "2026-11-19T09:00Z",
            "legal_basis": "press request",
            "items": [document_item[0]],
        },
        headers=bearer(tokens, "commander"),
    )
    release_id = r.get_json()["id"]
    r = client.post(
        f"/api/v1/releases/{release_id}/share",
        json={"expires_at": "2026-11-22T12:00Z", "max_downloads": 1},
        headers=bearer(tokens, "commander"),
    )
    assert r.status_code == 409
    assert "approved first" in r.get_json()["error"]["message"]


def test_agency_request_without_document_is_400_naming_the_field_ACC_9(
    client: FlaskClient, tokens: dict[str, str], document_item: tuple[str, bytes]
) -> None:
    r = client.post(
        "/api/v1/releases",
        json={
            "kind": "agency",
            "request_number": "AG-1",
            "requester": {"name": "County DA"},
            "received_at": "2026-11-19T09:00Z",
            "legal_basis": "interagency request",
            "items": [document_item[0]],
        },
        headers=bearer(tokens, "commander"),
    )
    assert r.status_code == 400
    assert "document_media_id" in r.get_json()["error"]["message"]


def test_an_address_guessing_links_is_held_back_and_others_are_not_ACC_5(
    app: Flask,
    client: FlaskClient,
    tokens: dict[str, str],
    clock: ManualClock,
    services: Services,
    released: str,
) -> None:
    """Tokens carry 256 bits, so guessing is hopeless; still, an address that keeps
    trying links that do not work is held back like a password guesser (429 with
    Retry-After, not one database lookup more), the refusals audited in aggregate, while
    the real recipient at another address downloads, and the guesser is let in again
    after the wait."""
    link = share(client, tokens, released)
    guesser, recipient = app.test_client(), app.test_client()
    answers = [
        guesser.get(f"/s/{'G' * 42}{i:x}", environ_base=OUTSIDER).status_code for i in range(12)
    ]
    limit = services.config.web.login_max_failures
    assert answers[:limit] == [404] * limit and answers[-1] == 429, answers
    refused = guesser.get(f"/s/{link['token']}", environ_base=OUTSIDER)  # even a good link
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert b"wait" in refused.data and refused.headers["Cache-Control"] == "no-store"

    elsewhere = {"REMOTE_ADDR": "203.0.113.9"}
    page = recipient.get(f"/s/{link['token']}", environ_base=elsewhere)
    assert page.status_code == 200
    download = recipient.get(f"/s/{link['token']}/package", environ_base=elsewhere)
    assert download.status_code == 200
    download.close()

    clock.advance(dt.timedelta(seconds=int(refused.headers["Retry-After"]) + 1))
    assert guesser.get(f"/s/{link['token']}", environ_base=OUTSIDER).status_code == 200
    with services.db.session() as s:
        throttled = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "auth.throttle"))
            .scalars()
            .all()
        )
    assert throttled and all(e.outcome == "denied" for e in throttled)
    assert any(e.target == f"addr:{OUTSIDER['REMOTE_ADDR']}" for e in throttled)


def test_a_link_stops_serving_an_item_flagged_privacy_sensitive_after_approval_REL_3(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    released: str,
    document_item: tuple[str, bytes],
) -> None:
    """The request was approved with an unflagged item; the item is then flagged
    privacy-sensitive (ACC-11). A FOIA release of it is refused from then on (REL-3:
    only a redacted derivative, unless a court orders it), so the links already handed
    out stop serving it, with the same 404 and a denied entry naming the reason."""
    link = share(client, tokens, released)
    outsider = app.test_client()
    r = client.put(
        f"/api/v1/media/{document_item[0]}/privacy",
        json={"privacy_sensitive": True, "reason": "person in a state of undress"},
        headers=bearer(tokens, "commander"),
    )
    assert r.status_code == 200, r.get_json()
    assert_link_dead(outsider, services, link, "REL-3")


def test_only_administration_logs_a_restricted_item_for_release_ACC_7(
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    document_item: tuple[str, bytes],
) -> None:
    """A restricted item (ACC-7) is opened by administration only: a records commander
    may not put it in a release request (from which they would share and download it
    themselves); the refusal is a 403 naming ACC-7, audited. An admin may."""
    r = client.put(
        f"/api/v1/media/{document_item[0]}/restricted",
        json={"restricted": True, "reason": "internal affairs matter"},
        headers=bearer(tokens, "admin"),
    )
    assert r.status_code == 200, r.get_json()
    body = {
        "kind": "foia",
        "request_number": "FOIA-2026-18",
        "requester": {"name": "A. Reporter"},
        "received_at": "2026-11-19T09:00Z",
        "legal_basis": "public records act",
        "items": [document_item[0]],
    }
    r = client.post("/api/v1/releases", json=body, headers=bearer(tokens, "commander"))
    assert r.status_code == 403, r.get_json()
    assert "ACC-7" in r.get_json()["error"]["message"]
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry).where(
                AuditEntry.actor == "commander", AuditEntry.outcome == "denied"
            )
        ).scalar_one()
        assert denied.target == f"media:{document_item[0]}"
    r = client.post("/api/v1/releases", json=body, headers=bearer(tokens, "admin"))
    assert r.status_code == 201, r.get_json()


def _log(client: FlaskClient, tokens: dict[str, str], item: str, logger: str, number: str) -> str:
    r = client.post(
        "/api/v1/releases",
        json={
            "kind": "foia",
            "request_number": number,
            "requester": {"name": "A. Reporter"},
            "received_at": "2026-11-19T09:00Z",
            "legal_basis": "public records act",
            "items": [item],
        },
        headers=bearer(tokens, logger),
    )
    assert r.status_code == 201, r.get_json()
    return str(r.get_json()["id"])


def _approve(client: FlaskClient, tokens: dict[str, str], release_id: str) -> None:
    r = client.post(
        f"/api/v1/releases/{release_id}/approve",
        json={"reason": "public interest"},
        headers=bearer(tokens, "approver"),
    )
    assert r.status_code == 200, r.get_json()


def _restrict(client: FlaskClient, tokens: dict[str, str], item: str) -> None:
    r = client.put(
        f"/api/v1/media/{item}/restricted",
        json={"restricted": True, "reason": "internal affairs matter"},
        headers=bearer(tokens, "admin"),
    )
    assert r.status_code == 200, r.get_json()


def test_a_link_stops_serving_an_item_restricted_after_approval_ACC_7(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    released: str,
    document_item: tuple[str, bytes],
) -> None:
    """The request was approved with an item anyone in the records unit could open; an
    admin then restricts it (ACC-7: only administration may view it). The approval did
    not cover a restricted item, so the links already handed out stop serving it: the
    same 404 as any dead link, audited as a denied ``release.share.open`` naming ACC-7;
    no new link is made for it, not even by an admin (403 naming ACC-7)."""
    link = share(client, tokens, released)
    outsider = app.test_client()
    _restrict(client, tokens, document_item[0])
    r = client.post(
        f"/api/v1/releases/{released}/share",
        json={"expires_at": "2026-11-22T12:00Z", "max_downloads": 1},
        headers=bearer(tokens, "admin"),
    )
    assert r.status_code == 403, r.get_json()
    assert "ACC-7" in r.get_json()["error"]["message"]
    assert_link_dead(outsider, services, link, "ACC-7")


def test_a_restricted_item_an_admin_logged_is_shared_by_administration_only_ACC_7(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    document_item: tuple[str, bytes],
) -> None:
    """An admin may release a restricted item on purpose (logged restricted, approved
    restricted): its links keep serving it. Releasing and sharing it are
    ``releases.manage`` on a restricted item, so administration's (ACC-7): a records
    commander who made a link could open the item through it themselves (403 naming
    ACC-7, audited with the item)."""
    _restrict(client, tokens, document_item[0])
    release_id = _log(client, tokens, document_item[0], "admin", "FOIA-2026-19")
    _approve(client, tokens, release_id)
    for path, body in (
        ("share", {"expires_at": "2026-11-22T12:00Z", "max_downloads": 1}),
        ("release", None),
    ):
        r = client.post(
            f"/api/v1/releases/{release_id}/{path}", json=body, headers=bearer(tokens, "commander")
        )
        assert r.status_code == 403, (path, r.get_json())
        assert "ACC-7" in r.get_json()["error"]["message"]
    with services.db.session() as s:
        targets = {
            e.target
            for e in s.execute(
                select(AuditEntry).where(
                    AuditEntry.actor == "commander", AuditEntry.outcome == "denied"
                )
            ).scalars()
        }
        assert targets == {f"media:{document_item[0]}"}, targets
        assert s.execute(select(ShareLink)).first() is None
    r = client.post(f"/api/v1/releases/{release_id}/release", headers=bearer(tokens, "admin"))
    assert r.status_code == 200, r.get_json()
    r = client.post(
        f"/api/v1/releases/{release_id}/share",
        json={"expires_at": "2026-11-22T12:00Z", "max_downloads": 1},
        headers=bearer(tokens, "admin"),
    )
    assert r.status_code == 201, r.get_json()
    got = app.test_client().get(f"/s/{r.get_json()['token']}/package", environ_base=OUTSIDER)
    assert got.status_code == 200 and got.data == document_item[1]
    got.close()


def test_release_refuses_an_item_flagged_privacy_sensitive_after_approval_REL_3(
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    document_item: tuple[str, bytes],
) -> None:
    """Approved with an unflagged item, which is then flagged privacy-sensitive (ACC-11):
    moving the request to released would record the unredacted item as released (a
    ``released`` custody event) against REL-3. Refused like the approval would be: 403
    naming the item and REL-3, audited; the request stays approved, no custody event."""
    release_id = _log(client, tokens, document_item[0], "commander", "FOIA-2026-20")
    _approve(client, tokens, release_id)
    r = client.put(
        f"/api/v1/media/{document_item[0]}/privacy",
        json={"privacy_sensitive": True, "reason": "person in a state of undress"},
        headers=bearer(tokens, "commander"),
    )
    assert r.status_code == 200, r.get_json()
    r = client.post(f"/api/v1/releases/{release_id}/release", headers=bearer(tokens, "commander"))
    assert r.status_code == 403, r.get_json()
    message = r.get_json()["error"]["message"]
    assert "REL-3" in message and document_item[0] in message
    r = client.get(f"/api/v1/releases/{release_id}", headers=bearer(tokens, "auditor"))
    assert r.get_json()["state"] == "approved"
    with services.db.session() as s:
        assert (
            s.execute(select(CustodyEvent).where(CustodyEvent.action == "released")).first() is None
        )
        denied = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "release.release", AuditEntry.outcome == "denied"
            )
        ).scalar_one()
        assert "REL-3" in denied.details["reason"]


def test_a_head_request_does_not_use_up_the_link_nor_record_a_download_ACC_5(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    released: str,
    document_item: tuple[str, bytes],
) -> None:
    """A HEAD of the file (a mail scanner, a download manager probing the size) sends no
    bytes: it must not count as the link's one download, nor leave a custody event or an
    audit entry saying the file went out (ACC-6). The GET after it still gets the file."""
    link = share(client, tokens, released, max_downloads=1)
    outsider = app.test_client()
    head = outsider.head(f"/s/{link['token']}/package", environ_base=OUTSIDER)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(document_item[1]))
    head.close()
    with services.db.session() as s:
        assert s.get_one(ShareLink, link["id"]).downloads == 0
        assert not s.execute(
            select(CustodyEvent).where(CustodyEvent.action == "shared_download")
        ).all()
    got = outsider.get(f"/s/{link['token']}/package", environ_base=OUTSIDER)
    assert got.status_code == 200 and got.data == document_item[1]
    got.close()
    missing = outsider.head(f"/s/{link['token']}/package/2", environ_base=OUTSIDER)
    assert missing.status_code == 404  # used up now, and no file 2 anyway
    with services.db.session() as s:
        assert s.get_one(ShareLink, link["id"]).downloads == 1
        downloads = select(AuditEntry).where(AuditEntry.action == "release.share.download")
        assert len(s.execute(downloads).all()) == 1


def test_an_api_share_retried_with_its_link_id_makes_no_second_live_link_REL_1(
    client: FlaskClient, services: Services, tokens: dict[str, str], released: str
) -> None:
    """REL-1, ACC-6: the share API's answer is the only place the link's address is
    (its hash is stored); a client retrying after a timeout made a second link, and the
    first, whose answer was lost, stayed a live credential nobody held. A client names
    the link's id (``link_id``, a UUID of its own): the retry makes and audits nothing
    and is a 409 naming the link made, to revoke if its answer was lost. The same id from
    another user is taken (409, nothing said about that link); a malformed one is a 400
    naming the field."""
    link_id = "0b6f3c7e-5a0d-4c3f-9a51-2f1c9e8d7b60"
    first = share(client, tokens, released, link_id=link_id)
    assert first["id"] == link_id
    body = {"expires_at": "2026-11-22T12:00Z", "max_downloads": 3, "link_id": link_id}
    url = f"/api/v1/releases/{released}/share"
    again = client.post(url, json=body, headers=bearer(tokens, "commander"))
    assert again.status_code == 409, again.get_json()
    said = again.get_json()["error"]["message"]
    assert link_id in said and "revoke" in said and "token" not in again.get_data(as_text=True)
    other = client.post(url, json=body, headers=bearer(tokens, "admin"))
    assert other.status_code == 409, other.get_json()
    told = other.get_json()["error"]["message"]
    assert "taken" in told and "commander" not in told, told
    for bad in ("../x", "x" * 40, "0B6F3C7E-5A0D-4C3F-9A51-2F1C9E8D7B60 "):
        r = client.post(url, json={**body, "link_id": bad}, headers=bearer(tokens, "commander"))
        assert r.status_code == 400 and "link_id" in r.get_data(as_text=True), (bad, r.get_json())
    fresh = share(client, tokens, released)  # without an id: one is made, as before
    with services.db.session() as s:
        links = sorted(s.execute(select(ShareLink.id)).scalars())
        made = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "release.share"))
            .scalars()
            .all()
        )
    assert links == sorted([link_id, fresh["id"]])
    assert len(made) == 2
