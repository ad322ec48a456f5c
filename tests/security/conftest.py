"""Fixtures of the share-link tests (test_share_links.py, test_share_link_races.py)."""

from __future__ import annotations

import io

import pytest
from flask.testing import FlaskClient

from tests.media import make_pdf
from vms.audit.log import Who
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services


def bearer(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


@pytest.fixture
def document_item(services: Services) -> tuple[str, bytes]:
    data = make_pdf().replace(b"%PDF-1.4\n", b"%PDF-1.4\n%share-test\n", 1)
    result = services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(source=SourceKind.HANDHELD, device_id="REC-1", original_filename="r.pdf"),
        Who("setup", "admin"),
    )
    return result.media_id, data


@pytest.fixture
def released(client: FlaskClient, tokens: dict[str, str], document_item: tuple[str, bytes]) -> str:
    """A FOIA request logged by the commander and approved by the approver (API)."""
    r = client.post(
        "/api/v1/releases",
        json={
            "kind": "foia",
            "request_number": "FOIA-2026-17",
            "requester": {"name": "A. Reporter", "organization": "Gazette"},
            "received_at": "2026-11-19T09:00Z",
            "legal_basis": "public records act",
            "items": [document_item[0]],
        },
        headers=bearer(tokens, "commander"),
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["state"] == "received" and body["due_at"] == "2026-12-09T09:00:00Z"
    release_id = str(body["id"])
    early = client.post(f"/api/v1/releases/{release_id}/release", headers=bearer(tokens, "admin"))
    assert early.status_code == 409  # before approval (ACC-5)
    r = client.post(
        f"/api/v1/releases/{release_id}/approve",
        json={"reason": "public interest"},
        headers=bearer(tokens, "approver"),
    )
    assert r.status_code == 200 and r.get_json()["state"] == "approved"
    r = client.post(f"/api/v1/releases/{release_id}/release", headers=bearer(tokens, "commander"))
    assert r.status_code == 200 and r.get_json()["state"] == "released"
    return release_id
