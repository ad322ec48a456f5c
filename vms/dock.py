"""Dock-folder imports (TAG-5): ``<data_dir>/dock/<device_id>/<file>``.

A docking station or an officer's workstation drops files into the device's folder,
optionally with a sidecar ``<file>.json`` (``source``, ``officer_badge``, ``recorded_at``,
``title``, ``categories``, ``case_number``, ``pre_event_buffer_seconds`` (OPS-2) and
``markers`` (OPS-3: ``[{"kind", "at", "reason"}]``, vms/markers.py)). A file is taken
once it has not changed for ``dock_settle_seconds``; it goes through the single ingest
path (INV-1); the stored copy is then read back and its SHA-256 compared before the dock
copy is removed, so the device copy is erased only after a verified upload. Files that
are refused move to ``<device>/rejected/`` with a ``.error.txt`` saying why: nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from vms.audit.log import SYSTEM_ROLE, Who
from vms.clock import Clock
from vms.db.models import CAPTURE_SOURCES, Device, SourceKind
from vms.errors import (
    Conflict,
    DataLoss,
    FailedPrecondition,
    InsufficientStorage,
    InvalidArgument,
    Unavailable,
    VMSError,
)
from vms.file_modes import PRIVATE_FILE_MODE
from vms.ingest import Ingestor, IngestRequest, Origin
from vms.markers import check_buffer, parse_markers
from vms.recorded_time import parse_recorded_at

log = logging.getLogger(__name__)

# What a file in a device folder that is a symbolic link is told (TAG-5, ACC-1): the bytes
# it leads to are not the device's (another device's original, anything the VMS may read).
_LINK = "a symbolic link, not a file the device wrote: not followed"

DOCK_ACTOR = Who("dock", SYSTEM_ROLE)
SIDECAR = ".json"
REJECTED = "rejected"


@dataclass(frozen=True)
class DockOutcome:
    path: Path
    status: str  # ingested | duplicate | rejected | deferred
    detail: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class DockScanner:
    def __init__(self, root: Path, ingestor: Ingestor, clock: Clock, settle_seconds: float) -> None:
        self.root = root
        self.ingestor = ingestor
        self.clock = clock
        self.settle_seconds = settle_seconds

    def scan(self) -> list[DockOutcome]:
        """Take every settled file once; returns what happened to each."""
        outcomes: list[DockOutcome] = []
        if not self.root.is_dir():
            return outcomes
        now = self.clock.now().timestamp()
        for device_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if device_dir.is_symlink():
                # A link leads out of the dock (into the media store, another device's
                # folder): its files are not the device's, and taking one removes it
                # (INV-2, TAG-5). Left alone, said so.
                log.warning("dock %s: a symbolic link, not a device folder: skipped", device_dir)
                continue
            for path in sorted(device_dir.iterdir()):
                if path.name.startswith(".") or path.suffix == SIDECAR or path.name == REJECTED:
                    continue
                if not path.is_file() and not path.is_symlink():
                    continue
                try:
                    if path.is_symlink():
                        self._reject(path, path.with_name(path.name + SIDECAR), _LINK)
                        outcomes.append(DockOutcome(path, "rejected", _LINK))
                        continue
                    if now - path.stat().st_mtime < self.settle_seconds:
                        continue  # the device may still be writing it
                    outcomes.append(self._take(device_dir.name, path))
                except Exception as exc:
                    # One file must not stop the scan (issue #10.4): the others are
                    # still taken, and this one is tried again next scan.
                    log.exception("dock %s: deferred after an unexpected error", path)
                    outcomes.append(DockOutcome(path, "deferred", f"{type(exc).__name__}: {exc}"))
        return outcomes

    def _source_for(self, device_id: str, sidecar: dict[str, object]) -> SourceKind:
        if "source" in sidecar:
            try:
                source = SourceKind(str(sidecar["source"]))
            except ValueError:
                raise InvalidArgument(f"sidecar source {sidecar['source']!r} is unknown") from None
            if source not in CAPTURE_SOURCES:
                raise InvalidArgument(f"sidecar source {source.value!r} is not a capture source")
            return source
        with self.ingestor.db.session() as s:
            kind = s.execute(select(Device.kind).where(Device.id == device_id)).scalar()
        return SourceKind(kind) if kind else SourceKind.BWC

    def _take(self, device_id: str, path: Path) -> DockOutcome:
        sidecar_path = path.with_name(path.name + SIDECAR)
        try:
            sidecar: dict[str, object] = {}
            if sidecar_path.is_symlink():
                raise InvalidArgument(f"sidecar {sidecar_path.name} is a symbolic link")
            if sidecar_path.exists():
                try:
                    sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
                except ValueError as exc:
                    raise InvalidArgument(
                        f"sidecar {sidecar_path.name} is not JSON: {exc}"
                    ) from None
                if not isinstance(sidecar, dict):
                    raise InvalidArgument(f"sidecar {sidecar_path.name} must be a JSON object")
            recorded = sidecar.get("recorded_at")
            categories = sidecar.get("categories") or []
            if not isinstance(categories, list):
                raise InvalidArgument("sidecar categories must be a list")
            request = IngestRequest(
                source=self._source_for(device_id, sidecar),
                device_id=device_id,
                officer_badge=_str(sidecar.get("officer_badge")),
                recorded_at=parse_recorded_at(recorded) if recorded else None,
                title=_str(sidecar.get("title")),
                categories=tuple(str(c) for c in categories),
                case_number=_str(sidecar.get("case_number")),
                original_filename=path.name,
                custody_details={"dock_path": f"{device_id}/{path.name}"},
                origin=Origin.USER,  # the folder and sidecar are a person's word (#10.1)
                pre_event_buffer_seconds=check_buffer(sidecar.get("pre_event_buffer_seconds")),
                markers=parse_markers(sidecar.get("markers")),  # OPS-3
            )
            result = self.ingestor.ingest(path, request, DOCK_ACTOR)
            store = self.ingestor.store
            if store.hash_of(result.sha256) != result.sha256 or _sha256(path) != result.sha256:
                raise DataLoss(
                    f"verification of {path} failed: the stored copy does not match; "
                    "the dock copy is kept"
                )
        except (InsufficientStorage, Conflict, Unavailable) as exc:
            # No room yet, the device is still writing the file, or a service is down:
            # try again later.
            log.warning("dock %s: deferred, %s", path, exc.message)
            return DockOutcome(path, "deferred", exc.message)
        except (VMSError, ValueError, ArithmeticError) as exc:
            # Refused for good (bad file, bad sidecar, implausible time, a device the
            # dock may not claim; an arithmetic error is a value no rule can handle):
            # to rejected/ with the reason, nothing lost (issue #10.4).
            message = exc.message if isinstance(exc, VMSError) else f"{type(exc).__name__}: {exc}"
            self._reject(path, sidecar_path, message)
            return DockOutcome(path, "rejected", message)
        path.unlink()
        sidecar_path.unlink(missing_ok=True)
        status = "duplicate" if result.duplicate else "ingested"
        log.info("dock %s: %s as %s", path, status, result.media_id)
        return DockOutcome(path, status, result.media_id)

    def _reject(self, path: Path, sidecar: Path, reason: str) -> None:
        target_dir = path.parent / REJECTED
        if target_dir.is_symlink():
            # Moving into it could replace any file it leads to, a stored original
            # among them (INV-2): the file stays, deferred, until a person removes it.
            raise FailedPrecondition(
                f"dock {target_dir} is a symbolic link: {path.name} is not moved into it"
            )
        target_dir.mkdir(exist_ok=True)
        os.replace(path, target_dir / path.name)
        if sidecar.exists() or sidecar.is_symlink():
            os.replace(sidecar, target_dir / sidecar.name)
        # A reason file planted as a link would have the reason written through it.
        error = target_dir / f"{path.name}.error.txt"
        error.unlink(missing_ok=True)
        fd = os.open(error, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(reason + "\n")
        log.warning("dock %s: rejected, %s", path, reason)


def _str(value: object) -> str | None:
    return None if value is None else str(value)
