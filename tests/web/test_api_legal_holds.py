"""The legal holds API through the Flask client (RET-10): a release retried after a lost
answer, with the client's ``request_id``, is answered as the first was (ACC-6)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select

from retention.commands import NewLegalHold
from retention.plugin import get
from tests.web.test_release_pages import pdf_item
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry
from vms.services import Services


def test_a_release_retried_with_its_request_id_is_answered_as_the_first_RET_10_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], actors: dict[str, Actor]
) -> None:
    """RET-10, ACC-6: a client that retried a release after a lost answer got a 409
    "already released" although its first request had released the hold. With
    ``request_id`` the retry gets the first answer, released and audited once; without
    it, with another id or another notice, a second release is still refused (409)."""
    holds = get(services).legal_holds
    hold = holds.create(
        actors["commander"], NewLegalHold("LH-A", "suit", (pdf_item(services, "a"),))
    )
    path = f"/api/v1/legal-holds/{hold.id}/release"
    headers = {"Authorization": f"Bearer {tokens['commander']}"}
    body = {"notice": "RN-A", "request_id": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"}
    first = client.post(path, json=body, headers=headers)
    again = client.post(path, json=body, headers=headers)
    assert first.status_code == 200, first.get_json()
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    with services.db.session() as s:
        released = select(func.count()).where(AuditEntry.action == "legal_hold.release")
        assert s.execute(released).scalar_one() == 1
    for changed in (
        {"request_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"},
        {"request_id": None},
        {"notice": "RN-B"},
    ):
        refused = client.post(path, json={**body, **changed}, headers=headers)
        assert refused.status_code == 409 and "already released" in refused.get_data(as_text=True)
