"""PTZ benchmarks (issue 4), against simulated cameras on loopback.

1. API-to-camera PTZ command round trip: ``POST /api/v1/cameras/{id}/ptz`` through the
   real HTTP server (threaded werkzeug, as ``vms serve``) to the simulator and back,
   including the guard, GetStatus before and after, and the audit entry. Target: p95
   under 50 ms.
2. Pose tracking of 50 simulated cameras polled at 5 Hz: CPU time of this process (the
   simulators run in a subprocess) over wall time. Target: under 20% of one core.

Run: ``python bench/bench_ptz.py [--commands 300] [--cameras 50] [--seconds 10]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import benchlib  # noqa: F401  (puts the project on sys.path)
import httpx

from vms.audit.log import SYSTEM_ROLE, Who
from vms.config import load_config
from vms.services import Services

PASSWORD = "bench-pw"
USER_PASSWORD = "bench user password"


def start_fleet(count: int) -> tuple[subprocess.Popen[str], list[str]]:
    """``count`` simulated cameras in a subprocess (tiny frames); their ONVIF URLs."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "onvif_control.simulator",
            "--count",
            str(count),
            "--onvif-port",
            "0",
            "--rtsp-port",
            "0",
            "--size",
            "160x90",
            "--fps",
            "1",
            "--password",
            PASSWORD,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    urls: list[str] = []
    deadline = time.monotonic() + 180
    assert proc.stdout is not None
    while len(urls) < count and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("ONVIF "):
            urls.append(line.split()[1])
    if len(urls) < count:
        proc.terminate()
        raise SystemExit(f"only {len(urls)} of {count} simulated cameras started")
    return proc, urls


def open_services(folder: Path, **settings: str) -> Services:
    config = load_config(
        environ={},
        overrides={
            "VMS_DATA_DIR": str(folder),
            "VMS_PTZ_COMMANDS_PER_SECOND": "1000",
            "VMS_INGEST_MIN_FREE_BYTES": "0",
            **settings,
        },
    )
    services = Services.open(config)
    services.migrate()
    by = Who("bench", SYSTEM_ROLE)
    for name, role in (("admin", "admin"), ("dispatcher", "dispatcher")):
        services.users.add_user(name, role, USER_PASSWORD, by=by, exist_ok=True)
    return services


def bench_round_trip(url: str, commands: int) -> None:
    from werkzeug.serving import make_server

    from onvif_control.plugin import get
    from web.app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-ptz-") as tmp:
        services = open_services(Path(tmp))
        control = get(services)
        app, _ = create_app(services)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}/api/v1"
        try:
            with httpx.Client(timeout=10) as http:
                token = http.post(
                    f"{base}/auth/token", json={"username": "admin", "password": USER_PASSWORD}
                ).json()["token"]
                admin = {"Authorization": f"Bearer {token}"}
                token = http.post(
                    f"{base}/auth/token",
                    json={"username": "dispatcher", "password": USER_PASSWORD},
                ).json()["token"]
                headers = {"Authorization": f"Bearer {token}"}
                camera = http.post(
                    f"{base}/cameras",
                    json={
                        "name": "bench",
                        "onvif_url": url,
                        "username": "admin",
                        "password": PASSWORD,
                    },
                    headers=admin,
                ).json()
                session = http.post(
                    f"{base}/cameras/{camera['id']}/ptz/session",
                    json={"purpose": "training"},
                    headers=headers,
                ).json()
                ops = [
                    {"op": "absolute", "pan": 0.01, "tilt": 0.0, "zoom": 0.0},
                    {"op": "continuous", "pan": 0.1, "timeout": 1},
                    {"op": "stop"},
                    {"op": "relative", "pan": 0.001},
                ]
                times = []
                for i in range(commands + 20):
                    body = {"session_id": session["session_id"], **ops[i % len(ops)]}
                    began = time.perf_counter()
                    reply = http.post(
                        f"{base}/cameras/{camera['id']}/ptz", json=body, headers=headers
                    )
                    elapsed = time.perf_counter() - began
                    if reply.status_code != 200:
                        raise SystemExit(f"command failed: {reply.status_code} {reply.text}")
                    if i >= 20:  # warm-up: connections, WSDL caches
                        times.append(elapsed * 1000)
        finally:
            server.shutdown()
            thread.join(5)
            control.close()
            services.close()
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(
        f"PTZ command round trip (API -> simulator -> API, {len(times)} commands): "
        f"p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms "
        f"(target p95 < 50 ms: {'PASS' if p95 < 50 else 'FAIL'})"
    )


def bench_tracking(urls: list[str], seconds: float) -> None:
    from onvif_control.plugin import get

    with tempfile.TemporaryDirectory(prefix="bench-pose-") as tmp:
        # Idle period = fast period: every camera polled at 5 Hz, the moving-camera load.
        services = open_services(
            Path(tmp), VMS_CAMERAS_POSE_FAST_HZ="5", VMS_CAMERAS_POSE_IDLE_SECONDS="0.2"
        )
        control = get(services)
        by = Who("bench", SYSTEM_ROLE)
        for i, url in enumerate(urls):
            control.cameras.onboard(by, f"cam{i}", url, "admin", PASSWORD)
        tracker = control.tracker
        tracker.start()
        try:
            time.sleep(4.0)  # warm-up: connections to every camera
            polls0, cpu0, wall0 = tracker.polls, time.process_time(), time.perf_counter()
            time.sleep(seconds)
            polls1, cpu1, wall1 = tracker.polls, time.process_time(), time.perf_counter()
        finally:
            tracker.stop()
            control.close()
            services.close()
    wall = wall1 - wall0
    share = (cpu1 - cpu0) / wall
    rate = (polls1 - polls0) / wall / len(urls)
    print(
        f"Pose tracking, {len(urls)} cameras: {rate:.2f} polls/s per camera, "
        f"{share * 100:.1f}% of one core (target < 20% at 5 Hz: "
        f"{'PASS' if share < 0.20 and rate >= 4.5 else 'FAIL'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    proc, urls = start_fleet(args.cameras)
    try:
        bench_round_trip(urls[0], args.commands)
        bench_tracking(urls, args.seconds)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
