"""Legal holds (RET-10) and open cases (RET-5): only the data steward (records commanders
and admins by default, ``Action.RETENTION_MANAGE``) applies or releases them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retention.commands import CaseState, NewLegalHold, ReleaseLegalHold, SetCaseState
from retention.expiry import OPEN, ExpiryService, lock_rows
from retention.holds import Holder, PinOutcome, destroyed_in, serialise_scopes
from retention.records import (
    AlreadyPurged,
    CaseRecord,
    DestructionEntry,
    HoldRecord,
    PurgeInProgress,
)
from retention.rules import LEGAL
from vms import ids
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.decided_again import (
    UserChanged,
    actor_as_now,
    hold_user,
    refused_as_now_if_changed,
)
from vms.auth.permissions import Action, Actor
from vms.bounded import shown
from vms.clock import Clock, isoformat
from vms.db.engine import Database
from vms.db.models import (
    AuditEntry,
    Case,
    CaseItem,
    DestructionRecord,
    LegalHold,
    MediaHold,
    MediaItem,
)
from vms.errors import Conflict, InvalidArgument, NotFound
from vms.repeats import find_repeat, made_under_key, with_form_key

ACTIVE = "active"
RELEASED = "released"
CLOSED = "closed"

# A case's state and the audit action that sets it.
_CHANGE: dict[str, str] = {OPEN: "case.open", CLOSED: "case.close"}

# The holds page's later pages: far beyond any agency's holds; keeps the number sane.
MAX_LOG_OFFSET = 1_000_000


class LegalHoldService:
    def __init__(
        self, db: Database, audit: AuditLog, clock: Clock, authoriser: Authoriser, holder: Holder
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.holder = holder

    def create(self, actor: Actor, command: NewLegalHold) -> HoldRecord:
        """Hold ``media_ids`` until a release notice is recorded (RET-10)."""
        self.authoriser.require(actor, Action.RETENTION_MANAGE, "legal-holds")
        reference, reason = command.reference, command.reason
        if not reference:
            raise InvalidArgument("reference is required")
        if not reason:
            raise InvalidArgument("reason is required")
        media_ids = list(dict.fromkeys(command.media_ids))
        if not media_ids:
            raise InvalidArgument("media_ids must name at least one media item")
        now = self.clock.now()
        try:
            return self._create(actor, reference, reason, media_ids, now)
        except UserChanged as exc:
            # Disabled or given another role since the check above (ACC-1): refused as
            # the check refuses the user now (403, audited), else a 409.
            actor = actor_as_now(
                self.db, self.authoriser, actor, Action.RETENTION_MANAGE, "legal-holds"
            )
            self.authoriser.require(actor, Action.RETENTION_MANAGE, "legal-holds")
            raise Conflict(str(exc)) from None

    def _create(
        self, actor: Actor, reference: str, reason: str, media_ids: list[str], now: dt.datetime
    ) -> HoldRecord:
        hold_id = ids.new_id()
        with self.db.transaction() as s:
            # The items' rows first (id order, as pin takes them), then the user's row
            # (the repeat check's): item 6 of docs/design/authorisation.md, the order a
            # tag change of the same user takes them in; the other deadlocked with it.
            self.holder.lock(s, media_ids)
            known = set(
                s.execute(select(MediaItem.id).where(MediaItem.id.in_(media_ids))).scalars()
            )
            # The same hold asked again (the holds page's form sent twice, a retry):
            # answered with the first, placed and audited once (RET-10, ACC-6).
            repeat = self._repeat(s, actor, reference, reason, known, now)
            if repeat is not None:
                return repeat
            purged = destroyed_in(s, [], media_ids)
            unknown = [
                m for m in media_ids if m not in known and m not in {r.media_id for r in purged}
            ]
            if unknown:
                raise InvalidArgument(f"unknown media ids: {', '.join(unknown)}")
            s.add(
                LegalHold(
                    id=hold_id,
                    reference=reference,
                    reason=reason,
                    state=ACTIVE,
                    created_at=now,
                    created_by=actor.username,
                )
            )
            s.flush()
            outcome = self.holder.pin(
                s,
                media_ids,
                kind=LEGAL,
                hold_id=hold_id,
                label=reference,
                now=now,
                mark_evidence=False,
            )
            # Read again after the row locks: an item a purge destroyed since the check
            # above is reported too, never silently left out (INV-3, as RET-2 requests).
            purged = destroyed_in(s, [], media_ids)
            self.audit.append(
                s,
                who(actor),
                "legal_hold.create",
                f"legal_hold:{reference}",
                details={
                    "id": hold_id,
                    "reason": reason,
                    "pinned": outcome.pinned,
                    "already_purged": [r.media_id for r in purged] + outcome.purging,
                },
            )
            return self._record(s, s.get_one(LegalHold, hold_id), outcome, purged)

    def _repeat(
        self,
        s: Session,
        actor: Actor,
        reference: str,
        reason: str,
        known: set[str],
        now: dt.datetime,
    ) -> HoldRecord | None:
        """The active hold ``actor`` placed less than ``REPEAT_WINDOW`` ago under
        ``reference`` for ``reason`` on exactly the ``known`` items; None when there is
        none. A hold on other or more items is a new hold: none is left unheld (INV-3)."""

        def held(row: LegalHold) -> set[str]:
            return set(
                s.execute(
                    select(MediaHold.media_id).where(
                        MediaHold.kind == LEGAL, MediaHold.hold_id == row.id
                    )
                ).scalars()
            )

        row = find_repeat(
            s,
            actor,
            LegalHold,
            LegalHold.reference == reference,
            LegalHold.state == ACTIVE,
            now=now,
            same=lambda row: row.reason == reason and held(row) == known,
        )
        if row is None:
            return None
        return self._record(s, row, PinOutcome(pinned=sorted(known)))

    def release(self, actor: Actor, hold_id: str, command: ReleaseLegalHold) -> HoldRecord:
        """Release the hold; refused without the release-notice reference (RET-10), and
        with a 409 when it is released already, but to the same page form sent again
        (``command.form_key``, the same notice): answered with the hold it released."""
        target = f"legal_hold:{hold_id}"
        self.authoriser.require(actor, Action.RETENTION_MANAGE, target)
        notice = (command.notice or "").strip() or None
        if notice is None:
            raise InvalidArgument(
                "releasing a legal hold needs the release notice reference ('notice', RET-10)"
            )
        with refused_as_now_if_changed(
            self.db, self.authoriser, actor, Action.RETENTION_MANAGE, target
        ):
            return self._release(actor, hold_id, notice, command.form_key)

    def _release(self, actor: Actor, hold_id: str, notice: str, form_key: str | None) -> HoldRecord:
        now = self.clock.now()
        with self.db.transaction() as s:
            # Locked: of two releases at once, the second reads "released" and is refused;
            # else both read "active" and the second overwrote the first's notice (RET-10).
            hold = s.get(LegalHold, hold_id, with_for_update=True)
            if hold is None:
                raise NotFound(f"legal hold {hold_id!r} does not exist")
            if hold.state != ACTIVE:
                target = f"legal_hold:{hold.reference}"
                if hold.release_notice == notice and made_under_key(
                    s, actor, "legal_hold.release", target, form_key
                ):
                    # The form that released it, sent again: released and audited once.
                    return self._record(s, hold)
                raise Conflict(f"legal hold {hold.reference!r} is already released")
            hold.state = RELEASED
            hold.released_at = now
            hold.released_by = actor.username
            hold.release_notice = notice
            items = self.holder.release(s, kind=LEGAL, hold_id=hold_id, now=now)
            # Releasing lifts a hold (RET-10): the user decided again, held until commit;
            # after the items' rows (locked by the release, id order), as a tag change of
            # the same user takes them: the other order deadlocked with it (PostgreSQL).
            hold_user(s, actor)
            self.audit.append(
                s,
                who(actor),
                "legal_hold.release",
                f"legal_hold:{hold.reference}",
                details=with_form_key({"id": hold_id, "notice": notice, "items": items}, form_key),
            )
            return self._record(s, hold)

    def get(self, actor: Actor, hold_id: str) -> HoldRecord:
        self.authoriser.require(actor, Action.RETENTION_READ, f"legal_hold:{hold_id}")
        with self.db.session() as s:
            hold = s.get(LegalHold, hold_id)
            if hold is None:
                raise NotFound(f"legal hold {hold_id!r} does not exist")
            record = self._record(s, hold)
        # ACC-6: a metadata view is audited with what it showed.
        self.audit.record(
            self.db,
            who(actor),
            "legal_hold.view",
            f"legal_hold:{record.id}",
            details={"media_ids": list(record.media_ids)},
        )
        return record

    def log(
        self,
        actor: Actor,
        *,
        limit: int | None = None,
        offset: int = 0,
        active_only: bool = False,
    ) -> tuple[HoldRecord, ...]:
        """The legal holds, newest first: every one, or ``limit`` of them after skipping
        ``offset`` (the holds page's pages); ``active_only``: the holds not released (the
        records dashboard's)."""
        self.authoriser.require(actor, Action.RETENTION_READ, "legal-holds")
        if limit is not None and not 1 <= limit <= 1000:
            raise InvalidArgument(f"limit must be 1..1000, not {limit}")
        if not 0 <= offset <= MAX_LOG_OFFSET:
            raise InvalidArgument(f"offset must be 0..{MAX_LOG_OFFSET}, not {offset}")
        stmt = select(LegalHold).order_by(LegalHold.created_at.desc(), LegalHold.id.desc())
        if active_only:
            stmt = stmt.where(LegalHold.state == ACTIVE)
        with self.db.session() as s:
            rows = s.execute(stmt.offset(offset).limit(limit)).scalars()
            records = tuple(self._record(s, h) for h in rows)
        self.audit.record(
            self.db,
            who(actor),
            "legal_hold.read",
            "legal-holds",
            details={"hold_ids": [h.id for h in records]},
        )
        return records

    def _record(
        self,
        s: Session,
        hold: LegalHold,
        outcome: PinOutcome | None = None,
        destroyed: Sequence[DestructionRecord] = (),
    ) -> HoldRecord:
        """The hold; with the ``outcome`` of placing it, what it pinned and what it could
        not: the ``destroyed`` items' records and the items a purge is finishing."""
        media = tuple(
            s.execute(
                select(MediaHold.media_id)
                .where(MediaHold.kind == LEGAL, MediaHold.hold_id == hold.id)
                .order_by(MediaHold.media_id)
            ).scalars()
        )
        pinned: tuple[str, ...] = ()
        purged: list[AlreadyPurged] = []
        if outcome is not None:
            pinned = tuple(outcome.pinned)
            purged = [DestructionEntry.of(r) for r in destroyed]
            purged += [PurgeInProgress(m) for m in outcome.purging]
        return HoldRecord(
            id=hold.id,
            reference=hold.reference,
            reason=hold.reason,
            state=hold.state,  # type: ignore[arg-type]  # ACTIVE or RELEASED
            media_ids=media,
            created_at=hold.created_at,
            created_by=hold.created_by,
            released_at=hold.released_at,
            released_by=hold.released_by,
            release_notice=hold.release_notice,
            pinned=pinned,
            already_purged=tuple(purged),
        )


class CaseService:
    """Open and closed cases: media with an open case's number are kept (RET-5)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        expiry: ExpiryService,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.expiry = expiry

    def set_state(self, actor: Actor, case_number: str, command: SetCaseState) -> CaseRecord:
        """Reopen (``open``) or close (``closed``) a case and recompute its items' expiry;
        404 for a case that does not exist (it is opened by ``CaseFileService.create``,
        ``POST /api/v1/cases``). A case already in that state is left as it is (its close
        time is a fact of the record, RET-5): 409 naming since when and by whom, but to
        the same form or request sent again (``command.form_key``): answered with the
        first answer."""
        target = f"case:{case_number}"
        self.authoriser.require(actor, Action.RETENTION_MANAGE, target)
        number = case_number.strip()
        if not number or len(number) > 64 or not number.isprintable():
            raise InvalidArgument(
                f"case_number must be 1..64 printable characters, not {case_number!r}"
            )
        state = command.state
        if state not in (OPEN, CLOSED):
            raise InvalidArgument(f"case state must be {OPEN} or {CLOSED}, not {state!r}")
        with refused_as_now_if_changed(
            self.db, self.authoriser, actor, Action.RETENTION_MANAGE, target
        ):
            return self._set_state(actor, number, state, command.form_key)

    def _set_state(
        self, actor: Actor, number: str, state: CaseState, form_key: str | None
    ) -> CaseRecord:
        now = self.clock.now()
        with self.db.transaction() as s:
            serialise_scopes(s)  # an ingest naming this case sees the new state
            stmt = select(Case).where(Case.case_number == number)
            if lock_rows(s):
                stmt = stmt.with_for_update()
            case = s.execute(stmt).scalar_one_or_none()
            if case is None:
                # A case is opened by its folder (CaseFileService.create, audited
                # case.create); a state change made one, even closed, that nobody opened.
                raise NotFound(f"case {shown(number)} does not exist", field="case_number")
            answered = self._again(s, actor, case, state, form_key)
            if answered is not None:
                return answered
            case.state = state
            case.updated_by = actor.username
            case.closed_at = now if state == CLOSED else None
            s.flush()
            changed = self.recompute_case(s, number)
            if state == CLOSED:
                # Closing ends RET-5's hold: the user decided again, held until commit;
                # after the case's items' rows (locked by the recompute, id order), as a
                # tag change of the same user takes them: the other order deadlocked.
                hold_user(s, actor)
            self.audit.append(
                s,
                who(actor),
                _CHANGE[state],
                f"case:{number}",
                details=with_form_key({"items_recomputed": changed}, form_key),
            )
            return _case_record(case)

    def _again(
        self, s: Session, actor: Actor, case: Case, state: CaseState, form_key: str | None
    ) -> CaseRecord | None:
        """None when ``case`` is to be set to ``state``. Else the answer to the same form
        or request sent again (``form_key``) while its change stands: the case, changed
        and audited once (ACC-6); or a 409 for a case already in ``state`` (RET-5: its
        close time stays) and for a form that made its change once already."""
        target = f"case:{case.case_number}"
        repeat = made_under_key(s, actor, _CHANGE[state], target, form_key)
        if case.state != state and not repeat:
            return None
        if case.state == state and repeat:
            return _case_record(case)
        when, by = self._since(s, case)
        since = f"(since {isoformat(when)}, by {by})"
        if case.state == state:
            raise Conflict(f"case {shown(case.case_number)} is already {case.state} {since}")
        done = "closed" if state == CLOSED else "reopened"
        raise Conflict(
            f"this form or request {done} {shown(case.case_number)} already; it is "
            f"{case.state} now {since}: reload the page or send a new request_id"
        )

    def _since(self, s: Session, case: Case) -> tuple[dt.datetime, str]:
        """When ``case`` was given its state and by whom: its close time, or the time of
        its last opening (its audit entry; its first opening without one)."""
        if case.state == CLOSED and case.closed_at is not None:
            return case.closed_at, case.updated_by
        opened = s.execute(
            select(func.max(AuditEntry.at)).where(
                AuditEntry.target == f"case:{case.case_number}",
                AuditEntry.action.in_(("case.create", "case.open")),
                AuditEntry.outcome == "ok",
            )
        ).scalar_one()
        return opened or case.opened_at, case.updated_by

    def recompute_case(self, s: Session, number: str) -> int:
        media = list(
            s.execute(select(MediaItem.id).where(MediaItem.case_number == number)).scalars()
        )
        # And the items added to the case by hand (issue 15.3, retention/casefile.py).
        media += s.execute(
            select(CaseItem.media_id).where(CaseItem.case_number == number)
        ).scalars()
        return self.expiry.apply_ids(s, media)


def _case_record(case: Case) -> CaseRecord:
    return CaseRecord(
        case_number=case.case_number,
        state=case.state,  # type: ignore[arg-type]  # OPEN or CLOSED
        opened_at=case.opened_at,
        closed_at=case.closed_at,
    )
