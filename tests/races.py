"""Calls released at once from several threads, for the race tests (on PostgreSQL, each
thread's transaction is its own connection's)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vms.auth.authoriser import Authoriser
from vms.auth.permissions import Action, Actor, Decision, ItemFacts
from vms.db.models import AuditEntry
from vms.services import Services


def together(*calls: Callable[[], object], timeout: float = 60) -> list[object]:
    """Each of ``calls`` in its own thread, released at once by a barrier; what each
    returned or raised, in order. A call still running after ``timeout`` seconds fails
    the test (a deadlock or a lost wake-up)."""
    barrier = threading.Barrier(len(calls))
    got: list[object] = [None] * len(calls)

    def run(n: int) -> None:
        barrier.wait()
        try:
            got[n] = calls[n]()
        except Exception as exc:  # collected: the test looks at it
            got[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a call did not finish (deadlock?)"
    return got


def audited(services: Services, action: str, target: str) -> int:
    """How many ``ok`` audit entries of ``action`` on ``target`` were written."""
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count()).where(
                    AuditEntry.action == action,
                    AuditEntry.target == target,
                    AuditEntry.outcome == "ok",
                )
            ).scalar_one()
        )


def after_check(
    monkeypatch: Any,
    authoriser: Authoriser,
    action: Action,
    change: Callable[[], object],
    *,
    on: str | None = None,
) -> list[bool]:
    """Run ``change`` once, right after the first item-scoped check of ``action`` that
    ``authoriser`` allows (or, with ``on``, its first check on that target, item-scoped
    or not: a decision on a release request): the moment between a service's permission
    check (on the item as read before its transaction) and its writing transaction,
    where a restriction, a flag or a purge committed by someone else lands. The returned
    list holds False once ``change`` ran (a test asserts it did)."""
    armed = [True]
    require = authoriser.require

    def hooked(actor: Actor, act: Action, target: str, item: ItemFacts | None = None) -> Decision:
        decision = require(actor, act, target, item)
        chosen = item is not None if on is None else target == on
        if armed[0] and act is action and chosen:
            armed[0] = False
            change()
        return decision

    monkeypatch.setattr(authoriser, "require", hooked)
    return armed


def restricted_after_check(
    monkeypatch: Any,
    services: Services,
    authoriser: Authoriser,
    action: Action,
    admin: Actor,
    media_id: str,
) -> list[bool]:
    """:func:`after_check` with ``admin`` restricting ``media_id`` (ACC-7) as the change."""
    from vms.catalog_values import RestrictionChange

    change = RestrictionChange(True, "internal affairs")
    return after_check(
        monkeypatch,
        authoriser,
        action,
        lambda: services.catalog.set_restricted(admin, media_id, change),
    )


def purged_after_check(
    monkeypatch: Any,
    services: Services,
    authoriser: Authoriser,
    action: Action,
    *gone: str,
) -> list[bool]:
    """:func:`after_check` with the retention purge (RET-1, RET-13) as the change: a
    whole run, so every expired, unheld item goes (its row and its file, a destruction
    record written). The items of ``gone`` must be among them (the test arranged them
    expired): the change fails the call otherwise, so a test cannot pass on a purge that
    missed its item."""
    return after_check(monkeypatch, authoriser, action, lambda: purge_now(services, *gone))


def purge_now(services: Services, *gone: str) -> None:
    """A whole retention purge run (RET-1, RET-13); the items of ``gone`` must be among
    those it destroyed (the test arranged them expired), or it fails the test."""
    from retention.plugin import get
    from vms.db.models import MediaItem

    get(services).purger.run()
    with services.db.session() as s:
        kept = [m for m in gone if s.get(MediaItem, m) is not None]
    assert not kept, f"the purge kept {kept}: the test's items must be expired"


def purged_after_ingest(monkeypatch: Any, services: Services, *gone: str) -> list[bool]:
    """:func:`purge_now` right after the next ingest returns, before its caller writes
    what it answered (an upload's completion naming the item its bytes duplicate). The
    returned list holds False once the purge ran."""
    return purged_after(monkeypatch, services, services.ingestor, "ingest", *gone)


def purged_after(
    monkeypatch: Any, services: Services, owner: object, method: str, *gone: str
) -> list[bool]:
    """:func:`purge_now` right after the next call of ``owner.method`` returns (say the
    store's ``hash_of``: a dock import's read-back of the stored copy). The returned list
    holds False once the purge ran."""
    armed = [True]
    call = getattr(owner, method)

    def hooked(*args: Any, **kwargs: Any) -> Any:
        result = call(*args, **kwargs)
        if armed[0]:
            armed[0] = False
            purge_now(services, *gone)
        return result

    monkeypatch.setattr(owner, method, hooked)
    return armed


def purge_decided_after_ingest(monkeypatch: Any, services: Services) -> list[object]:
    """After the next ingest returns, the purge's step 1 only (INV-3): the garbage rows
    of every expired item written, none destroyed yet. The returned list holds the
    items it decided to destroy, once it ran; :func:`purge_now` finishes them."""
    from retention.plugin import get

    purger = get(services).purger
    ingest = services.ingestor.ingest
    decided: list[object] = []

    def intent_only(*args: Any, **kwargs: Any) -> Any:
        result = ingest(*args, **kwargs)
        if not decided:
            with monkeypatch.context() as m:
                m.setattr(purger, "_destroy", lambda ids, report: decided.extend(ids))
                purger.run()
        return result

    monkeypatch.setattr(services.ingestor, "ingest", intent_only)
    return decided


def user_changed_after_check(
    monkeypatch: Any,
    services: Services,
    authoriser: Authoriser,
    action: Action,
    username: str,
    change: str,
    *,
    on: str | None = None,
) -> list[bool]:
    """:func:`after_check` (``on``: its target) with an admin changing the acting user
    ``username`` (ACC-1): ``disabled`` (``vms user disable``: sign-in refused, sessions
    and tokens revoked, though this request was authenticated before), ``demoted`` (the
    role stored made ``officer``, who may do none of the writes tested) or ``promoted``
    (made ``admin``, who may do them all)."""
    from sqlalchemy import update

    from vms.audit.log import Who
    from vms.db.models import Role, User

    def changed() -> object:
        if change == "disabled":
            return services.users.set_active(username, False, Who("root", "admin"))
        role = {"demoted": Role.OFFICER, "promoted": Role.ADMIN}[change]
        with services.db.transaction() as s:
            s.execute(update(User).where(User.username == username).values(role=role.value))
        return None

    return after_check(monkeypatch, authoriser, action, changed, on=on)


def in_lock_order(
    monkeypatch: Any,
    first: tuple[object, str, Callable[[], object]],
    second: tuple[object, Callable[[], object]],
) -> list[object]:
    """Two writes of one user at once, for the lock order of docs/design/
    authorisation.md item 6 (the item rows before the user's row; PostgreSQL, where a
    crossed order deadlocks). ``first`` is (module, name of the call there that takes
    the user's row, the write): the write runs in a thread, paused once that call
    returns until ``second`` (the module whose ``hold_user`` it calls, the write), started
    then, reaches its ``hold_user`` (or 3 s pass: it waits for the first's locks).
    What each returned or raised, in that order; a call still running after 60 s fails
    the test."""
    (owner, name, first_call), (other, second_call) = first, second
    locked, reached = threading.Event(), threading.Event()
    call, hold = getattr(owner, name), getattr(other, "hold_user")

    def paused(*args: Any, **kwargs: Any) -> Any:
        result = call(*args, **kwargs)  # the user's row held from here
        locked.set()
        reached.wait(3)
        return result

    def reaching(*args: Any, **kwargs: Any) -> Any:
        reached.set()
        return hold(*args, **kwargs)

    monkeypatch.setattr(owner, name, paused)
    monkeypatch.setattr(other, "hold_user", reaching)
    got: list[object] = [None, None]

    def run(n: int, write: Callable[[], object]) -> None:
        try:
            got[n] = write()
        except Exception as exc:  # collected: the test looks at it
            got[n] = exc

    threads = [threading.Thread(target=run, args=(0, first_call))]
    threads[0].start()
    assert locked.wait(30), "the first write never took the user's row"
    threads.append(threading.Thread(target=run, args=(1, second_call)))
    threads[1].start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a write did not finish"
    return got


class Pause:
    """Pauses the first thread that reaches it until the test says go. ``flush``: write
    what its transaction changed first (so it holds those rows' locks while paused)."""

    def __init__(self, *, flush: bool = True) -> None:
        self.reached = threading.Event()
        self.go = threading.Event()
        self._first = threading.Lock()
        self._flush = flush

    def __call__(self, session: Session) -> None:
        if not self._first.acquire(blocking=False):
            return
        if self._flush:
            session.flush()
        self.reached.set()
        assert self.go.wait(30)


def in_thread(target: Callable[[], object], out: list[object]) -> threading.Thread:
    """``target`` started in a daemon thread; what it returns or raises is appended to
    ``out``."""

    def work() -> None:
        try:
            out.append(target())
        except BaseException as exc:  # the test asserts on what each thread ended with
            out.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def race(
    pause: Pause, first: Callable[[], object], second: Callable[[], object]
) -> tuple[object, object]:
    """``first`` runs until ``pause``; ``second`` runs meanwhile (it waits for the first's
    lock, or without one gets through); then both end. What each returned or raised."""
    won: list[object] = []
    lost: list[object] = []
    a = in_thread(first, won)
    assert pause.reached.wait(30)
    b = in_thread(second, lost)
    b.join(1.0)
    pause.go.set()
    a.join(30)
    b.join(30)
    assert not a.is_alive() and not b.is_alive()
    return won[0], lost[0]
