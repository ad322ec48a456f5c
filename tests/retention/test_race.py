"""Race: preservation requests and legal holds placed while purges run, many times, on
SQLite and PostgreSQL. A pinned item is never deleted; whatever a request does not pin
it reports as already purged (INV-3, RET-2)."""

from __future__ import annotations

import random
import threading
import time

from retention.plugin import Retention
from tests.retention.conftest import DAY, exists, ingest, item
from vms.auth.permissions import Actor
from vms.clock import ManualClock, isoformat
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
                results["request"] = retention.preservation.create(actors["commander"], body)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=purge), threading.Thread(target=hold)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        out = results["request"]
        assert isinstance(out, dict)
        purged = {r["media_id"] for r in out["already_purged"]}
        # Every wanted item is either pinned or reported purged: never silently nothing.
        assert set(out["pinned"]) | purged == set(wanted)
        assert not set(out["pinned"]) & purged
        for media_id in out["pinned"]:
            assert exists(timed, media_id), f"pinned {media_id} lost (iteration {i})"
        pinned_all += out["pinned"]
        outcomes.append((len(out["pinned"]), len(purged), len(out.get("rescued_from_purge", []))))
    # More purges later change nothing for pinned items.
    clock.advance(10 * 365 * DAY)
    retention.purger.run()
    for media_id in pinned_all:
        assert exists(timed, media_id)
        assert item(timed, media_id).expires_at is None  # type: ignore[union-attr]
    assert pinned_all  # the race did let some requests win
    print("race outcomes (pinned, already purged, rescued):", outcomes)
