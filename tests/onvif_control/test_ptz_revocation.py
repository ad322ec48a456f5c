"""A disabled user's PTZ control ends at the next ``ptz-expire`` run (ACC-1, INV-6, A2,
P5): disabling cuts the user's streams and sockets within seconds, and must not leave
them holding a camera (a maintenance reservation never expires by itself)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from vms.audit.log import SYSTEM_ROLE, Who
from vms.db.models import AuditEntry

pytestmark = pytest.mark.timeout(180)

DISABLER = Who("security-test", SYSTEM_ROLE)


def session_url(camera: Any) -> str:
    return f"/api/v1/cameras/{camera.id}/ptz/session"


@pytest.mark.parametrize(
    ("holder", "body"),
    [
        ("dispatcher", {"purpose": "emergency"}),
        ("admin", {"purpose": "maintenance", "reserve": True}),
    ],
    ids=["session", "maintenance-reservation"],
)
def test_a_disabled_users_ptz_control_ends_at_the_next_expiry_run_ACC_1(
    api: Any,
    bearer: dict[str, dict[str, str]],
    camera: Any,
    svc: Any,
    control: Any,
    holder: str,
    body: dict[str, Any],
) -> None:
    """Before: the disabled dispatcher's session held the camera until it had been idle
    for 30 s, and a disabled admin's maintenance reservation held it for good, so no
    other operator could take it (409 naming the disabled holder)."""
    r = api.post(session_url(camera), json=body, headers=bearer[holder])
    assert r.status_code == 201, r.json
    svc.users.set_active(holder, False, DISABLER)

    assert control.ptz.expire_idle() == 1  # the job runs every few seconds
    controller = api.get(session_url(camera), headers=bearer["sergeant"]).json["controller"]
    assert controller is None
    claim = api.post(session_url(camera), json={"purpose": "emergency"}, headers=bearer["sergeant"])
    assert claim.status_code == 201, claim.json

    with svc.db.session() as s:
        ended = (
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "ptz.session.close")
                .order_by(AuditEntry.seq)
            )
            .scalars()
            .all()
        )
    assert [(e.actor, e.details["reason"], e.details["user"]) for e in ended] == [
        ("ptz-arbiter", "user_disabled", holder)
    ]
    assert svc.audit.verify(svc.db) is None
