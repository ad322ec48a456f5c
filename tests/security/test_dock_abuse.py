"""Dock-folder imports (TAG-5, INV-2) against whoever writes the dock and whatever it
holds: no file the dock was given is lost, altered or hidden from the scan, and what it
cannot take is said."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.media import make_video
from tests.unprivileged import (
    CLI_AS_SERVICE_USER,
    STATION_UID,
    as_service_user,
    require_protected_hardlinks,
)
from tests.vms.test_crash_safety import run_cli
from tests.vms.test_dock import settle
from tests.vms.test_dock_removal import refused_with_sidecar
from vms import dock as dock_module
from vms.clock import ManualClock, SystemClock
from vms.config import Config
from vms.db.models import MediaItem
from vms.services import Services


def station_writes(path: Path, data: bytes) -> None:
    """``data`` put under ``path`` as a docking station running as another user does
    (``rsync -a`` as root from the camera's volume keeps the volume's owner): written
    beside it, owned by STATION_UID, mode 0644, renamed into place."""
    part = path.with_name(".station-part")
    part.write_bytes(data)
    os.chmod(part, 0o644)
    os.chown(part, STATION_UID, STATION_UID)
    os.replace(part, path)


def counted_ingests(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The requests the dock's ingests are given from now on, each counted, then done
    as usual."""
    ingests: list[object] = []
    real_ingest = dock_module.Ingestor.ingest

    def ingest(self: Any, *args: Any, **kwargs: Any) -> Any:
        ingests.append(args[0])
        return real_ingest(self, *args, **kwargs)

    monkeypatch.setattr(dock_module.Ingestor, "ingest", ingest)
    return ingests


def catalogued(services: Services) -> set[str]:
    with services.db.session() as s:
        return set(s.execute(select(MediaItem.sha256)).scalars())


def swap_after_check(
    monkeypatch: pytest.MonkeyPatch, name: str, swap: Callable[[], None]
) -> list[bool]:
    """Run ``swap`` once, right after the scan's first look at ``name`` once it has
    ingested or refused the file (the check before it moves the file away)."""
    real = dock_module._seen
    done: list[bool] = []

    def seen(looked_at: str, dir_fd: int) -> Any:
        result = real(looked_at, dir_fd)
        if looked_at == name and not done and armed:
            done.append(True)
            swap()
        return result

    armed: list[bool] = []
    real_ingest = dock_module.Ingestor.ingest

    def ingest(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return real_ingest(self, *args, **kwargs)
        finally:
            armed.append(True)

    monkeypatch.setattr(dock_module, "_seen", seen)
    monkeypatch.setattr(dock_module.Ingestor, "ingest", ingest)
    return done


@pytest.mark.parametrize("first", ["recording", "refused"])
def test_a_recording_put_under_a_name_being_moved_is_not_hidden_by_protected_hardlinks_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    """TAG-5: the scan moves a taken file away (to ``.removing.<name>``, or into
    ``rejected/``), checks it moved the file it took, and puts back one put under the
    name since by a hard link. The station (another user) had put its next recording
    there: with ``fs.protected_hardlinks = 1`` the service user may not link a file it
    does not own, the link failed (EPERM), the scan answered a PermissionError, and the
    recording stayed under the hidden name, which no scan takes (or in ``rejected/``
    beside the first file's reason): never catalogued, nobody told. It is put back by a
    rename that never replaces a file (renameat2 RENAME_NOREPLACE), needing no
    ownership, and the next scan takes it."""
    require_protected_hardlinks()
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip = device / "FILE0001.MP4"
    station_writes(clip, make_video(seconds=0.5) if first == "recording" else b"not a video")
    settle(clip, services.clock)
    second = make_video(seconds=0.5, seed=7)
    done = swap_after_check(monkeypatch, clip.name, lambda: station_writes(clip, second))

    outcomes = as_service_user(services.dock.scan)

    assert done, "the station did not write between the check and the move"
    # The first file catalogued; a refused one was replaced before it was moved: the
    # new file is not refused with its reason, left for the next scan.
    [outcome] = outcomes
    assert outcome.status == {"recording": "ingested", "refused": "deferred"}[first], outcome
    assert "Error" not in outcome.detail, outcome
    for left in device.rglob("*"):
        settle(left, services.clock)
    [later] = as_service_user(services.dock.scan)
    assert later.status == "ingested", later
    assert hashlib.sha256(second).hexdigest() in catalogued(services)
    assert sorted(p.name for p in device.iterdir() if p.name != "rejected") == []


def test_a_hidden_file_that_cannot_be_put_back_is_reported_TAG_5(services: Services) -> None:
    """TAG-5: a file the scan had moved aside (``.removing.<name>``, left by a scan
    killed before it put the file back) that cannot be put back, here because the
    station created the device folder as its own user (0755: the service user may not
    rename in it), was only logged as a warning at each scan: a hidden file no scan
    takes, and ``vms dock scan`` answered nothing and exited 0. It is answered
    ``stranded``, naming the file, for a person (and the folder ``unwritable``)."""
    require_protected_hardlinks()
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    hidden = device / ".removing.FILE0001.MP4"
    station_writes(hidden, make_video(seconds=0.5))
    settle(hidden, services.clock)
    os.chmod(device, 0o755)
    os.chown(device, STATION_UID, STATION_UID)

    outcomes = as_service_user(services.dock.scan)

    assert [(o.path, o.status) for o in outcomes] == [
        (hidden, "stranded"),
        (device, "unwritable"),
    ], outcomes
    assert "could not be put back under FILE0001.MP4" in outcomes[0].detail
    assert "move it back by hand" in outcomes[0].detail
    assert hidden.exists()


def test_a_device_folder_the_service_may_not_write_is_reported_not_rehashed_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """TAG-5: a device folder the station created as its own user (0755) lets the
    service read its files but not move them. Every scan (each 10 s) ingested and
    hashed each file again, failed to remove it and answered "deferred PermissionError"
    with a traceback, for ever. The folder is answered once per scan, ``unwritable``,
    its files left in place and not read, until the service may write it; then they
    are taken as usual. Nothing is lost or half-taken."""
    require_protected_hardlinks()
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    data = make_video(seconds=0.5)
    clips = [device / "FILE0001.MP4", device / "FILE0002.MP4"]
    for clip in clips:
        station_writes(clip, data if clip == clips[0] else make_video(seconds=0.5, seed=3))
        settle(clip, services.clock)
    os.chmod(device, 0o755)
    os.chown(device, STATION_UID, STATION_UID)
    ingests = counted_ingests(monkeypatch)

    with caplog.at_level("INFO", logger="vms.dock"):
        for _scan in range(2):
            [outcome] = as_service_user(services.dock.scan)
            assert (outcome.path, outcome.status) == (device, "unwritable"), outcome
            assert "not writable by the service user: files left in place" in outcome.detail

    assert ingests == []
    assert catalogued(services) == set()
    assert sorted(p.name for p in device.iterdir()) == ["FILE0001.MP4", "FILE0002.MP4"]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    os.chown(device, os.getuid(), os.getgid())
    outcomes = as_service_user(services.dock.scan)
    assert sorted(o.status for o in outcomes) == ["ingested", "ingested"], outcomes
    assert hashlib.sha256(data).hexdigest() in catalogued(services)
    assert list(device.iterdir()) == []


def test_files_of_another_user_in_a_sticky_device_folder_are_reported_not_rehashed_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """TAG-5: a device folder shared like /tmp (mode 1777, the sticky bit) lets the
    service write in it, but not rename or remove a file another user owns (the
    station's). Every scan ingested and hashed such a file again, failed to remove it
    (EPERM) and answered "deferred PermissionError" with a traceback, for ever. Each
    such file (or its sidecar) is now answered ``unwritable`` with its owner, left in
    place and not read; the service's own files beside it are taken as usual, and the
    station's once the folder loses its sticky bit."""
    require_protected_hardlinks()
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    station, with_sidecar, own = (
        device / "FILE0001.MP4",
        device / "FILE0002.MP4",
        device / "FILE0003.MP4",
    )
    station_writes(station, make_video(seconds=0.5))
    make_video(with_sidecar, seconds=0.5, seed=3)
    sidecar = device / "FILE0002.MP4.json"
    station_writes(sidecar, json.dumps({"officer_badge": "B1"}).encode())
    make_video(own, seconds=0.5, seed=5)
    for path in device.iterdir():
        settle(path, services.clock)
    os.chown(device, STATION_UID, STATION_UID)
    os.chmod(device, 0o1777)
    ingests = counted_ingests(monkeypatch)

    with caplog.at_level("INFO", logger="vms.dock"):
        for scan in range(2):
            outcomes = sorted(as_service_user(services.dock.scan), key=lambda o: o.path)
            statuses = [(o.path, o.status) for o in outcomes]
            expected = [(station, "unwritable"), (with_sidecar, "unwritable")]
            if scan == 0:
                expected.append((own, "ingested"))
            assert statuses == expected, outcomes
            reasons = {o.path: o.detail for o in outcomes}
            assert f"FILE0001.MP4: owned by uid {STATION_UID}" in reasons[station]
            assert f"FILE0002.MP4.json: owned by uid {STATION_UID}" in reasons[with_sidecar]
            assert "sticky bit" in reasons[station] and "left in place" in reasons[station]
    assert len(ingests) == 1  # the service's own file, once
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert sorted(p.name for p in device.iterdir()) == [
        "FILE0001.MP4",
        "FILE0002.MP4",
        "FILE0002.MP4.json",
    ]
    os.chmod(device, 0o777)
    outcomes = as_service_user(services.dock.scan)
    assert sorted(o.status for o in outcomes) == ["ingested", "ingested"], outcomes
    assert list(device.iterdir()) == []


@pytest.mark.parametrize("mode", [0o755, 0o1777], ids=["folder", "sticky-file"])
def test_vms_dock_scan_exits_1_for_what_the_service_may_not_move_TAG_5(
    config: Config, services: Services, mode: int
) -> None:
    """TAG-5 (what the dock cannot take is for a person): ``vms dock scan``, run as the
    service user, exits 1 and prints ``unwritable`` for a device folder the station
    created as its own user (0755) and for a station's file in a folder with the
    sticky bit (1777); the file is left in place."""
    require_protected_hardlinks()
    device = config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip = device / "FILE0001.MP4"
    station_writes(clip, make_video(seconds=0.5))
    settle(clip, services.clock)
    os.chown(device, STATION_UID, STATION_UID)
    os.chmod(device, mode)

    r = run_cli(config, "dock", "scan", script=CLI_AS_SERVICE_USER)

    assert r.returncode == 1, (r.stdout, r.stderr)
    [line] = r.stdout.splitlines()
    unwritable = device if mode == 0o755 else clip
    assert line.startswith(f"unwritable: {unwritable} "), line
    assert "left in place" in line, line
    assert catalogued(services) == set()
    assert [p.name for p in device.iterdir()] == ["FILE0001.MP4"]


def test_a_refused_file_with_a_sidecar_takes_a_name_whose_sidecar_is_free_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAG-5 (a refused file is kept with its reason, for a person): a refused file
    replaced between the check and its move left its sidecar in ``rejected/`` with
    the reason, as it should. The next refused file of that name with a sidecar was
    given the same name there (only a file and a lone sidecar's reason were looked
    at): its reason replaced the one beside the earlier sidecar, then its sidecar's
    move met the earlier one and raised Conflict ('taken (another scan?)'). The file
    was deferred with a traceback at every scan, for ever, and read again each time.
    It takes a name whose sidecar is free too; the earlier reason stays."""
    device, clip, sidecar = refused_with_sidecar(services)

    def swap() -> None:
        (device / ".next").write_bytes(b"not a recording either")
        os.replace(device / ".next", clip)

    done = swap_after_check(monkeypatch, clip.name, swap)
    [first] = services.dock.scan()
    assert done and first.status == "deferred", first
    rejected = device / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == [
        "FILE0001.MP4.error.txt",
        "FILE0001.MP4.json",
    ]
    sidecar.write_text(json.dumps({"source": "a tape"}))  # the next file's own sidecar
    settle(clip, services.clock)

    outcomes = [services.dock.scan() for _scan in range(2)]

    assert [[o.status for o in scan] for scan in outcomes] == [["rejected"], []], outcomes
    assert sorted(p.name for p in device.iterdir()) == ["rejected"]
    assert sorted(p.name for p in rejected.iterdir()) == [
        "FILE0001.1.MP4",
        "FILE0001.1.MP4.error.txt",
        "FILE0001.1.MP4.json",
        "FILE0001.MP4.error.txt",
        "FILE0001.MP4.json",
    ]
    assert "not a decodable" in (rejected / "FILE0001.MP4.error.txt").read_text()
    assert json.loads((rejected / "FILE0001.MP4.json").read_text()) == {"officer_badge": "B1"}
    assert "'a tape' is unknown" in (rejected / "FILE0001.1.MP4.error.txt").read_text()
    assert (rejected / "FILE0001.1.MP4").read_bytes() == b"not a recording either"


def test_a_file_rewritten_in_place_after_its_verification_is_not_removed_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAG-5 (the device copy is erased only after a verified upload): the scan read the
    stored copy back, then removed the dock file if it was the same file (device and
    inode). A file rewritten in place in between (the same inode: a station copying
    with ``rsync --inplace``, a device that resumes writing its file, or whoever wants
    the recording altered) was removed with bytes no item holds. Only the file as it
    was taken (inode, size, modification time) is removed now; one changed since is
    left, and the next scan takes what it holds."""
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip = device / "FILE0001.MP4"
    first = make_video(clip, seconds=0.5)
    settle(clip, services.clock)
    later = make_video(seconds=1.0, seed=9)
    done = swap_after_check(monkeypatch, clip.name, lambda: clip.write_bytes(later))
    inode = clip.stat().st_ino

    [outcome] = services.dock.scan()

    assert done and outcome.status == "ingested", outcome
    assert clip.stat().st_ino == inode  # rewritten in place, not replaced
    assert clip.read_bytes() == later  # kept: no item holds these bytes yet
    settle(clip, services.clock)
    [again] = services.dock.scan()
    assert again.status == "ingested", again
    assert {hashlib.sha256(b).hexdigest() for b in (first, later)} <= catalogued(services)
    assert not clip.exists()


@pytest.mark.parametrize("dated", ["the file", "its sidecar"])
def test_a_file_dated_in_the_future_is_still_taken_TAG_5(
    services: Services, clock: ManualClock, dated: str
) -> None:
    """TAG-5: a file is taken once it and its sidecar have not changed for
    ``dock_settle_seconds``, judged by their modification times. Those are the writer's
    to set: one dated in 2100 (``touch -d``, or a device whose clock ran ahead and a
    station that keeps the device's times) was never settled: skipped at every scan,
    never catalogued, never reported. A time later than now is not believed; the status
    change time is, which the kernel sets and no writer can."""
    clock.set(SystemClock().now() + dt.timedelta(minutes=1))  # the kernel's times a minute old
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip, sidecar = device / "FILE0001.MP4", device / "FILE0001.MP4.json"
    data = make_video(clip, seconds=0.5)
    sidecar.write_text(json.dumps({"officer_badge": "B1"}))
    ahead = dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp()
    os.utime(clip if dated == "the file" else sidecar, (ahead, ahead))

    [outcome] = services.dock.scan()

    assert outcome.status == "ingested", outcome
    assert hashlib.sha256(data).hexdigest() in catalogued(services)
    assert not clip.exists() and not sidecar.exists()


def test_dock_scan_output_cannot_be_forged_by_a_file_name_TAG_5(
    config: Config, services: Services
) -> None:
    """TAG-5 (the operator is told what became of each file): ``vms dock scan`` printed
    each outcome's path as it was. A file named with a newline printed a line of its
    choosing: a refused file showed as ``ingested``; a right-to-left override showed a
    name other than the file's. Control and format characters are printed escaped now,
    one line per outcome."""
    device = config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    forged = "junk.mp4\ningested: junk.mp4 01900000-0000-7000-8000-000000000000"
    (device / forged).write_bytes(b"not a recording")
    (device / "clip\u202e4pm.exe").write_bytes(make_video(seconds=0.5))
    for path in device.iterdir():
        settle(path, SystemClock(), seconds=600)

    r = run_cli(config, "dock", "scan")

    assert r.returncode == 1, r.stderr  # one refused
    lines = r.stdout.splitlines()
    assert len(lines) == 2, lines
    assert [line.split(":")[0] for line in lines] == ["ingested", "rejected"], lines
    assert "junk.mp4\\ningested" in lines[1] and "clip\\u202e4pm.exe" in lines[0], lines


def test_dock_log_cannot_be_forged_by_a_file_name_TAG_5(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """TAG-5 (what became of each file is logged for an auditor): the scan's log lines
    named the file as it was. A file named with a newline wrote a log line of its
    choosing (a refused file logged as ``ingested``); a right-to-left override showed a
    name other than the file's. A name is escaped in every log line now, as ``vms dock
    scan`` prints it: one line per record."""
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    forged = "junk.mp4\nvms.dock INFO dock junk.mp4: ingested as 0190"
    (device / forged).write_bytes(b"not a recording")
    make_video(device / "clip\u202e4pm.exe", seconds=0.5)
    for path in device.iterdir():
        settle(path, services.clock)

    with caplog.at_level("INFO", logger="vms.dock"):
        outcomes = services.dock.scan()

    assert sorted(o.status for o in outcomes) == ["ingested", "rejected"], outcomes
    messages = [r.getMessage() for r in caplog.records if r.name == "vms.dock"]
    assert any("junk.mp4\\nvms.dock" in m and "rejected" in m for m in messages), messages
    assert any("clip\\u202e4pm.exe" in m and "ingested" in m for m in messages), messages
    assert all(m.isprintable() for m in messages), messages


def test_a_file_under_the_hidden_name_is_not_replaced_by_a_removal_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAG-5: to remove a taken file the scan renamed it to ``.removing.<name>``, over
    whatever was there. Another scan of the folder at the same moment (the jobs role's
    and ``vms dock scan`` run by hand) holds there, between its rename and its put-back,
    the station's next recording, never catalogued: it was replaced, gone. The rename
    never replaces a file now (vms/dock_files.py); the removal waits for the next scan,
    and the other file is put back and taken."""
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip, hidden = device / "FILE0001.MP4", device / ".removing.FILE0001.MP4"
    first = make_video(clip, seconds=0.5)
    settle(clip, services.clock)
    other = make_video(seconds=0.5, seed=11)
    done = swap_after_check(monkeypatch, clip.name, lambda: hidden.write_bytes(other))

    [outcome] = services.dock.scan()

    assert done, "the other scan's file did not come between the check and the move"
    assert outcome.status == "deferred", outcome
    assert hidden.read_bytes() == other  # not replaced
    for left in device.iterdir():
        settle(left, services.clock)
    later = services.dock.scan()
    assert sorted(o.status for o in later) == ["duplicate", "ingested"], later
    assert {hashlib.sha256(b).hexdigest() for b in (first, other)} <= catalogued(services)
    assert list(device.iterdir()) == []
