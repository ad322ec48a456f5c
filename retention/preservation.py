"""Written preservation requests (RET-2, RET-3, RET-8, RET-9): the request log, pinning
by scope now and at every later ingest, release.

A request names devices or officers over time windows and/or media ids. Logging it pins
every catalogued item in scope in the same transaction, and the ingest hook
(:meth:`PreservationService.on_ingest`) pins items ingested later that fall in scope
(a BWC video uploaded days after the request). The response says exactly what had
already been purged, with the destruction records (never silently nothing).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retention.commands import (
    NewPreservationRequest,
    ReleasePreservation,
    Requester,
    ScopePart,
)
from retention.expiry import ExpiryService, lock_rows
from retention.holds import (
    Holder,
    PinOutcome,
    Window,
    destroyed_in,
    items_in,
    serialise_scopes,
)
from retention.records import AlreadyPurged, DestructionEntry, PreservationRecord, PurgeInProgress
from retention.rules import PRESERVATION
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
from vms.clock import Clock, isoformat
from vms.db.engine import Database
from vms.db.models import (
    Device,
    MediaHold,
    MediaItem,
    Officer,
    PreservationRequest,
    PreservationScope,
    Role,
    SourceKind,
    User,
)
from vms.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound
from vms.events import EventBus
from vms.ingest import Ingestor, IngestRequest
from vms.repeats import find_repeat, made_under_key, with_form_key

log = logging.getLogger(__name__)

ACTIVE = "active"
RELEASED = "released"
# Scanned request forms are ingested as documents from this pseudo-device (RET-3).
FORMS_DEVICE = "records-office"

# The log page's later pages: far beyond any agency's requests; keeps the number sane.
MAX_LOG_OFFSET = 1_000_000


def parse_scope(
    parts: Sequence[ScopePart], known_devices: set[str], known_badges: set[str]
) -> list[Window]:
    """Validate the scope: each part names exactly one device or officer and a window
    with start before end; windows of the same device/officer may not overlap; devices
    and officers must be known."""
    windows: list[Window] = []
    for i, part in enumerate(parts):
        where = f"scope[{i}]"
        device, badge = part.device_id or None, part.officer_badge or None
        if (device is None) == (badge is None):
            raise InvalidArgument(f"{where} must name exactly one of device_id or officer_badge")
        start, end = part.start, part.end
        if start >= end:
            raise InvalidArgument(
                f"{where}: start {isoformat(start)} is not before end {isoformat(end)}"
            )
        if device is not None and device not in known_devices:
            raise InvalidArgument(f"{where}: unknown camera or device {device!r}")
        if badge is not None and badge not in known_badges:
            raise InvalidArgument(f"{where}: unknown officer badge {badge!r}")
        windows.append(Window(start, end, device, badge))
    by_subject: dict[tuple[str | None, str | None], list[Window]] = {}
    for w in windows:
        by_subject.setdefault((w.device_id, w.officer_badge), []).append(w)
    for (device, badge), group in by_subject.items():
        group.sort(key=lambda w: w.start)
        for a, b in itertools.pairwise(group):
            if b.start < a.end:
                raise InvalidArgument(
                    f"scope windows for {device or badge!r} overlap: "
                    f"{isoformat(a.start)}..{isoformat(a.end)} and "
                    f"{isoformat(b.start)}..{isoformat(b.end)} (merge them into one)"
                )
    return windows


class PreservationService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        events: EventBus,
        authoriser: Authoriser,
        ingestor: Ingestor,
        holder: Holder,
        expiry: ExpiryService,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.events = events
        self.authoriser = authoriser
        self.ingestor = ingestor
        self.holder = holder
        self.expiry = expiry

    # -- create ----------------------------------------------------------------------

    def create(self, actor: Actor, command: NewPreservationRequest) -> PreservationRecord:
        """Log a request and pin everything in its scope (RET-2, RET-3)."""
        self.authoriser.require(actor, Action.PRESERVATION_MANAGE, "preservation-requests")
        number = command.request_number
        requester = command.requester
        received_at = command.received_at
        via = command.received_via
        reason = command.reason
        litigation = command.litigation_anticipated
        case_number = command.case_number or None
        received_by = self._received_by(actor, command.received_by)
        media_ids = list(dict.fromkeys(command.media_ids))
        now = self.clock.now()
        if received_at > now + dt.timedelta(minutes=5):
            raise InvalidArgument(f"received_at {isoformat(received_at)} is in the future")

        request_id = ids.new_id()
        try:
            with self.db.transaction() as s:
                serialise_scopes(s)
                windows = self._scope(s, command.scope)
                if not windows and not media_ids:
                    raise InvalidArgument("the request names no scope and no media_ids")
                self._check_media(s, media_ids)
                logged = PreservationRequest(
                    id=request_id,
                    request_number=number,
                    requester_name=requester.name,
                    requester_organization=requester.organization or None,
                    requester_contact=requester.contact or None,
                    received_at=received_at,
                    received_via=via,
                    received_by=received_by,
                    reason=reason,
                    litigation_anticipated=litigation,
                    case_number=case_number,
                    media_ids=media_ids,
                    state=ACTIVE,
                    form_media_id=None,
                    created_at=now,
                    created_by=actor.username,
                )
                # The items' rows before the user's row (the repeat check's), as a tag
                # change of the same user takes them: the other order deadlocked with it.
                targets = sorted(set(items_in(s, windows)) | set(media_ids))
                self.holder.lock(s, targets)
                # The same request asked again (the page's form sent twice, a retry):
                # answered with the first, logged and audited once (RET-3, ACC-6).
                repeat = self._repeat(s, actor, logged, windows, now)
                if repeat is not None:
                    return repeat
                if s.execute(
                    select(PreservationRequest.id).where(
                        PreservationRequest.request_number == number
                    )
                ).first():
                    raise Conflict(f"preservation request {number!r} is already logged")
                s.add(logged)
                for w in windows:
                    s.add(
                        PreservationScope(
                            request_id=request_id,
                            device_id=w.device_id,
                            officer_badge=w.officer_badge,
                            start=w.start,
                            end=w.end,
                        )
                    )
                s.flush()
                outcome = self.holder.pin(
                    s,
                    targets,
                    kind=PRESERVATION,
                    hold_id=request_id,
                    label=number,
                    now=now,
                    mark_evidence=True,
                )
                purged = destroyed_in(s, windows, media_ids)
                # RET-9: oral/electronic requests anticipating litigation notify the
                # supervisor and the municipal attorney; the notice is in the audit entry.
                notify = ["supervisor", "municipal attorney"] if litigation else []
                self.audit.append(
                    s,
                    who(actor),
                    "preservation.create",
                    f"preservation:{number}",
                    details={
                        "id": request_id,
                        "received_via": via,
                        "received_by": received_by,
                        "pinned": len(outcome.pinned),
                        "rescued_from_purge": outcome.rescued,
                        "already_purged": [r.media_id for r in purged] + outcome.purging,
                        "notify": notify,
                    },
                )
                record = self._record(s, s.get_one(PreservationRequest, request_id), outcome)
        except IntegrityError:
            raise Conflict(f"preservation request {number!r} is already logged") from None
        except UserChanged as exc:
            # Disabled or given another role since the check above (ACC-1): refused as
            # the check refuses the user now (403, audited), else a 409.
            target = "preservation-requests"
            actor = actor_as_now(
                self.db, self.authoriser, actor, Action.PRESERVATION_MANAGE, target
            )
            self.authoriser.require(actor, Action.PRESERVATION_MANAGE, target)
            raise Conflict(str(exc)) from None
        log.info(
            "preservation request %s logged: %d items pinned, %d already purged",
            number,
            len(outcome.pinned),
            len(record.already_purged),
        )
        self.events.publish(
            "retention.preservation",
            {"id": request_id, "request_number": number, "notify": notify},
        )
        return record

    def _repeat(
        self,
        s: Session,
        actor: Actor,
        asked: PreservationRequest,
        windows: list[Window],
        now: dt.datetime,
    ) -> PreservationRecord | None:
        """The active request ``actor`` logged less than ``REPEAT_WINDOW`` ago with
        everything ``asked`` says and the same scope; None when there is none (then a
        number already taken is a 409, as before). Under a lock of the user's row, after
        the scope lock, so two at once find each other (:func:`vms.repeats.find_repeat`)."""
        fields = (
            "requester_name",
            "requester_organization",
            "requester_contact",
            "received_at",
            "received_via",
            "received_by",
            "reason",
            "litigation_anticipated",
            "case_number",
            "media_ids",
        )
        row = find_repeat(
            s,
            actor,
            PreservationRequest,
            PreservationRequest.request_number == asked.request_number,
            PreservationRequest.state == ACTIVE,
            now=now,
            same=lambda row: (
                all(getattr(row, f) == getattr(asked, f) for f in fields)
                and set(self._windows(s, row.id)) == set(windows)
            ),
        )
        return self._record(s, row) if row is not None else None

    def _received_by(self, actor: Actor, named: str | None) -> str:
        """Who received the request (RET-3): the signed-in user. Only a records commander
        may log it as received by another user, who must exist and be active; the name
        goes into the request's audit entry (issue 10, item 13)."""
        if not named or named == actor.username:
            return actor.username
        if actor.role is not Role.RECORDS_COMMANDER:
            reason = (
                f"received_by {named!r}: only a records commander may log a request "
                "received by another user (RET-3)"
            )
            self.authoriser.refuse(actor, "preservation.create", "preservation-requests", reason)
        with self.db.session() as s:
            known = s.execute(
                select(User.id).where(User.username == named, User.active.is_(True))
            ).first()
        if known is None:
            raise InvalidArgument(f"received_by {named!r} is not an active user")
        return named

    def _scope(self, s: Session, parts: Sequence[ScopePart]) -> list[Window]:
        devices = {p.device_id for p in parts if p.device_id}
        badges = {p.officer_badge for p in parts if p.officer_badge}
        known_devices = set(
            s.execute(select(Device.id).where(Device.id.in_(sorted(devices)))).scalars()
        )
        known_badges = set(
            s.execute(select(Officer.badge).where(Officer.badge.in_(sorted(badges)))).scalars()
        )
        return parse_scope(parts, known_devices, known_badges)

    def _check_media(self, s: Session, media_ids: Sequence[str]) -> None:
        if not media_ids:
            return
        known = set(
            s.execute(select(MediaItem.id).where(MediaItem.id.in_(list(media_ids)))).scalars()
        )
        known |= {r.media_id for r in destroyed_in(s, [], media_ids)}
        unknown = [m for m in media_ids if m not in known]
        if unknown:
            raise InvalidArgument(f"unknown media ids: {', '.join(unknown)}")

    # -- later ingests ---------------------------------------------------------------

    def on_ingest(self, session: Session, item: MediaItem, now: dt.datetime) -> None:
        """Ingest hook: pin ``item`` when an active request's scope covers it (RET-2)."""
        serialise_scopes(session)
        end = item.recorded_end or item.recorded_start
        who_matches = [PreservationScope.device_id == item.device_id]
        if item.officer_badge:
            who_matches.append(PreservationScope.officer_badge == item.officer_badge)
        rows = session.execute(
            select(PreservationRequest.id, PreservationRequest.request_number)
            .join(PreservationScope, PreservationScope.request_id == PreservationRequest.id)
            .where(
                PreservationRequest.state == ACTIVE,
                or_(*who_matches),
                and_(PreservationScope.start <= end, PreservationScope.end > item.recorded_start),
            )
            .distinct()
        ).all()
        for request_id, number in rows:
            session.add(
                MediaHold(
                    media_id=item.id,
                    kind=PRESERVATION,
                    hold_id=request_id,
                    label=number,
                    created_at=now,
                    released_at=None,
                )
            )
            item.evidence = True  # RET-2
            log.info("new item %s pinned by preservation request %s", item.id, number)
        if rows:
            session.flush()

    # -- read ------------------------------------------------------------------------

    def get(self, actor: Actor, request_id: str) -> PreservationRecord:
        """One request, by id or request number."""
        self.authoriser.require(actor, Action.RETENTION_READ, f"preservation:{request_id}")
        with self.db.session() as s:
            record = self._record(s, self._load(s, request_id))
        # ACC-6: a metadata view is audited with what it showed.
        self.audit.record(
            self.db,
            who(actor),
            "preservation.view",
            f"preservation:{record.id}",
            details={"media_ids": list(record.media_ids)},
        )
        return record

    def log(
        self, actor: Actor, *, state: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[PreservationRecord, ...]:
        """The request log (RET-3), newest first; ``state``: only active or released;
        ``offset``: the requests to skip (the log page's later pages)."""
        self.authoriser.require(actor, Action.RETENTION_READ, "preservation-requests")
        if state is not None and state not in (ACTIVE, RELEASED):
            raise InvalidArgument(f"state must be {ACTIVE} or {RELEASED}, not {state!r}")
        if not 1 <= limit <= 1000:
            raise InvalidArgument(f"limit must be 1..1000, not {limit}")
        if not 0 <= offset <= MAX_LOG_OFFSET:
            raise InvalidArgument(f"offset must be 0..{MAX_LOG_OFFSET}, not {offset}")
        with self.db.session() as s:
            stmt = select(PreservationRequest).order_by(
                PreservationRequest.received_at.desc(), PreservationRequest.id.desc()
            )
            if state:
                stmt = stmt.where(PreservationRequest.state == state)
            rows = s.execute(stmt.offset(offset).limit(limit)).scalars()
            records = tuple(self._record(s, r) for r in rows)
        self.audit.record(
            self.db,
            who(actor),
            "preservation.read",
            "preservation-requests",
            details={"state": state, "preservation_ids": [r.id for r in records]},
        )
        return records

    def _load(self, s: Session, request_id: str, *, lock: bool = False) -> PreservationRequest:
        """The request by id or number; ``lock``: take its row lock first (PostgreSQL) and
        read it fresh, so two changes of its state are ordered (a release and another
        release, or the form)."""
        for_update = lock and lock_rows(s)
        row = s.get(
            PreservationRequest, request_id, with_for_update=for_update, populate_existing=lock
        )
        if row is None:
            stmt = select(PreservationRequest).where(
                PreservationRequest.request_number == request_id
            )
            if for_update:
                stmt = stmt.with_for_update()
            row = s.execute(stmt.execution_options(populate_existing=lock)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"preservation request {request_id!r} does not exist")
        return row

    def _windows(self, s: Session, request_id: str) -> list[Window]:
        return [
            Window(p.start, p.end, p.device_id, p.officer_badge)
            for p in s.execute(
                select(PreservationScope)
                .where(PreservationScope.request_id == request_id)
                .order_by(PreservationScope.id)
            ).scalars()
        ]

    def _record(
        self, s: Session, row: PreservationRequest, outcome: PinOutcome | None = None
    ) -> PreservationRecord:
        windows = self._windows(s, row.id)
        pinned = tuple(
            s.execute(
                select(MediaHold.media_id)
                .where(MediaHold.kind == PRESERVATION, MediaHold.hold_id == row.id)
                .order_by(MediaHold.media_id)
            ).scalars()
        )
        purged: list[AlreadyPurged] = [
            DestructionEntry.of(r) for r in destroyed_in(s, windows, row.media_ids)
        ]
        if outcome is not None:
            purged += [PurgeInProgress(m) for m in outcome.purging]
        return PreservationRecord(
            id=row.id,
            request_number=row.request_number,
            requester=Requester(
                name=row.requester_name,
                organization=row.requester_organization,
                contact=row.requester_contact,
            ),
            received_at=row.received_at,
            received_via=row.received_via,  # type: ignore[arg-type]  # checked when logged
            received_by=row.received_by,
            reason=row.reason,
            litigation_anticipated=row.litigation_anticipated,
            case_number=row.case_number,
            scope=tuple(windows),
            media_ids=tuple(row.media_ids),
            state=row.state,  # type: ignore[arg-type]  # ACTIVE or RELEASED
            form_media_id=row.form_media_id,
            created_at=row.created_at,
            created_by=row.created_by,
            released_at=row.released_at,
            released_by=row.released_by,
            release_notice=row.release_notice,
            release_reason=row.release_reason,
            pinned=pinned,
            already_purged=tuple(purged),
            rescued_from_purge=tuple(outcome.rescued) if outcome is not None else (),
        )

    # -- release ---------------------------------------------------------------------

    def release(
        self, actor: Actor, request_id: str, command: ReleasePreservation
    ) -> PreservationRecord:
        """End the request (with the written notice and reason); its items keep the
        evidence retention (RET-2, RET-7) unless another hold keeps them longer."""
        target = f"preservation:{request_id}"
        self.authoriser.require(actor, Action.PRESERVATION_MANAGE, target)
        notice, reason = command.notice, command.reason
        if not notice:
            raise InvalidArgument("notice is required (the written release notice, RET-2)")
        if not reason:
            raise InvalidArgument("reason is required")
        with refused_as_now_if_changed(
            self.db, self.authoriser, actor, Action.PRESERVATION_MANAGE, target
        ):
            return self._release(actor, request_id, notice, reason, command.form_key)

    def _release(
        self, actor: Actor, request_id: str, notice: str, reason: str, form_key: str | None
    ) -> PreservationRecord:
        now = self.clock.now()
        with self.db.transaction() as s:
            # The scope lock orders the release with the ingest hook, which pins a new
            # item by the requests it reads as active: without it, an upload committed
            # after the release kept an active hold of a released request, which no
            # release could end (RET-2). The row lock orders two releases (RET-3: one
            # notice in the log, the other refused) and the form (below).
            serialise_scopes(s)
            row = self._load(s, request_id, lock=True)
            if row.state != ACTIVE:
                target = f"preservation:{row.request_number}"
                if (row.release_notice, row.release_reason) == (notice, reason) and (
                    made_under_key(s, actor, "preservation.release", target, form_key)
                ):
                    # The request that released it, sent again: released and audited once.
                    return self._record(s, row)
                raise Conflict(f"preservation request {row.request_number!r} is already released")
            row.state = RELEASED
            row.released_at = now
            row.released_by = actor.username
            row.release_notice = notice
            row.release_reason = reason
            released = self.holder.release(s, kind=PRESERVATION, hold_id=row.id, now=now)
            if row.form_media_id is not None:
                # RET-3, RET-7: the form stays with the log entry as long as the evidence
                # it pinned (also a form attached before forms were marked at attach).
                # After the release: its row is locked there with the others, in id order.
                self.holder.keep_as_evidence(s, [row.form_media_id])
            # Releasing lifts a hold (RET-2): the user decided again, held until commit;
            # after the items' rows (locked above), as a tag change of the same user
            # takes them: the other order deadlocked with it (PostgreSQL).
            hold_user(s, actor)
            self.audit.append(
                s,
                who(actor),
                "preservation.release",
                f"preservation:{row.request_number}",
                details=with_form_key(
                    {"notice": notice, "reason": reason, "items": len(released)}, form_key
                ),
            )
            return self._record(s, row)

    # -- the scanned form ------------------------------------------------------------

    def attach_form(
        self, actor: Actor, request_id: str, source: BinaryIO | Path, filename: str | None
    ) -> PreservationRecord:
        """Store the scanned request form through the ingest path (INV-1, hashed) and
        keep it with the request (RET-3).

        The form is evidence (RET-7): after the release it is kept at least the evidence
        retention, as the footage the request pinned. While the request is active it
        also holds the form; a form that arrives after the release is attached to the
        log entry without a hold: a released request holds nothing (RET-2).

        Catalogued and attached in one transaction: a form refused (the user disabled or
        given another role since the check, ACC-1: 403 audited, or 409; not a PDF: 422)
        leaves nothing stored."""
        target = f"preservation:{request_id}"
        self.authoriser.require(actor, Action.PRESERVATION_MANAGE, target)
        with self.db.session() as s:
            row = self._load(s, request_id)
            number, row_id = row.request_number, row.id
        attached: list[PreservationRecord] = []

        def attach(s: Session, item: MediaItem, now: dt.datetime) -> None:
            # In the ingest's own transaction (INV-1): the form is catalogued with its
            # attachment or not at all, so a refused form (the user changed, ACC-1; not
            # a PDF) leaves no loose item, and the ingest removes the file it placed.
            attached.append(self._attach(s, actor, row_id, item.id, item.sha256, filename, now))

        with refused_as_now_if_changed(
            self.db, self.authoriser, actor, Action.PRESERVATION_MANAGE, target
        ):
            result = self.ingestor.ingest(
                source,
                IngestRequest(
                    source=SourceKind.HANDHELD,
                    device_id=FORMS_DEVICE,
                    title=f"Preservation request {number}",
                    original_filename=filename,
                    custody_details={"preservation_request": number},
                    catalogued=attach,
                ),
                who(actor),
            )
            if not result.duplicate:
                return attached[-1]
            # The bytes of an item already catalogued (an older form of this device): it
            # was not catalogued again, so it is attached in a transaction of its own.
            with self.db.transaction() as s:
                return self._attach(
                    s, actor, row_id, result.media_id, result.sha256, filename, self.clock.now()
                )

    def _attach(
        self,
        s: Session,
        actor: Actor,
        row_id: str,
        media_id: str,
        sha256: str,
        filename: str | None,
        now: dt.datetime,
    ) -> PreservationRecord:
        """Attach item ``media_id`` to request ``row_id`` as its form, in ``s``: held while
        the request is active, kept as evidence after (RET-3, RET-7), audited."""
        # The row lock orders the form with a release of the request: a hold placed
        # after the release had ended the request's holds would never end (RET-2).
        row = self._load(s, row_id, lock=True)
        number = row.request_number
        # The form's row, new in this transaction, or an older form's item (the same
        # bytes on this device) which the purge may have removed since (RET-1): read
        # under the lock the hold below takes anyway, a refusal rather than a form
        # naming a gone item.
        media_type = s.execute(
            select(MediaItem.media_type).where(MediaItem.id == media_id).with_for_update()
        ).scalar_one_or_none()
        # The log entry's form, held as evidence (RET-3, RET-7): the user decided
        # again, after the rows above, held until commit (ACC-1).
        hold_user(s, actor)
        if media_type is None:
            raise Conflict(
                f"the form {filename!r} is stored item {media_id}, purged "
                "(RET-1) since it was uploaded: upload it again"
            )
        if media_type != "document":
            raise FailedPrecondition(
                f"the form must be a document (PDF); {filename!r} is {media_type}"
            )
        row.form_media_id = media_id
        held = row.state == ACTIVE
        if held:
            self.holder.pin(
                s,
                [media_id],
                kind=PRESERVATION,
                hold_id=row.id,
                label=number,
                now=now,
                mark_evidence=True,
            )
        else:
            self.holder.keep_as_evidence(s, [media_id])
        self.audit.append(
            s,
            who(actor),
            "preservation.form",
            f"preservation:{number}",
            details={"media_id": media_id, "sha256": sha256, "state": row.state, "held": held},
        )
        return self._record(s, row)

    def count_active(self) -> int:
        with self.db.session() as s:
            return int(
                s.execute(
                    select(func.count())
                    .select_from(PreservationRequest)
                    .where(PreservationRequest.state == ACTIVE)
                ).scalar_one()
            )
