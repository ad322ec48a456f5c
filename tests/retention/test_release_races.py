"""Race: two people (or one client retrying) deciding or releasing the same release
request at once, on SQLite and PostgreSQL. One decision wins; the other is a 409 and
leaves no audit entry claiming it happened (ACC-5, ACC-6, INV-4)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from retention.plugin import Retention
from retention.releases import Decision, NewShare, SetPrivacy, ShareRecord
from tests.media import make_video
from tests.races import audited, together, user_changed_after_check
from tests.retention.conftest import ingest
from tests.retention.test_releases import new
from vms import ids
from vms.auth.permissions import Action, Actor
from vms.catalog_values import RestrictionChange
from vms.clock import ManualClock
from vms.db.models import AuditEntry, CustodyEvent, MediaItem, ShareLink, SourceKind, User
from vms.errors import Conflict, PermissionDenied
from vms.exports.service import ExportSource, NewExport
from vms.services import Services

ITERATIONS = 8
DAY = dt.timedelta(days=1)


@pytest.fixture
def people(timed: Services) -> dict[str, Actor]:
    with timed.db.session() as s:
        return {u.username: timed.users.actor_for(s, u) for u in s.execute(select(User)).scalars()}


def test_approve_and_deny_at_once_one_decision_wins_ACC_5(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
) -> None:
    releases = retention.releases
    media = ingest(timed, recorded_at=clock.now() - DAY)
    for i in range(ITERATIONS):
        request = releases.create(people["commander"], new((media,), request_number=f"F-{i}"))
        got = together(
            lambda: releases.approve(people["approver"], request.id, Decision("ok")),
            lambda: releases.deny(people["approver"], request.id, Decision("exempt")),
        )
        conflicts = [g for g in got if isinstance(g, Conflict)]
        assert not [g for g in got if isinstance(g, Exception) and g not in conflicts], got
        assert len(conflicts) == 1, f"iteration {i}: both decisions succeeded: {got}"
        final = releases.get(people["approver"], request.id).state
        target = f"release:{request.id}"
        approvals = audited(timed, "release.approve", target)
        denials = audited(timed, "release.deny", target)
        assert (approvals, denials) == ((1, 0) if final == "approved" else (0, 1)), (
            f"iteration {i}: final state {final}, audited approvals {approvals}, denials {denials}"
        )


def test_release_twice_at_once_is_one_release_ACC_6(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
) -> None:
    """A client retrying ``POST .../release`` after a timeout: one release, one custody
    event per item, one audit entry; the retry is a 409."""
    releases = retention.releases
    media = ingest(timed, recorded_at=clock.now() - DAY)
    for i in range(ITERATIONS):
        request = releases.create(people["commander"], new((media,), request_number=f"R-{i}"))
        releases.approve(people["approver"], request.id, Decision("ok"))
        got = together(
            lambda: releases.release(people["commander"], request.id),
            lambda: releases.release(people["commander"], request.id),
        )
        assert sum(isinstance(g, Conflict) for g in got) == 1, f"iteration {i}: {got}"
        assert audited(timed, "release.release", f"release:{request.id}") == 1
    with timed.db.session() as s:
        events = s.execute(
            select(func.count()).where(
                CustodyEvent.media_id == media, CustodyEvent.action == "released"
            )
        ).scalar_one()
    assert events == ITERATIONS


def test_a_share_link_revoked_twice_at_once_is_audited_once_ACC_6(
    timed: Services, retention: Retention, people: dict[str, Actor], clock: ManualClock
) -> None:
    releases, shares = retention.releases, retention.release_shares
    media = ingest(timed, recorded_at=clock.now() - DAY)
    request = releases.create(people["commander"], new((media,), request_number="S-1"))
    releases.approve(people["approver"], request.id, Decision("ok"))
    releases.release(people["commander"], request.id)
    for i in range(ITERATIONS):
        link = shares.share(people["commander"], request.id, NewShare(clock.now() + DAY, 1))
        got = together(
            lambda: shares.revoke(people["commander"], request.id, link.link.id),
            lambda: shares.revoke(people["admin"], request.id, link.link.id),
        )
        assert not [g for g in got if isinstance(g, Exception)], got
        with timed.db.session() as s:
            entries = [
                e
                for e in s.execute(
                    select(AuditEntry).where(AuditEntry.action == "release.share.revoke")
                ).scalars()
                if e.details["link_id"] == link.link.id
            ]
        assert len(entries) == 1, f"iteration {i}: the revocation was audited {len(entries)} times"
        revoked_by = {g.revoked_by for g in got if isinstance(g, ShareRecord)}
        assert revoked_by == {entries[0].actor}, (
            f"iteration {i}: {revoked_by} vs {entries[0].actor}"
        )


def test_a_share_form_key_sent_twice_at_once_makes_one_link_REL_1(
    timed: Services, retention: Retention, people: dict[str, Actor], clock: ManualClock
) -> None:
    """REL-1, ACC-6: the page's share form posted twice at once with its one-time key
    (``NewShare.link_id``, web/form_keys.py): one link, audited once; the other post is a
    409 saying the form was already submitted, not a second live link nobody holds."""
    releases, shares = retention.releases, retention.release_shares
    media = ingest(timed, recorded_at=clock.now() - DAY)
    request = releases.create(people["commander"], new((media,), request_number="S-2"))
    releases.approve(people["approver"], request.id, Decision("ok"))
    for i in range(ITERATIONS):
        asked = NewShare(clock.now() + DAY, 1).with_link_id(ids.new_id())
        got = together(
            lambda: shares.share(people["commander"], request.id, asked),
            lambda: shares.share(people["commander"], request.id, asked),
        )
        made = [g for g in got if not isinstance(g, Exception)]
        refused = [g for g in got if isinstance(g, Conflict)]
        assert (len(made), len(refused)) == (1, 1), f"iteration {i}: {got}"
        assert "this form was already submitted" in refused[0].message
        with timed.db.session() as s:
            links = s.scalar(select(func.count()).select_from(ShareLink)) or 0
        assert links == i + 1, f"iteration {i}: {links} links"
        assert audited(timed, "release.share", f"release:{request.id}") == i + 1


def test_release_while_the_purge_removes_an_item_is_no_internal_error_RET_13(
    timed: Services, retention: Retention, people: dict[str, Actor], clock: ManualClock
) -> None:
    """An approved request whose item expires is released while the purge runs: the
    release records the items still there (custody events) and keeps the purged one's id
    as history; never a foreign-key error on the custody event of an item the purge
    deleted in between (a 500 after the approver's work)."""
    releases = retention.releases
    retention.purger.batch_size = 1  # one transaction per item: the most interleavings
    for i in range(ITERATIONS * 2):
        expired = [ingest(timed, recorded_at=clock.now() - 40 * DAY) for _ in range(3)]
        request = releases.create(people["commander"], new(tuple(expired), request_number=f"P-{i}"))
        releases.approve(people["approver"], request.id, Decision("ok"))
        delay = (0.0, 0.005, 0.01, 0.02)[i % 4]

        def release() -> object:
            time.sleep(delay)
            return releases.release(people["commander"], request.id)

        got = together(release, retention.purger.run)
        assert not [g for g in got if isinstance(g, Exception)], f"iteration {i}: {got}"
        with timed.db.session() as s:
            events = set(
                s.execute(
                    select(CustodyEvent.media_id).where(CustodyEvent.action == "released")
                ).scalars()
            )
            left = set(s.execute(select(MediaItem.id).where(MediaItem.id.in_(expired))).scalars())
        assert left <= events, f"iteration {i}: released items without their custody event"


def test_an_item_flagged_private_while_it_is_released_is_not_released_REL_3(
    timed: Services, retention: Retention, people: dict[str, Actor], clock: ManualClock
) -> None:
    """The release checks the items' privacy flags again before it releases (REL-3,
    ACC-11): a flag committed after that check but before the release's own commit was
    not seen, and a privacy-sensitive item went out unredacted. Either the release
    commits first (the flag comes after it in the audit chain) or it is refused."""
    releases = retention.releases
    for i in range(ITERATIONS * 2):
        media = ingest(timed, recorded_at=clock.now() - DAY)
        request = releases.create(people["commander"], new((media,), request_number=f"V-{i}"))
        releases.approve(people["approver"], request.id, Decision("ok"))
        delay = (0.0, 0.002, 0.005, 0.01)[i % 4]

        def flag() -> object:
            time.sleep(delay)
            return releases.set_privacy(people["commander"], media, SetPrivacy(True, "undress"))

        got = together(lambda: releases.release(people["commander"], request.id), flag)
        assert not isinstance(got[1], Exception), got
        if isinstance(got[0], PermissionDenied):
            continue  # refused: REL-3 held
        assert not isinstance(got[0], Exception), got
        with timed.db.session() as s:
            order = list(
                s.execute(
                    select(AuditEntry.action)
                    .where(AuditEntry.action.in_(("release.release", "media.privacy")))
                    .where(AuditEntry.seq > 0)
                    .order_by(AuditEntry.seq.desc())
                    .limit(2)
                ).scalars()
            )
        assert order == ["media.privacy", "release.release"], (
            f"iteration {i}: released after the item was flagged privacy-sensitive: {order}"
        )


def test_an_item_flagged_twice_at_once_is_flagged_and_audited_once_ACC_11(
    timed: Services, retention: Retention, people: dict[str, Actor], clock: ManualClock
) -> None:
    """Two people (or a retried PUT) flag one item privacy-sensitive at once: one flag,
    one custody event, one ``media.privacy`` entry; the other finds it flagged (ACC-6)."""
    releases = retention.releases
    for i in range(ITERATIONS):
        media = ingest(timed, recorded_at=clock.now() - DAY)
        got = together(
            lambda: releases.set_privacy(people["commander"], media, SetPrivacy(True, "a")),
            lambda: releases.set_privacy(people["admin"], media, SetPrivacy(True, "b")),
        )
        assert not [g for g in got if isinstance(g, Exception)], got
        assert audited(timed, "media.privacy", f"media:{media}") == 1, f"iteration {i}"
        with timed.db.session() as s:
            events = s.execute(
                select(func.count()).where(
                    CustodyEvent.media_id == media, CustodyEvent.action == "privacy_flag"
                )
            ).scalar_one()
        assert events == 1, f"iteration {i}: {events} custody events"


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
@pytest.mark.parametrize("protection", ["privacy_sensitive", "restricted"])
def test_flagging_an_original_while_its_export_is_released_is_no_deadlock_REL_3(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
    protection: str,
) -> None:
    """PostgreSQL, two transactions at once: a request releasing an export package holds
    the package FOR SHARE and then appends its audit entry; the original is flagged
    privacy-sensitive (or restricted) meanwhile, which carries to the package (ACC-11,
    ACC-7). The flag
    took the original, then the audit chain's head, then waited for the package: the
    release, waiting for the head, deadlocked with it and one of them failed (a 500).
    Locked in one order (the items first, in id order, then the audit head), the release
    commits first and the flag follows it."""
    releases = retention.releases
    media = ingest(timed, recorded_at=clock.now() - DAY, data=make_video(seconds=1.0, seed=3))
    record = timed.exports.create(
        people["investigator"],
        NewExport(purpose="court copy", sources=(ExportSource(None, media),)),
    )
    assert timed.exports.run_pending() == 1
    request = releases.create(people["commander"], new((record.id,), request_number="D-1"))
    releases.approve(people["approver"], request.id, Decision("ok"))

    releaser = threading.get_ident()
    flagged: list[object] = []
    flagger = threading.Thread(
        target=lambda: flagged.append(
            _caught(
                lambda: (
                    releases.set_privacy(
                        people["admin"], media, SetPrivacy(True, "a person undressed")
                    )
                    if protection == "privacy_sensitive"
                    else timed.catalog.set_restricted(
                        people["admin"], media, RestrictionChange(True, "internal affairs")
                    )
                )
            )
        ),
        name="flagger",
    )

    def pause(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        # The release has just taken its items FOR SHARE: the flag starts now, and the
        # release goes on once the flag waits for a lock (or is done).
        if threading.get_ident() != releaser or flagger.ident is not None:
            return
        if "FOR SHARE" not in statement.upper():
            return
        flagger.start()
        _until_a_lock_wait(timed, flagger)

    event.listen(timed.db.engine, "after_cursor_execute", pause)
    try:
        released = _caught(lambda: releases.release(people["commander"], request.id))
    finally:
        event.remove(timed.db.engine, "after_cursor_execute", pause)
    flagger.join(timeout=60)
    assert flagger.ident is not None and not flagger.is_alive()
    assert not isinstance(released, Exception), released
    assert not isinstance(flagged[0], Exception), flagged
    with timed.db.session() as s:
        copies = s.execute(
            select(getattr(MediaItem, protection)).where(MediaItem.source == SourceKind.EXPORT)
        ).scalars()
        assert all(copies)


def _caught(call: Callable[[], object]) -> object:
    try:
        return call()
    except Exception as exc:  # looked at by the test
        return exc


def _until_a_lock_wait(services: Services, thread: threading.Thread) -> None:
    """Return once another connection waits for a row lock (or ``thread`` ended)."""
    for _ in range(2000):
        with services.db.session() as s:
            waiting = s.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        if waiting or not thread.is_alive():
            return
        time.sleep(0.005)


@pytest.mark.parametrize("protection", ["privacy_sensitive", "restricted"])
def test_an_item_flagged_while_a_link_is_made_gets_no_link_REL_3(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
    protection: str,
) -> None:
    """A link is made for a released request while an item of it is flagged
    privacy-sensitive (or restricted). ``share`` checked the items before its
    transaction: a flag committed between that check and the link's insert was not seen,
    and a link was handed out and audited ``release.share`` after the flag that makes it
    dead (REL-3, ACC-7, ACC-6). The link is refused (403, audited) like one asked for
    after the flag."""
    releases, shares = retention.releases, retention.release_shares
    media = ingest(timed, recorded_at=clock.now() - DAY)
    request = releases.create(people["commander"], new((media,), request_number="L-1"))
    releases.approve(people["approver"], request.id, Decision("ok"))
    releases.release(people["commander"], request.id)
    armed = [True]

    def checked(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        # The link's check has just read the restrictions: the flag lands now.
        if not armed[0] or "restricted_at_approval" not in statement:
            return
        armed[0] = False
        if protection == "privacy_sensitive":
            releases.set_privacy(people["admin"], media, SetPrivacy(True, "a person undressed"))
        else:
            timed.catalog.set_restricted(
                people["admin"], media, RestrictionChange(True, "internal affairs")
            )

    event.listen(timed.db.engine, "after_cursor_execute", checked)
    try:
        got = _caught(
            lambda: shares.share(people["commander"], request.id, NewShare(clock.now() + DAY, 1))
        )
    finally:
        event.remove(timed.db.engine, "after_cursor_execute", checked)
    assert not armed[0]
    assert isinstance(got, PermissionDenied), got
    with timed.db.session() as s:
        assert s.execute(select(func.count()).select_from(ShareLink)).scalar_one() == 0
    assert audited(timed, "release.share", f"release:{request.id}") == 0


def test_the_same_release_request_logged_twice_is_one_request_REL_1(
    timed: Services, retention: Retention, people: dict[str, Actor], clock: ManualClock
) -> None:
    """The release log's form sent twice (a double-click, a retry after a timeout): the
    same request by the same person while the first is still ``received`` is that
    request, audited once, also when both arrive at once; it was two requests under one
    number, each to be approved and released. Another number is another request."""
    releases = retention.releases
    media = ingest(timed, recorded_at=clock.now() - DAY)
    first = releases.create(people["commander"], new((media,), request_number="T-1"))
    again = releases.create(people["commander"], new((media,), request_number="T-1"))
    assert again.id == first.id
    got = together(
        *[lambda: releases.create(people["commander"], new((media,), request_number="T-2"))] * 2
    )
    assert not [g for g in got if isinstance(g, Exception)], got
    assert len({g.id for g in got}) == 1, got  # type: ignore[attr-defined]
    other = releases.create(people["commander"], new((media,), request_number="T-3"))
    assert other.id not in (first.id, got[0].id)  # type: ignore[attr-defined]
    with timed.db.session() as s:
        created = s.execute(
            select(func.count()).where(
                AuditEntry.action == "release.create", AuditEntry.outcome == "ok"
            )
        ).scalar_one()
    assert created == 3


@pytest.mark.parametrize("protection", ["privacy_sensitive", "restricted"])
def test_an_item_protected_while_its_request_is_logged_is_not_logged_ACC_7_REL_3(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
    protection: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The records commander logs a FOIA request at the moment an admin restricts its
    item (ACC-7: a restricted item is put in a request by administration only) or flags
    it privacy-sensitive (REL-3: released only redacted, unless a court order). The
    request was checked on the item as read before its transaction, so it was logged
    and audited after the protection that forbids it. It is refused (403, audited) as
    one sent after the protection is."""
    from tests.races import after_check
    from vms.auth.permissions import Action

    releases = retention.releases
    media = ingest(timed, recorded_at=clock.now() - DAY)

    def protect() -> object:
        if protection == "privacy_sensitive":
            return releases.set_privacy(people["admin"], media, SetPrivacy(True, "undress"))
        return timed.catalog.set_restricted(
            people["admin"], media, RestrictionChange(True, "internal affairs")
        )

    armed = after_check(monkeypatch, releases.authoriser, Action.RELEASES_MANAGE, protect)
    with pytest.raises(PermissionDenied, match="REL-3" if protection != "restricted" else "ACC-7"):
        releases.create(people["commander"], new((media,), request_number="P-1"))
    assert not armed[0]
    assert _refused_and_not_logged(timed) == 1


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_a_user_disabled_or_demoted_while_their_request_is_logged_gets_none_ACC_1(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The records commander logs a FOIA request at the moment an admin disables them,
    or makes them an officer (ACC-1; officers log no release requests). The request was
    authorised with the role it started with, so it was logged and audited after the
    change that forbids it. The writing transaction holds the user's row anyway (the
    repeat check): it decides again on the user as stored, and the request is refused
    (403, audited) as one sent after the change."""
    releases = retention.releases
    media = ingest(timed, recorded_at=clock.now() - DAY)
    armed = user_changed_after_check(
        monkeypatch, timed, releases.authoriser, Action.RELEASES_MANAGE, "commander", change
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        releases.create(people["commander"], new((media,), request_number="P-1"))
    assert not armed[0]
    assert _refused_and_not_logged(timed) == 1


def _refused_and_not_logged(services: Services) -> int:
    """How many refusals of logging a request were audited; none was logged."""
    from vms.db.models import ReleaseRequest

    with services.db.session() as s:
        assert s.execute(select(ReleaseRequest.id)).first() is None
        return int(
            s.execute(
                select(func.count()).where(
                    AuditEntry.action.in_(("release.create", "releases.manage")),
                    AuditEntry.outcome == "denied",
                )
            ).scalar_one()
        )


@pytest.mark.parametrize("change", ["disabled", "demoted"])
@pytest.mark.parametrize("decision", ["approve", "deny", "review"])
def test_a_user_disabled_or_demoted_while_deciding_a_request_decides_nothing_ACC_1(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
    change: str,
    decision: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The release approver approves or denies a request (or the records commander
    starts its review) at the moment an admin disables them or makes them an officer
    (ACC-1; officers decide no release, ACC-5). The decision was authorised with the
    role it started with, so it was written and audited after the change that forbids
    it. The writing transaction decides again on the user as stored: refused (403,
    audited) as a decision sent after the change, the request as it was."""
    releases = retention.releases
    media = ingest(timed, recorded_at=clock.now() - DAY)
    request = releases.create(people["commander"], new((media,), request_number="P-1"))
    target = f"release:{request.id}"
    user, action = (
        ("commander", Action.RELEASES_MANAGE)
        if decision == "review"
        else ("approver", Action.RELEASES_APPROVE)
    )
    armed = user_changed_after_check(
        monkeypatch, timed, releases.authoriser, action, user, change, on=target
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        if decision == "review":
            releases.review(people[user], request.id)
        else:
            decide = releases.approve if decision == "approve" else releases.deny
            decide(people[user], request.id, Decision("public interest"))
    assert not armed[0]
    assert releases.get(people["commander"], request.id).state == "received"
    assert audited(timed, f"release.{decision}", target) == 0
    assert _denied(timed, people[user]) == 1


def test_an_approver_promoted_while_deciding_is_asked_to_try_again_ACC_1(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Made an admin meanwhile, the approver may still decide: not refused, but not
    written with the role the request began with either: 409, try again; the retry
    decides it."""
    releases = retention.releases
    media = ingest(timed, recorded_at=clock.now() - DAY)
    request = releases.create(people["commander"], new((media,), request_number="P-1"))
    target = f"release:{request.id}"
    armed = user_changed_after_check(
        monkeypatch,
        timed,
        releases.authoriser,
        Action.RELEASES_APPROVE,
        "approver",
        "promoted",
        on=target,
    )
    with pytest.raises(Conflict, match="'approver' changed while the request was made"):
        releases.approve(people["approver"], request.id, Decision("public interest"))
    assert not armed[0]
    assert releases.get(people["commander"], request.id).state == "received"
    assert audited(timed, "release.approve", target) == 0


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_an_approver_disabled_or_demoted_while_clearing_a_privacy_flag_clears_nothing_ACC_1(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The approver clears an item's privacy flag (it lifts REL-3's protection, so only
    ``releases.approve`` may) at the moment an admin disables them or makes them an
    officer (ACC-1). Refused (403, audited) as a clearing sent after, the flag kept."""
    releases = retention.releases
    media = ingest(timed, recorded_at=clock.now() - DAY)
    releases.set_privacy(people["commander"], media, SetPrivacy(True, "bystanders"))
    target = f"media:{media}"
    armed = user_changed_after_check(
        monkeypatch,
        timed,
        releases.authoriser,
        Action.RELEASES_APPROVE,
        "approver",
        change,
        on=target,
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        releases.set_privacy(people["approver"], media, SetPrivacy(False, "reviewed"))
    assert not armed[0]
    with timed.db.session() as s:
        assert s.get_one(MediaItem, media).privacy_sensitive
    assert audited(timed, "media.privacy", target) == 1  # the flag's, set before
    assert _denied(timed, people["approver"]) == 1


def test_a_commander_demoted_while_setting_a_privacy_flag_still_sets_it_ACC_11(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Setting the flag only adds a protection (ACC-11, REL-3): a setter demoted
    meanwhile still sets it (docs/design/authorisation.md), the entry naming them."""
    releases = retention.releases
    media = ingest(timed, recorded_at=clock.now() - DAY)
    target = f"media:{media}"
    armed = user_changed_after_check(
        monkeypatch,
        timed,
        releases.authoriser,
        Action.MEDIA_EDIT,
        "commander",
        "demoted",
        on=target,
    )
    releases.set_privacy(people["commander"], media, SetPrivacy(True, "bystanders"))
    assert not armed[0]
    with timed.db.session() as s:
        assert s.get_one(MediaItem, media).privacy_sensitive
    assert audited(timed, "media.privacy", target) == 1


def _denied(services: Services, actor: Actor) -> int:
    """How many refusals of ``actor`` were audited."""
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count()).where(
                    AuditEntry.actor == actor.username, AuditEntry.outcome == "denied"
                )
            ).scalar_one()
        )


@pytest.mark.parametrize("change", ["disabled", "demoted"])
@pytest.mark.parametrize("step", ["release", "share"])
def test_a_commander_disabled_or_demoted_while_releasing_discloses_nothing_ACC_1(
    timed: Services,
    retention: Retention,
    people: dict[str, Actor],
    clock: ManualClock,
    change: str,
    step: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The records commander releases an approved request, or makes a share link for it,
    at the moment an admin disables them or makes them an officer (ACC-1; officers
    disclose nothing, ACC-5). Refused (403, audited) as a release sent after the
    change: no release, no custody event, no link."""
    releases, shares = retention.releases, retention.release_shares
    media = ingest(timed, recorded_at=clock.now() - DAY)
    request = releases.create(people["commander"], new((media,), request_number="P-1"))
    releases.approve(people["approver"], request.id, Decision("public interest"))
    target = f"release:{request.id}"
    armed = user_changed_after_check(
        monkeypatch,
        timed,
        releases.authoriser,
        Action.RELEASES_MANAGE,
        "commander",
        change,
        on=target,
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        if step == "release":
            releases.release(people["commander"], request.id)
        else:
            shares.share(people["commander"], request.id, NewShare(clock.now() + DAY, 1))
    assert not armed[0]
    assert releases.get(people["approver"], request.id).state == "approved"
    assert audited(timed, f"release.{step}", target) == 0
    assert _denied(timed, people["commander"]) == 1
    with timed.db.session() as s:
        assert s.execute(select(ShareLink.id)).first() is None
        released = select(CustodyEvent.id).where(CustodyEvent.action == "released")
        assert s.execute(released).first() is None
