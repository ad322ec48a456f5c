"""Race: releases of preservation requests and legal holds against each other, against a
form or an item arriving, against the same write sent twice and against the user being
changed, on SQLite and PostgreSQL: one release wins, nothing is held by a released
request, and nothing deadlocks (RET-2, RET-3, RET-10, ACC-1, ACC-6). The races with
the purge and the expiry recompute: test_race.py."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from retention.commands import NewLegalHold, ReleaseLegalHold, ReleasePreservation, SetCaseState
from retention.holds import Holder
from retention.plugin import Retention
from retention.records import HoldRecord, PreservationRecord
from tests.races import Pause, in_thread, race, together
from tests.retention.conftest import (
    DAY,
    active_holds,
    document,
    ingest,
    item,
    open_case,
    preservation_command,
)
from vms.auth.permissions import Action, Actor
from vms.catalog_values import MediaChanges
from vms.clock import ManualClock, isoformat
from vms.db.models import AuditEntry, Case, LegalHold, SourceKind
from vms.errors import Conflict, PermissionDenied
from vms.services import Services

ITERATIONS = 8


def _pause_release(holder: Holder, monkeypatch: pytest.MonkeyPatch) -> Pause:
    """Pause the first release (of a preservation request or a legal hold) after it has
    marked its row released and before it ends the holds."""
    pause = Pause()
    original = holder.release

    def release(session: Session, **kw: Any) -> list[str]:
        pause(session)
        return original(session, **kw)

    monkeypatch.setattr(holder, "release", release)
    return pause


def _audited(services: Services, action: str) -> int:
    with services.db.session() as s:
        return s.execute(select(func.count()).where(AuditEntry.action == action)).scalar_one()


def _logged(retention: Retention, actors: dict[str, Actor], **over: Any) -> PreservationRecord:
    body = {
        "request_number": "PR-RACE-REL",
        "requester": {"name": "Counsel"},
        "received_at": isoformat(retention.preservation.clock.now()),
        "received_via": "written",
        "reason": "race",
        **over,
    }
    return retention.preservation.create(actors["commander"], preservation_command(body))


def test_two_releases_of_one_request_one_wins_RET_2_RET_3(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two commanders release the same request at once: one release is logged, the other
    is refused as already released (409). Without the request's row lock, on PostgreSQL
    both read "active" and both succeeded: the second overwrote the first's written
    notice in the RET-3 log and two releases were audited."""
    media = ingest(timed, recorded_at=clock.now())
    logged = _logged(retention, actors, media_ids=[media])
    won, lost = race(
        _pause_release(retention.preservation.holder, monkeypatch),
        lambda: retention.preservation.release(
            actors["commander"], logged.id, ReleasePreservation("NOTICE-A", "settled")
        ),
        lambda: retention.preservation.release(
            actors["admin"], logged.id, ReleasePreservation("NOTICE-B", "dropped")
        ),
    )
    assert isinstance(won, PreservationRecord), won
    assert isinstance(lost, Conflict), lost
    again = retention.preservation.get(actors["auditor"], logged.id)
    assert (again.release_notice, again.released_by) == ("NOTICE-A", "commander")
    assert _audited(timed, "preservation.release") == 1


def _pause_form_pin(retention: Retention, monkeypatch: pytest.MonkeyPatch) -> Pause:
    """Pause the form's attachment after it has read the request, before it holds the
    form (nothing flushed: without a lock on the request, it holds none)."""
    pause = Pause(flush=False)
    holder = retention.preservation.holder
    original = holder.pin

    def pin(session: Session, media_ids: Any, **kw: Any) -> Any:
        pause(session)
        return original(session, media_ids, **kw)

    monkeypatch.setattr(holder, "pin", pin)
    return pause


@pytest.mark.parametrize("first", ["release", "form"])
def test_form_attached_while_the_request_is_released_pins_nothing_RET_2_RET_3(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    first: str,
) -> None:
    """The scanned form arrives while the request is being released: either the form is
    attached first and released with the request, or it is attached to the released
    request without a hold; never an active hold of a released request (which no release
    could end). ``form``: the attachment read the request as active, then the release ran
    and committed, then the attachment held the form; without the request's row lock
    that hold stayed active on PostgreSQL."""
    media = ingest(timed, recorded_at=clock.now())
    logged = _logged(retention, actors, media_ids=[media])
    pause = (
        _pause_release(retention.preservation.holder, monkeypatch)
        if first == "release"
        else _pause_form_pin(retention, monkeypatch)
    )
    released: list[object] = []
    attached: list[object] = []

    def release() -> threading.Thread:
        return in_thread(
            lambda: retention.preservation.release(
                actors["commander"], logged.id, ReleasePreservation("NOTICE-A", "settled")
            ),
            released,
        )

    def attach() -> threading.Thread:
        return in_thread(
            lambda: retention.preservation.attach_form(
                actors["admin"], logged.id, io.BytesIO(document("racing form")), "form.pdf"
            ),
            attached,
        )

    a = release() if first == "release" else attach()
    assert pause.reached.wait(30)
    b = attach() if first == "release" else release()
    b.join(1.0)  # it waits for the first's lock, or (without one) gets through
    pause.go.set()
    a.join(30)
    b.join(30)
    assert not a.is_alive() and not b.is_alive()
    [done], [form] = released, attached
    assert isinstance(done, PreservationRecord), done
    assert isinstance(form, PreservationRecord) and form.form_media_id, form
    assert active_holds(timed, form.form_media_id) == []
    assert active_holds(timed, media) == []
    row = item(timed, form.form_media_id)
    assert row is not None and row.retention_rule == "RET-7 evidence 1461 days"


def test_item_ingested_while_its_request_is_released_is_not_held_by_it_RET_2(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
) -> None:
    """A BWC video in a request's scope is uploaded while the request is being released.
    The ingest hook had read the request as active and pinned the video; the release,
    which did not take the scope lock, ended the holds it could see and committed; the
    upload then committed an active hold of a released request: the video was kept
    "while held" forever, and no release could end it."""
    incident = clock.now() - DAY
    logged = _logged(
        retention,
        actors,
        scope=[
            {
                "officer_badge": "B1",
                "start": isoformat(incident),
                "end": isoformat(incident + 2 * DAY / 24),
            }
        ],
    )
    pause = Pause()
    timed.ingestor.hooks.append(lambda s, item, now: pause(s))  # after the pinning hook
    uploaded: list[object] = []
    released: list[object] = []
    a = in_thread(
        lambda: ingest(
            timed,
            source=SourceKind.BWC,
            device="BWC-9",
            officer="B1",
            recorded_at=incident + dt.timedelta(minutes=30),
        ),
        uploaded,
    )
    assert pause.reached.wait(30)
    b = in_thread(
        lambda: retention.preservation.release(
            actors["commander"], logged.id, ReleasePreservation("NOTICE-A", "settled")
        ),
        released,
    )
    b.join(1.0)
    pause.go.set()
    a.join(30)
    b.join(30)
    assert not a.is_alive() and not b.is_alive()
    [media], [done] = uploaded, released
    assert isinstance(media, str), media
    assert isinstance(done, PreservationRecord), done
    assert active_holds(timed, media) == []
    row = item(timed, media)
    assert row is not None and row.retention_rule == "RET-7 evidence 1461 days"


def test_two_releases_of_one_legal_hold_one_wins_RET_10(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two data stewards release the same legal hold at once: one release notice is
    recorded, the other release is refused as already released (409). Without the hold's
    row lock, on PostgreSQL both read "active" and both succeeded: the second overwrote
    the first's release notice and two releases were audited."""
    media = ingest(timed, recorded_at=clock.now())
    hold = retention.legal_holds.create(
        actors["commander"], NewLegalHold("LH-2026-7", "litigation", (media,))
    )
    won, lost = race(
        _pause_release(retention.legal_holds.holder, monkeypatch),
        lambda: retention.legal_holds.release(
            actors["commander"], hold.id, ReleaseLegalHold("NOTICE-A")
        ),
        lambda: retention.legal_holds.release(
            actors["admin"], hold.id, ReleaseLegalHold("NOTICE-B")
        ),
    )
    assert isinstance(won, HoldRecord), won
    assert isinstance(lost, Conflict), lost
    with timed.db.session() as s:
        row = s.get_one(LegalHold, hold.id)
        assert (row.release_notice, row.released_by) == ("NOTICE-A", "commander")
    assert _audited(timed, "legal_hold.release") == 1


def test_one_release_form_sent_twice_at_once_releases_the_hold_once_RET_10_ACC_6(
    timed: Services, retention: Retention, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same release form sent twice at once (one form key): the second waits for the
    hold's row, then finds the release its key recorded and is answered with it (ACC-6),
    released and audited once, not refused as released by someone else."""
    media = ingest(timed, recorded_at=timed.clock.now())
    hold = retention.legal_holds.create(
        actors["commander"], NewLegalHold("LH-2026-8", "litigation", (media,))
    )
    sent = ReleaseLegalHold("NOTICE-A", form_key="key-1")
    won, repeat = race(
        _pause_release(retention.legal_holds.holder, monkeypatch),
        lambda: retention.legal_holds.release(actors["commander"], hold.id, sent),
        lambda: retention.legal_holds.release(actors["commander"], hold.id, sent),
    )
    assert isinstance(won, HoldRecord), won
    assert repeat == won
    assert _audited(timed, "legal_hold.release") == 1


def test_the_same_legal_hold_placed_twice_is_one_hold_RET_10(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    """RET-10, ACC-6: the holds page's form sent twice (a double-click, a retry) placed two
    holds under one reference, each audited: one release notice left the other holding.
    The same hold asked again by the same steward within the repeat window, one after the
    other or at once, is answered with the first; a hold on other items is a new one."""
    holds = retention.legal_holds
    media, other = ingest(timed, recorded_at=clock.now()), ingest(timed, recorded_at=clock.now())
    asked = NewLegalHold("LH-2026-9", "litigation", (media,))
    first = holds.create(actors["commander"], asked)
    again = holds.create(actors["commander"], asked)
    assert again.id == first.id and again.media_ids == (media,)
    for i in range(ITERATIONS):
        one = NewLegalHold(f"LH-AT-ONCE-{i}", "litigation", (media, other))
        got = together(
            lambda: holds.create(actors["commander"], one),
            lambda: holds.create(actors["commander"], one),
        )
        made = [g for g in got if isinstance(g, HoldRecord)]
        assert len(made) == 2, got
        assert made[0].id == made[1].id, f"iteration {i}: two holds {got}"
    wider = holds.create(
        actors["commander"], NewLegalHold("LH-2026-9", "litigation", (media, other))
    )
    assert wider.id != first.id and set(wider.media_ids) == {media, other}
    with timed.db.session() as s:
        assert s.scalar(select(func.count()).select_from(LegalHold)) == ITERATIONS + 2
    assert _audited(timed, "legal_hold.create") == ITERATIONS + 2


@pytest.mark.parametrize("change", ["disabled", "demoted"])
@pytest.mark.parametrize("kind", ["preservation", "legal_hold"])
def test_a_commander_disabled_or_demoted_while_releasing_a_hold_releases_nothing_ACC_1(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    kind: str,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The records commander releases a preservation request (RET-2) or a legal hold
    (RET-10) at the moment an admin disables them or makes them an officer (ACC-1).
    Releasing lifts the hold that keeps the footage from the purge; it was authorised
    with the role the request began with, and written and audited after the change
    that forbids it. Refused now (403, audited) as a release sent after; the hold kept."""
    from tests.races import user_changed_after_check

    media = ingest(timed, recorded_at=clock.now())
    if kind == "preservation":
        hold_id = _logged(retention, actors, media_ids=[media]).id
        action, target = Action.PRESERVATION_MANAGE, f"preservation:{hold_id}"
    else:
        hold = retention.legal_holds.create(
            actors["commander"], NewLegalHold("LH-1", "suit", (media,))
        )
        hold_id, action, target = hold.id, Action.RETENTION_MANAGE, f"legal_hold:{hold.id}"
    armed = user_changed_after_check(
        monkeypatch, timed, timed.authoriser, action, "commander", change, on=target
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        if kind == "preservation":
            retention.preservation.release(
                actors["commander"], hold_id, ReleasePreservation("NOTICE-A", "settled")
            )
        else:
            retention.legal_holds.release(actors["commander"], hold_id, ReleaseLegalHold("N-1"))
    assert not armed[0]
    assert active_holds(timed, media), "the hold was released"
    with timed.db.session() as s:
        released = s.execute(
            select(AuditEntry.seq).where(
                AuditEntry.action == f"{kind}.release", AuditEntry.outcome == "ok"
            )
        ).first()
    assert released is None


@pytest.mark.parametrize("change", ["disabled", "demoted"])
def test_a_commander_disabled_or_demoted_while_closing_a_case_closes_nothing_ACC_1(
    timed: Services,
    retention: Retention,
    actors: dict[str, Actor],
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Closing a case ends RET-5's hold on its items (their expiry recomputed); a
    commander disabled or made an officer between the check and the write closed it.
    Refused now (403, audited), the case still open. Opening is not decided again: it
    only adds a protection."""
    from tests.races import user_changed_after_check

    open_case(timed, actors["commander"], "C-77")
    armed = user_changed_after_check(
        monkeypatch,
        timed,
        timed.authoriser,
        Action.RETENTION_MANAGE,
        "commander",
        change,
        on="case:C-77",
    )
    with pytest.raises(PermissionDenied, match="disabled" if change == "disabled" else "officer"):
        retention.cases.set_state(actors["commander"], "C-77", SetCaseState("closed"))
    assert not armed[0]
    assert _audited(timed, "case.close") == 0
    with timed.db.session() as s:
        assert (
            s.execute(select(Case.state).where(Case.case_number == "C-77")).scalar_one() == "open"
        )


@pytest.mark.parametrize("step", ["create", "release"])
def test_a_request_and_a_tag_change_at_once_do_not_deadlock_ACC_1_RET_2(
    timed: Services,
    retention: Retention,
    clock: ManualClock,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    step: str,
) -> None:
    """ACC-1, RET-2 (docs/design/authorisation.md item 6: item rows before the user's
    row): the records commander logs a preservation request naming an item, or
    releases one, while retitling that item in another tab. The request held the
    user's row (the repeat check; the release's decision again) and then asked for the
    items' rows to hold them or end their holds; the tag change held the item and then
    asked for the user's row: on PostgreSQL the deadlock detector failed one of them (a
    500). Both now take the items first: one waits for the other, both are written.
    (SQLite's writers are serial: no deadlock there.)"""
    import retention.preservation as preserving
    import vms.catalog
    from tests.races import in_lock_order

    media = ingest(timed, recorded_at=clock.now())
    commander = actors["commander"]
    if step == "create":
        first: tuple[object, str, Callable[[], object]] = (
            preserving,
            "find_repeat",
            lambda: _logged(retention, actors, media_ids=[media]),
        )
    else:
        logged = _logged(retention, actors, media_ids=[media])
        notice = ReleasePreservation("NOTICE-1", "settled")
        first = (
            preserving,
            "hold_user",
            lambda: retention.preservation.release(commander, logged.id, notice),
        )
    got = in_lock_order(
        monkeypatch,
        first,
        (vms.catalog, lambda: timed.catalog.update(commander, media, MediaChanges("x"))),
    )
    assert not any(isinstance(v, Exception) for v in got), got
    assert len(active_holds(timed, media)) == (step == "create")
