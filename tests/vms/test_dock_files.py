"""Moves in the dock folder that never replace a file (TAG-5, vms/dock_files.py)."""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vms import dock_files


@pytest.fixture(params=[errno.EINVAL, errno.ENOSYS], ids=["EINVAL", "ENOSYS"])
def without_noreplace(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[object, ...]]:
    """A file system (or a kernel) that does not offer RENAME_NOREPLACE: ``renameat2``
    answers EINVAL (ENOSYS), and the dock's moves fall back to a link and an unlink.
    What is examined is that fallback, not the system call; the calls refused are
    returned (each test checks the fallback ran)."""
    calls: list[tuple[object, ...]] = []

    def refused(*args: object) -> int:
        calls.append(args)
        ctypes.set_errno(request.param)
        return -1

    monkeypatch.setattr(dock_files, "_renameat2", lambda: refused)
    return calls


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield tmp_path, fd
    finally:
        os.close(fd)


def test_the_fallback_never_replaces_a_file_TAG_5(
    without_noreplace: list[tuple[object, ...]], folder: tuple[Path, int]
) -> None:
    """TAG-5 (nothing lost): where RENAME_NOREPLACE is not offered, a move onto a taken
    name moves nothing and answers False; both files keep their bytes."""
    path, fd = folder
    (path / "FILE0001.MP4").write_bytes(b"the recording being moved")
    (path / ".removing.FILE0001.MP4").write_bytes(b"another scan's file")

    moved = dock_files.rename_noreplace(
        "FILE0001.MP4", ".removing.FILE0001.MP4", src_dir_fd=fd, dst_dir_fd=fd
    )

    assert without_noreplace, "the fallback did not run"
    assert moved is False
    assert (path / "FILE0001.MP4").read_bytes() == b"the recording being moved"
    assert (path / ".removing.FILE0001.MP4").read_bytes() == b"another scan's file"


def test_the_fallback_moves_the_file_to_a_free_name_TAG_5(
    without_noreplace: list[tuple[object, ...]], folder: tuple[Path, int]
) -> None:
    """The same move onto a free name, into another folder (``rejected/``): the file
    is there, the same file (inode), and no longer under its old name."""
    path, fd = folder
    clip = path / "FILE0001.MP4"
    clip.write_bytes(b"a refused file")
    inode = clip.stat().st_ino
    (path / "rejected").mkdir()
    rejected_fd = os.open(path / "rejected", os.O_RDONLY | os.O_DIRECTORY)
    try:
        moved = dock_files.rename_noreplace(
            "FILE0001.MP4", "FILE0001.MP4", src_dir_fd=fd, dst_dir_fd=rejected_fd
        )
    finally:
        os.close(rejected_fd)

    assert without_noreplace, "the fallback did not run"
    assert moved is True
    assert not clip.exists()
    there = path / "rejected" / "FILE0001.MP4"
    assert (there.read_bytes(), there.stat().st_ino, there.stat().st_nlink) == (
        b"a refused file",
        inode,
        1,
    )


def test_put_back_without_noreplace_goes_beside_a_taken_name_TAG_5(
    without_noreplace: list[tuple[object, ...]], folder: tuple[Path, int]
) -> None:
    """A file put back under its name (``put_back``) that the device has taken again
    goes beside it, ``<stem>.<n><suffix>``; the device's file is not replaced."""
    path, fd = folder
    (path / ".removing.FILE0001.MP4").write_bytes(b"the first recording")
    (path / "FILE0001.MP4").write_bytes(b"the next recording")

    back = dock_files.put_back(".removing.FILE0001.MP4", fd, "FILE0001.MP4", fd)

    assert len(without_noreplace) == 2, "the fallback did not run"
    assert back == "FILE0001.1.MP4"
    assert sorted(p.name for p in path.iterdir()) == ["FILE0001.1.MP4", "FILE0001.MP4"]
    assert (path / "FILE0001.MP4").read_bytes() == b"the next recording"
    assert (path / "FILE0001.1.MP4").read_bytes() == b"the first recording"


def test_the_fallback_does_not_remove_a_file_put_under_the_name_after_the_link_TAG_5(
    without_noreplace: list[tuple[object, ...]],
    folder: tuple[Path, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TAG-5 (nothing lost): the fallback linked the file to its new name, then
    unlinked the old name, whatever was under it by then. A device that put its next
    recording under the name in that moment lost it: the recording was unlinked, the
    first file moved. What is under the old name is now renamed aside first, checked,
    and another file is put back under its name."""
    path, fd = folder
    clip = path / "FILE0001.MP4"
    clip.write_bytes(b"the recording being moved")
    real_link, written = os.link, []

    def link_then_the_device_writes(*args: Any, **kwargs: Any) -> None:
        real_link(*args, **kwargs)
        if not written:  # once, right after the move's link
            written.append(True)
            (path / ".station-part").write_bytes(b"the next recording")
            os.replace(path / ".station-part", clip)

    monkeypatch.setattr(os, "link", link_then_the_device_writes)

    moved = dock_files.rename_noreplace(
        "FILE0001.MP4", ".removing.FILE0001.MP4", src_dir_fd=fd, dst_dir_fd=fd
    )

    assert without_noreplace, "the fallback did not run"
    assert moved is True
    assert sorted(p.name for p in path.iterdir()) == [".removing.FILE0001.MP4", "FILE0001.MP4"]
    assert (path / ".removing.FILE0001.MP4").read_bytes() == b"the recording being moved"
    assert clip.read_bytes() == b"the next recording"
