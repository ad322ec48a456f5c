"""What one content request asks of the database (ACC-1, ACC-6, ACC-7): a media player
sends one for every 256 KiB range it fetches, so each statement is paid per range
(bench/bench_content.py and bench/README.md, "Content serving per request"). The lists
below are the whole request: a statement added to it fails here, and one taken out
must say which guarantee no longer needs it."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.statements import captured
from tests.vms.test_access_rules import ingest
from vms.services import Services

# The credential and its user in one read, then the badges its user supervises (ACC-8).
AUTHENTICATED = ["SELECT api_tokens", "SELECT users"]
# The item's row alone, and the copies it was made from (ACC-2, the officer's own item).
DECIDED = ["SELECT media_items", "SELECT media_links"]


def kinds(statements: list[tuple[str, object]]) -> list[str]:
    """Each statement as its verb and first table; transaction control left out (SQLite
    sends BEGIN as a statement, PostgreSQL's driver does not)."""
    out = []
    for text, _ in statements:
        if text.startswith("BEGIN"):
            continue
        table = re.search(r"(?:FROM|INTO|UPDATE)\s+(\w+)", text)
        out.append(f"{text.split()[0]} {table.group(1) if table else '?'}")
    return out


def test_a_content_request_costs_the_statements_its_guarantees_need(
    client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    """Officer B1 plays their own recording with a bearer token: the first range is a
    new viewing, checked, decided again on the row held FOR SHARE and recorded (a
    custody event and one audit entry, ACC-6); a later range is checked, finds that
    viewing and is decided again (ACC-7), recording nothing. Before, each also read the
    token's user apart from the token, and the item's categories and expiry that no
    decision reads: 13 and 10 statements (16 and 13 with SQLite's BEGINs)."""
    media_id = ingest(services, "B1", 5)
    url = f"/api/v1/media/{media_id}/content"
    headers = {"Authorization": f"Bearer {tokens['officer']}"}
    served = {}
    for shape, first_byte in (("first view", 0), ("continuation", 1 << 10)):
        with captured(services.db.engine) as sql:
            r = client.get(url, headers={**headers, "Range": f"bytes={first_byte}-"})
            assert r.status_code == 206, r.status_code
            r.close()
        served[shape] = kinds(sql.statements)
    assert served["first view"] == [
        *AUTHENTICATED,
        *DECIDED,
        *DECIDED,  # again, the row held FOR SHARE until the viewing is recorded (ACC-7)
        "INSERT custody_events",
        "SELECT audit_head",
        "INSERT audit_entries",
        "UPDATE audit_head",
    ], served
    assert served["continuation"] == [
        *AUTHENTICATED,
        *DECIDED,
        "SELECT audit_entries",  # the viewing this range continues (ACC-6)
        *DECIDED,  # again, in the read that found it (ACC-7)
    ], served
