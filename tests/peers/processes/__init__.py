"""A server started as a subprocess, for tests and benchmarks: its stdout read line by
line in a thread, waited on until a line says it is ready (if it exits first, the
error shows what it printed), and stopped by its pid when the block ends (terminate,
then kill): never by name."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Started:
    proc: subprocess.Popen[str]
    output: list[str]  # the stdout lines up to the one that said it was ready, with it
    ready: re.Match[str]  # that line's match


@contextmanager
def started(
    argv: list[str],
    *,
    env: dict[str, str],
    ready: re.Pattern[str],
    log: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 120.0,
) -> Iterator[Started]:
    """``argv`` running until the block ends, once a line of its stdout matches ``ready``
    (within ``timeout`` seconds); its stderr goes to ``log`` (else nowhere)."""
    errors = log.open("w") if log is not None else None
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=errors if errors is not None else subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, name="started-stdout", daemon=True)
    reader.start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                said = log.read_text()[-3000:] if log is not None else ""
                raise AssertionError(
                    f"{argv} exited ({proc.poll()}) before {ready.pattern!r}: {output} {said}"
                )
            output.append(line)
            if found := ready.search(line):
                break
        yield Started(proc, output, found)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
        if errors is not None:
            errors.close()
