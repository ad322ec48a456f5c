"""Camera health (OPS-1): periodic checks, online/offline state with the last-seen time.

Each check probes every camera at once on the ONVIF loop (an authenticated
``GetDeviceInformation``, bounded by the adapter timeout). A change of state is written
with its audit entry in one transaction and published (``camera.health``) for the
browsers; unchanged states only move ``health_checked_at`` / ``last_seen_at``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from onvif_control.adapter.parsers import cut
from onvif_control.cameras import target
from onvif_control.connections import Connections
from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.clock import Clock, isoformat
from vms.db.engine import Database
from vms.db.models import Camera
from vms.errors import VMSError
from vms.events import EventBus

log = logging.getLogger(__name__)

CHECKER = Who("health-check", SYSTEM_ROLE)
# cameras.health_detail holds this many characters.
HEALTH_DETAIL_CHARS = 500
ONLINE, OFFLINE = "online", "offline"


@dataclass(frozen=True)
class Change:
    camera_id: str
    name: str
    old: str
    new: str
    detail: str | None


class HealthMonitor:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        events: EventBus,
        connections: Connections,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.events = events
        self.connections = connections

    async def _probe_all(self, camera_ids: list[str]) -> dict[str, str | None]:
        async def probe(camera_id: str) -> str | None:
            try:
                device = await asyncio.to_thread(self.connections.device, camera_id)
                await device.probe()
                return None
            except VMSError as exc:
                return exc.message

        results = await asyncio.gather(*(probe(c) for c in camera_ids))
        return dict(zip(camera_ids, results, strict=True))

    def check_all(self) -> list[Change]:
        """Probe every camera; record and publish the changes (the health job)."""
        camera_ids = self.connections.camera_ids()
        if not camera_ids:
            return []
        problems = self.connections.run(self._probe_all(camera_ids))
        changes: list[Change] = []
        with self.db.transaction() as s:
            now = self.clock.now()
            rows = s.execute(select(Camera).where(Camera.id.in_(camera_ids))).scalars()
            for camera in rows:
                problem = problems.get(camera.id)
                if problem is not None:
                    problem = cut(problem, HEALTH_DETAIL_CHARS)  # the column's size
                new = OFFLINE if problem else ONLINE
                camera.health_checked_at = now
                if new == ONLINE:
                    camera.last_seen_at = now
                if new != camera.health or problem != camera.health_detail:
                    old = camera.health
                    camera.health, camera.health_detail = new, problem
                    if new != old:
                        self.audit.append(
                            s,
                            CHECKER,
                            "camera.health",
                            target(camera.id),
                            outcome="ok" if new == ONLINE else "failed",
                            details={
                                "name": camera.name,
                                "old": old,
                                "new": new,
                                "detail": problem,
                            },
                        )
                        changes.append(Change(camera.id, camera.name, old, new, problem))
        for change in changes:
            log.info(
                "camera %s: health %s -> %s %s",
                change.name,
                change.old,
                change.new,
                change.detail or "",
            )
            self.events.publish("camera.health", health_json(change, self.clock.now()))
        return changes


def health_json(change: Change, at: Any) -> dict[str, Any]:
    return {
        "camera_id": change.camera_id,
        "name": change.name,
        "old": change.old,
        "health": change.new,
        "detail": change.detail,
        "at": isoformat(at),
    }
