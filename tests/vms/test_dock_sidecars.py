"""Dock-folder imports (TAG-5): a sidecar goes with the file it was written for, and
with no other; a sidecar with no file is reported, nothing lost (TAG-1, TAG-2)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.media import make_video
from tests.vms.test_dock import settle
from vms.db.models import MediaItem
from vms.services import Services

FIRST = {"officer_badge": "B1", "case_number": "C-1", "title": "Arrest"}
SECOND = {"officer_badge": "B2", "case_number": "C-2", "title": "Traffic stop"}


def device_folder(services: Services, name: str = "BWC-0042") -> Path:
    device = services.config.dock_dir / name
    device.mkdir(parents=True, exist_ok=True)
    return device


def docked_with_sidecar(services: Services) -> tuple[Path, Path, Path]:
    """A recording and its sidecar (FIRST) docked as FILE0001.MP4 by BWC-0042, settled:
    the device folder, the file and the sidecar."""
    device = device_folder(services)
    clip, sidecar = device / "FILE0001.MP4", device / "FILE0001.MP4.json"
    make_video(clip, seconds=0.5)
    sidecar.write_text(json.dumps(FIRST))
    settle(clip, services.clock)
    settle(sidecar, services.clock)
    return device, clip, sidecar


def fields(services: Services, media_id: str) -> tuple[str | None, str | None, str | None]:
    with services.db.session() as s:
        item = s.get(MediaItem, media_id)
        assert item is not None
        return item.officer_badge, item.case_number, item.title


def after_ingest(services: Services, monkeypatch: pytest.MonkeyPatch, then: Any) -> list[bool]:
    """Run ``then`` once, right after the scan's first ingest returns: the file and its
    sidecar have been read and catalogued, the dock copy not yet removed."""
    real = services.ingestor.ingest
    done: list[bool] = []

    def ingest(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if not done:
            done.append(True)
            then()
        return result

    monkeypatch.setattr(services.ingestor, "ingest", ingest)
    return done


def test_the_sidecar_of_a_file_that_replaced_the_taken_one_is_kept_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAG-5: the device put a new recording and its sidecar under the taken file's name
    while the scan was taking it (devices reuse names). The scan left the new file for
    the next scan but removed the sidecar by name, the new one: the next scan catalogued
    the new recording without its officer, case and title. Only the sidecar that was
    read (and applied) is removed; the new file is catalogued with its own."""
    device, clip, sidecar = docked_with_sidecar(services)

    def device_writes_the_next_recording() -> None:
        make_video(device / ".next", seconds=0.5, seed=1)
        (device / ".next.json").write_text(json.dumps(SECOND))
        os.replace(device / ".next", clip)
        os.replace(device / ".next.json", sidecar)

    done = after_ingest(services, monkeypatch, device_writes_the_next_recording)
    [first] = services.dock.scan()

    assert done and first.status == "ingested", first
    assert fields(services, first.detail) == ("B1", "C-1", "Arrest")
    assert clip.exists(), "the new recording was removed"
    assert sidecar.exists(), "the new recording's sidecar was removed"
    assert json.loads(sidecar.read_text()) == SECOND
    settle(clip, services.clock)
    settle(sidecar, services.clock)
    [second] = services.dock.scan()
    assert second.status == "ingested", second
    assert fields(services, second.detail) == ("B2", "C-2", "Traffic stop")
    assert sorted(p.name for p in device.iterdir()) == []


def test_the_sidecar_read_is_removed_when_only_the_file_was_replaced_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other half: the file replaced while taken and no new sidecar written. The
    sidecar that was read was applied to the taken item; left, it would be applied to
    the new recording as well."""
    device, clip, sidecar = docked_with_sidecar(services)

    def device_writes_the_next_recording() -> None:
        make_video(device / ".next", seconds=0.5, seed=1)
        os.replace(device / ".next", clip)

    after_ingest(services, monkeypatch, device_writes_the_next_recording)
    [first] = services.dock.scan()

    assert first.status == "ingested", first
    assert clip.exists() and not sidecar.exists()
    settle(clip, services.clock)
    [second] = services.dock.scan()
    assert second.status == "ingested", second
    assert fields(services, second.detail) == (None, None, None)
    with services.db.session() as s:
        assert len(s.execute(select(MediaItem.id)).all()) == 2


def test_a_file_is_not_taken_before_its_sidecar_has_settled_TAG_5(services: Services) -> None:
    """TAG-5, TAG-2: only the file had to be unchanged for ``dock_settle_seconds``: a
    station that writes the sidecar after the recording (or rewrites it) had the file
    taken without it, and the sidecar, left behind, was applied to the next recording
    of that name. A file is taken once its sidecar has settled too."""
    device = device_folder(services)
    clip, sidecar = device / "FILE0001.MP4", device / "FILE0001.MP4.json"
    make_video(clip, seconds=0.5)
    settle(clip, services.clock)
    sidecar.write_text(json.dumps(FIRST))
    settle(sidecar, services.clock, seconds=0.0)  # written just now

    assert services.dock.scan() == []
    assert clip.exists() and sidecar.exists()
    settle(sidecar, services.clock)
    [taken] = services.dock.scan()
    assert taken.status == "ingested", taken
    assert fields(services, taken.detail) == ("B1", "C-1", "Arrest")
    assert sorted(p.name for p in device.iterdir()) == []


@pytest.mark.parametrize("before", ["no sidecar", "a sidecar"])
def test_a_sidecar_written_while_its_file_is_taken_is_not_given_to_the_next_file_TAG_5(
    services: Services, monkeypatch: pytest.MonkeyPatch, before: str
) -> None:
    """TAG-5, TAG-2: a sidecar written (or rewritten) after the scan read the file's and
    before it removed the file missed the item, and stayed in the device folder for the
    next recording of that name. It is moved to ``rejected/`` with a reason naming the
    item it came too late for (nothing lost); the next file of the name is catalogued
    with no fields but its own."""
    device = device_folder(services)
    clip, sidecar = device / "FILE0001.MP4", device / "FILE0001.MP4.json"
    make_video(clip, seconds=0.5)
    settle(clip, services.clock)
    if before == "a sidecar":
        sidecar.write_text(json.dumps(FIRST))
        settle(sidecar, services.clock)

    after_ingest(services, monkeypatch, lambda: sidecar.write_text(json.dumps(SECOND)))
    [first] = services.dock.scan()

    assert first.status == "ingested", first
    assert sorted(p.name for p in device.iterdir()) == ["rejected"]
    rejected = device / "rejected"
    assert json.loads((rejected / "FILE0001.MP4.json").read_text()) == SECOND
    reason = (rejected / "FILE0001.MP4.json.error.txt").read_text()
    assert f"after FILE0001.MP4 was taken as item {first.detail}" in reason, reason

    make_video(clip, seconds=0.5, seed=1)  # the device's next recording, no sidecar
    settle(clip, services.clock)
    [second] = services.dock.scan()
    assert second.status == "ingested", second
    assert fields(services, second.detail) == (None, None, None)

    # A refused file of that name later does not take the refused sidecar's place.
    clip.write_bytes(b"\x00\x01garbage" * 500)
    sidecar.write_text(json.dumps(FIRST))
    settle(clip, services.clock)
    assert [o.status for o in services.dock.scan()] == ["rejected"]
    assert json.loads((rejected / "FILE0001.MP4.json").read_text()) == SECOND
    assert f"item {first.detail}" in (rejected / "FILE0001.MP4.json.error.txt").read_text()
    assert (rejected / "FILE0001.1.MP4").read_bytes() == b"\x00\x01garbage" * 500
    assert json.loads((rejected / "FILE0001.1.MP4.json").read_text()) == FIRST


def test_a_sidecar_without_its_file_is_reported_once_settled_not_deleted_TAG_5(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """TAG-5 (nothing lost, an operator told): a sidecar whose file never came (the
    station's copy failed, the file was named otherwise) was skipped at every scan and
    never reported; it waited for the next file of its name, to be applied to it. Once
    it has stood alone for ``[ingest] dock_orphan_sidecar_seconds`` it is reported as
    refused files are: moved to ``rejected/`` with its reason beside it, logged, and
    answered by the scan (``vms dock scan`` prints it and exits 1). One whose file is
    there, still being written, is left alone."""
    orphan_seconds = services.config.ingest.dock_orphan_sidecar_seconds
    device = device_folder(services)
    lost, writing = device / "lost.mp4.json", device / "writing.mp4.json"
    for sidecar in (lost, writing):
        sidecar.write_text(json.dumps(FIRST))
        settle(sidecar, services.clock)
    make_video(device / "writing.mp4", seconds=0.5)  # the device is still writing it

    assert services.dock.scan() == []  # settled as a file would be, not yet reported
    for sidecar in (lost, writing):
        settle(sidecar, services.clock, seconds=orphan_seconds + 1)
    [reported] = services.dock.scan()

    assert (reported.path, reported.status) == (lost, "rejected"), reported
    assert "no file lost.mp4 beside it" in reported.detail, reported.detail
    assert sorted(p.name for p in device.iterdir()) == [
        "rejected",
        "writing.mp4",
        "writing.mp4.json",
    ]
    rejected = device / "rejected"
    assert json.loads((rejected / "lost.mp4.json").read_text()) == FIRST  # nothing lost
    assert reported.detail in (rejected / "lost.mp4.json.error.txt").read_text()
    assert any(
        r.levelname == "WARNING" and "lost.mp4.json: rejected" in r.getMessage()
        for r in caplog.records
    ), caplog.text
    assert services.dock.scan() == []  # reported once

    make_video(device / "lost.mp4", seconds=0.5, seed=2)  # a file of that name, later
    settle(device / "lost.mp4", services.clock)
    [later] = services.dock.scan()
    assert later.status == "ingested", later
    assert fields(services, later.detail) == (None, None, None)


@pytest.mark.parametrize("what", ["a directory", "a FIFO", "rejected/"])
def test_a_sidecar_named_for_what_the_scan_does_not_take_is_reported_TAG_5(
    services: Services, what: str
) -> None:
    """TAG-5 (nothing lost, an operator told): a sidecar whose name matched a directory,
    a FIFO or ``rejected/`` (``rejected.json``) was never reported: the name was listed,
    so it counted as its file's, but the scan takes no such thing. Such a sidecar is
    applied to nothing and is reported as any orphan is; the FIFO is never opened (a
    scan that opened it would hang) and nothing is followed."""
    device = device_folder(services)
    media = {"a directory": "clips", "a FIFO": "pipe.mp4", "rejected/": "rejected"}[what]
    if what == "a directory":
        (device / media).mkdir()
    elif what == "a FIFO":
        os.mkfifo(device / media)
    else:
        (device / media).mkdir()
    sidecar = device / f"{media}.json"
    sidecar.write_text(json.dumps(FIRST))
    seconds = services.config.ingest.dock_orphan_sidecar_seconds + 1
    settle(sidecar, services.clock, seconds=seconds)

    [reported] = services.dock.scan()

    assert (reported.path, reported.status) == (sidecar, "rejected"), reported
    assert f"no file {media} beside it" in reported.detail, reported.detail
    assert not sidecar.exists()
    kept = device / "rejected" / f"{media}.json"
    assert json.loads(kept.read_text()) == FIRST  # nothing lost
    assert reported.detail in (device / "rejected" / f"{media}.json.error.txt").read_text()
    assert (device / media).exists()  # the directory or FIFO itself is left alone
    assert services.dock.scan() == []  # reported once


# Names at the edge of the rule of what a scan takes (vms.dock._takes): a trailing or
# doubled dot, a space, case, a newline, a right-to-left override that shows ".json" on
# screen. Each is a file with a sidecar of its name.
EDGE_NAMES = [
    "clip..json",
    "clip .json",
    "clip.json.",
    "clip.JSON",
    "clip\n.mp4",
    "clip\u202enosj.mp4",
]


def test_every_sidecar_is_either_taken_with_its_file_or_reported_TAG_5(
    services: Services,
) -> None:
    """TAG-5: which names a scan takes was written twice, in the scan and in the report
    of sidecars with no file, so the two could drift: a sidecar then both taken with
    its file and reported, or neither (left for the next file of its name). One rule
    now (``_takes``). Whatever the name, a sidecar is either taken with its file or
    reported, once settled for ``dock_orphan_sidecar_seconds``. (The two agreed on
    every name tried before the change: this test could not fail first.)"""
    device = device_folder(services)
    seconds = services.config.ingest.dock_orphan_sidecar_seconds + 1
    for n, name in enumerate(EDGE_NAMES):
        make_video(device / name, seconds=0.5, seed=n)
        (device / f"{name}.json").write_text(json.dumps(FIRST))
        settle(device / name, services.clock, seconds=seconds)

    outcomes = services.dock.scan()

    ingested = {o.path.name for o in outcomes if o.status == "ingested"}
    reported = {o.path.name for o in outcomes if o.status == "rejected"}
    for name in EDGE_NAMES:
        taken = name in ingested
        assert taken != (f"{name}.json" in reported), (name, outcomes)
        assert not (device / f"{name}.json").exists(), name  # reported: moved, kept
    assert ingested == {"clip.json.", "clip.JSON", "clip\n.mp4", "clip\u202enosj.mp4"}
    kept = [p.read_bytes() for p in (device / "rejected").iterdir()]
    assert kept.count(json.dumps(FIRST).encode()) == 2  # nothing lost
