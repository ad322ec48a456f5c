"""Hostile file names (issue 10, item 5): cleaned at ingest with the name as sent kept in
custody, served with an RFC 6266/5987 ``Content-Disposition``, and a view or download is
recorded (ACC-6) only when content was actually served."""

from __future__ import annotations

import hashlib
import io
import urllib.parse

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from tests.media import make_video
from vms.audit.log import Who
from vms.db.models import AuditEntry, CustodyEvent, MediaItem, SourceKind
from vms.filenames import EXTENSIONS, content_disposition, safe_filename, served_name
from vms.ingest import IngestRequest
from vms.media import probe
from vms.services import Services

HOSTILE = "a\r\nSet-Cookie: x=y.mp4"


def h(tokens: dict[str, str], who: str = "investigator") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def records(services: Services, media_id: str) -> tuple[int, int]:
    """(audit entries of views/downloads, custody events of views/downloads) of an item."""
    with services.db.session() as s:
        audited = s.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.target == f"media:{media_id}",
                AuditEntry.action.in_(["media.view", "media.download"]),
            )
        ).scalar_one()
        custody = s.execute(
            select(func.count())
            .select_from(CustodyEvent)
            .where(
                CustodyEvent.media_id == media_id,
                CustodyEvent.action.in_(["viewed", "downloaded"]),
            )
        ).scalar_one()
    return int(audited), int(custody)


@pytest.fixture
def item(services: Services) -> str:
    result = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=0.5)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-7", officer_badge="B1"),
        Who("setup", "admin"),
    )
    return result.media_id


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (HOSTILE, "a Set-Cookie: x=y.mp4"),
        ("clip\x00.mp4", "clip .mp4"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\bob\\shift.mp4", "shift.mp4"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # bidi override removed
        ("\u2066x\u2069.mp4", "x.mp4"),  # bidi isolates
        ("...hidden.mp4", "hidden.mp4"),
        ("   \t  ", None),
        ("\x1b[31mred.mp4", "[31mred.mp4"),
        ("Straße 5 ü café.mp4", "Straße 5 ü café.mp4"),
    ],
)
def test_safe_filename_drops_controls_separators_and_bidi(raw: str, clean: str | None) -> None:
    assert safe_filename(raw) == clean


def test_safe_filename_caps_long_names_keeping_the_extension() -> None:
    name = safe_filename("x" * 5000 + ".mp4")
    assert name is not None and len(name) == 255 and name.endswith("xx.mp4")
    assert len(safe_filename("y" * 5000) or "") == 255


def test_content_disposition_has_an_ascii_fallback_and_the_exact_utf8_name() -> None:
    value = content_disposition('café "5".mp4', attachment=True)
    assert value.startswith("attachment; filename=\"cafe _5_.mp4\"; filename*=UTF-8''")
    encoded = value.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded) == 'café "5".mp4'
    assert content_disposition("plain.mp4", attachment=False) == 'inline; filename="plain.mp4"'
    assert content_disposition(HOSTILE, attachment=True).isprintable()


def test_hostile_upload_name_is_cleaned_and_kept_as_sent_in_custody(
    client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    data = make_video(seconds=0.5, seed=3)
    r = client.post(
        "/api/v1/uploads",
        json={
            "filename": HOSTILE,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "source": "bwc",
            "device_id": "BWC-0042",
        },
        headers=h(tokens, "officer"),
    )
    assert r.status_code == 201, r.get_json()
    upload_id = r.get_json()["id"]
    r = client.put(
        f"/api/v1/uploads/{upload_id}",
        data=data,
        headers={**h(tokens, "officer"), "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
    )
    assert r.status_code == 200, r.get_json()
    r = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=h(tokens, "officer"))
    assert r.status_code == 200, r.get_json()
    media_id = r.get_json()["media"]["id"]

    detail = client.get(f"/api/v1/media/{media_id}", headers=h(tokens)).get_json()
    assert detail["original_filename"] == "a Set-Cookie: x=y.mp4"
    assert detail["custody"][0]["details"]["filename_as_sent"] == HOSTILE
    for download in (False, True):
        r = client.get(
            f"/api/v1/media/{media_id}/content",
            query_string={"download": "1", "purpose": "legal"}
            if download
            else {"purpose": "legal"},
            headers=h(tokens),
        )
        assert r.status_code == 200
        assert "Set-Cookie" not in r.headers
        disposition = r.headers["Content-Disposition"]
        assert "\r" not in disposition and "\n" not in disposition
        assert disposition.startswith("attachment;" if download else "inline;")
        r.close()
    assert records(services, media_id) == (2, 2)


def test_row_stored_with_a_hostile_name_is_served_and_recorded_once(
    client: FlaskClient, services: Services, tokens: dict[str, str], item: str
) -> None:
    """Rows written before names were cleaned (already in a database) still play."""
    stored = HOSTILE + "\u202e\t"
    if services.db.engine.dialect.name == "sqlite":
        stored += "\x00"  # PostgreSQL text cannot hold NUL at all
    with services.db.transaction() as s:
        s.execute(update(MediaItem).where(MediaItem.id == item).values(original_filename=stored))
    r = client.get(f"/api/v1/media/{item}/content?download=1&purpose=legal", headers=h(tokens))
    assert r.status_code == 200, r.get_data(as_text=True)[:200]
    assert r.headers["Content-Disposition"] == 'attachment; filename="a Set-Cookie: x=y.mp4"'
    assert "Set-Cookie" not in r.headers
    r.close()
    assert records(services, item) == (1, 1)


def test_refused_range_records_no_viewing_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], item: str
) -> None:
    """A response that serves no content (416) writes no view in audit or custody."""
    r = client.get(
        f"/api/v1/media/{item}/content?purpose=legal",
        headers={**h(tokens), "Range": "bytes=99999999-"},
    )
    assert r.status_code == 416
    r.close()
    assert records(services, item) == (0, 0)
    r = client.get(f"/api/v1/media/{item}/content?purpose=legal", headers=h(tokens))
    assert r.status_code == 200
    r.close()
    assert records(services, item) == (1, 1)


@pytest.mark.parametrize(
    ("name", "content_type", "served"),
    [
        ("statement.html", "image/jpeg", "statement.html.jpg"),
        ("report.hta", "application/pdf", "report.hta.pdf"),
        ("shift.exe", "video/mp4", "shift.exe.mp4"),
        ("shift", "video/mp4", "shift.mp4"),
        ("SHIFT.MOV", "video/mp4", "SHIFT.MOV"),  # the family's own names stay
        ("radio.m4a", "audio/mp4", "radio.m4a"),
        ("photo.jpeg", "image/jpeg", "photo.jpeg"),
        ("cam.dav", "video/mp2t", "cam.dav.ts"),  # a vendor's name: the type's added
        ("clip.mp4", None, "clip.mp4"),  # type unknown: as it is
        ("clip.mp4", "application/x-unknown", "clip.mp4"),
    ],
)
def test_a_served_name_ends_as_its_content_type_does_ACC_9(
    name: str, content_type: str | None, served: str
) -> None:
    """A name an uploader chose is not what decides how the recipient's machine opens
    the file: a JPEG named statement.html (a JPEG/HTML polyglot runs as a page when
    opened) is sent as statement.html.jpg."""
    assert served_name(name, content_type) == served


def test_every_type_the_probe_gives_has_its_extensions() -> None:
    """A content type the probe gives without an entry would be served under any name."""
    given = {t for _, t in probe._DOCUMENTS} | set(probe._CONTAINER_TYPES.values())
    given |= set(probe._AUDIO_ONLY_TYPES.values()) | set(probe._WITH_VIDEO_TYPES.values())
    given |= {"video/webm", probe.ZIP}  # Matroska's WebM; export packages
    assert given - set(EXTENSIONS) == set()


def test_a_download_named_as_a_page_is_sent_as_the_video_it_is_ACC_9(
    client: FlaskClient, services: Services, tokens: dict[str, str], item: str
) -> None:
    with services.db.transaction() as s:
        s.execute(
            update(MediaItem).where(MediaItem.id == item).values(original_filename="run.html")
        )
    r = client.get(f"/api/v1/media/{item}/content?download=1&purpose=legal", headers=h(tokens))
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == 'attachment; filename="run.html.mp4"'
    r.close()
    detail = client.get(f"/api/v1/media/{item}", headers=h(tokens)).get_json()
    assert detail["original_filename"] == "run.html"  # the catalog keeps the name as given
