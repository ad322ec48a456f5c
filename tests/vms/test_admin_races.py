"""Race: the same administrative change made twice at once (two admins, a client
retrying after a timeout, two processes running ``vms init``), on SQLite and
PostgreSQL. One change is made and audited once; the other is a 409 (or, where the
operation is idempotent, the same answer), never an internal error (ACC-6, INV-4)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from tests.races import audited, together
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry, DeviceAssignment, User
from vms.errors import Conflict, VMSError
from vms.services import Services

ITERATIONS = 8
USER_ITERATIONS = 4  # each add hashes a password: slow on purpose
ADMIN = Who("admin", "admin")


def unexpected(got: list[object]) -> list[object]:
    """What no caller should ever see: anything raised that is not one of our kinds
    (an IntegrityError is a 500)."""
    return [g for g in got if isinstance(g, Exception) and not isinstance(g, VMSError)]


def test_the_same_user_added_twice_at_once_is_one_user_and_a_409_ACC_1(
    services: Services,
) -> None:
    users = services.users
    for i in range(USER_ITERATIONS):
        name = f"officer-{i}"
        got = together(
            lambda: users.add_user(name, "officer", "pw-123456789", by=ADMIN),
            lambda: users.add_user(name, "officer", "pw-123456789", by=ADMIN),
        )
        assert not unexpected(got), f"iteration {i}: {got}"
        assert sum(isinstance(g, Conflict) for g in got) == 1, got
        assert audited(services, "user.create", f"user:{name}") == 1


def test_vms_init_in_two_processes_at_once_both_succeed(services: Services) -> None:
    """``vms init`` is idempotent (``exist_ok``): two roles of one site started together
    both run it, and neither may fail on the first admin the other just created."""
    for i in range(USER_ITERATIONS):
        name = f"site-admin-{i}"
        got = together(
            *[
                lambda: services.users.add_user(
                    name, "admin", "pw-123456789", by=ADMIN, exist_ok=True
                )
            ]
            * 2
        )
        assert all(isinstance(g, User) for g in got), f"iteration {i}: {got}"
        assert audited(services, "user.create", f"user:{name}") == 1


def test_assigning_a_device_twice_at_once_is_one_assignment(
    services: Services, actors: dict[str, Actor]
) -> None:
    """``PUT /api/v1/devices/{id}/officers/{badge}`` is idempotent: a retried request
    (or two admins) at once, for a new device or a known one, is one assignment audited
    once, and both callers get the device's record."""
    devices = services.devices
    admin = actors["admin"]
    services.devices.assign(admin, "BWC-KNOWN", "B-0")
    for i in range(ITERATIONS):
        for device in (f"BWC-NEW-{i}", "BWC-KNOWN"):
            badge = f"B-{i + 1}"
            got = together(
                lambda: devices.assign(admin, device, badge),
                lambda: devices.assign(admin, device, badge),
            )
            assert not [g for g in got if isinstance(g, Exception)], f"{device}: {got}"
            with services.db.session() as s:
                rows = s.execute(
                    select(func.count()).where(
                        DeviceAssignment.device_id == device,
                        DeviceAssignment.officer_badge == badge,
                    )
                ).scalar_one()
            assert rows == 1
            entries = [
                e
                for e in _entries(services, "device.assign", f"device:{device}")
                if e.details["officer_badge"] == badge
            ]
            assert len(entries) == 1, f"{device} {badge}: audited {len(entries)} times"


def test_unassigning_twice_at_once_is_one_unassignment_audited_once(
    services: Services, actors: dict[str, Actor]
) -> None:
    """The second of two unassignments at once finds nothing to take back: a 404, and
    no second ``device.unassign`` entry claiming it did (ACC-6)."""
    devices = services.devices
    admin = actors["admin"]
    for i in range(ITERATIONS):
        device, badge = f"BWC-U{i}", f"B-{i}"
        devices.assign(admin, device, badge)
        got = together(
            lambda: devices.unassign(admin, device, badge),
            lambda: devices.unassign(admin, device, badge),
        )
        assert not unexpected(got), f"iteration {i}: {got}"
        assert sum(isinstance(g, Exception) for g in got) == 1, f"iteration {i}: {got}"
        assert audited(services, "device.unassign", f"device:{device}") == 1


def _entries(services: Services, action: str, target: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(AuditEntry.action == action, AuditEntry.target == target)
            ).scalars()
        )


def test_a_review_grant_revoked_twice_at_once_is_revoked_and_audited_once_ACC_3(
    services: Services, actors: dict[str, Actor]
) -> None:
    """The second of two revocations at once is the 409 a later one gets: one
    ``review.revoke`` entry, and the reason kept is the one audited (ACC-6)."""
    from tests.vms.test_access_rules import ingest
    from vms.access import NewGrant

    admin = actors["admin"]
    media = ingest(services, "B2", 12)
    for i in range(ITERATIONS):
        grant = services.review_access.grant(
            admin,
            NewGrant("officer", (media,), services.clock.now() + dt.timedelta(hours=1), "IA"),
        )
        got = together(
            lambda: services.review_access.revoke(admin, grant.id, "first"),
            lambda: services.review_access.revoke(admin, grant.id, "second"),
        )
        assert not unexpected(got), got
        assert sum(isinstance(g, Conflict) for g in got) == 1, f"iteration {i}: {got}"
        assert audited(services, "review.revoke", f"review_grant:{grant.id}") == 1


def test_a_token_revoked_twice_is_audited_once_ACC_6(
    services: Services, actors: dict[str, Actor]
) -> None:
    """``DELETE /api/v1/auth/tokens`` sent twice at once (or again after a timeout):
    one revocation, one ``auth.token.revoke`` entry; the repeat changes nothing and
    claims nothing."""
    users = services.users
    officer = actors["officer"]
    for i in range(ITERATIONS):
        token = users.issue_token(officer).token
        got = together(
            lambda: users.revoke_token(officer, token), lambda: users.revoke_token(officer, token)
        )
        assert not [g for g in got if isinstance(g, Exception)], got
        users.revoke_token(officer, token)  # again, later
        assert audited(services, "auth.token.revoke", "user:officer") == i + 1, f"iteration {i}"
