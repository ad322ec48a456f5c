"""The schema comes from the migrations, and they agree with the models (`alembic check`)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from tests.conftest import BACKENDS, _pg_admin, _pg_url
from vms.db.engine import Database
from vms.db.models import AuditMention
from vms.migrations import check, upgrade
from vms.services import Services


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"vms_mig_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def old_catalog(url: str, revision: str) -> Iterator[Database]:
    """A catalog migrated to ``revision`` only, with one device ``D``."""
    db = Database(url)
    try:
        upgrade(db.engine, revision)
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO devices (id, kind, name, created_at) "
                "VALUES ('D', 'bwc', 'D', '2026-01-01 00:00:00')"
            )
        yield db
    finally:
        db.dispose()


def test_models_and_migrations_agree(services: Services) -> None:
    upgrade(services.db.engine)  # idempotent at head
    check(services.db.engine)  # raises when autogenerate would produce a new revision


def _items(db: Database, rows: Iterable[tuple[str, str, str]]) -> None:
    """Catalogue items (id, media_type, content_type) of device ``D`` by SQL."""
    with db.engine.begin() as conn:
        for media_id, media_type, content_type in rows:
            conn.exec_driver_sql(
                "INSERT INTO media_items (id, source, media_type, content_type, device_id,"
                " recorded_start, size_bytes, sha256, evidence, restricted, ingested_at,"
                " ingested_by, recorded_start_origin) VALUES"
                f" ('{media_id}', 'bwc', '{media_type}', '{content_type}', 'D',"
                f" '2026-02-03 04:05:06', 1, 'ab{media_id}', FALSE, FALSE,"
                " '2026-02-03 04:05:06', 't', 'ingest')"
            )


def test_category_time_backfill_0007(empty_url: str) -> None:
    """Upgrading a catalog with categorised items copies their recorded start."""
    with old_catalog(empty_url, "0006") as db:
        _items(db, [("m1", "video", "video/mp4")])
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO media_categories (media_id, category) VALUES ('m1', 'Eviction')"
            )
        upgrade(db.engine)
        with db.engine.connect() as conn:
            value = conn.execute(sa.text("SELECT recorded_start FROM media_categories")).scalar()
        assert str(value).startswith("2026-02-03 04:05:06")
        check(db.engine)


def test_expiry_moves_to_its_own_table_0008_and_nothing_referencing_items_is_lost(
    empty_url: str,
) -> None:
    """0008 rebuilds media_items on SQLite: stored expiries move to media_expiry, and the
    rows that reference items (categories, custody) survive the rebuild (foreign keys
    are off during migrations, or dropping the old table would cascade into them)."""
    with old_catalog(empty_url, "0007") as db:
        with db.engine.begin() as conn:
            for media_id, expires, rule in (
                ("m1", "'2026-05-04 04:05:06'", "'RET-4 bwc 90 days'"),
                ("m2", "NULL", "'RET-10 legal hold LH-1'"),
                ("m3", "NULL", "NULL"),  # never computed
            ):
                conn.exec_driver_sql(
                    "INSERT INTO media_items (id, source, media_type, content_type, device_id,"
                    " recorded_start, size_bytes, sha256, evidence, restricted, ingested_at,"
                    " ingested_by, recorded_start_origin, expires_at, retention_rule) VALUES"
                    f" ('{media_id}', 'bwc', 'video', 'video/mp4', 'D', '2026-02-03 04:05:06',"
                    f" 1, 'ab{media_id}', FALSE, FALSE, '2026-02-03 04:05:06', 't', 'ingest',"
                    f" {expires}, {rule})"
                )
            conn.exec_driver_sql(
                "INSERT INTO media_categories (media_id, category, recorded_start)"
                " VALUES ('m1', 'Eviction', '2026-02-03 04:05:06')"
            )
            conn.exec_driver_sql(
                "INSERT INTO custody_events (media_id, at, actor, action, details)"
                " VALUES ('m1', '2026-02-03 04:05:06', 't', 'ingest', '{}')"
            )
        upgrade(db.engine)
        with db.engine.connect() as conn:
            expiries = conn.execute(
                sa.text("SELECT media_id, expires_at, retention_rule FROM media_expiry ORDER BY 1")
            ).all()
            categories = conn.execute(sa.text("SELECT count(*) FROM media_categories")).scalar()
            custody = conn.execute(sa.text("SELECT count(*) FROM custody_events")).scalar()
            sqlite = conn.dialect.name == "sqlite"
            enforced = conn.exec_driver_sql("PRAGMA foreign_keys").scalar() if sqlite else 1
        assert [(m, str(e)[:19] if e else None, r) for m, e, r in expiries] == [
            ("m1", "2026-05-04 04:05:06", "RET-4 bwc 90 days"),
            ("m2", None, "RET-10 legal hold LH-1"),
        ]
        assert categories == 1 and custody == 1
        assert enforced == 1  # the pooled connection has enforcement back on
        check(db.engine)


BREAKING = '''"""a broken migration (test only): leaves a row that references no item

Revision ID: 9999
Revises: {head}
"""

from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO media_categories (media_id, category, recorded_start)"
        " VALUES ('no-such-item', 'Eviction', '2026-01-01 00:00:00')"
    )


def downgrade() -> None:
    pass
'''


def test_a_migration_that_breaks_foreign_keys_is_rolled_back_whole_on_sqlite(
    tmp_path: Path,
) -> None:
    """SQLite migrations run with enforcement off (table rebuilds would cascade), so the
    check afterwards must be able to undo them: all of them, not only the last."""
    import shutil

    from alembic import command
    from alembic.script import ScriptDirectory

    from vms.migrations import HERE, alembic_config

    scripts = tmp_path / "migrations"
    shutil.copytree(HERE, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    with old_catalog(f"sqlite:///{tmp_path / 'old.db'}", "0006") as db:
        cfg = alembic_config(db.engine)
        head = ScriptDirectory.from_config(cfg).get_current_head()
        (scripts / "versions" / "9999_broken.py").write_text(BREAKING.format(head=head))
        cfg.set_main_option("script_location", str(scripts))
        with pytest.raises(RuntimeError, match="broken foreign keys"):
            command.upgrade(cfg, "head")
        with db.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            orphans = conn.execute(sa.text("SELECT count(*) FROM media_categories")).scalar()
            tables = set(sa.inspect(conn).get_table_names())
            enforced = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
        assert version == "0006" and orphans == 0
        assert "media_expiry" not in tables  # 0007 and 0008 were undone with it
        assert enforced == 1


def test_mentions_of_older_entries_are_built_by_the_migration(empty_url: str) -> None:
    """Entries written before 0022 get their mentions from their chained details."""
    with old_catalog(empty_url, "0021") as db:
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO audit_entries (seq, at, actor, role, action, target, details,"
                    " outcome, prev_hash, hash) VALUES (:seq, '2026-01-01 00:00:00', 'u', 'r',"
                    " 'case.view', 'case:C1', :details, 'ok', 'p', 'h')"
                ),
                [
                    {"seq": 1, "details": '{"media_ids":["m1","m2"],"bookmark_ids":[7]}'},
                    {"seq": 2, "details": "not json"},
                    {"seq": 3, "details": '{"media_id":"m1"}'},
                ],
            )
        upgrade(db.engine)
        with db.session() as s:
            rows = s.execute(select(AuditMention.target, AuditMention.seq)).all()
    assert sorted(rows) == [("bookmark:7", 1), ("media:m1", 1), ("media:m1", 3), ("media:m2", 1)]


def _content_types(db: Database) -> dict[str, str]:
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, content_type FROM media_items")).all())


@pytest.mark.parametrize(
    ("before", "rows", "after"),
    [
        pytest.param(
            "0037",
            [
                ("a1", "audio", "video/mp4"),
                ("a2", "audio", "video/x-matroska"),
                ("a3", "audio", "audio/mpeg"),
                ("v1", "video", "video/mp4"),
            ],
            {"a1": "audio/mp4", "a2": "audio/x-matroska", "a3": "audio/mpeg", "v1": "video/mp4"},
            id="0038-sound-in-video-containers",
        ),
        pytest.param(
            "0038",
            [
                ("v1", "video", "audio/ogg"),
                ("a1", "audio", "audio/ogg"),
                ("v2", "video", "video/x-matroska"),
            ],
            {"v1": "video/ogg", "a1": "audio/ogg", "v2": "video/x-matroska"},
            id="0039-video-in-ogg",
        ),
    ],
)
def test_content_types_say_what_the_items_hold_0038_0039(
    empty_url: str, before: str, rows: list[tuple[str, str, str]], after: dict[str, str]
) -> None:
    """0038: items catalogued as sound under a video container type (the probe's type
    before) are listed as ``audio/``. 0039: videos catalogued as ``audio/ogg`` (the
    probe's type of every Ogg file before) are ``video/ogg``. Other items are left
    alone."""
    with old_catalog(empty_url, before) as db:
        _items(db, rows)
        upgrade(db.engine)
        assert _content_types(db) == after
        check(db.engine)


def test_restrictions_at_approval_are_read_from_the_chain_of_custody_0040_ACC_7(
    empty_url: str,
) -> None:
    """0040: an item of an approved request that is restricted now counts as restricted
    at the approval (its links keep serving it), unless a ``restricted`` custody event
    after the decision says it was restricted since (its links stop, ACC-7). Requests not
    yet approved get their answer at approval."""
    with old_catalog(empty_url, "0039") as db:
        _items(db, [(m, "video", "video/mp4") for m in ("before", "since", "open")])
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE media_items SET restricted = TRUE WHERE id IN ('before', 'since')"
            )
            for rid, state, decided in (
                ("r1", "released", "'2026-03-01 10:00:00'"),
                ("r2", "received", "NULL"),
            ):
                conn.exec_driver_sql(
                    "INSERT INTO release_requests (id, kind, request_number, requester_name,"
                    " received_at, legal_basis, state, created_at, created_by, decided_at,"
                    f" secondary_copy) VALUES ('{rid}', 'foia', '{rid}', 'R',"
                    f" '2026-03-01 09:00:00', 'law', '{state}', '2026-03-01 09:00:00', 'a',"
                    f" {decided}, FALSE)"
                )
                for n, media_id in enumerate(("before", "since", "open"), start=1):
                    conn.exec_driver_sql(
                        "INSERT INTO release_items (release_id, position, media_id)"
                        f" VALUES ('{rid}', {n}, '{media_id}')"
                    )
            for media_id, at in (
                ("before", "2026-02-01 00:00:00"),
                ("since", "2026-03-02 00:00:00"),
            ):
                conn.exec_driver_sql(
                    "INSERT INTO custody_events (media_id, at, actor, action, details)"
                    f" VALUES ('{media_id}', '{at}', 'admin', 'restricted', '{{}}')"
                )
        upgrade(db.engine)
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT release_id, media_id FROM release_items WHERE restricted_at_approval"
            ).all()
        assert sorted(tuple(r) for r in rows) == [("r1", "before")]
        check(db.engine)


def test_preservation_forms_attached_before_are_evidence_0041_RET_3_RET_7(
    empty_url: str,
) -> None:
    """0041: the scanned form of every preservation request is marked evidence, so the
    RET-3 log never names a purged form; other items are left alone."""
    with old_catalog(empty_url, "0040") as db:
        _items(db, [(m, "document", "application/pdf") for m in ("form", "other")])
        with db.engine.begin() as conn:
            for rid, form in (("p1", "'form'"), ("p2", "NULL")):
                conn.exec_driver_sql(
                    "INSERT INTO preservation_requests (id, request_number, requester_name,"
                    " received_at, received_via, received_by, reason, litigation_anticipated,"
                    " media_ids, state, form_media_id, created_at, created_by) VALUES"
                    f" ('{rid}', '{rid}', 'R', '2026-03-01 09:00:00', 'letter', 'c', 'why',"
                    f" FALSE, '[]', 'released', {form}, '2026-03-01 09:00:00', 'c')"
                )
        upgrade(db.engine)
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id FROM media_items WHERE evidence").all()
        assert [r[0] for r in rows] == ["form"]
        check(db.engine)
