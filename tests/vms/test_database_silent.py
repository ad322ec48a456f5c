"""A PostgreSQL server that accepts the connection and then never answers (a hung
server, a proxy whose backend is gone): a command is refused within the connect
timeout, naming the database, instead of waiting for the kernel to give up."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from vms.db import engine as engine_module
from vms.db.engine import require_schema
from vms.errors import Unavailable


def test_a_database_that_never_answers_is_refused_in_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_module, "PG_CONNECT_TIMEOUT", 2, raising=False)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nobody ever speaks
    port = silent.getsockname()[1]
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            require_schema(f"postgresql://vms:s3cret@127.0.0.1:{port}/vms")
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=20)
    silent.close()
    assert outcome, "still waiting for the silent server after 20 s"
    [error] = outcome
    assert isinstance(error, Unavailable), error
    assert f"127.0.0.1:{port}" in error.message and "s3cret" not in error.message
    assert time.monotonic() - started < 15
