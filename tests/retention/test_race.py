"""Race: preservation requests and legal holds placed while purges run, many times, on
SQLite and PostgreSQL. A pinned item is never deleted; whatever a request does not pin
it reports as already purged (INV-3, RET-2). Also the writes that race the purge or the
expiry recompute: a tag removed while the recompute decides (RET-12), a review grant of
an item being purged (ACC-3). Releases and other writes racing on holds:
test_hold_races.py."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from retention.expiry import ExpiryService
from retention.plugin import Retention
from retention.records import PreservationRecord
from retention.rules import RetentionPolicy
from tests.races import Pause, race
from tests.retention.conftest import (
    DAY,
    exists,
    ingest,
    item,
    preservation_command,
)
from vms.auth.permissions import Actor
from vms.catalog_values import MediaChanges
from vms.categories import Category
from vms.clock import ManualClock, isoformat
from vms.db.models import AuditEntry, SourceKind
from vms.services import Services

ITERATIONS = 8
ITEMS = 6


def test_hold_placed_during_a_purge_wins_INV_3_RET_2(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    retention.purger.batch_size = 1  # one transaction per item: the most interleavings
    rng = random.Random(6)
    pinned_all: list[str] = []
    outcomes: list[tuple[int, int, int]] = []  # pinned, purged, rescued per iteration
    for i in range(ITERATIONS):
        device = f"CAM-R{i}"
        start = clock.now() - 40 * DAY
        media = [
            ingest(timed, device=device, recorded_at=start + j * DAY / 100) for j in range(ITEMS)
        ]
        wanted = sorted(rng.sample(media, 3))
        if i % 2:
            body = {
                "request_number": f"PR-RACE-{i}",
                "requester": {"name": "Counsel"},
                "received_at": isoformat(clock.now()),
                "received_via": "electronic",
                "reason": "race",
                "media_ids": wanted,
            }
        else:
            wanted = media  # the whole device window, by scope
            body = {
                "request_number": f"PR-RACE-{i}",
                "requester": {"name": "Counsel"},
                "received_at": isoformat(clock.now()),
                "received_via": "written",
                "reason": "race",
                "scope": [
                    {
                        "device_id": device,
                        "start": isoformat(start - DAY),
                        "end": isoformat(start + DAY),
                    }
                ],
            }
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}
        errors: list[BaseException] = []

        def purge() -> None:
            try:
                barrier.wait()
                results["purge"] = retention.purger.run()
            except BaseException as exc:
                errors.append(exc)

        delay = (0.0, 0.01, 0.03, 0.06, 0.1, 0.2)[i % 6]  # hit every phase of the purge

        def hold() -> None:
            try:
                barrier.wait()
                time.sleep(delay)
                results["request"] = retention.preservation.create(
                    actors["commander"], preservation_command(body)
                )
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=purge), threading.Thread(target=hold)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        out = results["request"]
        assert isinstance(out, PreservationRecord)
        purged = {r.media_id for r in out.already_purged}
        # Every wanted item is either pinned or reported purged: never silently nothing.
        assert set(out.pinned) | purged == set(wanted)
        assert not set(out.pinned) & purged
        for media_id in out.pinned:
            assert exists(timed, media_id), f"pinned {media_id} lost (iteration {i})"
        pinned_all += out.pinned
        outcomes.append((len(out.pinned), len(purged), len(out.rescued_from_purge)))
    # More purges later change nothing for pinned items.
    clock.advance(10 * 365 * DAY)
    retention.purger.run(confirm_clock=True)  # ten years in one step (RET-1 clock guard)
    for media_id in pinned_all:
        assert exists(timed, media_id)
        assert item(timed, media_id).expires_at is None  # type: ignore[union-attr]
    assert pinned_all  # the race did let some requests win
    print("race outcomes (pinned, already purged, rescued):", outcomes)


class _PausingExpiry(ExpiryService):
    """The real recompute, paused after it has read the facts and decided, before it
    writes: the instant a concurrent tag change can slip in."""

    def __init__(self, base: ExpiryService, policy: RetentionPolicy) -> None:
        super().__init__(base.db, policy)
        self.decided = threading.Event()
        self.go = threading.Event()

    def decide(self, session, rows, *, id_range=None):  # type: ignore[no-untyped-def]
        out = super().decide(session, rows, id_range=id_range)
        self.decided.set()
        assert self.go.wait(30)
        return out


def test_tag_removed_during_a_policy_recompute_keeps_the_changed_facts_RET_12(
    timed: Services, retention: Retention, clock: ManualClock, actors: dict[str, Actor]
) -> None:
    """A site keeps "Eviction" footage 400 days (TAG-4). After a policy change (Eviction
    500, BWC 400 days) the recompute reads a tagged item's facts; before it writes, an
    investigator removes the tag. The stored expiry must follow the untagged item (BWC
    400 days, rule RET-4), not the recompute's decision from the facts it read before
    (RET-12), nor a mix of the two: the tag change's date equals the one it loaded, so
    it must read the stored expiry again after the lock, not trust what it loaded."""
    site = dataclasses.replace(
        retention.policy,
        categories={**retention.policy.categories, "eviction": Category("Eviction", 400)},
    )
    retention.expiry.policy = site
    media = ingest(
        timed,
        source=SourceKind.BWC,
        device="BWC-9",
        officer="B1",
        recorded_at=clock.now(),
        categories=("Eviction",),
    )
    stored = item(timed, media)
    assert stored is not None and stored.expires_at == stored.recorded_start + 400 * DAY
    changed = dataclasses.replace(
        site,
        source_days={**site.source_days, "bwc": 400},
        categories={**site.categories, "eviction": Category("Eviction", 500)},
    )
    retention.expiry.policy = changed
    recompute = _PausingExpiry(retention.expiry, changed)
    worker = threading.Thread(target=recompute.recompute_all, daemon=True)
    worker.start()
    assert recompute.decided.wait(30)
    tagged: list[dict[str, Any]] = []
    tagger = threading.Thread(
        target=lambda: tagged.append(
            timed.catalog.update(actors["admin"], media, MediaChanges(categories=()))
        ),
        daemon=True,
    )
    tagger.start()
    tagger.join(1.0)  # it waits for the recompute's lock, or (without one) gets through
    recompute.go.set()
    worker.join(30)
    tagger.join(30)
    assert not worker.is_alive() and not tagger.is_alive() and tagged
    stored = item(timed, media)
    assert stored is not None
    assert (stored.expires_at, stored.retention_rule) == (
        stored.recorded_start + 400 * DAY,
        "RET-4 bwc 400 days",
    )


def test_an_item_purged_while_a_review_grant_reads_it_is_destroyed_after_the_grant_ACC_3(
    timed: Services,
    retention: Retention,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An admin grants an officer review of an expired item (ACC-3) while the purge runs
    (RET-1, RET-13). The grant reads its items in its own transaction, then writes: read
    without a lock, on PostgreSQL the purge deleted the item and committed in between,
    and the grant committed after it, naming an item destroyed before it was granted.
    Held FOR SHARE (docs/design/authorisation.md, item 6), the purge skips the item or
    waits: the item is kept, or its destruction is audited after the grant."""
    from vms.access import NewGrant

    clock = timed.clock
    media = ingest(timed, recorded_at=clock.now() - 40 * DAY)  # RET-1: fixed, 30 days
    pause = Pause(flush=False)
    audit = timed.review_access.audit
    append = audit.append

    def paused(s: Session, *args: Any, **kw: Any) -> Any:
        if args[1] == "review.grant":
            pause(s)  # the items read, the grant's rows not yet committed
        return append(s, *args, **kw)

    monkeypatch.setattr(audit, "append", paused)
    grant = NewGrant("officer", (media,), clock.now() + DAY, "IA case 26-4")
    granted, purged = race(
        pause,
        lambda: timed.review_access.grant(actors["admin"], grant),
        retention.purger.run,
    )
    assert not isinstance(granted, Exception), granted
    assert not isinstance(purged, Exception), purged
    with timed.db.session() as s:
        entries = list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action.in_(["review.grant", "retention.purge"]))
            ).scalars()
        )
    [granted_at] = [e.seq for e in entries if e.action == "review.grant"]
    destroyed_at = [
        e.seq
        for e in entries
        if e.action == "retention.purge" and media in e.details.get("media_ids", [])
    ]
    assert all(seq > granted_at for seq in destroyed_at), (granted_at, destroyed_at)
