"""Glass-to-glass latency benchmark (issue 12.1): simulator capture -> frame decoded in
Chromium over WebRTC (WHEP), for a pass-through and a masked camera, against the same
camera's RTSP decoded straight by PyAV (the peer: what a camera's own stream costs with
no VMS in between).

Target: p95 under 300 ms for pass-through and for masked, on loopback.

The simulator (a subprocess, ``--burn-in-clock``) burns each frame's capture time (wall
clock, ms) into the top of the picture as a row of black and white blocks
(``onvif_control/simulator/timecode.py``). The VMS is the real app on a threaded werkzeug
server on 127.0.0.1 with the recorder recording that camera (added as ``pass-through``,
then as ``masked`` with a privacy mask away from the band); a dispatcher's token posts
the WHEP offer. Headless Chromium (Debian's) plays the answer's track in a ``<video>``;
for each frame ``requestVideoFrameCallback`` reports, the top rows are drawn to a canvas,
the blocks read back, and the capture time compared with the frame's presentation time
(``performance.timeOrigin + metadata.presentationTime``: the frame was decoded and handed
to the compositor) and its arrival (``metadata.receiveTime``: the last packet of the
frame received). One machine, one clock (CLOCK_REALTIME for the simulator's
``datetime.now`` and Chromium's ``performance.timeOrigin``).

The peer, in a subprocess: ``av.open`` of the RTSP URL with the recorder's options (TCP,
no probing), a single-threaded low-delay H.264 decoder, and ``time.time()`` when each
frame comes out of it. The ratio (ours p95 / peer p95) says what the VMS and the browser
add to what decoding the camera's stream costs anyway.

    $V/bin/python bench/bench_latency.py [--seconds 20] [--size 1280x720] [--fps 15]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_recorder import StillPoses
from bench.bench_whep import record_phase, served, start_camera
from bench.benchlib import cpu_pressure, machine, median, percentile, quiet_logs
from onvif_control.simulator import timecode
from recorder.engine import get as get_recorder

TARGET_P95_MS = 300.0
CHROMIUM = os.environ.get("VMS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
]

# In the page: play the WHEP stream, read the burned-in clock of every frame presented.
MEASURE_JS = """async ({url, token, seconds, warmup, bits, checkBits}) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', {direction: 'recvonly'});
  const video = document.createElement('video');
  video.muted = true; video.autoplay = true; video.playsInline = true;
  document.body.appendChild(video);
  pc.ontrack = (e) => { video.srcObject = e.streams[0] || new MediaStream([e.track]); };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
    setTimeout(resolve, 3000);
  });
  const reply = await fetch(url, {method: 'POST', body: pc.localDescription.sdp,
    headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + token}});
  if (reply.status !== 201) throw new Error('WHEP answered ' + reply.status);
  const session = reply.headers.get('Location');
  await pc.setRemoteDescription({type: 'answer', sdp: await reply.text()});
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const MOD = 4294967296;
  const presented = [], received = [];
  let unreadable = 0, frames = 0;
  const t0 = performance.now();
  function read(width, height) {
    const block = Math.floor(width / bits);
    let rows = Math.max(16, Math.floor(width / bits)); rows += rows % 2;
    rows = Math.min(rows, height);
    canvas.width = width; canvas.height = rows;
    ctx.drawImage(video, 0, 0, width, rows, 0, 0, width, rows);
    const data = ctx.getImageData(0, 0, width, rows).data;
    const y0 = Math.floor(rows / 4), y1 = Math.max(y0 + 1, Math.floor(3 * rows / 4));
    const xin = Math.max(1, Math.floor(block / 4));
    const word = [];
    for (let i = 0; i < bits; i++) {
      let sum = 0, n = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = i * block + xin; x < (i + 1) * block - xin; x++) {
          sum += data[4 * (y * width + x) + 1]; n++;  // green ~ luma
        }
      }
      word.push(sum / n > 127.5 ? 1 : 0);
    }
    let value = 0, check = 0;
    for (let i = 0; i < bits - checkBits; i++) value = value * 2 + word[i];
    for (let i = bits - checkBits; i < bits; i++) check = check * 2 + word[i];
    let sum = 0, v = value;
    for (let k = 0; k < 4; k++) { sum += v % 256; v = Math.floor(v / 256); }
    return sum % 256 === check ? value : null;
  }
  await new Promise((resolve) => {
    function onFrame(now, meta) {
      const elapsed = (performance.now() - t0) / 1000;
      if (elapsed > warmup) {
        frames++;
        const burned = read(meta.width, meta.height);
        if (burned === null) { unreadable++; } else {
          const at = (t) => (((performance.timeOrigin + t) % MOD) - burned + MOD) % MOD;
          presented.push(at(meta.presentationTime));
          if (meta.receiveTime !== undefined) received.push(at(meta.receiveTime));
        }
      }
      if (elapsed > warmup + seconds) return resolve();
      video.requestVideoFrameCallback(onFrame);
    }
    video.requestVideoFrameCallback(onFrame);
  });
  pc.close();
  if (session) await fetch(session, {method: 'DELETE',
    headers: {'Authorization': 'Bearer ' + token}});
  return {presented, received, unreadable, frames};
}"""


# -- the peer: the camera's RTSP straight into a decoder (a subprocess) -------------------


def peer_main(url: str, seconds: float, warmup: float) -> None:
    import av

    options = {
        "timeout": "5000000",
        "analyzeduration": "0",
        "probesize": "32768",
        "rtsp_transport": "tcp",
    }
    latencies: list[float] = []
    unreadable = frames = 0
    with av.open(url, options=options, timeout=5.0) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # frame threads would hold frames back
        stream.codec_context.options = {"flags": "low_delay"}
        start = time.monotonic()
        for packet in container.demux(stream):
            for frame in packet.decode():
                now_ms = round(time.time() * 1000)
                elapsed = time.monotonic() - start
                if elapsed < warmup:
                    continue
                frames += 1
                burned = timecode.read(frame.to_ndarray(format="gray"))
                if burned is None:
                    unreadable += 1
                else:
                    latencies.append(float(timecode.latency_ms(burned, now_ms)))
            if time.monotonic() - start > warmup + seconds:
                break
    print(json.dumps({"presented": latencies, "received": [], "unreadable": unreadable,
                      "frames": frames}))  # fmt: skip


def measure_peer(url: str, seconds: float, warmup: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--peer-of", url, "--seconds", str(seconds),
         "--warmup", str(warmup)],
        capture_output=True, text=True, timeout=seconds + warmup + 60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the RTSP peer failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the VMS and Chromium ------------------------------------------------------------------


def measure_browser(page: Any, url: str, token: str, seconds: float, warmup: float) -> Any:
    return page.evaluate(
        MEASURE_JS,
        {
            "url": url,
            "token": token,
            "seconds": seconds,
            "warmup": warmup,
            "bits": timecode.BITS,
            "checkBits": timecode.CHECK_BITS,
        },
    )


def summary(r: dict[str, Any]) -> dict[str, float]:
    presented, received = r["presented"], r["received"]
    out = {
        "frames": float(r["frames"]),
        "read": float(len(presented)),
        "unreadable": float(r["unreadable"]),
    }
    if presented:
        out |= {"p50": median(presented), "p95": percentile(presented, 95)}
        out["max"] = max(presented)
    if received:
        out |= {"recv_p50": median(received), "recv_p95": percentile(received, 95)}
    return out


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, float]] = {}
    phases = args.phases.split(",")
    proc, url = start_camera(args.size, fps=args.fps, extra=["--burn-in-clock"])
    try:
        if "rtsp-peer" in phases:
            results["rtsp-peer"] = summary(measure_peer(url, args.seconds, args.warmup))
        with (
            tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp,
            served(Path(tmp)) as (services, base, token),
        ):
            recorder = get_recorder(services)
            recorder.pose_source = StillPoses()
            recorder.start()
            try:
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(
                        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                    )
                    page = browser.new_context(bypass_csp=True).new_page()
                    page.goto(f"{base}/login")  # the API's origin: same-origin fetches
                    for phase in phases:
                        if phase == "rtsp-peer":
                            continue
                        record_phase(recorder, services, phase, url)
                        whep = f"{base}/api/v1/cameras/{phase}/whep"
                        raw = measure_browser(page, whep, token, args.seconds, args.warmup)
                        results[phase] = summary(raw)
                        status = recorder.status(phase)
                        if status.mask_latency_median_ms is not None:
                            results[phase]["mask_p50"] = status.mask_latency_median_ms
                        recorder.remove_camera(phase)
                    browser.close()
            finally:
                recorder.stop()
    finally:
        proc.terminate()
        proc.wait(20)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--phases", default="rtsp-peer,pass-through,masked")
    parser.add_argument("--peer-of", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_of:
        peer_main(args.peer_of, args.seconds, args.warmup)
        return 0
    quiet_logs()
    results = run(args)
    print(
        f"Glass-to-glass latency, simulator {args.size} @ {args.fps} fps, "
        f"{args.seconds:.0f} s per phase ({machine()}; {cpu_pressure()})"
    )
    peer = results.get("rtsp-peer", {}).get("p95")
    ok = True
    for phase, r in results.items():
        if "p95" not in r:
            print(f"  {phase:12s}: no readable frame ({r['frames']:.0f} frames)")
            ok = False
            continue
        line = (
            f"  {phase:12s}: p50 {r['p50']:6.0f} ms  p95 {r['p95']:6.0f} ms  "
            f"max {r['max']:6.0f} ms  ({r['read']:.0f} frames read, "
            f"{r['unreadable']:.0f} unreadable)"
        )
        if "recv_p50" in r:
            line += f"; received by Chromium p50 {r['recv_p50']:.0f} p95 {r['recv_p95']:.0f} ms"
        if "mask_p50" in r:
            line += f"; mask pipeline p50 {r['mask_p50']:.0f} ms"
        if phase != "rtsp-peer":
            if peer:
                line += f"; {r['p95'] / peer:.1f}x the peer's p95"
            ok = ok and r["p95"] < TARGET_P95_MS
        print(line)
    verdict = "met" if ok else "MISSED"
    print(f"target p95 < {TARGET_P95_MS:.0f} ms (pass-through, masked): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
