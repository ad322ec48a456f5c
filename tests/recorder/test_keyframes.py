"""Keyframe requests to pass-through cameras (recorder/keyframes.py) with a port that
records what it was asked: the rate limit per camera (a request too soon is deferred,
not dropped), a camera that refuses remembered until forgotten, a camera that did not
answer asked again, nothing asked when disabled or without a provider. The real thing
(ONVIF to the simulator, Chromium as the viewer) is in tests/web/test_whep_browser.py."""

from __future__ import annotations

import threading
import time

from recorder.keyframes import CameraKeyframes, KeyframeSettings, due
from vms.clock import ManualClock
from vms.errors import Unavailable
from vms.ports import KeyframeRequest


class Camera:
    """The port: answers per camera id, records the calls."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.done = threading.Semaphore(0)

    def request_keyframe(self, camera_id: str) -> bool:
        self.asked.append(camera_id)
        try:
            answer = self.answers[camera_id]
            if isinstance(answer, Exception):
                raise answer
            return bool(answer)
        finally:
            self.done.release()


def settle(port: Camera, calls: int) -> None:
    for _ in range(calls):
        assert port.done.acquire(timeout=5), "the request was not made"
    time.sleep(0.05)  # the worker records the answer after the port returns


def test_due() -> None:
    assert due(5.0, None, 1.0) and due(6.0, 5.0, 1.0) and not due(5.9, 5.0, 1.0)


def test_one_request_per_camera_per_interval_and_refusals_remembered(clock: ManualClock) -> None:
    port = Camera({"a": True, "b": False, "c": Unavailable("no answer")})
    port_: KeyframeRequest = port
    keyframes = CameraKeyframes(lambda: port_, clock, KeyframeSettings(True, 1.0))
    try:
        assert keyframes.request("a") and not keyframes.request("a")  # twenty viewers: one
        assert keyframes.request("b") and keyframes.request("c")
        settle(port, 3)
        assert sorted(port.asked) == ["a", "b", "c"]
        clock.advance(0.5)
        assert not keyframes.request("a")  # deferred to the end of the second, not dropped
        assert not keyframes.request("a")  # ... once
        settle(port, 1)  # half a second later
        assert port.asked.count("a") == 2
        clock.advance(1.0)
        assert keyframes.request("a")  # a second later: asked at once
        assert not keyframes.request("b")  # refused: remembered, viewers wait for a GOP
        assert not keyframes.supported("b") and keyframes.supported("c")
        assert keyframes.request("c")  # did not answer: asked again
        settle(port, 2)
        assert sorted(port.asked) == ["a", "a", "a", "b", "c", "c"]
        assert (keyframes.counts.answered, keyframes.counts.unsupported) == (3, 1)
        assert keyframes.counts.failed == 2
        keyframes.forget("b")  # the camera restarted (edited): asked again
        assert keyframes.request("b")
        settle(port, 1)
        assert port.asked.count("b") == 2
    finally:
        keyframes.stop()


def test_nothing_is_asked_when_disabled_or_without_a_provider(clock: ManualClock) -> None:
    port = Camera({"a": True})
    port_: KeyframeRequest = port
    off = CameraKeyframes(lambda: port_, clock, KeyframeSettings(False, 1.0))
    unprovided = CameraKeyframes(lambda: None, clock, KeyframeSettings(True, 1.0))
    assert not off.request("a") and not unprovided.request("a")
    time.sleep(0.1)
    assert port.asked == []
