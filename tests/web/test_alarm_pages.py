"""The alarms page (``/alarms``, issue 12.3) through the Flask test client: who sees it
(ACC-1: refusals get the 403 page, audited), the list and its filters, *Acknowledge* as
a form with the CSRF token (audited, ACC-6), and the alarm slots of the live pages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.conftest import sign_in
from tests.web.forms import hidden_fields, sent_twice
from vms.alarms import AlarmChange, AlarmKind
from vms.db.models import AuditEntry
from vms.services import Services


def bearer(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def acknowledgers(services: Services) -> list[tuple[str]]:
    """Who acknowledged an alarm, by the audit log: one entry a time."""
    with services.db.session() as s:
        rows = s.execute(
            select(AuditEntry.actor).where(
                AuditEntry.action == "alarms.ack", AuditEntry.outcome == "ok"
            )
        ).all()
    return [(r[0],) for r in rows]


def test_the_list_and_its_filters(client: Any, services: Services, tokens: dict[str, str]) -> None:
    lost = services.alarms.apply(AlarmChange(AlarmKind.VIDEO_LOST, "c1", True, "no video"))
    gap = services.alarms.apply(AlarmChange(AlarmKind.RECORDING_GAP, "c1", True, "stalled"))
    assert lost is not None and gap is not None
    services.alarms.apply(AlarmChange(AlarmKind.RECORDING_GAP, "c1", False))
    page = client.get("/alarms", headers=bearer(tokens, "dispatcher"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-alarm-id="{lost.id}"' in html and f'data-alarm-id="{gap.id}"' not in html
    assert "video lost" in html and "Acknowledge" in html and 'name="csrf_token"' in html
    assert '<a href="/alarms" aria-current="page">Alarms</a>' in html
    assert "alarms.js" in html and "<script>" not in html  # CSP: no inline script
    every = client.get("/alarms?show=all", headers=bearer(tokens, "dispatcher"))
    assert f'data-alarm-id="{gap.id}"' in every.get_data(as_text=True)
    bad = client.get("/alarms?show=some", headers=bearer(tokens, "dispatcher"))
    assert bad.status_code == 400 and "is not one of open, unacknowledged, all" in bad.get_data(
        as_text=True
    )
    # Auditors read it without the button.
    audit_view = client.get("/alarms", headers=bearer(tokens, "auditor")).get_data(as_text=True)
    assert f'data-alarm-id="{lost.id}"' in audit_view and "Acknowledge</button>" not in audit_view


def test_acknowledge_form_needs_the_csrf_token_and_is_audited_ACC_6(
    client: Any, services: Services
) -> None:
    alarm = services.alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, True, "full"))
    assert alarm is not None
    csrf = sign_in(client, "sergeant")
    refused = client.post(f"/alarms/{alarm.id}/ack", data={"show": "open"})
    assert refused.status_code == 403
    done = client.post(f"/alarms/{alarm.id}/ack", data={"csrf_token": csrf, "show": "open"})
    assert done.status_code == 302 and "/alarms?show=open" in done.headers["Location"]
    html = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"Alarm {alarm.id} acknowledged." in html and "sergeant" in html
    again = client.post(f"/alarms/{alarm.id}/ack", data={"csrf_token": csrf})
    shown = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "already acknowledged by sergeant" in shown
    assert acknowledgers(services) == [("sergeant",)]


def test_the_acknowledge_form_sent_twice_acknowledges_once_ACC_6(
    client: Any, services: Services
) -> None:
    """ACC-6: *Acknowledge* sent twice (a double-click, a browser's retry) acknowledged the
    alarm with the first post and answered the second with "already acknowledged by
    sergeant", as if someone else had. The form's one-time key tells the repeat: it gets
    the first answer; the alarm is acknowledged, published and audited once."""
    alarm = services.alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, True, "full"))
    assert alarm is not None
    sign_in(client, "sergeant")
    form = hidden_fields(client.get("/alarms").data, f"ack-{alarm.id}")
    went = sent_twice(client, f"/alarms/{alarm.id}/ack", form)
    assert f"Alarm {alarm.id} acknowledged." in client.get(went).get_data(as_text=True)
    assert acknowledgers(services) == [("sergeant",)]
    forged = client.post(f"/alarms/{alarm.id}/ack", data={**form, "form_key": "x.y"})
    assert "was not issued with this page" in client.get(forged.headers["Location"]).get_data(
        as_text=True
    )


def test_other_roles_are_refused_and_audited_ACC_1(
    client: Any, services: Services, tokens: dict[str, str]
) -> None:
    page = client.get("/alarms", headers=bearer(tokens, "officer"))
    assert page.status_code == 403 and "Not permitted" in page.get_data(as_text=True)
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry.action).where(
                AuditEntry.actor == "officer", AuditEntry.outcome == "denied"
            )
        ).scalars()
        assert list(denied) == ["alarms.read"]
    upload = client.get("/upload", headers=bearer(tokens, "officer")).get_data(as_text=True)
    assert 'href="/alarms"' not in upload


def test_the_page_leads_to_older_alarms(
    client: Any, services: Services, tokens: dict[str, str]
) -> None:
    """The page listed the newest 200 and nothing older: a flapping camera's older
    unacknowledged alarms had no *Acknowledge* anywhere. A full page links to the older
    ones."""
    import re

    from tests.web.test_api_alarms import raise_many

    ids = raise_many(services, 202)
    first = client.get("/alarms?show=unacknowledged", headers=bearer(tokens, "dispatcher"))
    html = first.get_data(as_text=True)
    assert f'data-alarm-id="{ids[-1]}"' in html and f'data-alarm-id="{ids[0]}"' not in html
    older = re.search(r'<a href="(/alarms\?[^"]*before=\d+[^"]*)"[^>]*>Older alarms', html)
    assert older, "no link to the older alarms"
    second = client.get(older.group(1).replace("&amp;", "&"), headers=bearer(tokens, "dispatcher"))
    html = second.get_data(as_text=True)
    assert f'data-alarm-id="{ids[0]}"' in html and f'data-alarm-id="{ids[1]}"' in html
    assert f'data-alarm-id="{ids[-1]}"' not in html and "Older alarms" not in html
