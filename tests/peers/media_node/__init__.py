"""A media node as a process of its own: ``vms serve --role media`` with camera
ownership on (issue 13.1), its own data folder (spool, temp files, logs) and a given
database and media store. Used by the cluster test (tests/recorder/test_cluster_nodes.py)
and the failover benchmark (bench/bench_failover.py); stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from vms.config import Config

ROOT = Path(__file__).resolve().parents[3]

# Short rounds, so that a test sees a takeover in seconds: the lease must outlast the
# reconcile round (the configuration refuses otherwise).
FAST = {
    "VMS_RECORDER_SEGMENT_SECONDS": "2",
    "VMS_RECORDER_RECONCILE_SECONDS": "1",
    "VMS_CLUSTER_CAMERA_LEASE_SECONDS": "3",
}


def store_env(config: Config) -> dict[str, str]:
    """The environment that gives a subprocess (``vms ...``) the same media store."""
    if config.store.backend != "s3":
        return {}
    return {
        "VMS_STORE_BACKEND": "s3",
        "VMS_STORE_ENDPOINT": config.store.endpoint,
        "VMS_STORE_BUCKET": config.store.bucket,
        "VMS_STORE_ACCESS_KEY_ID": config.store.access_key_id,
        "VMS_STORE_SECRET_ACCESS_KEY": config.store.secret_access_key,
        "VMS_STORE_PART_BYTES": str(config.store.part_bytes),
    }


def vms_env(config: Config, data_dir: Path | None = None) -> dict[str, str]:
    """This process's environment without its ``VMS_*`` settings, plus the database,
    the store and ``data_dir`` (default: the config's) of ``config``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(
        VMS_DATA_DIR=str(data_dir or config.data_dir),
        VMS_DATABASE_URL=config.effective_database_url,
        **store_env(config),
    )
    return env


class MediaNode:
    def __init__(
        self,
        config: Config,
        root: Path,
        name: str,
        settings: Mapping[str, str] = FAST,
        *,
        port: int = 0,
    ) -> None:
        """``port``: where its ``/metrics`` answer (0: an ephemeral port nobody reads)."""
        self.config, self.name, self.settings = config, name, dict(settings)
        self.port = port
        self.data = root / name
        if not self.data.exists():
            self.data.mkdir(parents=True)
            # The camera credentials' key (and the S3 key, if kept there) are shared.
            shutil.copytree(config.data_dir / "secrets", self.data / "secrets")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        env = vms_env(self.config, self.data)
        env.update(
            # This checkout's code, whatever the venv's editable install points at.
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            VMS_INGEST_MIN_FREE_BYTES="0",
            VMS_CLUSTER_CAMERA_OWNERSHIP="true",
            VMS_CLUSTER_NODE_ID=self.name,
            **self.settings,
        )
        command = [sys.executable, "-m", "vms.cli", "serve", "--role", "media"]
        with (self.data / "node.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [*command, "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a machine lost."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def catalog_check(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vms.cli", "catalog", "check", "--level", "hash", *args],
        env=vms_env(config),
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_catalog_clean(config: Config, *, killed: int = 0) -> None:
    """``vms catalog check --level hash`` on the shared database and store exits 0.

    After ``killed`` nodes were killed with SIGKILL, each may have left the one segment
    it was storing at that instant stored without its catalog row (INV-1: the object is
    complete, the row never committed): the check must report exactly such orphans and
    nothing else (no row without its file, no file that differs from its row), and
    ``--repair`` sets them aside, after which the check is clean."""
    first = catalog_check(config)
    if first.returncode == 0:
        return
    problems = [line for line in first.stdout.splitlines() if ":" in line]
    orphans = [line for line in problems if line.startswith("orphaned: ")]
    assert killed and problems == orphans and len(orphans) <= killed, first.stdout + first.stderr
    repaired = catalog_check(config, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
