"""Camera ownership across media nodes (issue 13, item 1; recorder/ownership.py): the
pure assignment, the leases on both databases (spread, hand-over to a node that joins,
takeover from a dead node, a pin, a stalled node woken after a takeover), and the
cluster's CLI and metrics. The fencing token checked at segment ingest and salvage is in
``test_ownership_fencing.py``; the helpers both use in ``leases.py``."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from recorder.ownership import LeaseRow, Ownership, assign
from tests.recorder.leases import LEASE, NOW, nodes
from vms.clock import ManualClock
from vms.db.engine import Database
from vms.db.models import CameraLease
from vms.leases import cluster_status
from vms.services import Services

CAMERAS = ["c1", "c2", "c3", "c4", "c5"]


def row(camera: str, node: str | None, left: float = 5, pin: str | None = None) -> LeaseRow:
    return LeaseRow(camera, node, NOW + dt.timedelta(seconds=left) if node else None, pin)


# -- assign (pure) ------------------------------------------------------------------------


def test_free_cameras_spread_evenly_and_deterministically() -> None:
    out = assign(CAMERAS, {}, {"b": 0, "a": 0}, NOW)
    assert out == {"c1": "a", "c2": "b", "c3": "a", "c4": "b", "c5": "a"}
    assert assign(reversed(CAMERAS), {}, {"a": 0, "b": 0}, NOW) == out  # same on every node


def test_held_cameras_stay_up_to_an_even_share_and_a_joining_node_gets_the_rest() -> None:
    held = {c: row(c, "a") for c in CAMERAS}
    assert set(assign(CAMERAS, held, {"a": 0}, NOW).values()) == {"a"}
    out = assign(CAMERAS, held, {"a": 0, "b": 0}, NOW)
    assert [c for c in CAMERAS if out[c] == "a"] == ["c1", "c2", "c3"]  # its share: 3 of 5
    assert [c for c in CAMERAS if out[c] == "b"] == ["c4", "c5"]


def test_a_dead_or_expired_holder_loses_its_cameras() -> None:
    leases = {"c1": row("c1", "dead"), "c2": row("c2", "a", left=-1)}  # expired
    out = assign(["c1", "c2"], leases, {"a": 0, "b": 0}, NOW)
    assert out == {"c1": "a", "c2": "b"}


def test_a_pin_to_a_live_node_wins_and_a_pin_to_a_dead_one_is_ignored() -> None:
    leases = {"c1": row("c1", "a", pin="b"), "c2": row("c2", "a", pin="gone")}
    out = assign(["c1", "c2"], leases, {"a": 0, "b": 0}, NOW)
    assert out == {"c1": "b", "c2": "a"}


def test_capacity_is_respected_and_cameras_beyond_it_are_left_out() -> None:
    out = assign(CAMERAS, {}, {"a": 1, "b": 2}, NOW)
    assert sorted(out.values()) == ["a", "b", "b"] and len(out) == 3


# -- the leases, on both databases ------------------------------------------------------------


def stopped(node: Ownership) -> None:
    """What the engine does once it has stopped the cameras a round gave up."""
    for camera in list(node.leaving):
        node.release(camera)


def holders(db: Database) -> dict[str, str | None]:
    with db.session() as s:
        return {r.camera_id: r.node_id for r in s.query(CameraLease).all()}


def test_two_nodes_share_the_cameras_and_a_dead_one_is_taken_over(
    services: Services, clock: ManualClock
) -> None:
    a, b = nodes(services, clock, "node-a", "node-b")
    assert set(a.round(CAMERAS)) == set(CAMERAS)  # alone: all of them
    b.round(CAMERAS)  # b joins: a still holds every lease, b gets none yet
    assert b.tokens == {}
    a.round(CAMERAS)  # a gives up what is over its share: it stops them first
    assert sorted(a.leaving) == ["c4", "c5"] and sorted(a.tokens) == ["c1", "c2", "c3"]
    b.round(CAMERAS)  # still held (renewed) while a stops them: b waits
    assert b.tokens == {} and set(holders(services.db).values()) == {"node-a"}
    stopped(a)  # a's last segments and gaps are written: handed back
    b.round(CAMERAS)  # b takes them
    assert b.taken_over == {}  # handed back, not taken over
    assert sorted(a.tokens) == ["c1", "c2", "c3"] and sorted(b.tokens) == ["c4", "c5"]
    assert holders(services.db) == {c: ("node-a" if c in a.tokens else "node-b") for c in CAMERAS}
    status = {n.node_id: n for n in cluster_status(services.db, clock, LEASE)}
    assert status["node-a"].alive and status["node-a"].cameras == ("c1", "c2", "c3")
    # a dies (no more rounds): after its lease, b takes its cameras, with new tokens.
    old = dict(a.tokens)
    clock.advance(LEASE + dt.timedelta(seconds=1))
    assert set(b.round(CAMERAS)) == set(CAMERAS)
    assert all(b.tokens[c] == old[c] + 1 for c in old)
    assert b.taken_over == dict.fromkeys(old, "node-a")  # its gaps say so (OPS-4)
    status = {n.node_id: n for n in cluster_status(services.db, clock, LEASE)}
    assert not status["node-a"].alive and status["node-b"].cameras == tuple(CAMERAS)
    # a wakes (it had stalled): its renewals fail, it records nothing it lost.
    assert a.round(CAMERAS) == {}
    assert set(holders(services.db).values()) == {"node-b"}


def test_a_pinned_camera_moves_only_once_its_holder_hands_it_back(
    services: Services, clock: ManualClock
) -> None:
    a, b = nodes(services, clock, "node-a", "node-b")
    a.round(["c1"])
    b.round(["c1"])
    with services.db.transaction() as s:
        s.get_one(CameraLease, "c1").pinned_node = "node-b"
    assert b.round(["c1"]) == {}  # a's lease is valid: never two recorders at once
    assert a.round(["c1"]) == {}  # a sees the pin and gives it up
    stopped(a)
    assert list(b.round(["c1"])) == ["c1"]


def test_a_camera_removed_from_the_registry_is_handed_back_and_a_clean_stop_frees_all(
    services: Services, clock: ManualClock
) -> None:
    (a,) = nodes(services, clock, "node-a")
    a.round(["c1", "c2"])
    assert list(a.round(["c1"])) == ["c1"]
    stopped(a)
    assert holders(services.db)["c2"] is None
    a.release_all()
    assert holders(services.db)["c1"] is None
    assert not cluster_status(services.db, clock, LEASE)[0].alive


def test_leases_stay_renewed_while_the_engine_applies_a_round_and_none_after_hand_back(
    services: Services, clock: ManualClock
) -> None:
    """Stopping cameras (their last segments ingested) can outlast a lease; meanwhile
    the node renews what it holds and what it is handing over, and a camera handed back
    is not renewed again."""
    lease = dt.timedelta(seconds=0.3)  # renewed every 0.1 s while kept

    def expires(camera: str) -> dt.datetime | None:
        with services.db.session() as s:
            return s.get_one(CameraLease, camera).expires_at

    a, b = (Ownership(services.db, clock, n, lease) for n in ("node-a", "node-b"))
    a.round(["c1", "c2"])
    b.round(["c1", "c2"])
    clock.advance(lease * 0.9)
    assert a.round(["c1", "c2"]) == {"c1": 1} and list(a.leaving) == ["c2"]  # b's share
    assert expires("c2") == clock.now() + lease  # renewed as it turns to leaving

    with a.kept():
        for _ in range(2):  # the round outlasts its lease twice over
            clock.advance(lease / 2)
            wanted = clock.now() + lease
            deadline = time.monotonic() + 5
            while not (expires("c1") == expires("c2") == wanted):
                assert time.monotonic() < deadline, (expires("c1"), expires("c2"), wanted)
                time.sleep(0.02)
        clock.advance(lease / 2)
        assert b.round(["c1", "c2"]) == {}  # both still a's: b waits
        a.release("c2")  # stopped: handed back
        time.sleep(0.3)  # three renewals
        assert holders(services.db)["c2"] is None and expires("c2") is None
    assert b.round(["c1", "c2"]) == {"c2": 2}
    clock.advance(lease * 2)  # not kept any more: a's lease of c1 runs out
    assert b.round(["c1", "c2"]) == {"c1": 2, "c2": 2}


def test_a_node_warns_when_its_heartbeat_comes_late_in_its_lease_OPS_4(
    services: Services, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A node whose rounds come late (a starved machine, a slow database) loses its
    cameras to the others once a whole lease passes without a heartbeat: past half a
    lease it says so, with the seconds and the lease, before that happens (the rest
    tier's pose-ownership test lost a camera that way once, unexplained for want of
    it). A heartbeat on time says nothing; neither does the first after a clean stop."""
    (a,) = nodes(services, clock, "node-a")
    caplog.set_level("WARNING", logger="recorder.ownership")
    a.round(["c1"])
    clock.advance(LEASE * 0.4)
    a.round(["c1"])
    assert not caplog.records
    clock.advance(LEASE * 0.7)
    assert a.round(["c1"]) == {"c1": 1}  # still held: renewed in time
    [late] = caplog.records
    assert "node-a: 7.0 s since its last heartbeat (lease 10 s; this write took 0.0 s)" in (
        late.getMessage()
    )
    caplog.clear()
    # The renewal thread's heartbeats (every third of a lease while a round is applied)
    # are watched too.
    k = Ownership(services.db, clock, "node-k", dt.timedelta(seconds=0.3))
    k.round(["c2"])
    with k.kept():
        clock.advance(dt.timedelta(seconds=0.2))
        deadline = time.monotonic() + 5
        while not caplog.records:
            assert time.monotonic() < deadline, "no warning from the renewal thread"
            time.sleep(0.02)
    assert "node-k: 0.2 s since its last heartbeat (lease 0.3 s;" in caplog.records[0].getMessage()
    a.release_all()
    caplog.clear()
    clock.advance(LEASE * 5)
    a.round(["c1"])  # started again: nothing was late
    assert not caplog.records


def test_a_lease_shorter_than_the_reconcile_round_is_refused_naming_both() -> None:

    from tests.conftest import make_config
    from vms.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match=r"reconcile_seconds \(5.0\).*\(3.0\)"):
        make_config(
            Path("/tmp/unused"),
            "sqlite://",
            VMS_CLUSTER_CAMERA_OWNERSHIP="true",
            VMS_CLUSTER_CAMERA_LEASE_SECONDS="3",
        )


def test_vms_cluster_status_lists_nodes_their_cameras_and_job_leases(
    services: Services, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from vms.cli import main
    from vms.clock import SystemClock
    from vms.leases import JobLeases

    Ownership(services.db, SystemClock(), "node-x", LEASE).round(["c1", "c2"])
    JobLeases(services.db, SystemClock(), "node-j", LEASE).run("purge", LEASE, lambda: None)
    monkeypatch.setenv("VMS_DATA_DIR", str(services.config.data_dir))
    monkeypatch.setenv("VMS_DATABASE_URL", services.config.database_url)
    assert main(["cluster", "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    [node] = shown["nodes"]
    assert node["node_id"] == "node-x" and node["alive"] and node["cameras"] == ["c1", "c2"]
    [job] = shown["jobs"]
    assert job["name"] == "purge" and job["holder"] is None and job["finished_at"]
    assert main(["cluster", "status"]) == 0
    text = capsys.readouterr().out
    assert "node-x" in text and "alive" in text and "c1, c2" in text and "purge" in text


def test_metrics_show_each_media_node_alive_or_not_and_its_cameras(
    services: Services, clock: ManualClock
) -> None:
    """Issue 13.7: cameras per node and whether the node is alive, from the leases."""
    from vms import metrics

    a, b = nodes(services, clock, "node-a", "node-b")
    a.round(["c1", "c2", "c3"])
    clock.advance(LEASE + dt.timedelta(seconds=1))  # a dies
    b.round(["c1", "c2", "c3"])
    text = metrics.render(services.db, clock, LEASE).decode()
    assert 'vms_media_node_alive{node="node-a"} 0.0' in text
    assert 'vms_media_node_alive{node="node-b"} 1.0' in text
    assert 'vms_media_node_cameras{node="node-a"} 0.0' in text
    assert 'vms_media_node_cameras{node="node-b"} 3.0' in text


def test_an_admin_pins_a_camera_with_the_cli_and_it_moves_audited(
    services: Services,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sqlalchemy import select

    from vms.cli import main
    from vms.db.models import AuditEntry, Camera, Device

    with services.db.transaction() as s:
        s.add(Device(id="c1", kind="fixed", name="c1", created_at=NOW))
        s.flush()
        s.add(
            Camera(
                id="c1",
                name="corner",
                onvif_url="http://127.0.0.1:1/onvif",
                username="u",
                password_enc="-",
                profile_token="p",
                capabilities={},
                presets=[],
                calibration={},
                health="unknown",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    a, b = nodes(services, clock, "node-a", "node-b")
    a.round(["c1"])
    b.round(["c1"])
    monkeypatch.setenv("VMS_DATA_DIR", str(services.config.data_dir))
    monkeypatch.setenv("VMS_DATABASE_URL", services.config.database_url)
    assert main(["cluster", "pin", "c1", "node-b"]) == 0
    assert "pinned to node-b (was none)" in capsys.readouterr().out
    a.round(["c1"])  # the holder gives it up
    stopped(a)
    assert list(b.round(["c1"])) == ["c1"]
    assert main(["cluster", "pin", "c1", "--clear"]) == 0
    assert main(["cluster", "pin", "ghost", "node-b"]) != 0  # not registered: NotFound
    assert main(["cluster", "pin", "c1"]) != 0  # neither a node nor --clear
    with services.db.session() as s:
        pins = [
            e.details
            for e in s.execute(
                select(AuditEntry).where(AuditEntry.action == "cluster.pin")
            ).scalars()
        ]
    assert pins == [{"from": None, "to": "node-b"}, {"from": "node-b", "to": None}]


def test_camera_lease_renewals_failing_through_an_outage_are_logged_once(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """While the engine applies a round, :meth:`Ownership.kept` renews the node's
    heartbeat and camera leases every third of a lease; through a database outage it
    logged a traceback at each. Now once per outage (with its traceback), and one line
    when renewing works again."""
    import logging
    import threading

    own = Ownership(services.db, services.clock, "node-a", dt.timedelta(milliseconds=3))
    beat = own._heartbeat
    calls = {"n": 0}
    recovered = threading.Event()

    def heartbeat(now: dt.datetime) -> None:
        calls["n"] += 1
        if calls["n"] <= 30:
            raise RuntimeError("database is away (planted)")
        beat(now)
        recovered.set()

    own._heartbeat = heartbeat  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="recorder.ownership"), own.kept():
        assert recovered.wait(30)
    failed = [r for r in caplog.records if "renewing failed" in r.getMessage()]
    assert len(failed) == 1, f"{len(failed)} lines for 30 failed renewals"
    assert failed[0].exc_info is not None
    assert "camera leases of node-a: renewing works again" in caplog.text
