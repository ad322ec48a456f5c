"""``vms backup verify`` and ``vms backup restore`` (docs/design/backup.md).

**Verify** reads a set without changing it: every file the manifest lists has its size
and SHA-256, every original the objects list names is there (``--check-hash``: and hashes
to its name), and a SQLite snapshot names exactly those originals and keeps an intact
audit chain under the set's own audit key. A PostgreSQL dump is checked by its hash; its
chain is verified by the restore, once it is in a database.

**Restore** puts a verified set into an installation that has nothing yet (no catalog
tables, no keys, no originals), so it can never mix two catalogs or overwrite evidence:
keys first, then the database, then the originals (each checked against its name as it
is placed), then the schema brought to this version, the chain verified, and the restore
audited as ``system.restore`` naming the set's manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import inspect, select, update

from vms.audit.log import AuditLog, Who
from vms.backup import snapshot
from vms.backup.convert import converted, sqlite_into_postgresql
from vms.backup.create import SET_ASIDE, STORE_MARKER
from vms.backup.manifest import CHUNK, Manifest, hash_file, object_path, read_objects
from vms.clock import SystemClock
from vms.config import Config
from vms.db.engine import Database, make_engine, sqlite_path
from vms.db.models import ApiToken, AuditEntry, WebSession
from vms.errors import DataLoss, FailedPrecondition
from vms.faults import crash_point
from vms.file_modes import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, restrict_umask
from vms.ingest_copy import PartHashes
from vms.leases import rows_changed
from vms.secrets import load_or_create_key
from vms.services import RESTORING, Services
from vms.store import MediaStore, fsync_dir, open_bucket


@dataclass
class VerifyReport:
    manifest: Manifest
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_set(folder: Path, *, check_hash: bool = False) -> VerifyReport:
    """Check the set in ``folder`` without changing it."""
    manifest = Manifest.read(folder)
    report = VerifyReport(manifest)
    for name, expected in sorted(manifest.files.items()):
        try:
            got = hash_file(folder / name)
        except FileNotFoundError:
            report.problems.append(f"{name}: missing")
            continue
        except (OSError, DataLoss) as exc:
            report.problems.append(f"{name}: unreadable ({exc})")
            continue
        if got != expected:
            report.problems.append(
                f"{name}: altered (size {got.size}, sha256 {got.sha256}; the manifest says "
                f"size {expected.size}, sha256 {expected.sha256})"
            )
    if report.problems:
        return report  # the lists and the snapshot cannot be trusted
    objects = dict(read_objects(folder / manifest.objects_file))
    if len(objects) != manifest.objects or sum(objects.values()) != manifest.object_bytes:
        report.problems.append(f"{manifest.objects_file}: does not match the manifest's counts")
    for sha, size in sorted(objects.items()):
        path = folder / object_path(sha)
        try:
            st = path.lstat()
        except FileNotFoundError:
            report.problems.append(f"original {sha}: missing from the set")
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            report.problems.append(f"original {sha}: size {st.st_size}, expected {size}")
        elif check_hash and hash_file(path).sha256 != sha:
            report.problems.append(f"original {sha}: altered (its bytes do not hash to its name)")
    if manifest.database_kind == "sqlite":
        _verify_sqlite(folder, manifest, objects, report)
    else:
        report.notes.append("PostgreSQL dump: its audit chain is verified when restored")
    for media_id in manifest.missing:
        report.notes.append(f"media {media_id}: its original was missing from the store")
    for media_id in manifest.corrupted:
        report.notes.append(f"media {media_id}: its stored original was corrupted, not copied")
    return report


def _verify_sqlite(
    folder: Path, manifest: Manifest, objects: dict[str, int], report: VerifyReport
) -> None:
    path = folder / manifest.database_file
    described = snapshot.describe_sqlite(path)
    named = set(described.objects)
    if named - set(objects) - _missing_shas(path, manifest):
        report.problems.append(
            f"the snapshot names {len(named - set(objects))} original(s) the set lacks"
        )
    if (described.audit_seq, described.audit_hash) != (manifest.audit_seq, manifest.audit_hash):
        report.problems.append("the snapshot's audit head is not the manifest's")
    key = folder / "secrets" / "audit.key"
    if not key.is_file():
        report.problems.append("secrets/audit.key: not in the set; the chain cannot be checked")
        return
    # Verified on a private copy: SQLite would write to the set's file to open it.
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "catalog.sqlite"
        shutil.copyfile(path, copy)
        db = Database(f"sqlite:///{copy}")
        try:
            audit_key = load_or_create_key(key.parent, key.name)  # there: read, not made
            broken = AuditLog(audit_key, SystemClock()).verify(db)
        finally:
            db.dispose()
    if broken is not None:
        report.problems.append(f"audit chain BROKEN at entry {broken.seq}: {broken.reason}")
    else:
        report.notes.append(f"audit chain intact up to entry {manifest.audit_seq}")


def _missing_shas(path: Path, manifest: Manifest) -> set[str]:
    ids = manifest.missing + manifest.corrupted
    if not ids:
        return set()
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        marks = ",".join("?" * len(ids))
        rows = db.execute(f"SELECT sha256 FROM media_items WHERE id IN ({marks})", ids)
        return {r[0] for r in rows}


@dataclass
class RestoreReport:
    manifest: Manifest
    originals: int = 0
    bytes: int = 0
    audit_break: str | None = None
    credentials_revoked: int = 0  # sessions and API tokens ended by the restore


def restore(config: Config, folder: Path, who: Who, *, check_hash: bool = False) -> RestoreReport:
    """Restore the set in ``folder`` into the empty installation ``config`` describes."""
    verified = verify_set(folder, check_hash=check_hash)
    if not verified.ok:
        raise DataLoss(
            "the backup set failed verification, nothing was restored: "
            + "; ".join(verified.problems[:5])
        )
    manifest = verified.manifest
    url = config.effective_database_url
    kind = snapshot.database_kind(url)
    if kind != manifest.database_kind and (manifest.database_kind, kind) != (
        "sqlite",
        "postgresql",
    ):
        raise FailedPrecondition(
            f"the set holds a {manifest.database_kind} catalog; this installation's database "
            f"is {kind}: restore it into a {manifest.database_kind} installation"
        )
    restrict_umask()
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    store = MediaStore(config.media_dir, open_bucket(config))
    digest = manifest.digest()
    in_progress = config.data_dir / RESTORING
    resuming = _resuming(in_progress, digest)
    if not resuming:
        _require_empty(config, store)
        _write_marker(in_progress, digest)
    report = RestoreReport(manifest)
    _place_files(folder, manifest, "secrets/", config.secrets_dir)
    for group in SET_ASIDE:
        _place_files(folder, manifest, f"media/{group}/", config.media_dir / group)
    crash_point("restore.after-keys")
    _restore_database(folder / manifest.database_file, manifest, kind, url)
    crash_point("restore.after-database")
    store.create_dirs()
    for sha, size in read_objects(folder / manifest.objects_file):
        _place_original(store, folder / object_path(sha), sha)
        report.originals += 1
        report.bytes += size
    marker = f"media/{STORE_MARKER}"
    if marker in manifest.files:
        _place_files(folder, manifest, marker, config.media_dir)
    crash_point("restore.after-originals")
    services = Services.open(config, restoring=True)
    try:
        services.migrate(who)  # an older set's upgrade is the restorer's (ACC-6)
        broken = services.audit.verify(services.db)
        report.audit_break = None if broken is None else f"entry {broken.seq}: {broken.reason}"
        now = services.clock.now()
        with services.db.transaction() as s:
            done = s.execute(
                select(AuditEntry.seq).where(
                    AuditEntry.action == "system.restore",
                    AuditEntry.target == f"backup:{digest[:16]}",
                    AuditEntry.seq > manifest.audit_seq,
                )
            ).first()
            # Sessions and tokens revoked after the set was made would be valid again: end
            # them all (people sign in again; integrations are given new tokens). Not twice:
            # a run cut short after its entry has done both.
            for model in (WebSession, ApiToken) if done is None else ():
                report.credentials_revoked += rows_changed(
                    s, update(model).where(model.revoked_at.is_(None)).values(revoked_at=now)
                )
            if done is None:
                services.audit.append(
                    s,
                    who,
                    "system.restore",
                    f"backup:{manifest.digest()[:16]}",
                    outcome="ok" if broken is None else "chain_broken",
                    details={
                        "folder": str(folder.resolve()),
                        "manifest_sha256": manifest.digest(),
                        "backup_created_at": manifest.created_at,
                        "audit_seq": manifest.audit_seq,
                        "revision": manifest.revision,
                        "items": manifest.items,
                        "originals": report.originals,
                        "missing": manifest.missing,
                        "credentials_revoked": report.credentials_revoked,
                    },
                )
    finally:
        services.close()
    crash_point("restore.after-audit")
    in_progress.unlink()
    fsync_dir(config.data_dir)
    return report


def _resuming(marker: Path, digest: str) -> bool:
    """True when a restore of this same set was cut short here (it is finished now);
    a restore of another set cut short here is refused."""
    try:
        found = marker.read_text().strip()
    except FileNotFoundError:
        return False
    if found != digest:
        raise FailedPrecondition(
            f"a restore of another backup set (manifest {found[:16]}) was cut short in "
            f"{marker.parent}: finish it with that set, or start from an empty installation"
        )
    return True


def _write_marker(marker: Path, digest: str) -> None:
    """Mark the installation as being restored (no role starts on it meanwhile)."""
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as f:
        f.write(digest + "\n")
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(marker.parent)


def _require_empty(config: Config, store: MediaStore) -> None:
    """Nothing of an installation is there yet: no keys, no catalog, no originals."""
    found: list[str] = []
    if config.secrets_dir.is_dir() and any(config.secrets_dir.iterdir()):
        found.append(f"keys in {config.secrets_dir}")
    database = sqlite_path(config.effective_database_url)
    if database is None or database.exists():
        engine = make_engine(config.effective_database_url)
        try:
            if inspect(engine).get_table_names():
                found.append("tables in the database")
        finally:
            engine.dispose()
    if next(iter(store.iter_stored()), None) is not None:
        found.append(f"originals in the store ({store.where('0' * 64).rsplit('/', 4)[0]})")
    if (config.media_dir / STORE_MARKER).exists():
        found.append(f"a store marker in {config.media_dir}")
    if found:
        raise FailedPrecondition(
            "a backup is restored only into an installation that has nothing yet; found "
            + ", ".join(found)
        )


def _place_files(folder: Path, manifest: Manifest, prefix: str, target: Path) -> None:
    """Copy the set's files under ``prefix`` to ``target`` (0600 files, 0700 folders)."""
    for name in sorted(manifest.files):
        if not name.startswith(prefix) and name != prefix:
            continue
        relative = name[len(prefix) :] if name != prefix else Path(name).name
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        if out.exists() and not out.is_symlink() and hash_file(out) == manifest.files[name]:
            continue  # placed by a restore of this set that was cut short
        _copy_private(folder / name, out)
        if hash_file(out) != manifest.files[name]:
            raise DataLoss(f"{out}: the copy does not match the set's {name}")


def _copy_private(source: Path, out: Path) -> None:
    """``source`` copied to ``out`` (replaced: a copy a cut-short run left), owner-only,
    created exclusively without following a link, and fsynced."""
    out.unlink(missing_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as dst, source.open("rb") as src:
        shutil.copyfileobj(src, dst, CHUNK)
        dst.flush()
        os.fsync(dst.fileno())


def _restore_database(dump: Path, manifest: Manifest, kind: str, url: str) -> None:
    if manifest.database_kind == "sqlite" and kind == "postgresql":
        if not converted(url, manifest.audit_seq):  # (a run cut short after it: done)
            sqlite_into_postgresql(dump, url)
        return
    if kind == "sqlite":
        target = sqlite_path(url)
        assert target is not None  # database_kind() said sqlite
        # An empty file _require_empty saw without tables, or one a run cut short made.
        target.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        _copy_private(dump, target)
        return
    engine = make_engine(url)
    try:
        # One transaction: all of the dump is there, or none (a run cut short before).
        if "alembic_version" in inspect(engine).get_table_names():
            return
    finally:
        engine.dispose()
    tool = snapshot.pg_tool("pg_restore")
    target_uri, env = snapshot.libpq(url)
    snapshot.run_pg_tool(
        [
            tool,
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            f"--dbname={target_uri}",
            str(dump),
        ],
        env,
        "pg_restore",
    )


def _place_original(store: MediaStore, source: Path, sha256: str) -> None:
    """Copy one original into the store's temporary folder, check it against its name,
    and place it as the ingest does (INV-1, INV-2: read-only, content-addressed)."""
    store.tmp.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    tmp = store.tmp / f"restore-{sha256}.part"
    tmp.unlink(missing_ok=True)  # a run cut short
    h = hashlib.sha256()
    parts = PartHashes(store.upload_part_bytes) if store.upload_part_bytes else None
    with store.hash_lock(sha256):
        with open(tmp, "xb") as dst, source.open("rb") as src:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                if parts is not None:
                    parts.update(chunk)
                dst.write(chunk)
        if h.hexdigest() != sha256:
            tmp.unlink()
            raise DataLoss(f"the set's original {sha256} does not hash to its name")
        store.place(tmp, sha256, parts=parts.finish() if parts is not None else None)
