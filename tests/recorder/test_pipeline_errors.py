"""What a pipeline failure leaves behind names the cause without the camera's
credentials: gap details, the status line and the log (docs/design/security.md)."""

from __future__ import annotations

import logging
import threading

import pytest

from recorder import pipeline as pipeline_module
from recorder.fanout import Interruption, Item, PacketHub
from recorder.pipeline import CameraPipeline, CameraSpec, PipelineSettings
from vms.clock import SystemClock
from vms.logs import install_redaction

SECRET = "s3cret-Pa55"


class _Collector:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.got = threading.Event()

    def __call__(self, item: Item) -> None:
        self.items.append(item)
        if isinstance(item, Interruption):
            self.got.set()


@pytest.mark.parametrize("failure", [RuntimeError, ValueError])
def test_an_unexpected_failure_is_recorded_without_the_url_credentials(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, failure: type[Exception]
) -> None:
    url = f"rtsp://admin:{SECRET}@127.0.0.1:9/stream"

    def explode(self: object) -> None:
        raise failure(f"could not read {url}")

    # The fake is the RTSP input only: what is examined is the pipeline's handling.
    monkeypatch.setattr(pipeline_module.RtspInput, "open", explode)
    hub = PacketHub("cam-1")
    seen = _Collector()
    hub.subscribe(seen)
    pipe = CameraPipeline(
        CameraSpec("cam-1", url),
        hub,
        masks=lambda camera_id: None,  # type: ignore[arg-type,return-value]
        pose_source=lambda: None,
        settings=PipelineSettings(reconnect_min_seconds=5.0),
        clock=SystemClock(),
    )
    install_redaction()  # as every role does at start (vms/logs.py)
    with caplog.at_level(logging.DEBUG):
        pipe.start()
        try:
            assert seen.got.wait(10), "no interruption was published"
        finally:
            pipe.stop()
    gaps = [i for i in seen.items if isinstance(i, Interruption)]
    assert gaps and all(SECRET not in g.detail for g in gaps)
    assert "could not read rtsp://" in gaps[0].detail and "127.0.0.1:9" in gaps[0].detail
    assert SECRET not in (pipe.status.last_error or "")
    assert SECRET not in caplog.text
    assert "could not read rtsp://admin:***@127.0.0.1:9" in caplog.text


def test_a_camera_that_stays_down_does_not_log_every_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A camera down for months (a refused connection here: a port bound, not
    listening) logged three lines every reconnect attempt (connecting, down, the
    reconnect warning), about 8,600 a day at the 30 s ceiling, for each such camera.
    The first failure is logged in full; repeats of the same failure only at attempts
    1, 2, 4, 8, ... ("still down"): lines grow with the log of the attempts."""
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound and not listening: every connect is refused
    try:
        url = f"rtsp://127.0.0.1:{closed.getsockname()[1]}/stream"
        pipe = CameraPipeline(
            CameraSpec("cam-down", url),
            PacketHub("cam-down"),
            masks=lambda camera_id: None,  # type: ignore[arg-type,return-value]
            pose_source=lambda: None,
            settings=PipelineSettings(reconnect_min_seconds=0.01, reconnect_max_seconds=0.01),
            clock=SystemClock(),
        )
        with caplog.at_level(logging.INFO, logger="recorder.pipeline"):
            pipe.start()
            try:
                deadline = threading.Event()
                while pipe.status.reconnects < 64 and not deadline.wait(0.05):
                    pass
            finally:
                pipe.stop()
    finally:
        closed.close()
    attempts = pipe.status.reconnects
    assert attempts >= 64
    lines = [r for r in caplog.records if r.name == "recorder.pipeline"]
    bound = 3 * (attempts.bit_length() + 1)
    assert len(lines) <= bound, f"{len(lines)} log lines for {attempts} failed attempts"
    assert "cam-down" in lines[0].getMessage()
