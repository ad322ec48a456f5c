"""Which cameras the recorder records: the onboarded cameras of the camera registry
(``vms.db.models.Camera``, filled by ``onvif_control`` onboarding).

``recorder`` does not import ``onvif_control``: the stored passwords are decrypted by
the registry's credential box, the :class:`~vms.ports.CredentialBox` port that
``onvif_control`` provides.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import select

from recorder.pipeline import CameraSpec
from vms.camera_model import Calibration
from vms.db.models import Camera
from vms.errors import FailedPrecondition, VMSError
from vms.media.rtsps import CameraTls
from vms.ports import CredentialBox
from vms.services import Services
from vms.urls import redact_credentials, stream_url_problem

log = logging.getLogger(__name__)


def with_credentials(url: str, username: str, password: str) -> str:
    """``url`` with ``username:password@`` (percent-encoded) in place of any user info."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def stream_tls(row: Camera) -> CameraTls | None:
    """How the camera's ``rtsps`` stream is checked: against its CA bundle, else the pin
    of its RTSP port (``rtsp_tls_fingerprint``, for a camera whose RTSPS port presents
    another certificate than its HTTPS port), else the pin of its ONVIF side (a camera
    mostly presents one certificate on both); None for ``rtsp``, or a camera with none
    (onboarded over ``http``). A pin accepted later changes the spec, so the stream
    restarts with it (docs/design/security.md, "Camera certificates", 8)."""
    if not (row.main_stream_uri or "").lower().startswith("rtsps://"):
        return None
    if row.tls_ca_pem:
        return CameraTls(row.name, ca_pem=row.tls_ca_pem)
    if row.rtsp_tls_fingerprint:
        return CameraTls(row.name, fingerprint=row.rtsp_tls_fingerprint)
    if row.tls_fingerprint:
        return CameraTls(row.name, fingerprint=row.tls_fingerprint, pin_of="https")
    return None


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
        specs[row.id] = CameraSpec(
            row.id, url, Calibration.from_dict(row.calibration), stream_tls(row)
        )
    return RegistrySnapshot(specs, frozenset(unreadable))


def registered_cameras(
    services: Services, decryptor: CredentialBox | None = None
) -> list[CameraSpec]:
    """A :class:`CameraSpec` per onboarded camera with a main stream (ordered by id)."""
    return list(read_registry(services, decryptor).specs.values())
