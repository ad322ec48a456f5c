"""Crash recovery of a camera's spool: procedure 5 of docs/design/recording.md.

A spool file left behind by a crash is a fragmented MP4 whose last fragment may be cut
off. Each one, oldest first:

5a. the PyAV adapter (:func:`vms.media.mp4.salvage_mp4`) copies every readable packet,
    from the first keyframe to the first damaged one, into ``salvage/<name>`` (no
    decode, the bytes are unchanged);
5b. read to its end undamaged: the spool file itself is ingested, byte for byte (INV-1),
    and removed after the commit;
5c. cut off: the copy is ingested as the segment over the span it covers (INV-1); after
    the commit the spool file, with its unreadable rest, moves to the media store's
    ``quarantine/recorder/<camera>/`` (audited ``recording.quarantine``);
5d. nothing readable, a name we did not write, or the ingest refuses the bytes: the
    spool file moves to quarantine;
5e. the ingest refused for lack of space: the file stays in the spool for the next
    start (error logged), nothing is lost;
5f. one writer per camera (INV-9): a file recorded under a camera lease token
    (``.f<token>`` in its name) is ingested fenced with that token, so it is catalogued
    only if no other media node has claimed the camera since; the node that claimed it
    back straight from that token (its own next claim, ``fence``) first renames the file
    to its new token, which carries it forward. Otherwise the lease passed through
    another node. If its span lies inside the ``takeover`` gap that node opened and
    closed at its first packet (this node was killed, and dead until after the
    takeover), overlapping no segment and no other gap, it is catalogued there all the
    same and the gap split around it, in the catalog transaction with the lease and gap
    rows locked (``RecordingLog.fill_takeover_gap``; ``taken_over``). Otherwise that
    node may have recorded the same seconds (this one stalled past its lease before it
    was killed), or nothing proves it has not yet (its takeover gap still open): the
    file moves to quarantine like a live segment the fence refused (``superseded``).
    Either way it is no crash gap in the camera's recording, which went on there;
5g. the object store does not answer (``StoreUnavailable``: 503, a timeout, a refused
    connection): nothing was refused of the bytes, so the file stays in the spool
    (before, it was quarantined and never catalogued). A file of the lease this node
    records under has its span written as a ``store_unavailable`` gap, and a whole one
    is handed to the segment writer, which ingests it again when the store answers and
    takes the gap back (:mod:`recorder.pending`); any other waits for the next start.
    Each upload is bounded as a live segment's is (``[store] segment_timeout_seconds``).

Nothing is deleted but a spool file whose bytes are catalogued and our own copy. The
span a crash lost is recorded as one gap by the segment writer, from the last packet
actually written (salvaged segments included) to the first packet of the new run
(OPS-4).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from recorder.pending import KeptSegment
from recorder.recording import RECORDER, RecordingLog
from recorder.spool import SpoolName, segment_request
from vms.db.models import MediaItem
from vms.errors import InsufficientStorage, StoreUnavailable, VMSError
from vms.ingest import Ingestor
from vms.leases import LeaseLost
from vms.media.mp4 import Salvage, salvage_mp4
from vms.store import MediaStore

log = logging.getLogger(__name__)


@dataclass
class SalvageReport:
    """What a start-up salvage found: ``files`` left in the spool, ``segments`` catalogued
    (start, end), ``quarantined`` store paths, ``kept`` files left for the next start,
    ``superseded`` files another node's lease refused (5f), ``taken_over`` files of such
    a lease catalogued in that node's takeover gap (5f, also in ``segments``)."""

    files: int = 0
    segments: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    # Files recorded under a lease another node claimed since (5f), also quarantined.
    superseded: list[str] = field(default_factory=list)
    # Files of a lease another node claimed since, catalogued before its first packet.
    taken_over: list[str] = field(default_factory=list)
    # 5g: whole files of this holder's lease the object store did not take (also in
    # ``kept``), for the segment writer to ingest again when it answers.
    waiting: list[KeptSegment] = field(default_factory=list)


class SpoolSalvage:
    """Procedure 5 for one camera's spool folder (see the module doc); ``fence``: the
    camera lease token this node now records the camera under (None: it does not, or
    no camera ownership)."""

    def __init__(
        self,
        camera_id: str,
        spool: Path,
        ingestor: Ingestor,
        store: MediaStore,
        recording: RecordingLog,
        fence: int | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.spool = spool
        self.ingestor = ingestor
        self.store = store
        self.recording = recording
        self.fence = fence

    def run(self) -> SalvageReport:
        report = SalvageReport()
        for path in sorted(self.spool.glob("*.mp4")):
            report.files += 1
            try:
                name = SpoolName.parse(path.name)
            except ValueError:
                self._quarantine(path, "a spool file name the recorder did not write", report)
                continue
            path, name = self._carried_forward(path, name)
            self._salvage(path, name, report)
        return report

    def _carried_forward(self, path: Path, name: SpoolName) -> tuple[Path, SpoolName]:
        """5f: a file recorded under the token just before the one this node holds now
        was recorded by this node (the spool is its own) and the claim went straight
        from it to this node, no other holder between (a claim is a compare-and-swap
        on the token it read, INV-9): it is renamed to the new token, so a later start
        (the ingest kept it for lack of space, or a crash cut this salvage short) still
        finds it this node's."""
        if self.fence is None or name.fence != self.fence - 1:
            return path, name
        name = dataclasses.replace(name, fence=self.fence)
        target = path.with_name(name.file_name())
        path.rename(target)
        log.info(
            "camera %s: spool file %s -> %s (lease token %d -> %d, no holder between)",
            self.camera_id,
            path.name,
            target.name,
            self.fence - 1,
            self.fence,
        )
        return target, name

    def _salvage(self, path: Path, name: SpoolName, report: SalvageReport) -> None:
        copy = self.spool / "salvage" / path.name
        copy.parent.mkdir(exist_ok=True)
        copy.unlink(missing_ok=True)  # our own copy from an interrupted salvage
        try:
            # A segment continued without a keyframe is copied from its first packet.
            found = salvage_mp4(path, copy, from_start=name.continued)  # 5a
        except VMSError as exc:
            found = Salvage(0, 0.0, False, str(exc))
        if found.packets == 0:
            self._quarantine(path, f"nothing readable: {found.problem}", report)  # 5d
            return
        problem = found.problem or ""
        end = name.start + dt.timedelta(seconds=found.seconds)
        # 5b: the spool file itself when it read to its end; 5c: the copy, also when
        # the ingest's probe saw damage in the whole file that the copy left out.
        candidates = [path, copy] if found.complete else [copy]
        media_id: str | None = None
        for source in candidates:
            if source is copy and found.complete:
                found = Salvage(found.packets, found.seconds, False, problem)
            try:
                media_id, filled = self._ingest(source, name, end, found)
                break
            except InsufficientStorage as exc:  # 5e
                log.error(
                    "camera %s: spool file %s kept for the next start: %s",
                    self.camera_id,
                    path.name,
                    exc,
                )
                report.kept.append(path.name)
                copy.unlink(missing_ok=True)
                return
            except StoreUnavailable as exc:  # 5g: the store is out (or not mounted), bytes fine
                self._wait_for_store(path, name, end, found, str(exc), report)
                copy.unlink(missing_ok=True)
                return
            except LeaseLost as exc:  # 5f
                report.superseded.append(path.name)
                self._quarantine(
                    path,
                    f"recorded under a lease another media node has claimed since: {exc}",
                    report,
                )
                copy.unlink(missing_ok=True)
                return
            except VMSError as exc:
                problem = f"the ingest refused it: {exc}"
                log.warning("camera %s: %s: %s", self.camera_id, source.name, problem)
        if media_id is None:  # 5d
            self._quarantine(path, f"nothing the ingest accepts ({problem})", report)
            copy.unlink(missing_ok=True)
            return
        report.segments.append((name.start, end))
        if filled:
            report.taken_over.append(path.name)
        if found.complete:
            path.unlink(missing_ok=True)  # catalogued byte for byte
        else:
            self._quarantine(path, f"the rest is unreadable: {found.problem}", report)
        copy.unlink(missing_ok=True)
        log.warning(
            "camera %s: salvaged %.1f s of spool file %s -> media %s%s",
            self.camera_id,
            found.seconds,
            path.name,
            media_id,
            "" if found.complete else f" (cut off: {found.problem})",
        )

    def _ingest(
        self, source: Path, name: SpoolName, end: dt.datetime, found: Salvage
    ) -> tuple[str, bool]:
        """The media id, and whether the file filled another node's takeover gap (5f)."""
        filled: list[bool] = []

        def superseded(
            s: Session,
            camera_id: str,
            lost: LeaseLost,
            start: dt.datetime,
            stop: dt.datetime | None,
        ) -> dict[str, str]:
            facts = RecordingLog.fill_takeover_gap(s, camera_id, lost, start, stop)
            filled.append(True)
            return facts

        request = segment_request(
            self.camera_id,
            name,
            end,
            found.packets,
            fence=name.fence,  # 5f, INV-9: None only for a file recorded unfenced
            salvaged="true",
            salvage="whole file" if found.complete else f"readable part: {found.problem}",
        )
        if name.fence is not None:
            request = dataclasses.replace(request, superseded=superseded)
        # A segment kept while the object store did not answer (4a) and still in the
        # spool at the stop: its store_unavailable gap goes with its catalogue (OPS-4).
        camera_id = self.camera_id

        def catalogued(s: Session, item: MediaItem, now: dt.datetime) -> None:
            RecordingLog.take_back_unavailable(s, camera_id, name.start, end)

        request = dataclasses.replace(request, catalogued=catalogued)
        with self.store.bounded_writes():  # a hung store: seconds, not minutes (4a)
            media_id = self.ingestor.ingest(source, request, RECORDER).media_id  # INV-1
        return media_id, bool(filled)

    def _wait_for_store(
        self,
        path: Path,
        name: SpoolName,
        end: dt.datetime,
        found: Salvage,
        why: str,
        report: SalvageReport,
    ) -> None:
        """5g: the object store did not answer (``StoreUnavailable``): nothing was refused
        of the file, which stays in the spool (never quarantined for it). A file of the
        lease this node records under (or of no lease, ownership off) has its span
        written as a ``store_unavailable`` gap, and a whole one is handed to the segment
        writer to ingest again when the store answers (:mod:`recorder.pending`); any
        other waits for the next start, whose salvage decides under 5f."""
        log.error(
            "camera %s: spool file %s kept in the spool until the object store answers: %s",
            self.camera_id,
            path.name,
            why,
        )
        report.kept.append(path.name)
        if name.fence != self.fence:
            return
        try:
            self.recording.unavailable_gap(
                self.camera_id,
                name.start,
                end,
                f"{why}; kept in the spool for retry: {path.name}",
                self.fence,
            )
        except LeaseLost:
            return
        if found.complete:
            details = (("salvaged", "true"), ("salvage", "whole file"))
            report.waiting.append(KeptSegment(path, name, end, found.packets, details))

    def _quarantine(self, path: Path, reason: str, report: SalvageReport) -> None:
        size = path.stat().st_size
        target = self.store.set_aside(path, f"recorder/{self.camera_id}")
        where = str(target.relative_to(self.store.root))
        report.quarantined.append(where)
        self.recording.quarantined(self.camera_id, where, size, reason)
        log.error(
            "camera %s: spool file %s moved to quarantine %s (%s)",
            self.camera_id,
            path.name,
            where,
            reason,
        )
