"""Roles (vms/roles.py): which components run in which role (#11.2), and ``vms serve`` as a
real subprocess: what it prints on start (#10.16)."""

from __future__ import annotations

import os
import re
import sys
import threading

import pytest

from onvif_control.demo import DEMO_PASSWORD
from onvif_control.plugin import get as get_control
from recorder.engine import Recorder
from tests.peers import processes
from vms.config import Config
from vms.errors import InvalidArgument
from vms.roles import ROLES, Component, JobRunner, RoleRunner, add_job_runner, expand
from vms.services import Job, Services
from web import server

pytestmark = pytest.mark.timeout(180)


def serve_until(config: Config, *args: str, until: str, timeout: float = 120.0) -> str:
    """Run ``vms serve ARGS`` until a line of its stdout contains ``until``; then stop it
    (by its pid) and return everything it printed on stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(config.data_dir),
        VMS_DATABASE_URL=config.effective_database_url,
        VMS_INGEST_MIN_FREE_BYTES="0",
    )
    with processes.started(
        [sys.executable, "-m", "vms.cli", "serve", "--host", "127.0.0.1", "--port", "0", *args],
        env=env,
        ready=re.compile(re.escape(until)),
        timeout=timeout,
    ) as server:
        return "".join(server.output)


def test_a_real_start_prints_no_demo_password(config: Config) -> None:
    """Without ``--demo`` the media role starts and the server listens, and nothing
    mentions the demo users or their password (#10.16)."""
    out = serve_until(config, until="VMS listening on")
    assert DEMO_PASSWORD not in out and "demo users" not in out


def test_a_demo_start_prints_the_demo_users(config: Config) -> None:
    """``--demo`` shows the newcomer the demo users and their password."""
    out = serve_until(config, "--demo", "--role", "web", until="demo users")
    assert DEMO_PASSWORD in out and "officer (officer)" in out


def test_each_role_runs_its_plugins_components(services: Services) -> None:
    """Which components run in which role (#11.2): media has the pose tracker, then the
    recorder; jobs the redaction detector's check (#16.1), the recovery of interrupted
    exports (#15.6) and redactions (#16.3), then one runner over every plugin's jobs;
    web the app, started last."""
    server.install(services)
    add_job_runner(services)
    names = {role: [c.name for c in services.roles.of([role])] for role in ROLES}
    assert names == {
        "media": ["pose-tracker", "recorder"],
        "jobs": ["redaction-detector", "export-recovery", "redaction-recovery", "job-runner"],
        "web": ["app"],
    }
    assert [c.name for c in services.roles.of(expand("all"))] == [
        "pose-tracker",
        "recorder",
        "redaction-detector",
        "export-recovery",
        "redaction-recovery",
        "job-runner",
        "app",
    ]
    assert [c.name for c in services.roles.of(ROLES) if c.main] == ["app"]
    assert {job.name for job in services.jobs} == {
        "dock-scan",
        "upload-expiry",
        "login-throttle",
        "purge",
        "tagging-deadlines",
        "camera-health",
        "ptz-expire",
        "audit-checkpoint",
        "exports",
        "redactions",
    }


def test_the_media_role_starts_and_stops_tracking_and_recording(services: Services) -> None:
    """The media role really starts the pose tracker and the recorder, and stops both."""
    runner = RoleRunner(services, "media")
    assert runner.start() is None  # no main component: the process waits
    control = get_control(services)
    recorder = services.ports.get(Recorder)
    try:
        assert control.tracker.running and recorder.running
    finally:
        runner.stop()
    assert not control.tracker.running and not recorder.running


def test_the_web_role_alone_starts_no_media_nor_jobs(services: Services) -> None:
    server.install(services)
    add_job_runner(services)
    runner = RoleRunner(services, "web")
    main = runner.start()
    try:
        assert main is not None and main.name == "app"
        assert not get_control(services).tracker.running
        assert not services.ports.get(Recorder).running
        assert not [t for t in threading.enumerate() if t.name.startswith("job-")]
    finally:
        runner.stop()


def test_an_unknown_role_is_refused_by_name() -> None:
    with pytest.raises(InvalidArgument, match="'archive'"):
        expand("archive")
    with pytest.raises(InvalidArgument, match="'archive'"):
        Component("archive", "x", lambda: None)


def test_job_runner_runs_each_job_and_survives_a_failing_one() -> None:
    """A failing job is logged and retried next period; the others keep running."""
    ran: list[str] = []
    done = threading.Event()

    def fails() -> None:
        ran.append("fails")
        raise RuntimeError("boom")

    def works() -> None:
        ran.append("works")
        if ran.count("works") >= 2 and "fails" in ran:
            done.set()

    runner = JobRunner([Job("fails", 0.01, fails), Job("works", 0.01, works)])
    runner.start()
    try:
        assert done.wait(10)
    finally:
        runner.stop()
    assert ran.count("fails") >= 1


def test_a_job_that_keeps_failing_is_not_logged_every_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A job failing every period (the database away, a store gone, a bug) logged a
    traceback every period for as long as it failed: ptz-expire every 1-5 s, each job
    of the node. Now failures in a row are logged at 1, 2, 4, 8, ... (with the count),
    and one line when the job works again."""
    import logging

    runs = {"n": 0}
    recovered = threading.Event()

    def broken_then_fixed() -> None:
        runs["n"] += 1
        if runs["n"] <= 64:
            raise RuntimeError("database is away (planted)")
        recovered.set()

    runner = JobRunner([Job("broken", 0.001, broken_then_fixed)])
    with caplog.at_level(logging.INFO, logger="vms.roles"):
        runner.start()
        try:
            assert recovered.wait(30)
        finally:
            runner.stop()
    failed = [r for r in caplog.records if "job broken failed" in r.getMessage()]
    assert len(failed) <= (64).bit_length() + 1, f"{len(failed)} lines for 64 failed runs"
    assert failed[0].exc_info is not None  # the first with its traceback
    assert "job broken works again after 64 failed runs" in caplog.text


def test_settle_heap_takes_start_up_objects_out_of_later_collections() -> None:
    """What a serving process built before serving is frozen (issue 15's playlist tail:
    full collections walking it mid-request); garbage made later is still collected."""
    import gc
    import weakref

    from vms.roles import settle_heap

    class Cycle:
        me: object

    # What is alive now (earlier tests of this process may have left cyclic garbage,
    # which settle_heap collects rather than freezes).
    gc.collect()
    before = len(gc.get_objects())
    try:
        settle_heap()
        assert gc.get_freeze_count() >= before * 0.9
        later = Cycle()
        later.me = later  # a reference cycle: only the collector frees it
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
