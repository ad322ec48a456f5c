"""What the retention services are asked to do: frozen command values, built by the web
layer from its request models (``web/schemas/retention.py``), by the pages from their
forms, or by tests. Their syntax (types, lengths, required fields) is checked before
they are built; what needs the database or the clock is checked by the services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

ReceivedVia = Literal["written", "electronic", "oral"]
CaseState = Literal["open", "closed"]


@dataclass(frozen=True)
class Requester:
    """Who asked for the preservation (RET-3)."""

    name: str
    organization: str | None = None
    contact: str | None = None


@dataclass(frozen=True)
class ScopePart:
    """One part of a request's scope as asked: exactly one of a device or an officer over
    [start, end) (the service checks both, and that the windows are sound)."""

    start: dt.datetime
    end: dt.datetime
    device_id: str | None = None
    officer_badge: str | None = None


@dataclass(frozen=True)
class NewPreservationRequest:
    """Log a written, electronic or oral preservation request (RET-2, RET-3, RET-9).
    ``received_by`` (default: the signed-in user) may name another user only for a
    records commander."""

    request_number: str
    requester: Requester
    received_at: dt.datetime
    received_via: ReceivedVia
    reason: str
    litigation_anticipated: bool = False
    case_number: str | None = None
    received_by: str | None = None
    scope: tuple[ScopePart, ...] = ()
    media_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleasePreservation:
    """End a preservation request with the written notice and its reason (RET-2).
    ``form_key``: the API's ``request_id`` (or a page form's one-time key), so that
    request sent again is answered with the request it released (ACC-6)."""

    notice: str
    reason: str
    form_key: str | None = None


@dataclass(frozen=True)
class NewLegalHold:
    """Hold ``media_ids`` until a release notice is recorded (RET-10)."""

    reference: str
    reason: str
    media_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleaseLegalHold:
    """Release a legal hold; ``notice`` (the release-notice reference) is required by the
    service (RET-10), which names it when it is missing. ``form_key``: the id of the page
    form's one-time key (:mod:`web.form_keys`), so that form sent again is answered with
    the hold it released (ACC-6); None from the API."""

    notice: str | None = None
    form_key: str | None = None


@dataclass(frozen=True)
class SetCaseState:
    """Open or close a case (RET-5). ``form_key``: the id of the page form's one-time key
    (:mod:`web.form_keys`) or the API's ``request_id``, so that request sent again is
    answered with the first answer (ACC-6); None: a second one is refused (409)."""

    state: CaseState
    form_key: str | None = None
