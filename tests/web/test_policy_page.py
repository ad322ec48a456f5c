"""The policy conformance page (issue 14, item 7): admins and auditors see every rule of
the rule table with its status and the settings in force; other roles are refused and
the refusal is audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from vms.db.models import AuditEntry
from vms.policy.conformance import load_rules
from vms.services import Services


def test_policy_page_for_admins_and_auditors_only(services: Services, client, tokens) -> None:
    rules = load_rules()
    for user in ("auditor", "admin"):
        page = client.get("/policy", headers={"Authorization": f"Bearer {tokens[user]}"})
        assert page.status_code == 200, user
        html = page.get_data(as_text=True)
        rows = re.findall(r'<tr id="rule-([A-Z]+-\d+)" data-status="(\w+)">', html)
        assert rows == [(r.id, r.status) for r in rules]
        assert 'retention.fixed_days = 30</code> <span class="muted">(default)' in html
        assert "Agency preset:" in html and "none: built-in defaults" in html
        assert 'id="policy-problems"' not in html
        assert 'href="/policy"' in html  # in the navigation
    refused = client.get("/policy", headers={"Authorization": f"Bearer {tokens['officer']}"})
    assert refused.status_code == 403 and b"Not permitted" in refused.data
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry).where(AuditEntry.actor == "officer", AuditEntry.outcome == "denied")
        ).scalars()
        assert [e.target for e in denied] == ["policy:report"]
