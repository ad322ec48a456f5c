"""Camera health (OPS-1): online/offline with the last-seen time, changes published and
audited."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from vms.db.models import AuditEntry, Camera

pytestmark = pytest.mark.timeout(60)


def _move(svc, control, camera_id, url):
    with svc.db.transaction() as s:
        s.get(Camera, camera_id).onvif_url = url
    control.connections.forget(camera_id)


def test_offline_and_back_online_OPS_1(svc, control, camera, clock, sim):
    events = []
    svc.events.subscribe(lambda topic, payload: events.append((topic, payload)))
    assert control.health.check_all() == []  # online and unchanged
    clock.advance(dt.timedelta(minutes=1))
    _move(svc, control, camera.id, sim.onvif_url.replace(f":{sim.onvif_port}/", ":9/"))
    (change,) = control.health.check_all()
    assert (change.old, change.new) == ("online", "offline")
    assert "unreachable" in (change.detail or "")
    with svc.db.session() as s:
        row = s.get(Camera, camera.id)
        assert row.health == "offline" and row.last_seen_at == clock.now() - dt.timedelta(minutes=1)
    clock.advance(dt.timedelta(minutes=1))
    _move(svc, control, camera.id, sim.onvif_url)
    (back,) = control.health.check_all()
    assert back.new == "online"
    with svc.db.session() as s:
        assert s.get(Camera, camera.id).last_seen_at == clock.now()
        audited = [
            (e.details["old"], e.details["new"], e.outcome)
            for e in s.execute(
                select(AuditEntry).where(AuditEntry.action == "camera.health")
            ).scalars()
        ]
    assert audited == [("online", "offline", "failed"), ("offline", "online", "ok")]
    published = [p["health"] for t, p in events if t == "camera.health"]
    assert published == ["offline", "online"]
