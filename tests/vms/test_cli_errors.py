"""What an agency's administrator meets when a ``vms`` command cannot do its work: one
line naming what was wrong and with which value, and an exit code other than 0, never a
Python traceback (STYLE practice 4). Each case runs the real ``vms`` command in a
subprocess, in a temporary folder, with no ``VMS_*`` variable but the ones given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


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
    """The command failed with ``code``, its last line an ``error:`` naming ``words``."""
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr)
    last = r.stderr.strip().splitlines()[-1]  # after any log lines
    assert last.startswith("error: "), r.stderr
    for word in words:
        assert word in last, (word, r.stderr)


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


def test_a_command_on_an_uninitialised_data_dir_says_run_vms_init(tmp_path: Path) -> None:
    """A data dir never initialised (a typo in ``data_dir``, ``vms init`` forgotten):
    ``vms user list`` printed sqlite3's "no such table: users" as a traceback, after
    making the folder, its secrets and an empty database there. Now: exit 6 naming the
    database and ``vms init``, and nothing made."""
    data = tmp_path / "typo"
    r = vms(tmp_path, "user", "list", VMS_DATA_DIR=str(data))
    refused(r, 6, str(data / "vms.db"), "vms init")
    assert not data.exists()
    r = vms(tmp_path, "media", "list", VMS_DATA_DIR=str(data))
    refused(r, 6, "vms init")
    assert vms(tmp_path, "init", VMS_DATA_DIR=str(data)).returncode == 0
    r = vms(tmp_path, "user", "list", VMS_DATA_DIR=str(data))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr


def test_a_postgresql_database_that_does_not_answer_is_named(tmp_path: Path) -> None:
    """An unreachable PostgreSQL URL (nothing listening, or no such database): a
    traceback of sqlalchemy's OperationalError. Now: exit 8 (unavailable) naming the
    URL without its password."""
    data = str(tmp_path / "data")
    url = "postgresql+psycopg://vms:hunter22@127.0.0.1:1/vms"
    r = vms(tmp_path, "user", "list", VMS_DATA_DIR=data, VMS_DATABASE_URL=url)
    refused(r, 8, "127.0.0.1:1/vms", "does not answer")
    assert "hunter22" not in r.stderr
    base = os.environ.get(
        "VMS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    missing = base.rsplit("/", 1)[0] + "/vms_no_such_database"
    r = vms(tmp_path, "user", "list", VMS_DATA_DIR=data, VMS_DATABASE_URL=missing)
    refused(r, 8, "vms_no_such_database")


def test_a_data_dir_that_is_empty_or_a_file_is_refused(tmp_path: Path) -> None:
    """``VMS_DATA_DIR=`` (set but empty) was the folder the command ran in: a database,
    secrets and a media store appeared there. A data_dir naming a file raised
    FileExistsError with a traceback."""
    r = vms(tmp_path, "init", VMS_DATA_DIR="")
    refused(r, 2, "data_dir", "''")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    afile = tmp_path / "notes.txt"
    afile.write_text("not a folder\n")
    r = vms(tmp_path, "user", "list", VMS_DATA_DIR=str(afile))
    refused(r, 2, "data_dir", str(afile), "not a folder")


PLUGIN_COMMANDS = [("purge",), ("retention", "recompute"), ("camera", "list"), ("audit", "ptz")]


@pytest.mark.parametrize("command", PLUGIN_COMMANDS, ids=" ".join)
def test_plugin_commands_refuse_an_uninitialised_data_dir(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """RET-13: ``vms purge`` on a data dir never initialised (a typo in data_dir) made a
    new, empty installation there (database, secrets, a new media store marker) and
    reported "purged 0 items" with exit 0; the other commands of the plugins likewise.
    Now refused like the core commands: exit 6 naming ``vms init``, nothing made."""
    data = tmp_path / "typo"
    refused(vms(tmp_path, *command, VMS_DATA_DIR=str(data)), 6, str(data / "vms.db"), "vms init")
    assert not data.exists()


@pytest.mark.parametrize("command", PLUGIN_COMMANDS, ids=" ".join)
def test_plugin_commands_name_a_database_that_does_not_answer(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """The plugins' commands printed sqlalchemy's OperationalError as a traceback."""
    url = "postgresql://vms:hunter22@127.0.0.1:1/vms"
    r = vms(tmp_path, *command, VMS_DATA_DIR=str(tmp_path / "d"), VMS_DATABASE_URL=url)
    refused(r, 8, "127.0.0.1:1/vms", "does not answer")


def test_serve_names_a_database_that_does_not_answer(tmp_path: Path) -> None:
    """``vms serve`` (which makes a new installation's schema itself, so it does not
    refuse an uninitialised one) printed sqlalchemy's OperationalError as a traceback
    when its PostgreSQL did not answer."""
    url = "postgresql://vms:hunter22@127.0.0.1:1/vms"
    r = vms(
        tmp_path,
        "serve",
        "--role",
        "jobs",
        "--port",
        "0",
        VMS_DATA_DIR=str(tmp_path / "d"),
        VMS_DATABASE_URL=url,
    )
    refused(r, 8, "127.0.0.1:1/vms", "does not answer")
    assert "hunter22" not in r.stderr


def test_a_database_url_that_does_not_parse_is_shown_without_its_password(
    tmp_path: Path,
) -> None:
    """#10.11 (no URL password in any output): a database URL with a typo in its port
    was quoted whole, password included, in the error (and so in the service's log)."""
    url = "postgresql://vms:hunter22@db.example:54x2/vms"
    r = vms(tmp_path, "user", "list", VMS_DATA_DIR=str(tmp_path / "d"), VMS_DATABASE_URL=url)
    refused(r, 2, "database URL", "db.example:54x2/vms", "does not parse")
    assert "hunter22" not in r.stderr


def test_ingest_of_a_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    """``vms ingest <a folder>`` said "file ... does not exist" (exit 4, not found) of a
    folder that does."""
    data = str(tmp_path / "data")
    assert vms(tmp_path, "init", VMS_DATA_DIR=data).returncode == 0
    folder = tmp_path / "clips"
    folder.mkdir()
    r = vms(tmp_path, "ingest", str(folder), "--source", "bwc", "--device", "B1", VMS_DATA_DIR=data)
    refused(r, 2, str(folder), "a folder, not a file")


def test_export_verify_of_a_missing_path_is_not_a_tampered_package_INV_8(tmp_path: Path) -> None:
    """INV-8: ``vms export verify <a path that does not exist>`` (and the standalone
    verifier) reported a tampered package, "FAILED: manifest.json: missing from the
    package", exit 1, the verdict a recipient reads as "altered", instead of a path that
    is not there (exit 2, as for a package that cannot be read)."""
    missing = tmp_path / "package.zip"
    r = vms(tmp_path, "export", "verify", str(missing), VMS_DATA_DIR=str(tmp_path / "data"))
    assert "Traceback" not in r.stderr and r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert f"{missing}: does not exist" in r.stdout, r.stdout


def test_init_with_half_the_admin_is_not_a_silent_success(tmp_path: Path) -> None:
    """``vms init --admin-user chief`` (no password) printed "initialised" with exit 0
    and made no admin; a password with no user was ignored likewise. Now the password
    is asked for, as by ``vms user add``, and a password with no user is refused."""
    data = str(tmp_path / "data")
    r = vms(tmp_path, "init", "--password-stdin", VMS_DATA_DIR=data)
    refused(r, 2, "--password-stdin", "--admin-user")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    r = subprocess.run(
        [sys.executable, "-m", "vms.cli", "init", "--admin-user", "chief"],
        cwd=tmp_path,
        env={**env, "VMS_DATA_DIR": data},
        input="chief-password\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    users = vms(tmp_path, "user", "list", VMS_DATA_DIR=data)
    assert "chief\tadmin" in users.stdout, (users.stdout, users.stderr)


@pytest.mark.parametrize(
    ("user", "password", "words"),
    [("chief", "short", ("at least 8 characters",)), ("   ", "chief-password", ("username",))],
    ids=["short password", "blank name"],
)
def test_init_refuses_an_admin_it_cannot_make_before_setting_anything_up(
    tmp_path: Path, user: str, password: str, words: tuple[str, ...]
) -> None:
    """``vms init --admin-user chief`` with a password the policy refuses migrated a new
    database and made the folders first, then refused the admin: an installation with
    no one to sign in, and the administrator left to guess whether to run it again. The
    admin is now checked first; nothing is made."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    r = subprocess.run(
        [sys.executable, "-m", "vms.cli", "init", "--admin-user", user, "--password-stdin"],
        cwd=tmp_path,
        env={**env, "VMS_DATA_DIR": str(data)},
        input=f"{password}\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    refused(r, 2, *words)
    assert not (data / "vms.db").exists(), sorted(p.name for p in data.iterdir())
