"""The tamper-evident audit log (INV-4, ACC-6) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import delete, select, update

from tests.vms.test_crash_safety import run_cli
from vms.audit.chain import GENESIS_HASH, Link, link_hash, verify
from vms.audit.log import Who
from vms.config import Config
from vms.db.models import AuditEntry, AuditHead
from vms.services import Services

WHO = Who("auditor-test", "admin")
KEY = b"k" * 32


def _write(services: Services, n: int) -> None:
    for i in range(n):
        services.audit.record(services.db, WHO, "test.event", f"thing:{i}", details={"i": i})


def test_chain_is_pure_and_detects_every_kind_of_change() -> None:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    links: list[tuple[Link, str]] = []
    prev = GENESIS_HASH
    for seq in range(1, 6):
        link = Link(seq, at, "a", "admin", "x", f"t{seq}", {"n": seq}, "ok", prev)
        prev = link_hash(KEY, link)
        links.append((link, prev))
    head = (5, prev)
    assert verify(KEY, links, head) is None
    # altered field
    bad = list(links)
    bad[2] = (Link(**{**bad[2][0].__dict__, "target": "forged"}), bad[2][1])
    assert verify(KEY, bad, head).seq == 3  # type: ignore[union-attr]
    # a link removed in the middle
    assert verify(KEY, links[:1] + links[2:], head).seq == 2  # type: ignore[union-attr]
    # reordered
    assert verify(KEY, [links[0], links[2], links[1], *links[3:]], head) is not None
    # truncated at the end: the head still records entry 5
    assert verify(KEY, links[:4], head).seq == 5  # type: ignore[union-attr]
    # another key (a forger without the key) cannot produce a valid chain
    assert verify(b"x" * 32, links, head).seq == 1  # type: ignore[union-attr]


def test_intact_log_verifies(services: Services, config: Config) -> None:
    _write(services, 5)
    assert services.audit.verify(services.db) is None
    proc = run_cli(config, "audit", "verify")
    assert proc.returncode == 0 and "intact" in proc.stdout


@pytest.mark.parametrize("tamper", ["alter", "delete-middle", "delete-last", "swap"])
def test_tampering_with_the_table_is_detected_INV_4(
    services: Services, config: Config, tamper: str
) -> None:
    _write(services, 6)
    with services.db.transaction() as s:
        last = s.execute(select(AuditHead.seq)).scalar_one()
        victim = last - 3
        if tamper == "alter":
            s.execute(
                update(AuditEntry).where(AuditEntry.seq == victim).values(actor="someone-else")
            )
        elif tamper == "delete-middle":
            s.execute(delete(AuditEntry).where(AuditEntry.seq == victim))
        elif tamper == "delete-last":
            s.execute(delete(AuditEntry).where(AuditEntry.seq == last))
        elif tamper == "swap":
            a = s.get(AuditEntry, victim)
            b = s.get(AuditEntry, victim + 1)
            assert a is not None and b is not None
            a.details, b.details = b.details, a.details
    broken = services.audit.verify(services.db)
    assert broken is not None
    expected = last if tamper == "delete-last" else victim
    assert broken.seq == expected
    proc = run_cli(config, "audit", "verify")
    assert proc.returncode == 1
    assert f"entry {expected}" in proc.stderr


def test_concurrent_writers_never_fork_the_chain(services: Services) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                services.audit.record(services.db, Who(f"w{n}", "admin"), "test.race", f"t{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert services.audit.verify(services.db) is None
    with services.db.session() as s:
        seqs = list(s.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars())
    assert seqs == list(range(1, len(seqs) + 1))


def test_entry_rolls_back_with_its_action(services: Services) -> None:
    """Written in the same transaction as the action: if it fails, neither stays."""
    with services.db.session() as s:
        before = s.execute(select(AuditHead.seq)).scalar_one()
    with pytest.raises(RuntimeError), services.db.transaction() as s:
        services.audit.append(s, WHO, "test.rollback", "x")
        raise RuntimeError("the action failed")
    with services.db.session() as s:
        assert s.execute(select(AuditHead.seq)).scalar_one() == before
    assert services.audit.verify(services.db) is None
