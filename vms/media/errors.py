"""The one translation of PyAV (FFmpeg) errors into the kinds of :mod:`vms.errors`.

No ``av`` exception leaves :mod:`vms.media`; callers catch these kinds
(docs/design/dependencies.md, "The media adapter"):

- :class:`~vms.errors.Unavailable`: the camera or stream cannot be reached, refused the
  credentials, stalled, ended, or the file could not be opened or written (OS error);
- :class:`~vms.errors.DataLoss`: the bytes could not be decoded, encoded or muxed (the
  media data is corrupt, so that part of it is lost);
- :class:`~vms.errors.FailedPrecondition`: the stream is not one we record (no video,
  not H.264): the camera must be configured differently;
- :class:`~vms.errors.InvalidArgument`: a stored file handed to :func:`~vms.media.probe.probe`
  is not acceptable media (raised there, with :func:`reason` for FFmpeg's words).
"""

from __future__ import annotations

import av.error

from vms.errors import DataLoss, Unavailable, VMSError
from vms.urls import redact_credentials as redact


def translate(exc: Exception, what: str) -> VMSError:
    """``exc`` raised by PyAV while doing ``what``, as one of our kinds (message redacted)."""
    # FFmpeg names the URL it failed on, credentials included (#10.11).
    said = redact(str(exc))
    if isinstance(exc, av.error.ExitError | av.error.ConnectionRefusedError | TimeoutError):
        return Unavailable(f"{what}: {said}")
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.PermissionError):
        return Unavailable(f"{what}: the camera refused the credentials ({said})")
    if isinstance(exc, av.error.InvalidDataError):
        return DataLoss(f"{what}: invalid data ({said})")
    if isinstance(exc, av.error.FFmpegError | OSError):
        return Unavailable(f"{what}: {said}")
    # PyAV's own checks (ValueError, TypeError...) on bytes it was handed.
    return DataLoss(f"{what}: {redact(repr(exc))}")


def reason(exc: Exception) -> str:
    """FFmpeg's words without the (temporary) file name."""
    return str(getattr(exc, "strerror", None) or exc)
