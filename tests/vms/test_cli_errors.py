"""What an agency's administrator meets when a ``vms`` command cannot do its work: one
line naming what was wrong and with which value, and an exit code other than 0, never a
Python traceback (STYLE practice 4). Each case runs the real ``vms`` command in a
subprocess, in a temporary folder, with no ``VMS_*`` variable but the ones given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def vms(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``vms ARGS`` with the environment's ``VMS_*`` replaced by ``env``, in ``cwd``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "vms.cli", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refused(r: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    """The command failed with ``code`` on one ``error:`` line naming ``words``."""
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.stderr.startswith("error: "), r.stderr
    for word in words:
        assert word in r.stderr, (word, r.stderr)


def test_a_configuration_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    """``--config`` naming a folder, an unreadable file or one not in UTF-8 is refused
    naming the file (it raised IsADirectoryError, PermissionError, UnicodeDecodeError)."""
    data = str(tmp_path / "data")
    folder = tmp_path / "conf.d"
    folder.mkdir()
    r = vms(tmp_path, "--config", str(folder), "user", "list", VMS_DATA_DIR=data)
    refused(r, 2, str(folder), "a folder")
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(b'log_level = "INFO" # caf\xe9\n')
    r = vms(tmp_path, "--config", str(latin), "user", "list", VMS_DATA_DIR=data)
    refused(r, 2, str(latin), "not UTF-8")
    if os.geteuid() != 0:  # root reads every file
        closed = tmp_path / "closed.toml"
        closed.write_text('log_level = "INFO"\n')
        closed.chmod(0)
        refused(vms(tmp_path, "--config", str(closed), "user", "list"), 2, str(closed))


def test_an_unknown_log_level_is_refused_naming_it(tmp_path: Path) -> None:
    """``log_level`` (file or ``VMS_LOG_LEVEL``) and ``--log-level`` that are no level
    name: ValueError "Unknown level" with a traceback from logging.basicConfig, after
    the configuration had loaded."""
    data = str(tmp_path / "data")
    r = vms(tmp_path, "user", "list", VMS_DATA_DIR=data, VMS_LOG_LEVEL="LOUD")
    refused(r, 2, "log_level", "'LOUD'", "DEBUG, INFO, WARNING, ERROR, CRITICAL")
    r = vms(tmp_path, "--log-level", "verbose", "user", "list", VMS_DATA_DIR=data)
    refused(r, 2, "--log-level", "'verbose'")
    assert not Path(data).exists()  # refused before anything was made
