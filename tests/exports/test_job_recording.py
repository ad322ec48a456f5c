"""A full export job on the session's real recording of the simulator (issue 15, item
4): a camera range across several segments, cut exactly, with the audit entries; the
package passes ``verify.py``, each clip's Content Credentials are valid and trusted with
the CA shipped in the package, the clip plays continuously over the requested span, and
the catalog holds the derived items linked to every segment used (INV-2)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import av
import pytest
from sqlalchemy import select

from tests.exports.conftest import CAMERA, Recording
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry, CustodyEvent, MediaItem, MediaLink, Role, SourceKind
from vms.exports import verify
from vms.exports.credentials import read_credentials
from vms.exports.service import ExportSource, NewExport

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_a_camera_export_across_segments_ends_in_a_verified_package(
    recorded: Recording, tmp_path: Path
) -> None:
    services = recorded.services
    actor = Actor(user_id=0, username="det-smith", role=Role.INVESTIGATOR)
    start, end = recorded.at(4.3), recorded.at(13.7)  # across segment boundaries
    record = services.exports.create(
        actor,
        NewExport(
            purpose="court copy",
            sources=(ExportSource(CAMERA, None, start, end),),
            case_number="C-42",
            cut="exact",
            include_audit=True,
        ),
    )
    final = services.exports.run(record.id)
    assert final.state == "done" and final.package is not None, final.error
    download = services.exports.package(actor, record.id, remote="test")
    assert verify.main([str(download.path)]) == 0
    with zipfile.ZipFile(download.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        ca = zf.read("c2pa-ca.pem")
        (clip_name,) = [n for n in zf.namelist() if n.startswith("clips/")]
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(zf.read(clip_name))
    used = manifest["clips"][0]["source_items"]
    overlapping = [g.label for g in recorded.segments if g.end > start and g.start < end]
    assert used == overlapping and len(used) >= 3 and manifest["gaps"] == {CAMERA: []}
    assert {s["media_id"] for s in manifest["sources"]} == set(used)
    assert all(s["custody"] for s in manifest["sources"])  # their chain of custody
    # The mask version each segment was recorded with, from its ingest record (INV-5).
    masks = {
        s["media_id"]: int(
            next(e for e in s["custody"] if e["action"] == "ingested")["details"]["mask_version"]
        )
        for s in manifest["sources"]
    }
    assert {s["media_id"]: s["mask_version"] for s in manifest["sources"]} == masks
    assert manifest["clips"][0]["mask_versions"] == sorted(set(masks.values()))
    assert {a["target"] for a in manifest["audit"]} <= {f"media:{m}" for m in used}
    report = read_credentials(clip, ca)
    assert report.state == "Trusted" and report.failures == (), report
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        seconds = float(stream.duration * base) if stream.duration and base else 0.0
    assert abs(seconds - (end - start).total_seconds()) < 2 / recorded.fps
    with services.db.session() as s:
        package = s.get(MediaItem, final.package.media_id)
        assert package is not None and package.source == SourceKind.EXPORT.value
        links = set(
            s.execute(select(MediaLink.source_id).where(MediaLink.media_id == package.id)).scalars()
        )
        assert links == set(used)  # INV-2: every source item
        exported = s.execute(
            select(CustodyEvent.media_id).where(
                CustodyEvent.action == "exported", CustodyEvent.media_id.in_(used)
            )
        ).scalars()
        assert set(exported) == set(used)
        assert s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "media.export", AuditEntry.target == f"export:{record.id}"
            )
        ).scalar_one()
