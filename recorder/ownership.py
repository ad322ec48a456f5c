"""Which media node records which camera (issue 13, item 1; docs/design/
ports-and-roles.md, "Cameras across media nodes").

With ``[cluster] camera_ownership`` on, every media node runs one :meth:`Ownership.round`
per reconcile round (``[recorder] reconcile_seconds``):

1. **Heartbeat**: the node's ``media_nodes`` row gets ``heartbeat_at = now``. A node whose
   heartbeat is older than ``[cluster] camera_lease_seconds`` is dead to the others.
2. **Renew** the leases it holds, each by a conditional ``UPDATE`` naming its token: a
   lease that was taken over (the token moved on) is lost, and the recorder stops that
   camera.
3. **Claim** the cameras :func:`assign` gives it among those no live node holds (never
   leased, expired, or left by a dead node): a compare-and-swap ``UPDATE`` on the token
   the node read, so two nodes that both decide to take a camera cannot both get it.
4. **Hand back** a camera pinned to another live node, and cameras removed from the
   registry.

:func:`assign` is pure and deterministic (pins first, then the live node holding the
fewest cameras, ties by node id): every node computes the same answer from the same
rows, so the cluster converges without a coordinator; the database's compare-and-swap
decides a race.

**Fencing.** A claim increments the lease's ``token``; the recorder gives the token to
every segment it ingests (:class:`vms.ingest.IngestRequest` ``fence``) and the ingest
checks it in the catalog transaction (:func:`vms.leases.check_camera_fence`). A node that
stalled past its lease and wakes up writing finds its segment refused (the recorder
quarantines it: the footage is kept, not catalogued twice): a split brain cannot make two
nodes write segments for one camera. The camera's gaps are fenced the same way
(:meth:`recorder.recording.RecordingLog.open_gap`): a node that lost the camera writes
none, so none overlaps the new holder's segments (OPS-4).

**While a round is applied** (cameras stopped and started, which can outlast a lease),
:meth:`Ownership.kept` renews this node's leases from a helper thread.

Time is the services' clock; nodes' clocks must agree to well within a lease (NTP).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import cast

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import CameraLease, MediaNode
from vms.leases import rows_changed
from vms.outage_log import OutageLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseRow:
    """What :func:`assign` needs of a camera's lease."""

    camera_id: str
    node_id: str | None
    expires_at: dt.datetime | None
    pinned_node: str | None


def assign(
    cameras: Iterable[str],
    leases: Mapping[str, LeaseRow],
    live: Mapping[str, int],
    now: dt.datetime,
) -> dict[str, str]:
    """The node each camera should be recorded by: ``live`` maps the live nodes to their
    capacity (0: no limit). A camera pinned to a live node goes there. One validly held
    by a live node stays there, up to an even share (the cameras over the live nodes,
    rounded up): the rest are handed on, so a node that joins gets its share. The others
    go to the live node with the fewest cameras and room left (ties: the smaller node
    id). A camera no node has room for is left out."""
    wanted = sorted(set(cameras))
    share = -(-len(wanted) // max(1, len(live)))
    count = dict.fromkeys(live, 0)
    out: dict[str, str] = {}
    loose: list[str] = []
    for camera in wanted:
        lease = leases.get(camera)
        pinned = lease.pinned_node if lease is not None else None
        holder = lease.node_id if lease is not None else None
        held = (
            holder in live
            and lease is not None
            and lease.expires_at is not None
            and lease.expires_at > now
        )
        if pinned in live:
            out[camera] = cast(str, pinned)
        elif held and count[cast(str, holder)] < share:
            out[camera] = cast(str, holder)
        else:
            loose.append(camera)
            continue
        count[out[camera]] += 1
    for camera in loose:
        room = [n for n in live if live[n] == 0 or count[n] < live[n]]
        if not room:
            continue
        node = min(room, key=lambda n: (count[n], n))
        out[camera] = node
        count[node] += 1
    return out


class Ownership:
    """This media node's side of the camera leases (see the module's text)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        node_id: str,
        lease: dt.timedelta,
        *,
        capacity: int = 0,
        internal_url: str = "",
    ) -> None:
        if lease <= dt.timedelta(0):
            raise ValueError(f"a camera lease must last some time, not {lease}")
        self.db = db
        self.clock = clock
        self.node_id = node_id
        self.lease = lease
        self.capacity = capacity
        self.internal_url = internal_url or None
        self.tokens: dict[str, int] = {}  # the cameras this node holds, with their tokens
        # Cameras this node gives up, still held (renewed) until the engine has stopped
        # them and :meth:`release` hands them back: the next holder starts only after
        # this node's last segment and its gap are written, so the two never overlap
        # (OPS-4): the new holder continues the gap this node left open.
        self.leaving: dict[str, int] = {}
        # Held by a renewal of :meth:`kept` and by :meth:`release`, so a lease is never
        # renewed after it was handed back.
        self._renewing = threading.Lock()
        # Cameras the last round took from a node that never handed them back (it died,
        # or stalled past its lease), with that node: their gap says so (OPS-4).
        self.taken_over: dict[str, str] = {}
        # When this node's last heartbeat was written (None: none since it started or
        # stopped), to warn when the next comes late (:meth:`_heartbeat`).
        self._beat_at: dt.datetime | None = None

    def round(self, cameras: Iterable[str]) -> dict[str, int]:
        """One round (heartbeat, renew, claim, hand back) for the registry's ``cameras``;
        returns the cameras this node now holds with their fencing tokens."""
        registered = set(cameras)
        now = self.clock.now()
        self._heartbeat(now)
        self._ensure_rows(registered)
        horizon = self._horizon(now)
        with self.db.session() as s:
            found = list(s.execute(select(CameraLease)).scalars())
            rows = {
                r.camera_id: LeaseRow(
                    r.camera_id,
                    r.node_id,
                    # a lease stamped past the horizon is stale: expired (INV-7)
                    r.expires_at if r.expires_at is None or r.expires_at <= horizon else None,
                    r.pinned_node,
                )
                for r in found
            }
            tokens = {r.camera_id: r.token for r in found}
            live = {
                n.node_id: n.capacity
                for n in s.execute(
                    select(MediaNode).where(
                        MediaNode.heartbeat_at > now - self.lease,
                        MediaNode.heartbeat_at <= horizon,
                    )
                ).scalars()
            }
        live[self.node_id] = self.capacity
        wanted = assign(registered, rows, live, now)
        held: dict[str, int] = {}
        taken: dict[str, str] = {}
        for camera, kept in list(self.leaving.items()):
            if not self._renew(camera, kept, now):
                del self.leaving[camera]  # taken over meanwhile: nothing to hand back
        for camera in sorted(registered | set(self.tokens)):
            mine = wanted.get(camera) == self.node_id
            token = self.tokens.get(camera)
            if camera in self.leaving:
                continue  # being stopped here; claimable once released
            if token is not None and mine and self._renew(camera, token, now):
                held[camera] = token
            elif token is not None and not mine:
                # Renewed now, as at every round until released: stopping it takes time,
                # and its last renewal was a round ago (the cluster test, on a loaded
                # machine, saw one taken over while the node was stopping another).
                if self._renew(camera, token, now):
                    self.leaving[camera] = token
            elif token is None and mine:
                claimed = self._claim(camera, tokens.get(camera, 0), now)
                if claimed is not None:
                    held[camera] = claimed
                    # A hand-back clears the holder; one still named let its lease run out.
                    before = rows[camera].node_id if camera in rows else None
                    if before is not None and before != self.node_id:
                        taken[camera] = before
        for camera in set(self.tokens) - set(held):
            log.info("camera %s: recorded here -> not ours (%s)", camera, self.node_id)
        for camera in set(held) - set(self.tokens):
            log.info("camera %s: not ours -> recorded by %s", camera, self.node_id)
        self.tokens = held
        self.taken_over = taken
        return dict(held)

    def release(self, camera: str) -> None:
        """Hand back a camera :meth:`round` gave up, once the engine has stopped it."""
        with self._renewing:
            token = self.leaving.pop(camera, None)
            if token is not None:
                self._hand_back(camera, token)

    @contextlib.contextmanager
    def kept(self) -> Iterator[None]:
        """Keep this node alive and its leases (held and leaving) renewed, every third of
        a lease, while the engine applies a round: stopping a camera finishes and
        ingests its segment, starting one salvages its spool, and a round's worth of
        them can outlast the lease. Without this, the other nodes would take every
        camera of this node meanwhile, and one it is still stopping would be recorded
        by two nodes at once (OPS-4)."""
        done = threading.Event()

        def renew() -> None:
            # The database away: once per outage, not a traceback every lease/3 s.
            renewing = OutageLog(log)
            while not done.wait(self.lease.total_seconds() / 3):
                try:
                    with self._renewing:
                        now = self.clock.now()
                        self._heartbeat(now)
                        for camera, token in sorted({**self.tokens, **self.leaving}.items()):
                            self._renew(camera, token, now)
                except Exception:
                    renewing.failed("camera leases of %s: renewing failed", self.node_id)
                    continue
                renewing.works("camera leases of %s: renewing works again", self.node_id)

        thread = threading.Thread(target=renew, name="camera-leases", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            # Bounded: a renewal stuck on an unreachable database must not hold up the
            # round (the thread ends at its next look at ``done``).
            thread.join(self.lease.total_seconds())

    def release_all(self) -> None:
        """Hand every camera back at once (a clean stop: no wait for the leases to
        expire) and stop the heartbeat."""
        for camera, token in sorted({**self.tokens, **self.leaving}.items()):
            self._hand_back(camera, token)
        self.tokens, self.leaving = {}, {}
        with self.db.transaction() as s:
            node = s.get(MediaNode, self.node_id)
            if node is not None:
                node.heartbeat_at = self.clock.now() - self.lease  # dead to the others now
        self._beat_at = None

    # -- rows -------------------------------------------------------------------------

    def _heartbeat(self, now: dt.datetime) -> None:
        began = self.clock.monotonic()
        with self.db.transaction() as s:
            node = s.get(MediaNode, self.node_id)
            if node is None:
                s.add(
                    MediaNode(
                        node_id=self.node_id,
                        internal_url=self.internal_url,
                        capacity=self.capacity,
                        started_at=now,
                        heartbeat_at=now,
                    )
                )
            else:
                node.heartbeat_at = now
                node.internal_url = self.internal_url
                node.capacity = self.capacity
        # A whole lease without a heartbeat and the other nodes take this node's cameras
        # (OPS-4): past half a lease, say so while it still holds them. Measured to the
        # write's end, so a write that waited on the database counts too.
        written, before = self.clock.now(), self._beat_at
        self._beat_at = written
        if before is not None and written - before > self.lease / 2:
            # The write's own time tells a database that kept it waiting (a lock, a slow
            # disk) from a thread that came late (a starved machine).
            log.warning(
                "media node %s: %.1f s since its last heartbeat (lease %g s; this write "
                "took %.1f s): this machine or the database is slow, or the clock "
                "stepped; a whole lease without one and the other nodes take its cameras",
                self.node_id,
                (written - before).total_seconds(),
                self.lease.total_seconds(),
                self.clock.monotonic() - began,
            )

    def _horizon(self, now: dt.datetime) -> dt.datetime:
        """The latest lease expiry (or heartbeat) a node whose clock is in step with this
        one can have written: ``now + lease``, with up to a lease of skew. Later ones were
        written by a clock that ran ahead and has been set back since: the lease is stale
        and the node not alive, or its cameras would go unrecorded until that clock came
        round again (a node killed and restarted could not claim its own; INV-7, INV-9)."""
        return now + 2 * self.lease

    def _ensure_rows(self, cameras: set[str]) -> None:
        with self.db.session() as s:
            known = set(s.execute(select(CameraLease.camera_id)).scalars())
        for camera in sorted(cameras - known):
            try:
                with self.db.transaction() as s:
                    s.add(CameraLease(camera_id=camera, token=0))
            except IntegrityError:
                pass  # another node made it at the same time

    def _claim(self, camera: str, seen: int, now: dt.datetime) -> int | None:
        token = seen + 1
        with self.db.transaction() as s:
            done = rows_changed(
                s,
                update(CameraLease)
                .where(
                    CameraLease.camera_id == camera,
                    CameraLease.token == seen,  # nobody claimed since we read it
                    # free or expired; a pinned camera too waits for its holder to hand
                    # it back (next round), so two nodes never record it at once
                    or_(
                        CameraLease.expires_at.is_(None),
                        CameraLease.expires_at <= now,
                        CameraLease.expires_at > self._horizon(now),
                        CameraLease.node_id.is_(None),
                    ),
                )
                .values(node_id=self.node_id, token=token, expires_at=now + self.lease),
            )
        return token if done == 1 else None

    def _renew(self, camera: str, token: int, now: dt.datetime) -> bool:
        with self.db.transaction() as s:
            done = rows_changed(
                s,
                update(CameraLease)
                .where(
                    CameraLease.camera_id == camera,
                    CameraLease.token == token,
                    CameraLease.node_id == self.node_id,  # not one handed back
                )
                .values(expires_at=now + self.lease),
            )
        if done != 1:
            log.warning(
                "camera %s: the lease was taken over while %s held it", camera, self.node_id
            )
        return done == 1

    def _hand_back(self, camera: str, token: int) -> None:
        with self.db.transaction() as s:
            rows_changed(
                s,
                update(CameraLease)
                .where(CameraLease.camera_id == camera, CameraLease.token == token)
                .values(node_id=None, expires_at=None),
            )
