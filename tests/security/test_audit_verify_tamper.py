"""``vms audit verify`` against someone with write access to the database (INV-4): the
rows may hold anything SQL can put there, not only what the ORM writes. Whatever was
done, the command names the entry, exit 1, never a traceback."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.vms.test_crash_safety import run_cli
from vms.audit.log import Who
from vms.services import Services

WHO = Who("tester", "admin")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("details", "{not json"),
        ("details", "[1, 2]"),
        ("details", "null"),
        ("at", "yesterday"),
        ("at", "2026-13-45 99:00:00"),
    ],
)
def test_a_row_sql_made_unreadable_is_named_not_a_traceback_INV_4(
    services: Services, column: str, value: str
) -> None:
    if column == "at" and services.db.engine.dialect.name != "sqlite":
        pytest.skip("a timestamptz column holds only dates: SQLite's text can hold anything")
    for i in range(5):
        services.audit.record(services.db, WHO, "media.view", f"media:m{i}", details={"i": i})
    with services.db.transaction() as s:
        s.execute(text(f"UPDATE audit_entries SET {column} = :v WHERE seq = 3"), {"v": value})
    run = run_cli(services.config, "audit", "verify")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert "audit chain BROKEN at entry 3" in run.stderr, run.stderr
    if value in ("{not json", "yesterday"):
        assert "entry 3 cannot be read" in run.stderr, run.stderr


def test_a_checkpoint_log_file_of_other_bytes_is_reported_not_a_traceback_INV_4(
    services: Services,
) -> None:
    """The checkpoint log file is the chain's witness outside the database: bytes that are
    not UTF-8 written into it are a problem with a line number, not a UnicodeDecodeError."""
    for i in range(3):
        services.audit.record(services.db, WHO, "media.view", f"media:m{i}", details={"i": i})
    assert services.checkpoints.sign_now() is not None
    log_file = services.config.data_dir / "audit" / "checkpoints.log"
    with log_file.open("ab") as f:
        f.write(b"\xff\xfe not a checkpoint\n")
    run = run_cli(services.config, "audit", "verify")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert f"{log_file} line 2 is not a checkpoint" in run.stderr, run.stderr


def test_a_checkpoint_row_sql_made_unreadable_is_reported_not_a_traceback_INV_4(
    services: Services,
) -> None:
    if services.db.engine.dialect.name != "sqlite":
        pytest.skip("a timestamptz column holds only dates: SQLite's text can hold anything")
    for i in range(3):
        services.audit.record(services.db, WHO, "media.view", f"media:m{i}", details={"i": i})
    made = services.checkpoints.sign_now()
    assert made is not None
    with services.db.transaction() as s:
        s.execute(text("UPDATE audit_checkpoints SET at = 'yesterday'"))
    run = run_cli(services.config, "audit", "verify")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert "audit checkpoint problem: a checkpoint cannot be read" in run.stderr, run.stderr
