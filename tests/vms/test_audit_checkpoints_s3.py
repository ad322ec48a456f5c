"""Signed audit checkpoints also written to the object store (issue 14, item 1: "and,
when configured, to the object store with Object Lock"; INV-4, PSCS-5), against a real
S3 server (SeaweedFS, tests/peers/seaweedfs)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, update

from tests.vms.test_audit_checkpoints import add_entries
from vms.audit.checkpoints import Checkpoints
from vms.db.models import AuditCheckpoint
from vms.errors import DataLoss, PermissionDenied
from vms.services import Services

pytestmark = pytest.mark.parametrize("store_backend", ["s3"], indirect=True)


def test_each_checkpoint_is_an_object_under_a_legal_hold_INV_4(services: Services) -> None:
    cps = services.checkpoints
    remote = services.store.remote
    assert remote is not None and cps.remote is remote
    add_entries(services, 3)
    made = cps.sign_now()
    assert made is not None
    name = Checkpoints.object_name(made.seq)
    assert json.loads(remote.read_bytes(name)) == made.as_json()
    assert remote.legal_hold(name)
    # Deleting the held version through the S3 API is refused (the bucket's Object Lock).
    with pytest.raises(PermissionDenied):
        remote.delete(name)
    assert json.loads(remote.read_bytes(name)) == made.as_json()
    report = cps.verify()
    assert report.problems == [] and report.checkpoints == 1


def test_verify_compares_the_table_with_the_object_store_INV_4(services: Services) -> None:
    cps = services.checkpoints
    add_entries(services, 2)
    first = cps.sign_now()
    add_entries(services, 2)
    second = cps.sign_now()
    assert first is not None and second is not None
    # Someone with the database deletes the newest checkpoint row and the log file's
    # line (the local witness): the held object still names it.
    with services.db.transaction() as s:
        s.execute(delete(AuditCheckpoint).where(AuditCheckpoint.seq == second.seq))
    cps.log_path.write_text(cps.log_path.read_text().splitlines()[0] + "\n")
    problems = cps.verify().problems
    assert any(
        f"checkpoint {second.seq} is in the object store" in p and "(deleted)" in p
        for p in problems
    ), problems
    # A row altered in the database no longer matches its held copy.
    with services.db.transaction() as s:
        s.execute(
            update(AuditCheckpoint)
            .where(AuditCheckpoint.seq == first.seq)
            .values(at=first.at.replace(year=2020))
        )
    problems = cps.verify().problems
    assert any(f"checkpoint {first.seq} in the database differs" in p for p in problems), problems


def test_a_checkpoint_object_is_never_replaced_INV_4(services: Services) -> None:
    """An object already there for the entry (a lost row) is not signed over."""
    cps = services.checkpoints
    remote = services.store.remote
    assert remote is not None
    add_entries(services, 1)
    made = cps.sign_now()
    assert made is not None
    with services.db.transaction() as s:
        s.execute(delete(AuditCheckpoint))
    cps.log_path.unlink()
    with pytest.raises(DataLoss, match="already exists in the object store"):
        cps.sign_now()
    assert json.loads(remote.read_bytes(Checkpoints.object_name(made.seq))) == made.as_json()
