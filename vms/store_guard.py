"""Is the media folder the store the catalog belongs to? (RET-1, INV-1, INV-3)

The local store often lives on a mount (NFS, a second disk). When that volume is not
mounted, the folder is the bare mount point: every original looks missing. The purge
reads a missing original as one an interrupted run already unlinked and records its
destruction (``file_unlinked`` false) while the footage stays on the volume; the ingest
would write new originals under the mount point, to vanish when the volume comes back.

So the store carries a **marker**, ``<media_dir>/.vms-store-id`` (the installation's store
id), written when the store is first made, and checked before the purge deletes
anything and before the ingest writes (docs/design/storage.md, "Store marker"):

- marker present: the store is there;
- no marker and an empty catalog: a new store, the marker is written;
- no marker, a catalog with items, and the folder holds the original of at least one
  of the catalog's oldest items: an installation from before the marker (an upgrade),
  the marker is written;
- otherwise (a bare mount point, an empty or another folder): :class:`StoreNotThere`
  naming the folder, the ``store_missing`` alarm is raised, and nothing is written.

The S3 store needs none: its bucket is checked by the purge itself (``require_bucket``).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from sqlalchemy import select

from vms import ids
from vms.db.engine import Database
from vms.db.models import MediaItem
from vms.errors import StoreUnavailable
from vms.events import EventBus
from vms.file_modes import private_output
from vms.store import MediaStore, fsync_dir

log = logging.getLogger(__name__)

MARKER_NAME = ".vms-store-id"
# How many of the catalog's oldest items an unmarked folder is looked for (upgrade).
OLDEST_CHECKED = 16
STORE_ALARM_TOPIC = "store.missing"


class StoreNotThere(StoreUnavailable):
    """The media folder is not the catalog's store (not mounted, another folder): a store
    that does not answer, like an object store that does not (the recorder keeps its
    segments in the spool and catalogues them when the volume is back)."""


class StoreGuard:
    """Checks the marker of ``store`` against ``db``'s catalog (the module's rules)."""

    def __init__(self, store: MediaStore, db: Database, events: EventBus) -> None:
        self.store = store
        self.db = db
        self.events = events
        self._alarm = False
        self._lock = threading.Lock()

    @property
    def marker(self) -> Path:
        return self.store.root / MARKER_NAME

    def require(self, doing: str) -> None:
        """Return when the folder is the catalog's store (writing the marker of a new or
        upgraded one); else StoreNotThere naming the folder and ``doing``, with the
        ``store_missing`` alarm raised. RET-1, INV-3: nothing deleted or written then."""
        if self.store.remote is not None:
            return
        if self.marker.is_file():
            self._set_alarm(False, None)
            return
        with self._lock:
            if self.marker.is_file():
                return
            oldest = self._oldest_originals()
            if oldest and not any(self.store.path_for(sha).is_file() for sha in oldest):
                message = (
                    f"media store {self.store.root} is not the store the catalog belongs "
                    f"to: it has no {MARKER_NAME} marker and none of the catalog's oldest "
                    "originals (is its volume mounted?); refused to "
                    f"{doing}: nothing was deleted or written (RET-1, INV-3)"
                )
                log.error(message)
                self._set_alarm(True, message)
                raise StoreNotThere(message, folder=str(self.store.root))
            self._write_marker(upgrade=bool(oldest))
        self._set_alarm(False, None)

    def _oldest_originals(self) -> list[str]:
        with self.db.session() as s:
            return list(
                s.execute(
                    select(MediaItem.sha256).order_by(MediaItem.id).limit(OLDEST_CHECKED)
                ).scalars()
            )

    def _write_marker(self, *, upgrade: bool) -> None:
        self.store.root.mkdir(parents=True, exist_ok=True)
        store_id = ids.new_id()
        with private_output(self.marker) as f:
            f.write(json.dumps({"store_id": store_id}).encode() + b"\n")
        fsync_dir(self.store.root)
        log.warning(
            "media store %s: marker %s written (%s, store id %s)",
            self.store.root,
            MARKER_NAME,
            "an existing store from before the marker" if upgrade else "a new store",
            store_id,
        )

    def _set_alarm(self, active: bool, detail: str | None) -> None:
        if active == self._alarm:
            return
        self._alarm = active
        self.events.publish(
            STORE_ALARM_TOPIC, {"folder": str(self.store.root), "active": active, "detail": detail}
        )
