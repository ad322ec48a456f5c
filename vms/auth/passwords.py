"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from vms.errors import InvalidArgument

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8


@functools.cache
def _dummy_hash() -> str:
    # Verifying against this hash when the user does not exist keeps timing equal.
    return _hasher.hash("not-a-real-password-0000")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(
            f"passwords must be at least {MIN_PASSWORD_LENGTH} characters "
            f"(this one has {len(password)})"
        )
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
