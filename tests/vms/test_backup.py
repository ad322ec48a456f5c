"""Backup sets and their restore (docs/design/backup.md), on SQLite and PostgreSQL, local
store and S3: a set is a consistent, verifiable copy; a restore gives back every item,
its bytes and an intact audit chain (INV-1, INV-2, INV-4), only into an empty
installation; originals purged since the last set leave the set (RET-1)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from retention.commands import NewLegalHold
from retention.plugin import get as retention_of
from tests.conftest import BACKENDS, _pg_admin, _pg_url, make_config, s3_overrides
from tests.retention.conftest import DAY, WHO, all_ids, document, ingest
from tests.vms.test_crash_safety import run_cli
from tests.vms.test_migration_upgrades import audited, schema_at
from vms.auth.permissions import Actor
from vms.backup.create import make_backup
from vms.backup.manifest import MANIFEST, object_path
from vms.backup.restore import restore, verify_set
from vms.backup.snapshot import libpq
from vms.check import Level, check
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import AuditEntry, LegalHold, MediaItem, SourceKind, User
from vms.errors import Conflict, DataLoss, FailedPrecondition, InvalidArgument
from vms.services import Services


@pytest.fixture
def target(config: Config, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Config]:
    """A new, empty installation on the same database backend and store kind."""
    data_dir = tmp_path / "restored"
    extra: dict[str, str] = {}
    if config.store.backend == "s3":
        extra = s3_overrides(request.getfixturevalue("seaweedfs"))
    if config.effective_database_url.startswith("sqlite"):
        yield make_config(data_dir, f"sqlite:///{data_dir / 'vms.db'}", **extra)
        return
    name = f"vms_restore_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_config(data_dir, _pg_url(name), **extra)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def items(services: Services) -> dict[str, str]:
    with services.db.session() as s:
        return dict(s.execute(select(MediaItem.id, MediaItem.sha256)).all())


def actions(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


@pytest.mark.parametrize("store_backend", ["local", "s3"], indirect=True)
def test_backup_then_restore_gives_back_every_item_and_an_intact_chain_INV_4(
    services: Services, clock: ManualClock, target: Config, tmp_path: Path
) -> None:
    first = ingest(services, recorded_at=clock.now() - DAY)
    second = ingest(services, source=SourceKind.BWC, device="BWC-7", recorded_at=clock.now())
    before = items(services)
    with services.db.session() as s:
        admin = services.users.actor_for(s, s.execute(select(User)).scalars().first())
    token = services.users.issue_token(admin).token
    folder = tmp_path / "set"

    report = make_backup(services, folder, WHO)
    services.users.revoke_token(admin, token)  # revoked after the set was made

    assert report.complete and report.copied == 2 and report.kept == 0
    assert report.manifest.items == 2 and report.manifest.objects == 2
    [entry] = actions(services, "system.backup")
    assert entry.details["manifest_sha256"] == report.manifest_sha256
    verified = verify_set(folder, check_hash=True)
    assert verified.ok, verified.problems

    restored = restore(target, folder, WHO)

    assert restored.audit_break is None and restored.originals == 2
    assert restored.credentials_revoked >= 1
    again = Services.open(target, clock=clock)  # the token's own clock: not expired
    try:
        assert items(again) == before and {first, second} == set(before)
        for sha in before.values():
            assert b"".join(again.store.read(sha)) == b"".join(services.store.read(sha))
        assert again.audit.verify(again.db) is None
        assert check(again.db, again.store, Level.HASH).clean
        [done] = actions(again, "system.restore")
        assert done.details["manifest_sha256"] == report.manifest_sha256
        assert done.details["audit_seq"] == report.manifest.audit_seq
        assert not actions(again, "system.backup")  # made after the snapshot
        # The token revoked after the set was made does not come back to life.
        assert again.users.authenticate_token(token) is None
    finally:
        again.close()


def test_a_second_set_copies_only_new_originals_and_drops_purged_ones_RET_1(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    old = ingest(services, recorded_at=clock.now() - 29 * DAY)
    ingest(services, recorded_at=clock.now())
    folder = tmp_path / "set"
    make_backup(services, folder, WHO)
    old_sha = items(services)[old]
    assert (folder / object_path(old_sha)).is_file()

    clock.advance(2 * DAY)  # the street camera's 30 days are over for the old segment
    assert retention_of(services).purger.run().purged == 1
    new = ingest(services, recorded_at=clock.now(), data=document("new"))
    report = make_backup(services, folder, WHO)

    assert (report.copied, report.kept, report.pruned) == (1, 1, 1)
    assert not (folder / object_path(old_sha)).exists()  # not kept past its retention
    assert (folder / object_path(items(services)[new])).is_file()
    assert len(list((folder / "database").iterdir())) == 1  # the earlier snapshot went
    assert verify_set(folder, check_hash=True).ok
    assert old not in all_ids(services)


def test_the_set_is_private_keys_and_originals_INV_2(services: Services, tmp_path: Path) -> None:
    ingest(services, recorded_at=services.clock.now())
    folder = tmp_path / "set"
    make_backup(services, folder, WHO)

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    keys = list((folder / "secrets").iterdir())
    assert any(k.name == "audit.key" for k in keys)
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    objects = [p for p in (folder / "media" / "objects").rglob("*") if p.is_file()]
    assert objects and all(stat.S_IMODE(p.stat().st_mode) == 0o400 for p in objects)
    assert stat.S_IMODE((folder / MANIFEST).stat().st_mode) == 0o600


def test_verify_names_an_altered_original_a_missing_one_and_an_altered_snapshot(
    services: Services, tmp_path: Path, target: Config
) -> None:
    ingest(services, recorded_at=services.clock.now())
    ingest(services, recorded_at=services.clock.now())
    folder = tmp_path / "set"
    make_backup(services, folder, WHO)
    altered, removed = sorted(items(services).values())
    path = folder / object_path(altered)
    os.chmod(path, 0o600)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size: only hashing finds it
    path.write_bytes(bytes(data))
    (folder / object_path(removed)).unlink()

    assert [p for p in verify_set(folder).problems] == [f"original {removed}: missing from the set"]
    problems = verify_set(folder, check_hash=True).problems
    assert f"original {altered}: altered (its bytes do not hash to its name)" in problems

    manifest = json.loads((folder / MANIFEST).read_text())
    snapshot = folder / manifest["database_file"]
    with snapshot.open("ab") as f:
        f.write(b"\0")
    [problem] = verify_set(folder).problems
    assert problem.startswith(f"{manifest['database_file']}: altered")
    with pytest.raises(DataLoss, match="failed verification, nothing was restored"):
        restore(target, folder, WHO)
    assert not target.secrets_dir.exists() and not (target.media_dir / "objects").exists()


def test_a_tampered_chain_in_the_snapshot_is_found_INV_4(
    services: Services, tmp_path: Path
) -> None:
    if services.db.dialect != "sqlite":
        pytest.skip("a PostgreSQL dump's chain is verified at restore (the first test)")
    ingest(services, recorded_at=services.clock.now())
    folder = tmp_path / "set"
    make_backup(services, folder, WHO)
    manifest = json.loads((folder / MANIFEST).read_text())
    import sqlite3

    snapshot = folder / manifest["database_file"]
    with sqlite3.connect(snapshot) as db:
        db.execute("UPDATE audit_entries SET target = 'media:someone-else' WHERE seq = 1")
    # The one who changed it also wrote the file's new hash into the manifest.
    from vms.backup.manifest import hash_file

    entry = hash_file(snapshot)
    manifest["files"][manifest["database_file"]] = {"size": entry.size, "sha256": entry.sha256}
    (folder / MANIFEST).write_text(json.dumps(manifest))

    [problem] = verify_set(folder).problems
    assert problem.startswith("audit chain BROKEN at entry 1")


def test_restore_refuses_an_installation_that_has_anything(
    services: Services, tmp_path: Path, target: Config
) -> None:
    ingest(services, recorded_at=services.clock.now())
    folder = tmp_path / "set"
    make_backup(services, folder, WHO)
    live = Services.open(target)  # keys and a migrated catalog
    live.migrate()
    live.close()
    key = (target.secrets_dir / "audit.key").read_bytes()

    with pytest.raises(FailedPrecondition, match=r"has nothing yet; found keys in .*tables"):
        restore(target, folder, WHO)
    assert (target.secrets_dir / "audit.key").read_bytes() == key


def test_a_folder_that_is_not_a_set_or_another_installations_set_is_refused(
    services: Services, tmp_path: Path, target: Config
) -> None:
    ingest(services, recorded_at=services.clock.now())
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(InvalidArgument, match="not empty and holds no backup set"):
        make_backup(services, stray, WHO)
    assert (stray / "notes.txt").read_text() == "mine"

    folder = tmp_path / "set"
    make_backup(services, folder, WHO)
    other = Services.open(target)
    other.migrate()
    try:
        ingest(other, recorded_at=other.clock.now(), device="CAM-9")
        with pytest.raises(FailedPrecondition, match="does not continue"):
            make_backup(other, folder, WHO)
    finally:
        other.close()
    assert verify_set(folder).ok  # the first installation's set is untouched


def test_one_writer_per_set_and_a_first_set_cut_short_is_finished(
    services: Services, tmp_path: Path
) -> None:
    ingest(services, recorded_at=services.clock.now())
    folder = tmp_path / "set"
    # What a first run killed before its manifest leaves: our folders, a snapshot, a list.
    (folder / "database").mkdir(parents=True)
    (folder / "database" / "catalog-x-1.sqlite").write_bytes(b"half")
    (folder / "objects-x.txt").write_text("")
    (folder / "media" / "tmp").mkdir(parents=True)
    (folder / "media" / "tmp" / f"{'a' * 64}.part").write_bytes(b"half")
    with (folder / ".lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(Conflict, match="another backup is writing the set"):
            make_backup(services, folder, WHO)
    report = make_backup(services, folder, WHO)
    assert report.complete and verify_set(folder, check_hash=True).ok
    assert [p.name for p in (folder / "database").iterdir()] == [report.manifest.database_file[9:]]
    assert not list((folder / "media" / "tmp").iterdir())


def test_a_manifest_naming_paths_outside_the_set_is_refused(
    services: Services, tmp_path: Path
) -> None:
    folder = tmp_path / "set"
    make_backup(services, folder, WHO)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"]["../../outside"] = {"size": 1, "sha256": "0" * 64}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(InvalidArgument, match=re.escape("unsafe path in the set: '../../outside'")):
        verify_set(folder)


def test_an_original_missing_from_the_store_makes_the_set_incomplete_not_wrong(
    services: Services, tmp_path: Path
) -> None:
    kept = ingest(services, recorded_at=services.clock.now())
    lost = ingest(services, recorded_at=services.clock.now())
    path = services.store.path_for(items(services)[lost])
    os.chmod(path.parent, 0o700)
    path.unlink()

    report = make_backup(services, tmp_path / "set", WHO)

    assert not report.complete and report.manifest.missing == [lost]
    assert report.manifest.objects == 1
    assert actions(services, "system.backup")[0].outcome == "incomplete"
    verified = verify_set(tmp_path / "set")
    assert verified.ok and f"media {lost}: its original was missing from the store" in (
        verified.notes
    )
    assert kept in items(services)


def test_the_database_password_never_reaches_a_command_line() -> None:
    uri, env = libpq("postgresql+psycopg://vms:s3cret@db.example:5432/vms?sslmode=require")
    assert "s3cret" not in uri and uri.startswith("postgresql://vms@db.example:5432/vms")
    assert env["PGPASSWORD"] == "s3cret"


def test_the_commands_create_verify_and_restore(
    config: Config, target: Config, tmp_path: Path
) -> None:
    clip = tmp_path / "doc.pdf"
    clip.write_bytes(document("cli"))
    r = run_cli(config, "ingest", str(clip), "--source", "bwc", "--device", "BWC-1", "--json")
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "set"
    r = run_cli(config, "backup", "create", str(folder))
    assert r.returncode == 0, r.stderr
    assert "1 copied" in r.stdout and "audited as system.backup" in r.stdout
    r = run_cli(config, "backup", "verify", str(folder), "--check-hash")
    assert r.returncode == 0 and "backup set intact (originals hashed)" in r.stdout, r.stderr
    r = run_cli(target, "backup", "restore", str(folder))
    assert r.returncode == 0, r.stderr
    assert "audit chain intact" in r.stdout
    r = run_cli(target, "media", "list", "--json")
    assert [i["device_id"] for i in json.loads(r.stdout)] == ["BWC-1"]
    r = run_cli(target, "backup", "restore", str(folder))
    assert r.returncode == 6 and "has nothing yet" in r.stderr
    r = run_cli(config, "backup", "verify", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "is not a backup set" in r.stderr


@pytest.mark.parametrize(
    "point",
    [
        "restore.after-keys",
        "restore.after-database",
        "restore.after-originals",
        "restore.after-audit",
    ],
)
def test_a_restore_killed_at_any_step_is_finished_by_running_it_again_INV_1(
    services: Services, target: Config, tmp_path: Path, point: str
) -> None:
    ingest(services, recorded_at=services.clock.now())
    folder = tmp_path / "set"
    make_backup(services, folder, WHO)

    r = run_cli(target, "backup", "restore", str(folder), crash_at=point)
    assert r.returncode == -9, r.stderr
    # No role starts on a catalog whose originals or keys may not be there yet.
    r = run_cli(target, "media", "list", "--json")
    assert r.returncode == 6 and "restore into" in r.stderr and "was cut short" in r.stderr
    r = run_cli(target, "backup", "restore", str(folder))
    assert r.returncode == 0, r.stderr

    again = Services.open(target)
    try:
        assert items(again) == items(services)
        assert again.audit.verify(again.db) is None
        assert check(again.db, again.store, Level.HASH).clean
        assert len(actions(again, "system.restore")) == 1
    finally:
        again.close()


@pytest.mark.parametrize("into", ["postgresql"])  # (the rest tier: a PostgreSQL server)
def test_a_sqlite_set_restored_into_postgresql_is_the_same_catalog_and_grows_on_INV_4(
    services: Services,
    actors: dict[str, Actor],
    clock: ManualClock,
    tmp_path: Path,
    into: str,
) -> None:
    if services.db.dialect != "sqlite" or into not in BACKENDS:
        pytest.skip("a SQLite installation moving onto PostgreSQL")
    media = ingest(services, recorded_at=clock.now())
    ingest(services, source=SourceKind.BWC, device="BWC-3", recorded_at=clock.now())
    retention_of(services).legal_holds.create(
        actors["commander"], NewLegalHold("LH-9", "claim", (media,))
    )
    services.users.issue_token(actors["commander"])
    folder = tmp_path / "set"
    make_backup(services, folder, WHO)
    name = f"vms_grow_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        target = make_config(tmp_path / "pg-install", _pg_url(name))

        assert restore(target, folder, WHO).audit_break is None

        grown = Services.open(target, clock=clock)
        try:
            assert grown.db.dialect == "postgresql"
            assert items(grown) == items(services)
            assert grown.audit.verify(grown.db) is None  # every audited row unchanged
            assert check(grown.db, grown.store, Level.HASH).clean
            with grown.db.session() as s:
                assert s.execute(select(LegalHold.reference)).scalars().all() == ["LH-9"]
            # It grows on: new rows take ids after the copied ones (sequences moved on).
            grown.users.issue_token(actors["commander"])
            ingest(grown, recorded_at=clock.now(), data=document("after"))
            assert grown.audit.verify(grown.db) is None
        finally:
            grown.close()
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("into", ["postgresql"])
@pytest.mark.parametrize("point", ["restore.after-keys", "restore.after-database"])
def test_a_move_onto_postgresql_killed_midway_is_finished_by_running_it_again(
    services: Services, clock: ManualClock, tmp_path: Path, into: str, point: str
) -> None:
    if services.db.dialect != "sqlite" or into not in BACKENDS:
        pytest.skip("a SQLite installation moving onto PostgreSQL")
    ingest(services, recorded_at=clock.now())
    folder = tmp_path / "set"
    make_backup(services, folder, WHO)
    name = f"vms_grow_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        target = make_config(tmp_path / "pg-install", _pg_url(name))
        r = run_cli(target, "backup", "restore", str(folder), crash_at=point)
        assert r.returncode == -9, r.stderr
        r = run_cli(target, "backup", "restore", str(folder))
        assert r.returncode == 0, r.stderr
        grown = Services.open(target, clock=clock)
        try:
            assert items(grown) == items(services)
            assert grown.audit.verify(grown.db) is None
            assert len(actions(grown, "system.restore")) == 1
        finally:
            grown.close()
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_restoring_an_older_schema_audits_its_upgrade_as_the_restorer_ACC_6(
    tmp_path: Path,
) -> None:
    """A set made before a package upgrade is restored, then migrated to this code's
    schema: that upgrade (which may change records: 0041) was audited as
    ``vms-upgrade``, a role's start, not as the person restoring (ACC-6, PSCS-5)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    schema_at(url, "0040")
    old = Services.open(make_config(tmp_path / "old", url))
    try:
        old.store.create_dirs()
        assert make_backup(old, tmp_path / "set", WHO).complete
    finally:
        old.close()
    restored = tmp_path / "restored"
    restore(make_config(restored, f"sqlite:///{restored / 'vms.db'}"), tmp_path / "set", WHO)
    assert audited(f"sqlite:///{restored / 'vms.db'}") == [
        (WHO.name, "schema.upgrade"),
        (WHO.name, "system.restore"),
    ]
