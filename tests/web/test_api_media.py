"""Catalog API: search with filters and cursors, detail, content, tag changes (TAG-1),
categories (TAG-4), all audited (ACC-6)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.media import make_video
from tests.web.test_api_auth import _login
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.catalog_values import UNCHANGED, MediaChanges
from vms.db.models import AuditEntry, CustodyEvent, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services
from web.schemas.media import MediaChangesIn

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def h(tokens: dict[str, str], who: str = "investigator") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


@pytest.fixture
def catalog(services: Services) -> list[str]:
    """Seven items: two devices, two officers, hours apart."""
    ids = []
    for n in range(7):
        result = services.ingestor.ingest(
            io.BytesIO(make_video(seconds=0.5, seed=n)),
            IngestRequest(
                source=SourceKind.BWC if n % 2 else SourceKind.DASH,
                device_id=f"DEV-{n % 2}",
                officer_badge="B1" if n < 4 else "B2",
                recorded_at=T0 + dt.timedelta(hours=n),
                case_number="C-7" if n == 3 else None,
                categories=("Eviction",) if n == 5 else (),
            ),
            Who("setup", "admin"),
        )
        ids.append(result.media_id)
    return ids


def test_search_filters_newest_first(
    client: FlaskClient, tokens: dict[str, str], catalog: list[str]
) -> None:
    def search(**params: object) -> list[str]:
        r = client.get("/api/v1/media", query_string=params, headers=h(tokens))
        assert r.status_code == 200, r.get_json()
        return [i["id"] for i in r.get_json()["items"]]

    assert search() == catalog[::-1]
    assert search(device_id="DEV-1") == [catalog[5], catalog[3], catalog[1]]
    assert search(source="dash") == [catalog[6], catalog[4], catalog[2], catalog[0]]
    assert search(officer_badge="B2") == [catalog[6], catalog[5], catalog[4]]
    assert search(case_number="C-7") == [catalog[3]]
    assert search(category="eviction") == [catalog[5]]
    start = (T0 + dt.timedelta(hours=2)).isoformat()
    end = (T0 + dt.timedelta(hours=5)).isoformat()
    assert search(start=start, end=end) == [catalog[4], catalog[3], catalog[2]]
    assert search(device_id="DEV-0", start=start, end=end) == [catalog[4], catalog[2]]


def test_cursor_pagination_walks_everything_once(
    client: FlaskClient, tokens: dict[str, str], catalog: list[str]
) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/media", query_string=params, headers=h(tokens)).get_json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == catalog[::-1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit: '0' is outside 1..500"),
        ({"limit": "x"}, "limit: 'x' is not a whole number"),
        ({"cursor": "garbage"}, "cursor 'garbage'"),
        ({"source": "drone"}, "source: 'drone' must be one of"),
        ({"start": "yesterday"}, "ISO 8601"),
        ({"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "must be after start"),
    ],
)
def test_bad_search_parameters_are_explained(
    client: FlaskClient, tokens: dict[str, str], params: dict[str, str], message: str
) -> None:
    r = client.get("/api/v1/media", query_string=params, headers=h(tokens))
    assert r.status_code == 400
    assert message in r.get_json()["error"]["message"]


def test_detail_content_and_tag_change_are_audited_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], catalog: list[str]
) -> None:
    media_id = catalog[0]
    detail = client.get(f"/api/v1/media/{media_id}", headers=h(tokens)).get_json()
    assert detail["custody"][0]["action"] == "ingested"
    r = client.get(
        f"/api/v1/media/{media_id}/content?download=1&purpose=investigation", headers=h(tokens)
    )
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment")
    r.close()
    r = client.patch(
        f"/api/v1/media/{media_id}",
        json={
            "title": "Traffic stop, 5th & Main",
            "categories": ["Warrant Detail"],
            "case_number": "C-99",
        },
        headers=h(tokens),
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["categories"] == ["Warrant Detail"]
    detail = client.get(f"/api/v1/media/{media_id}", headers=h(tokens)).get_json()
    assert [e["action"] for e in detail["custody"]] == ["ingested", "downloaded", "tagged"]
    assert detail["custody"][2]["details"]["before"]["case_number"] is None
    with services.db.session() as s:
        actions = (
            s.execute(
                select(AuditEntry.action).where(
                    AuditEntry.target == f"media:{media_id}", AuditEntry.actor == "investigator"
                )
            )
            .scalars()
            .all()
        )
    # The metadata views are audited too (issue 14.2): the two reads of the detail.
    assert actions == ["media.detail", "media.download", "media.update", "media.detail"]
    assert services.audit.verify(services.db) is None


def test_bad_tag_changes_are_refused(
    client: FlaskClient, tokens: dict[str, str], catalog: list[str]
) -> None:
    cases = [
        ({"categories": ["Not A Category"]}, "unknown category 'Not A Category'"),
        ({"sha256": "0" * 64}, "sha256 is not a field of this request"),
        ({}, "nothing to change"),
        ({"title": 5}, "title: 5 is not a string"),
        ({"categories": None}, "categories: None is not valid"),
        ({"case_number": "C" * 65}, "case_number: 'CCC"),
    ]
    for body, message in cases:
        r = client.patch(f"/api/v1/media/{catalog[0]}", json=body, headers=h(tokens))
        assert r.status_code == 400, body
        assert message in r.get_json()["error"]["message"]
    r = client.get("/api/v1/media/does-not-exist", headers=h(tokens))
    assert r.status_code == 404


def test_categories_list_the_configured_retention_TAG_4(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    body = client.get("/api/v1/categories", headers=h(tokens, "officer")).get_json()
    names = [c["name"] for c in body["categories"]]
    assert len(names) == 30  # the Denver list (TAG-4)
    force = next(c for c in body["categories"] if c["name"].startswith("Use of Force - Inside"))
    assert force["evidence"] is True and force["retention_days"] == 1461  # TAG-6, RET-7


def views(services: Services, media_id: str) -> list[int]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry.seq).where(
                    AuditEntry.target == f"media:{media_id}", AuditEntry.action == "media.view"
                )
            ).scalars()
        )


def test_one_viewing_is_one_audit_entry_however_many_ranges_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], catalog: list[str]
) -> None:
    media_id = catalog[0]
    for header in ("bytes=0-", "bytes=100-199", "bytes=200-"):
        r = client.get(
            f"/api/v1/media/{media_id}/content?purpose=legal",
            headers={**h(tokens), "Range": header},
        )
        assert r.status_code == 206
        r.close()
    assert len(views(services, media_id)) == 1
    # A continuation without an earlier viewing entry is still recorded (never unaudited).
    r = client.get(
        f"/api/v1/media/{catalog[1]}/content?purpose=legal",
        headers={**h(tokens), "Range": "bytes=500-"},
    )
    r.close()
    assert len(views(services, catalog[1])) == 1


def test_media_page_says_how_long_the_item_is_kept_RET_12(
    client: FlaskClient, tokens: dict[str, str], catalog: list[str]
) -> None:
    _login(client, "investigator")
    detail = client.get(f"/api/v1/media/{catalog[0]}", headers=h(tokens)).get_json()
    assert detail["retention_rule"]
    html = client.get(f"/media/{catalog[0]}").get_data(as_text=True)
    assert "Kept until" in html and detail["retention_rule"] in html


def test_a_tag_change_body_becomes_a_command_naming_what_changes() -> None:
    changes = MediaChangesIn.model_validate(
        {"title": "  Traffic stop  ", "case_number": "", "categories": ["Eviction"]}
    ).command()
    assert changes == MediaChanges(title="Traffic stop", case_number=None, categories=("Eviction",))
    assert changes.incident_number is UNCHANGED and changes.incident_type is UNCHANGED
    assert MediaChangesIn.model_validate({}).command() == MediaChanges()


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        ({"title": "two\nlines"}, "title", "'two\\nlines'"),
        ({"categories": "Eviction"}, "categories", "'Eviction'"),
        ({"incident_type": "x" * 101}, "incident_type", "'xxx"),
        ({"media_type": "audio"}, "media_type", "media_type is not a field"),
    ],
)
def test_a_malformed_tag_change_is_a_400_naming_the_field_and_the_value(
    client: FlaskClient,
    tokens: dict[str, str],
    catalog: list[str],
    body: dict,
    field: str,
    value: str,
) -> None:
    r = client.patch(f"/api/v1/media/{catalog[0]}", json=body, headers=h(tokens))
    assert r.status_code == 400
    message = r.get_json()["error"]["message"]
    assert message.startswith(field) and value in message


@pytest.mark.parametrize("store_backend", ["local", "s3"], indirect=True)
def test_content_and_ranges_come_from_either_store_backend(
    client: FlaskClient, services: Services, tokens: dict[str, str], store_backend: str
) -> None:
    """Issue 13.6: with the S3 backend the content is streamed from the bucket, a Range
    asked of the bucket as a Range; the same answers as from local disk."""
    data = make_video(seconds=0.5, seed=42)
    media_id = services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(source=SourceKind.BWC, device_id="DEV-S3", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    url = f"/api/v1/media/{media_id}/content?purpose=legal"
    if store_backend == "s3":
        assert list(services.store.iter_objects()) == []  # nothing on local disk
    r = client.get(url, headers=h(tokens))
    assert r.status_code == 200 and r.data == data
    assert r.headers["Content-Length"] == str(len(data))
    etag = r.headers["ETag"]
    r.close()
    for header, start, stop in (
        ("bytes=100-199", 100, 200),
        ("bytes=-50", len(data) - 50, len(data)),
        (f"bytes={len(data) - 10}-", len(data) - 10, len(data)),
    ):
        r = client.get(url, headers={**h(tokens), "Range": header})
        assert r.status_code == 206, header
        assert r.data == data[start:stop]
        assert r.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(data)}"
        r.close()
    r = client.get(url, headers={**h(tokens), "Range": f"bytes={len(data) + 5}-"})
    assert r.status_code == 416
    r.close()
    r = client.get(url, headers={**h(tokens), "If-None-Match": etag})
    assert r.status_code == 304
    r.close()


def test_a_head_request_is_not_recorded_as_a_viewing_or_a_download_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], catalog: list[str]
) -> None:
    """A HEAD sends no content: the chain of custody must not say the item was viewed or
    downloaded (issue 10 item 5: only content actually served is recorded)."""
    media_id = catalog[0]
    for query in ("?purpose=legal", "?purpose=legal&download=1"):
        r = client.head(f"/api/v1/media/{media_id}/content{query}", headers=h(tokens))
        assert r.status_code == 200 and r.data == b""
        r.close()
    with services.db.session() as s:
        custody = s.execute(
            select(CustodyEvent.action).where(CustodyEvent.media_id == media_id)
        ).scalars()
        assert not {"viewed", "downloaded"} & set(custody)
        served = s.execute(
            select(AuditEntry.action).where(
                AuditEntry.target == f"media:{media_id}",
                AuditEntry.action.in_(("media.view", "media.download")),
            )
        ).all()
        assert served == []
    # The viewing that does send content is recorded, even a later range of it.
    r = client.get(
        f"/api/v1/media/{media_id}/content?purpose=legal",
        headers={**h(tokens), "Range": "bytes=100-"},
    )
    assert r.status_code == 206
    r.close()
    assert len(views(services, media_id)) == 1


def test_content_restricted_while_it_is_opened_is_a_403_not_the_file_ACC_7(
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    catalog: list[str],
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Officer B1 plays their own recording at the moment an admin restricts it (ACC-7:
    administration only): the view was allowed on the item as read before the response
    was built, and the file went out, its viewing audited after the restriction. The
    record of the view decides again: the answer is the 403, not the file."""
    from tests.races import restricted_after_check
    from vms.auth.permissions import Action

    media_id = catalog[0]  # officer B1's
    armed = restricted_after_check(
        monkeypatch, services, services.authoriser, Action.MEDIA_VIEW, actors["admin"], media_id
    )
    r = client.get(f"/api/v1/media/{media_id}/content", headers=h(tokens, "officer"))
    assert not armed[0]
    assert r.status_code == 403, r.status_code
    assert "ACC-7" in r.get_json()["error"]["message"]
    r.close()
