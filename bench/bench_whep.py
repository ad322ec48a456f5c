"""WebRTC (WHEP) benchmark (issue 12.1): CPU and memory per viewer with N viewers on one
1280x720 @ 15 fps camera, pass-through and masked.

Target: <= 0.5 % of one core per viewer with 20 viewers on one camera.

The camera runs in a simulator process and the viewers (aiortc peers, receiving and
decoding) in another process (this script with ``--viewers``), so neither is counted.
The server is the real app on a threaded werkzeug server on 127.0.0.1, a dispatcher's
token, ``POST /api/v1/cameras/{id}/whep``. CPU is the media engine's WebRTC work: the
``webrtc-loop`` thread (aiortc: packetizing, SRTP, sending, RTCP) plus the default
executor threads it uses, from ``/proc/self/task/<tid>/stat``, with N viewers minus the
same span with none, divided by N. Memory: resident set growth of this process with the
viewers connected, divided by N. The pipeline's own cost (decode/mask/encode for masked
cameras) is the recorder benchmark's and is the same with 0 or N viewers.

    $V/bin/python bench/bench_whep.py [--viewers 20] [--seconds 20] [--size 1280x720]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_recorder import (
    PASSWORD,
    WINDOW,
    StillPoses,
    bench_config,
    rss_mib,
    thread_times,
)
from bench.benchlib import quiet_logs
from privacy_masks.geometry import SpherePolygon
from privacy_masks.service import MaskService
from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from recorder.pipeline import CameraSpec
from vms.audit.log import SYSTEM_ROLE, Who
from vms.camera_model import Calibration
from vms.db.models import User
from vms.services import Services

SERVER_THREADS = ("webrtc-loop", "asyncio_")
BENCH = Who("bench", SYSTEM_ROLE)


# -- the viewers' process -----------------------------------------------------------------


def _counting_worker(loop: Any, input_q: Any, output_q: Any, decode_error: Any) -> None:
    """The viewers' receivers hand on each reassembled encoded frame instead of decoding
    it: twenty 720p decodes in one Python process would starve the viewers themselves
    (consent checks fail, sessions drop), and the viewers' cost is not what is measured."""
    while True:
        task = input_q.get()
        if task is None:
            asyncio.run_coroutine_threadsafe(output_q.put(None), loop)
            return
        asyncio.run_coroutine_threadsafe(output_q.put(task[1]), loop)


async def _viewers(url: str, token: str, count: int) -> None:
    import aiortc.rtcrtpreceiver
    from aiortc import RTCPeerConnection, RTCSessionDescription

    aiortc.rtcrtpreceiver.decoder_worker = _counting_worker

    peers = []
    frames = [0] * count

    async def pull(track: object, n: int) -> None:
        try:
            while True:
                await track.recv()  # type: ignore[attr-defined]
                frames[n] += 1
        except Exception:
            return  # the peer closed

    for n in range(count):
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        pc.on("track", lambda track, n=n: asyncio.ensure_future(pull(track, n)))
        await pc.setLocalDescription(await pc.createOffer())
        request = urllib.request.Request(
            url,
            data=pc.localDescription.sdp.encode(),
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        reply = await asyncio.to_thread(urllib.request.urlopen, request, timeout=30)
        answer = reply.read().decode()
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        peers.append(pc)
    deadline = time.monotonic() + 30
    while min(frames) == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    print(json.dumps({"ready": min(frames) > 0}), flush=True)
    while (await asyncio.to_thread(sys.stdin.readline)).strip() != "stop":
        print(json.dumps({"frames": frames}), flush=True)
    print(json.dumps({"frames": frames}), flush=True)
    for pc in peers:
        await pc.close()


def viewers_main(url: str, token: str, count: int) -> None:
    quiet_logs()
    asyncio.run(_viewers(url, token, count))


# -- the server's side ----------------------------------------------------------------------


def start_camera(
    size: str, fps: int = 15, extra: tuple[str, ...] | list[str] = ()
) -> tuple[subprocess.Popen[str], str]:
    """One simulator camera in a process of its own (``extra``: more of its options);
    its RTSP URL with the credentials."""
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "onvif_control.simulator", "--onvif-port", "0",
            "--rtsp-port", "0", "--count", "1", "--size", size, "--fps", str(fps),
            "--password", PASSWORD, *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ONVIF "):
        proc.terminate()
        raise RuntimeError(f"simulator did not start: {line!r}")
    scheme, rest = line.split(" RTSP ")[1].strip().split("://", 1)
    return proc, f"{scheme}://admin:{PASSWORD}@{rest}"


@contextlib.contextmanager
def served(data: Path) -> Iterator[tuple[Services, str, str]]:
    """A fresh SQLite VMS in ``data`` served by the real app on a threaded werkzeug
    server on 127.0.0.1: (services, base URL, a dispatcher's API token). Shut down and
    closed after."""
    from werkzeug.serving import make_server

    from web.app import create_app

    # Every viewer is the one bench user: no per-user session limit.
    config = bench_config(
        data, VMS_WEBRTC_CONNECT_TIMEOUT_SECONDS="60", VMS_WEBRTC_MAX_SESSIONS_PER_USER="0"
    )
    services = Services.open(config)
    try:
        services.migrate()
        services.users.add_user("bench-dispatcher", "dispatcher", "pw-bench-1", by=BENCH)
        with services.db.session() as s:
            user = s.execute(select(User).where(User.username == "bench-dispatcher")).scalar_one()
            actor = services.users.actor_for(s, user)
        token = services.users.issue_token(actor).token
        app, _socketio = create_app(services)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield services, f"http://127.0.0.1:{server.server_port}", token
        finally:
            server.shutdown()
    finally:
        services.close()


def record_phase(recorder: Recorder, services: Services, phase: str, url: str) -> None:
    """Record ``url`` as camera ``phase`` ("masked": with a privacy mask away from the
    picture's top), once its first packets are in and 2 s more."""
    if phase == "masked":
        services.ports.get(MaskService).replace_all(phase, [SpherePolygon("window", WINDOW)], BENCH)
    recorder.add_camera(CameraSpec(phase, url, Calibration()))
    deadline = time.monotonic() + 30
    while recorder.hub(phase).info is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{phase}: no packets: {recorder.status(phase)}")
        time.sleep(0.1)
    time.sleep(2.0)


def server_cpu() -> tuple[float, float]:
    """The WebRTC threads' CPU seconds so far: user space, kernel."""
    return thread_times(SERVER_THREADS)


def measure(
    recorder: Recorder, camera_id: str, base: str, token: str, viewers: int, seconds: float
) -> dict[str, float]:
    # The same span without viewers first (the loop idles; nothing else runs on it).
    (user0, sys0), wall0 = server_cpu(), time.monotonic()
    time.sleep(seconds)
    (user1, sys1), idle_wall = server_cpu(), time.monotonic() - wall0
    idle, idle_sys = (user1 + sys1 - user0 - sys0) / idle_wall, (sys1 - sys0) / idle_wall
    rss0 = rss_mib()
    proc = subprocess.Popen(
        [
            sys.executable, __file__, "--viewers-of", f"{base}/api/v1/cameras/{camera_id}/whep",
            "--token", token, "--viewers", str(viewers),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready = json.loads(proc.stdout.readline())
        if not ready.get("ready"):
            raise RuntimeError("viewers got no frames within 30 s")
        time.sleep(2.0)  # settle
        proc.stdin.write("count\n")
        proc.stdin.flush()
        before = json.loads(proc.stdout.readline())["frames"]
        sessions = recorder.webrtc.sessions(camera_id)
        sent0 = [recorder.webrtc.packets_sent(s) for s in sessions]
        (user0, sys0), wall0 = server_cpu(), time.monotonic()
        time.sleep(seconds)
        (user1, sys1), wall1 = server_cpu(), time.monotonic()
        sent1 = [recorder.webrtc.packets_sent(s) for s in sessions]
        # Sessions that ended while measured (before the viewers are told to stop).
        closed = recorder.webrtc.closed_reasons
        ended = {s: closed[s] for s in sessions if s in closed}
        rss1 = rss_mib()
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        after = json.loads(proc.stdout.readline())["frames"]
    finally:
        proc.wait(30)
    if ended:
        print(f"{camera_id}: ended while measured: {sorted(set(ended.values()))}", file=sys.stderr)
    wall = wall1 - wall0
    busy = (user1 + sys1 - user0 - sys0) / wall
    kernel = (sys1 - sys0) / wall
    fps = [(a - b) / wall for a, b in zip(after, before, strict=True)]
    sent = [(a - b) / wall for a, b in zip(sent1, sent0, strict=True)]
    return {
        "core_per_viewer": (busy - idle) / viewers,
        "kernel_per_viewer": (kernel - idle_sys) / viewers,
        "core_total": busy,
        "rss_per_viewer_mib": (rss1 - rss0) / viewers,
        "fps_min": min(fps),
        "fps_median": sorted(fps)[len(fps) // 2],
        "sent_fps_min": min(sent) if sent else 0.0,
        "sessions": float(recorder.webrtc.session_count),
        "encoding": float(recorder.webrtc.senders_encoding()),
        "dropped": float(len(ended)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--phases", default="pass-through,masked")
    parser.add_argument("--viewers-of", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--token", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.viewers_of:
        viewers_main(args.viewers_of, args.token, args.viewers)
        return 0
    quiet_logs()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-whep-") as tmp, served(Path(tmp)) as site:
        services, base, token = site
        proc, url = start_camera(args.size)
        try:
            recorder = get_recorder(services)
            recorder.pose_source = StillPoses()
            recorder.start()
            for phase in args.phases.split(","):
                record_phase(recorder, services, phase, url)
                results[phase] = measure(recorder, phase, base, token, args.viewers, args.seconds)
                recorder.remove_camera(phase)
            recorder.stop()
        finally:
            proc.terminate()
            proc.wait(20)
    print(f"WHEP benchmark, {args.size} @ 15 fps, {args.viewers} viewers, {args.seconds:.0f} s")
    ok = True
    for phase, r in results.items():
        print(
            f"  {phase:12s}: {100 * r['core_per_viewer']:.2f} % of a core per viewer "
            f"(target <= 0.5 %; {100 * r['kernel_per_viewer']:.2f} % of it in the kernel), "
            f"{100 * r['core_total']:.1f} % in all, "
            f"RSS +{r['rss_per_viewer_mib']:.1f} MiB per viewer, packets sent to the "
            f"least served viewer {r['sent_fps_min']:.1f}/s, frames received by the viewers' "
            f"process min {r['fps_min']:.1f} median {r['fps_median']:.1f} fps, "
            f"{r['encoding']:.0f} senders encoding, {r['dropped']:.0f} sessions dropped"
        )
        ok = ok and r["core_per_viewer"] <= 0.005 and r["encoding"] == 0
        ok = ok and r["sent_fps_min"] >= 10  # every viewer was being sent the stream
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
