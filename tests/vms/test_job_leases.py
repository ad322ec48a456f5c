"""One runner of each cluster-wide job (issue 13, item 5; vms/leases.py), on SQLite and
PostgreSQL: "nodes" are separate JobLeases (and, where it matters, separate engines or a
real process killed with SIGKILL) on one database."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vms.clock import ManualClock, SystemClock
from vms.db.engine import Database
from vms.leases import Claim, JobLeases
from vms.roles import JobRunner
from vms.row_leases import Held, RowLeases, Runner
from vms.services import Job, Services

MINUTE = dt.timedelta(minutes=1)
LEASE = dt.timedelta(seconds=60)


@pytest.fixture
def engines(services: Services) -> Iterator[Callable[[], Database]]:
    """Engines of their own on the test database (one per "node"), disposed after."""
    made: list[Database] = []

    def make() -> Database:
        made.append(Database(services.config.effective_database_url))
        return made[-1]

    yield make
    for db in made:
        db.dispose()


def node(services: Services, engines: Callable[[], Database], name: str) -> JobLeases:
    """A node of its own: its own engine on the shared database, the test's clock."""
    return JobLeases(engines(), services.clock, name, LEASE)


def test_two_nodes_run_a_job_once_per_period(
    services: Services, clock: ManualClock, engines: Callable[[], Database]
) -> None:
    a, b = node(services, engines, "a"), node(services, engines, "b")
    runs: list[tuple[str, dt.datetime]] = []

    def job(name: str) -> None:
        runs.append((name, clock.now()))

    for step in range(40):  # 10 periods, each node looking four times per period
        for leases in (a, b) if (step // 4) % 2 else (b, a):
            leases.run("purge", MINUTE, functools.partial(job, leases.node_id))
        clock.advance(dt.timedelta(seconds=15))
    assert len(runs) == 10, runs
    gaps = [(t2 - t1) for (_, t1), (_, t2) in itertools.pairwise(runs)]
    assert all(g >= MINUTE for g in gaps), gaps
    assert {n for n, _ in runs} == {"a", "b"}  # whoever looks first when due


def test_a_dead_holder_s_run_is_taken_over_after_the_lease_and_recovered_first(
    services: Services, clock: ManualClock, engines: Callable[[], Database]
) -> None:
    a, b = node(services, engines, "a"), node(services, engines, "b")
    claim = a.claim("exports", MINUTE)  # a claims, then "dies": no renewal, no release
    assert claim is not None and not claim.interrupted
    done: list[str] = []
    clock.advance(dt.timedelta(seconds=59))
    assert not b.run("exports", dt.timedelta(0), lambda: done.append("run"))
    assert b.held_elsewhere("exports") == "a"
    clock.advance(dt.timedelta(seconds=2))  # the lease expired
    assert b.held_elsewhere("exports") is None
    assert b.run(
        "exports", dt.timedelta(0), lambda: done.append("run"), lambda: done.append("recover")
    )
    assert done == ["recover", "run"]
    # Fencing: the stalled holder wakes up and can neither renew nor release b's run.
    later = b.claim("exports", dt.timedelta(0))
    assert later is not None and not later.interrupted
    assert not a.renew(claim)
    assert not a.release(claim)
    assert a.held_elsewhere("exports") == "b"


def test_a_recovery_at_start_is_skipped_while_another_node_holds_the_lease(
    services: Services, clock: ManualClock, engines: Callable[[], Database]
) -> None:
    a, b = node(services, engines, "a"), node(services, engines, "b")
    steps: list[str] = []
    assert a.claim("exports", MINUTE) is not None
    assert not b.unless_held("exports", lambda: steps.append("b"))
    assert a.unless_held("exports", lambda: steps.append("a"))  # its own lease
    clock.advance(LEASE)
    assert b.unless_held("exports", lambda: steps.append("b"))
    assert steps == ["a", "b"]


def test_the_holder_renews_while_a_long_run_lasts(engines: Callable[[], Database]) -> None:
    """Real time: a 1.5 s lease, a 3 s run; the other node never gets in meanwhile."""
    real = SystemClock()
    a = JobLeases(engines(), real, "a", dt.timedelta(seconds=1.5))
    b = JobLeases(engines(), real, "b", dt.timedelta(seconds=1.5))
    started = threading.Event()
    running = threading.Event()  # a's job is between its start and its end
    overlaps: list[float] = []

    def long_run() -> None:
        running.set()
        started.set()
        time.sleep(3.0)
        running.clear()

    def b_job() -> None:
        # b got the lease: that is a steal only if a's run has not ended (b may claim
        # rightly between a's release and a's thread ending).
        if running.is_set():
            overlaps.append(time.monotonic())

    t = threading.Thread(target=a.run, args=("dock-scan", dt.timedelta(0), long_run))
    t.start()
    assert started.wait(10)
    looks = 0
    while t.is_alive():
        b.run("dock-scan", dt.timedelta(0), b_job)
        looks += 1
        time.sleep(0.1)
    t.join()
    assert looks >= 10  # b really looked all along a's run
    assert overlaps == []
    assert b.run("dock-scan", dt.timedelta(0), lambda: None)  # free once a is done


def test_a_node_killed_mid_run_loses_its_job_to_another(
    services: Services, tmp_path: Path, engines: Callable[[], Database]
) -> None:
    """A real process claims the purge and is killed with SIGKILL in the middle of it;
    another node takes the run over when the lease expires, recovering first."""
    script = tmp_path / "holder.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import datetime as dt, sys, time
            from vms.clock import SystemClock
            from vms.db.engine import Database
            from vms.leases import JobLeases
            leases = JobLeases(Database({services.config.effective_database_url!r}),
                               SystemClock(), "doomed", dt.timedelta(seconds=2))
            def job():
                print("running", flush=True)
                time.sleep(600)
            leases.run("purge", dt.timedelta(hours=1), job)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    with proc.stdout:
        try:
            assert proc.stdout.readline().strip() == "running"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
    survivor = JobLeases(
        engines(),
        SystemClock(),
        "survivor",
        dt.timedelta(seconds=2),
    )
    assert survivor.held_elsewhere("purge") == "doomed"
    done: list[str] = []
    deadline = time.monotonic() + 15
    while not survivor.run(
        "purge", dt.timedelta(hours=1), lambda: done.append("run"), lambda: done.append("recover")
    ):
        assert time.monotonic() < deadline, "the dead node's lease never expired"
        time.sleep(0.2)
    assert done == ["recover", "run"]


def test_job_runners_on_two_nodes_share_one_schedule(engines: Callable[[], Database]) -> None:
    """Two jobs-role runners, real threads and time: a 1 s cluster-wide job runs about
    once a second in all, not once per node; a per-process job runs on both."""
    real = SystemClock()
    runs: list[str] = []
    local: list[str] = []
    runners = []
    for name in ("a", "b"):
        leases = JobLeases(engines(), real, name, dt.timedelta(seconds=5))
        jobs = [
            Job("purge", 1.0, functools.partial(runs.append, name), cluster_once=True),
            Job("login-throttle", 1.0, functools.partial(local.append, name)),
        ]
        runners.append(JobRunner(jobs, leases))
    for r in runners:
        r.start()
    time.sleep(4.5)
    for r in runners:
        r.stop()
    assert 1 <= len(runs) <= 5, runs  # at most one per second across both nodes
    assert set(local) == {"a", "b"}


def test_the_lease_setting_is_checked() -> None:
    from vms.config import ClusterConfig
    from vms.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match=r"\[cluster\] job_lease_seconds"):
        ClusterConfig(job_lease_seconds=0)


def test_jobs_still_run_after_the_clock_is_set_back_RET_13_INV_7(
    services: Services, clock: ManualClock, engines: Callable[[], Database]
) -> None:
    """A server whose clock ran an hour ahead (booted with a wrong time, NTP set it right
    later) stamped its job runs and leases an hour ahead. Before, once the clock was set
    back, the purge was "not due" until its last start plus the interval came round again
    an hour later (a year later from a clock a year ahead: RET-1 footage kept, the disk
    filling), and a lease its holder died with stayed "held" as long; every cluster job
    (exports, redactions, tagging reports, audit checkpoints) likewise. A start or lease
    later than this node's clock allows (beyond a lease of skew) is read as stale."""
    a, b = node(services, engines, "a"), node(services, engines, "b")
    right = clock.now()
    runs: list[str] = []
    clock.set(right + dt.timedelta(hours=1))  # the clock runs an hour ahead
    assert a.run("purge", 10 * MINUTE, lambda: runs.append("ahead"))
    assert a.claim("exports", MINUTE) is not None  # ... and a dies holding this one
    clock.set(right)  # set right: back an hour
    clock.advance(10 * MINUTE)
    assert a.run("purge", 10 * MINUTE, lambda: runs.append("set right"))
    assert runs == ["ahead", "set right"]
    assert b.held_elsewhere("exports") is None
    claim = b.claim("exports", MINUTE)
    assert claim is not None and claim.interrupted
    # A holder a little ahead of the others (less than a lease) still holds its lease.
    clock.advance(10 * MINUTE)
    clock.set(clock.now() + dt.timedelta(seconds=30))
    assert a.claim("tagging", MINUTE) is not None
    clock.set(clock.now() - dt.timedelta(seconds=30))
    assert b.claim("tagging", MINUTE) is None and b.held_elsewhere("tagging") == "a"


def _failing_then_working(failures: int) -> tuple[Callable[..., bool], threading.Event]:
    """A renewal that fails ``failures`` times (the database away), then works."""
    calls = {"n": 0}
    recovered = threading.Event()

    def renew(*_: object) -> bool:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise RuntimeError("database is away (planted)")
        recovered.set()
        return True

    return renew, recovered


def test_a_job_lease_renewal_failing_through_an_outage_is_logged_once(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """The heartbeat of a running job renews every third of the lease; through a
    database outage it logged a traceback at every renewal. Now once per outage (with
    its traceback), and one line when renewing works again."""
    import logging

    leases = JobLeases(services.db, services.clock, "a", dt.timedelta(milliseconds=3))
    renew, recovered = _failing_then_working(30)
    leases.renew = renew  # type: ignore[method-assign]
    stop = threading.Event()
    beat = threading.Thread(target=leases._heartbeat, args=(Claim("nightly", 1, False), stop))
    with caplog.at_level(logging.INFO, logger="vms.leases"):
        beat.start()
        try:
            assert recovered.wait(30)
        finally:
            stop.set()
            beat.join(10)
    failed = [r for r in caplog.records if "renewing the lease failed" in r.getMessage()]
    assert len(failed) == 1, f"{len(failed)} lines for 30 failed renewals"
    assert failed[0].exc_info is not None  # with its traceback
    assert "job nightly: renewing the lease works again" in caplog.text


def test_a_row_lease_renewal_failing_through_an_outage_is_logged_once(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """As above, for the lease of an export's or a redaction's row while its runner
    works (vms/row_leases.py)."""
    import logging

    runner = Runner("runner-a", dt.timedelta(milliseconds=3))
    held = Held(
        RowLeases(object, ("running",), "export"), services.db, services.clock, runner, "row-1", 1
    )
    renew, recovered = _failing_then_working(30)
    held.renew = renew  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="vms.row_leases"), held:
        assert recovered.wait(30)
    failed = [r for r in caplog.records if "renewing its lease failed" in r.getMessage()]
    assert len(failed) == 1, f"{len(failed)} lines for 30 failed renewals"
    assert failed[0].exc_info is not None
    assert "export row-1: renewing its lease works again" in caplog.text
