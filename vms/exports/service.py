"""The export service and job (issue 15, items 4 and 6; docs/design/exports.md, "The
service and the job").

:meth:`ExportService.create` checks a request up front (issue 15.6: an inverted or empty
range, one longer than ``[exports] max_hours``, an unknown camera or item, a range
without recording, a source the actor may not export: a 4xx naming the problem, a 403
audited, and no row left behind), then files it ``queued``. The jobs role runs queued
exports (:meth:`ExportService.run_pending`, blocking, in its job thread): it cuts the
clips (:mod:`vms.media.clip`), signs each with Content Credentials
(:mod:`vms.exports.credentials`), writes the signed package (:mod:`vms.exports.package`,
with the C2PA CA certificate for recipients), then catalogues the clips and the package
as derived items (source ``export``, linked to every source item, INV-2; held as
evidence with their sources, REL-2), a custody event on every source item and the audit
entry ``media.export`` (ACC-10), all in one transaction after the files are stored.
Progress (0..1) is written to the row and published as ``export.progress``.

Whoever runs an export (the jobs role, or ``vms export create`` in its own process)
holds its lease meanwhile (:mod:`vms.exports.ownership`). A runner killed mid-way leaves
its row ``running`` and its work folder (``<data_dir>/exports/<id>/``, at most a
``.part`` package in it): once its lease expires, :meth:`ExportService.recover_interrupted`
(at the jobs role's start and before each round of its ``exports`` job) finishes those
killed while cataloguing (their plan is in the row; the package and clips are checked
again) and marks the others ``failed`` ("interrupted by a restart"), then removes the
folders; a live runner's export is left alone. Package downloads
are authorised (:meth:`ExportService.authorise_package`) and recorded
(:meth:`ExportService.record_download`) separately, so only a download that was handed
over is audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vms import ids
from vms.auth.authoriser import who
from vms.auth.decided_again import UserChanged, actor_as_now
from vms.auth.permissions import Action, Actor, ItemFacts, Scope, facts_of, scope_of
from vms.bounded import shown
from vms.case_exports import CaseExport
from vms.clock import ensure_utc, isoformat
from vms.continued import undecodable_start
from vms.db.models import (
    CustodyEvent,
    Export,
    MediaItem,
    MediaType,
)
from vms.devices import is_registered_camera
from vms.errors import Conflict, InvalidArgument, NotFound, RateLimited
from vms.exports.reads import camera_segments, item_chain
from vms.exports.recovery import INTERRUPTED as INTERRUPTED
from vms.exports.runner import DONE as DONE
from vms.exports.runner import FAILED as FAILED
from vms.exports.runner import PROGRESS_TOPIC as PROGRESS_TOPIC
from vms.exports.runner import QUEUED as QUEUED
from vms.exports.runner import RUNNING as RUNNING
from vms.exports.runner import STATES as STATES
from vms.exports.runner import ExportRunner
from vms.exports.values import ExportListing as ExportListing
from vms.exports.values import ExportQuery as ExportQuery
from vms.exports.values import ExportRecord as ExportRecord
from vms.exports.values import ExportSource as ExportSource
from vms.exports.values import NewExport as NewExport
from vms.exports.values import PackageDownload as PackageDownload
from vms.exports.values import PackageInfo as PackageInfo
from vms.media.clip import CUT_MODES, cut_refusal
from vms.repeats import find_repeat

MAX_SOURCES = 16
MAX_TEXT = 500
MAX_LIST = 500


@dataclass(frozen=True)
class _Planned:
    """A validated source: its range and the stored items (time order) it is cut from."""

    label: str  # the camera id or media id the request named
    start: dt.datetime
    end: dt.datetime
    items: tuple[str, ...]


def _facts(item: MediaItem) -> ItemFacts:
    return facts_of(item)


def _text(name: str, value: str | None, *, required: bool, limit: int = MAX_TEXT) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidArgument(f"{name} is required: say why the export is made", field=name)
        return None
    if len(text) > limit or not text.isprintable():
        raise InvalidArgument(
            f"{name}: {shown(value)} must be at most {limit} printable characters", field=name
        )
    return text


class _NoLongerAllowed(Exception):
    """An item changed between an export's (or a package download's) permission check
    and its transaction so that it is no longer allowed (restricted since, ACC-7;
    flagged, ACC-11) or is gone (purged since, RET-13); the reason, when it is decided
    there."""


class ExportService(ExportRunner):
    """Export requests, package downloads and reads (:class:`ExportRunner`: the jobs
    role's side)."""

    # -- create --------------------------------------------------------------------

    def create(self, actor: Actor, command: NewExport) -> ExportRecord:
        """Check ``command`` and file it ``queued`` (audited ``export.create``).

        400: no purpose, a bad cut mode, no or too many sources, a source naming both or
        neither of camera and item, an empty or inverted range, one longer than
        ``[exports] max_hours``; 404: an unknown camera or item, a range without
        recording; 403 (audited): a role that may not export, or an item the actor may
        not export (restricted ones only admins, ACC-7); 429 (audited): the actor has
        ``[exports] max_pending_per_user`` exports queued or running already. Nothing is
        stored when refused."""
        self.authoriser.require(actor, Action.EXPORTS_CREATE, "exports")
        purpose = _text("purpose", command.purpose, required=True)
        case_number = _text("case_number", command.case_number, required=False, limit=64)
        if command.cut not in CUT_MODES:
            raise InvalidArgument(
                f"cut: {shown(command.cut)} is not one of {', '.join(CUT_MODES)}", field="cut"
            )
        if not command.sources:
            raise InvalidArgument("sources: at least one source is needed", field="sources")
        if len(command.sources) > MAX_SOURCES:
            raise InvalidArgument(
                f"sources: {len(command.sources)} given, at most {MAX_SOURCES}", field="sources"
            )
        planned = [self._plan(actor, n, source) for n, source in enumerate(command.sources)]
        now = self.clock.now()
        sources = [
            ExportSource(
                p.label if command.sources[n].camera_id else None,
                p.label if command.sources[n].media_id else None,
                p.start,
                p.end,
            )
            for n, p in enumerate(planned)
        ]
        request = {
            "cut": command.cut,
            "include_audit": command.include_audit,
            "sources": [s.to_json() for s in sources],
        }
        try:
            with self.db.transaction() as s:
                self._still_allowed(s, actor, planned)
                repeat = self._repeat(s, actor, purpose or "", case_number, request, now)
                if repeat is not None:
                    return repeat
                self._admit(s, actor)
                row = Export(
                    id=ids.new_id(),
                    state=QUEUED,
                    progress=0.0,
                    created_by=actor.username,
                    created_role=actor.role.value,
                    created_at=now,
                    purpose=purpose or "",
                    case_number=case_number,
                    request=request,
                )
                s.add(row)
                self.audit.append(
                    s,
                    who(actor),
                    "export.create",
                    f"export:{row.id}",
                    details={
                        "purpose": purpose,
                        "case_number": case_number,
                        "cut": command.cut,
                        "include_audit": command.include_audit,
                        "sources": request["sources"],
                        "items": sum(len(p.items) for p in planned),
                    },
                )
                s.flush()
                record = ExportRecord.of(row)
        except (_NoLongerAllowed, UserChanged) as exc:
            # Refused as the check refuses it now, by the user as now (planned again:
            # the refusal audited outside the rolled-back transaction; a purged item a
            # 404 naming it); allowed again meanwhile, or a camera's range still
            # recorded: a 409.
            actor = actor_as_now(self.db, self.authoriser, actor, Action.EXPORTS_CREATE, "exports")
            self.authoriser.require(actor, Action.EXPORTS_CREATE, "exports")
            for n, source in enumerate(command.sources):
                self._plan(actor, n, source)
            changed = "the export's items changed while it was filed; try again"
            raise Conflict(str(exc) if isinstance(exc, UserChanged) else changed) from None
        except RateLimited as exc:
            self.audit.record(
                self.db,
                who(actor),
                "export.create",
                "exports",
                outcome="denied",
                details={"reason": exc.message},
            )
            raise
        self.publish(record)
        return record

    def _still_allowed(self, s: Session, actor: Actor, planned: list[_Planned]) -> None:
        """The check of :meth:`_plan` again, on the items held FOR SHARE in id order
        (before the user's row and the audit chain, as a restriction takes them): one
        committed in between is seen, one after waits for the export (ACC-7, ACC-11).
        An item the purge deleted in between is missing here: the export is refused as
        one asked for after the purge (RET-13), not filed for its job to fail on."""
        ids_ = sorted({m for p in planned for m in p.items})
        decided: dict[ItemFacts, bool] = {}
        for n in range(0, len(ids_), 500):
            chunk = ids_[n : n + 500]
            held = select(MediaItem).where(MediaItem.id.in_(chunk))
            held = held.order_by(MediaItem.id).with_for_update(read=True)  # no-op on SQLite
            found = 0
            for item in s.execute(held.execution_options(populate_existing=True)).scalars():
                found += 1
                fact = _facts(item)
                if fact not in decided:
                    decided[fact] = self.authoriser.allows(actor, Action.EXPORTS_CREATE, fact)
                if not decided[fact]:
                    raise _NoLongerAllowed
            if found != len(chunk):  # purged since the check
                raise _NoLongerAllowed

    def _admit(self, s: Session, actor: Actor) -> None:
        """RateLimited when ``actor`` has ``max_pending_per_user`` exports queued or
        running: the job runs exports one after another, oldest first, so without a
        bound one user's requests (each up to 16 sources of ``max_hours``) could hold
        everyone else's for days. Counted under the lock of the user's row that
        :meth:`_repeat`, asked first in the same transaction, took (and decided the user
        again there, ACC-1: :func:`vms.auth.decided_again.hold_user`): two requests at
        once cannot both take the last place."""
        limit = self.max_pending_per_user
        if limit <= 0:
            return
        pending = s.execute(
            select(func.count())
            .select_from(Export)
            .where(Export.created_by == actor.username, Export.state.in_((QUEUED, RUNNING)))
        ).scalar_one()
        if pending >= limit:
            raise RateLimited(
                f"{actor.username} has {pending} exports queued or running, the most one user "
                f"may have at once ([exports] max_pending_per_user = {limit}); wait for one "
                "to finish",
                pending=pending,
                limit=limit,
            )

    def _repeat(
        self,
        s: Session,
        actor: Actor,
        purpose: str,
        case_number: str | None,
        as_stored: dict[str, Any],
        now: dt.datetime,
    ) -> ExportRecord | None:
        """The export ``actor`` asked for with the same purpose, case number and request
        less than ``REPEAT_WINDOW`` ago that is still queued: a double-click or a client's
        retry after a timeout, answered with it instead of a second package of the same
        footage (ACC-6: one export, audited once). Asked before the pending limit (a
        repeat takes no new place), under a lock of the user's row, so two at once find
        each other (:func:`vms.repeats.find_repeat`)."""
        row = find_repeat(
            s,
            actor,
            Export,
            Export.state == QUEUED,
            now=now,
            same=lambda row: (
                (row.purpose, row.case_number, row.request) == (purpose, case_number, as_stored)
            ),
        )
        return ExportRecord.of(row) if row is not None else None

    def _plan(self, actor: Actor, n: int, source: ExportSource) -> _Planned:
        name = f"sources[{n}]"
        if (source.camera_id is None) == (source.media_id is None):
            given = "both were given" if source.camera_id else "neither was given"
            raise InvalidArgument(
                f"{name}: a source names exactly one of camera_id and media_id: {given}",
                field=name,
            )
        for part in ("start", "end"):
            value = getattr(source, part)
            if value is not None and value.tzinfo is None:
                raise InvalidArgument(f"{name}.{part}: give a time zone", field=f"{name}.{part}")
        if source.camera_id is not None:
            if source.start is None or source.end is None:
                raise InvalidArgument(
                    f"{name}: a camera source needs start and end", field=f"{name}.start"
                )
            start, end = ensure_utc(source.start), ensure_utc(source.end)
            self._check_range(name, start, end)
            return self._plan_camera(actor, name, source.camera_id, start, end)
        assert source.media_id is not None
        return self._plan_item(actor, name, source.media_id, source.start, source.end)

    def _check_range(self, name: str, start: dt.datetime, end: dt.datetime) -> None:
        if end <= start:
            raise InvalidArgument(
                f"{name}.end: {isoformat(end)} is not after start {isoformat(start)} (an "
                "empty or inverted range)",
                field=f"{name}.end",
            )
        if end - start > self.max_span:
            raise InvalidArgument(
                f"{name}: the range {isoformat(start)}..{isoformat(end)} spans "
                f"{(end - start).total_seconds() / 3600:g} h; an export source spans at most "
                f"{self.max_span.total_seconds() / 3600:g} h ([exports] max_hours)",
                field=name,
            )

    def _plan_camera(
        self, actor: Actor, name: str, camera_id: str, start: dt.datetime, end: dt.datetime
    ) -> _Planned:
        with self.db.session() as s:
            if not is_registered_camera(s, camera_id):
                raise NotFound(
                    f"{name}.camera_id: {shown(camera_id)} is not a registered camera",
                    field=f"{name}.camera_id",
                )
            rows = camera_segments(s, camera_id, start, end)
            facts = [(row.id, _facts(row)) for row in rows]
            undecodable = undecodable_start(s, rows)
        if not rows:
            raise NotFound(
                f"{name}: camera {camera_id} has no recording between {isoformat(start)} and "
                f"{isoformat(end)}",
                field=name,
            )
        decided: dict[ItemFacts, bool] = {}
        for media_id, fact in facts:
            if fact not in decided:
                decided[fact] = self.authoriser.allows(actor, Action.EXPORTS_CREATE, fact)
            if not decided[fact]:
                self.authoriser.require(actor, Action.EXPORTS_CREATE, f"media:{media_id}", fact)
        if undecodable is not None:  # REL-2: said now, not as grey frames or a failed job
            raise InvalidArgument(f"{name}: {undecodable}", field=f"{name}.start")
        return _Planned(camera_id, start, end, tuple(media_id for media_id, _ in facts))

    def _plan_item(
        self,
        actor: Actor,
        name: str,
        media_id: str,
        start: dt.datetime | None,
        end: dt.datetime | None,
    ) -> _Planned:
        with self.db.session() as s:
            item = s.get(MediaItem, media_id)
            if item is None:
                raise NotFound(
                    f"{name}.media_id: {shown(media_id)} does not exist", field=f"{name}.media_id"
                )
            fact = _facts(item)
            kind, begin, codec = item.media_type, item.recorded_start, item.codec
            # A recorder segment continued without a keyframe is cut from its chain's
            # keyframe on: those segments are read too (vms/continued.py).
            chain_rows = item_chain(s, item)
            chain = [(c.id, _facts(c)) for c in chain_rows]
            undecodable = undecodable_start(s, [*chain_rows, item])
            refusal = cut_refusal(item.codec, item.content_type)
            finish = item.recorded_end
            if finish is None and item.duration_seconds:
                finish = begin + dt.timedelta(seconds=item.duration_seconds)
        for member, facts in [*chain, (media_id, fact)]:
            self.authoriser.require(actor, Action.EXPORTS_CREATE, f"media:{member}", facts)
        if kind == MediaType.AUDIO.value:
            # Exporting sound alone is a non-goal (docs/design/exports.md): said as such.
            raise InvalidArgument(
                f"{name}.media_id: {media_id} is a sound recording ({codec or 'unknown codec'}) "
                "and has no video stream to export: clips are cut from video only",
                field=f"{name}.media_id",
            )
        if kind != MediaType.VIDEO.value or finish is None:
            raise InvalidArgument(
                f"{name}.media_id: {media_id} is a {kind} item: only video is cut into clips",
                field=f"{name}.media_id",
            )
        if refusal is not None:  # REL-2: said now, not by a job failing later
            raise InvalidArgument(
                f"{name}.media_id: {media_id} cannot be cut into clips: {refusal}",
                field=f"{name}.media_id",
            )
        if undecodable is not None:
            raise InvalidArgument(f"{name}.media_id: {undecodable}", field=f"{name}.media_id")
        lo = ensure_utc(start) if start is not None else begin
        hi = ensure_utc(end) if end is not None else finish
        self._check_range(name, lo, hi)
        if hi <= begin or lo >= finish:
            raise NotFound(
                f"{name}: item {media_id} was recorded {isoformat(begin)}..{isoformat(finish)}, "
                f"not between {isoformat(lo)} and {isoformat(hi)}",
                field=name,
            )
        return _Planned(media_id, lo, hi, (*(c for c, _ in chain), media_id))

    # -- read ----------------------------------------------------------------------

    def get(self, actor: Actor, export_id: str) -> ExportRecord:
        """One export: the creator's own, or any for admins and auditors (403 audited,
        404 unknown)."""
        target = f"export:{export_id}"
        self.authoriser.require(actor, Action.EXPORTS_READ, target)
        with self.db.session() as s:
            row = s.get(Export, export_id)
            if row is None:
                raise NotFound(f"export {shown(export_id)} does not exist")
            record = ExportRecord.of(row)
        if not self._reads_all(actor) and record.created_by != actor.username:
            self.authoriser.refuse(
                actor, Action.EXPORTS_READ.value, target, "the export is another user's"
            )
        return record

    def list_exports(self, actor: Actor, query: ExportQuery) -> ExportListing:
        """Exports, newest first: the actor's own, or all for admins and auditors."""
        self.authoriser.require(actor, Action.EXPORTS_READ, "exports")
        if query.state is not None and query.state not in STATES:
            raise InvalidArgument(
                f"state: {shown(query.state)} is not one of {', '.join(STATES)}", field="state"
            )
        stmt = select(Export).order_by(Export.created_at.desc(), Export.id.desc())
        if not self._reads_all(actor):
            stmt = stmt.where(Export.created_by == actor.username)
        if query.state is not None:
            stmt = stmt.where(Export.state == query.state)
        if query.case_number is not None:
            stmt = stmt.where(Export.case_number == query.case_number)
        with self.db.session() as s:
            rows = s.execute(stmt.limit(max(1, min(query.limit, MAX_LIST)))).scalars().all()
            return ExportListing(tuple(ExportRecord.of(r) for r in rows))

    def _reads_all(self, actor: Actor) -> bool:
        return scope_of(actor.role, Action.EXPORTS_READ) is Scope.ALL

    def for_case(self, case_number: str) -> Sequence[CaseExport]:
        """:class:`~vms.case_exports.CaseExports`: the exports of a case, oldest first
        (the case page checked ``cases.read``)."""
        with self.db.session() as s:
            rows = s.execute(
                select(Export)
                .where(Export.case_number == case_number)
                .order_by(Export.created_at, Export.id)
            ).scalars()
            return [
                CaseExport(r.id, r.state, r.purpose, r.created_at, r.created_by, r.package_media_id)
                for r in rows
            ]

    def package(self, actor: Actor, export_id: str, *, remote: str) -> PackageDownload:
        """:meth:`authorise_package` then :meth:`record_download` at once (the CLI and
        tests, where handing over the path is the download)."""
        download = self.authorise_package(actor, export_id)
        self.record_download(actor, download, remote=remote)
        return download

    def authorise_package(self, actor: Actor, export_id: str) -> PackageDownload:
        """Authorise the download of an export's package and find its file: its creator
        (while they may export) or an admin; auditors read exports but not their content
        (403, audited). Nothing is recorded as downloaded here: the caller builds its
        response, then calls :meth:`record_download`, so a download that fails leaves no
        entry claiming it succeeded (as :meth:`vms.catalog.Catalog.authorise_content`)."""
        target = f"export:{export_id}"
        record = self.get(actor, export_id)
        may_export = self.authoriser.allows(actor, Action.EXPORTS_CREATE)
        if not may_export or (
            record.created_by != actor.username
            and scope_of(actor.role, Action.EXPORTS_CREATE) is not Scope.ALL
        ):
            self.authoriser.refuse(
                actor,
                "media.export.download",
                target,
                f"role {actor.role.value} may read the export but not download its package",
            )
        if record.state != DONE or record.package is None:
            raise NotFound(f"export {export_id} has no package: it is {record.state}")
        package = record.package
        with self.db.session() as s:
            item = s.get(MediaItem, package.media_id)
            if item is None:
                raise NotFound(f"the package of export {export_id} is no longer in the catalog")
            name = item.original_filename or f"export-{export_id}.zip"
            fact = _facts(item)
        # The package is content: locked since it was made (its source restricted, ACC-7,
        # or flagged, ACC-11, carried to the copies), only who may export it now downloads.
        decision = self.authoriser.decide(actor, Action.EXPORTS_CREATE, fact)
        if not decision.allowed:
            self.authoriser.refuse(actor, "media.export.download", target, decision.reason)
        path = self.store.servable(
            package.sha256, f"the package file of export {export_id} is missing from the store"
        )
        return PackageDownload(
            export_id, package.media_id, path, package.size, package.sha256, name
        )

    def record_download(self, actor: Actor, download: PackageDownload, *, remote: str) -> None:
        """Audit ``media.export.download`` with a custody event on the package item
        (ACC-6, ACC-10): called once the package was actually handed over."""
        now = self.clock.now()
        try:
            self._record_download(actor, download, remote, now)
        except _NoLongerAllowed as refused:
            # Audited outside the rolled-back transaction; the caller records before the
            # package goes out, so it is not handed over.
            target = f"export:{download.export_id}"
            self.authoriser.refuse(actor, "media.export.download", target, str(refused))

    def _record_download(
        self, actor: Actor, download: PackageDownload, remote: str, now: dt.datetime
    ) -> None:
        with self.db.transaction() as s:
            # authorise_package's decision on the package again, the row held FOR SHARE
            # until the download is recorded: restricted (ACC-7) or flagged (ACC-11) since
            # the check, with its source, is seen; one after waits for the record.
            item = s.get(
                MediaItem,
                download.media_id,
                with_for_update={"read": True},  # PostgreSQL; SQLite has one writer
                populate_existing=True,
            )
            if item is None:
                raise NotFound(f"the package of export {download.export_id} is no longer here")
            decision = self.authoriser.decide(actor, Action.EXPORTS_CREATE, _facts(item))
            if not decision.allowed:
                raise _NoLongerAllowed(decision.reason)
            s.add(
                CustodyEvent(
                    media_id=download.media_id,
                    at=now,
                    actor=actor.username,
                    action="downloaded",
                    details={"export_id": download.export_id, "remote_addr": remote},
                )
            )
            self.audit.append(
                s,
                who(actor),
                "media.export.download",
                f"export:{download.export_id}",
                details={
                    "package_media_id": download.media_id,
                    "sha256": download.sha256,
                    "remote_addr": remote,
                },
            )


def export_clips(row: Export) -> list[str]:
    """The media ids of a done export's clips, in the package's order (the job's plan:
    one entry per clip, then the package; ``catalogued`` holds their items in that
    order). An export of one source over one stretch of recording has one clip."""
    entries = row.request.get("plan", {}).get("entries", [])
    catalogued = list(row.request.get("catalogued", []))
    return catalogued[: max(0, len(entries) - 1)]
