"""The few error kinds of the VMS, and the one place they map to HTTP and exit codes.

Every error says what was wrong and with which value (STYLE practice 4).
"""

from __future__ import annotations

from typing import Any, ClassVar


class VMSError(Exception):
    """Base class. ``kind`` is the stable name used in API errors."""

    kind: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class InvalidArgument(VMSError):
    kind = "invalid_argument"
    http_status = 400
    exit_code = 2


class Unauthenticated(VMSError):
    kind = "unauthenticated"
    http_status = 401
    exit_code = 3


class PermissionDenied(VMSError):
    kind = "permission_denied"
    http_status = 403
    exit_code = 3


class NotFound(VMSError):
    kind = "not_found"
    http_status = 404
    exit_code = 4


class Conflict(VMSError):
    kind = "conflict"
    http_status = 409
    exit_code = 5


class FailedPrecondition(VMSError):
    kind = "failed_precondition"
    http_status = 422
    exit_code = 6


class RateLimited(VMSError):
    kind = "rate_limited"
    http_status = 429
    exit_code = 7


class Unavailable(VMSError):
    kind = "unavailable"
    http_status = 503
    exit_code = 8


class StoreUnavailable(Unavailable):
    """The object store did not answer (a 503, a timeout, a refused connection) or
    refused our key: nothing was refused of what was sent, and the same request may
    succeed later (a recorder segment is kept for retry: docs/design/recording.md 4a)."""


class InsufficientStorage(VMSError):
    kind = "insufficient_storage"
    http_status = 507
    exit_code = 9


class DataLoss(VMSError):
    kind = "data_loss"
    http_status = 500
    exit_code = 10
