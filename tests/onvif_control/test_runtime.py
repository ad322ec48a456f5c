"""The ONVIF loop's thread, and the loops like it, outlive none of their blocking work:
a task cancelled while it awaits ``asyncio.to_thread`` leaves that thread running, and a
database call in it would hand its connection back to a pool already disposed (CI saw
the connection closed by the garbage collector, a ResourceWarning, tests after)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from onvif_control.runtime import OnvifRuntime
from recorder.webrtc import WhepGateway, WhepSettings
from vms.clock import SystemClock

pytestmark = pytest.mark.timeout(30)


def _blocking_call() -> tuple[threading.Event, threading.Event, Callable[[], None]]:
    started, done = threading.Event(), threading.Event()

    def call() -> None:
        started.set()
        time.sleep(0.5)
        done.set()

    return started, done, call


def test_stopping_the_onvif_loop_waits_for_the_threads_its_tasks_started():
    runtime = OnvifRuntime("onvif-test")
    started, done, call = _blocking_call()

    async def poll() -> None:
        await asyncio.to_thread(call)

    future = runtime.submit(poll())
    assert started.wait(5)
    future.cancel()  # as the pose tracker cancels its polls when it stops
    runtime.stop()
    assert done.is_set()


def test_stopping_the_webrtc_loop_waits_for_a_credential_check_in_progress():
    started, done, call = _blocking_call()

    def credential_ok(_credential: object) -> bool:
        call()
        return True

    gateway = WhepGateway(
        lambda _camera: None,  # type: ignore[arg-type,return-value]
        lambda _camera: None,
        credential_ok,
        WhepSettings(),
        SystemClock(),
    )
    loop = gateway._running_loop()
    # As the gateway re-checks a viewer's credential (blocking, in the loop's executor).
    asyncio.run_coroutine_threadsafe(_in_executor(credential_ok), loop)
    assert started.wait(5)
    gateway.stop()
    assert done.is_set()


async def _in_executor(check: Callable[[object], bool]) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, check, None)
