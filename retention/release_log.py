"""The release log: one request, the log of all of them (open first, REL-1) and the
requests awaiting a decision (ACC-5), each read audited. :class:`ReleaseLog` is the
reading half of :class:`retention.releases.ReleaseService`, which adds the workflow.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, and_, case, select
from sqlalchemy.orm import Session

from retention.commands import Requester
from retention.release_checks import IN_REVIEW, MAX_LOG_OFFSET, OPEN_STATES, RECEIVED
from retention.release_values import ReleasedItem, ReleaseListing, ReleaseRecord, ShareRecord
from vms.audit.log import AuditLog
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.clock import Clock
from vms.config import ReleasesConfig
from vms.db.engine import Database
from vms.db.models import ReleaseItem, ReleaseRequest, ShareLink
from vms.errors import InvalidArgument, NotFound
from vms.store import MediaStore


class ReleaseLog:
    """Reads of the release requests (``releases.read``; awaiting: ``releases.approve``)."""

    def __init__(
        self,
        db: Database,
        store: MediaStore,
        audit: AuditLog,
        clock: Clock,
        authoriser: Authoriser,
        config: ReleasesConfig,
    ) -> None:
        self.db = db
        self.store = store
        self.audit = audit
        self.clock = clock
        self.authoriser = authoriser
        self.config = config

    # -- reads ------------------------------------------------------------------------

    def get(self, actor: Actor, release_id: str) -> ReleaseRecord:
        self.authoriser.require(actor, Action.RELEASES_READ, f"release:{release_id}")
        now = self.clock.now()
        with self.db.session() as s:
            row = s.get(ReleaseRequest, release_id)
            if row is None:
                raise NotFound(f"release request {release_id!r} does not exist")
            record = self._record(s, row, now)
        self.audit.record(
            self.db,
            who(actor),
            "release.view",
            f"release:{release_id}",
            details={"media_ids": [i.media_id for i in record.items]},
        )
        return record

    def log(
        self, actor: Actor, *, state: str | None = None, limit: int = 200, offset: int = 0
    ) -> ReleaseListing:
        """Open requests first (overdue first, then by due date, undated last), then the
        closed ones, newest first (REL-1); ``offset``: the requests to skip in that order
        (the log page's later pages)."""
        self.authoriser.require(actor, Action.RELEASES_READ, "releases")
        if not 0 <= offset <= MAX_LOG_OFFSET:
            raise InvalidArgument(f"offset must be 0..{MAX_LOG_OFFSET}, not {offset}")
        now = self.clock.now()
        is_open = ReleaseRequest.state.in_(OPEN_STATES)
        stmt = select(ReleaseRequest).order_by(
            case((is_open, 0), else_=1),
            case((and_(is_open, ReleaseRequest.due_at.is_not(None)), 0), else_=1),
            case((is_open, ReleaseRequest.due_at), else_=None),
            ReleaseRequest.created_at.desc(),
            ReleaseRequest.id,
        )
        if state is not None:
            stmt = stmt.where(ReleaseRequest.state == state)
        return self._read(actor, stmt.offset(offset).limit(limit), now)

    def awaiting_decision(self, actor: Actor, *, limit: int = 100) -> ReleaseListing:
        """The requests that wait for ``actor``'s decision (ACC-5): received or in review,
        overdue first, then by due date, undated last, oldest logged first; without the
        ones ``actor`` logged when ``[releases] allow_self_approval`` is off (another
        approver must decide those). Audited as a read like the log."""
        self.authoriser.require(actor, Action.RELEASES_APPROVE, "releases")
        now = self.clock.now()
        stmt = (
            select(ReleaseRequest)
            .where(ReleaseRequest.state.in_((RECEIVED, IN_REVIEW)))
            .order_by(
                case((ReleaseRequest.due_at.is_not(None), 0), else_=1),
                ReleaseRequest.due_at,
                ReleaseRequest.created_at,
                ReleaseRequest.id,
            )
        )
        if not self.config.allow_self_approval:
            stmt = stmt.where(ReleaseRequest.created_by != actor.username)
        return self._read(actor, stmt.limit(limit), now, awaiting_decision=True)

    def _read(
        self, actor: Actor, stmt: Select[ReleaseRequest], now: dt.datetime, **details: object
    ) -> ReleaseListing:
        """The requests ``stmt`` selects, their read audited (``release.read``: their
        ids and ``details``)."""
        with self.db.session() as s:
            rows = s.execute(stmt).scalars().all()
            records = tuple(self._record(s, r, now) for r in rows)
        self.audit.record(
            self.db,
            who(actor),
            "release.read",
            "releases",
            details={"release_ids": [r.id for r in records], **details},
        )
        return ReleaseListing(now, records)

    # -- values -----------------------------------------------------------------------

    def _record(self, s: Session, row: ReleaseRequest, now: dt.datetime) -> ReleaseRecord:
        items = tuple(
            ReleasedItem(i.position, i.export_id, i.media_id)
            for i in s.execute(
                select(ReleaseItem)
                .where(ReleaseItem.release_id == row.id)
                .order_by(ReleaseItem.position)
            ).scalars()
        )
        shares = tuple(
            ShareRecord.of(link)
            for link in s.execute(
                select(ShareLink)
                .where(ShareLink.release_id == row.id)
                .order_by(ShareLink.created_at, ShareLink.id)
            ).scalars()
        )
        return ReleaseRecord(
            id=row.id,
            kind=row.kind,
            request_number=row.request_number,
            requester=Requester(
                row.requester_name, row.requester_organization, row.requester_contact
            ),
            received_at=row.received_at,
            legal_basis=row.legal_basis,
            document_media_id=row.document_media_id,
            due_at=row.due_at,
            overdue=row.state in OPEN_STATES and row.due_at is not None and row.due_at < now,
            state=row.state,
            created_at=row.created_at,
            created_by=row.created_by,
            decided_at=row.decided_at,
            decided_by=row.decided_by,
            decision_reason=row.decision_reason,
            released_at=row.released_at,
            released_by=row.released_by,
            secondary_copy=row.secondary_copy,
            items=items,
            shares=shares,
        )
