"""ACC-11: a privacy-sensitive item (a person in a state of undress, 001 3.5.7.2) is
viewed only by the roles of ``[access] privacy_sensitive_roles``: its content (play,
download, camera playback, export, redaction) is a 403 naming ACC-11 for the others,
each refusal audited; its metadata stays listed, without any content link."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from recorder.playback import PlaybackWindow
from tests.conftest import make_config, sign_in
from tests.media import make_video
from tests.recorder.test_playback import Row, at, playback, seed
from vms.audit.log import Who
from vms.auth.permissions import Action, Actor, ItemFacts, decide
from vms.clock import ManualClock
from vms.config import AccessConfig, Config
from vms.db.models import AuditEntry, MediaItem, Role, SourceKind
from vms.errors import InvalidArgument, PermissionDenied
from vms.ingest import IngestRequest
from vms.services import Services


def h(tokens: dict[str, str], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


@pytest.fixture
def private(services: Services) -> str:
    """Officer B1's recording (supervised by sergeant), flagged privacy-sensitive."""
    result = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=1, seed=11)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1"),
        Who("setup", "admin"),
    )
    with services.db.transaction() as s:
        row = s.get(MediaItem, result.media_id)
        assert row is not None
        row.privacy_sensitive = True
    return result.media_id


def denials(services: Services, target: str | None = None) -> list[AuditEntry]:
    """The audited refusals (of ``target``), oldest first."""
    query = select(AuditEntry).where(AuditEntry.outcome == "denied")
    if target is not None:
        query = query.where(AuditEntry.target == target)
    with services.db.session() as s:
        return list(s.execute(query.order_by(AuditEntry.seq)).scalars())


@pytest.mark.parametrize("who", ["officer", "sergeant"])
@pytest.mark.parametrize("download", [False, True])
def test_content_of_a_privacy_sensitive_item_is_refused_outside_the_roles_ACC_11(
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    private: str,
    who: str,
    download: bool,
) -> None:
    """The recording officer and their supervisor, who view it otherwise, get a 403
    naming ACC-11 for playing or downloading it; the refusal is audited."""
    url = f"/api/v1/media/{private}/content" + ("?download=1" if download else "")
    r = client.get(url, headers=h(tokens, who))
    assert r.status_code == 403
    assert "ACC-11" in r.get_json()["error"]["message"]
    [entry] = denials(services, f"media:{private}")
    assert entry.actor == who
    assert entry.action == "media.view"  # the permission refused (downloads too)
    assert "ACC-11" in entry.details["reason"]
    # Cleared (by a release approver), the same request plays again.
    r = client.put(
        f"/api/v1/media/{private}/privacy",
        json={"privacy_sensitive": False, "reason": "reviewed: nothing private"},
        headers=h(tokens, "approver"),
    )
    assert r.status_code == 200, r.get_json()
    r = client.get(url, headers=h(tokens, who))
    assert r.status_code == 200
    r.close()


def test_the_roles_of_the_set_view_it_ACC_11(
    client: FlaskClient, tokens: dict[str, str], private: str
) -> None:
    for who in ("admin", "investigator"):
        r = client.get(
            f"/api/v1/media/{private}/content?purpose=investigation", headers=h(tokens, who)
        )
        assert r.status_code == 200, (who, r.get_json())
        r.close()


def test_export_and_redaction_of_a_privacy_sensitive_item_are_refused_outside_the_roles_ACC_11(
    services: Services, config: Config, clock: ManualClock, actors: dict[str, Actor], private: str
) -> None:
    """With ``privacy_sensitive_roles = "admin"`` an investigator may neither copy the
    item into an export nor open a redaction job on it (each shows its content)."""
    narrowed = dataclasses.replace(config, access=AccessConfig(privacy_sensitive_roles="admin"))
    other = Services.open(narrowed, clock=clock)
    try:
        client = _client(other)
        token = other.users.issue_token(actors["investigator"]).token
        headers = {"Authorization": f"Bearer {token}"}
        r = client.post(
            "/api/v1/exports",
            json={"purpose": "court", "sources": [{"media_id": private}]},
            headers=headers,
        )
        assert r.status_code == 403 and "ACC-11" in r.get_json()["error"]["message"]
        r = client.post(
            "/api/v1/redactions", json={"media_id": private, "detect": ["faces"]}, headers=headers
        )
        assert r.status_code == 403 and "ACC-11" in r.get_json()["error"]["message"]
        r = client.get(f"/api/v1/media/{private}/content?purpose=legal", headers=headers)
        assert r.status_code == 403 and "ACC-11" in r.get_json()["error"]["message"]
        actions = [e.action for e in denials(other, f"media:{private}")]
        assert actions.count("media.view") == 1
        assert {"exports.create", "redactions.manage"} <= {e.action for e in denials(other)}
    finally:
        other.close()


def _client(services: Services) -> FlaskClient:
    from web.app import create_app

    app, _socketio = create_app(services, testing=True)
    return app.test_client()


def test_a_privacy_sensitive_camera_segment_is_not_played_outside_the_roles_ACC_11(
    services: Services, config: Config, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    seed(services, [Row("open", at(0), at(60)), Row("private", at(60), at(120))])
    with services.db.transaction() as s:
        row = s.get(MediaItem, "private")
        assert row is not None
        row.privacy_sensitive = True
    narrowed = dataclasses.replace(config, access=AccessConfig(privacy_sensitive_roles="admin"))
    other = Services.open(narrowed, clock=clock)
    try:

        def play(who: str, end: float) -> list[str]:
            window = PlaybackWindow("cam-playback", at(0), at(end), purpose="investigation")
            listed = playback(other).open(actors[who], window, remote="127.0.0.1")
            return [s.media_id for s in listed.segments]

        with pytest.raises(PermissionDenied, match="ACC-11"):
            play("investigator", 120)
        assert play("investigator", 60) == ["open"]
        assert play("admin", 120) == ["open", "private"]
        assert [e.actor for e in denials(other, "media:private")] == ["investigator"]
    finally:
        other.close()


def test_search_lists_it_without_content_links_and_the_page_shows_no_player_ACC_11(
    client: FlaskClient, services: Services, tokens: dict[str, str], private: str
) -> None:
    """Metadata stays (the item is known to exist); nothing in the results or the page
    points at its content for a role outside the set."""
    body = client.get("/api/v1/media", headers=h(tokens, "sergeant")).get_json()
    [listed] = [i for i in body["items"] if i["id"] == private]
    assert "/content" not in str(listed)
    assert f"/media/{private}/content" not in client.get(
        "/api/v1/media", headers=h(tokens, "sergeant")
    ).get_data(as_text=True)
    browser = client
    sign_in(browser, "sergeant")
    page = browser.get(f"/media/{private}").get_data(as_text=True)
    assert "ACC-11" in page
    assert f"/api/v1/media/{private}/content" not in page
    assert "<video" not in page
    catalog = browser.get("/catalog").get_data(as_text=True)
    assert private in catalog and f"{private}/content" not in catalog


def test_the_table_refuses_only_content_actions_ACC_11() -> None:
    officer = Actor(1, "o", Role.OFFICER, badge="B1")
    facts = ItemFacts(officer_badge="B1", restricted=False, privacy_sensitive=True)
    assert decide(officer, Action.MEDIA_SEARCH, facts).allowed
    assert decide(officer, Action.MEDIA_EDIT, facts).allowed
    refused = decide(officer, Action.MEDIA_VIEW, facts)
    assert not refused.allowed and "ACC-11" in refused.reason
    widened = frozenset({Role.ADMIN, Role.OFFICER})
    assert decide(officer, Action.MEDIA_VIEW, facts, privacy_roles=widened).allowed
    # The set narrows, never grants: a dispatcher listed still may not view media.
    dispatcher = Actor(2, "d", Role.DISPATCHER)
    listed = frozenset({Role.ADMIN, Role.DISPATCHER})
    assert not decide(dispatcher, Action.MEDIA_VIEW, facts, privacy_roles=listed).allowed


def test_the_role_set_is_checked_when_configured_ACC_11(tmp_path: Path) -> None:
    assert AccessConfig().privacy_roles == {Role.ADMIN, Role.INVESTIGATOR, Role.RECORDS_COMMANDER}
    with pytest.raises(InvalidArgument, match="'chief'"):
        AccessConfig(privacy_sensitive_roles="admin,chief")
    with pytest.raises(InvalidArgument, match="must include admin"):
        AccessConfig(privacy_sensitive_roles="investigator")
    config = make_config(
        tmp_path,
        "sqlite:///unused.db",
        VMS_ACCESS_PRIVACY_SENSITIVE_ROLES="admin, investigator",
    )
    assert config.access.privacy_roles == {Role.ADMIN, Role.INVESTIGATOR}
