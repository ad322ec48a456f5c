"""The export manifest (``manifest.json``): what a package holds and where it came from
(issue 15, item 4; docs/design/exports.md, "The manifest"). Pure: values in, bytes out.

The bytes are canonical (sorted keys, two-space indent, UTF-8, a final newline) so the
same manifest always signs to the same bytes; ``manifest.sig`` signs exactly them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

FORMAT = "vms-export/1"


def iso(at: dt.datetime) -> str:
    """UTC, microseconds, ``Z``: the audit chain's time format."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class CustodyRecord:
    at: dt.datetime
    actor: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "details": self.details,
        }


@dataclass(frozen=True)
class LiftRecord:
    """A privacy mask that was lifted while a source item was recorded (PSCS-1 exception,
    issue 14.6): the item's mask version is the one the lift began."""

    mask: str
    reason: str
    granted_by: str
    starts_at: dt.datetime
    ends_at: dt.datetime  # when it ended (early, or as granted)

    def to_json(self) -> dict[str, Any]:
        return {
            "mask": self.mask,
            "reason": self.reason,
            "granted_by": self.granted_by,
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
        }


@dataclass(frozen=True)
class SourceItem:
    """A stored item a clip was cut from, with its hash and chain of custody."""

    media_id: str
    sha256: str
    size: int
    start: dt.datetime
    end: dt.datetime | None
    mask_version: int | None
    custody: tuple[CustodyRecord, ...] = ()
    # Masks lifted under ``mask_version``: this footage was captured with them unmasked.
    masks_lifted: tuple[LiftRecord, ...] = ()
    # A redacted copy: the redaction it came from (original id, job, method, regions,
    # muted audio, who, when). INV-8: every redaction is recorded in the export.
    redaction: dict[str, Any] | None = None
    # The streams of the stored file the clips do not carry (a second picture, sound,
    # timed data: the cut copies the first picture only); listed when there are any, so
    # a court copy never drops evidence without saying so (REL-2).
    streams_left_out: tuple[dict[str, object], ...] = ()

    def to_json(self) -> dict[str, Any]:
        body = {
            "media_id": self.media_id,
            "sha256": self.sha256,
            "size": self.size,
            "recorded_start": iso(self.start),
            "recorded_end": iso(self.end) if self.end is not None else None,
            "mask_version": self.mask_version,
            "masks_lifted": [lift.to_json() for lift in self.masks_lifted],
            "custody": [c.to_json() for c in self.custody],
        }
        if self.redaction is not None:
            body["redaction"] = self.redaction
        if self.streams_left_out:
            body["streams_left_out"] = [dict(s) for s in self.streams_left_out]
        return body


@dataclass(frozen=True)
class GapRecord:
    start: dt.datetime
    end: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end)}


@dataclass(frozen=True)
class ClipRecord:
    """One clip of the package, as cut (``file`` is its path inside the package)."""

    file: str
    sha256: str
    size: int
    source: str  # camera id or media id the request named
    start: dt.datetime
    seconds: float
    requested_start: dt.datetime
    requested_end: dt.datetime
    source_items: tuple[str, ...]
    mask_versions: tuple[int, ...]
    reencoded_frames: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "size": self.size,
            "source": self.source,
            "start": iso(self.start),
            "duration_seconds": round(self.seconds, 6),
            "requested": {"start": iso(self.requested_start), "end": iso(self.requested_end)},
            "source_items": list(self.source_items),
            "mask_versions": list(self.mask_versions),
            "reencoded_frames": self.reencoded_frames,
        }


@dataclass(frozen=True)
class AuditRecord:
    """An audit entry as the chain holds it (docs/design/audit-chain.md)."""

    seq: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    target: str
    details: dict[str, Any]
    outcome: str
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": iso(self.at),
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "outcome": self.outcome,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class FileRecord:
    path: str
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class Manifest:
    export_id: str
    created_at: dt.datetime
    created_by: str
    role: str
    purpose: str
    case_number: str | None
    cut_mode: str
    key_fingerprint: str
    clips: tuple[ClipRecord, ...]
    sources: tuple[SourceItem, ...]
    gaps: dict[str, tuple[GapRecord, ...]]  # by the request's source (camera/media id)
    files: tuple[FileRecord, ...]
    audit: tuple[AuditRecord, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": FORMAT,
            "export_id": self.export_id,
            "created_at": iso(self.created_at),
            "created_by": {"user": self.created_by, "role": self.role},
            "purpose": self.purpose,
            "case_number": self.case_number,
            "cut_mode": self.cut_mode,
            "signing_key": {"algorithm": "Ed25519", "fingerprint": self.key_fingerprint},
            "clips": [c.to_json() for c in self.clips],
            "sources": [s.to_json() for s in self.sources],
            "gaps": {k: [g.to_json() for g in v] for k, v in self.gaps.items()},
            "files": [f.to_json() for f in self.files],
        }
        if self.audit is not None:
            body["audit"] = [a.to_json() for a in self.audit]
        return body

    def to_bytes(self) -> bytes:
        """The canonical bytes that are signed."""
        text = json.dumps(self.to_json(), sort_keys=True, indent=2, ensure_ascii=False)
        return (text + "\n").encode("utf-8")
