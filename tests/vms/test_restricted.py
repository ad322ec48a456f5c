"""ACC-7: admins set and clear an item's restricted mark through the API, the CLI and
the media page (issue 14 item 4); a restricted item is viewed by admins only, and every
change is audited with its reason and recorded in the item's custody."""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import sign_in
from tests.media import make_video
from tests.vms.test_crash_safety import run_cli
from tests.web.forms import hidden_fields, sent_twice
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.catalog_values import RestrictionChange
from vms.config import Config
from vms.db.models import AuditEntry, CustodyEvent, MediaItem, SourceKind
from vms.errors import Conflict, InvalidArgument, PermissionDenied
from vms.ingest import IngestRequest
from vms.services import Services


@pytest.fixture
def media_id(services: Services) -> str:
    return services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=3)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1"),
        Who("setup", "admin"),
    ).media_id


def _restricted(services: Services, media_id: str) -> bool:
    with services.db.session() as s:
        item = s.get(MediaItem, media_id)
        assert item is not None
        return item.restricted


def test_admin_restricts_and_clears_with_reason_ACC_7(
    services: Services, actors: dict[str, Actor], media_id: str
) -> None:
    admin, investigator = actors["admin"], actors["investigator"]
    services.catalog.authorise_content(
        investigator, media_id, download=False, purpose="investigation"
    )  # may view

    record = services.catalog.set_restricted(
        admin, media_id, RestrictionChange(True, "victim's identity")
    )
    assert record.restricted and _restricted(services, media_id)
    with pytest.raises(PermissionDenied):  # now admins only
        services.catalog.authorise_content(
            investigator, media_id, download=False, purpose="investigation"
        )
    services.catalog.authorise_content(admin, media_id, download=False, purpose="investigation")
    with pytest.raises(Conflict, match="already restricted"):
        services.catalog.set_restricted(admin, media_id, RestrictionChange(True, "again"))

    services.catalog.set_restricted(admin, media_id, RestrictionChange(False, "court released"))
    assert not _restricted(services, media_id)
    services.catalog.authorise_content(
        investigator, media_id, download=False, purpose="investigation"
    )

    with services.db.session() as s:
        custody = [
            (e.action, e.details["reason"])
            for e in s.execute(
                select(CustodyEvent)
                .where(CustodyEvent.media_id == media_id, CustodyEvent.action != "ingested")
                .order_by(CustodyEvent.id)
            ).scalars()
        ]
        audit = [
            (e.action, e.actor, e.details.get("reason"))
            for e in s.execute(
                select(AuditEntry)
                .where(
                    AuditEntry.target == f"media:{media_id}",
                    AuditEntry.action.in_(["media.restrict", "media.unrestrict"]),
                )
                .order_by(AuditEntry.seq)
            ).scalars()
        ]
    assert custody == [("restricted", "victim's identity"), ("unrestricted", "court released")]
    assert audit == [
        ("media.restrict", "admin", "victim's identity"),
        ("media.unrestrict", "admin", "court released"),
    ]
    assert services.audit.verify(services.db) is None


def test_only_admins_change_it_and_a_reason_is_required_ACC_7(
    services: Services, actors: dict[str, Actor], media_id: str
) -> None:
    for role in ("investigator", "commander", "auditor", "sergeant", "officer"):
        with pytest.raises(PermissionDenied):
            services.catalog.set_restricted(actors[role], media_id, RestrictionChange(True, "r"))
    assert not _restricted(services, media_id)
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry.actor).where(
                AuditEntry.outcome == "denied", AuditEntry.target == f"media:{media_id}"
            )
        ).scalars()
        assert set(denied) == {"investigator", "commander", "auditor", "sergeant", "officer"}
    with pytest.raises(InvalidArgument, match="reason"):
        services.catalog.set_restricted(actors["admin"], media_id, RestrictionChange(True, "  "))


def test_api_names_what_is_wrong(
    client: Any, tokens: dict[str, str], services: Services, media_id: str
) -> None:
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    url = f"/api/v1/media/{media_id}/restricted"
    r = client.put(url, json={"restricted": True}, headers=admin)
    assert r.status_code == 400 and "reason" in r.get_json()["error"]["message"]
    r = client.put(url, json={"restricted": "yes", "reason": "r"}, headers=admin)
    assert r.status_code == 400 and "restricted" in r.get_json()["error"]["message"]
    r = client.put(url, json={"restricted": True, "reason": "minor"}, headers=admin)
    assert r.status_code == 200 and r.get_json()["restricted"] is True
    r = client.put(url, json={"restricted": True, "reason": "minor"}, headers=admin)
    assert r.status_code == 409
    r = client.put(
        "/api/v1/media/nope/restricted", json={"restricted": True, "reason": "r"}, headers=admin
    )
    assert r.status_code == 404


def test_media_page_form_for_admins_only(services: Services, app: Any, media_id: str) -> None:
    investigator = app.test_client()
    csrf = sign_in(investigator, "investigator")
    page = investigator.get(f"/media/{media_id}")
    assert page.status_code == 200 and b'id="restrict-form"' not in page.data
    r = investigator.post(
        f"/media/{media_id}/restricted",
        data={"csrf_token": csrf, "restricted": "1", "reason": "mine"},
    )
    assert r.status_code == 403 and not _restricted(services, media_id)

    admin = app.test_client()
    csrf = sign_in(admin, "admin")
    assert b'id="restrict-form"' in admin.get(f"/media/{media_id}").data
    r = admin.post(f"/media/{media_id}/restricted", data={"restricted": "1", "reason": "x"})
    assert r.status_code in (400, 403) and not _restricted(services, media_id)  # no CSRF token
    r = admin.post(
        f"/media/{media_id}/restricted",
        data={"csrf_token": csrf, "restricted": "1", "reason": "sexual assault victim"},
    )
    assert r.status_code == 302 and _restricted(services, media_id)
    page = admin.get(r.headers["Location"])
    assert b"The item is now restricted." in page.data


def test_cli_restricts_and_clears(config: Config, services: Services, media_id: str) -> None:
    r = run_cli(config, "media", "restrict", media_id, "--reason", "juvenile")
    assert r.returncode == 0, r.stderr
    assert f"{media_id} restricted: yes" in r.stdout and _restricted(services, media_id)
    r = run_cli(config, "media", "restrict", media_id, "--reason", "juvenile")
    assert r.returncode == 5 and "already restricted" in r.stderr
    r = run_cli(config, "media", "unrestrict", media_id)
    assert r.returncode == 2 and "--reason" in r.stderr
    r = run_cli(config, "media", "unrestrict", media_id, "--reason", "order lifted")
    assert r.returncode == 0 and not _restricted(services, media_id)
    with services.db.session() as s:
        actors = set(
            s.execute(
                select(AuditEntry.actor).where(AuditEntry.action == "media.unrestrict")
            ).scalars()
        )
    assert actors and all(a.startswith("cli:") for a in actors)


def test_an_item_restricted_while_its_officer_edits_it_is_not_edited_ACC_7(
    services: Services, actors: dict[str, Actor], media_id: str
) -> None:
    """Officer B1 retitles their own recording at the moment an admin restricts it
    (ACC-7: administration only). The edit was allowed on the item as read before its
    transaction, so it went through and was audited after the restriction that forbids
    it. It is refused (403, audited) as one sent after the restriction is."""
    from sqlalchemy import event

    from vms.catalog_values import MediaChanges

    armed = [True]

    def read(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        # The edit has just read the item: the restriction lands now.
        if (
            armed[0]
            and statement.lstrip().upper().startswith("SELECT")
            and "media_items" in (statement)
        ):
            armed[0] = False
            services.catalog.set_restricted(
                actors["admin"], media_id, RestrictionChange(True, "victim's identity")
            )

    event.listen(services.db.engine, "after_cursor_execute", read)
    try:
        with pytest.raises(PermissionDenied):
            services.catalog.update(actors["officer"], media_id, MediaChanges(title="traffic stop"))
    finally:
        event.remove(services.db.engine, "after_cursor_execute", read)
    assert not armed[0]
    with services.db.session() as s:
        item = s.get(MediaItem, media_id)
        assert item is not None and item.restricted and item.title != "traffic stop"


def test_an_item_restricted_while_it_is_bookmarked_gets_no_bookmark_ACC_7(
    services: Services, actors: dict[str, Actor], media_id: str
) -> None:
    """An investigator bookmarks a recording at the moment an admin restricts it (ACC-7:
    administration only). The bookmark was allowed on the item as read before its
    transaction and was stored (its label and note on a restricted item) and audited
    after the restriction. It is refused (403, audited) as one sent after it is."""
    from sqlalchemy import event, func

    from vms.bookmarks import NewBookmark
    from vms.db.models import Bookmark

    with services.db.session() as s:
        item = s.get_one(MediaItem, media_id)
        start = item.recorded_start
    armed = [True]

    def read(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        # The bookmark's check has just read the item: the restriction lands now.
        if (
            armed[0]
            and statement.lstrip().upper().startswith("SELECT")
            and "media_items" in (statement)
        ):
            armed[0] = False
            services.catalog.set_restricted(
                actors["admin"], media_id, RestrictionChange(True, "victim's identity")
            )

    event.listen(services.db.engine, "after_cursor_execute", read)
    try:
        with pytest.raises(PermissionDenied):
            services.bookmarks.create(
                actors["investigator"], NewBookmark(start, "suspect enters", media_id=media_id)
            )
    finally:
        event.remove(services.db.engine, "after_cursor_execute", read)
    assert not armed[0]
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(Bookmark)).scalar_one() == 0


def test_an_item_restricted_while_its_officer_opens_it_is_not_served_ACC_7(
    services: Services,
    actors: dict[str, Actor],
    media_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Officer B1 opens their own recording at the moment an admin restricts it (ACC-7:
    administration only). The view was allowed on the item as read before the response
    was built, and recording the view (the last step before the content is sent) did not
    look again: the restricted content went out, its viewing audited after the
    restriction. Recording it decides again: a 403 (audited), so nothing is served."""
    from tests.races import restricted_after_check
    from vms.auth.permissions import Action

    officer = actors["officer"]
    armed = restricted_after_check(
        monkeypatch, services, services.authoriser, Action.MEDIA_VIEW, actors["admin"], media_id
    )
    access = services.catalog.authorise_content(officer, media_id, download=False)
    assert not armed[0]
    with pytest.raises(PermissionDenied, match="ACC-7"):
        services.catalog.record_content(officer, access, remote="127.0.0.1")
    with services.db.session() as s:
        served = s.execute(
            select(AuditEntry.outcome).where(
                AuditEntry.action == "media.view", AuditEntry.actor == "officer"
            )
        ).scalars()
        assert list(served) == ["denied"]


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_a_user_changed_while_bookmarking_gets_no_bookmark_and_no_500_ACC_1(
    services: Services,
    actors: dict[str, Actor],
    media_id: str,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """The bookmark's repeat check holds the user's row and decides the user again
    (``hold_user``): disabled or demoted since the check, it raised ``UserChanged``,
    which the bookmark service did not answer (a 500). Refused as a request sent after
    the change is (403, audited), nothing stored."""
    from sqlalchemy import func

    from tests.races import user_changed_after_check
    from vms.auth.permissions import Action
    from vms.bookmarks import NewBookmark
    from vms.db.models import Bookmark

    with services.db.session() as s:
        start = s.get_one(MediaItem, media_id).recorded_start
    armed = user_changed_after_check(
        monkeypatch, services, services.authoriser, Action.MEDIA_EDIT, "investigator", change
    )
    with pytest.raises(PermissionDenied):
        services.bookmarks.create(
            actors["investigator"], NewBookmark(start, "suspect enters", media_id=media_id)
        )
    assert not armed[0]
    with services.db.session() as s:
        assert s.execute(select(func.count()).select_from(Bookmark)).scalar_one() == 0


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_an_admin_changed_while_clearing_a_restriction_clears_nothing_ACC_1_ACC_7(
    services: Services,
    actors: dict[str, Actor],
    media_id: str,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    """ACC-1, ACC-7: an admin clears an item's restriction at the moment another admin
    disables them or makes them an officer (only admins clear it). Authorised with the
    role it started with, the clearing lifted ACC-7's protection (the item open to every
    role again) after the change that forbids it. Refused (403, audited) as a clearing
    sent after the change is: the item stays restricted, no custody event, no
    ``media.unrestrict`` entry."""
    from tests.races import user_changed_after_check
    from vms.auth.permissions import Action

    admin = actors["admin"]
    services.catalog.set_restricted(admin, media_id, RestrictionChange(True, "juvenile"))
    armed = user_changed_after_check(
        monkeypatch, services, services.authoriser, Action.MEDIA_RESTRICT, "admin", change
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        services.catalog.set_restricted(admin, media_id, RestrictionChange(False, "lifted"))
    assert not armed[0]
    assert _restricted(services, media_id)
    with services.db.session() as s:
        custody = s.execute(
            select(CustodyEvent.action).where(
                CustodyEvent.media_id == media_id, CustodyEvent.action == "unrestricted"
            )
        ).all()
        audited = s.execute(
            select(AuditEntry.action, AuditEntry.outcome).where(
                AuditEntry.actor == "admin",
                AuditEntry.action.in_(("media.restrict", "media.unrestrict")),
            )
        ).all()
    assert custody == []
    assert [tuple(a) for a in audited] == [("media.restrict", "ok"), ("media.restrict", "denied")]


def test_a_bookmark_and_a_tag_change_at_once_do_not_deadlock_ACC_1(
    services: Services,
    actors: dict[str, Actor],
    media_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ACC-1 (docs/design/authorisation.md item 6: item rows before the user's row): the
    investigator bookmarks a recording while their other tab retitles it. The bookmark
    held the user's row (its repeat check) and then asked for the item; the tag change
    held the item and then asked for the user's row (decided again): on PostgreSQL each
    waited for the other, and the deadlock detector failed one of them (a 500). Both
    now take the item first: one waits for the other, both are written. (SQLite's
    writers are serial: no deadlock there.)"""
    import vms.bookmarks
    import vms.catalog
    from tests.races import in_lock_order
    from vms.bookmarks import NewBookmark
    from vms.catalog_values import MediaChanges

    investigator = actors["investigator"]
    with services.db.session() as s:
        start = s.get_one(MediaItem, media_id).recorded_start
    note = NewBookmark(start, "suspect enters", media_id=media_id)
    got = in_lock_order(
        monkeypatch,
        (vms.bookmarks, "find_repeat_of", lambda: services.bookmarks.create(investigator, note)),
        (
            vms.catalog,
            lambda: services.catalog.update(investigator, media_id, MediaChanges("stop")),
        ),
    )
    assert not any(isinstance(v, Exception) for v in got), got
    with services.db.session() as s:
        assert s.get_one(MediaItem, media_id).title == "stop"


def test_a_retried_restriction_is_answered_as_the_first_ACC_7_ACC_6(
    client: Any, tokens: dict[str, str], services: Services, media_id: str
) -> None:
    """ACC-7, ACC-6: an API client retrying ``PUT .../restricted`` after a lost answer got
    a 409 "already restricted" although its first request had worked. With the first
    request's ``request_id`` the retry is answered with the item, restricted and audited
    once; without it, with another id or another reason, it is still a 409 (another
    request that finds the mark set: its reason would not be recorded)."""
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    url = f"/api/v1/media/{media_id}/restricted"
    body = {
        "restricted": True,
        "reason": "juvenile",
        "request_id": "4f1c2a7e-9b3d-4c5e-8a6f-1d2e3f405162",
    }
    first = client.put(url, json=body, headers=admin)
    assert first.status_code == 200, first.get_json()
    again = client.put(url, json=body, headers=admin)
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    for changed in (
        {"request_id": None},
        {"request_id": "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"},
        {"reason": "another reason"},
    ):
        refused = client.put(url, json={**body, **changed}, headers=admin)
        assert refused.status_code == 409, refused.get_json()
        assert "already restricted" in refused.get_json()["error"]["message"]
    bad = client.put(url, json={**body, "request_id": "again"}, headers=admin)
    assert bad.status_code == 400 and "request_id" in bad.get_json()["error"]["message"]
    with services.db.session() as s:
        audited = s.execute(
            select(AuditEntry.actor, AuditEntry.outcome).where(
                AuditEntry.target == f"media:{media_id}", AuditEntry.action == "media.restrict"
            )
        ).all()
        custody = s.execute(
            select(CustodyEvent.action).where(
                CustodyEvent.media_id == media_id, CustodyEvent.action == "restricted"
            )
        ).all()
    assert audited == [("admin", "ok")]
    assert custody == [("restricted",)]


def test_the_restrict_form_sent_twice_restricts_once_ACC_7_ACC_6(
    services: Services, app: Any, media_id: str
) -> None:
    """ACC-7, ACC-6: the media page's *Restrict this item* form sent twice (a
    double-click, a browser's retry) restricted with the first post and answered the
    second with the page's 409 "already restricted", the only answer the browser shows.
    Its one-time key tells the repeat: it goes where the first went, restricted and
    audited once; a post without the key is still refused."""
    admin = app.test_client()
    sign_in(admin, "admin")
    path = f"/media/{media_id}/restricted"
    form = {**hidden_fields(admin.get(f"/media/{media_id}").data, "restrict-form")}
    form["reason"] = "juvenile"
    assert "form_key" in form
    went = sent_twice(admin, path, form)
    assert "restricted=1" in went and _restricted(services, media_id)
    refused = admin.post(path, data={**form, "form_key": ""})
    assert refused.status_code == 409 and b"already restricted" in refused.data
    with services.db.session() as s:
        audited = s.execute(
            select(AuditEntry.actor).where(
                AuditEntry.target == f"media:{media_id}", AuditEntry.action == "media.restrict"
            )
        ).all()
    assert audited == [("admin",)]
