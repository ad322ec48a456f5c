"""WebRTC viewers for the leak test (issue 12: "the randomized PTZ script with WebRTC
viewers attached: 0 private pixels in every WebRTC-decoded frame").

The viewers are real aiortc peers (recvonly H.264, as a browser's WHEP client) in a
process of their own, so their decoding takes nothing from the recorder and simulator
under test (the leak test matches every frame to the simulator's render by time). The
signalling goes through the media engine's own WHEP entry
(:meth:`recorder.live_views.LiveViews.open_webrtc`, role check and audit included): the
child prints each offer, the test hands it to the engine and writes the answer back.
Every frame a viewer decodes is checked for the simulator's private-signature pixels as
it arrives (only the counts are kept).

Child protocol (JSON lines): child -> ``{"offer": sdp}`` per viewer; parent ->
``{"answer": sdp}``; parent -> ``"stop"``; child -> ``{"frames": n, "leaked": n}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from vms.audit.log import SYSTEM_ROLE, Who
from vms.auth.permissions import Actor
from vms.auth.sessions import Credential
from vms.db.models import User
from vms.services import Services

ROOT = Path(__file__).resolve().parents[2]


def dispatcher(services: Services) -> tuple[Actor, Credential]:
    """A dispatcher signed in with an API token: who watches in the leak test."""
    by = Who("leak-test", SYSTEM_ROLE)
    services.users.add_user("leak-viewer", "dispatcher", "leak test viewer pw", by=by)
    with services.db.session() as s:
        user = s.query(User).filter_by(username="leak-viewer").one()
        actor = services.users.actor_for(s, user)
    found = services.users.authenticate_token(services.users.issue_token(actor).token)
    assert found is not None
    return found.actor, found.credential


class WebrtcViewers:
    """``count`` viewers of one camera in a child process; :meth:`stop` ends them and
    returns (frames decoded, private pixels in them)."""

    def __init__(
        self, live_views: Any, actor: Actor, credential: Credential, camera_id: str, count: int
    ) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.recorder.webrtc_viewers", str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        for _ in range(count):
            offer = json.loads(self.proc.stdout.readline())["offer"]
            answer = live_views.open_webrtc(actor, camera_id, offer, credential, "127.0.0.1")
            self.proc.stdin.write(json.dumps({"answer": answer.sdp}) + "\n")
            self.proc.stdin.flush()

    def stop(self) -> tuple[int, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write('"stop"\n')
            self.proc.stdin.flush()
            result = json.loads(self.proc.stdout.readline())
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc.stdin.close()
            self.proc.stdout.close()
        return int(result["frames"]), int(result["leaked"])


# -- the child --------------------------------------------------------------------------


async def _viewers(count: int) -> dict[str, int]:
    import numpy as np
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from onvif_control.simulator import SIGNATURE_TOLERANCE, signature_mask

    counts = {"frames": 0, "leaked": 0}
    pcs, tasks = [], []

    async def pull(track: Any) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return  # the track ended
            rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            counts["frames"] += 1
            counts["leaked"] += int(signature_mask(rgb, SIGNATURE_TOLERANCE).sum())

    async def line() -> Any:
        return json.loads(await asyncio.to_thread(sys.stdin.readline))

    for _ in range(count):
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        pcs.append(pc)
        pc.on("track", lambda track: tasks.append(asyncio.ensure_future(pull(track))))
        await pc.setLocalDescription(await pc.createOffer())
        print(json.dumps({"offer": pc.localDescription.sdp}), flush=True)
        answer = (await line())["answer"]
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    assert await line() == "stop"
    for task in tasks:
        task.cancel()
    for pc in pcs:
        await pc.close()
    return counts


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_viewers(int(sys.argv[1])))), flush=True)
