"""A password given to the ``vms`` command line is never on its command line (ACC-1).

Any local user reads every process's arguments (``ps``, ``/proc/PID/cmdline``) for as
long as it runs, and the shell keeps them in its history: a user's password or a
camera's there is a password given away. The commands that take one ask for it on the
terminal, or read it from standard input with ``--password-stdin``; ``--password`` and
``--admin-password`` with a value are refused, naming both ways, before anything is done.
"""

from __future__ import annotations

import io
import subprocess

import pytest
from sqlalchemy import select

from tests.vms.test_crash_safety import run_cli
from vms.audit.log import Who
from vms.config import Config
from vms.db.models import User
from vms.errors import VMSError
from vms.services import Services

PASSWORD = "horse battery staple"


def users(services: Services) -> set[str]:
    with services.db.session() as s:
        return set(s.execute(select(User.username)).scalars())


def signs_in(services: Services, name: str, password: str) -> bool:
    try:
        services.users.authenticate(name, password, "127.0.0.1")
    except VMSError:
        return False
    return True


def refused_on_the_command_line(r: subprocess.CompletedProcess[str], option: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert f"{option} puts the password on the command line" in r.stderr, r.stderr
    assert "--password-stdin" in r.stderr
    assert PASSWORD not in r.stderr + r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["user", "add", "ann", "--role", "officer", "--password", PASSWORD],
        ["user", "passwd", "sergeant", "--password", PASSWORD],
        ["init", "--admin-user", "ann", "--admin-password", PASSWORD],
    ],
    ids=["user-add", "user-passwd", "init"],
)
def test_a_password_on_the_command_line_is_refused_ACC_1(
    config: Config, services: Services, args: list[str]
) -> None:
    services.users.set_password("sergeant", "the old password", Who("t", "admin"))
    before = users(services)
    option = "--admin-password" if args[0] == "init" else "--password"
    refused_on_the_command_line(run_cli(config, *args), option)
    assert users(services) == before and "ann" not in before
    assert signs_in(services, "sergeant", "the old password")


def test_a_password_from_standard_input_is_taken_ACC_1(config: Config, services: Services) -> None:
    def piped(*args: str, text: str) -> subprocess.CompletedProcess[str]:
        return run_cli(config, *args, stdin=text)

    r = piped("user", "add", "ann", "--role", "officer", "--password-stdin", text=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    assert signs_in(services, "ann", PASSWORD)
    r = piped("user", "passwd", "ann", "--password-stdin", text="a newer password\r\n")
    assert r.returncode == 0, r.stderr
    assert signs_in(services, "ann", "a newer password")
    r = piped("init", "--admin-user", "chief", "--password-stdin", text=PASSWORD)
    assert r.returncode == 0, r.stderr
    assert signs_in(services, "chief", PASSWORD)
    empty = piped("user", "add", "bob", "--role", "officer", "--password-stdin", text="")
    assert empty.returncode == 2 and "--password-stdin" in empty.stderr, empty.stderr
    assert "bob" not in users(services)


def test_a_camera_password_on_the_command_line_is_refused_ACC_1(
    config: Config, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vms.cli import main

    for key, value in {
        "VMS_DATA_DIR": str(config.data_dir),
        "VMS_DATABASE_URL": config.effective_database_url,
    }.items():
        monkeypatch.setenv(key, value)
    args = ["camera", "add", "cam", "--onvif", "http://127.0.0.1:9/onvif/device_service"]
    assert main([*args, "--username", "admin", "--password", PASSWORD]) == 2
    err = capsys.readouterr().err
    assert "--password puts the password on the command line" in err and PASSWORD not in err
    # Read from standard input instead: the camera is then asked (and here refuses).
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main([*args, "--username", "admin", "--password-stdin"]) not in (0, 2)


@pytest.mark.parametrize(
    "url",
    [
        "http://admin:s3cret-camera-pw@127.0.0.1:9/onvif/device_service",
        "http://s3cret-camera-pw@127.0.0.1:9/onvif/device_service",
    ],
    ids=["user-and-password", "user-info-only"],
)
@pytest.mark.parametrize("stdin", [None, "piped password\n"], ids=["prompted", "piped"])
def test_camera_credentials_in_the_onvif_url_are_refused_ACC_1(
    config: Config, services: Services, url: str, stdin: str | None
) -> None:
    """``vms camera add --onvif http://user:pass@host/...`` puts the camera's password on
    the command line (``ps``, shell history) as ``--password`` would: refused before the
    password is asked for or read, naming the ways that keep it off the command line
    (``--username`` with the prompt or ``--password-stdin``) and not echoing it back."""
    args = ["camera", "add", "cam", "--onvif", url, "--username", "admin"]
    r = run_cli(config, *args, *(["--password-stdin"] if stdin else []), stdin=stdin)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "--onvif" in r.stderr and "puts the camera's credentials on the command line" in (
        r.stderr
    ), r.stderr
    assert "--username" in r.stderr and "--password-stdin" in r.stderr, r.stderr
    assert "camera password for" not in r.stderr  # refused before anything was asked
    assert "s3cret-camera-pw" not in r.stderr + r.stdout
    assert "Traceback" not in r.stderr


def test_a_prompt_that_reads_no_password_is_refused_not_a_traceback_ACC_1(
    config: Config, services: Services
) -> None:
    """Without a terminal (a script, cron, ssh without -t) the password prompt reads
    standard input; when that ended at once (``< /dev/null``), getpass's EOFError went
    out as a Python traceback with exit 1. It is a refusal naming --password-stdin."""
    before = users(services)
    r = run_cli(config, "user", "add", "ann", "--role", "officer", stdin="")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "--password-stdin" in r.stderr, r.stderr
    assert "no password" in r.stderr, r.stderr
    assert users(services) == before
