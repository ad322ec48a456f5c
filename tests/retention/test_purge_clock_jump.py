"""The purge on a clock that jumped (RET-1, INV-3, INV-7): the server clock set a year
ahead (an operator's error, a bad NTP source) made every unheld item expired at once,
and the scheduled purge destroyed it all. It must refuse instead, with the
``purge_clock`` alarm, until the clock is right or an operator confirms it (``vms purge
--confirm-clock``, audited); a restart after a short outage still purges on its own.
Through the real purge service, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import os
import pwd
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from retention.plugin import Retention, get
from tests.retention.conftest import DAY, WHO, all_ids, exists, ingest
from tests.security.test_cli_audit import vms
from vms.clock import ManualClock
from vms.config import Config
from vms.db.models import AlarmRow, AuditEntry
from vms.errors import VMSError
from vms.services import Services

HOUR = DAY / 24


def open_alarms(services: Services) -> list[str]:
    with services.db.session() as s:
        return list(s.execute(select(AlarmRow.kind).where(AlarmRow.cleared_at.is_(None))).scalars())


def audited(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def test_a_clock_set_a_year_ahead_destroys_nothing_RET_1_INV_3(
    timed: Services, retention: Retention, clock: ManualClock
) -> None:
    retention.purger.run()  # the scheduled purge ran on a right clock
    kept = {ingest(timed, recorded_at=clock.now() - DAY) for _ in range(3)}  # 30 days (RET-1)

    clock.advance(365 * DAY)  # the clock jumps a year ahead
    with pytest.raises(VMSError, match="confirm-clock"):
        retention.purger.run()

    assert all(exists(timed, media) for media in kept), "a jumped clock destroyed footage"
    assert "purge_clock" in open_alarms(timed)
    assert [e.outcome for e in audited(timed, "retention.purge_clock")] == ["raised"]
    with pytest.raises(VMSError):  # the next scheduled run refuses too
        retention.purger.run()
    assert all_ids(timed) >= kept


def test_a_restart_after_a_short_outage_purges_on_its_own_RET_1(
    timed: Services, retention: Retention, clock: ManualClock
) -> None:
    retention.purger.run()
    old = ingest(timed, recorded_at=clock.now() - 29 * DAY - 12 * HOUR)
    clock.advance(20 * HOUR)  # the jobs role was down overnight
    assert retention.purger.run().purged == 1
    assert not exists(timed, old)
    assert open_alarms(timed) == []


def test_an_operator_confirms_the_clock_and_the_schedule_goes_on_RET_1(
    timed: Services, retention: Retention, clock: ManualClock
) -> None:
    retention.purger.run()
    old = ingest(timed, recorded_at=clock.now() - 20 * DAY)
    clock.advance(10 * DAY)  # the jobs role really was down for ten days
    with pytest.raises(VMSError):
        retention.purger.run()
    assert exists(timed, old)

    report = retention.purger.run(confirm_clock=True, by=WHO)
    assert report.purged == 1
    [confirmed] = audited(timed, "retention.purge_clock_confirmed")
    assert confirmed.actor == WHO.name
    assert "purge_clock" not in open_alarms(timed)
    clock.advance(HOUR)
    retention.purger.run()  # the scheduled runs go on from the confirmed run


@pytest.fixture
def skew_checked(config: Config, clock: ManualClock) -> Iterator[Services]:
    checked = dataclasses.replace(
        config,
        retention=dataclasses.replace(config.retention, purge_clock_max_skew_seconds=900.0),
    )
    services = Services.open(checked, clock=clock)
    services.migrate()
    try:
        yield services
    finally:
        services.close()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_clock_far_from_the_database_servers_refuses_on_postgresql_INV_3(
    skew_checked: Services, clock: ManualClock
) -> None:
    """No previous run to compare with (a new installation): the database server's clock
    still tells the jump."""
    server = get(skew_checked).purger.clock_guard.database_now()  # type: ignore[union-attr]
    assert server is not None
    clock.set(server + 365 * DAY)
    media = ingest(skew_checked, recorded_at=server - DAY)
    with pytest.raises(VMSError, match="database server"):
        get(skew_checked).purger.run()
    assert exists(skew_checked, media)
    clock.set(server)
    assert get(skew_checked).purger.run().purged == 0


def test_vms_purge_confirm_clock_runs_and_is_audited_as_who_ran_it_RET_1_ACC_6(
    timed: Services, retention: Retention, clock: ManualClock, config: Config
) -> None:
    """The real command on the real clock: the previous run was on the manual clock
    (2026-11-20), weeks before today's, so ``vms purge`` refuses until confirmed."""
    retention.purger.run()
    old = ingest(timed, recorded_at=clock.now() - 40 * DAY)
    refused = vms(config, "purge")
    assert refused.returncode != 0 and "--confirm-clock" in refused.stderr
    assert exists(timed, old)

    confirmed = vms(config, "purge", "--confirm-clock")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "purged 1 items" in confirmed.stdout
    [entry] = audited(timed, "retention.purge_clock_confirmed")
    assert entry.actor == f"cli:{pwd.getpwuid(os.getuid()).pw_name}"
    assert timed.audit.verify(timed.db) is None
