"""PTZ session expiry with several jobs processes on one database (ARCHITECTURE.md 1:
nothing may assume one process; docs/design/ports-and-roles.md: ``ptz-expire`` is a
per-process job, run by every jobs-role process). INV-6: an idle session ends once,
with one ``ptz.session.expire`` entry and one arbiter's Stop, whichever process's job
sees it first; the others find it ended.

The job of one process ends the session and, before it commits, the job of another
process looks at the same sessions (the interleaving is forced with the ``on_end``
hook, called inside the ending transaction).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from onvif_control.plugin import CameraControl, get
from onvif_control.ptz_sessions import OpenSession
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.db.models import AuditEntry, PtzSession
from vms.services import Services

pytestmark = pytest.mark.timeout(120)


# Several processes share a PostgreSQL database (one SQLite file has one writer).
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_two_jobs_processes_expire_an_idle_session_once_INV_6(
    svc: Services,
    control: CameraControl,
    camera: Any,
    people: dict[str, Actor],
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = control.ptz.open_session(
        people["dispatcher"], camera.id, OpenSession(purpose="emergency")
    )
    other_dir = tmp_path / "jobs-2"
    other_dir.mkdir()
    shutil.copytree(svc.config.data_dir / "secrets", other_dir / "secrets")
    other = Services.open(dataclasses.replace(svc.config, data_dir=other_dir), clock=clock)
    try:
        found: list[int] = []
        second = threading.Thread(target=lambda: found.append(get(other).ptz.expire_idle()))
        ended = control.ptz.sessions.on_end

        def meanwhile(session_id: str) -> None:
            ended(session_id)
            second.start()  # the other process's job runs now
            second.join(2.0)  # it may wait for this transaction: give it the time

        monkeypatch.setattr(control.ptz.sessions, "on_end", meanwhile)
        clock.advance(dt.timedelta(seconds=control.ptz.idle_seconds + 1))
        assert control.ptz.expire_idle() == 1
        second.join(30)
        assert not second.is_alive()
    finally:
        get(other).close()
        other.close()
    assert found == [0], "the other process ended the session again"
    with svc.db.session() as s:
        expiries = s.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "ptz.session.expire")
        ).scalar_one()
        row = s.get(PtzSession, session.session_id)
    assert expiries == 1
    assert row is not None and row.end_reason == "expired"
    assert svc.audit.verify(svc.db) is None
