"""``vms purge --dry-run`` at agency scale: after a shorter retention is configured a
dry run lists hundreds of thousands of candidates; it streams them, holding none."""

from __future__ import annotations

import datetime as dt
import json
import sys
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import insert

from vms.cli import main
from vms.config import Config
from vms.db.models import Device, MediaExpiry, MediaItem
from vms.services import Services


def _expired(services: Services, first: int, count: int) -> None:
    """``count`` fixed segments recorded 40 days ago, their expiry (RET-1) passed."""
    at = services.clock.now() - dt.timedelta(days=40)
    items = [
        {
            "id": f"seg-{n:06d}",
            "source": "fixed",
            "media_type": "video",
            "content_type": "video/mp4",
            "device_id": "CAM-1",
            "recorded_start": at,
            "size_bytes": 1,
            "sha256": f"{n:064x}",
            "ingested_at": at,
            "ingested_by": "recorder",
            "recorded_start_origin": "container",
            "evidence": False,
            "restricted": False,
        }
        for n in range(first, first + count)
    ]
    expiries = [
        {"media_id": i["id"], "expires_at": at + dt.timedelta(days=30), "retention_rule": "RET-1"}
        for i in items
    ]
    with services.db.transaction() as s:
        if first == 0:
            s.add(Device(id="CAM-1", kind="fixed", name="CAM-1", created_at=at))
            s.flush()
        s.execute(insert(MediaItem), items)
        s.execute(insert(MediaExpiry), expiries)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_purge_dry_run_streams_its_candidates_RET_13(
    services: Services,
    config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    as_json: bool,
) -> None:
    """RET-13: ``vms purge --dry-run`` collected every candidate in the report
    (``would_purge``) and printed them at the end, so its memory grew with what would
    be purged (a city's month of segments after a policy change is millions). Now each
    candidate is printed as it is decided: 12,000 candidates cost what 600 do, and the
    output still names each (the JSON one still parses, ``would_purge`` and all)."""
    monkeypatch.setenv("VMS_DATA_DIR", str(config.data_dir))
    monkeypatch.setenv("VMS_DATABASE_URL", config.effective_database_url)
    monkeypatch.setenv("VMS_INGEST_MIN_FREE_BYTES", "0")
    monkeypatch.setenv("VMS_RETENTION_DISK_ALARM_FREE_BYTES", "0")
    args = ["purge", "--dry-run", *(["--json"] if as_json else [])]

    def dry_run(name: str) -> tuple[list[str], int]:
        out = tmp_path / name
        with out.open("w") as f:
            monkeypatch.setattr(sys, "stdout", f)
            tracemalloc.start()
            try:
                assert main(args) == 0
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
                monkeypatch.setattr(sys, "stdout", sys.__stdout__)
        text = out.read_text()
        if as_json:
            return [c["media_id"] for c in json.loads(text)["would_purge"]], peak
        return [line.split()[2] for line in text.splitlines() if line.startswith("would")], peak

    # Two batches of the purge (500) each time: the statements both compile are cached.
    _expired(services, 0, 600)
    named, few = dry_run("few")
    assert named == [f"seg-{n:06d}" for n in range(600)]
    _expired(services, 600, 11_400)
    named, many = dry_run("many")
    assert named == [f"seg-{n:06d}" for n in range(12_000)]
    # Held, 11,400 more candidates are megabytes; unheld, the peak moves by what the
    # pools and caches happen to hold (a few hundred kB either way).
    grown = many - few
    assert grown < 1_500_000, f"peak memory {few} B for 600 candidates, {many} B for 12,000"
