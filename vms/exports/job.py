"""One export run by the jobs role (docs/design/exports.md, "The service and the job").

Steps, each in the export's work folder ``<data_dir>/exports/<id>/``:

1. cut every source's clips from its stored items (:func:`vms.media.clip.cut_clips`);
2. sign each clip with C2PA Content Credentials (:func:`vms.exports.credentials.sign_clip`);
3. write the package (:func:`vms.exports.package.write_package`: ``.part`` then rename),
   with the agency's C2PA CA certificate (``c2pa-ca.pem``) for recipients' readers;
4. ingest the clips and the package through the one ingest path (INV-1) as derived
   items (source ``export``);
5. in one transaction: link them to every source item (INV-2), hold the sources and
   the copies as evidence (REL-2), carry a source's restriction over (ACC-7), add a
   custody event ``exported`` to every source item, audit ``media.export`` (ACC-10),
   and mark the export ``done`` with its package.

The runner holds the export's lease meanwhile (:mod:`vms.exports.ownership`). A crash
before step 4 leaves the row ``running``: once its lease expires the jobs role's
recovery marks it failed and removes the folder (:meth:`ExportService.recover_interrupted`,
at its start and before each round of the ``exports`` job). A crash during step 4 or
before step 5 commits (the plan of step 4 is noted in the row) is finished by that
recovery instead: the files not yet catalogued are ingested from the work
folder (the package first checked by its own verifier, each clip against its signed
hash), then step 5 runs (:meth:`ExportJob.catalogue`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from vms.audit.log import Who
from vms.clock import isoformat
from vms.db.models import CustodyEvent, Export, MediaItem, MediaLink
from vms.errors import Conflict, NotFound
from vms.exports.credentials import ClipProvenance, SourceRef, load_or_create_chain, sign_clip
from vms.exports.manifest import AuditRecord, CustodyRecord, GapRecord, SourceItem
from vms.exports.package import ClipFile, ExportDraft, write_package
from vms.exports.signing import load_or_create_signer
from vms.faults import crash_point
from vms.ingest import IngestResult
from vms.media.clip import Clip, CutResult, LeftOut, Segment, cut_clips, needs_remux
from vms.store import require_room as store_require_room

if TYPE_CHECKING:
    from vms.exports.ownership import Held
    from vms.exports.runner import ExportRunner
    from vms.exports.service import ExportRecord
    from vms.exports.values import ExportSource

CA_FILE = "c2pa-ca.pem"


# The share of the progress bar each step takes (the cut is most of the work).
CUT_SHARE, SIGN_SHARE, PACKAGE_SHARE = 0.8, 0.08, 0.07


@dataclass
class _Progress:
    """Writes progress to the row and publishes it, at most every 2 %."""

    report: Callable[[float], None]
    last: float = -1.0
    weights: list[float] = field(default_factory=list)

    def __call__(self, value: float) -> None:
        value = min(1.0, max(0.0, value))
        if value >= 1.0 or value - self.last >= 0.02:
            self.last = value
            self.report(value)


def cut(
    segments: Sequence[Segment],
    source: ExportSource,
    folder: Path,
    mode: str,
    stem: str,
    progress: Callable[[float], None],
) -> CutResult:
    assert source.start is not None and source.end is not None
    folder.mkdir(parents=True, exist_ok=True)
    return cut_clips(
        segments, source.start, source.end, folder, mode=mode, stem=stem, progress=progress
    )


def crash(name: str) -> None:
    """A crash point of the export job (tests: ``VMS_TEST_CRASH_AT``)."""
    crash_point(name)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:40] or "source"


@dataclass(frozen=True)
class _CutClip:
    clip: Clip
    source_label: str
    requested_start: dt.datetime
    requested_end: dt.datetime
    items: tuple[MediaItem, ...]  # the stored items it took packets from


class ExportJob:
    def __init__(
        self,
        service: ExportRunner,
        record: ExportRecord,
        role: str,
        folder: Path,
        held: Held,
    ) -> None:
        self.service = service
        self.record = record
        self.who = Who(record.created_by, role)
        self.folder = folder
        # The export's lease (vms/exports/ownership.py): a runner it was taken from stops.
        self.held = held

    def progress(self, value: float) -> None:
        self.held.check()
        require_room(self.service, self.record.id, 0)
        self.service.set_progress(self.record, value)

    def run(self) -> None:

        service, record = self.service, self.record
        report = _Progress(self.progress)
        self.folder.mkdir(parents=True, exist_ok=True)
        sources = service.source_items(record)
        spans = [
            max(1e-3, (s.end - s.start).total_seconds()) for s, _ in sources if s.end and s.start
        ]
        total = sum(spans)
        # The clips, then the package holding them again, and a source's files remuxed
        # whole before its cut: refused before a byte is written when they would take
        # the room recording keeps.
        require_room(service, record.id, 2 * _estimate(sources) + _remux_bytes(sources))
        # 1. cut
        cuts: list[_CutClip] = []
        gaps: dict[str, tuple[GapRecord, ...]] = {}
        every: dict[str, MediaItem] = {}
        left_out: dict[str, tuple[LeftOut, ...]] = {}
        done = 0.0
        for n, ((source, items), span) in enumerate(zip(sources, spans, strict=True)):
            label = source.camera_id or source.media_id or ""
            if not items:
                raise NotFound(f"sources[{n}]: the recording of {label} is no longer stored")
            by_id = {item.id: item for item in items}
            every.update(by_id)
            base = done

            def step(f: float, base: float = base, span: float = span) -> None:
                report(CUT_SHARE * (base + f * span) / total)

            with contextlib.ExitStack() as copies:
                segments = service.segments_of(items, copies, self.folder / "remux")
                left_out.update({s.label: s.left_out for s in segments})
                cutting = cut(
                    segments,
                    source,
                    self.folder / "cut",
                    record.cut,
                    f"{n + 1:02d}-{_safe(label)}",
                    step,
                )
            done += span
            gaps[label] = tuple(GapRecord(g.start, g.end) for g in cutting.gaps)
            assert source.start is not None and source.end is not None
            for clip in cutting.clips:
                cuts.append(
                    _CutClip(
                        clip,
                        label,
                        source.start,
                        source.end,
                        tuple(by_id[i] for i in clip.sources if i in by_id),
                    )
                )
        crash("export.after-cut")
        # What each stored item was masked with (the recorder's ingest record, INV-5).
        used = sorted({i.id for c in cuts for i in c.items}, key=lambda m: every[m].recorded_start)
        custody = service.custody_of(used)
        masks = {m: _mask_version(custody.get(m, [])) for m in used}
        lifted = service.lifts_of([(every[m].device_id, masks[m]) for m in used])
        redactions = service.redactions_of(every[m] for m in used)  # INV-8
        # 2. sign
        now = service.clock.now()
        chain = load_or_create_chain(service.secrets_dir, now)
        signed_dir = self.folder / "clips"
        signed_dir.mkdir(exist_ok=True)
        files: list[ClipFile] = []
        for k, item in enumerate(cuts, 1):
            target = signed_dir / item.clip.path.name
            sign_clip(
                item.clip.path,
                target,
                chain,
                ClipProvenance(
                    export_id=record.id,
                    title=f"{service.device_of(item.items[0].device_id)} "
                    f"{isoformat(item.clip.start)}",
                    recorded_start=item.clip.start,
                    cut_mode=record.cut,
                    requested_start=item.requested_start,
                    requested_end=item.requested_end,
                    sources=[SourceRef(i.id, i.sha256) for i in item.items],
                    redactions=[redactions[i.id] for i in item.items if i.id in redactions],
                ),
            )
            item.clip.path.unlink(missing_ok=True)
            files.append(
                ClipFile(
                    target,
                    item.source_label,
                    item.clip.start,
                    item.clip.seconds,
                    item.requested_start,
                    item.requested_end,
                    tuple(i.id for i in item.items),
                    tuple(sorted({v for i in item.items if (v := masks[i.id]) is not None})),
                    item.clip.reencoded,
                )
            )
            report(CUT_SHARE + SIGN_SHARE * k / len(cuts))
        # 3. package
        draft = ExportDraft(
            export_id=record.id,
            created_at=record.created_at,
            created_by=record.created_by,
            role=self.who.role,
            purpose=record.purpose,
            case_number=record.case_number,
            cut_mode=record.cut,
            sources=tuple(
                SourceItem(
                    media_id=m,
                    sha256=every[m].sha256,
                    size=every[m].size_bytes,
                    start=every[m].recorded_start,
                    end=every[m].recorded_end,
                    mask_version=masks[m],
                    masks_lifted=tuple(lifted.get((every[m].device_id or "", masks[m] or 0), ())),
                    redaction=redactions.get(m),
                    streams_left_out=tuple(s.to_json() for s in left_out.get(m, ())),
                    custody=tuple(
                        CustodyRecord(e.at, e.actor, e.action, dict(e.details))
                        for e in custody.get(m, [])
                    ),
                )
                for m in used
            ),
            gaps=gaps,
            audit=(
                tuple(
                    AuditRecord(
                        a.seq,
                        a.at,
                        a.actor,
                        a.role,
                        a.action,
                        a.target,
                        dict(a.details),
                        a.outcome,
                        a.prev_hash,
                        a.hash,
                    )
                    for a in service.audit_of(used)
                )
                if record.include_audit
                else None
            ),
        )
        signer = load_or_create_signer(service.secrets_dir)
        package = write_package(
            self.folder / f"export-{record.id}.zip",
            draft,
            files,
            signer,
            extras={CA_FILE: chain.ca_pem},
        )
        report(CUT_SHARE + SIGN_SHARE + PACKAGE_SHARE)
        crash("export.after-package")
        # 4. ingest (INV-1): the clips, then the package. The plan goes into the row
        # first, so that a restart can finish steps 4 and 5 from the work folder.
        badges = {every[m].officer_badge for m in used}
        badge = badges.pop() if len(badges) == 1 else None
        sha_of = {c.file: (c.sha256, c.size) for c in package.manifest.clips}
        entries: list[dict[str, Any]] = []
        for item, file in zip(cuts, files, strict=True):
            sha256, size = sha_of[f"clips/{file.path.name}"]
            entries.append(
                {
                    "file": str(file.path.relative_to(self.folder)),
                    "sources": [i.id for i in item.items],
                    "device_id": item.items[0].device_id,
                    "officer_badge": item.items[0].officer_badge,
                    "recorded_at": isoformat(item.clip.start),
                    "recorded_end": isoformat(item.clip.end),
                    "title": f"Export {record.id[:8]}: {file.path.name}",
                    "derived_from": item.items[0].id,
                    "sha256": sha256,
                    "size": size,
                }
            )
        first = every[used[0]]
        entries.append(
            {
                "file": str(package.path.relative_to(self.folder)),
                "sources": list(used),
                "device_id": first.device_id,
                "officer_badge": badge,
                "recorded_at": isoformat(min(c.clip.start for c in cuts)),
                "recorded_end": isoformat(max(c.clip.end for c in cuts)),
                "title": f"Export {record.id[:8]} package: {record.purpose}"[:500],
                "derived_from": first.id,
                "sha256": None,  # the catalog computes it (INV-1); verify.py checks the file
                "size": package.size,
            }
        )
        plan = {"entries": entries, "used": list(used), "clip_names": [f.path.name for f in files]}
        service.note_plan(record.id, plan)
        self.catalogue(plan, ())

    def catalogue(self, plan: dict[str, Any], catalogued: Sequence[str]) -> None:
        """Steps 4 and 5 of ``plan`` (noted in the row by :meth:`run`): ingest each file
        of the work folder not yet ``catalogued`` (the media ids noted so far, in the
        plan's order), then link, hold, custody, audit and ``done``. The job runs it;
        so does the jobs role's start for an export killed in between
        (:meth:`ExportService.recover_interrupted`): what was catalogued is kept, the
        rest is catalogued from the work folder, checked against the signed manifest."""

        service, record = self.service, self.record
        stored: list[tuple[IngestResult, tuple[str, ...]]] = []
        for n, entry in enumerate(plan["entries"]):
            if n < len(catalogued):
                result = service.catalogued_item(catalogued[n])
            else:
                self.held.check()
                result = service.ingestor.ingest(
                    self.folder / entry["file"],
                    service.ingest_request(
                        device_id=entry["device_id"],
                        officer_badge=entry["officer_badge"],
                        recorded_at=dt.datetime.fromisoformat(entry["recorded_at"]),
                        recorded_end=dt.datetime.fromisoformat(entry["recorded_end"]),
                        title=entry["title"],
                        case_number=record.case_number,
                        original_filename=Path(entry["file"]).name,
                        derived_from=entry["derived_from"],
                        expected_sha256=entry["sha256"],
                        expected_size=entry["size"],
                        custody_details={"export_id": record.id},
                    ),
                    self.who,
                    adopt=True,
                )
                service.note_catalogued(record.id, result.media_id)
                crash("export.mid-ingest")
            stored.append((result, tuple(entry["sources"])))
        crash("export.after-ingest")
        # 5. lineage, holds, custody, audit, done: one transaction
        self._finish(stored, stored[-1][0], list(plan["used"]), list(plan["clip_names"]))

    def _finish(
        self,
        stored: list[tuple[IngestResult, tuple[str, ...]]],
        package: IngestResult,
        used: list[str],
        clip_names: list[str],
    ) -> None:
        service, record = self.service, self.record
        now = service.clock.now()
        with service.db.transaction() as s:
            # Finished once: the row goes from running to done first (a writer that
            # finished it meanwhile, e.g. a restart's recovery, makes this one roll back).
            # And only by the runner holding its lease (a stalled one taken over stops).
            claimed = s.execute(
                update(Export)
                .where(
                    Export.id == record.id,
                    Export.state == "running",
                    Export.runner_token == self.held.token,
                )
                .values(state="done")
            )
            if getattr(claimed, "rowcount", 0) != 1:
                raise Conflict(
                    f"export {record.id} is no longer running under this runner's lease "
                    f"(token {self.held.token}): not finished twice"
                )
            # ACC-7, ACC-11: the sources are locked and read fresh before their flags are
            # carried to the copies. A restriction or a privacy flag placed meanwhile is
            # seen here; one placed after waits for this transaction and then finds the
            # copies through the links it commits (a copy's derived_from_id names only its
            # first source). Sorted: exports finishing at once lock shared sources in one
            # order. (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers anyway.)
            lock = s.get_bind().dialect.name == "postgresql"
            sources = {
                m: s.get(MediaItem, m, with_for_update=lock, populate_existing=True)
                for m in sorted(used)
            }
            restricted = any(item is not None and item.restricted for item in sources.values())
            # A copy shows what its sources show: their ACC-11 flag carries over too (the
            # officer who may not play a flagged original may not play its court copy).
            sensitive = any(
                item is not None and item.privacy_sensitive for item in sources.values()
            )
            for item in sources.values():
                if item is not None and not item.evidence:
                    item.evidence = True  # REL-2: the original is held as evidence
                    s.flush()
                    for hook in service.change_hooks:
                        hook(s, item, now)
            for result, links in stored:
                derived = s.get(MediaItem, result.media_id)
                if derived is None:
                    continue
                for source_id in links:
                    if s.get(MediaLink, (derived.id, source_id)) is None:
                        s.add(MediaLink(media_id=derived.id, source_id=source_id))
                derived.evidence = True  # REL-2: and so is the duplicate
                derived.restricted = derived.restricted or restricted  # ACC-7 carries over
                derived.privacy_sensitive = derived.privacy_sensitive or sensitive  # ACC-11
                s.flush()
                for hook in service.change_hooks:
                    hook(s, derived, now)
            for media_id in used:
                s.add(
                    CustodyEvent(
                        media_id=media_id,
                        at=now,
                        actor=record.created_by,
                        action="exported",
                        details={
                            "export_id": record.id,
                            "package_media_id": package.media_id,
                            "purpose": record.purpose,
                            "case_number": record.case_number,
                        },
                    )
                )
            service.audit.append(
                s,
                self.who,
                "media.export",
                f"export:{record.id}",
                details={
                    "package_media_id": package.media_id,
                    "sha256": package.sha256,
                    "size": package.size,
                    "clips": clip_names,
                    "clip_media_ids": [r.media_id for r, _ in stored[:-1]],
                    "source_media_ids": used,
                    "purpose": record.purpose,
                    "case_number": record.case_number,
                    "cut": record.cut,
                },
            )
            row = s.get(Export, record.id)
            assert row is not None
            row.state, row.progress, row.finished_at = "done", 1.0, now
            row.package_media_id, row.sha256, row.size_bytes = (
                package.media_id,
                package.sha256,
                package.size,
            )


def require_room(service: ExportRunner, export_id: str, needed: int) -> None:
    """InsufficientStorage when ``needed`` more bytes in the work folder would leave less
    than the service's ``reserve_bytes`` free ([ingest] upload_min_free_bytes): checked
    before the cut with an estimate, and at each progress step with nothing more (an
    estimate can be short)."""
    store_require_room(
        [service.store.root, service.work_dir],
        needed,
        service.reserve_bytes,
        f"export {export_id}",
    )


def _estimate(sources: Sequence[tuple[ExportSource, Sequence[MediaItem]]]) -> int:
    """About how many bytes the clips of ``sources`` take: each stored item's size times
    the share of its recording the source's range covers."""
    total = 0.0
    for source, items in sources:
        assert source.start is not None and source.end is not None
        for item in items:
            end = item.recorded_end or item.recorded_start + dt.timedelta(
                seconds=item.duration_seconds or 0.0
            )
            span = (end - item.recorded_start).total_seconds()
            covered = (
                min(end, source.end) - max(item.recorded_start, source.start)
            ).total_seconds()
            share = min(1.0, max(0.0, covered / span)) if span > 0 else 1.0
            total += item.size_bytes * share
    return int(total)


def _remux_bytes(sources: Sequence[tuple[ExportSource, Sequence[MediaItem]]]) -> int:
    """About how many bytes the temporary remuxes take at most at once: a source's
    MPEG-TS, AVI or MPEG-PS items (:func:`vms.media.clip.needs_remux`) are each copied
    whole into the work folder, whatever share of them the range covers, and removed
    after that source's cut."""
    return max(
        (sum(i.size_bytes for i in items if needs_remux(i.content_type)) for _, items in sources),
        default=0,
    )


def _mask_version(events: Iterable[Any]) -> int | None:
    """The mask version a recorder segment was stored with (its ``ingested`` custody
    event, written by the recorder's spool); None for items recorded unmasked by
    anything else (uploads) or before versions were kept."""
    for event in events:
        if event.action == "ingested" and "mask_version" in (event.details or {}):
            try:
                return int(event.details["mask_version"])
            except (TypeError, ValueError):
                return None
    return None
