"""Which cameras the recorder records: the onboarded cameras of the camera registry
(``vms.db.models.Camera``, filled by ``onvif_control`` onboarding).

``recorder`` does not import ``onvif_control``: the stored passwords are decrypted by
the registry's credential box, found in ``services.extensions["cameras"].box`` (any
object with ``decrypt(camera_id, stored) -> str``).
"""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import select

from recorder.pipeline import CameraSpec
from vms.camera_model import Calibration
from vms.db.models import Camera
from vms.errors import FailedPrecondition
from vms.services import Services

log = logging.getLogger(__name__)


class Decryptor(Protocol):
    def decrypt(self, camera_id: str, stored: str) -> str: ...


def with_credentials(url: str, username: str, password: str) -> str:
    """``url`` with ``username:password@`` (percent-encoded) in place of any user info."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def registered_cameras(services: Services, decryptor: Decryptor | None = None) -> list[CameraSpec]:
    """A :class:`CameraSpec` per onboarded camera with a main stream (ordered by id)."""
    if decryptor is None:
        registry = services.extensions.get("cameras")
        decryptor = getattr(registry, "box", None)
        if decryptor is None:
            raise FailedPrecondition("the camera registry (onvif_control) is not installed")
    specs = []
    with services.db.session() as s:
        rows = list(s.execute(select(Camera).order_by(Camera.id)).scalars())
        for row in rows:
            if not row.main_stream_uri:
                log.info("camera %s (%s): no main stream; not recorded", row.id, row.name)
                continue
            password = decryptor.decrypt(row.id, row.password_enc)
            url = with_credentials(row.main_stream_uri, row.username, password)
            specs.append(CameraSpec(row.id, url, Calibration.from_dict(row.calibration)))
    return specs
