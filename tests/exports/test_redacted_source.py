"""An export of a redacted copy says so (INV-8: "every redaction is recorded in them";
REL-3). The release flow is: a records commander redacts a privacy-sensitive recording,
an investigator exports the redacted copy, the export is released. The redacted copy's
own Content Credentials list each redaction, but the export cuts new clips and signs
new credentials: those must still say the pictures were redacted, and the signed
manifest must carry the redaction, or the court copy presents painted-over footage as a
plain capture trimmed by stream copy.

The redacted copy is made here as the redaction job leaves it (an item of source
``redacted`` derived from the original, and the custody event ``redacted`` on the
original): the redaction job is not what is under test.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

from sqlalchemy import select

from tests.media import make_video
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.db.models import CustodyEvent, Export, MediaItem, SourceKind
from vms.exports.credentials import read_credentials
from vms.exports.service import ExportSource, NewExport
from vms.ingest import IngestRequest
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)
SETUP = Who("setup", "admin")


def redacted_copy(services: Services) -> tuple[str, str, dict[str, object]]:
    """An original BWC recording and its redacted copy: (original id, copy id, the
    custody details the redaction job records on the original)."""
    original = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=3, fps=10)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-9", officer_badge="B9", recorded_at=T0),
        SETUP,
    )
    copy = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=4, fps=10)),
        IngestRequest(
            source=SourceKind.REDACTED,
            device_id="BWC-9",
            officer_badge="B9",
            recorded_at=T0,
            derived_from=original.media_id,
            custody_details={"redaction_id": "red-1"},
        ),
        SETUP,
    )
    details: dict[str, object] = {
        "redaction_id": "red-1",
        "redacted_media_id": copy.media_id,
        "sha256": copy.sha256,
        "method": "solid",
        "tracks": [
            {"id": 1, "class": "face", "manual": False, "first_frame": 0, "last_frame": 19},
            {"id": 2, "class": "plate", "manual": True, "first_frame": 5, "last_frame": 12},
        ],
        "audio_muted": [],
        "at": T0.isoformat(),
    }
    with services.db.transaction() as s:
        s.add(
            CustodyEvent(
                media_id=original.media_id,
                at=T0 + dt.timedelta(hours=1),
                actor="commander",
                action="redacted",
                details=details,
            )
        )
    return original.media_id, copy.media_id, details


def test_an_export_of_a_redacted_copy_records_the_redaction_INV_8(
    services: Services, actors: dict[str, Actor], tmp_path: Path
) -> None:
    original_id, copy_id, details = redacted_copy(services)
    record = services.exports.create(
        actors["investigator"],
        NewExport(purpose="release copy", sources=(ExportSource(None, copy_id),)),
    )
    assert services.exports.run_pending() == 1
    done = services.exports.get(actors["investigator"], record.id)
    assert done.state == "done", done.error
    with services.db.session() as s:
        package_id = s.get_one(Export, record.id).package_media_id
        assert package_id is not None
        package = s.get_one(MediaItem, package_id)
        path = services.store.path_for(package.sha256)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        [clip_name] = [n for n in zf.namelist() if n.startswith("clips/")]
        (tmp_path / "clip.mp4").write_bytes(zf.read(clip_name))
        ca = zf.read("c2pa-ca.pem")
    # The signed manifest: the source is a redacted copy, of which original, how.
    [source] = manifest["sources"]
    assert source["media_id"] == copy_id
    redaction = source.get("redaction")
    assert redaction is not None, source
    assert redaction["original_media_id"] == original_id
    assert redaction["redaction_id"] == "red-1" and redaction["method"] == "solid"
    assert redaction["tracks"] == details["tracks"]
    # The clip's Content Credentials: trusted, and saying the pictures were redacted.
    report = read_credentials(tmp_path / "clip.mp4", ca)
    assert report.state == "Trusted", report.failures
    actions = [
        a
        for assertion in report.manifest.get("assertions", [])
        if str(assertion.get("label", "")).startswith("c2pa.actions")
        for a in assertion["data"]["actions"]
    ]
    described = [str(a.get("description", "")) for a in actions]
    assert any(d.startswith("redacted:") and original_id in d for d in described), described
    with services.db.session() as s:  # (the original's event is the job's record)
        assert s.execute(
            select(CustodyEvent).where(
                CustodyEvent.media_id == original_id, CustodyEvent.action == "redacted"
            )
        ).scalar_one()
