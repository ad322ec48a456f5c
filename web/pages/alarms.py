"""The alarms page (``/alarms``, issue 12.3): the alarm list with *Acknowledge*.

Server-rendered from :class:`vms.alarms.AlarmService` (``alarms.read``; refusals get the
403 page and are audited); each *Acknowledge* is a form posting the session's CSRF token
to ``/alarms/<id>/ack`` (``alarms.ack``, audited), so it works from the keyboard and
without a script. ``static/alarms.js`` keeps the list current from the ``alarm.*``
Socket.IO events (a reload of the list, so what is shown is always the server's).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import redirect, render_template, request, url_for

from vms.alarms import AlarmQuery
from vms.auth.permissions import Action
from vms.bounded import parse_int, shown
from vms.errors import InvalidArgument, VMSError
from web import form_keys
from web.pages.blueprint import page_blueprint
from web.security import require_actor, services

bp = page_blueprint("alarm_pages", __name__)

# The page's filter: open alarms (the default), those nobody acknowledged yet, or all.
SHOW = {
    "open": AlarmQuery(open=True, limit=200),
    "unacknowledged": AlarmQuery(acknowledged=False, limit=200),
    "all": AlarmQuery(limit=200),
}


@bp.get("/alarms")
def alarms() -> Any:
    actor = require_actor()
    show = request.args.get("show", "open")
    if show not in SHOW:
        raise InvalidArgument(f"show {shown(show)} is not one of {', '.join(SHOW)}")
    query = SHOW[show]
    raw = request.args.get("before")
    if raw is not None:  # the next, older page (a full page links to it)
        query = dataclasses.replace(query, before=parse_int(raw, "before", minimum=1))
    listed = services().alarms.list_alarms(actor, query)
    can_ack = services().authoriser.allows(actor, Action.ALARMS_ACK)
    return render_template(
        "alarms.html",
        alarms=listed,
        older=listed[-1].id if len(listed) == query.limit else None,
        show=show,
        choices=list(SHOW),
        can_ack=can_ack,
        # A new key for each form each time the list is drawn (ACC-6).
        ack_keys={a.id: form_keys.issue("alarm.ack", str(a.id)) for a in listed} if can_ack else {},
        notice=request.args.get("notice"),
    )


@bp.post("/alarms/<int(max=2147483647):alarm_id>/ack")
def acknowledge(alarm_id: int) -> Any:
    actor = require_actor()  # a session post: the CSRF token is checked here
    show = request.form.get("show", "open")
    try:
        # The form's one-time key: sent twice, it is answered as the first was (ACC-6).
        key = form_keys.redeem_sent(request.form, "alarm.ack", str(alarm_id))
        services().alarms.acknowledge(actor, alarm_id, form_key=key)
        notice = f"Alarm {alarm_id} acknowledged."
    except VMSError as exc:
        if exc.http_status == 403:
            raise
        notice = exc.message  # already acknowledged (409), gone (404): said on the list
    return redirect(
        url_for("alarm_pages.alarms", show=show if show in SHOW else "open", notice=notice)
    )
