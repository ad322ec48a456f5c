"""Share-link downloads racing an admin's restriction (ACC-7; retention/share_links.py):
the link is checked and the download counted in one transaction, so the file never goes
out after a restriction committed, and the two writers never deadlock (PostgreSQL races
made deterministic with an ``after_cursor_execute`` pause)."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from tests.media import make_pdf
from tests.security.test_share_links import OUTSIDER, share
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.catalog_values import RestrictionChange
from vms.db.models import AuditEntry, CustodyEvent, MediaItem, MediaLink, ShareLink, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services


def test_an_item_restricted_while_a_link_is_checked_is_not_downloaded_ACC_7(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    actors: dict[str, Actor],
    released: str,
    document_item: tuple[str, bytes],
) -> None:
    """Both databases, two writers at once: an admin restricts the released item just
    after a download checked the link (ACC-7: the approval did not cover a restricted
    item). The check ran in a transaction of its own, the count in another, so that one
    download went out after the restriction. The check and the count are one
    transaction now (the link's row locked on PostgreSQL): refused as a dead link,
    audited naming ACC-7, nothing counted; the file is not served."""
    link = share(client, tokens, released, max_downloads=2)
    outsider = app.test_client()
    downloader = threading.get_ident()
    restricted = threading.Event()
    errors: list[BaseException] = []

    def restrict() -> None:
        try:
            services.catalog.set_restricted(
                actors["admin"], document_item[0], RestrictionChange(True, "internal affairs")
            )
        except BaseException as exc:  # reported by the test, in its thread
            errors.append(exc)
        finally:
            restricted.set()

    racer = threading.Thread(target=restrict, name="restrict-racer")

    def pause(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if (
            threading.get_ident() == downloader
            and racer.ident is None
            and "restricted_at_approval IS " in statement
        ):
            # The download has just checked the restrictions: the admin restricts now.
            racer.start()
            restricted.wait(timeout=5)  # blocks only if the download holds the item

    event.listen(services.db.engine, "after_cursor_execute", pause)
    try:
        got = outsider.get(f"/s/{link['token']}/package", environ_base=OUTSIDER)
        status, data = got.status_code, got.data
        got.close()
    finally:
        event.remove(services.db.engine, "after_cursor_execute", pause)
    racer.join(timeout=30)
    assert racer.ident is not None and not racer.is_alive() and not errors, errors
    assert status == 404 and data != document_item[1], status
    with services.db.session() as s:
        assert s.get_one(ShareLink, link["id"]).downloads == 0
        assert not s.execute(
            select(CustodyEvent).where(CustodyEvent.action == "shared_download")
        ).all()
        reasons = [
            e.details["reason"]
            for e in s.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "release.share.open", AuditEntry.outcome == "denied"
                )
            ).scalars()
        ]
    assert len(reasons) == 1 and "ACC-7" in reasons[0], reasons


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_restriction_placed_during_a_downloads_check_waits_for_it_ACC_7(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    actors: dict[str, Actor],
    released: str,
    document_item: tuple[str, bytes],
) -> None:
    """PostgreSQL: the admin restricts the item just after the download's transaction
    checked it (the item's row shared by then). The restriction must wait for the
    download to commit, so the file never goes out after the restriction committed."""
    link = share(client, tokens, released, max_downloads=2)
    outsider = app.test_client()
    downloader = threading.get_ident()
    checks: list[str] = []
    restricted = threading.Event()
    errors: list[BaseException] = []

    def restrict() -> None:
        try:
            services.catalog.set_restricted(
                actors["admin"], document_item[0], RestrictionChange(True, "internal affairs")
            )
        except BaseException as exc:  # reported by the test, in its thread
            errors.append(exc)
        finally:
            restricted.set()

    racer = threading.Thread(target=restrict, name="restrict-racer")

    def pause(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if threading.get_ident() == downloader and "restricted_at_approval IS " in statement:
            checks.append(statement)
            if len(checks) == 2 and racer.ident is None:
                # The download's own transaction has just checked: the admin restricts.
                racer.start()
                restricted.wait(timeout=2)  # the restriction waits for the download

    event.listen(services.db.engine, "after_cursor_execute", pause)
    try:
        got = outsider.get(f"/s/{link['token']}/package", environ_base=OUTSIDER)
        served_before_restriction = not restricted.is_set()
        status, data = got.status_code, got.data
        got.close()
    finally:
        event.remove(services.db.engine, "after_cursor_execute", pause)
    assert len(checks) == 2, "the download's transaction did not check the restriction"
    racer.join(timeout=30)
    assert not racer.is_alive() and not errors, errors
    assert status == 200 and data == document_item[1], status
    assert served_before_restriction, "the file went out after the restriction committed"
    after = outsider.get(f"/s/{link['token']}/package", environ_base=OUTSIDER)
    assert after.status_code == 404  # restricted now: the link serves it no more
    after.close()
    with services.db.session() as s:
        assert s.get_one(ShareLink, link["id"]).downloads == 1


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_restricting_the_original_of_a_shared_copy_during_a_download_ACC_7(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    actors: dict[str, Actor],
    released: str,
    document_item: tuple[str, bytes],
) -> None:
    """PostgreSQL: the shared file is a copy of an original (a court copy: restricting
    the original restricts it too, ACC-7). The admin restricts the original while a
    download of the copy has just checked it: the restriction locks the original,
    writes its audit entry, then updates the copy. Neither may deadlock the other (a
    download holding the copy's row while waiting for the audit chain would): both
    finish, the download first, and the link serves the copy no more."""
    copy = document_item[0]
    original = services.ingestor.ingest(
        io.BytesIO(make_pdf().replace(b"%PDF-1.4\n", b"%PDF-1.4\n%original\n", 1)),
        IngestRequest(source=SourceKind.HANDHELD, device_id="REC-1", original_filename="o.pdf"),
        Who("setup", "admin"),
    ).media_id
    with services.db.transaction() as s:
        s.add(MediaLink(media_id=copy, source_id=original))  # made from it (INV-2)
    link = share(client, tokens, released, max_downloads=2)
    outsider = app.test_client()
    downloader = threading.get_ident()
    checks: list[str] = []
    restricted = threading.Event()
    errors: list[BaseException] = []

    def restrict() -> None:
        try:
            services.catalog.set_restricted(
                actors["admin"], original, RestrictionChange(True, "internal affairs")
            )
        except BaseException as exc:  # reported by the test, in its thread
            errors.append(exc)
        finally:
            restricted.set()

    racer = threading.Thread(target=restrict, name="restrict-racer")

    def pause(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if threading.get_ident() == downloader and "restricted_at_approval IS " in statement:
            checks.append(statement)
            if len(checks) == 2 and racer.ident is None:
                racer.start()
                restricted.wait(timeout=2)

    event.listen(services.db.engine, "after_cursor_execute", pause)
    try:
        got = outsider.get(f"/s/{link['token']}/package", environ_base=OUTSIDER)
        served_before_restriction = not restricted.is_set()
        status, data = got.status_code, got.data
        got.close()
    finally:
        event.remove(services.db.engine, "after_cursor_execute", pause)
    assert len(checks) == 2, "the download's transaction did not check the restriction"
    racer.join(timeout=30)
    assert not racer.is_alive() and not errors, errors
    assert status == 200 and data == document_item[1], status
    assert served_before_restriction, "the copy went out after the restriction committed"
    with services.db.session() as s:
        assert s.get_one(MediaItem, copy).restricted  # carried to the copy (ACC-7)
        assert s.get_one(ShareLink, link["id"]).downloads == 1
    after = outsider.get(f"/s/{link['token']}/package", environ_base=OUTSIDER)
    assert after.status_code == 404
    after.close()


def test_an_item_purged_just_after_its_download_was_counted_is_still_sent_ACC_6(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    released: str,
    document_item: tuple[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both databases: the purge removes the released item's file (its ``_unlink``, once
    the download's row locks are given back) just after the download was counted, audited
    and witnessed, before its bytes are sent. The file was opened only once the page
    sent it: the outsider got a 500, a download recorded (ACC-6) that never happened. It is
    opened before the download is counted now (as the object store's answer is asked
    first): the counted download is the one sent, whole."""
    from retention.share_links import ShareAccess

    link = share(client, tokens, released, max_downloads=2)
    original = ShareAccess.download
    purged: list[str] = []

    def purge_after_count(self: ShareAccess, *args: Any, **kwargs: Any) -> Any:
        got = original(self, *args, **kwargs)
        stored = services.store.path_for(got.sha256)
        stored.unlink()  # what the purge does to an expired original (RET-13)
        purged.append(str(stored))
        return got

    monkeypatch.setattr(ShareAccess, "download", purge_after_count)
    got = app.test_client().get(f"/s/{link['token']}/package", environ_base=OUTSIDER)
    status, data = got.status_code, got.data
    got.close()
    assert purged
    assert status == 200 and data == document_item[1], status
    with services.db.session() as s:
        assert s.get_one(ShareLink, link["id"]).downloads == 1
