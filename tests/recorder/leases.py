"""What the camera-ownership tests share (tests/recorder/test_ownership.py,
test_ownership_fencing.py, test_store_outage.py): media nodes leasing cameras on the
test's database under a manual clock."""

from __future__ import annotations

import datetime as dt

from recorder.ownership import Ownership
from vms.clock import ManualClock
from vms.services import Services

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=10)


def nodes(services: Services, clock: ManualClock, *names: str) -> list[Ownership]:
    return [Ownership(services.db, clock, name, LEASE) for name in names]
