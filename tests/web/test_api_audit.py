"""``GET /api/v1/audit`` (ACC-6, PSCS-5): the query model, and a refusal outranking a
malformed filter."""

from __future__ import annotations

from flask.testing import FlaskClient

from web.schemas.audit import AuditQueryIn


def h(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def test_the_query_becomes_an_audit_query() -> None:
    query = AuditQueryIn.model_validate({"action": " ptz ", "before_seq": "7"}).command()
    assert (query.action, query.actor, query.before_seq, query.limit) == ("ptz", None, 7, 100)


def test_a_refusal_outranks_a_bad_filter_ACC_1(client: FlaskClient, tokens: dict[str, str]) -> None:
    r = client.get("/api/v1/audit?limit=0", headers=h(tokens, "officer"))
    assert r.status_code == 403
    r = client.get("/api/v1/audit?limit=0", headers=h(tokens, "auditor"))
    assert r.status_code == 400
    assert r.get_json()["error"]["message"] == "limit: '0' is outside 1..1000"
    r = client.get("/api/v1/audit?limit=0")
    assert r.status_code == 401


def test_entries_are_the_chain_fields_with_an_iso_time(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    client.get("/api/v1/audit", headers=h(tokens, "auditor"))
    body = client.get("/api/v1/audit?action=audit.read&limit=1", headers=h(tokens, "auditor"))
    (entry,) = body.get_json()["items"]
    assert list(entry) == [
        "seq",
        "at",
        "actor",
        "role",
        "action",
        "target",
        "details",
        "outcome",
        "prev_hash",
        "hash",
    ]
    assert entry["at"].endswith("Z") and entry["action"] == "audit.read"
    assert body.get_json()["next_before_seq"] == entry["seq"]
