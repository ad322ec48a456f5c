"""Redaction jobs (issue 16, item 3 and item 8 for it; docs/design/redaction.md, "The
job"), in the export service's shape (:mod:`vms.exports.service`).

:meth:`RedactionService.create` checks a request up front (unknown item 404, not a video
400, an item the actor may not redact 403 audited, bad classes, method or audio ranges
400 naming the field and value) and files it ``queued``. The jobs role analyses it
(:meth:`RedactionService.run_pending`: detector + tracker over the decoded video,
progress published as ``redaction.progress``) and leaves it in ``review`` with its
tracks. :meth:`edit` enables or disables tracks, adds manual tracks from keyframes
(linear interpolation between them) and changes the method; :meth:`render` queues the
render (409 before the analysis is done), which the jobs role runs
(:mod:`privacy_masks.redaction_job`): the enabled tracks burned in, audio ranges muted,
Content Credentials with ``c2pa.redacted`` actions, a derived item of source
``redacted`` linked to the original (INV-2), a custody event ``redacted`` on the
original and the audit entry ``media.redact``.

States: ``queued`` -> ``analysing`` -> ``review`` -> ``render_queued`` -> ``rendering``
-> ``done``; any step may end ``failed``. The process running a step (``analysing`` or
``rendering``) holds the job's lease meanwhile (:data:`REDACTIONS`, :mod:`vms.row_leases`);
one killed mid-way leaves the job in that state: once its lease expires
:meth:`recover_interrupted` (at the jobs role's start and before each round of the job)
marks it failed; a live runner's job, on this host or another, is left alone. That side
(the states, the leases, claim, run, progress and events) is
:class:`privacy_masks.redaction_runner.RedactionRunner`, which this service extends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from privacy_masks.detection.model import ObjectClass
from privacy_masks.detection.render import Method
from privacy_masks.redaction_runner import ANALYSING as ANALYSING
from privacy_masks.redaction_runner import DONE as DONE
from privacy_masks.redaction_runner import FAILED as FAILED
from privacy_masks.redaction_runner import INTERRUPTED as INTERRUPTED
from privacy_masks.redaction_runner import PENDING as PENDING
from privacy_masks.redaction_runner import PROGRESS_TOPIC as PROGRESS_TOPIC
from privacy_masks.redaction_runner import QUEUED as QUEUED
from privacy_masks.redaction_runner import REDACTIONS as REDACTIONS
from privacy_masks.redaction_runner import RENDER_QUEUED as RENDER_QUEUED
from privacy_masks.redaction_runner import RENDERING as RENDERING
from privacy_masks.redaction_runner import REVIEW as REVIEW
from privacy_masks.redaction_runner import STATES as STATES
from privacy_masks.redaction_runner import RedactionRunner
from privacy_masks.redaction_values import EditRedaction as EditRedaction
from privacy_masks.redaction_values import ManualTrack as ManualTrack
from privacy_masks.redaction_values import NewRedaction as NewRedaction
from privacy_masks.redaction_values import Progress as Progress
from privacy_masks.redaction_values import RedactionRecord as RedactionRecord
from privacy_masks.redaction_values import TrackRecord as TrackRecord
from privacy_masks.redaction_values import TrackToggle as TrackToggle
from privacy_masks.redaction_values import VideoFacts as VideoFacts
from privacy_masks.redaction_values import interpolate as interpolate
from privacy_masks.redaction_values import item_facts, stamped_after
from vms import ids
from vms.auth.authoriser import who
from vms.auth.decided_again import UserChanged, hold_user, refuse_as_now
from vms.auth.permissions import Action, Actor, ItemFacts
from vms.bounded import shown
from vms.catalog_values import ContentAccess
from vms.continued import undecodable_start
from vms.db.models import Export, MediaItem, MediaType, Redaction
from vms.errors import Conflict, InvalidArgument, NotFound, RateLimited
from vms.exports.reads import item_chain
from vms.exports.service import export_clips
from vms.repeats import find_repeat

#: What a request may ask to detect (API names) -> the detectors' classes.
DETECT = {
    "faces": ObjectClass.FACE,
    "persons": ObjectClass.PERSON,
    "plates": ObjectClass.PLATE,
    "vehicles": ObjectClass.VEHICLE,
    "screens": ObjectClass.SCREEN,
}
MAX_MUTE_RANGES = 100
MAX_MANUAL_TRACKS = 100
MAX_KEYFRAMES = 1000
MAX_LISTED = 200  # an item's jobs on its page


class _NoLongerAllowed(Exception):
    """The item changed between a redaction's permission check and its transaction so
    that the redaction is no longer allowed (restricted since, ACC-7)."""


class RedactionService(RedactionRunner):
    """Redaction requests and reads (:class:`RedactionRunner`: the jobs role's side)."""

    # -- create --------------------------------------------------------------------

    def create(self, actor: Actor, command: NewRedaction) -> RedactionRecord:
        """Check ``command`` and file it ``queued`` (audited ``redaction.create``).

        400: nothing or an unknown class to detect, a class the configured backend cannot
        find, an unknown method, a bad audio range; 404: an unknown item; 400: not a
        video; 403 (audited): a role that may not redact, or an item the actor may not
        (restricted ones only admins, ACC-7). Nothing is stored when refused.

        With ``export_id`` the source is the export's clip (docs/design/redaction.md,
        "From an export"): 404 an unknown export, 409 one not ``done``, 400 ``clip``
        missing or out of range for an export of several clips; the clip is then checked
        as an item named by ``media_id`` is (ACC-7: a clip of a restricted source is
        restricted)."""
        self.authoriser.require(actor, Action.REDACTIONS_MANAGE, "redactions")
        classes = self._classes(command.detect)
        method = Method.parse(command.method or self.config.method).value
        with self.db.session() as s:
            media_id, export = self._source(s, command)
            item = s.get(MediaItem, media_id)
            if item is None:
                if export is not None:
                    raise NotFound(
                        f"export_id: clip {export['clip']} of export {export['id']} "
                        f"(media {media_id}) is no longer in the catalog",
                        field="export_id",
                    )
                raise NotFound(f"media_id: {shown(media_id)} does not exist", field="media_id")
            fact, kind, duration = item_facts(item), item.media_type, item.duration_seconds
            codec = item.codec
            # A recorder segment continued without a keyframe is decoded from its chain's
            # keyframe on (redaction_job.RedactionJob._source): those segments are read
            # too, so checked too, as an export's are (ACC-1, ACC-7).
            chain_rows = item_chain(s, item)
            chain = [(c.id, item_facts(c)) for c in chain_rows]
            undecodable = undecodable_start(s, [*chain_rows, item])
        for member, facts in [*chain, (media_id, fact)]:
            self.authoriser.require(actor, Action.REDACTIONS_MANAGE, f"media:{member}", facts)
        if undecodable is not None:  # its first frames cannot be decoded: said, not grey
            raise InvalidArgument(f"media_id: {media_id}: {undecodable}", field="media_id")
        if kind == MediaType.AUDIO.value:
            raise InvalidArgument(
                f"media_id: {media_id} is a sound recording ({codec or 'unknown codec'}) "
                "and has no video stream to redact: only video is redacted",
                field="media_id",
            )
        if kind != MediaType.VIDEO.value:
            raise InvalidArgument(
                f"media_id: {media_id} is a {kind} item: only video is redacted",
                field="media_id",
            )
        mute = self._mute(command.audio_mute, duration)
        now = self.clock.now()
        request = {
            "detect": list(command.detect),
            "classes": [c.value for c in classes],
            "audio_mute": [list(r) for r in mute],
        }
        if export is not None:
            request["export"] = export
        try:
            with self.db.transaction() as s:
                self._still_allowed(s, actor, media_id)
                repeat = self._repeat(s, actor, media_id, method, request, now)
                if repeat is not None:
                    return repeat
                self._admit(s, actor, user_locked=True)
                row = Redaction(
                    id=ids.new_id(),
                    media_id=media_id,
                    state=QUEUED,
                    progress=0.0,
                    method=method,
                    request=request,
                    tracks=[],
                    created_by=actor.username,
                    created_role=actor.role.value,
                    created_at=now,
                    updated_at=now,
                )
                s.add(row)
                self.audit.append(
                    s,
                    who(actor),
                    "redaction.create",
                    f"media:{media_id}",
                    details={"redaction_id": row.id, "method": method, **request},
                )
                s.flush()
                record = RedactionRecord.of(row)
        except _NoLongerAllowed:
            self._refused_since(actor, media_id, "its redaction was filed")
        except UserChanged as exc:
            self._refused_since(actor, media_id, "its redaction was filed", str(exc))
        except RateLimited as exc:
            self.audit.record(
                self.db,
                who(actor),
                "redaction.create",
                f"media:{media_id}",
                outcome="denied",
                details={"method": method, "reason": exc.message},
            )
            raise
        self.publish(record)
        return record

    def _refused_since(
        self, actor: Actor, media_id: str, doing: str, changed: str | None = None
    ) -> NoReturn:
        """After :meth:`_still_allowed` (or the user's check, ``changed`` then saying
        so) refused in a rolled-back transaction: refused as the check refuses it now
        (403, audited); allowed again meanwhile: a 409."""
        refuse_as_now(
            self.db,
            self.authoriser,
            actor,
            Action.REDACTIONS_MANAGE,
            media_id,
            target=f"media:{media_id}",
            gone=f"media_id: {media_id} is no longer in the catalog",
            changed=changed or f"media {media_id} changed while {doing}; try again",
        )

    def _still_allowed(self, s: Session, actor: Actor, media_id: str) -> None:
        """The check before the transaction again, on the item held FOR SHARE (before the
        user's row and the audit chain): a restriction committed in between is seen, one
        after waits for the job (ACC-7, ACC-11); a purge in between is a 404."""
        item = s.execute(
            select(MediaItem).where(MediaItem.id == media_id).with_for_update(read=True)
        ).scalar_one_or_none()
        if item is None:
            raise NotFound(f"media_id: {media_id} is no longer in the catalog", field="media_id")
        if not self.authoriser.decide(actor, Action.REDACTIONS_MANAGE, item_facts(item)).allowed:
            raise _NoLongerAllowed

    def _repeat(
        self,
        s: Session,
        actor: Actor,
        media_id: str,
        method: str,
        as_stored: dict[str, Any],
        now: dt.datetime,
    ) -> RedactionRecord | None:
        """The job ``actor`` asked for on ``media_id`` with the same method and request
        less than ``REPEAT_WINDOW`` ago that is still queued: a double-click on the
        media page's Redact button or a client's retry, answered with it instead of a
        second job (ACC-6: one job, audited once). Asked before the pending limit (a
        repeat takes no new place), under a lock of the user's row, so two at once find
        each other (:func:`vms.repeats.find_repeat`)."""
        row = find_repeat(
            s,
            actor,
            Redaction,
            Redaction.media_id == media_id,
            Redaction.state == QUEUED,
            now=now,
            same=lambda row: (row.method, row.request) == (method, as_stored),
        )
        return RedactionRecord.of(row) if row is not None else None

    def _admit(self, s: Session, actor: Actor, *, user_locked: bool = False) -> None:
        """RateLimited when ``actor`` has ``[redaction] max_pending_per_user`` jobs
        waiting for or in the job (queued, analysing, render queued, rendering): the jobs
        role runs them one after another, each minutes of detection or rendering, so
        without a bound one user's requests could hold everyone else's. A job in
        ``review`` waits for a person and is not counted. Counted under a lock of the
        user's row, taken here unless ``user_locked`` (:meth:`_repeat` took it earlier in
        the transaction), the user decided again there (ACC-1: :func:`hold_user`)."""
        limit = self.config.max_pending_per_user
        if limit <= 0:
            return
        if not user_locked:
            hold_user(s, actor)
        pending = s.execute(
            select(func.count())
            .select_from(Redaction)
            .where(Redaction.created_by == actor.username, Redaction.state.in_(PENDING))
        ).scalar_one()
        if pending >= limit:
            raise RateLimited(
                f"{actor.username} has {pending} redaction jobs queued or running, the most "
                f"one user may have at once ([redaction] max_pending_per_user = {limit}); "
                "wait for one to reach review",
                pending=pending,
                limit=limit,
            )

    def _source(self, s: Session, command: NewRedaction) -> tuple[str, dict[str, Any] | None]:
        """The item to redact: ``media_id``, or the clip of ``export_id`` (with
        ``{"id", "clip"}`` for the row); exactly one of the two (400 naming them)."""
        if (command.media_id is None) == (command.export_id is None):
            given = "both" if command.media_id is not None else "neither"
            raise InvalidArgument(
                f"media_id, export_id: name exactly one source ({given} given)",
                field="media_id",
            )
        if command.media_id is not None:
            if command.clip is not None:
                raise InvalidArgument(
                    f"clip: {command.clip} names a clip of an export: give it with export_id, "
                    "not media_id",
                    field="clip",
                )
            return command.media_id, None
        export_id = command.export_id
        assert export_id is not None
        row = s.get(Export, export_id)
        if row is None:
            raise NotFound(f"export_id: {shown(export_id)} does not exist", field="export_id")
        if row.state != "done":
            raise Conflict(
                f"export_id: export {export_id} is {row.state}: its clips are redacted once "
                "it is done",
                field="export_id",
            )
        clips = export_clips(row)
        if command.clip is None and len(clips) != 1:
            raise InvalidArgument(
                f"clip: export {export_id} has {len(clips)} clips: name one with clip "
                f"(0..{len(clips) - 1})",
                field="clip",
            )
        index = command.clip or 0
        if not 0 <= index < len(clips):
            raise InvalidArgument(
                f"clip: {index} is not a clip of export {export_id} (it has {len(clips)}: "
                f"0..{len(clips) - 1})",
                field="clip",
            )
        return clips[index], {"id": export_id, "clip": index}

    def _classes(self, detect: Sequence[str]) -> list[ObjectClass]:
        if not detect:
            raise InvalidArgument(
                f"detect: name at least one of {', '.join(DETECT)}", field="detect"
            )
        classes: list[ObjectClass] = []
        for n, name in enumerate(detect):
            cls = DETECT.get(name)
            if cls is None:
                raise InvalidArgument(
                    f"detect[{n}]: {shown(name)} is none of {', '.join(DETECT)}",
                    field=f"detect[{n}]",
                )
            if cls not in classes:
                classes.append(cls)
        if not self.config.model:
            from privacy_masks.detection.opencv import SUPPORTED

            for n, name in enumerate(detect):
                if DETECT[name] not in SUPPORTED:
                    raise InvalidArgument(
                        f"detect[{n}]: {name} cannot be found by the opencv backend (faces, "
                        "persons, plates): configure a YOLO model ([redaction] model)",
                        field=f"detect[{n}]",
                    )
        return classes

    def _mute(
        self, ranges: Sequence[tuple[float, float]], duration: float | None
    ) -> list[tuple[float, float]]:
        if len(ranges) > MAX_MUTE_RANGES:
            raise InvalidArgument(
                f"audio_mute: {len(ranges)} ranges, at most {MAX_MUTE_RANGES}",
                field="audio_mute",
            )
        out = []
        for n, (lo, hi) in enumerate(ranges):
            name = f"audio_mute[{n}]"
            if not (lo >= 0 and hi > lo):
                raise InvalidArgument(
                    f"{name}: [{lo:g}, {hi:g}] is not a range [start, end] of seconds with "
                    "0 <= start < end",
                    field=name,
                )
            if duration is not None and lo >= duration:
                raise InvalidArgument(
                    f"{name}: starts at {lo:g} s, after the item's end ({duration:g} s)",
                    field=name,
                )
            out.append((float(lo), float(hi)))
        return out

    # -- read, edit, render ----------------------------------------------------------

    def get(self, actor: Actor, redaction_id: str) -> RedactionRecord:
        """One redaction job, for whoever may redact its item (404 unknown, 403 audited)."""
        record, _ = self._reach(actor, redaction_id)
        return record

    def _reach(self, actor: Actor, redaction_id: str) -> tuple[RedactionRecord, ItemFacts]:
        target = f"redaction:{redaction_id}"
        self.authoriser.require(actor, Action.REDACTIONS_MANAGE, target)
        with self.db.session() as s:
            row = s.get(Redaction, redaction_id)
            if row is None:
                raise NotFound(f"redaction {shown(redaction_id)} does not exist")
            record = RedactionRecord.of(row)
            item = s.get(MediaItem, row.media_id)
            fact = item_facts(item) if item is not None else ItemFacts(None, True)
        self.authoriser.require(actor, Action.REDACTIONS_MANAGE, f"media:{record.media_id}", fact)
        return record, fact

    def of_item(self, actor: Actor, media_id: str) -> list[RedactionRecord]:
        """The redaction jobs of an item, newest first, for whoever may redact it (the
        media page's list; 403 audited otherwise, 404 an unknown item)."""
        self.authoriser.require(actor, Action.REDACTIONS_MANAGE, "redactions")
        with self.db.session() as s:
            item = s.get(MediaItem, media_id)
            if item is None:
                raise NotFound(f"media_id: {shown(media_id)} does not exist", field="media_id")
            fact = item_facts(item)
            rows = s.execute(
                select(Redaction)
                .where(Redaction.media_id == media_id)
                .order_by(Redaction.created_at.desc(), Redaction.id.desc())
                .limit(MAX_LISTED)
            ).scalars()
            records = [RedactionRecord.of(r) for r in rows]
        self.authoriser.require(actor, Action.REDACTIONS_MANAGE, f"media:{media_id}", fact)
        return records

    def original(self, actor: Actor, redaction_id: str, *, continuation: bool) -> ContentAccess:
        """The original's file for the review page's player (issue 16 item 4): whoever
        may redact the job's item sees it *through the job* (ACC-1: the purpose is the
        redaction, recorded), even without ``media.view`` (records commanders; see
        docs/design/redaction.md, "Who redacts"). The caller records the viewing with
        :meth:`vms.catalog.Catalog.record_content` once served (ACC-6)."""
        record, _ = self._reach(actor, redaction_id)
        with self.db.session() as s:
            item = s.get(MediaItem, record.media_id)
            if item is None:
                raise NotFound(f"media {record.media_id} does not exist")
            s.expunge(item)
        path = self.store.servable(
            item.sha256, f"the file of media {record.media_id} is missing from the store"
        )
        details = {"purpose": "redaction", "redaction_id": redaction_id}
        return ContentAccess(
            item,
            path,
            "media.view",
            False,
            continuation,
            details,
            allowed_by=Action.REDACTIONS_MANAGE.value,
        )

    def edit(self, actor: Actor, redaction_id: str, command: EditRedaction) -> RedactionRecord:
        """Edit a job in ``review`` (409 otherwise): toggles, manual tracks, method.
        400 names the field and value; audited ``redaction.edit``."""
        record, _ = self._reach(actor, redaction_id)
        if record.state != REVIEW:
            raise Conflict(
                f"redaction {redaction_id} is {record.state}: tracks are edited in review only"
            )
        method = Method.parse(command.method).value if command.method is not None else None
        video = record.video
        assert video is not None  # analysed: in review
        try:
            return self._edit(actor, redaction_id, command, method, video, record.media_id)
        except _NoLongerAllowed:
            self._refused_since(actor, record.media_id, "its redaction was edited")

    def _edit(
        self,
        actor: Actor,
        redaction_id: str,
        command: EditRedaction,
        method: str | None,
        video: VideoFacts,
        media_id: str,
    ) -> RedactionRecord:
        with self.db.transaction() as s:
            self._still_allowed(s, actor, media_id)  # ACC-7, before the row
            # Locked before it is read, as the render locks it: two reviewers' edits at
            # once each keep the other's, and an edit cannot land after the render has
            # recorded what it renders (INV-8).
            row = s.get(Redaction, redaction_id, with_for_update=True)
            assert row is not None
            if row.state != REVIEW:
                raise Conflict(f"redaction {redaction_id} is {row.state}")
            tracks = [dict(t) for t in row.tracks]
            by_id = {int(t["id"]): t for t in tracks}
            for n, toggle in enumerate(command.tracks):
                if toggle.id not in by_id:
                    raise InvalidArgument(
                        f"tracks[{n}].id: {toggle.id} is not a track of redaction {redaction_id}",
                        field=f"tracks[{n}].id",
                    )
                by_id[toggle.id]["enabled"] = toggle.enabled
            for n, track_id in enumerate(command.remove):
                track = by_id.get(track_id)
                if track is None or not track.get("manual"):
                    raise InvalidArgument(
                        f"remove[{n}]: {track_id} is not a manual track of redaction "
                        f"{redaction_id} (detected tracks are disabled, not removed)",
                        field=f"remove[{n}]",
                    )
                tracks.remove(track)
            if len(command.add) + sum(1 for t in tracks if t.get("manual")) > MAX_MANUAL_TRACKS:
                raise InvalidArgument(
                    f"add: at most {MAX_MANUAL_TRACKS} manual tracks", field="add"
                )
            next_id = max((int(t["id"]) for t in row.tracks), default=0) + 1
            added = []
            for n, manual in enumerate(command.add):
                keys = _keyframes(n, manual, video.width, video.height, video.frames / video.fps)
                cls = manual.cls
                if cls not in {c.value for c in ObjectClass} and cls != "other":
                    known = ", ".join([*(c.value for c in ObjectClass), "other"])
                    raise InvalidArgument(
                        f"add[{n}].class: {shown(cls)} is none of {known}",
                        field=f"add[{n}].class",
                    )
                tracks.append(
                    {
                        "id": next_id,
                        "class": cls,
                        "enabled": True,
                        "manual": True,
                        "keyframes": [list(k) for k in keys],
                        "frames": interpolate(keys, video.fps, video.frames),
                    }
                )
                added.append(next_id)
                next_id += 1
            row.tracks = tracks
            if method is not None:
                row.method = method
            row.updated_at = stamped_after(row.updated_at, self.clock.now())
            self.audit.append(
                s,
                who(actor),
                "redaction.edit",
                f"media:{row.media_id}",
                details={
                    "redaction_id": redaction_id,
                    "enabled": [t.id for t in command.tracks if t.enabled],
                    "disabled": [t.id for t in command.tracks if not t.enabled],
                    "added": added,
                    "removed": list(command.remove),
                    "method": method,
                },
            )
            s.flush()
            return RedactionRecord.of(row)

    def render(self, actor: Actor, redaction_id: str) -> RedactionRecord:
        """Queue the render of a job in ``review`` (409 otherwise), or again after its
        render failed (a full disk, a restart: the reviewed tracks are kept, so the
        person's work is not lost); the renderer is the actor (custody and audit name
        them). Audited ``redaction.render``; 429 (audited) when the actor has
        ``[redaction] max_pending_per_user`` jobs queued or running."""
        reached, _fact = self._reach(actor, redaction_id)
        try:
            with self.db.transaction() as s:
                self._still_allowed(s, actor, reached.media_id)  # ACC-7, before the row
                # Locked: a render sent twice at once (a retried POST) is queued and
                # audited once; an edit at the same instant waits and is refused.
                row = s.get(Redaction, redaction_id, with_for_update=True)
                assert row is not None
                # A failed render (render_by noted) was reviewed: it may render again.
                retry = row.state == FAILED and "render_by" in row.request
                if row.state != REVIEW and not retry:
                    raise Conflict(
                        f"redaction {redaction_id} is {row.state}: it renders once its analysis "
                        "is done and under review"
                    )
                self._admit(s, actor)
                failure = row.error
                row.state, row.progress, row.error = RENDER_QUEUED, 0.0, None
                row.updated_at = stamped_after(row.updated_at, self.clock.now())
                row.request = {**row.request, "render_by": [actor.username, actor.role.value]}
                self.audit.append(
                    s,
                    who(actor),
                    "redaction.render",
                    f"media:{row.media_id}",
                    details={
                        "redaction_id": redaction_id,
                        "method": row.method,
                        "tracks": [t["id"] for t in row.tracks if t["enabled"]],
                        **({"retry": True, "failed_with": failure} if retry else {}),
                    },
                )
                s.flush()
                record = RedactionRecord.of(row)
        except _NoLongerAllowed:
            self._refused_since(actor, reached.media_id, "its render was queued")
        except UserChanged as exc:
            self._refused_since(actor, reached.media_id, "its render was queued", str(exc))
        except RateLimited as exc:
            self.audit.record(
                self.db,
                who(actor),
                "redaction.render",
                f"media:{reached.media_id}",
                outcome="denied",
                details={"redaction_id": redaction_id, "reason": exc.message},
            )
            raise
        self.publish(record)
        return record


def _keyframes(
    n: int, manual: ManualTrack, width: int, height: int, duration: float
) -> list[tuple[float, float, float, float, float]]:
    name = f"add[{n}].keyframes"
    if not manual.keyframes:
        raise InvalidArgument(f"{name}: at least one keyframe [t, x, y, w, h]", field=name)
    if len(manual.keyframes) > MAX_KEYFRAMES:
        raise InvalidArgument(f"{name}: at most {MAX_KEYFRAMES} keyframes", field=name)
    out: list[tuple[float, float, float, float, float]] = []
    for k, key in enumerate(manual.keyframes):
        where = f"{name}[{k}]"
        if len(key) != 5:
            raise InvalidArgument(f"{where}: {list(key)} is not [t, x, y, w, h]", field=where)
        t, x, y, w, h = (float(v) for v in key)
        if not 0 <= t <= duration:
            raise InvalidArgument(
                f"{where}: t = {t:g} s is outside the video (0..{duration:g} s)", field=where
            )
        if out and t <= out[-1][0]:
            raise InvalidArgument(
                f"{where}: t = {t:g} s is not after the previous keyframe's {out[-1][0]:g} s",
                field=where,
            )
        if w <= 0 or h <= 0:
            raise InvalidArgument(f"{where}: the box {w:g}x{h:g} is empty", field=where)
        if x + w <= 0 or y + h <= 0 or x >= width or y >= height:
            raise InvalidArgument(
                f"{where}: the box ({x:g}, {y:g}, {w:g}, {h:g}) is outside the "
                f"{width}x{height} picture",
                field=where,
            )
        out.append((t, x, y, w, h))
    return out
