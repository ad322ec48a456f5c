"""Legal holds on stored objects for held media (INV-3 beyond the VMS; issue 13, item 6).

With the S3 media store on a bucket with Object Lock, the original of every held item
(a preservation request or legal hold links it, its retention decision has no expiry,
e.g. an open case, or it is evidence) gets an S3 legal hold on its object versions: the
store itself then refuses to delete them, so even a stolen administrator credential of
the VMS or of the bucket, without the right to lift holds, cannot destroy evidence.

The database stays the authority. :meth:`ObjectHolds.sync` (the ``object-holds`` job of
the jobs role, every SYNC_SECONDS) puts the hold on every held item's object not known
to carry it yet (until then the database's hold protects it from the purge as before);
holds are never lifted here: the purge releases an object's hold right before deleting
it, after deciding again under the row lock that the item is no longer held
(retention/purge.py). An item released from its holds that is not yet expired keeps its
object hold until then, which is harmless.
"""

from __future__ import annotations

import logging

from sqlalchemy import or_, select

from vms.db.engine import Database
from vms.db.models import MediaExpiry, MediaHold, MediaItem
from vms.store import MediaStore

log = logging.getLogger(__name__)

# How often the jobs role applies object holds (seconds), and every how many runs it
# checks again the objects it has already seen held (a hold released by a purge that then
# crashed and whose intent a new hold cancelled must come back).
SYNC_SECONDS = 30.0
FULL_EVERY_RUNS = 20


class ObjectHolds:
    def __init__(self, db: Database, store: MediaStore) -> None:
        self.db = db
        self.store = store
        # Objects this process has seen under a hold (checked again every FULL_EVERY_RUNS).
        self._known: set[str] = set()
        self._runs = 0

    @property
    def active(self) -> bool:
        return self.store.remote is not None and self.store.remote.object_lock()

    def held_sha256s(self) -> set[str]:
        """The SHA-256 of every held item's original (the database's view)."""
        held_by_link = select(MediaHold.media_id).where(MediaHold.released_at.is_(None))
        no_expiry = select(MediaExpiry.media_id).where(MediaExpiry.expires_at.is_(None))
        with self.db.session() as s:
            return set(
                s.execute(
                    select(MediaItem.sha256).where(
                        or_(
                            MediaItem.evidence.is_(True),
                            MediaItem.id.in_(held_by_link),
                            MediaItem.id.in_(no_expiry),
                        )
                    )
                ).scalars()
            )

    def sync(self) -> int:
        """Put a legal hold on the object of every held item that lacks one; returns how
        many objects were newly held. Nothing without S3 Object Lock."""
        if not self.active:
            return 0
        self._runs += 1
        if self._runs % FULL_EVERY_RUNS == 0:
            self._known.clear()
        made = 0
        for sha256 in sorted(self.held_sha256s() - self._known):
            if not self.store.exists(sha256):
                continue  # a purge finished it (a hold meeting an unlinked intent)
            if not self.store.is_held(sha256):
                self.store.hold(sha256)
                made += 1
                log.info("object %s: legal hold off -> on", sha256)
            self._known.add(sha256)
        return made
