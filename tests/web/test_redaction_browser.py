"""The redaction review page in headless Chromium (issue 16 item 4 and its Tests): a
records commander starts a redaction from the media page's "Redact" form; the jobs role
(running beside the server, as ``vms serve --role all``) analyses it; the review page
plays the original with the tracks drawn over it; a track is switched off with the
keyboard and that is stored; a box placed and moved with the arrow keys on two frames is
stored as a manual track with those keyframes; the render produces the derived item the
page links to. Everything through the page, checked in the database and the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from privacy_masks.redaction import RedactionService
from tests.privacy_masks.redaction_media import street_video
from tests.privacy_masks.test_redaction import ingest
from tests.web.conftest import Site, login
from vms.db.models import AuditEntry, MediaItem, MediaLink, Redaction
from vms.services import Services

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

ANALYSIS_MS = 90_000  # the analysis and the render of 2 s of 320x180 on a busy machine


@pytest.fixture
def redaction_jobs(
    services: Services, start_job: Callable[[str, Callable[[], int]], None]
) -> Callable[[], None]:
    """Starts the jobs role's redaction job beside the live server when the test calls it."""
    return lambda: start_job("redactions", services.ports.get(RedactionService).run_pending)


def start_redaction(page: Page, media_id: str) -> str:
    """The media page's "Redact" form (faces and plates, the defaults): the review page."""
    page.goto(f"/media/{media_id}")
    form = page.get_by_role("form", name="Redact this item")
    expect(form.get_by_label("faces")).to_be_checked()
    expect(form.get_by_label("plates")).to_be_checked()
    form.get_by_label("Method").select_option("solid")
    form.get_by_role("button", name="Redact").click()
    page.wait_for_url(re.compile(r".*/redactions/[\w-]+$"))
    return page.url.rsplit("/", 1)[1]


def stored(services: Services, redaction_id: str) -> Redaction:
    with services.db.session() as s:
        row = s.get(Redaction, redaction_id)
        assert row is not None
        s.expunge(row)
        return row


def test_review_page_tracks_toggle_manual_track_by_keyboard_and_render_issue_16_4(
    web_assets: object,
    site: Site,
    services: Services,
    redaction_jobs: Callable[[], None],
    page: Page,
) -> None:
    media_id = ingest(services, street_video())
    login(page, "commander")
    redaction_id = start_redaction(page, media_id)
    expect(page.get_by_role("heading", name="Redaction review")).to_be_visible()
    expect(page.locator("#redaction-state")).to_have_text("queued")

    # The jobs role analyses; the page follows (Socket.IO progress, polling GET) and
    # lists the tracks.
    page.wait_for_function("() => document.body.dataset.live === 'connected'")
    redaction_jobs()
    expect(page.locator("#redaction-state")).to_have_text("review", timeout=ANALYSIS_MS)
    heard = page.evaluate("() => window.vmsRedaction.state.heard")
    assert any(h.startswith("analysing:") for h in heard), heard  # over the socket
    assert "review:1.0" in heard or "review:1" in heard, heard
    tracks = page.locator("#tracks input[type=checkbox]")
    expect(tracks).to_have_count(3)
    expect(page.locator("#tracks")).to_contain_text("face (detected)")
    expect(page.locator("#tracks")).to_contain_text("plate (detected)")
    # Each track's span in seconds, as the time under the player reads.
    expect(page.locator("#tracks")).to_contain_text(
        re.compile(r"face \(detected\), \d+\.\d\d s to \d+\.\d\d s")
    )

    # The video plays (through the job: a records commander has no media.view) and the
    # tracks are drawn over it: the first face's box outline is on the canvas, in red.
    page.wait_for_function(
        "() => document.getElementById('redaction-video').readyState >= 2", timeout=15_000
    )
    page.get_by_role("button", name="One frame forward").press("Enter")
    page.wait_for_function("() => !window.vmsRedaction.video.seeking")
    drawn = page.evaluate(
        """() => {
          const r = window.vmsRedaction, t = r.video.currentTime;
          const track = r.state.job.tracks.find((k) => k.class === 'face');
          const [x, y, w, h] = r.boxAt(track.frames, t);
          const ctx = r.canvas.getContext('2d');
          const px = ctx.getImageData(Math.round(x + w / 2), Math.round(y), 1, 1).data;
          const inside = ctx.getImageData(Math.round(x + w / 2), Math.round(y + h / 2), 1, 1).data;
          return {edge: Array.from(px), inside: Array.from(inside),
                  size: [r.canvas.width, r.canvas.height]};
        }"""
    )
    assert drawn["size"] == [320, 180]
    red, green, _blue, alpha = drawn["edge"]
    assert alpha > 128 and red > 180 and green < 120, drawn  # the face colour, #ff3b30
    assert drawn["inside"][3] == 0, drawn  # an outline, the picture visible inside
    # The preview paints the chosen method (solid: black) over the enabled boxes.
    page.get_by_label("Preview the redacted look").check()
    inside = page.evaluate(
        """() => {
          const r = window.vmsRedaction, t = r.video.currentTime;
          const track = r.state.job.tracks.find((k) => k.class === 'face');
          const [x, y, w, h] = r.boxAt(track.frames, t);
          return Array.from(r.canvas.getContext('2d')
            .getImageData(Math.round(x + w / 2), Math.round(y + h / 2), 1, 1).data);
        }"""
    )
    assert inside == [0, 0, 0, 255], inside
    page.get_by_label("Preview the redacted look").uncheck()

    # A track toggled off with the keyboard (Space on its checkbox) is stored.
    first = tracks.first
    track_id = int(first.get_attribute("data-track-id") or "0")
    first.focus()
    page.keyboard.press("Space")
    expect(page.locator("#tracks-status")).to_have_text(f"Track {track_id} disabled.")
    expect(tracks.first).not_to_be_checked()
    expect(tracks.first).to_be_focused()  # the list is redrawn; the focus stays
    assert not next(t for t in stored(services, redaction_id).tracks if t["id"] == track_id)[
        "enabled"
    ]

    # A manual box by keyboard only: back to frame 0, "Place a box" (Enter), arrow keys
    # on the video move it; one second later Shift+arrow widens it, arrows move it.
    page.get_by_label("Position").focus()
    page.keyboard.press("Home")
    expect(page.locator("#time")).to_have_text("0.00 s · frame 0")
    page.get_by_label("Class").select_option("plate")
    page.get_by_role("button", name="Place a box").press("Enter")
    overlay = page.get_by_role("application")
    expect(overlay).to_be_focused()  # "Place a box" hands the focus to the video
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # 4 px steps on a 320 px picture
    expect(page.locator("#manual-status")).to_contain_text("x 140, y 72, w 64, h 36 (frame 0)")
    page.get_by_role("button", name="One second forward").press("Enter")
    expect(page.locator("#time")).to_contain_text("frame 15")
    overlay.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Alt+ArrowLeft")  # a one-pixel step
    expect(page.locator("#manual-status")).to_contain_text("x 139, y 80, w 68, h 36 (frame 15)")
    expect(page.locator("#manual-keys li")).to_have_count(2)
    page.get_by_role("button", name="Save the track").press("Enter")
    expect(page.locator("#manual-status")).to_contain_text("Saved as track")
    # Its span in the time the page shows under the player, not step numbers (before:
    # "plate (drawn by hand), frames 0 to 15").
    expect(page.locator("#tracks")).to_contain_text("plate (drawn by hand), 0.00 s to 1.00 s")
    manual = [t for t in stored(services, redaction_id).tracks if t.get("manual")]
    assert len(manual) == 1 and manual[0]["class"] == "plate" and manual[0]["enabled"]
    assert manual[0]["keyframes"] == [[0.0, 140, 72, 64, 36], [1.0, 139, 80, 68, 36]]
    assert len(manual[0]["frames"]) == 16

    # Render: progress, then the link to the derived item.
    page.get_by_role("button", name="Render the redacted copy").press("Enter")
    link = page.get_by_role("link", name="Open the redacted copy")
    expect(link).to_be_visible(timeout=ANALYSIS_MS)
    expect(page.locator("#redaction-state")).to_have_text("done")
    row = stored(services, redaction_id)
    assert row.state == "done" and row.rendered_media_id
    assert link.get_attribute("href") == f"/media/{row.rendered_media_id}"
    with services.db.session() as s:
        derived = s.get(MediaItem, row.rendered_media_id)
        assert derived is not None and derived.source == "redacted"
        linked = s.execute(
            select(MediaLink).where(MediaLink.media_id == row.rendered_media_id)
        ).scalar_one()
        assert linked.source_id == media_id  # INV-2
        entries = s.execute(
            select(AuditEntry.action, AuditEntry.actor, AuditEntry.details).where(
                AuditEntry.target == f"media:{media_id}"
            )
        ).all()
    by_commander = {a for a, who, _ in entries if who == "commander"}
    assert {
        "redaction.create",
        "redaction.edit",
        "redaction.render",
        "media.redact",
        "media.view",  # the review page's player, through the job (ACC-6)
    } <= by_commander
    views = [d for a, who, d in entries if a == "media.view" and who == "commander"]
    assert views and all(
        d["purpose"] == "redaction" and d["redaction_id"] == redaction_id for d in views
    )

    # The media page lists the job and its redacted copy.
    page.goto(f"/media/{media_id}")
    listing = page.locator("#redactions")
    expect(listing).to_contain_text("done")
    expect(listing.get_by_role("link", name=row.rendered_media_id)).to_be_visible()


def test_an_answer_older_than_an_edit_does_not_undo_it_on_the_page_issue_16_4(
    web_assets: object,
    site: Site,
    services: Services,
    redaction_jobs: Callable[[], None],
    page: Page,
) -> None:
    """A read of the job sent before an edit and answered after it (a poll, a progress
    message's read) redrew the page from the older job: a track just switched off showed
    on again, a manual track just saved vanished from the list (CI, under load). So did a
    read sent just after the edit that the server answered before the edit was stored
    (CI, stop 38): the order the page sent them in is not the order they were stored."""
    media_id = ingest(services, street_video())
    login(page, "commander")
    redaction_id = start_redaction(page, media_id)
    page.wait_for_function("() => document.body.dataset.live === 'connected'")
    redaction_jobs()
    expect(page.locator("#redaction-state")).to_have_text("review", timeout=ANALYSIS_MS)
    tracks = page.locator("#tracks input[type=checkbox]")
    expect(tracks).to_have_count(3)
    # Reads of the job answer late: the answer is the job as it was when it was read.
    page.evaluate(
        """() => {
          const real = window.fetch;
          window.fetch = async (url, init) => {
            const reply = await real(url, init);
            if (!init || !init.method || init.method === 'GET') {
              await new Promise((r) => setTimeout(r, 1500));
            }
            return reply;
          };
          window.vmsRedaction.reload();  // sent now, answered in 1.5 s
        }"""
    )
    first = tracks.first
    track_id = int(first.get_attribute("data-track-id") or "0")
    first.focus()
    page.keyboard.press("Space")  # the edit: sent after the read, answered before it
    expect(page.locator("#tracks-status")).to_have_text(f"Track {track_id} disabled.")
    page.wait_for_timeout(2500)  # the late answer has arrived
    expect(tracks.first).not_to_be_checked()
    assert not next(t for t in stored(services, redaction_id).tracks if t["id"] == track_id)[
        "enabled"
    ]
    # A read sent *after* the edit but served before it (CI: a poll due as the track was
    # switched): its answer is the job without the edit, and it came back last. The page
    # sends the edit 0.5 s late; the read goes at once and answers in 1.5 s.
    page.evaluate(
        """() => {
          const real = window.fetch;
          window.fetch = async (url, init) => {
            if (init && init.method === 'PATCH') await new Promise((r) => setTimeout(r, 500));
            return real(url, init);
          };
        }"""
    )
    second = tracks.nth(1)
    second_id = int(second.get_attribute("data-track-id") or "0")
    second.focus()
    page.keyboard.press("Space")  # the edit, held 0.5 s in the page
    page.evaluate("() => { window.vmsRedaction.reload(); }")  # read now, answered in 1.5 s
    expect(page.locator("#tracks-status")).to_have_text(f"Track {second_id} disabled.")
    page.wait_for_timeout(2500)  # the read's answer, older than the edit, has arrived
    expect(tracks.nth(1)).not_to_be_checked()
    expect(tracks.first).not_to_be_checked()
    edited = {t["id"]: t["enabled"] for t in stored(services, redaction_id).tracks}
    assert not edited[track_id] and not edited[second_id]
