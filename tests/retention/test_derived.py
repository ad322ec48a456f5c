"""Originals of derived items and the purge (INV-2, INV-3, REL-2).

A court export's clip cut across two stored segments is made from both: its signed
manifest names both, and ``media_links`` links it to both (``derived_from_id`` holds only
the first). While a derived copy exists, every original it was made from is kept, not
only the first: otherwise the court copy outlives (or, under a legal hold, outlasts
forever) an original the defence would check it against.
"""

from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import select

from retention.commands import NewLegalHold
from retention.plugin import Retention
from tests.media import make_video
from tests.retention.conftest import DAY, exists, item
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.db.models import MediaLink, SourceKind
from vms.exports.service import ExportSource, NewExport
from vms.ingest import IngestRequest
from vms.services import Services

SECOND = dt.timedelta(seconds=1)


def segment(services: Services, at: dt.datetime, seed: int) -> str:
    """A 2 s fixed-camera segment of CAM-1 recorded at ``at``."""
    result = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=seed, fps=10)),
        IngestRequest(source=SourceKind.FIXED, device_id="CAM-1", recorded_at=at),
        Who("recorder", "admin"),
    )
    return result.media_id


def test_every_original_of_a_held_court_copy_is_kept_INV_2_REL_2_INV_3(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    start = clock.now() - 2 * DAY
    first = segment(timed, start, seed=1)
    second = segment(timed, start + 2 * SECOND, seed=2)
    # A court copy of the 2 s around the segment boundary: one clip from both segments.
    record = timed.exports.create(
        actors["investigator"],
        NewExport(
            purpose="court copy for the DA",
            sources=(ExportSource("CAM-1", None, start + SECOND, start + 3 * SECOND),),
            case_number="C-9",
        ),
    )
    assert timed.exports.run_pending() == 1
    done = timed.exports.get(actors["investigator"], record.id)
    assert done.state == "done" and done.package is not None, done.error
    package = done.package.media_id
    with timed.db.session() as s:
        links = {tuple(r) for r in s.execute(select(MediaLink.media_id, MediaLink.source_id))}
    assert {(package, first), (package, second)} <= links  # made from both (INV-2)
    # The court copy is under a legal hold (RET-10): it stays whatever its age.
    retention.legal_holds.create(
        actors["commander"], NewLegalHold("LH-COURT", "appeal pending", (package,))
    )

    clock.advance(5 * 366 * DAY)  # past every original's evidence retention (RET-7)
    retention.purger.run()

    assert exists(timed, package)  # the held court copy
    assert exists(timed, first)  # its derived_from: kept
    assert exists(timed, second), "an original of a held court copy was purged"
    assert item(timed, second) is not None
