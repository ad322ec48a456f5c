"""The redaction pages through the Flask client (issue 16 item 4): the media page offers
"Redact" only to who may redact a video; the form queues a job (CSRF-protected) and goes
to its review page; bad forms are a 400 naming the field, refusals 403 (audited),
unknown jobs 404, never a 500; the original's video is served through the job with HTTP
Range and the viewing recorded (ACC-1, ACC-6)."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import sign_in
from tests.privacy_masks.redaction_media import street_video
from tests.privacy_masks.test_redaction import ingest
from tests.web.test_release_pages import pdf_item
from vms.clock import ManualClock
from vms.config import AccessConfig, Config
from vms.db.models import AuditEntry, CustodyEvent, MediaItem, Redaction
from vms.services import Services
from web.app import create_app

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def test_redact_form_review_page_and_video_through_the_job_ACC_1_ACC_6(
    app: Flask, services: Services
) -> None:
    video = ingest(services, street_video())
    document = pdf_item(services, "redact")
    commander = app.test_client()
    csrf = sign_in(commander, "commander")

    page = commander.get(f"/media/{video}")
    assert page.status_code == 200 and b'id="redact-form"' in page.data
    assert b"No redactions yet." in page.data
    assert b'id="redact-form"' not in commander.get(f"/media/{document}").data  # not a video

    # CSRF: a form without the token is refused, nothing queued.
    r = commander.post(f"/media/{video}/redactions", data={"detect": ["faces"]})
    assert r.status_code in (400, 403)
    # Bad forms: 400 naming the field and value; nothing queued.
    r = commander.post(f"/media/{video}/redactions", data={"csrf_token": csrf})
    assert r.status_code == 400 and b"Detect: []" in r.data  # the error page's sentence
    r = commander.post(
        f"/media/{video}/redactions",
        data={"csrf_token": csrf, "detect": ["faces"], "method": "smudge"},
    )
    assert r.status_code == 400 and b"Method:" in r.data and b"smudge" in r.data
    r = commander.post(
        f"/media/{document}/redactions", data={"csrf_token": csrf, "detect": ["faces"]}
    )
    assert r.status_code == 400 and b"only video is redacted" in r.data
    with services.db.session() as s:
        assert s.execute(select(Redaction)).first() is None

    r = commander.post(
        f"/media/{video}/redactions",
        data={"csrf_token": csrf, "detect": ["faces", "plates"], "method": "pixelate"},
    )
    assert r.status_code == 302
    review = r.headers["Location"]
    redaction_id = review.rsplit("/", 1)[1]
    page = commander.get(review)
    assert page.status_code == 200
    assert b"Redaction review" in page.data and b"queued" in page.data
    assert b'id="privacy-form"' in page.data  # the ACC-11 flag: commanders edit items
    assert f"/api/v1/redactions/{redaction_id}/video".encode() in page.data
    listing = commander.get(f"/media/{video}").data
    assert f"/redactions/{redaction_id}".encode() in listing and b"pixelate" in listing

    # The original through the job: ranged, recorded once as a viewing for the redaction.
    url = f"/api/v1/redactions/{redaction_id}/video"
    with commander.get(url) as whole:
        assert whole.status_code == 200 and whole.data == street_video()
    with commander.get(url, headers={"Range": "bytes=100-199"}) as part:
        assert part.status_code == 206 and part.data == street_video()[100:200]
    with services.db.session() as s:
        views = s.execute(
            select(AuditEntry.details).where(
                AuditEntry.action == "media.view",
                AuditEntry.actor == "commander",
                AuditEntry.target == f"media:{video}",
            )
        ).scalars()
        details = list(views)
        custody = s.execute(
            select(CustodyEvent.action).where(
                CustodyEvent.media_id == video, CustodyEvent.actor == "commander"
            )
        ).scalars()
        assert "viewed" in set(custody)
    assert len(details) == 1, details  # the later range continues the same viewing
    assert details[0]["purpose"] == "redaction" and details[0]["redaction_id"] == redaction_id
    # The catalog's own content route stays closed to a records commander (no media.view).
    assert commander.get(f"/api/v1/media/{video}/content").status_code == 403

    # Who may not redact: no form, and the pages refuse (403, audited); unknown: 404.
    auditor = app.test_client()
    sign_in(auditor, "auditor")
    assert b'id="redact-form"' not in auditor.get(f"/media/{video}").data
    assert auditor.get(review).status_code == 403
    assert auditor.get(url).status_code == 403
    assert commander.get("/redactions/nope").status_code == 404
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry.action).where(
                AuditEntry.actor == "auditor", AuditEntry.outcome == "denied"
            )
        ).scalars()
        assert "redactions.manage" in set(denied)


def test_no_redact_form_where_the_privacy_roles_refuse_the_job_ACC_11(
    services: Services, config: Config, clock: ManualClock
) -> None:
    """A records commander sees a video's content only through a redaction job
    (docs/design/redaction.md, "Who redacts"), which a privacy-sensitive item refuses to
    a role outside ``[access] privacy_sensitive_roles``. With the set narrowed to admins
    and investigators the media page must not offer the commander a Redact form whose
    job is then refused, and the page itself must not fail (it decided with the default
    set, which has the commander, and then read the item's jobs, which the configured
    set refuses: the whole page was a 403). An investigator keeps the form."""
    video = ingest(services, street_video())
    with services.db.transaction() as s:
        row = s.get(MediaItem, video)
        assert row is not None
        row.privacy_sensitive = True
    narrowed = dataclasses.replace(
        config, access=AccessConfig(privacy_sensitive_roles="admin,investigator")
    )
    other = Services.open(narrowed, clock=clock)
    try:
        app, _socketio = create_app(other, testing=True)
        commander = app.test_client()
        csrf = sign_in(commander, "commander")
        r = commander.get(f"/media/{video}")
        page = r.get_data(as_text=True)
        # The item's details, its content refused (no media.view); no form.
        assert r.status_code == 200, page
        assert "details but not its content" in page and "<video" not in page
        assert 'id="redact-form"' not in page
        # The form's next step, posted anyway: refused for the same reason (403, audited).
        r = commander.post(
            f"/media/{video}/redactions", data={"csrf_token": csrf, "detect": ["faces"]}
        )
        assert r.status_code == 403 and b"ACC-11" in r.data
        investigator = app.test_client()
        sign_in(investigator, "investigator")
        assert b'id="redact-form"' in investigator.get(f"/media/{video}").data
    finally:
        other.close()
