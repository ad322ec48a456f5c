"""A client's ``request_id`` sent again with another body, or by another user (ACC-6).

``request_id`` lets a client retry after a lost answer and get the first answer, made
and audited once. The same id with another request must not be answered with what
another request made, nor with another user's answer: a second request is refused as it
is without the id (409), on both databases.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.web.test_api_cases import audit_entries, h, ingest
from vms.services import Services

FIRST = "0b9c6f3e-2f4d-4d7e-9a51-3c1e0d2b7a10"
SECOND = "5d1a7c22-8e0f-4b3a-b6c9-0e4f2a9d8c31"


@pytest.fixture
def case(client: FlaskClient, tokens: dict[str, str]) -> str:
    opened = client.post(
        "/api/v1/cases", json={"case_number": "R-1"}, headers=h(tokens, "investigator")
    )
    assert opened.status_code == 201, opened.get_json()
    return "R-1"


def test_an_item_s_request_id_sent_with_another_item_is_refused_RET_5_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], case: str
) -> None:
    """ACC-6: "add an item" with the request_id that added item A, naming item B that
    another request (with its own note) added to the case: answered 201 with B, as if
    this request had added it with its note. It is B's 409 ("already in case")."""
    a, b = ingest(services, seed=1), ingest(services, seed=2)
    inv = h(tokens, "investigator")
    path = f"/api/v1/cases/{case}/items"
    added_a = client.post(path, json={"media_id": a, "request_id": FIRST}, headers=inv)
    added_b = client.post(
        path, json={"media_id": b, "note": "B's own", "request_id": SECOND}, headers=inv
    )
    assert (added_a.status_code, added_b.status_code) == (201, 201)
    replayed = client.post(
        path, json={"media_id": b, "note": "mine", "request_id": FIRST}, headers=inv
    )
    assert replayed.status_code == 409, replayed.get_json()
    assert f"media_id {b!r} is already in case 'R-1'" in replayed.get_json()["error"]["message"]
    # The retry of each request is still answered as it was, audited once each.
    again = client.post(path, json={"media_id": a, "request_id": FIRST}, headers=inv)
    assert (again.status_code, again.get_json()) == (201, added_a.get_json())
    assert len(audit_entries(services, "case.item_add")) == 2


def test_another_user_s_request_id_gets_no_answer_of_theirs_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], case: str
) -> None:
    """Repeats are keyed per user: the commander sending the investigator's request_id
    with the investigator's body is refused (409), not answered with what they made."""
    a = ingest(services, seed=1)
    body = {"media_id": a, "request_id": FIRST}
    path = f"/api/v1/cases/{case}/items"
    assert client.post(path, json=body, headers=h(tokens, "investigator")).status_code == 201
    theirs = client.post(path, json=body, headers=h(tokens, "commander"))
    assert theirs.status_code == 409, theirs.get_json()
    closing = {"state": "closed", "request_id": SECOND}
    first = client.put(f"/api/v1/cases/{case}", json=closing, headers=h(tokens, "commander"))
    assert first.status_code == 200, first.get_json()
    admin = client.put(f"/api/v1/cases/{case}", json=closing, headers=h(tokens, "admin"))
    assert admin.status_code == 409, admin.get_json()
    assert len(audit_entries(services, "case.item_add")) == 1
    assert len(audit_entries(services, "case.close")) == 1
