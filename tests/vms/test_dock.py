"""Dock-folder imports (TAG-5): verified ingest before the dock copy is removed."""

from __future__ import annotations

import json
import os
import time

from sqlalchemy import select

from tests.media import make_video
from vms.db.models import MediaItem
from vms.services import Services


def settle(path: os.PathLike[str]) -> None:
    old = time.time() - 60
    os.utime(path, (old, old))


def test_dock_file_is_ingested_then_removed_TAG_5(services: Services) -> None:
    device = services.config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip = device / "20261121_2215.mp4"
    data = make_video(clip, seconds=1)
    (device / "20261121_2215.mp4.json").write_text(
        json.dumps(
            {
                "officer_badge": "B1",
                "title": "CAD 12",
                "categories": ["Eviction"],
                "recorded_at": "2026-11-21T22:15:00Z",
            }
        )
    )
    settle(clip)
    outcomes = services.dock.scan()
    assert [o.status for o in outcomes] == ["ingested"]
    assert not clip.exists() and not (device / "20261121_2215.mp4.json").exists()
    with services.db.session() as s:
        item = s.execute(select(MediaItem)).scalar_one()
        assert (item.device_id, item.officer_badge, item.source) == ("BWC-0042", "B1", "bwc")
        assert item.recorded_start.isoformat() == "2026-11-21T22:15:00+00:00"
        assert services.store.path_for(item.sha256).read_bytes() == data


def test_file_still_being_written_is_left_alone(services: Services) -> None:
    device = services.config.dock_dir / "BWC-1"
    device.mkdir(parents=True)
    clip = device / "fresh.mp4"
    make_video(clip, seconds=1)
    assert services.dock.scan() == []
    assert clip.exists()


def test_bad_file_moves_to_rejected_with_the_reason(services: Services) -> None:
    device = services.config.dock_dir / "DASH-3"
    device.mkdir(parents=True)
    junk = device / "corrupt.mp4"
    junk.write_bytes(b"\x00\x01garbage" * 500)
    settle(junk)
    outcomes = services.dock.scan()
    assert [o.status for o in outcomes] == ["rejected"]
    rejected = device / "rejected"
    assert (rejected / "corrupt.mp4").read_bytes() == b"\x00\x01garbage" * 500  # nothing lost
    assert "not a decodable" in (rejected / "corrupt.mp4.error.txt").read_text()
    assert services.dock.scan() == []  # not taken again


def test_duplicate_in_dock_is_removed_after_verification(services: Services) -> None:
    device = services.config.dock_dir / "BWC-2"
    device.mkdir(parents=True)
    data = make_video(seconds=1)
    for name in ("a.mp4", "b.mp4"):
        (device / name).write_bytes(data)
        settle(device / name)
    statuses = sorted(o.status for o in services.dock.scan())
    assert statuses == ["duplicate", "ingested"]
    assert list(device.iterdir()) == []
