"""Local users cannot read evidence, the catalog or the keys (issue 10, item 12): the data
folder is 0700, files 0600, stored media 0400 (read-only for INV-2, owner only), and a
start finds and narrows what an older install left open, with a warning naming it."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import make_config
from tests.media import make_video
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.db.models import SourceKind, User
from vms.errors import FailedPrecondition
from vms.ingest import IngestRequest
from vms.services import Services
from vms.uploads import NewUpload


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems start a service with (022: files world-readable)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def open_services(data_dir: Path) -> Services:
    config = make_config(data_dir, f"sqlite:///{data_dir / 'vms.db'}")
    services = Services.open(config)
    services.migrate()
    return services


def test_fresh_install_is_private_to_the_vms_user(tmp_path: Path, usual_umask: None) -> None:
    data_dir = tmp_path / "var"
    services = open_services(data_dir)
    try:
        services.users.add_user("boss", "admin", "long enough password", by=Who("t", "admin"))
        result = services.ingestor.ingest(
            io.BytesIO(make_video(seconds=0.5)),
            IngestRequest(source=SourceKind.BWC, device_id="BWC-1"),
            Who("t", "admin"),
        )
        data = b"x" * 1000
        with services.db.session() as s:
            user = s.execute(select(User).where(User.username == "boss")).scalar_one()
            actor: Actor = services.users.actor_for(s, user)
        upload = services.uploads.create(
            actor,
            NewUpload(
                filename="a.mp4",
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                source=SourceKind.BWC,
                device_id="BWC-2",
            ),
        )
        stored = services.store.path_for(result.sha256)
        assert mode(stored) == 0o400  # INV-2: read-only, and only for the VMS's user
        folders = [
            data_dir,
            data_dir / "media",
            data_dir / "uploads",
            data_dir / "dock",
            data_dir / "secrets",
            stored.parent,
            stored.parent.parent,
        ]
        for folder in folders:
            assert mode(folder) == 0o700, folder
        files = [
            data_dir / "vms.db",
            data_dir / "vms.db-wal",
            data_dir / "vms.db-shm",
            data_dir / "secrets" / "audit.key",
            services.uploads.part_path(upload.id),
        ]
        for file in files:
            assert mode(file) == 0o600, file
    finally:
        services.close()


def test_start_narrows_what_an_older_install_left_open(
    tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "var"
    open_services(data_dir).close()
    os.chmod(data_dir, 0o755)
    os.chmod(data_dir / "vms.db", 0o644)
    os.chmod(data_dir / "secrets", 0o755)
    os.chmod(data_dir / "secrets" / "audit.key", 0o644)
    os.chmod(data_dir / "media", 0o775)

    with caplog.at_level(logging.WARNING, logger="vms.file_modes"):
        open_services(data_dir).close()

    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert f"folder {data_dir} had mode 0755" in warnings
    assert f"file {data_dir / 'vms.db'} had mode 0644" in warnings
    assert f"file {data_dir / 'secrets' / 'audit.key'} had mode 0644" in warnings
    assert "changed to 0600" in warnings and "changed to 0700" in warnings
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "vms.db") == 0o600
    assert mode(data_dir / "secrets") == 0o700
    assert mode(data_dir / "secrets" / "audit.key") == 0o600
    assert mode(data_dir / "media") == 0o700

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vms.file_modes"):
        open_services(data_dir).close()
    assert not caplog.records  # nothing left to report


def test_a_config_file_with_credentials_open_to_others_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 10, item 12: the configuration file may carry credentials (the PostgreSQL
    password in ``database_url``, Redis's, the S3 secret key). Readable by every local
    user, it hands them the database whatever the data folder's modes; nothing said so.
    It is reported at start, naming the file, its mode and the keys (never the values);
    a file without credentials, or one only its owner and group read, is not."""
    from vms.config import load_config

    config = tmp_path / "vms.toml"
    config.write_text(
        'database_url = "postgresql://vms:s3cret-pw@db/vms"\n'
        '[store]\nsecret_access_key = "AKIA-secret"\n'
    )
    os.chmod(config, 0o644)
    with caplog.at_level(logging.WARNING, logger="vms.config"):
        load_config(config, environ={})
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert f"configuration file {config} has mode 0644" in warnings
    assert "database_url" in warnings and "[store] secret_access_key" in warnings
    assert "s3cret-pw" not in warnings and "AKIA-secret" not in warnings

    caplog.clear()
    os.chmod(config, 0o640)  # root:vms 0640, the usual set-up
    with caplog.at_level(logging.WARNING, logger="vms.config"):
        load_config(config, environ={})
    plain = tmp_path / "plain.toml"
    plain.write_text('log_level = "INFO"\n')
    os.chmod(plain, 0o644)
    with caplog.at_level(logging.WARNING, logger="vms.config"):
        load_config(plain, environ={})
    assert not caplog.records


# Settings whose names say key, token or the like but that hold no secret: each paired
# with the secret that does (the S3 key id with secret_access_key, the TURN user name
# with ice_credential), both found in any access log.
NOT_SECRET = {("store", "access_key_id"), ("webrtc", "ice_username")}
SECRET_NAME = re.compile(r"(^|_)(password|passphrase|secret|credential|token|key)s?(_|$)")


def secret_settings() -> list[tuple[str | None, str]]:
    """Every string setting whose name says it holds a secret (password, secret,
    credential, token, key), but those of :data:`NOT_SECRET`."""
    from vms.config import setting_names

    found = [
        (section, key)
        for section, key, typ in setting_names().values()
        if typ is str and SECRET_NAME.search(key) and (section, key) not in NOT_SECRET
    ]
    assert ("webrtc", "ice_credential") in found and ("store", "secret_access_key") in found
    return sorted(found, key=str)


def warned_keys(tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture) -> str:
    from vms.config import load_config

    config = tmp_path / "vms.toml"
    config.write_text(text)
    os.chmod(config, 0o644)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vms.config"):
        load_config(config, environ={})
    return "\n".join(r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("section", "key"), secret_settings(), ids=str)
def test_every_secret_setting_is_named_when_its_file_is_open_to_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, section: str | None, key: str
) -> None:
    """Issue 10, item 12: the readable-credentials warning knew secrets by ``secret`` in
    the key or a password in a URL, so ``[webrtc] ice_credential`` (the TURN servers'
    password) in a file every local user reads was not named. Every string setting named
    as a secret is; a setting added later with such a name is checked here too."""
    line = f'{key} = "value-only-the-vms-user-knows"\n'
    text = line if section is None else f"[{section}]\n{line}"
    warnings = warned_keys(tmp_path, text, caplog)
    named = key if section is None else f"[{section}] {key}"
    assert f"holds credentials ({named})" in warnings, warnings
    assert "value-only-the-vms-user-knows" not in warnings


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('redis_url = "redis://:s3cret-pw@redis:6379/0"\n', "redis_url"),
        ('[web]\nmessage_queue = "redis://:s3cret-pw@redis:6379/1"\n', "[web] message_queue"),
        ('[cluster]\ninternal_url = "http://vms:s3cret-pw@media-1:8081"\n', "internal_url"),
    ],
)
def test_a_url_setting_with_a_password_is_named_when_its_file_is_open_to_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, named: str
) -> None:
    warnings = warned_keys(tmp_path, text, caplog)
    assert named in warnings and "s3cret-pw" not in warnings, warnings


def test_folders_made_above_a_new_data_folder_are_not_open_under_umask_002(
    tmp_path: Path,
) -> None:
    """Issue 10, item 12: a first start with a data folder whose parents do not exist
    made those parents under the umask it inherited, before narrowing it: 0775 under
    umask 002, so the group could rename the data folder away and put its own in place
    (keys, database and media then written where it chose). They are made 0700 too."""
    old = os.umask(0o002)
    try:
        data_dir = tmp_path / "srv" / "vms" / "var"
        open_services(data_dir).close()
    finally:
        os.umask(old)
    for folder in (tmp_path / "srv", tmp_path / "srv" / "vms", data_dir):
        assert mode(folder) == 0o700, folder


def test_a_cli_command_that_opens_no_services_makes_nothing_open_under_umask_002(
    tmp_path: Path,
) -> None:
    """Issue 10, item 12: ``vms export public-key`` (often the first command an admin
    runs: the fingerprint to publish) makes the export key, and with it ``secrets/``, the
    data folder and its missing parents, without opening the services, so under the
    umask it inherited: 0775 under umask 002, the group free to rename ``secrets/`` away
    and put its own keys in place before ``vms init``. The CLI runs with umask 077
    whatever the command."""
    data_dir = tmp_path / "srv" / "vms" / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VMS_")}
    env.update(VMS_DATA_DIR=str(data_dir), VMS_DATABASE_URL="")
    old = os.umask(0o002)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "vms.cli", "export", "public-key"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    for folder in (tmp_path / "srv", tmp_path / "srv" / "vms", data_dir, data_dir / "secrets"):
        assert mode(folder) == 0o700, folder


def test_a_data_folder_given_as_a_link_is_narrowed_too(
    tmp_path: Path, usual_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 10, item 12: ``data_dir`` is often a link to the disk that holds the
    evidence (``/var/lib/vms -> /srv/disk1/vms``). The start check skipped links, the
    data folder's too, so the folder the VMS really uses, made 0755 by an administrator
    under umask 022, stayed open to every local user (its listing, and whatever an older
    install left open below it) with no warning. The folder the link names is checked."""
    real = tmp_path / "disk1" / "vms"
    real.mkdir(parents=True)
    os.chmod(real, 0o755)
    data_dir = tmp_path / "var"
    data_dir.symlink_to(real)
    with caplog.at_level(logging.WARNING, logger="vms.file_modes"):
        open_services(data_dir).close()
    assert mode(real) == 0o700
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert f"folder {real} had mode 0755" in warnings, warnings


def test_keys_in_a_folder_another_user_planted_are_refused_at_start(tmp_path: Path) -> None:
    """Issue 10, item 12: a data folder others could write before the first start (made
    by an administrator under umask 002) may hold a ``secrets/`` of another local user,
    with an audit key of theirs. The start narrowed the folder and warned that theirs
    "could not be changed" (its owner may change it back at any time in any case), then
    used their audit key and wrote the new keys (camera credentials, sessions,
    checkpoint signing) into their folder. An entry of the data folder or of
    ``secrets/`` that another user than the folder's owner or root owns is refused."""
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    planted = data_dir / "secrets"
    planted.mkdir(mode=0o777)
    (planted / "audit.key").write_text("ab" * 32)
    os.chmod(planted, 0o777)
    os.chmod(planted / "audit.key", 0o666)
    if os.getuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    os.chown(planted, 1000, 1000)
    os.chown(planted / "audit.key", 1000, 1000)
    with pytest.raises(FailedPrecondition, match=f"{planted} belongs to uid 1000, not to the"):
        open_services(data_dir)
    assert sorted(p.name for p in planted.iterdir()) == ["audit.key"]  # no key written there
