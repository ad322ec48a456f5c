"""Dock-folder imports (TAG-5): verified ingest before the dock copy is removed."""

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

from tests.conftest import make_config
from tests.media import make_video
from tests.vms.test_crash_safety import run_cli
from vms.audit.cli import cli_name
from vms.audit.log import Who
from vms.clock import Clock, ManualClock, SystemClock
from vms.config import Config
from vms.db.models import AuditEntry, Device, MediaItem, SourceKind
from vms.dock import MAX_SIDECAR_BYTES
from vms.ingest import IngestRequest
from vms.services import Services


def settle(path: os.PathLike[str], clock: Clock, seconds: float = 60.0) -> None:
    """Give ``path``, and its sidecar when there is one, an mtime ``seconds`` before the
    services' clock says now (the scanner compares the two: INV-7; it takes a file once
    both have settled, TAG-5)."""
    old = clock.now().timestamp() - seconds
    os.utime(path, (old, old))
    sidecar = Path(f"{os.fspath(path)}.json")
    if sidecar.is_file():
        os.utime(sidecar, (old, old))


def test_dock_file_is_ingested_then_removed_TAG_5(services: Services, clock: ManualClock) -> None:
    clock.set(dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.UTC))  # docked the morning after
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
    settle(clip, services.clock)
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
    settle(clip, services.clock, seconds=0.0)  # written just now
    assert services.dock.scan() == []
    assert clip.exists()


def test_bad_file_moves_to_rejected_with_the_reason(services: Services) -> None:
    device = services.config.dock_dir / "DASH-3"
    device.mkdir(parents=True)
    junk = device / "corrupt.mp4"
    junk.write_bytes(b"\x00\x01garbage" * 500)
    settle(junk, services.clock)
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
        settle(device / name, services.clock)
    statuses = sorted(o.status for o in services.dock.scan())
    assert statuses == ["duplicate", "ingested"]
    assert list(device.iterdir()) == []


def test_bad_creation_time_is_rejected_and_the_scan_goes_on(services: Services) -> None:
    """#10.4: a file whose container says creation_time 9999-12-31 raised OverflowError
    in the expiry: the dock job failed every scan, later files were never taken and an
    orphan object was left in the store."""
    device = services.config.dock_dir / "BWC-5"
    device.mkdir(parents=True)
    bad, good = device / "a-clock-wrong.nut", device / "b-fine.mp4"
    make_video(
        bad,
        seconds=0.5,
        creation_time=dt.datetime(9999, 12, 31, tzinfo=dt.UTC),
        container_format="nut",
    )
    make_video(good, seconds=0.5, seed=1)
    for path in (bad, good):
        settle(path, services.clock)
    outcomes = services.dock.scan()
    assert [(o.path.name, o.status) for o in outcomes] == [
        ("a-clock-wrong.nut", "rejected"),
        ("b-fine.mp4", "ingested"),
    ]
    reason = (device / "rejected" / "a-clock-wrong.nut.error.txt").read_text()
    assert "creation_time 9999-12-31T00:00:00Z" in reason and "in the future" in reason
    assert (device / "rejected" / "a-clock-wrong.nut").exists()  # nothing lost
    assert len(list(services.store.iter_objects())) == 1  # no orphan: only the good file
    assert services.dock.scan() == []


def test_an_unexpected_error_does_not_stop_the_scan(services: Services) -> None:
    """#10.4: one file failing in an unforeseen way is left for the next scan; the
    others are still taken, and nothing is left in the store for it."""
    device = services.config.dock_dir / "BWC-6"
    device.mkdir(parents=True)
    for n, name in enumerate(("a.mp4", "b.mp4")):
        make_video(device / name, seconds=0.5, seed=n)
        settle(device / name, services.clock)

    def fails_for_a(session: object, item: MediaItem, now: object) -> None:
        if item.original_filename == "a.mp4":
            raise RuntimeError("unforeseen")

    services.ingestor.hooks.append(fails_for_a)
    outcomes = services.dock.scan()
    assert [(o.path.name, o.status) for o in outcomes] == [
        ("a.mp4", "deferred"),
        ("b.mp4", "ingested"),
    ]
    assert "unforeseen" in outcomes[0].detail
    assert (device / "a.mp4").exists()
    assert len(list(services.store.iter_objects())) == 1


def test_dock_may_not_claim_a_camera_or_source_fixed(services: Services) -> None:
    """#10.1: the dock folder names the device and the sidecar the source: neither may
    plant footage in a fixed camera's timeline (audited, file kept in rejected/)."""
    with services.db.transaction() as s:
        s.add(Device(id="CAM-7", kind="fixed", name="CAM-7", created_at=services.clock.now()))
    camera_dir = services.config.dock_dir / "CAM-7"
    camera_dir.mkdir(parents=True)
    make_video(camera_dir / "planted.mp4", seconds=0.5)
    bwc_dir = services.config.dock_dir / "BWC-8"
    bwc_dir.mkdir(parents=True)
    make_video(bwc_dir / "as-fixed.mp4", seconds=0.5, seed=1)
    (bwc_dir / "as-fixed.mp4.json").write_text(json.dumps({"source": "fixed"}))
    for path in (camera_dir / "planted.mp4", bwc_dir / "as-fixed.mp4"):
        settle(path, services.clock)
    outcomes = {o.path.name: o for o in services.dock.scan()}
    assert outcomes["planted.mp4"].status == "rejected"
    assert "registered fixed camera" in outcomes["planted.mp4"].detail
    assert outcomes["as-fixed.mp4"].status == "rejected"
    assert "only the recorder" in outcomes["as-fixed.mp4"].detail
    assert (camera_dir / "rejected" / "planted.mp4").exists()
    with services.db.session() as s:
        assert s.execute(select(MediaItem)).first() is None
        denied = s.execute(
            select(AuditEntry.actor, AuditEntry.target).where(AuditEntry.outcome == "denied")
        ).all()
    assert sorted(denied) == [("dock", "device:BWC-8"), ("dock", "device:CAM-7")]


def test_dock_with_device_assignment_takes_the_assigned_officer(
    database: tuple[str, Path],
) -> None:
    """#10.1 BWC-to-officer in the dock: a device assigned to one officer records that
    officer; an unassigned device or another officer's claim is rejected with the reason."""
    url, data_dir = database
    services = Services.open(make_config(data_dir, url, VMS_INGEST_DEVICE_ASSIGNMENT="true"))
    try:
        services.migrate()
        services.devices.assign(Who("admin-cli", "system"), "BWC-10", "B1")
        files = {
            "BWC-10/mine.mp4": None,
            "BWC-10/claimed.mp4": {"officer_badge": "B2"},
            "BWC-11/unassigned.mp4": None,
        }
        for seed, (name, sidecar) in enumerate(files.items()):
            path = services.config.dock_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            make_video(path, seconds=0.5, seed=seed)
            if sidecar is not None:
                path.with_name(path.name + ".json").write_text(json.dumps(sidecar))
            settle(path, services.clock)
        outcomes = {o.path.name: o for o in services.dock.scan()}
        assert outcomes["mine.mp4"].status == "ingested"
        assert outcomes["claimed.mp4"].status == "rejected"
        assert "not assigned to officer 'B2'" in outcomes["claimed.mp4"].detail
        assert outcomes["unassigned.mp4"].status == "rejected"
        assert "assigned to no officer" in outcomes["unassigned.mp4"].detail
        with services.db.session() as s:
            item = s.execute(select(MediaItem)).scalar_one()
        assert (item.device_id, item.officer_badge) == ("BWC-10", "B1")
    finally:
        services.close()


def test_symlinked_device_folder_cannot_take_stored_originals_INV_2_TAG_5(
    services: Services,
) -> None:
    """INV-2, TAG-5: whoever writes the dock folder (a docking station, a workstation)
    made ``dock/<device>`` a symbolic link to a folder of the media store. The scan
    followed it: it catalogued another device's original under the link's name, then
    "removed the dock copy", which was the stored original itself: evidence destroyed.
    A linked device folder is not scanned; the store and its rows are untouched."""
    services.ingestor.ingest(
        _clip(services, "real.mp4"),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", original_filename="real.mp4"),
        Who("officer", "officer"),
    )
    (original,) = services.store.iter_objects()
    services.config.dock_dir.mkdir(parents=True, exist_ok=True)
    (services.config.dock_dir / "BWC-EVIL").symlink_to(original.parent)
    settle(original, services.clock)

    assert services.dock.scan() == []
    assert original.exists()
    with services.db.session() as s:
        assert s.execute(select(MediaItem.device_id)).scalars().all() == ["BWC-1"]


def test_symlinked_dock_file_is_rejected_not_followed_TAG_5_ACC_1(
    services: Services, tmp_path: Path
) -> None:
    """TAG-5, ACC-1: a file in a device folder that is a symbolic link to a file
    outside it (another device's original, anything the VMS may read) was read through
    the link and catalogued under the folder's device. It is rejected with the reason,
    the link kept in rejected/, and nothing is stored."""
    outside = tmp_path / "elsewhere.mp4"
    make_video(outside, seconds=0.5)
    settle(outside, services.clock)
    device = services.config.dock_dir / "BWC-9"
    device.mkdir(parents=True)
    (device / "link.mp4").symlink_to(outside)

    outcomes = services.dock.scan()
    assert [(o.path.name, o.status) for o in outcomes] == [("link.mp4", "rejected")]
    assert "symbolic link" in outcomes[0].detail
    assert (device / "rejected" / "link.mp4").is_symlink()
    assert outside.exists()
    assert list(services.store.iter_objects()) == []
    with services.db.session() as s:
        assert s.execute(select(MediaItem)).first() is None


def _clip(services: Services, name: str) -> Path:
    path = services.config.data_dir / name
    make_video(path, seconds=0.5)
    return path


def test_symlinked_rejected_folder_cannot_replace_a_stored_original_INV_2(
    services: Services,
) -> None:
    """INV-2: ``<device>/rejected`` made a symbolic link to a folder of the media store,
    and a junk file named after a stored original dropped in the device folder: the
    refusal moved the junk over the original (``os.replace``), changing evidence. A
    linked rejected/ folder is not used: the junk stays where it was, the original
    keeps its bytes."""
    services.ingestor.ingest(
        _clip(services, "real.mp4"),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", original_filename="real.mp4"),
        Who("officer", "officer"),
    )
    (original,) = services.store.iter_objects()
    kept = original.read_bytes()
    device = services.config.dock_dir / "BWC-3"
    device.mkdir(parents=True)
    (device / "rejected").symlink_to(original.parent)
    junk = device / original.name
    junk.write_bytes(b"\x00\x01garbage" * 500)
    settle(junk, services.clock)

    outcomes = services.dock.scan()
    assert [(o.path.name, o.status) for o in outcomes] == [(original.name, "deferred")]
    assert "rejected" in outcomes[0].detail and "symbolic link" in outcomes[0].detail
    assert original.read_bytes() == kept
    assert junk.exists()


def test_reason_file_planted_as_a_link_is_not_written_through(
    services: Services, tmp_path: Path
) -> None:
    """TAG-5: a ``rejected/<file>.error.txt`` planted as a symbolic link made the
    refusal write its reason into whatever file the link named (the database, a key).
    The reason replaces the link instead; the file it named is untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    device = services.config.dock_dir / "BWC-4"
    (device / "rejected").mkdir(parents=True)
    (device / "rejected" / "junk.mp4.error.txt").symlink_to(victim)
    junk = device / "junk.mp4"
    junk.write_bytes(b"\x00\x01garbage" * 500)
    settle(junk, services.clock)

    assert [o.status for o in services.dock.scan()] == ["rejected"]
    assert victim.read_text() == "precious\n"
    reason = device / "rejected" / "junk.mp4.error.txt"
    assert not reason.is_symlink() and "not a decodable" in reason.read_text()


def _swap_before_ingest(
    services: Services, monkeypatch: pytest.MonkeyPatch, swap: Callable[[], None]
) -> None:
    """Run ``swap`` once, at the first ingest the scan starts: after the scanner looked at
    the dock file (not a link) and before the ingest reads it, the window whoever writes
    the dock folder needs."""
    real = services.ingestor.ingest
    done: list[bool] = []

    def ingest(*args: Any, **kwargs: Any) -> Any:
        if not done:
            done.append(True)
            swap()
        return real(*args, **kwargs)

    monkeypatch.setattr(services.ingestor, "ingest", ingest)


def test_dock_file_swapped_for_a_link_after_the_check_is_not_followed_TAG_5_ACC_1(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAG-5, ACC-1: the scan checked that a dock file was no symbolic link, then the
    ingest opened it by name: a file swapped for a link to another device's original in
    between was read through the link and catalogued as this device's. The file is opened
    once, without following links, and that open file is what is ingested."""
    services.ingestor.ingest(
        _clip(services, "real.mp4"),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", original_filename="real.mp4"),
        Who("officer", "officer"),
    )
    (original,) = services.store.iter_objects()
    device = services.config.dock_dir / "BWC-9"
    device.mkdir(parents=True)
    own = make_video(device / "mine.mp4", seconds=0.5, seed=3)
    settle(device / "mine.mp4", services.clock)

    def swap() -> None:
        link = device / ".link"
        link.symlink_to(original)
        os.replace(link, device / "mine.mp4")

    _swap_before_ingest(services, monkeypatch, swap)
    outcomes = services.dock.scan()
    assert [(o.path.name, o.status) for o in outcomes] == [("mine.mp4", "ingested")]
    with services.db.session() as s:
        taken = s.execute(select(MediaItem.sha256).where(MediaItem.device_id == "BWC-9")).all()
    assert taken == [(hashlib.sha256(own).hexdigest(),)]  # the device's bytes, not BWC-1's


def test_device_folder_swapped_for_a_link_mid_scan_cannot_remove_an_original_INV_2(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """INV-2, INV-3: the scan checked that ``dock/<device>`` was no symbolic link, then
    used its path for each file: swapped meanwhile for a link to a folder of the media
    store, a dock file named after a stored original led to the original itself, which
    was catalogued under the dock's device and then "removed as the dock copy": evidence
    destroyed. The folder is opened once, without following links, and every file is
    reached through it."""
    services.ingestor.ingest(
        _clip(services, "real.mp4"),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", original_filename="real.mp4"),
        Who("officer", "officer"),
    )
    (original,) = services.store.iter_objects()
    kept = original.read_bytes()
    device = services.config.dock_dir / "BWC-7"
    device.mkdir(parents=True)
    own = make_video(device / original.name, seconds=0.5, seed=4)
    settle(device / original.name, services.clock)
    moved = services.config.data_dir / "moved-BWC-7"

    def swap() -> None:
        device.rename(moved)
        device.symlink_to(original.parent)

    _swap_before_ingest(services, monkeypatch, swap)
    outcomes = services.dock.scan()
    assert [(o.path.name, o.status) for o in outcomes] == [(original.name, "ingested")]
    assert original.read_bytes() == kept  # the stored original is still there
    assert not (moved / original.name).exists()  # the dock copy was what was removed
    with services.db.session() as s:
        taken = s.execute(select(MediaItem.sha256).where(MediaItem.device_id == "BWC-7")).all()
    assert taken == [(hashlib.sha256(own).hexdigest(),)]


def test_a_refused_file_does_not_replace_an_earlier_refused_file_of_its_name_TAG_5(
    services: Services,
) -> None:
    """TAG-5, #10.4 (nothing is lost): devices reuse names (``FILE0001.MP4`` after a reset,
    the very case a clock refusal catches). A second refused file of a name already in
    rejected/ replaced the first there, with its sidecar and reason: footage refused for a
    fixable reason was gone. The second is kept beside the first under a new name."""
    device = services.config.dock_dir / "BWC-12"
    device.mkdir(parents=True)
    first, second = b"\x00\x01first" * 300, b"\x00\x02second" * 300
    for data, note in ((first, "one"), (second, "two")):
        (device / "FILE0001.MP4").write_bytes(data)
        (device / "FILE0001.MP4.json").write_text(json.dumps({"title": note}))
        settle(device / "FILE0001.MP4", services.clock)
        assert [o.status for o in services.dock.scan()] == ["rejected"]
    rejected = device / "rejected"
    assert (rejected / "FILE0001.MP4").read_bytes() == first
    assert json.loads((rejected / "FILE0001.MP4.json").read_text()) == {"title": "one"}
    assert (rejected / "FILE0001.1.MP4").read_bytes() == second
    assert json.loads((rejected / "FILE0001.1.MP4.json").read_text()) == {"title": "two"}
    assert "not a decodable" in (rejected / "FILE0001.1.MP4.error.txt").read_text()
    assert "not a decodable" in (rejected / "FILE0001.MP4.error.txt").read_text()


def test_an_oversized_or_absurdly_nested_sidecar_is_refused_with_the_reason(
    services: Services,
) -> None:
    """#10.4, bounded input: a sidecar was read whole into memory (a multi-gigabyte
    ``.json`` next to a clip took the jobs role down with it), and one nested 100,000
    levels deep raised RecursionError, which left the file deferred, and its traceback
    logged, at every scan for ever. Both are refused: the file and sidecar go to
    rejected/ with the reason."""
    device = services.config.dock_dir / "BWC-13"
    device.mkdir(parents=True)
    for n, (name, sidecar) in enumerate(
        (
            ("a-big.mp4", '{"title": "x"}' + " " * MAX_SIDECAR_BYTES),
            ("b-deep.mp4", "[" * 100_000 + "]" * 100_000),
        )
    ):
        make_video(device / name, seconds=0.5, seed=n)
        (device / f"{name}.json").write_text(sidecar)
        settle(device / name, services.clock)
    outcomes = {o.path.name: o for o in services.dock.scan()}
    assert outcomes["a-big.mp4"].status == "rejected"
    assert f"more than {MAX_SIDECAR_BYTES} bytes" in outcomes["a-big.mp4"].detail
    assert outcomes["b-deep.mp4"].status == "rejected"
    assert "nested too deeply" in outcomes["b-deep.mp4"].detail
    assert (device / "rejected" / "a-big.mp4.json").exists()
    assert list(services.store.iter_objects()) == []


def test_a_file_that_grows_while_it_is_taken_is_deferred_naming_it(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device still writing a file that looked settled: the ingest sees it change and
    the file is deferred, its outcome naming the dock file (not the descriptor it was
    read through), and it stays for the next scan."""
    import vms.ingest

    device = services.config.dock_dir / "BWC-14"
    device.mkdir(parents=True)
    clip = device / "clip.mp4"
    make_video(clip, seconds=0.5)
    settle(clip, services.clock)
    real_probe = vms.ingest.probe

    def probe_while_the_device_writes(path: Path, **kwargs: Any) -> Any:
        with clip.open("ab") as f:
            f.write(b"\x00" * 1000)
        return real_probe(path, **kwargs)

    monkeypatch.setattr(vms.ingest, "probe", probe_while_the_device_writes)
    outcomes = services.dock.scan()
    assert [o.status for o in outcomes] == ["deferred"]
    assert outcomes[0].detail.startswith("clip.mp4 changed while it was being ingested")
    assert clip.exists() and list(services.store.iter_objects()) == []


def test_a_dock_scan_from_the_cli_is_audited_as_the_os_user_ACC_6(
    config: Config, services: Services
) -> None:
    """``vms dock scan`` run by hand ingested as ``dock``, the jobs role's identity: the
    audit trail could not tell a scan somebody ran from the scheduled one (ACC-6,
    PSCS-5). It is the operating-system user running the command, as every other CLI
    command; the jobs role's scan is still ``dock`` (above)."""
    device = config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    clip = device / "by-hand.mp4"
    make_video(clip, seconds=0.5)
    settle(clip, SystemClock(), seconds=600)
    r = run_cli(config, "dock", "scan")
    assert r.returncode == 0, r.stderr
    assert "ingested" in r.stdout and not clip.exists(), r.stdout
    with services.db.session() as s:
        actors = set(s.execute(select(AuditEntry.actor).where(AuditEntry.action == "media.ingest")))
        item = s.execute(select(MediaItem)).scalar_one()
    assert actors == {(cli_name(),)}, actors
    assert item.device_id == "BWC-0042"
