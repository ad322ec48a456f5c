"""Segments kept in the spool while the object store does not answer: procedure 4a of
docs/design/recording.md (INV-1, INV-9, OPS-4).

An ingest that fails with :class:`~vms.errors.StoreUnavailable` (the S3 store answered
503, timed out, refused the connection or our key) refused nothing about the segment: the
bytes are fine and only the store is out. The segment writer keeps such a segment in the
node's spool, under its name (start, mask version, lease token), with its span written
as a closed ``store_unavailable`` gap, and :class:`PendingSegments` ingests it again,
oldest first, every ``retry_seconds`` of the writer's own rounds, through the same one
ingest path (INV-1) and fenced with the lease token it was recorded under (INV-9: a
segment whose lease another node has claimed since is refused, and set aside like a
live segment the fence refused). When it is catalogued, the same transaction takes its
gap back out of the timeline (``RecordingLog.take_back_unavailable``, OPS-4). Another
refusal of the bytes moves it to quarantine as before. A file still kept when the
recorder stops stays in the spool for the next start's salvage, which catalogues it
and takes its gap back the same way.

Before, such a segment went to the node-local quarantine and was never catalogued: the
footage was lost to the catalog (never found, held or purged) although its bytes were on
the node.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from recorder.recording import RECORDER, RecordingLog
from recorder.spool import SpoolName, segment_request
from vms.db.models import MediaItem
from vms.errors import InsufficientStorage, StoreUnavailable, VMSError
from vms.ingest import Ingestor
from vms.store import MediaStore

log = logging.getLogger(__name__)

# What the writer does with a kept segment the ingest refused for good: (path, start,
# reason, whether to open a gap for it: never, its span has its gap already).
SetAside = Callable[[Path, dt.datetime, str, bool], None]


@dataclass(frozen=True)
class KeptSegment:
    """A closed spool file the store did not take: its name, end and packet count."""

    path: Path
    name: SpoolName
    end: dt.datetime
    packets: int
    # Facts for its custody event (a crash leftover's ``salvaged``, procedure 5).
    details: tuple[tuple[str, str], ...] = ()


class PendingSegments:
    """One camera's kept segments (see the module doc), retried from the writer's
    thread: :meth:`tick` once a drain round, which tries them every ``retry_rounds``."""

    def __init__(
        self,
        camera_id: str,
        ingestor: Ingestor,
        store: MediaStore,
        set_aside: SetAside,
        retry_rounds: int,
    ) -> None:
        self.camera_id = camera_id
        self.ingestor = ingestor
        self.store = store
        self._set_aside = set_aside
        self._retry_rounds = max(1, retry_rounds)
        self._countdown = self._retry_rounds
        self._kept: collections.deque[KeptSegment] = collections.deque()
        self.catalogued = 0  # kept segments catalogued since the start

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, segment: KeptSegment) -> None:
        self._kept.append(segment)
        self._countdown = self._retry_rounds

    def tick(self) -> None:
        """A drain round of the writer: every ``retry_rounds`` of them, a retry."""
        if not self._kept:
            return
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = self._retry_rounds
            self.retry()

    def retry(self) -> None:
        """Ingest the kept segments, oldest first, until the store fails again."""
        while self._kept:
            segment = self._kept[0]
            try:
                media_id = self._ingest(segment)
            except (StoreUnavailable, InsufficientStorage) as exc:
                log.warning(
                    "camera %s: %d segment(s) still kept in the spool, from %s (%s)",
                    self.camera_id,
                    len(self._kept),
                    segment.name.start.isoformat(),
                    exc,
                )
                return
            except VMSError as exc:
                # Refused for good (LeaseLost: INV-9, another node records this camera
                # since; never catalogued here): to quarantine like a live segment. Its
                # span keeps its store_unavailable gap, written when it was kept.
                self._kept.popleft()
                self._set_aside(
                    segment.path, segment.name.start, f"ingest refused the segment: {exc}", False
                )
                continue
            except Exception as exc:
                log.exception("camera %s: ingest of a kept segment failed", self.camera_id)
                self._kept.popleft()
                self._set_aside(segment.path, segment.name.start, f"ingest failed: {exc}", False)
                continue
            self._kept.popleft()
            segment.path.unlink(missing_ok=True)
            self.catalogued += 1
            log.warning(
                "camera %s: segment %s..%s kept while the store was out -> media %s",
                self.camera_id,
                segment.name.start.isoformat(),
                segment.end.isoformat(),
                media_id,
            )

    def _ingest(self, segment: KeptSegment) -> str:
        camera_id = self.camera_id

        def catalogued(s: Session, item: MediaItem, now: dt.datetime) -> None:
            RecordingLog.take_back_unavailable(s, camera_id, segment.name.start, segment.end)

        request = segment_request(
            camera_id,
            segment.name,
            segment.end,
            segment.packets,
            fence=segment.name.fence,
            **dict(segment.details),
        )
        request = dataclasses.replace(request, catalogued=catalogued)
        with self.store.bounded_writes():
            return self.ingestor.ingest(segment.path, request, RECORDER).media_id  # INV-1
