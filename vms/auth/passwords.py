"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from vms.errors import InvalidArgument

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8
# Longer passwords are refused before any hashing: argon2 over a 200 MB "password" cost
# the server about 1 GB (issue 10, item 6).
MAX_PASSWORD_BYTES = 1024


@functools.cache
def _dummy_hash() -> str:
    # Verifying against this hash when the user does not exist keeps timing equal.
    return _hasher.hash("not-a-real-password-0000")


def check_length(password: str) -> None:
    """Refuse a password longer than ``MAX_PASSWORD_BYTES`` (UTF-8) before it is hashed."""
    size = len(password.encode("utf-8", "surrogatepass"))
    if size > MAX_PASSWORD_BYTES:
        raise InvalidArgument(
            f"passwords must be at most {MAX_PASSWORD_BYTES} bytes (this one has {size})"
        )


def check_password(password: str) -> None:
    """Refuse a password the policy does not take (too short, too long), before anything
    is done with it."""
    check_length(password)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(
            f"passwords must be at least {MIN_PASSWORD_LENGTH} characters "
            f"(this one has {len(password)})"
        )


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; one longer than the cap is refused (InvalidArgument)
    without hashing."""
    check_length(password)
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
