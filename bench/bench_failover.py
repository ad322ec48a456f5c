"""Failover and reconcile times of media nodes (issue 13, benchmarks 1 and 2).

Two ``vms serve --role media`` processes with camera ownership on (tests/peers/media_node:
lease 3 s, reconcile round 1 s, segments of 2 s) share a PostgreSQL database and record
two simulator cameras, one each.

- **Failover**: one node is killed with SIGKILL; the time from the kill to the first
  packet the other node records of that camera (the recorded start of its first segment,
  which is the first packet's capture time). The killed node is then started again and
  the cameras spread back before the next trial; the nodes take turns being killed.
- **Reconcile**: a third simulator camera is onboarded (the registry row, as the API
  does); the time to its first recorded packet on whichever node takes it. It is then
  removed again.

Peers: what the settings make unavoidable, a lease plus one reconcile round (4 s) for a
failover and one round (1 s) for a reconcile; the ratios say how much comes on top
(connecting to the camera, the first keyframe, the database).

    $V/bin/python bench/bench_failover.py [--trials 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import benchlib
import sqlalchemy as sa
from benchlib import OUT_DIR, median, percentile

from onvif_control.cameras import calibration_from_simulator
from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from tests.peers.media_node import FAST, MediaNode
from vms.audit.log import SYSTEM_ROLE, Who
from vms.auth.permissions import Actor, Role
from vms.db.models import CameraLease, MediaItem
from vms.services import Services

USER, PASSWORD = "admin", "pw-bench-failover"
SETUP = Who("bench", SYSTEM_ROLE)
ADMIN = Actor(user_id=0, username="bench", role=Role.ADMIN)
BOUND = float(FAST["VMS_CLUSTER_CAMERA_LEASE_SECONDS"]) + float(
    FAST["VMS_RECORDER_RECONCILE_SECONDS"]
)


def wait(predicate: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {seconds:.0f} s: {what}")
        time.sleep(0.05)


def holders(services: Services) -> dict[str, str | None]:
    now = dt.datetime.now(dt.UTC)
    with services.db.session() as s:
        return {
            r.camera_id: r.node_id if r.expires_at is not None and r.expires_at > now else None
            for r in s.execute(sa.select(CameraLease)).scalars()
        }


def first_packet_after(
    services: Services, camera_id: str, after: dt.datetime
) -> dt.datetime | None:
    with services.db.session() as s:
        return s.execute(
            sa.select(sa.func.min(MediaItem.recorded_start)).where(
                MediaItem.device_id == camera_id, MediaItem.recorded_start > after
            )
        ).scalar()


def onboard(services: Services, cam: SimulatedCamera) -> str:
    calibration = calibration_from_simulator(cam.state()["calibration"])
    control = get_control(services)
    return control.cameras.onboard(SETUP, cam.name, cam.onvif_url, USER, PASSWORD, calibration).id


def spread(services: Services, cameras: list[str]) -> bool:
    held = holders(services)
    return sorted(held.get(c) or "" for c in cameras) == ["node-a", "node-b"]


def measure(services: Services, work: Path, trials: int) -> tuple[list[float], list[float]]:
    cams = [
        SimulatedCamera(f"cam{i}", size=(320, 180), fps=10, username=USER, password=PASSWORD)
        for i in (1, 2, 3)
    ]
    for cam in cams:
        cam.start()
    nodes: dict[str, MediaNode] = {}
    failovers: list[float] = []
    reconciles: list[float] = []
    try:
        ids = [onboard(services, cam) for cam in cams[:2]]
        nodes = {n: MediaNode(services.config, work, n) for n in ("node-a", "node-b")}
        wait(lambda: spread(services, ids), 60, "one camera per node")
        for trial in range(trials):
            victim_node = ("node-a", "node-b")[trial % 2]
            victim = next(c for c, n in holders(services).items() if n == victim_node)
            wait(
                lambda v=victim: first_packet_after(
                    services, v, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
                ),
                30,
                "the victim recording",
            )
            killed_at = dt.datetime.now(dt.UTC)
            nodes[victim_node].kill()
            wait(lambda v=victim, k=killed_at: first_packet_after(services, v, k), 60, "takeover")
            first = first_packet_after(services, victim, killed_at)
            assert first is not None
            failovers.append((first - killed_at).total_seconds())
            print(f"  failover {trial + 1}: {failovers[-1]:.2f} s", flush=True)
            nodes[victim_node].start()
            wait(lambda: spread(services, ids), 60, "the cameras spread back")
        for trial in range(trials):
            added_at = dt.datetime.now(dt.UTC)
            new = onboard(services, cams[2])
            wait(lambda n=new, a=added_at: first_packet_after(services, n, a), 60, "recording")
            first = first_packet_after(services, new, added_at)
            assert first is not None
            reconciles.append((first - added_at).total_seconds())
            print(f"  reconcile {trial + 1}: {reconciles[-1]:.2f} s", flush=True)
            get_control(services).cameras.delete(ADMIN, new)
            wait(lambda n=new: holders(services).get(n) is None, 30, "the camera released")
    finally:
        for node in nodes.values():
            node.stop()
        get_control(services).close()
        for cam in cams:
            cam.stop()
    return failovers, reconciles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args(argv)
    benchlib.quiet_logs()
    print(f"failover benchmark: 2 media nodes, {args.trials} trials of each")
    print(f"machine: {benchlib.machine()} ({benchlib.cpu_pressure()})")
    work = OUT_DIR / "failover"
    with benchlib.postgres_services(work, f"vms_bench_failover_{os.getpid()}") as services:
        failovers, reconciles = measure(services, work, args.trials)
    shutil.rmtree(work, ignore_errors=True)  # kept after a failure: the nodes' logs
    round_s = float(FAST["VMS_RECORDER_RECONCILE_SECONDS"])
    for label, values, target, bound, named in (
        ("failover (kill -9 -> first packet elsewhere)", failovers, 15.0, BOUND, "lease + round"),
        ("reconcile (onboarded -> first packet)", reconciles, 10.0, round_s, "one round"),
    ):
        p95 = percentile(values, 95)
        print(
            f"{label}: p50 {median(values):.2f} s, p95 {p95:.2f} s "
            f"({named} = {bound:.0f} s: p95 / that = {p95 / bound:.2f}); "
            f"under {target:.0f} s: {benchlib.verdict(p95 < target)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
