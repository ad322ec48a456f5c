"""A redaction render on a disk that is filling up (issue 16, item 3; docs/design/
storage.md, "Room for uploads"): a render is a person's work like an upload or an export,
so its work files and the copy it catalogues leave ``[ingest] upload_min_free_bytes`` free
for recording; one that would not fails with the reason instead of taking that room.

Real numbers: the data folder is a 16 MiB tmpfs mounted for the test (as root, like the
uploads' and the recorder's disk-full tests); the database stays outside it.
"""

from __future__ import annotations

from sqlalchemy import select

from privacy_masks.redaction import EditRedaction, ManualTrack, NewRedaction
from tests.exports.test_export_disk import USER_RESERVE, config, free, leave_free
from tests.privacy_masks.redaction_media import street_video
from tests.privacy_masks.test_redaction import derived_count, ingest, redactions
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry, MediaItem
from vms.services import Services

__all__ = ["config"]  # the tmpfs data folder of the export test, for ``services``


def test_a_render_that_would_take_the_recorders_room_fails_with_the_reason(
    services: Services, actors: dict[str, Actor]
) -> None:
    media_id = ingest(services, street_video())
    service = redactions(services)
    commander = actors["commander"]
    job = service.create(commander, NewRedaction(media_id, ("faces",), "solid"))
    assert service.run_pending() == 1
    assert service.get(commander, job.id).state == "review"
    with services.db.session() as s:
        item = s.get(MediaItem, media_id)
        assert item is not None
        size = item.size_bytes
    # Room above the reserve for an eighth of the original, not for its redacted copy.
    leave_free(services, USER_RESERVE + size // 8)
    service.render(commander, job.id)
    assert service.run_pending() == 1
    done = service.get(commander, job.id)
    # Before: the render was done, leaving less than the reserve recording keeps.
    assert done.state == "failed", (done.state, free(services))
    assert done.error is not None and "upload_min_free_bytes" in done.error, done.error
    assert free(services) >= USER_RESERVE
    assert derived_count(services) == 0
    assert not (services.config.data_dir / "redactions" / job.id).exists()


def test_a_render_failed_for_room_is_rendered_again_with_the_review_kept(
    services: Services, actors: dict[str, Actor]
) -> None:
    """The person's review (tracks toggled, drawn by hand) is not lost with a failed
    render: once there is room, the same job renders again (audited)."""
    media_id = ingest(services, street_video())
    service = redactions(services)
    commander = actors["commander"]
    job = service.create(commander, NewRedaction(media_id, ("faces",), "solid"))
    service.run_pending()
    reviewed = service.edit(
        commander, job.id, EditRedaction(add=(ManualTrack("plate", ((0.0, 10, 10, 20, 20),)),))
    )
    filler = leave_free(services, USER_RESERVE)
    service.render(commander, job.id)
    service.run_pending()
    failed = service.get(commander, job.id)
    assert failed.state == "failed" and failed.error and "upload_min_free_bytes" in failed.error
    filler.unlink()
    # Before: Conflict "redaction ... is failed: it renders once its analysis is done and
    # under review": the analysis and the hand-drawn track had to be made again.
    again = service.render(commander, job.id)
    assert again.state == "render_queued" and again.tracks == reviewed.tracks
    service.run_pending()
    done = service.get(commander, job.id)
    assert done.state == "done" and done.rendered_media_id and done.error is None, done
    assert derived_count(services) == 1
    with services.db.session() as s:
        renders = s.execute(
            select(AuditEntry).where(AuditEntry.action == "redaction.render")
        ).scalars()
        assert [e.details.get("retry") for e in renders] == [None, True]
