"""A backup set in hostile hands or a hostile place (docs/design/backup.md): the set holds
the keys and the evidence, so it is private, never written into a folder another local
user controls, and a set someone altered (links planted, files swapped) is refused
before anything is restored (INV-2, INV-4)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from tests.retention.conftest import WHO, ingest
from vms.backup.create import make_backup
from vms.backup.manifest import object_path
from vms.backup.restore import restore, verify_set
from vms.config import Config
from vms.errors import DataLoss, FailedPrecondition, InvalidArgument
from vms.services import Services


@pytest.fixture
def made(services: Services, tmp_path: Path) -> tuple[Path, str]:
    """A set of one item, and that item's original's SHA-256."""
    media_id = ingest(services, recorded_at=services.clock.now())
    folder = tmp_path / "set"
    make_backup(services, folder, WHO)
    with services.db.session() as s:
        from vms.db.models import MediaItem

        row = s.get(MediaItem, media_id)
        assert row is not None
        return folder, row.sha256


def test_a_folder_another_user_owns_is_refused(services: Services, tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    nobody = pwd.getpwnam("nobody")
    os.chown(theirs, nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(FailedPrecondition, match=f"belongs to uid {nobody.pw_uid}"):
        make_backup(services, theirs, WHO)
    assert not list(theirs.iterdir())  # not a key written there


def test_a_link_given_as_the_folder_is_refused(services: Services, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    with pytest.raises(InvalidArgument, match="is not a folder \\(or is a link\\)"):
        make_backup(services, link, WHO)
    assert not list(elsewhere.iterdir())


def test_an_original_swapped_for_a_link_is_refused(
    made: tuple[Path, str], tmp_path: Path, config: Config
) -> None:
    folder, sha = made
    planted = tmp_path / "planted"
    planted.write_bytes(b"x" * (folder / object_path(sha)).stat().st_size)
    (folder / object_path(sha)).unlink()
    (folder / object_path(sha)).symlink_to(planted)  # same size, not the original
    problems = verify_set(folder).problems
    assert problems and problems[0].startswith(f"original {sha}: size")


def test_a_key_swapped_for_a_link_is_refused_and_nothing_restored(
    made: tuple[Path, str], tmp_path: Path
) -> None:
    folder, _ = made
    key = folder / "secrets" / "audit.key"
    copy = tmp_path / "audit.key"
    copy.write_bytes(key.read_bytes())
    key.unlink()
    key.symlink_to(copy)  # the same bytes, through a link
    [problem] = verify_set(folder).problems
    assert problem.startswith("secrets/audit.key: unreadable")
    target = Config(data_dir=tmp_path / "restored")
    with pytest.raises(DataLoss, match="failed verification, nothing was restored"):
        restore(target, folder, WHO)
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize("name", ["secrets", "database", "media"])
def test_a_folder_planted_in_a_set_folder_open_to_others_is_refused(
    services: Services, tmp_path: Path, name: str
) -> None:
    """An empty folder of the VMS's user that others could write (0777, made for the
    backups under a loose umask) may hold what another local user planted under the names
    a set uses: ``secrets`` as a link to a folder of theirs took a copy of every key
    (audit, sessions, camera credentials, export and C2PA signing), ``database`` of theirs
    the catalog, each where they could swap or remove it. Narrowing the folder to 0700
    does not take back what was planted: an entry that is a link or another user's is
    refused, nothing written."""
    if os.getuid() != 0:
        pytest.skip("giving a folder to another user needs root")
    nobody = pwd.getpwnam("nobody")
    folder = tmp_path / "set"
    folder.mkdir()
    os.chmod(folder, 0o777)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, nobody.pw_uid, nobody.pw_gid)
    if name == "secrets":
        (folder / name).symlink_to(theirs)
    else:
        (folder / name).mkdir()
        os.chown(folder / name, nobody.pw_uid, nobody.pw_gid)
    with pytest.raises(FailedPrecondition, match=f"{folder / name}"):
        make_backup(services, folder, WHO)
    assert not list(theirs.iterdir()) and not list((folder / name).iterdir())
