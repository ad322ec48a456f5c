"""Alarms API (``/api/v1/alarms``, issue 12.3): the alarm list and its acknowledgement.

Who watches the cameras reads and acknowledges (``alarms.read``, ``alarms.ack``:
dispatchers, supervisors, admins); auditors read. Each acknowledgement is audited
(ACC-6); refusals too (ACC-1)."""

from __future__ import annotations

from typing import Any

from vms.alarms import Alarm
from web.contract import ApiBlueprint, RequestIdIn
from web.schemas.alarms import AlarmListOut, AlarmListQuery, AlarmOut
from web.security import require_actor, services

bp = ApiBlueprint("alarms_api", __name__, tag="alarms")


@bp.operation("GET", "/alarms", query=AlarmListQuery, response=AlarmListOut)
def list_alarms(query: AlarmListQuery) -> dict[str, Any]:
    """Alarms, newest first: camera offline (ONVIF), video lost, recording gap, disk
    alarm, picture blanked by the mask stage; open and cleared, acknowledged or not.
    A full page gives ``next_before``: the next, older page is ``before=`` it."""
    listed = services().alarms.list_alarms(require_actor(), query.command())
    full = len(listed) == query.limit
    return {"alarms": listed, "next_before": listed[-1].id if full else None}


@bp.operation(
    "POST",
    "/alarms/<int(max=2147483647):alarm_id>/ack",
    body=RequestIdIn,
    body_required=False,
    response=AlarmOut,
)
def acknowledge(alarm_id: int, body: RequestIdIn) -> Alarm:
    """Acknowledge an alarm (audited); an alarm is acknowledged once: 409 naming who
    did it, but to a retry with the first request's ``request_id``: answered with the
    alarm (ACC-6); 404 for an unknown id. Acknowledging does not clear it: the
    condition may still hold."""
    return services().alarms.acknowledge(require_actor(), alarm_id, form_key=body.request_id)
