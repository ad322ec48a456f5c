"""The schema comes from the migrations, and they agree with the models (`alembic check`)."""

from __future__ import annotations

from vms.migrations import check, upgrade
from vms.services import Services


def test_models_and_migrations_agree(services: Services) -> None:
    upgrade(services.db.engine)  # idempotent at head
    check(services.db.engine)  # raises when autogenerate would produce a new revision


def test_category_time_backfill_0007(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Upgrading a catalog with categorised items copies their recorded start."""
    import sqlalchemy as sa

    from vms.db.engine import Database

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(db.engine, "0006")
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO devices (id, kind, name, created_at) "
                "VALUES ('D', 'bwc', 'D', '2026-01-01 00:00:00')"
            )
            conn.exec_driver_sql(
                "INSERT INTO media_items (id, source, media_type, content_type, device_id,"
                " recorded_start, size_bytes, sha256, evidence, restricted, ingested_at,"
                " ingested_by, recorded_start_origin) VALUES ('m1', 'bwc', 'video',"
                " 'video/mp4', 'D', '2026-02-03 04:05:06', 1, 'ab', 0, 0,"
                " '2026-02-03 04:05:06', 't', 'ingest')"
            )
            conn.exec_driver_sql(
                "INSERT INTO media_categories (media_id, category) VALUES ('m1', 'Eviction')"
            )
        upgrade(db.engine)
        with db.engine.connect() as conn:
            value = conn.execute(sa.text("SELECT recorded_start FROM media_categories")).scalar()
        assert str(value).startswith("2026-02-03 04:05:06")
        check(db.engine)
    finally:
        db.dispose()
