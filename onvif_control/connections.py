"""Live connections to onboarded cameras, shared by the PTZ engine, pose tracker and
health checks of one (media) process.

A camera's row is read once and cached briefly (calibration edits reach other processes
within ``RECORD_TTL``); its :class:`~onvif_control.adapter.device.OnvifDevice` is kept while
the address and credentials stay the same, so PTZ commands reuse warm connections.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select

from onvif_control.credentials import CredentialBox
from onvif_control.runtime import OnvifRuntime
from onvif_control.tls_pins import format_fingerprint, parse_fingerprint
from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.camera_model import Calibration
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import Camera
from vms.errors import FailedPrecondition, NotFound, Unavailable

if TYPE_CHECKING:
    from onvif_control.adapter.device import OnvifDevice

log = logging.getLogger(__name__)

T = TypeVar("T")
# What a device is built from: address, username, encrypted password, pin, CA bundle.
Identity = tuple[str, str, str, str | None, str | None]
RECORD_TTL = 5.0  # seconds
# Who stores a pin a connection learned (audit).
PINNER = Who("camera-connections", SYSTEM_ROLE)
REFRESH_ATTEMPTS = 3  # reads overlapped by a drop each (deletions are rare) before giving up


@dataclass(frozen=True)
class CameraRecord:
    """What the runtime needs to know about a camera (no secrets)."""

    id: str
    name: str
    onvif_url: str
    profile_token: str
    ptz_supported: bool
    calibration: Calibration
    presets: dict[str, tuple[float | None, float | None, float | None]]


def record_of(camera: Camera) -> CameraRecord:
    return CameraRecord(
        id=camera.id,
        name=camera.name,
        onvif_url=camera.onvif_url,
        profile_token=camera.profile_token,
        ptz_supported=camera.ptz_supported,
        calibration=Calibration.from_dict(camera.calibration),
        presets={str(p["token"]): (p.get("x"), p.get("y"), p.get("zoom")) for p in camera.presets},
    )


class Connections:
    def __init__(
        self,
        db: Database,
        box: CredentialBox,
        runtime: OnvifRuntime,
        timeout: float,
        clock: Clock,
        audit: AuditLog | None = None,
    ) -> None:
        self.db = db
        self.audit = audit  # records a pin learned for a camera that had none
        self.clock = clock  # monotonic readings: the record cache's age (INV-7)
        self.box = box
        self.runtime = runtime
        self.timeout = timeout
        self._lock = threading.Lock()
        self._records: dict[str, tuple[float, CameraRecord]] = {}
        self._devices: dict[str, tuple[Identity, OnvifDevice]] = {}
        self._releasing: set[OnvifDevice] = set()  # released, closed after a grace time
        # Closes of dropped connections under way, waited for by close(): a shutdown
        # right after a camera's deletion stopped the loop under them (aiohttp's
        # "Unclosed client session").
        self._dropping: set[concurrent.futures.Future[None]] = set()
        # Bumped by every forget/drop/release, of any camera: a row read before an edit's
        # forget is not cached as fresh (a calibration edit, i.e. new software limits,
        # applies to the next poll). One number, not one per camera: a count kept per
        # camera outlived the camera (every deletion added one for good). A read that
        # overlaps another camera's edit is re-read once more, which edits are rare enough
        # to afford.
        self._generation = 0
        # Bumped by every drop/release, of any camera: a refresh that read a row before
        # its camera was deleted (or handed to another node) must not store that row and
        # open a connection after the drop, kept for good and never closed. It reads
        # again instead (a deleted camera is then NotFound); one number for the same
        # reason as above.
        self._drops = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run an adapter coroutine from a synchronous caller (bounded)."""
        return self.runtime.run(coro, self.timeout * 3 + 1.0)

    def record(self, camera_id: str) -> CameraRecord:
        now = self.clock.monotonic()
        with self._lock:
            cached = self._records.get(camera_id)
            if cached is not None and now - cached[0] < RECORD_TTL:
                return cached[1]
        return self._refresh(camera_id)

    def ptz_record(self, camera_id: str) -> CameraRecord:
        record = self.record(camera_id)
        if not record.ptz_supported:
            raise FailedPrecondition(f"camera {record.name} has no PTZ")
        return record

    def device(self, camera_id: str) -> OnvifDevice:
        self.record(camera_id)  # re-reads the row (and credentials) after RECORD_TTL
        with self._lock:
            cached = self._devices.get(camera_id)
        if cached is None:
            self._refresh(camera_id)
            with self._lock:
                cached = self._devices.get(camera_id)
            if cached is None:  # dropped since the refresh: deleted or handed over
                raise Unavailable(
                    f"camera {camera_id!r} was removed or handed to another node meanwhile, "
                    "try again"
                )
        return cached[1]

    def _refresh(self, camera_id: str) -> CameraRecord:
        for _ in range(REFRESH_ATTEMPTS):
            with self._lock:
                generation, drops = self._generation, self._drops
            with self.db.session() as s:
                camera = s.get(Camera, camera_id)
                if camera is None:
                    raise NotFound(f"camera {camera_id!r} does not exist")
                record = record_of(camera)
                # A new pin (an admin accepted a renewed certificate) rebuilds the device.
                identity = (
                    camera.onvif_url,
                    camera.username,
                    camera.password_enc,
                    camera.tls_fingerprint,
                    camera.tls_ca_pem,
                )
                password_enc, username = camera.password_enc, camera.username
                pin, ca = camera.tls_fingerprint, camera.tls_ca_pem
            stale: OnvifDevice | None = None
            with self._lock:
                if self._drops != drops:
                    continue  # a camera was dropped meanwhile, maybe this one: read again
                # Read before a concurrent forget(): used by this call only, re-read next.
                fresh = self._generation == generation
                read_at = self.clock.monotonic() if fresh else -math.inf
                self._records[camera_id] = (read_at, record)
                cached = self._devices.get(camera_id)
                if cached is None or cached[0] != identity:
                    password = self.box.decrypt(camera_id, password_enc)
                    # Imported here: the ONVIF adapter (onvif, zeep, aiohttp) takes ~0.25 s
                    # to load, which a command that talks to no camera need not pay.
                    from onvif_control.adapter.device import OnvifDevice

                    device = OnvifDevice(
                        record.onvif_url,
                        username,
                        password,
                        label=record.name,
                        timeout=self.timeout,
                        # Every connection must present the stored pin (docs/design/
                        # security.md, "Camera certificates"); None: trust on first use.
                        tls_pin=parse_fingerprint(pin) if pin is not None else None,
                        on_pinned=self._pin_learned(camera_id, record.onvif_url),
                        tls_ca=ca,
                    )
                    self._devices[camera_id] = (identity, device)
                    stale = cached[1] if cached is not None else None
            if stale is not None:
                self.runtime.submit(stale.close())
            return record
        raise Unavailable(f"camera {camera_id!r}: cameras were being deleted meanwhile, try again")

    def _pin_learned(self, camera_id: str, url: str) -> Callable[[bytes], Awaitable[None]]:
        """Stores the pin a device learned for an https camera that had none (onboarded
        before migration 0045): the next process checks it instead of trusting anew
        whatever it meets (docs/design/security.md, "Camera certificates", 6)."""

        async def store(pin: bytes) -> None:
            await asyncio.to_thread(self._store_pin, camera_id, url, format_fingerprint(pin))

        return store

    def _store_pin(self, camera_id: str, url: str, fingerprint: str) -> None:
        with self.db.transaction() as s:
            camera = s.get(Camera, camera_id, with_for_update=True)
            # Pinned meanwhile (an admin, another node) or moved: that row stands; a pin
            # other than this device's rebuilds the device at its next use.
            if (
                camera is None
                or camera.tls_fingerprint is not None
                or camera.tls_ca_pem is not None
                or camera.onvif_url != url
            ):
                return
            camera.tls_fingerprint = fingerprint
            if self.audit is not None:
                self.audit.append(
                    s,
                    PINNER,
                    "camera.certificate.pin",
                    f"camera:{camera_id}",
                    details={"name": camera.name, "tls_fingerprint": fingerprint},
                )
        log.info("camera %s: certificate %s pinned (trust on first use)", camera_id, fingerprint)
        self.forget(camera_id)

    def forget(self, camera_id: str) -> None:
        """Re-read the row on next use (after an edit); the connection is rebuilt only
        if the address or credentials changed."""
        with self._lock:
            self._records.pop(camera_id, None)
            self._generation += 1

    def drop(self, camera_id: str) -> None:
        """Drop the cached row and close the connection (the camera was deleted)."""
        with self._lock:
            self._records.pop(camera_id, None)
            self._generation += 1
            self._drops += 1
            cached = self._devices.pop(camera_id, None)
        if cached is not None:
            closing = self.runtime.submit(cached[1].close())
            with self._lock:
                self._dropping.add(closing)
            closing.add_done_callback(self._dropped)

    def _dropped(self, closing: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._dropping.discard(closing)

    def release(self, camera_id: str) -> None:
        """Close the camera's connection, unused here from now on (the pose tracker hands
        a camera to another media node). A call already holding it (a PTZ command of
        this process) may still be using it: it is closed once such a call is over,
        since every call is bounded by the command timeout."""
        with self._lock:
            self._records.pop(camera_id, None)
            self._generation += 1
            self._drops += 1
            cached = self._devices.pop(camera_id, None)
        if cached is not None:
            with self._lock:
                self._releasing.add(cached[1])
            self.runtime.submit(self._close_later(cached[1], self.timeout + 1.0))

    async def _close_later(self, device: OnvifDevice, delay: float) -> None:
        await asyncio.sleep(delay)
        with self._lock:
            if device not in self._releasing:
                return  # closed by close() meanwhile
            self._releasing.discard(device)
        await device.close()

    def camera_ids(self, *, ptz_only: bool = False) -> list[str]:
        stmt = select(Camera.id).order_by(Camera.id)
        if ptz_only:
            stmt = stmt.where(Camera.ptz_supported.is_(True))
        with self.db.session() as s:
            return list(s.execute(stmt).scalars())

    def close(self) -> None:
        with self._lock:
            devices = [d for _, d in self._devices.values()] + list(self._releasing)
            self._devices.clear()
            self._releasing.clear()
            self._records.clear()
            dropping = list(self._dropping)
        for closing in dropping:
            try:
                closing.result(5.0)
            except Exception as exc:  # shutting down: a camera that will not close is let go
                log.debug("closing a dropped connection failed: %s", exc)
        for device in devices:
            try:
                self.runtime.run(device.close(), 5.0)
            except Exception as exc:  # shutting down: a camera that will not close is let go
                log.debug("closing %r failed: %s", device, exc)
