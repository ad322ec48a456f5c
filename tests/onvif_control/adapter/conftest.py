"""Helpers for the adapter's tests: a coroutine run on a fresh loop with the device
closed after, whatever happened."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from onvif_control.adapter.device import OnvifDevice

T = TypeVar("T")


def run_with(device: OnvifDevice, make: Callable[[OnvifDevice], Awaitable[T]]) -> T:
    """``make(device)`` run to completion; the device's connections are closed after."""

    async def go() -> T:
        try:
            return await make(device)
        finally:
            await device.close()

    return asyncio.run(go())
