"""The pipeline's reconnect backoff (recorder/pipeline.py, step 1): the delay doubles
from ``reconnect_min_seconds`` while connections fail and starts again from the minimum
after a healthy connection (one that recorded for ``HEALTHY_SECONDS``, at any frame rate),
even when that connection ended in an error, as every connection does (OPS-4: a camera
down is reconnected quickly after a good day, never hammered when it keeps failing).

The real simulator behind a TCP relay that refuses connections or cuts them; the delay
is read from the pipeline's status (what it waits), not timed."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from onvif_control.simulator import SimulatedCamera
from privacy_masks.model import MaskSet
from recorder.fanout import PacketHub
from recorder.pipeline import (
    HEALTHY_SECONDS,
    CameraPipeline,
    CameraSpec,
    PipelineSettings,
)
from tests.recorder.conftest import PASSWORD, USERNAME, wait_for
from tests.recorder.test_watch import SlowLink
from vms.clock import SystemClock

pytestmark = pytest.mark.timeout(90)

MIN, MAX = 0.1, 3.2


def healthy(pipe: CameraPipeline) -> None:
    """Wait until the current connection has recorded for ``HEALTHY_SECONDS`` as the
    pipeline reads it: its first packet (read no later than this test sees it), then
    those seconds, then packets read after them. A count of packets was not time: on a
    loaded machine the reader fell behind and read a burst of buffered packets (nine at
    2 fps in under 3 s), and the connection was cut before it was healthy."""
    before = pipe.status.packets
    wait_for(lambda: pipe.status.packets > before, 30, "the connection's first packet")
    time.sleep(HEALTHY_SECONDS)
    after = pipe.status.packets
    wait_for(lambda: pipe.status.packets > after + 1, 30, "packets past HEALTHY_SECONDS")


class CuttingLink:
    """A TCP relay to the simulator's RTSP port: the next ``refuse`` connections are
    closed as soon as they are accepted (a camera refusing), and :meth:`cut` ends the
    connections passing (a camera dropping its stream)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.refuse = 0
        self.accepted = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # closed
            while True:
                client, _ = self.server.accept()
                with self._lock:
                    self.accepted += 1
                    refused = self.refuse > 0
                    self.refuse -= refused
                if refused:
                    client.close()
                    continue
                upstream = socket.create_connection(("127.0.0.1", self.target))
                with self._lock:
                    self._open += [client, upstream]
                for pair in ((upstream, client), (client, upstream)):
                    threading.Thread(target=SlowLink._pump, args=pair, daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            cut, self._open = self._open, []
        for sock in cut:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.cut()
        self.server.close()


@contextlib.contextmanager
def relayed_pipeline(fps: int = 10) -> Iterator[tuple[CameraPipeline, CuttingLink]]:
    """A pass-through pipeline (no masks) reading the simulator (``fps`` frames a second)
    through the relay, with a 0.1 s minimum and a 3.2 s maximum delay (not started yet)."""
    sim = SimulatedCamera("backoff", size=(320, 180), fps=fps, username=USERNAME, password=PASSWORD)
    sim.start()
    link = CuttingLink(sim.rtsp_port)
    url = sim.rtsp_url.replace("rtsp://", f"rtsp://{USERNAME}:{PASSWORD}@", 1)
    url = url.replace(f":{sim.rtsp_port}/", f":{link.port}/", 1)
    pipe = CameraPipeline(
        CameraSpec("backoff", url),
        PacketHub("backoff"),
        masks=lambda camera_id: MaskSet(camera_id, 0, ()),
        pose_source=lambda: None,
        settings=PipelineSettings(reconnect_min_seconds=MIN, reconnect_max_seconds=MAX),
        clock=SystemClock(),
    )
    try:
        yield pipe, link
    finally:
        pipe.stop()
        link.close()
        sim.stop()


def dropped(pipe: CameraPipeline, link: CuttingLink) -> float:
    """Cut the stream; the delay the pipeline then waits before it reconnects."""
    before = pipe.status.reconnects
    link.cut()
    wait_for(lambda: pipe.status.reconnects > before, 20, "the pipeline to notice the cut")
    return pipe.status.reconnect_delay


def test_a_long_connection_that_stalls_resets_the_delay_OPS_4() -> None:
    """Before: the pipeline took a connection's health from ``_session``'s return
    value, and a session returns only when the recorder stops: every connection ends
    with an error (the stream ended, a stall), so none counted as healthy. A camera
    that failed a few times, streamed for a day, then stalled waited the grown delay
    (up to ``reconnect_max_seconds``, 30 s) before its first reconnect."""
    with relayed_pipeline() as (pipe, link):
        link.refuse = 3  # three failures in a row: the delay grows to 0.8 s
        pipe.start()
        wait_for(lambda: pipe.status.reconnects >= 3, 20, "three failed connections")
        assert pipe.status.reconnect_delay == pytest.approx(4 * MIN)
        healthy(pipe)
        assert dropped(pipe, link) == pytest.approx(MIN)


def test_short_connections_after_a_healthy_one_grow_the_delay_OPS_4() -> None:
    """A connection's health was judged by the pipeline's packet count over all its
    connections: once a camera had recorded 30 packets, every later connection that
    recorded one counted as healthy and reset the delay to the minimum. A camera that
    gives a keyframe and then drops was reconnected at the minimum delay for ever
    (hammered, the log and the gaps flooded). Now each connection is judged by its own
    packets."""
    with relayed_pipeline() as (pipe, link):
        pipe.start()
        healthy(pipe)
        delays = [dropped(pipe, link)]
        for _ in range(4):
            before = pipe.status.packets
            wait_for(lambda: pipe.status.packets > before, 20, "a packet of the next connection")
            delays.append(dropped(pipe, link))
            # Each short connection recorded a few packets, far from a healthy one's.
            assert pipe.status.packets - before < 10 * HEALTHY_SECONDS
        assert delays == pytest.approx([MIN, 2 * MIN, 4 * MIN, 8 * MIN, 16 * MIN])


def test_a_slow_camera_is_healthy_after_the_same_seconds_as_a_fast_one_OPS_4() -> None:
    """A connection's health was counted in packets (more than 30:
    "3 s at 10 fps"): a 2 fps camera had to stream 15 s before its reconnect delay
    started again from the minimum, a 30 fps one 1 s, so how soon a camera that dropped
    was reconnected (and how long its gap) depended on its frame rate. Now a connection
    is healthy once it has recorded for ``HEALTHY_SECONDS``, at any frame rate."""
    with relayed_pipeline(fps=2) as (pipe, link):
        link.refuse = 3  # three failures in a row: the delay grows to 0.8 s
        pipe.start()
        wait_for(lambda: pipe.status.reconnects >= 3, 20, "three failed connections")
        assert pipe.status.reconnect_delay == pytest.approx(4 * MIN)
        healthy(pipe)  # for HEALTHY_SECONDS: 2 fps, a packet every 0.5 s
        assert dropped(pipe, link) == pytest.approx(MIN)
