"""Camera onboarding and management (issue 4 item 2).

Adding a camera connects to it first and reads its device information, media profiles,
main and sub stream URIs, PTZ node spaces and limits, and presets; only then, in one
transaction, the catalog device row (same id), the camera row (password encrypted, key
outside the database) and the audit entry are written. Wrong credentials or an
unreachable address raise our error kinds and store nothing (the refusal is audited).

An https camera's certificate is pinned at onboarding (trust on first use, or the
fingerprint the admin expects): its SHA-256 fingerprint is stored, shown and audited, and
every later connection must present it (:mod:`onvif_control.adapter.tls`); an admin
accepts a renewed certificate with :mod:`onvif_control.camera_certificates` (audited).

Credentials never travel in URLs here (#10.11): an ONVIF URL with user info is refused
before anything is tried, and the stream URIs a camera returns are stored, shown and
audited without their password (:func:`vms.urls.redact_credentials`). The stored password
is only ever sent to the scheme, host and port it was given for: moving a camera to
another one needs the password again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from onvif_control.adapter.models import Description
from onvif_control.adapter.parsers import onvif_endpoint
from onvif_control.camera_edits import NOT_COPIED, downgrade, expected_in, stream_moved
from onvif_control.camera_records import (
    CameraDetail,
    CameraRecord,
    camera_detail,
    camera_record,
    camera_row,
    shown_uri,
)
from onvif_control.connections import Connections
from onvif_control.credentials import CredentialBox
from onvif_control.tls_pins import check_tls_options, format_fingerprint, parse_fingerprint
from vms import ids
from vms.audit.log import AuditLog, Who
from vms.auth.authoriser import Authoriser, who
from vms.auth.permissions import Action, Actor
from vms.camera_model import Calibration
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import Camera, Device, PtzSession, SourceKind
from vms.errors import Conflict, InvalidArgument, VMSError
from vms.events import EventBus

log = logging.getLogger(__name__)

CAMERA_FIELDS = ("name", "onvif_url", "username", "password", "tls_fingerprint")
READ_ROLES_ACTIONS = (Action.CAMERAS_MANAGE, Action.LIVE_VIEW, Action.PTZ_CONTROL)


def target(camera_id: str) -> str:
    """The audit target of a camera."""
    return f"camera:{camera_id}"


def _where(endpoint: tuple[str, str, int]) -> str:
    scheme, host, port = endpoint
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class NewCamera:
    """A camera to onboard (``POST /api/v1/cameras``): where its ONVIF device service
    is, its credentials and, optionally, its calibration (default :class:`Calibration`)
    and, for an https camera, the certificate fingerprint the admin expects (None: the
    certificate met at onboarding is pinned) or a PEM CA bundle that verifies it
    instead."""

    name: str
    onvif_url: str
    username: str
    password: str
    calibration: Calibration | None = None
    tls_fingerprint: str | None = None
    tls_ca_pem: str | None = None


@dataclass(frozen=True)
class Described:
    """What onboarding read from a camera, and the certificate it presented (an https
    camera's pin, ``AB:CD:...``; None for http)."""

    description: Description
    tls_fingerprint: str | None


@dataclass(frozen=True)
class CameraChanges:
    """A ``PATCH`` of a camera: the fields to change (``None``: unchanged)."""

    name: str | None = None
    onvif_url: str | None = None
    username: str | None = None
    password: str | None = None
    # The certificate expected at the address ``onvif_url`` moves an https camera to.
    tls_fingerprint: str | None = None

    def given(self) -> dict[str, str]:
        """The changed fields, by name."""
        return {k: v for k in CAMERA_FIELDS if (v := getattr(self, k)) is not None}


def check_limits(calibration: Calibration) -> Calibration:
    """``calibration`` when its software limits leave a range inside the camera's;
    InvalidArgument naming the limits otherwise."""
    c = calibration
    for lo, hi, axis in (
        (c.limit_pan_min, c.limit_pan_max, "pan"),
        (c.limit_tilt_min, c.limit_tilt_max, "tilt"),
    ):
        if lo is not None and hi is not None and lo >= hi:
            raise InvalidArgument(f"software {axis} limits {lo}..{hi}: min must be below max")
    if c.limit_zoom_max is not None and not 0.0 <= c.limit_zoom_max <= 1.0:
        raise InvalidArgument(f"limit_zoom_max {c.limit_zoom_max} is outside 0..1")
    pan_lo, pan_hi, tilt_lo, tilt_hi, _ = c.limits()
    if pan_lo >= pan_hi or tilt_lo >= tilt_hi:
        raise InvalidArgument("the software limits leave no pan or tilt range inside the camera's")
    return calibration


def calibration_from_simulator(state: Mapping[str, Any]) -> Calibration:
    """The simulator's calibration (``cam.state()["calibration"]``) as ours: the fields
    both share (the simulator adds its motor speeds)."""
    known = {f.name for f in fields(Calibration)}
    return Calibration.from_dict({k: v for k, v in state.items() if k in known})


class CameraPtz(Protocol):
    """What deleting a camera asks of PTZ control (docs/design/ptz-arbitration.md, P5).
    :class:`~onvif_control.ptz_sessions.PtzSessions` implements it and
    :class:`~onvif_control.ptz.PtzService` sets it as ``CameraService.ptz``: the PTZ
    side imports this module, not the other way round."""

    def deleting(self, camera_id: str) -> AbstractContextManager[None]:
        """Held around the deletion, entered before the row and connection go: the
        arbiter's Stop of whatever the camera's open sessions set moving (audited; a
        camera that does not answer is logged and audited as failed, not raised), and
        no command reaches the camera until the deletion is over."""
        ...

    def session_ended(self, session_id: str) -> None:
        """A session the deletion ended (inside its transaction): its rate-limit bucket
        goes with it, and the PTZ side reads the camera's session number, to publish the
        end under the next one (onvif_control/ptz_deletion.py, P6)."""
        ...


class NoPtz:
    """:class:`CameraPtz` of a camera service without PTZ control: nothing to stop."""

    def deleting(self, camera_id: str) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def session_ended(self, session_id: str) -> None:
        pass


class _ChangedSinceCheck(Exception):
    """A camera's address or credentials changed between an edit's check and its
    transaction (CameraService.update)."""


class _Downgraded(Exception):
    """An edit read a plain ``rtsp`` stream URI for a camera whose stream was ``rtsps``
    (CameraService.update): the message says which and what to do."""


class CameraService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        events: EventBus,
        authoriser: Authoriser,
        box: CredentialBox,
        connections: Connections,
        timeout: float,
        *,
        stream_hosts: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.stream_hosts = stream_hosts
        self.audit = audit
        self.clock = clock
        self.events = events
        self.authoriser = authoriser
        self.box = box
        self.connections = connections
        self.timeout = timeout
        self.ptz: CameraPtz = NoPtz()  # PtzService sets the PTZ sessions here

    # -- permissions --------------------------------------------------------------

    def require_manage(self, actor: Actor, camera_target: str) -> None:
        self.authoriser.require(actor, Action.CAMERAS_MANAGE, camera_target)

    def require_read(self, actor: Actor) -> None:
        if not any(self.authoriser.allows(actor, a) for a in READ_ROLES_ACTIONS):
            self.authoriser.require(actor, Action.LIVE_VIEW, "cameras")

    # -- reading a camera over ONVIF ------------------------------------------------

    def _describe(
        self,
        name: str,
        url: str,
        username: str,
        password: str,
        pin: str | None = None,
        ca: str | None = None,
    ) -> Described:
        """Read the camera; ``pin``: the fingerprint its certificate must have (None: the
        one it presents is pinned, before anything is sent); ``ca``: a CA bundle that
        verifies it instead (no pin)."""
        # Imported here: the ONVIF adapter (onvif, zeep, aiohttp) takes ~0.25 s to
        # load, which a command that talks to no camera need not pay.
        from onvif_control.adapter.device import OnvifDevice

        device = OnvifDevice(
            url,
            username,
            password,
            label=name,
            timeout=self.timeout,
            stream_hosts=self.stream_hosts,
            tls_pin=parse_fingerprint(pin) if pin is not None else None,
            tls_ca=ca,
        )

        async def go() -> Described:
            try:
                description = await device.describe()
            finally:
                await device.close()
            seen = device.tls_pin
            return Described(description, format_fingerprint(seen) if seen else None)

        return self.connections.run(go())

    # -- add, list, get, update, delete ------------------------------------------------

    def add(self, actor: Actor, new: NewCamera) -> CameraDetail:
        """Onboard a camera (admin): connect first, then store (``POST /api/v1/cameras``)."""
        self.require_manage(actor, "cameras")
        calibration = check_limits(new.calibration) if new.calibration is not None else None
        return self.onboard(
            who(actor),
            new.name,
            new.onvif_url,
            new.username,
            new.password,
            calibration,
            tls_fingerprint=new.tls_fingerprint,
            tls_ca_pem=new.tls_ca_pem,
        )

    def onboard(
        self,
        by: Who,
        name: str,
        onvif_url: str,
        username: str,
        password: str,
        calibration: Calibration | None = None,
        *,
        tls_fingerprint: str | None = None,
        tls_ca_pem: str | None = None,
    ) -> CameraDetail:
        """Connect, read and store a camera; the CLI and ``--demo`` call this directly.
        ``tls_fingerprint``: the certificate an https camera must present (None: the one
        it presents now is pinned, trust on first use); ``tls_ca_pem``: a CA bundle that
        verifies the camera instead of a pin."""
        scheme, _, _ = onvif_endpoint(onvif_url)  # no credentials in it, nothing tried
        check_tls_options(scheme, tls_fingerprint, tls_ca_pem)
        with self.db.session() as s:
            if s.execute(select(Camera.id).where(Camera.name == name)).first() is not None:
                raise Conflict(f"a camera named {name!r} already exists")
        try:
            described = self._describe(
                name, onvif_url, username, password, tls_fingerprint, tls_ca_pem
            )
        except VMSError as exc:
            self.audit.record(
                self.db,
                by,
                "camera.add",
                f"camera-name:{name}",
                outcome="failed",
                details={"name": name, "onvif_url": onvif_url, "error": exc.message},
            )
            raise
        camera_id = ids.new_id()
        now = self.clock.now()
        calibration = calibration or Calibration()
        with self._name_taken(name), self.db.transaction() as s:
            if s.execute(select(Camera.id).where(Camera.name == name)).first() is not None:
                raise Conflict(f"a camera named {name!r} already exists")
            s.add(Device(id=camera_id, kind=SourceKind.FIXED.value, name=name, created_at=now))
            s.flush()
            camera = Camera(
                id=camera_id,
                name=name,
                onvif_url=onvif_url,
                username=username,
                password_enc=self.box.encrypt(camera_id, password),
                calibration=calibration.to_dict(),
                tls_fingerprint=None if tls_ca_pem else described.tls_fingerprint,
                tls_ca_pem=tls_ca_pem,
                health="online",
                health_detail=None,
                last_seen_at=now,
                health_checked_at=now,
                created_at=now,
                updated_at=now,
            )
            self._apply(camera, described.description)
            s.add(camera)
            s.flush()
            self.audit.append(
                s,
                by,
                "camera.add",
                target(camera_id),
                details={
                    "name": name,
                    "onvif_url": onvif_url,
                    "username": username,
                    "model": camera.model,
                    "ptz": camera.ptz_supported,
                    "calibration": camera.calibration,
                    "tls_fingerprint": camera.tls_fingerprint,
                    "tls_ca": tls_ca_pem is not None,
                },
            )
            body = camera_detail(camera)
        log.info(
            "camera %s onboarded as %s (%s)", name, camera_id, described.description.info.model
        )
        return body

    @contextlib.contextmanager
    def _name_taken(self, name: str | None) -> Iterator[None]:
        """A 409 when the block's transaction fails on the unique camera name: another
        onboarding or rename took ``name`` after the block checked it (two admins, a
        retried POST), which the check inside the transaction cannot see on
        PostgreSQL until that one commits (an IntegrityError, a 500, before)."""
        try:
            yield
        except IntegrityError:
            if name is None:
                raise
            with self.db.session() as s:
                if s.execute(select(Camera.id).where(Camera.name == name)).first() is None:
                    raise
            raise Conflict(f"a camera named {name!r} already exists") from None

    @staticmethod
    def _apply(camera: Camera, d: Description) -> None:
        camera.manufacturer = d.info.manufacturer
        camera.model = d.info.model
        camera.firmware = d.info.firmware
        camera.serial = d.info.serial
        camera.profile_token = d.main_profile
        camera.sub_profile_token = d.sub_profile
        # Some cameras put user:password@ in their stream URIs: the recorder adds the
        # camera's own credentials when it connects, so none are kept here (#10.11).
        camera.main_stream_uri = shown_uri(d.main_stream_uri)
        camera.sub_stream_uri = shown_uri(d.sub_stream_uri)
        camera.ptz_supported = d.ptz_supported
        camera.capabilities = {
            "profiles": [
                {
                    "token": p.token,
                    "name": p.name,
                    "width": p.width,
                    "height": p.height,
                    "encoding": p.encoding,
                    "ptz": p.ptz,
                }
                for p in d.profiles
            ],
            "ptz_node": d.ptz_node,
            "ptz_configuration": d.ptz_configuration,
        }
        camera.presets = [p.to_dict() for p in d.presets]

    def list_cameras(self, actor: Actor | None) -> list[CameraRecord]:
        if actor is not None:
            self.require_read(actor)
        with self.db.session() as s:
            cameras = s.execute(select(Camera).order_by(Camera.name)).scalars()
            return [camera_record(c) for c in cameras]

    def get(self, actor: Actor, camera_id: str) -> CameraDetail:
        self.require_read(actor)
        with self.db.session() as s:
            return camera_detail(camera_row(s, camera_id))

    def update(self, actor: Actor, camera_id: str, change: CameraChanges) -> CameraDetail:
        """Change a camera's name, onvif_url, username or password (``PATCH``). A new
        address or credentials are tried on the camera first; on failure nothing
        changes."""
        self.require_manage(actor, target(camera_id))
        changes = change.given()
        if not changes:
            raise InvalidArgument(f"PATCH takes {', '.join(CAMERA_FIELDS)}; none was given")
        with self.db.session() as s:
            current = camera_row(s, camera_id)
            name, url, username = current.name, current.onvif_url, current.username
            password_enc, pin = current.password_enc, current.tls_fingerprint
            ca = current.tls_ca_pem
        if "tls_fingerprint" in changes:
            self._check_expected(actor, camera_id, url, ca, changes)
        if "onvif_url" in changes:
            self._check_move(actor, camera_id, url, changes)
        described: Described | None = None
        if {"onvif_url", "username", "password"} & set(changes):
            password = changes.get("password") or self.box.decrypt(camera_id, password_enc)
            new_url = changes.get("onvif_url", url)
            # The pin stays with the address it was learned at: another scheme, host or
            # port is a new camera, whose certificate is pinned as at onboarding.
            same_place = onvif_endpoint(new_url) == onvif_endpoint(url)
            try:
                described = self._describe(
                    changes.get("name", name),
                    new_url,
                    changes.get("username", username),
                    password,
                    pin if same_place else changes.get("tls_fingerprint"),
                    ca,
                )
            except VMSError as exc:
                self._update_failed(actor, camera_id, changes, exc.message)
                raise
        checked = (url, username, password_enc, pin)
        try:
            return self._save(actor, camera_id, changes, described, checked)
        except _ChangedSinceCheck:
            message = (
                f"camera {camera_id} got a new address or credentials while this change was "
                "checked: read it again and retry"
            )
            self._update_failed(actor, camera_id, changes, message)
            raise Conflict(message) from None
        except _Downgraded as refused:
            self._update_failed(actor, camera_id, changes, str(refused))
            raise Conflict(str(refused)) from None

    def _save(
        self,
        actor: Actor,
        camera_id: str,
        changes: Mapping[str, str],
        described: Described | None,
        checked: tuple[str, str, str, str | None],
    ) -> CameraDetail:
        with self._name_taken(changes.get("name")), self.db.transaction() as s:
            camera = camera_row(s, camera_id, lock=True)
            # The move check (#10.11) and the camera's answer were had with what was read
            # before: an address or credentials saved since by someone else would be
            # overwritten unseen, and the stored password sent elsewhere.
            now_there = (
                camera.onvif_url,
                camera.username,
                camera.password_enc,
                camera.tls_fingerprint,
            )
            if (described is not None or "onvif_url" in changes) and now_there != checked:
                raise _ChangedSinceCheck
            if "name" in changes and changes["name"] != camera.name:
                clash = s.execute(select(Camera.id).where(Camera.name == changes["name"])).first()
                if clash is not None:
                    raise Conflict(f"a camera named {changes['name']!r} already exists")
                camera.name = changes["name"]
            if "onvif_url" in changes:
                camera.onvif_url = changes["onvif_url"]
            if "username" in changes:
                camera.username = changes["username"]
            if "password" in changes:
                camera.password_enc = self.box.encrypt(camera_id, changes["password"])
            moved: dict[str, Any] = {}
            if described is not None:
                refused = downgrade(
                    camera_id,
                    camera.main_stream_uri,
                    shown_uri(described.description.main_stream_uri),
                )
                if refused is not None:
                    raise _Downgraded(refused)
                self._apply(camera, described.description)
                pin_before = camera.tls_fingerprint
                if camera.tls_ca_pem is None:
                    camera.tls_fingerprint = described.tls_fingerprint
                if camera.tls_fingerprint != pin_before:  # a move pins what it met (ACC-6)
                    moved["tls_fingerprint"] = {
                        "before": pin_before,
                        "after": camera.tls_fingerprint,
                    }
                moved |= stream_moved(camera)
            camera.updated_at = self.clock.now()
            self.audit.append(
                s,
                who(actor),
                "camera.update",
                target(camera_id),
                details={
                    "changed": sorted(changes),
                    **{k: v for k, v in changes.items() if k not in NOT_COPIED},
                    **expected_in(changes),
                    **moved,
                },
            )
            out = camera_detail(camera)
        self.connections.forget(camera_id)
        return out

    def _check_expected(
        self,
        actor: Actor,
        camera_id: str,
        old_url: str,
        ca: str | None,
        changes: Mapping[str, str],
    ) -> None:
        """``tls_fingerprint`` goes with a move to an ``https`` address of a camera held
        to a pin: at its address now, an admin accepts the certificate it presents
        (:meth:`accept_certificate`); a CA bundle keeps verifying a camera. Refused
        (audited) otherwise, naming the field; nothing is sent anywhere."""
        field = "tls_fingerprint"
        new_url = changes.get("onvif_url", old_url)
        message: str | None = None
        if onvif_endpoint(new_url) == onvif_endpoint(old_url):
            message = (
                f"{field} goes with an onvif_url that moves the camera to another scheme, "
                "host or port; at its address now, accept the certificate it presents "
                f"(POST /api/v1/cameras/{camera_id}/certificate)"
            )
        elif ca is not None:
            message = (
                f"{field}: camera {camera_id} is verified by its CA bundle, which keeps "
                "verifying it at the new address; no pin is taken"
            )
        if message is None:
            try:
                check_tls_options(onvif_endpoint(new_url)[0], changes[field], None)
            except InvalidArgument as exc:
                message = exc.message
        if message is not None:
            self._update_failed(actor, camera_id, changes, message)
            raise InvalidArgument(message, field=field)

    def _check_move(
        self, actor: Actor, camera_id: str, old_url: str, changes: Mapping[str, str]
    ) -> None:
        """A new URL on another scheme, host or port needs the password again: else the
        stored password's digest would go to whatever the new address is (#10.11). The
        refusal is audited; nothing is sent anywhere."""
        new = onvif_endpoint(changes["onvif_url"])
        if "password" in changes or new == onvif_endpoint(old_url):
            return
        message = (
            f"password is required when onvif_url moves the camera from "
            f"{_where(onvif_endpoint(old_url))} to {_where(new)}: the stored password is "
            "only sent to the address it was given for"
        )
        self._update_failed(actor, camera_id, changes, message)
        raise InvalidArgument(message, field="password")

    def _update_failed(
        self, actor: Actor, camera_id: str, changes: Mapping[str, str], error: str
    ) -> None:
        self.audit.record(
            self.db,
            who(actor),
            "camera.update",
            target(camera_id),
            outcome="failed",
            details={"changed": sorted(changes), "error": error},
        )

    def delete(self, actor: Actor, camera_id: str) -> None:
        """Remove a camera; its catalog device row stays (recordings refer to it). Its
        open PTZ sessions end, after the arbiter's Stop (P5): a continuous move (up to
        60 s) would otherwise run on with nobody in control and no camera to stop it
        through."""
        self.require_manage(actor, target(camera_id))
        with self.ptz.deleting(camera_id):  # the Stop is sent here, while the row exists
            now = self.clock.now()
            with self.db.transaction() as s:
                camera = camera_row(s, camera_id, lock=True)
                open_sessions = s.execute(
                    select(PtzSession).where(
                        PtzSession.camera_id == camera_id, PtzSession.ended_at.is_(None)
                    )
                ).scalars()
                for session in open_sessions:
                    session.ended_at, session.end_reason = now, "camera_deleted"
                    session.ended_by = actor.username
                    self.audit.append(
                        s,
                        who(actor),
                        "ptz.session.close",
                        target(camera_id),
                        details={
                            "session_id": session.id,
                            "user": session.username,
                            "reason": "camera_deleted",
                        },
                    )
                    self.ptz.session_ended(session.id)
                s.flush()
                self.audit.append(
                    s,
                    who(actor),
                    "camera.delete",
                    target(camera_id),
                    details={"name": camera.name},
                )
                s.delete(camera)
            self.connections.drop(camera_id)
        # Its open alarms end with it (issue 12.3): no health check will clear them.
        self.events.publish("camera.deleted", {"camera_id": camera_id})

    def set_calibration(
        self,
        actor: Actor | None,
        camera_id: str,
        calibration: Calibration,
        *,
        by: Who | None = None,
    ) -> Calibration:
        """Replace a camera's calibration (``PUT /api/v1/cameras/{id}/calibration``);
        its software limits are checked first."""
        if actor is not None:
            self.require_manage(actor, target(camera_id))
        check_limits(calibration)
        actor_who = who(actor) if actor is not None else by
        assert actor_who is not None
        with self.db.transaction() as s:
            camera = camera_row(s, camera_id, lock=True)
            before = camera.calibration
            camera.calibration = calibration.to_dict()
            camera.updated_at = self.clock.now()
            self.audit.append(
                s,
                actor_who,
                "camera.calibration",
                target(camera_id),
                details={"before": before, "after": camera.calibration},
            )
        self.connections.forget(camera_id)
        return calibration

    def store_presets(self, camera_id: str, presets: list[dict[str, Any]]) -> None:
        """Keep the stored preset list in step after set/remove (no audit: the PTZ
        command that changed it is audited)."""
        with self.db.transaction() as s:
            camera = camera_row(s, camera_id, lock=True)
            camera.presets = presets
            camera.updated_at = self.clock.now()
        self.connections.forget(camera_id)
