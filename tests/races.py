"""Calls released at once from several threads, for the race tests (on PostgreSQL, each
thread's transaction is its own connection's)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select

from vms.db.models import AuditEntry
from vms.services import Services


def together(*calls: Callable[[], object], timeout: float = 60) -> list[object]:
    """Each of ``calls`` in its own thread, released at once by a barrier; what each
    returned or raised, in order. A call still running after ``timeout`` seconds fails
    the test (a deadlock or a lost wake-up)."""
    barrier = threading.Barrier(len(calls))
    got: list[object] = [None] * len(calls)

    def run(n: int) -> None:
        barrier.wait()
        try:
            got[n] = calls[n]()
        except Exception as exc:  # collected: the test looks at it
            got[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a call did not finish (deadlock?)"
    return got


def audited(services: Services, action: str, target: str) -> int:
    """How many ``ok`` audit entries of ``action`` on ``target`` were written."""
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count()).where(
                    AuditEntry.action == action,
                    AuditEntry.target == target,
                    AuditEntry.outcome == "ok",
                )
            ).scalar_one()
        )
