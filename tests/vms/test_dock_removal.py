"""Dock-folder imports (TAG-5): the dock copy is removed only once its bytes are safely
catalogued, in an item the retention purge (RET-13) is not destroying, and a scan killed
while it removes a file and its sidecar leaves nothing another file could take."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.media import make_video
from tests.vms.test_crash_safety import run_cli
from tests.vms.test_dock import settle
from vms import dock as dock_module
from vms.check import check
from vms.clock import ManualClock, SystemClock
from vms.config import Config
from vms.db.models import DestructionRecord, MediaItem
from vms.services import Services

DAY = dt.timedelta(days=1)


def docked(services: Services, name: str, data: bytes) -> Path:
    """``data`` dropped as ``name`` in BWC-0042's dock folder, settled."""
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True, exist_ok=True)
    path = device / name
    path.write_bytes(data)
    settle(path, services.clock)
    return path


def expired_item(services: Services, clock: ManualClock, data: bytes) -> str:
    """The item of a dock import of ``data``, then 100 days on: expired (RET-4's 90 days
    count from its ingest) and kept by nothing."""
    docked(services, "first.mp4", data)
    [first] = services.dock.scan()
    assert first.status == "ingested", first
    clock.advance(100 * DAY)
    return first.detail


@pytest.mark.parametrize("store_backend", ["local", "s3"], indirect=True)
@pytest.mark.parametrize("moment", ["after-ingest", "after-verification"])
def test_bytes_whose_item_is_purged_as_they_are_docked_are_filed_anew_RET_13_TAG_5(
    services: Services, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    """The device docks again the bytes of an item that has expired; the purge destroys
    that item after the ingest found it (a duplicate) and before the dock copy was
    removed. After the verification, the scan answered "duplicate" and removed the dock
    copy: the footage was gone from the store and from the dock. Before it, the
    verification met the missing stored copy and the file was deferred as an unexpected
    error (FileNotFoundError, logged with a traceback). Its bytes are filed as a new
    item now, as the same file a moment later would be, and only then is the dock copy
    removed."""
    from tests.races import purged_after, purged_after_ingest

    data = make_video(seconds=0.5)
    gone = expired_item(services, clock, data)
    again = docked(services, "again.mp4", data)
    if moment == "after-ingest":
        armed = purged_after_ingest(monkeypatch, services, gone)
    else:
        # TAG-5's read-back of the stored copy done, the dock copy not yet removed.
        armed = purged_after(monkeypatch, services, services.store, "hash_of", gone)

    [outcome] = services.dock.scan()

    assert not armed[0], "the purge did not land between the ingest and the removal"
    assert (outcome.status, outcome.detail != gone) == ("ingested", True), outcome
    with services.db.session() as s:
        item = s.get(MediaItem, outcome.detail)
        assert item is not None and item.sha256 == hashlib.sha256(data).hexdigest()
        recorded = select(DestructionRecord.id).where(DestructionRecord.media_id == gone)
        assert s.execute(recorded).first() is not None  # RET-13: the purge recorded
    assert services.store.hash_of(item.sha256) == item.sha256  # stored (local or S3)
    assert not again.exists()  # catalogued and verified: the dock copy went
    report = check(services.db, services.store)
    assert report.clean, report


def test_bytes_whose_item_is_being_purged_as_they_are_docked_are_kept_RET_13_TAG_5(
    services: Services, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same, the purge having recorded its intent (step 1) and not yet deleted the
    item when the dock copy was removed: the copy went with an item about to go. It is
    kept now (deferred, saying why); the next scan after the purge files it anew."""
    from tests.races import purge_decided_after_ingest, purge_now

    data = make_video(seconds=0.5)
    gone = expired_item(services, clock, data)
    again = docked(services, "again.mp4", data)
    decided = purge_decided_after_ingest(monkeypatch, services)

    [outcome] = services.dock.scan()

    assert decided == [gone]
    assert outcome.status == "deferred", outcome
    assert f"item {gone}, which has the same bytes, is being purged" in outcome.detail
    assert again.read_bytes() == data  # kept: nothing lost
    purge_now(services, gone)  # the purge's next step (replay) finishes the item
    settle(again, services.clock)
    [later] = services.dock.scan()
    assert (later.status, later.detail != gone) == ("ingested", True), later
    assert not again.exists()
    report = check(services.db, services.store)
    assert report.clean, report


def killed_after_first(call: str, module: str = "os") -> str:
    """A script for ``run_cli(script=...)``: ``vms`` SIGKILLed right before its second
    ``<module>.<call>`` in an open folder (``dir_fd`` or ``src_dir_fd`` given: the dock's
    removals and moves of a taken file and its sidecar), whichever file it takes first.
    ``module``: where the dock looks the call up (``vms.dock`` for its renames, which
    never replace a file)."""
    return f"""
import importlib, os, runpy, signal, sys
where = importlib.import_module("{module}")
real, done = where.{call}, []
def once_then_die(*args, **kwargs):
    inside = kwargs.get("dir_fd", kwargs.get("src_dir_fd")) is not None
    if inside and done:
        os.kill(os.getpid(), signal.SIGKILL)
    result = real(*args, **kwargs)
    done.extend([args] if inside else [])
    return result
where.{call} = once_then_die
sys.argv[0] = "vms"
runpy.run_module("vms.cli", run_name="__main__", alter_sys=True)
"""


def test_a_scan_killed_between_removing_a_file_and_its_sidecar_leaves_no_stale_sidecar_TAG_5(
    config: Config, services: Services, clock: ManualClock
) -> None:
    """A scan killed after it removed an ingested file and before it removed its
    sidecar left the sidecar alone in the dock folder. Nothing took it away (sidecars
    are read only with their file), and devices reuse names (FILE0001.MP4 after a
    reset): the next file of that name docked without a sidecar was catalogued with the
    old one's officer, case, title, categories and recorded time (TAG-1, TAG-2). Now the
    sidecar goes first: killed between, the file is left, and the next scan finds it a
    duplicate of its item (catalogued with the sidecar) and removes it."""
    clock.set(SystemClock().now())  # the subprocess's clock and this one agree
    device = config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip, sidecar = device / "FILE0001.MP4", device / "FILE0001.MP4.json"
    first = make_video(clip, seconds=0.5)
    recorded = clock.now() - DAY
    sidecar.write_text(
        json.dumps(
            {
                "officer_badge": "B1",
                "case_number": "C-1",
                "title": "Arrest",
                "categories": ["Eviction"],
                "recorded_at": recorded.isoformat(),
            }
        )
    )
    settle(clip, clock, seconds=600)

    proc = run_cli(config, "dock", "scan", script=killed_after_first("unlink"))

    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with services.db.session() as s:
        item = s.execute(select(MediaItem)).scalar_one()
        assert (item.sha256, item.case_number) == (hashlib.sha256(first).hexdigest(), "C-1")
    [left] = device.iterdir()  # one of the two removed, the other not yet
    settle(left, clock)
    services.dock.scan()  # the next scan, after the restart
    assert sorted(p.name for p in device.iterdir()) == []

    second = make_video(clip, seconds=0.5, seed=1)  # the device reset: the name again
    settle(clip, clock)
    [outcome] = services.dock.scan()
    assert outcome.status == "ingested", outcome
    with services.db.session() as s:
        again = s.get(MediaItem, outcome.detail)
        assert again is not None and again.sha256 == hashlib.sha256(second).hexdigest()
        assert (again.case_number, again.officer_badge, again.title) == (None, None, None)
        assert again.recorded_start != recorded
    report = check(services.db, services.store)
    assert report.clean, report


def test_a_scan_killed_between_rejecting_a_file_and_its_sidecar_leaves_no_stale_sidecar_TAG_5(
    config: Config, services: Services, clock: ManualClock
) -> None:
    """A refused file moved to ``rejected/`` and its sidecar not yet (killed between):
    the sidecar stayed alone in the device folder, and the next file of that name
    docked without a sidecar was catalogued with the refused one's officer and case
    (TAG-1, TAG-2). Now the sidecar moves first: killed between, the refused file is
    left, refused again by the next scan and put beside its sidecar."""
    clock.set(SystemClock().now())  # the subprocess's clock and this one agree
    device = config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip = device / "FILE0001.MP4"
    clip.write_bytes(b"\x00\x01garbage" * 500)
    sidecar = {"officer_badge": "B1", "case_number": "C-1", "title": "Arrest"}
    (device / "FILE0001.MP4.json").write_text(json.dumps(sidecar))
    settle(clip, clock, seconds=600)

    proc = run_cli(
        config, "dock", "scan", script=killed_after_first("rename_noreplace", "vms.dock")
    )

    assert proc.returncode == -signal.SIGKILL, proc.stderr
    for left in device.iterdir():
        settle(left, clock)
    services.dock.scan()  # the next scan, after the restart
    assert sorted(p.name for p in device.iterdir()) == ["rejected"]
    rejected = device / "rejected"
    assert (rejected / "FILE0001.MP4").read_bytes() == b"\x00\x01garbage" * 500
    assert json.loads((rejected / "FILE0001.MP4.json").read_text()) == sidecar
    assert "not a decodable" in (rejected / "FILE0001.MP4.error.txt").read_text()

    make_video(clip, seconds=0.5)  # the device reset: the name again, no sidecar
    settle(clip, clock)
    [outcome] = services.dock.scan()
    assert outcome.status == "ingested", outcome
    with services.db.session() as s:
        item = s.get(MediaItem, outcome.detail)
        assert item is not None
        assert (item.case_number, item.officer_badge, item.title) == (None, None, None)


def refused_with_sidecar(services: Services) -> tuple[Path, Path, Path]:
    """A device folder holding a file the scan refuses (not a recording) and its
    sidecar (officer B1), both settled: the folder, the file, the sidecar."""
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip, sidecar = device / "FILE0001.MP4", device / "FILE0001.MP4.json"
    clip.write_bytes(b"not a recording")
    sidecar.write_text(json.dumps({"officer_badge": "B1"}))
    settle(clip, services.clock)
    return device, clip, sidecar


def test_a_refused_file_swapped_while_it_is_refused_is_left_for_the_next_scan_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAG-5: the scan refused a file (not a recording) and moved ``<file>`` and
    ``<file>.json`` to ``rejected/`` by name. The device had meanwhile put its next
    recording and that one's sidecar under the same names (devices reuse names): the new
    recording was moved to ``rejected/`` with the old file's reason, never catalogued.
    Only the file that was examined is moved; one put under its name since is left for
    the next scan, which takes it with its own sidecar."""
    device, clip, sidecar = refused_with_sidecar(services)
    real = services.ingestor.ingest
    swapped: list[bool] = []

    def ingest(*args: Any, **kwargs: Any) -> Any:
        try:
            return real(*args, **kwargs)
        finally:
            if not swapped:
                swapped.append(True)
                make_video(device / ".next", seconds=0.5, seed=3)
                (device / ".next.json").write_text(json.dumps({"officer_badge": "B2"}))
                os.replace(device / ".next", clip)
                os.replace(device / ".next.json", sidecar)

    monkeypatch.setattr(services.ingestor, "ingest", ingest)
    [first] = services.dock.scan()

    assert swapped and first.status == "deferred", first
    assert clip.exists() and sidecar.exists(), sorted(p.name for p in device.rglob("*"))
    assert json.loads(sidecar.read_text()) == {"officer_badge": "B2"}
    assert not (device / "rejected" / "FILE0001.MP4").exists()
    settle(clip, services.clock)
    [taken] = services.dock.scan()
    assert taken.status == "ingested", taken
    with services.db.session() as s:
        item = s.get(MediaItem, taken.detail)
        assert item is not None and item.officer_badge == "B2"


def test_a_sidecar_swapped_just_after_its_check_is_not_removed_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAG-5: the removal checked that the sidecar under ``<file>.json`` was the one read,
    then unlinked the name; a sidecar the device put there between the two (its next
    recording's) was deleted, its officer, case and title lost. The sidecar is now moved
    to a private name first and what was moved is checked: the new one stays."""
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip, sidecar = device / "FILE0001.MP4", device / "FILE0001.MP4.json"
    make_video(clip, seconds=0.5)
    sidecar.write_text(json.dumps({"officer_badge": "B1"}))
    settle(clip, services.clock)
    real_ingest, real_seen = services.ingestor.ingest, dock_module._seen
    ingested: list[bool] = []
    swapped: list[bool] = []

    def ingest(*args: Any, **kwargs: Any) -> Any:
        result = real_ingest(*args, **kwargs)
        ingested.append(True)
        return result

    def seen(name: str, dir_fd: int) -> Any:
        # The removal's check of the sidecar: the device writes its next one right after.
        result = real_seen(name, dir_fd)
        if ingested and not swapped and name.endswith("FILE0001.MP4.json"):
            swapped.append(True)
            (device / ".next.json").write_text(json.dumps({"officer_badge": "B2"}))
            os.replace(device / ".next.json", sidecar)
        return result

    monkeypatch.setattr(services.ingestor, "ingest", ingest)
    monkeypatch.setattr(dock_module, "_seen", seen)
    [taken] = services.dock.scan()

    assert swapped and taken.status == "ingested", taken
    assert not clip.exists()
    kept = [p for p in device.rglob("FILE0001.MP4*.json") if p.is_file()]
    assert [json.loads(p.read_text()) for p in kept] == [{"officer_badge": "B2"}], kept
