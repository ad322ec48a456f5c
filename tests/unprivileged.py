"""Running a call as a service user that owns its files and nothing else, in a test run
as root (the dock tests: files written into the dock by another user).

The call runs in its own thread whose effective capabilities lack CAP_DAC_OVERRIDE,
CAP_DAC_READ_SEARCH and CAP_FOWNER (Linux keeps capabilities per thread; ``capset`` on
the calling thread). The thread still has uid 0, so the test's own files (owned by root)
are its own; a file owned by another uid is then treated by the kernel as it is for an
ordinary service user: its mode bits apply, and ``fs.protected_hardlinks = 1`` (Debian's
default) refuses a hard link to it (EPERM) unless the thread may write it.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3
_CAPABILITY_VERSION_3 = 0x20080522
# Another user than the test's and the service's: the docking station's.
STATION_UID = 1000


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _drop_overrides() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _Header(_CAPABILITY_VERSION_3, 0), (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    data[0].effective &= ~((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH) | (1 << CAP_FOWNER))
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def require_protected_hardlinks() -> None:
    """Skip, saying why, where the kernel does not protect hard links (the defect these
    tests show needs it) or the test cannot change users (not root)."""
    setting = Path("/proc/sys/fs/protected_hardlinks")
    if os.geteuid() != 0:
        pytest.skip("needs root to act as a service user and a docking station user")
    if not setting.exists() or setting.read_text().strip() != "1":
        pytest.skip("fs.protected_hardlinks is not 1 on this machine")


def as_service_user(call: Callable[[], T]) -> T:
    """``call()`` in a thread without the override capabilities (module doc); what it
    returned, or what it raised."""
    got: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            _drop_overrides()
            got.append(call())
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="service-user")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return got[0]


# ``run_cli(..., script=CLI_AS_SERVICE_USER)``: ``vms`` in a process that drops the
# override capabilities (module doc) before the CLI starts. A thread's own capabilities
# are not enough: a process of uid 0 gets them all back when it executes a program.
CLI_AS_SERVICE_USER = """
import runpy, sys
from tests.unprivileged import _drop_overrides
_drop_overrides()
sys.argv[0] = "vms"
runpy.run_module("vms.cli", run_name="__main__", alter_sys=True)
"""
