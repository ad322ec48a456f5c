"""Crash points for the crash-safety tests.

``crash_point("ingest.after-rename")`` kills the process on the spot (SIGKILL: no
cleanup, no ``finally``) when the environment variable ``VMS_TEST_CRASH_AT`` names that
point. Unset, as in production, it costs one dictionary lookup. The points are the
numbered steps of docs/design/storage.md, so the tests can prove each step is safe.
"""

from __future__ import annotations

import os
import signal

ENV = "VMS_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
