"""Crash points for the crash-safety tests.

``crash_point("ingest.after-rename")`` kills the process on the spot (SIGKILL: no
cleanup, no ``finally``) when the environment variable ``VMS_TEST_CRASH_AT`` names that
point. Unset, as in production, it costs one dictionary lookup. The points are the
numbered steps of docs/design/storage.md, so the tests can prove each step is safe.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

ENV = "VMS_TEST_CRASH_AT"
# Pause instead (tests of a process's work seen from beside it): at the point named by
# VMS_TEST_PAUSE_AT the process writes ``<VMS_TEST_PAUSE_DIR>/<name>.paused`` and waits
# (at most 5 minutes) for ``<name>.go`` to appear there.
PAUSE_ENV = "VMS_TEST_PAUSE_AT"
PAUSE_DIR_ENV = "VMS_TEST_PAUSE_DIR"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(PAUSE_ENV) == name:
        folder = Path(os.environ[PAUSE_DIR_ENV])
        (folder / f"{name}.paused").write_text(str(os.getpid()))
        for _ in range(6000):  # 5 minutes of 50 ms
            if (folder / f"{name}.go").exists():
                break
            time.sleep(0.05)
