"""An export that fails after some of its files were catalogued (issue 15.6; docs/
design/exports.md, "Killed mid-way"): the items catalogued before the failure are whole
items (INV-1) but not linked to their sources nor held; the export's error and its
``export.fail`` audit entry name them, as they do for an export failed by a restart, so
no copy of evidence is left in the catalog unaccounted for.

Real numbers: the data folder is a 16 MiB tmpfs mounted for the test (as root); the
media store fills up (recording, here a filler) between the clip's ingest and the
package's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.exports.test_export_disk import RECORDER_RESERVE, config, leave_free
from tests.exports.test_service import T0, ingest
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry, MediaItem, SourceKind
from vms.exports.service import ExportSource, NewExport
from vms.services import Services

__all__ = ["config"]  # the tmpfs data folder, for ``services``


def test_an_export_failed_after_its_clip_was_catalogued_names_the_clip_ACC_10(
    services: Services, actors: dict[str, Actor]
) -> None:
    bwc = ingest(services, SourceKind.BWC, "BWC-1", T0, badge="B1", seconds=3.0)
    record = services.exports.create(
        actors["investigator"],
        NewExport(
            purpose="court copy",
            sources=(ExportSource(None, bwc, T0, T0 + dt.timedelta(seconds=3)),),
        ),
    )
    filled: list[Path] = []

    def recording_takes_the_room(topic: str, payload: dict[str, Any]) -> None:
        if topic == "media.new" and payload["source"] == "export" and not filled:
            filled.append(leave_free(services, RECORDER_RESERVE // 2))

    services.events.subscribe(recording_takes_the_room)
    services.exports.run_pending()
    assert filled
    failed = services.exports.get(actors["investigator"], record.id)
    assert failed.state == "failed", failed
    with services.db.session() as s:
        clips = list(
            s.execute(
                select(MediaItem.id).where(MediaItem.source == SourceKind.EXPORT.value)
            ).scalars()
        )
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "export.fail")).scalar_one()
    assert len(clips) == 1  # the clip, catalogued before the package was refused
    # Before: the error was the ingest's alone ("media store ... has N bytes free ...")
    # and the audit entry had no "catalogued": the clip was nowhere tied to the export.
    assert failed.error is not None and clips[0] in failed.error, failed.error
    assert "not linked" in failed.error
    assert entry.details.get("catalogued") == clips
