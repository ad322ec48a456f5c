"""The web role's gunicorn master never opens the process umask (#10.12).

gunicorn sets the master's umask to its ``umask`` setting (0 unless given) while it
makes each worker's heartbeat file, then puts the old one back. The master is one
process with our services in it: a file made by another of its threads in that moment
(an audit checkpoint, a key) would be created readable and writable by every local user.
"""

from __future__ import annotations

import os

import pytest
from gunicorn.config import Config as GunicornConfig
from gunicorn.workers.workertmp import WorkerTmp

from vms.services import Services
from web.server import gunicorn_options


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_masters_umask_stays_private_while_a_workers_file_is_made(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = GunicornConfig()
    for name, value in gunicorn_options(services).items():
        cfg.set(name, value)
    masks: list[int] = []
    real_umask = os.umask

    def umask(mask: int) -> int:
        masks.append(mask)
        return real_umask(mask)

    monkeypatch.setattr(os, "umask", umask)
    WorkerTmp(cfg).close()  # what the master does for every worker it starts
    assert masks, "gunicorn no longer sets the umask here: look again"
    assert all(mask & 0o077 == 0o077 for mask in masks), [oct(m) for m in masks]
