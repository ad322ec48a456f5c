"""Which cameras the recorder records: the onboarded cameras of the camera registry
(``vms.db.models.Camera``, filled by ``onvif_control`` onboarding).

``recorder`` does not import ``onvif_control``: the stored passwords are decrypted by
the registry's credential box, the :class:`~vms.ports.CredentialBox` port that
``onvif_control`` provides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from recorder.pipeline import CameraSpec
from vms.audit.log import SYSTEM_ROLE, Who
from vms.camera_model import Calibration
from vms.db.models import Camera
from vms.errors import FailedPrecondition, Unavailable, VMSError
from vms.media.rtsps import CameraTls, stream_endpoint
from vms.ports import CredentialBox
from vms.services import Services
from vms.urls import redact_credentials, stream_url_problem

log = logging.getLogger(__name__)

# Who stores the pin an rtsps stream's first connection learned (audit).
STREAM_PINNER = Who("recorder-streams", SYSTEM_ROLE)


def with_credentials(url: str, username: str, password: str) -> str:
    """``url`` with ``username:password@`` (percent-encoded) in place of any user info."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def stream_tls(row: Camera, first_use: Callable[[str], str] | None = None) -> CameraTls | None:
    """How the camera's ``rtsps`` stream is checked: against its CA bundle, else the pin
    of its RTSP port (``rtsp_tls_fingerprint``, for a camera whose RTSPS port presents
    another certificate than its HTTPS port, or learned on first use), else the pin of
    its ONVIF side (a camera mostly presents one certificate on both), else, for a camera
    with none (onboarded over ``http``), ``first_use`` (trust on first use: see
    :func:`pin_on_first_use`); None for ``rtsp``, or without ``first_use``. A pin
    accepted later changes the spec, so the stream restarts with it
    (docs/design/security.md, "Camera certificates", 8)."""
    if not (row.main_stream_uri or "").lower().startswith("rtsps://"):
        return None
    if row.tls_ca_pem:
        return CameraTls(row.name, ca_pem=row.tls_ca_pem)
    if row.rtsp_tls_fingerprint:
        # Bound to where it was taken: a stream moved elsewhere is refused there until an
        # admin accepts its certificate (never checked against this one, never pinned on
        # first use), design 9.
        return CameraTls(
            row.name, fingerprint=row.rtsp_tls_fingerprint, pinned_at=row.rtsp_tls_endpoint
        )
    if row.tls_fingerprint:
        return CameraTls(row.name, fingerprint=row.tls_fingerprint, pin_of="https")
    if first_use is not None:
        return CameraTls(row.name, first_use=first_use)
    return None


def pin_on_first_use(services: Services, camera_id: str, stream_uri: str) -> Callable[[str], str]:
    """Stores the certificate an ``rtsps`` camera without a pin or CA bundle presented
    at its stream's first handshake as its RTSP pin (trust on first use, before a byte
    is written), if the row still has none and the same stream URI, audited
    ``camera.certificate.pin`` by the system with the port (as a pre-0045 camera's ONVIF
    pin is); returns the pin the connection is then held to: this one, or the one stored
    meanwhile (an admin, another node). Unavailable when the camera changed meanwhile
    (the next registry round reads it again)."""

    def pin(fingerprint: str) -> str:
        try:
            with services.db.transaction() as s:
                row = s.get(Camera, camera_id, with_for_update=True)
                if row is None or row.main_stream_uri != stream_uri:
                    raise Unavailable(
                        f"camera {camera_id}: opening the rtsps stream: the camera was "
                        "deleted or its stream changed meanwhile; nothing was sent to it"
                    )
                known = stream_tls(row)
                here = stream_endpoint(stream_uri)
                if known is not None:
                    if known.fingerprint is None:  # a CA bundle given meanwhile
                        raise Unavailable(
                            f"camera {row.name}: opening the rtsps stream: it got a CA "
                            "bundle meanwhile; nothing was sent to it"
                        )
                    if known.pinned_at not in (None, here):  # a pin of another place
                        raise Unavailable(
                            f"camera {row.name}: opening the rtsps stream: it got a pin "
                            f"for {known.pinned_at} meanwhile; nothing was sent to it"
                        )
                    return known.fingerprint
                row.rtsp_tls_fingerprint, row.rtsp_tls_endpoint = fingerprint, here
                services.audit.append(
                    s,
                    STREAM_PINNER,
                    "camera.certificate.pin",
                    f"camera:{camera_id}",
                    details={
                        "name": row.name,
                        "port": "rtsp",
                        "tls_fingerprint": fingerprint,
                        "endpoint": here,
                    },
                )
        except SQLAlchemyError as exc:
            raise Unavailable(
                f"camera {camera_id}: storing its rtsps certificate pin: {exc}"
            ) from None
        return fingerprint

    return pin


@dataclass(frozen=True)
class RegistrySnapshot:
    """The cameras to record (``specs`` by id) and the ids of registered cameras whose
    stored credentials could not be read (``unreadable``: left as they are, not stopped)."""

    specs: dict[str, CameraSpec]
    unreadable: frozenset[str]

    def only(self, camera_ids: Iterable[str]) -> RegistrySnapshot:
        """The snapshot restricted to ``camera_ids`` (those this media node holds)."""
        keep = set(camera_ids)
        return RegistrySnapshot(
            {k: v for k, v in self.specs.items() if k in keep}, self.unreadable & keep
        )


def read_registry(services: Services, decryptor: CredentialBox | None = None) -> RegistrySnapshot:
    """Every onboarded camera with a main stream, with its credentials in the URL; one
    whose stream URI is not rtsp(s) to its own host (or ``[cameras] stream_hosts``) is
    logged and left out."""
    if decryptor is None:
        decryptor = services.ports.find(CredentialBox)
        if decryptor is None:
            raise FailedPrecondition("the camera registry (onvif_control) is not installed")
    specs: dict[str, CameraSpec] = {}
    unreadable: set[str] = set()
    stream_hosts = services.config.cameras.stream_host_list
    with services.db.session() as s:
        rows = list(s.execute(select(Camera).order_by(Camera.id)).scalars())
    for row in rows:
        if not row.main_stream_uri:
            log.debug("camera %s (%s): no main stream; not recorded", row.id, row.name)
            continue
        try:
            password = decryptor.decrypt(row.id, row.password_enc)
        except VMSError as exc:
            log.error("camera %s (%s): %s", row.id, row.name, exc)
            unreadable.add(row.id)
            continue
        # Only the camera's own host (or a relay the admin named) gets its credentials,
        # and only over RTSP: FFmpeg would open a file:, concat: or http: URL a
        # camera answered before onboarding checked it as readily (#10.11).
        camera_host = urlsplit(row.onvif_url).hostname or ""
        problem = stream_url_problem(row.main_stream_uri, camera_host, stream_hosts)
        if problem is not None:
            log.error(
                "camera %s (%s): stream URI %r not recorded: %s",
                row.id,
                row.name,
                redact_credentials(row.main_stream_uri)[:200],
                problem,
            )
            continue
        url = with_credentials(row.main_stream_uri, row.username, password)
        first_use = pin_on_first_use(services, row.id, row.main_stream_uri)
        specs[row.id] = CameraSpec(
            row.id, url, Calibration.from_dict(row.calibration), stream_tls(row, first_use)
        )
    return RegistrySnapshot(specs, frozenset(unreadable))


def registered_cameras(
    services: Services, decryptor: CredentialBox | None = None
) -> list[CameraSpec]:
    """A :class:`CameraSpec` per onboarded camera with a main stream (ordered by id)."""
    return list(read_registry(services, decryptor).specs.values())
