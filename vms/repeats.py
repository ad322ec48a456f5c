"""The same request asked again (ACC-6): a double-click or a client's retry after a
timeout, answered with the earlier request instead of a second one.

Exports (:mod:`vms.exports.service`), redactions (:mod:`privacy_masks.redaction`),
release requests (:mod:`retention.releases`) and bookmarks (:mod:`vms.bookmarks`: the
case and media pages' forms are plain HTML forms) each ask :func:`find_repeat` before
they write anything: one package, job, request or bookmark, audited once.

A change that may be asked only once (open a case, acknowledge an alarm, release a legal
hold or a preservation request, add an item to a case, revoke a review grant, a release
request's review, decision and release, restrict an item or flag it as a critical
incident) cannot tell a double submit from a second,
refused attempt by who and when: its page's form carries a one-time key
(:mod:`web.form_keys`), its API request the client's ``request_id``, recorded in the
change's audit entry (``details["form_key"]``, written in its transaction, INV-4), and
:func:`made_under_key` finds it there, so the form or request sent again is answered
with the first answer (ACC-6) while another attempt still gets its 409.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from vms.auth.decided_again import hold_user
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry

#: A request the same user made less than this long ago may be the one asked again.
REPEAT_WINDOW = dt.timedelta(seconds=30)


class Requested(Protocol):
    """A mapped request row: who asked for it and when (the columns, read on the class)."""

    created_by: ClassVar[InstrumentedAttribute[str]]
    created_at: ClassVar[InstrumentedAttribute[dt.datetime]]


R = TypeVar("R", bound=Requested)


def find_repeat(
    s: Session,
    actor: Actor,
    model: type[R],
    *where: ColumnElement[bool],
    now: dt.datetime,
    same: Callable[[R], bool],
) -> R | None:
    """The oldest ``model`` row ``actor`` made less than ``REPEAT_WINDOW`` before ``now``
    that also meets ``where`` (its still-waiting state, ...) and for which ``same`` holds
    (the request it stored equals the one asked now); None when there is none.

    Asked under a lock of the user's row (PostgreSQL; SQLite's write transaction
    serialises anyway), so two requests at once find each other: the second waits for
    the first's transaction and is answered with its row. The row held, the user is
    decided again (:func:`vms.auth.decided_again.hold_user`: disabled or given another
    role since the request's check, :class:`~vms.auth.decided_again.UserChanged`;
    ACC-1), so not even an earlier request is answered to a user no longer allowed."""
    return find_repeat_of(
        s, actor, model, model.created_by, model.created_at, *where, now=now, same=same
    )


T = TypeVar("T")


def find_repeat_of(
    s: Session,
    actor: Actor,
    model: type[T],
    by: InstrumentedAttribute[str],
    at: InstrumentedAttribute[dt.datetime],
    *where: ColumnElement[bool],
    now: dt.datetime,
    same: Callable[[T], bool],
) -> T | None:
    """:func:`find_repeat` for a row naming its maker and time in other columns (``by``,
    ``at``: a bookmark's author and creation time)."""
    hold_user(s, actor)
    rows = s.execute(
        select(model).where(by == actor.username, *where, at >= now - REPEAT_WINDOW).order_by(at)
    ).scalars()
    for row in rows:
        if same(row):
            return row
    return None


def with_form_key(details: dict[str, Any], form_key: str | None) -> dict[str, Any]:
    """An audit entry's ``details`` with the page form's one-time key, when it sent one."""
    return details if form_key is None else {**details, "form_key": form_key}


def made_under_key(
    s: Session,
    actor: Actor,
    action: str,
    target: str,
    form_key: str | None,
    *,
    asked: Mapping[str, Any] | None = None,
) -> bool:
    """Whether ``actor``'s successful ``action`` on ``target`` was audited under the page
    form's one-time key or the API request's ``request_id`` ``form_key``
    (:func:`with_form_key`): the same form or request sent again (a double-click, a
    browser's or client's retry), to be answered with the first answer; False without a
    key (a client that sent none: its second attempt is refused as before).

    ``asked``: what the request names besides its target (an item added to a case),
    each equal in that entry's details: the same key sent with another request is not
    that request sent again, and gets no answer of the first (ACC-6)."""
    if form_key is None:
        return False
    details = s.execute(
        select(AuditEntry.details).where(
            AuditEntry.target == target[:200],  # as the audit log stores it
            AuditEntry.action == action,
            AuditEntry.actor == actor.username,
            AuditEntry.outcome == "ok",
        )
    ).scalars()
    wanted = {"form_key": form_key, **(asked or {})}
    return any(all(d.get(k) == v for k, v in wanted.items()) for d in details)
