"""N simulated cameras in one process, on consecutive ports, sharing one event loop."""

from __future__ import annotations

import logging
import time
from typing import Self

from onvif_control.simulator.camera import SimulatedCamera
from onvif_control.simulator.loop_thread import LoopThread
from onvif_control.simulator.rtsp_server import PlayStart
from onvif_control.simulator.scene import Scene

log = logging.getLogger(__name__)


class SimulatorFleet:
    """``count`` cameras named ``cam1``..``camN``.

    Camera ``i`` (0-based) listens on ``onvif_port + i`` and ``rtsp_port + i``; a port of
    0 gives every camera its own ephemeral port. ``start()`` returns once all cameras
    answer; ``stop()`` stops them in bounded time and joins the threads. Also a context
    manager.
    """

    def __init__(
        self,
        count: int = 3,
        *,
        host: str = "127.0.0.1",
        onvif_port: int = 0,
        rtsp_port: int = 0,
        username: str = "admin",
        password: str,
        size: tuple[int, int] = (1280, 720),
        fps: int = 15,
        scene: Scene | None = None,
        advertised_host: str | None = None,
        gop_seconds: float = 1.0,
        burn_in_clock: bool = False,
        play_start: PlayStart = PlayStart.IDR,
    ) -> None:
        if count < 1:
            raise ValueError(f"count {count} must be at least 1")
        for port in (onvif_port, rtsp_port):
            if port and not 0 < port + count - 1 < 65536:
                raise ValueError(f"ports {port}..{port + count - 1} are outside 1..65535")
        self.cameras = [
            SimulatedCamera(
                f"cam{i + 1}",
                host=host,
                onvif_port=onvif_port + i if onvif_port else 0,
                rtsp_port=rtsp_port + i if rtsp_port else 0,
                username=username,
                password=password,
                size=size,
                fps=fps,
                scene=scene,
                advertised_host=advertised_host,
                gop_seconds=gop_seconds,
                burn_in_clock=burn_in_clock,
                play_start=play_start,
            )
            for i in range(count)
        ]
        self._loop: LoopThread | None = None

    def start(self) -> None:
        """Build the cameras and start their servers; returns when all are ready."""
        if self._loop is not None:
            raise RuntimeError("fleet already started")
        began = time.monotonic()
        for camera in self.cameras:
            camera.prepare()
        loop = LoopThread("sim-fleet-loop")
        loop.start()
        self._loop = loop
        try:
            for camera in self.cameras:
                loop.run(camera.start_async())
        except BaseException:
            self.stop()
            raise
        log.info(
            "%d simulated cameras ready in %.1f s", len(self.cameras), time.monotonic() - began
        )

    def stop(self) -> None:
        """Stop all cameras and the loop thread (bounded time); idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            for camera in self.cameras:
                try:
                    loop.run(camera.stop_async(), timeout=15.0)
                except Exception:
                    log.exception("stopping %s failed", camera.name)
        finally:
            loop.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
