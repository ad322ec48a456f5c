"""The PTZ-use page for auditors (PSCS-5): served to auditors only, script from static
(no inline script under the CSP)."""

from __future__ import annotations


def test_report_page_for_auditors_only(api, bearer):
    page = api.get("/audit/ptz", headers=bearer["auditor"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "PTZ use" in html and "ptz_report.js" in html and "<script>" not in html
    refused = api.get("/audit/ptz", headers=bearer["dispatcher"])
    assert refused.status_code == 403 and "Not permitted" in refused.get_data(as_text=True)
    script = api.get("/static/ptz_report.js")
    try:
        assert script.status_code == 200 and b"/api/v1/audit/ptz/report" in script.data
    finally:
        script.close()
