"""An export on a disk that is filling up (issue 15; docs/design/storage.md, "Room for
uploads"): an export is a person's work like an upload, so its work files and the items
it catalogues leave ``[ingest] upload_min_free_bytes`` free for recording, and an export
that would not is failed with the reason instead of taking the recorder's room.

Real numbers: the data folder is a 16 MiB tmpfs mounted for the test (as root, like the
uploads' and the recorder's disk-full tests); the database stays outside it.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.conftest import make_config
from tests.exports.test_service import T0, ingest
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.config import Config
from vms.db.models import MediaItem, SourceKind
from vms.exports.service import ExportSource, NewExport
from vms.ingest import IngestRequest
from vms.services import Services

MiB = 1024**2
DISK = 16 * MiB
USER_RESERVE = 4 * MiB  # [ingest] upload_min_free_bytes
RECORDER_RESERVE = 1 * MiB  # [ingest] min_free_bytes


@pytest.fixture
def config(database: tuple[str, Path], tmp_path: Path) -> Iterator[Config]:
    """The data folder on a 16 MiB tmpfs (unmounted after the services close)."""
    url, data_dir = database
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mount)], check=True)
    try:
        shutil.copytree(data_dir / "secrets", mount / "secrets")
        yield make_config(
            mount,
            url,
            VMS_INGEST_MIN_FREE_BYTES=RECORDER_RESERVE,
            VMS_INGEST_UPLOAD_MIN_FREE_BYTES=USER_RESERVE,
        )
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def free(services: Services) -> int:
    return shutil.disk_usage(services.config.data_dir).free


def leave_free(services: Services, target: int) -> Path:
    """A file taking the disk's room down to ``target`` free bytes."""
    filler = services.config.data_dir / "filler"
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, free(services) - target))
        f.flush()
        os.fsync(f.fileno())
    return filler


def test_an_export_that_would_take_the_recorders_room_fails_with_the_reason(
    services: Services, actors: dict[str, Actor]
) -> None:
    bwc = ingest(services, SourceKind.BWC, "BWC-1", T0, badge="B1", seconds=10.0)
    with services.db.session() as s:
        item = s.get(MediaItem, bwc)
        assert item is not None
        size = item.size_bytes
    # Room for one more copy of the item above the reserve, not for the clip and the
    # package (two copies).
    leave_free(services, USER_RESERVE + size)
    record = services.exports.create(
        actors["investigator"],
        NewExport(
            purpose="court copy",
            sources=(ExportSource(None, bwc, T0, T0 + dt.timedelta(seconds=10)),),
        ),
    )
    services.exports.run_pending()
    done = services.exports.get(actors["investigator"], record.id)
    # Before: the export was done, leaving less than the reserve recording keeps.
    assert done.state == "failed", (done.state, free(services))
    assert done.error is not None and "upload_min_free_bytes" in done.error, done.error
    assert free(services) >= USER_RESERVE
    with services.db.session() as s:
        copies = s.query(MediaItem).filter(MediaItem.source == SourceKind.EXPORT.value).count()
    assert copies == 0
    assert not (services.config.data_dir / "exports" / record.id).exists()


def noisy_mpeg_ts(seconds: int, fps: int = 10, size: tuple[int, int] = (160, 120)) -> bytes:
    """A dashboard camera's MPEG-TS (Annex B H.264, remuxed before the cut) of random
    pictures: every frame costs tens of KiB, so the file is a few MiB."""
    out = io.BytesIO()
    with av.open(out, "w", format="mpegts") as container:
        stream: Any = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10"}
        rng = np.random.default_rng(7)
        for _ in range(seconds * fps):
            picture = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")))
        container.mux(stream.encode(None))
    return out.getvalue()


def test_the_room_check_counts_the_remux_of_a_dashboard_cameras_file(
    services: Services, actors: dict[str, Actor]
) -> None:
    """A dashboard camera's MPEG-TS is remuxed whole into the work folder before a short
    range of it is cut: the check before the cut counts that copy too, so an export that
    would take the recorder's room is refused up front, naming what it needs, instead of
    writing the remux first (free space went below the reserve until a later progress
    step noticed)."""
    data = noisy_mpeg_ts(seconds=8)
    media_id = services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(source=SourceKind.DASH, device_id="DC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    size = len(data)
    assert size > 2 * MiB, size
    # Room above the reserve for the clip and the package of half a second (about a
    # sixth of the file each), not for the whole file remuxed.
    leave_free(services, USER_RESERVE + size // 2)
    record = services.exports.create(
        actors["investigator"],
        NewExport(
            purpose="court copy",
            sources=(ExportSource(None, media_id, T0, T0 + dt.timedelta(seconds=0.5)),),
        ),
    )
    services.exports.run_pending()
    done = services.exports.get(actors["investigator"], record.id)
    assert done.state == "failed", (done.state, free(services))
    # Before: "export ...: 3.. bytes are free; 4194304 bytes are kept free ..." (found
    # after the remux had taken the room, at the first progress step).
    assert done.error is not None and "it needs about" in done.error, done.error
    needed = int(done.error.split("it needs about ")[1].split(";")[0])
    assert needed >= size, (needed, size)
    assert free(services) >= USER_RESERVE
