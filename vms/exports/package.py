"""The export package writer: clips, ``manifest.json``, ``manifest.sig``, ``verify.py``,
``signing-key.pem`` and ``README.txt`` in one ZIP (issue 15, item 4;
docs/design/exports.md, "The package").

Procedure (numbered as in exports.md):

1. the ZIP is written to ``<target>.part`` next to the target;
2. every clip is streamed into it (stored, not compressed: MP4 is already) while its
   SHA-256 is computed in a thread beside the write, so each clip is read once;
3. ``verify.py``, ``README.txt`` and the public key follow, then ``manifest.json``
   listing every file with its size and SHA-256, then ``manifest.sig`` (Ed25519 over
   the manifest's exact bytes);
4. the file is fsynced and renamed to ``target`` (then the folder fsynced): a crash
   leaves at most a ``.part`` file, never a package that looks whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import queue
import threading
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vms.errors import FailedPrecondition
from vms.exports.manifest import (
    AuditRecord,
    ClipRecord,
    FileRecord,
    GapRecord,
    Manifest,
    SourceItem,
    iso,
)
from vms.exports.signing import ExportSigner
from vms.exports.verify import MAX_MANIFEST_BYTES
from vms.faults import crash_point
from vms.store import fsync_dir

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "signing-key.pem"
VERIFIER = "verify.py"
README = "README.txt"
CHUNK = 1 << 20
VERIFIER_SOURCE = Path(__file__).with_name("verify.py")


@dataclass(frozen=True)
class ClipFile:
    """A clip on disk and what the manifest says of it (its hash is computed here)."""

    path: Path
    source: str
    start: dt.datetime
    seconds: float
    requested_start: dt.datetime
    requested_end: dt.datetime
    source_items: tuple[str, ...]
    mask_versions: tuple[int, ...]
    reencoded_frames: int = 0


@dataclass(frozen=True)
class ExportDraft:
    """Everything of the manifest but the files and the key (known when written)."""

    export_id: str
    created_at: dt.datetime
    created_by: str
    role: str
    purpose: str
    case_number: str | None
    cut_mode: str
    sources: tuple[SourceItem, ...]
    gaps: dict[str, tuple[GapRecord, ...]]
    audit: tuple[AuditRecord, ...] | None = None


@dataclass(frozen=True)
class Package:
    """A written package: where, its size, and its manifest. (Its own SHA-256 is the
    catalog's to compute, when the package is ingested as a derived item: INV-1.)"""

    path: Path
    size: int
    manifest: Manifest


def write_package(
    target: Path,
    draft: ExportDraft,
    clips: Sequence[ClipFile],
    signer: ExportSigner,
    extras: Mapping[str, bytes] | None = None,
) -> Package:
    """Write the package of ``clips`` to ``target`` (a ``.zip``), signed by ``signer``
    (see the module doc for the procedure). ``extras``: more files for the recipient
    (name -> bytes, e.g. the C2PA CA certificate ``c2pa-ca.pem``), listed and hashed in
    the manifest like the others."""
    part = target.with_name(target.name + ".part")
    try:
        with part.open("wb") as raw:  # 1.
            manifest = _write_zip(raw, draft, clips, signer, extras or {})
            raw.flush()
            os.fsync(raw.fileno())  # 4.
            size = raw.tell()
        crash_point("export.package-before-rename")
        part.replace(target)
        fsync_dir(target.parent)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return Package(target, size, manifest)


def _write_zip(
    sink: BinaryIO,
    draft: ExportDraft,
    clips: Sequence[ClipFile],
    signer: ExportSigner,
    more: Mapping[str, bytes],
) -> Manifest:
    """Steps 1-3: the members, then the manifest listing them and its signature."""
    files: list[FileRecord] = []
    records: list[ClipRecord] = []
    with zipfile.ZipFile(sink, "w", allowZip64=True) as zf:  # 1.
        for clip in clips:  # 2.
            name = f"clips/{clip.path.name}"
            entry = _stream(zf, name, clip.path)
            files.append(entry)
            records.append(
                ClipRecord(
                    name,
                    entry.sha256,
                    entry.size,
                    clip.source,
                    clip.start,
                    clip.seconds,
                    clip.requested_start,
                    clip.requested_end,
                    clip.source_items,
                    clip.mask_versions,
                    clip.reencoded_frames,
                )
            )
        reserved = {MANIFEST, SIGNATURE, VERIFIER, README, PUBLIC_KEY}
        extras = {  # 3.
            VERIFIER: VERIFIER_SOURCE.read_bytes(),
            README: readme(draft, signer.fingerprint).encode("utf-8"),
            PUBLIC_KEY: signer.public_key_pem(),
            **{name: data for name, data in more.items() if name not in reserved},
        }
        for name, data in extras.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
            files.append(FileRecord(name, hashlib.sha256(data).hexdigest(), len(data)))
        manifest = Manifest(
            draft.export_id,
            draft.created_at,
            draft.created_by,
            draft.role,
            draft.purpose,
            draft.case_number,
            draft.cut_mode,
            signer.fingerprint,
            tuple(records),
            draft.sources,
            draft.gaps,
            tuple(files),
            draft.audit,
        )
        body = manifest.to_bytes()
        if len(body) > MAX_MANIFEST_BYTES:  # INV-8: a package its own verify.py refuses
            raise FailedPrecondition(
                f"the manifest of export {draft.export_id} would be {len(body)} bytes, over "
                f"the verifier's limit of {MAX_MANIFEST_BYTES}: export fewer sources or "
                "without the audit entries"
            )
        zf.writestr(MANIFEST, body, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(SIGNATURE, signer.sign(body))
    return manifest


def _stream(zf: zipfile.ZipFile, name: str, path: Path) -> FileRecord:
    """Copy ``path`` into the ZIP as ``name`` (stored), hashing it on the way: SHA-256 in
    a thread of its own (hashlib lets go of the GIL) beside the ZIP's CRC and the write."""
    blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
    digest = hashlib.sha256()

    def hash_blocks() -> None:
        while (block := blocks.get()) is not None:
            digest.update(block)

    # Everything that can fail before the copy (a clip gone: no mtime) fails before the
    # hasher starts: a hasher never told to stop would hold the process at exit.
    info = zipfile.ZipInfo(name, date_time=_zip_time(path))
    info.compress_type = zipfile.ZIP_STORED
    size = 0
    hasher = threading.Thread(target=hash_blocks, name=f"export-hash-{path.name}", daemon=True)
    hasher.start()
    try:
        with path.open("rb") as src, zf.open(info, "w", force_zip64=True) as dst:
            while block := src.read(CHUNK):
                blocks.put(block)
                dst.write(block)
                size += len(block)
    finally:
        blocks.put(None)
        hasher.join()
    return FileRecord(name, digest.hexdigest(), size)


def _zip_time(path: Path) -> tuple[int, int, int, int, int, int]:
    at = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return (max(at.year, 1980), at.month, at.day, at.hour, at.minute, at.second)


def readme(draft: ExportDraft, fingerprint: str) -> str:
    """The recipient's instructions."""
    case = draft.case_number or "(none)"
    return f"""VMS evidence export {draft.export_id}
Made {iso(draft.created_at)} by {draft.created_by} ({draft.role}) for: {draft.purpose}
Case: {case}

What is in this package
  clips/           the video clips (MP4, H.264), cut from the stored recordings
  manifest.json    what was exported, by whom and why: every clip with its SHA-256 and
                   duration, the stored items it was cut from with their SHA-256 and
                   chain of custody, gaps in the recording, and (if requested) the audit
                   entries of those items with their chain hashes
  manifest.sig     Ed25519 signature of the exact bytes of manifest.json
  signing-key.pem  the agency's export public key
  c2pa-ca.pem      (when present) the agency's C2PA certificate authority: give it to a
                   C2PA reader as trust anchor to check the clips' Content Credentials
  verify.py        a verifier that needs only Python 3 and the cryptography package

How to verify (no VMS software needed)
  python3 -m pip install cryptography
  python3 verify.py                  (in the unpacked folder)
  python3 verify.py PACKAGE.zip      (or on the ZIP itself)
It checks the signature, every file's size and SHA-256, and the audit-chain links, and
prints OK, or FAILED with the first file found wrong (exit status 1).

The signature proves the package is the one the holder of the key made. Compare the
key fingerprint with the one the agency publishes (on the page the package was shared
from, or GET /api/v1/exports/public-key with an account), not only with this file:
  {fingerprint}
(python3 verify.py --fingerprint {fingerprint} checks it for you.)

Without Python: the signature can be checked with OpenSSL 3,
  openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin \\
      -in manifest.json -sigfile manifest.sig
and each file's hash with sha256sum, against the "files" list of manifest.json.

Gaps: a span of the requested range without recording is never bridged. It is listed
under "gaps" in manifest.json, and a clip ends before it and the next starts after it.
"""
