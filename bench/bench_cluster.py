"""40 pass-through cameras across two media nodes (issue 13, benchmark 3).

Two ``vms serve --role media`` processes with camera ownership on (tests/peers/media_node;
the product's lease, reconcile and segment settings unless given) share a PostgreSQL
database and record 40 simulated PTZ cameras (one ``vms simulate-camera --count 40``
process; rendered at a low resolution, default 320x180 at 5 fps, to fit a small machine;
no masks, so the recorder passes their H.264 through: no decode, no encode). Each node's
pose tracker polls only its own cameras. Local media store (each node's data folder).

After a warm-up (the cameras spread 20/20 and every camera has a catalogued segment), a
window of ``--minutes`` is measured:

- CPU of each node process (/proc: user + system, all threads) per camera it holds;
- segment ingest latency p50/p95: the difference over the window of each node's
  ``vms_ingest_seconds{source="fixed"}`` histogram (its /metrics), interpolated in its
  buckets as Prometheus does; and, from the catalog, the time from a segment's last
  packet to the start of its ingest;
- gaps: ``recording_gaps`` rows opened during the window (must be 0), and holes of more
  than 2 s between consecutive catalogued segments of a camera;
- the peer, in the same window on the same streams: one ``ffmpeg -c copy`` per camera
  writing the RTSP stream into MP4 segments of the same length (what a minimal NVR does
  with no catalog, hashing, pose tracking or database): its CPU per camera. The ratio is
  node CPU per camera / ffmpeg CPU per camera.

    $V/bin/python bench/bench_cluster.py [--minutes 10] [--cameras 40] [--size 320x180]
        [--fps 5] [--segment-seconds 60]

The machine is shared: the load average before and after is printed with the figures.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit
from urllib.request import urlopen

import benchlib
import sqlalchemy as sa
from bench_failover import holders, wait
from benchlib import OUT_DIR, median, percentile

from onvif_control.plugin import get as get_control
from tests.peers.media_node import MediaNode
from vms.audit.log import SYSTEM_ROLE, Who
from vms.db.models import MediaItem, RecordingGap
from vms.services import Services

USER, PASSWORD = "admin", "pw-bench-cluster"
SETUP = Who("bench", SYSTEM_ROLE)
NODES = ("node-a", "node-b")
TICKS = os.sysconf("SC_CLK_TCK")
HOLE_SECONDS = 2.0  # a hole between consecutive segments longer than this is a gap


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# -- the simulated cameras ---------------------------------------------------------------


def start_simulators(
    work: Path, count: int, size: str, fps: int
) -> tuple[subprocess.Popen[bytes], list[tuple[str, str]]]:
    """``vms simulate-camera --count N`` on ephemeral ports; its (ONVIF, RTSP) URLs."""
    log = (work / "simulators.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "onvif_control.simulator",
            "--count", str(count), "--onvif-port", "0", "--rtsp-port", "0",
            "--size", size, "--fps", str(fps), "--username", USER, "--password", PASSWORD,
        ],
        stdout=subprocess.PIPE,
        stderr=log,
    )  # fmt: skip
    assert proc.stdout is not None
    urls: list[tuple[str, str]] = []
    deadline = time.monotonic() + 120
    while len(urls) < count:
        line = proc.stdout.readline().decode()
        if not line or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"the simulators did not start: see {work / 'simulators.log'}")
        found = re.match(r"ONVIF (\S+) RTSP (\S+)", line)
        if found:
            urls.append((found[1], found[2]))
    return proc, urls


def with_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(USER)}:{quote(PASSWORD)}@{parts.netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def start_peer(work: Path, rtsp: list[str], segment_seconds: int) -> list[subprocess.Popen[bytes]]:
    """One ``ffmpeg -c copy`` per camera into MP4 segments of the nodes' length."""
    out = work / "ffmpeg"
    out.mkdir()
    procs = []
    for i, url in enumerate(rtsp):
        procs.append(
            subprocess.Popen(
                [
                    "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
                    "-i", with_credentials(url), "-c", "copy", "-map", "0:v",
                    "-f", "segment", "-segment_time", str(segment_seconds),
                    "-segment_format", "mp4", "-reset_timestamps", "1",
                    str(out / f"cam{i:02d}-%05d.mp4"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=(work / f"ffmpeg-{i:02d}.log").open("wb"),
            )
        )  # fmt: skip
    return procs


# -- what the catalog and the nodes say --------------------------------------------------


def segments(services: Services, after: dt.datetime | None = None) -> list[MediaItem]:
    with services.db.session() as s:
        query = sa.select(MediaItem).where(MediaItem.source == "fixed")
        if after is not None:
            query = query.where(MediaItem.recorded_start >= after)
        return list(s.execute(query.order_by(MediaItem.recorded_start)).scalars())


def gaps_opened(services: Services, after: dt.datetime) -> list[RecordingGap]:
    with services.db.session() as s:
        query = sa.select(RecordingGap).where(RecordingGap.start >= after)
        return list(s.execute(query).scalars())


def holes(items: list[MediaItem], start: dt.datetime, end: dt.datetime) -> list[str]:
    """Time between consecutive segments of a camera above HOLE_SECONDS, in the window."""
    found = []
    by_camera: dict[str, list[MediaItem]] = {}
    for item in items:
        by_camera.setdefault(item.device_id, []).append(item)
    for camera, rows in by_camera.items():
        for before, after in itertools.pairwise(rows):
            if before.recorded_end is None or not start <= after.recorded_start <= end:
                continue
            hole = (after.recorded_start - before.recorded_end).total_seconds()
            if hole > HOLE_SECONDS:
                found.append(f"{camera}: {hole:.1f} s at {after.recorded_start:%H:%M:%S}")
    return found


Histogram = tuple[list[float], list[float]]  # bucket bounds, cumulative counts


def ingest_histogram(port: int) -> Histogram:
    """``vms_ingest_seconds{source="fixed"}`` of a node's /metrics."""
    text = urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    bounds, counts = [], []
    pattern = r'vms_ingest_seconds_bucket\{le="([^"]+)",source="fixed"\} (\S+)'
    for le, count in re.findall(pattern, text):
        bounds.append(float(le))
        counts.append(float(count))
    return bounds, counts


def quantile(q: float, before: Histogram, after: Histogram) -> float | None:
    """The q-quantile of the observations between two readings of a histogram, linear
    within a bucket (Prometheus' histogram_quantile)."""
    bounds = after[0]
    if not bounds:
        return None
    old = dict(zip(*before, strict=True))
    counts = [c - old.get(b, 0.0) for b, c in zip(*after, strict=True)]
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    i = bisect.bisect_left(counts, rank)
    if bounds[i] == float("inf"):
        return bounds[i - 1]
    lower, below = (bounds[i - 1], counts[i - 1]) if i else (0.0, 0.0)
    inside = counts[i] - below
    return lower + (bounds[i] - lower) * ((rank - below) / inside if inside else 1.0)


def merged(histograms: list[Histogram]) -> Histogram:
    bounds = histograms[0][0]
    return bounds, [sum(h[1][i] for h in histograms) for i in range(len(bounds))]


# -- the run -----------------------------------------------------------------------------


def onboard_all(services: Services, urls: list[tuple[str, str]]) -> list[str]:
    cameras = get_control(services).cameras
    ids = []
    for i, (onvif, _rtsp) in enumerate(urls):
        ids.append(cameras.onboard(SETUP, f"cam{i + 1:02d}", onvif, USER, PASSWORD).id)
    get_control(services).close()  # this process records nothing and polls nothing
    return ids


def run(services: Services, work: Path, args: argparse.Namespace) -> int:
    sims, urls = start_simulators(work, args.cameras, args.size, args.fps)
    nodes: dict[str, MediaNode] = {}
    peer: list[subprocess.Popen[bytes]] = []
    try:
        print(f"{len(urls)} simulated cameras ({args.size} at {args.fps} fps) up", flush=True)
        ids = onboard_all(services, urls)
        settings = {"VMS_RECORDER_SEGMENT_SECONDS": str(args.segment_seconds)}
        ports = {name: free_port() for name in NODES}
        nodes = {n: MediaNode(services.config, work, n, settings, port=ports[n]) for n in NODES}
        half = len(ids) // 2

        def spread() -> bool:
            held = list(holders(services).values())
            return all(held.count(n) in (half, len(ids) - half) for n in NODES)

        wait(spread, 120, "the cameras spread over the two nodes")
        warm_start = dt.datetime.now(dt.UTC)
        wait(
            lambda: {i.device_id for i in segments(services, warm_start)} >= set(ids),
            args.segment_seconds * 3 + 60,
            "a catalogued segment of every camera",
        )
        peer = start_peer(work, [rtsp for _, rtsp in urls], args.segment_seconds)
        time.sleep(5)  # the peer connects and writes its first segment
        if dead := [i for i, p in enumerate(peer) if p.poll() is not None]:
            raise SystemExit(f"ffmpeg of cameras {dead} exited: see {work}/ffmpeg-*.log")
        cams_held = {n: sorted(c for c, h in holders(services).items() if h == n) for n in NODES}
        load_before = loadavg()
        start = dt.datetime.now(dt.UTC)
        t0 = time.monotonic()
        node_cpu0 = {n: cpu_seconds(nodes[n].pid) for n in NODES}
        peer_cpu0 = [cpu_seconds(p.pid) for p in peer]
        sim_cpu0 = cpu_seconds(sims.pid)
        hist0 = {n: ingest_histogram(ports[n]) for n in NODES}
        print(
            f"measuring {args.minutes:g} min from {start:%H:%M:%S} "
            f"(load {load_before}; cameras per node "
            + ", ".join(f"{n} {len(c)}" for n, c in cams_held.items())
            + ")",
            flush=True,
        )
        deadline = t0 + args.minutes * 60
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(60.0, left))
            print(
                f"  {(time.monotonic() - t0) / 60:.1f} min, load {loadavg()}, "
                f"segments {len(segments(services, start))}",
                flush=True,
            )
        wall = time.monotonic() - t0
        node_cpu = {n: cpu_seconds(nodes[n].pid) - node_cpu0[n] for n in NODES}
        peer_cpu = sum(cpu_seconds(p.pid) for p in peer) - sum(peer_cpu0)
        sim_cpu = cpu_seconds(sims.pid) - sim_cpu0
        hist1 = {n: ingest_histogram(ports[n]) for n in NODES}
        end = dt.datetime.now(dt.UTC)
        load_after = loadavg()
        held_after = {n: sorted(c for c, h in holders(services).items() if h == n) for n in NODES}
        peer_alive = sum(p.poll() is None for p in peer)
    finally:
        for proc in peer:
            if proc.poll() is None:
                proc.terminate()
        for proc in peer:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for node in nodes.values():
            node.stop()
        sims.terminate()
        try:
            sims.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sims.kill()

    # -- figures ---------------------------------------------------------------------------
    window = segments(services, start)
    window = [i for i in window if i.recorded_start <= end]
    opened = gaps_opened(services, start)
    opened = [g for g in opened if g.start <= end]
    found_holes = holes(segments(services), start, end)
    lag = [
        (i.ingested_at - i.recorded_end).total_seconds()
        for i in window
        if i.recorded_end is not None
    ]
    print()
    print(
        f"window {wall / 60:.1f} min; load before {load_before}, after {load_after} "
        f"(2 cores, shared; {benchlib.cpu_pressure()})"
    )
    per_camera = []
    for n in NODES:
        count = len(cams_held[n])
        fraction = node_cpu[n] / wall
        per_camera.append(fraction / max(count, 1))
        same = "same" if held_after[n] == cams_held[n] else f"now {len(held_after[n])}"
        p95 = quantile(0.95, hist0[n], hist1[n])
        p95_text = "n/a" if p95 is None else f"{p95 * 1000:.0f} ms"
        print(
            f"{n}: {count} cameras ({same} at the end), CPU {fraction * 100:.1f} % of a core, "
            f"{per_camera[-1] * 100:.2f} % per camera; segment ingest p95 {p95_text}"
        )
    peer_per_camera = peer_cpu / wall / len(peer)
    print(
        f"peer ffmpeg -c copy: {len(peer)} processes ({peer_alive} alive at the end), "
        f"CPU {peer_cpu / wall * 100:.1f} % of a core, {peer_per_camera * 100:.2f} % per camera"
    )
    print(f"simulators (load generator): CPU {sim_cpu / wall * 100:.1f} % of a core")
    both = merged([hist0[n] for n in NODES]), merged([hist1[n] for n in NODES])
    p50, p95 = quantile(0.5, *both), quantile(0.95, *both)
    if p50 is not None and p95 is not None:
        print(
            f"segment ingest (vms_ingest_seconds, fixed, both nodes): p50 {p50 * 1000:.0f} ms, "
            f"p95 {p95 * 1000:.0f} ms"
        )
    if lag:
        print(
            f"last packet -> ingest start (catalog, {len(lag)} segments): "
            f"p50 {median(lag):.2f} s, p95 {percentile(lag, 95):.2f} s"
        )
    print(f"segments catalogued in the window: {len(window)} ({len(ids)} cameras)")
    print(f"gaps opened in the window: {len(opened)}; holes over {HOLE_SECONDS:g} s: "
          f"{len(found_holes)}")  # fmt: skip
    for gap in opened[:10]:
        print(f"  gap {gap.camera_id} {gap.start:%H:%M:%S} {gap.cause}: {gap.detail}")
    for hole in found_holes[:10]:
        print(f"  hole {hole}")
    ratio = median(per_camera) / peer_per_camera if peer_per_camera > 0 else float("inf")
    print(
        f"node CPU per camera / ffmpeg -c copy CPU per camera: {ratio:.2f} "
        f"(median of the two nodes)"
    )
    ok = not opened and not found_holes
    print(f"no gaps after warm-up: {benchlib.verdict(ok)}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="window (default 10)")
    parser.add_argument("--cameras", type=int, default=40, help="cameras (default 40)")
    parser.add_argument("--size", default="320x180", help="camera picture (default 320x180)")
    parser.add_argument("--fps", type=int, default=5, help="camera frame rate (default 5)")
    parser.add_argument(
        "--segment-seconds", type=int, default=60, help="segment length (default 60, the product's)"
    )
    args = parser.parse_args(argv)
    work = OUT_DIR / "cluster"
    print(
        f"cluster benchmark: {args.cameras} cameras, 2 media nodes, {args.minutes:g} min; "
        f"machine: {benchlib.machine()} (load {loadavg()})"
    )
    benchlib.quiet_logs()
    with benchlib.postgres_services(work, f"vms_bench_cluster_{os.getpid()}") as services:
        status = run(services, work, args)
    if status == 0:
        shutil.rmtree(work, ignore_errors=True)  # kept after a failure: the logs
    return status


if __name__ == "__main__":
    raise SystemExit(main())
