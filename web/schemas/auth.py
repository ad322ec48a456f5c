"""Sign-in and revocation models (ACC-1). Usernames, passwords and tokens are taken as
sent (never stripped): a password is compared byte for byte."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from web.contract import OutTime, RequestModel, ResponseModel


class TokenIn(RequestModel):
    # No NUL: a name PostgreSQL cannot store is no user's (and no throttle key).
    username: Annotated[str, Field(pattern=r"^[^\x00]*$")]
    password: str


class TokenOut(ResponseModel):
    token: str
    expires_at: OutTime


class RevokeTokenIn(RequestModel):
    """One of one's own tokens (admins: anyone's)."""

    token: str


class PasswordChangeIn(RequestModel):
    current_password: str
    new_password: str


class LogoutOut(ResponseModel):
    revoked: str | None = Field(description="The kind revoked: session or token")


class TokenRevokedOut(ResponseModel):
    revoked: Literal["token"]


class RevokedOut(ResponseModel):
    sessions_revoked: int
    tokens_revoked: int


class MeOut(ResponseModel):
    username: str
    role: str
    badge: str | None
    supervises: list[str]
