"""``vms serve``: run the roles of the VMS in this process.

``--role all`` (default) runs the web app, the jobs (dock scanning; retention later) and,
as they land, the media engine. ``--demo`` adds demo users and simulated cameras so a
newcomer sees a working system without hardware.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import threading
from typing import Any

from vms.audit.log import SYSTEM_ROLE, Who
from vms.config import Config
from vms.services import Job, Services

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-password"  # noqa: S105 (demo mode only)
DEMO_USERS = (
    ("admin", "admin", None, None),
    ("dispatcher", "dispatcher", None, None),
    ("commander", "records_commander", None, None),
    ("investigator", "investigator", None, None),
    ("auditor", "auditor", None, None),
    ("sergeant", "supervisor", "S100", None),
    ("officer", "officer", "B4021", "sergeant"),
)


class JobRunner:
    """Periodic jobs in a named background thread, stopped with :meth:`stop`."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(job,), name=f"job-{job.name}", daemon=True)
            for job in services.jobs
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, job: Job) -> None:
        while not self._stop.wait(job.interval_seconds):
            try:
                job.run()
            except Exception:
                # A failing job is logged and retried next period, never silently dropped.
                log.exception("job %s failed", job.name)


def add_demo_users(services: Services) -> None:
    by = Who("demo", SYSTEM_ROLE)
    for username, role, badge, supervisor in DEMO_USERS:
        services.users.add_user(
            username,
            role,
            DEMO_PASSWORD,
            badge=badge,
            supervisor=supervisor,
            by=by,
            exist_ok=True,
        )


def start_demo_cameras(count: int) -> Any:
    """Start simulated cameras when the simulator is installed (issue 3)."""
    if importlib.util.find_spec("onvif_control.simulator") is None:
        log.warning("the camera simulator is not available: demo runs without cameras")
        return None
    from onvif_control.simulator import SimulatorFleet

    fleet = SimulatorFleet(
        count=count,
        host="127.0.0.1",
        onvif_port=0,
        rtsp_port=0,
        username="admin",
        password=DEMO_PASSWORD,
    )
    fleet.start()
    for camera in fleet.cameras:
        log.info("demo camera: ONVIF %s RTSP %s", camera.onvif_url, camera.rtsp_url)
    return fleet


def start_recorder(services: Services, fleet: Any, camera_ids: list[str]) -> Any:
    """The media role: start the recording engine (issue 5) on the onboarded cameras of
    the camera registry; with a demo fleet, its private zones become the privacy masks of
    the onboarded simulators (``camera_ids``, in fleet order). Poses come from the pose
    tracker (``services.extensions["pose"]``); without it masked cameras are blanked."""
    recorder = services.extensions.get("recorder")
    if recorder is None:
        log.warning("the recorder is not installed: no recording")
        return None
    if fleet is not None:
        from privacy_masks.geometry import SpherePolygon

        by = Who("demo", SYSTEM_ROLE)
        for camera, camera_id in zip(fleet.cameras, camera_ids, strict=True):
            zones = [SpherePolygon(z.name, z.polygon) for z in camera.scene.private_zones]
            services.extensions["masks"].replace_all(camera_id, zones, by)
    if "cameras" in services.extensions:
        recorder.follow_registry()  # and keep following it (issue 10, item 14)
    recorder.start()
    return recorder


def serve(config: Config, *, host: str, port: int, role: str, demo: bool) -> int:
    services = Services.open(config)
    services.migrate()
    services.startup_recovery()
    fleet = None
    demo_ids: list[str] = []
    jobs = None
    recorder = None
    control = services.extensions.get("camera_control")
    try:
        if demo:
            add_demo_users(services)
            # Only a demo has a known password to show (#10.16): never on a real start.
            print(
                f"demo users (password {DEMO_PASSWORD!r}): "
                + ", ".join(f"{u} ({r})" for u, r, _, _ in DEMO_USERS),
                flush=True,
            )
            fleet = start_demo_cameras(3)
            if fleet is not None:
                from onvif_control.demo import onboard_fleet

                demo_ids = onboard_fleet(services, fleet, "admin", DEMO_PASSWORD)
        if role in ("all", "media") and control is not None:
            # The media role tracks PTZ poses (masks need them) and runs ONVIF control;
            # the web role calls it in-process (docs/design/ptz-arbitration.md).
            control.start_media()
        if role in ("all", "jobs"):
            jobs = JobRunner(services)
            jobs.start()
        if role in ("all", "media"):
            recorder = start_recorder(services, fleet, demo_ids)
        if role in ("all", "web"):
            from web import hardening
            from web.app import create_app  # here: `vms --help` need not load Flask

            app, socketio = create_app(services)
            print(f"VMS listening on http://{host}:{port}/", flush=True)
            socketio.run(
                app,
                host=host,
                port=port,
                allow_unsafe_werkzeug=True,
                use_reloader=False,
                log_output=False,
                **hardening.serve_options(),  # no versions in the Server header
            )
        else:
            threading.Event().wait()
    finally:
        if recorder is not None:
            recorder.stop()
        if jobs is not None:
            jobs.stop()
        if control is not None:
            control.close()
        if fleet is not None:
            fleet.stop()
        services.close()
    return 0


def _handle(args: argparse.Namespace) -> int:
    config: Config = args.config_obj
    host = args.host or config.web.host
    port = args.port if args.port is not None else config.web.port
    return serve(config, host=host, port=port, role=args.role, demo=args.demo)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="run the VMS (web, jobs, media roles)")
    p.add_argument("--host", default=None, help="bind address (default [web] host)")
    p.add_argument("--port", type=int, default=None, help="port (default [web] port)")
    p.add_argument("--role", choices=["all", "web", "media", "jobs"], default="all")
    p.add_argument(
        "--demo",
        action="store_true",
        help="add demo users and simulated cameras (never on a real deployment)",
    )
    p.set_defaults(func=_handle)
