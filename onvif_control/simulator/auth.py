"""Authentication checks of the simulated camera. Pure: callers pass ``now``.

- WS-Security UsernameToken with PasswordDigest (ONVIF Core 5.12):
  ``Base64(SHA-1(nonce + created + password))``, with ``Created`` within a window of
  ``now`` and each nonce accepted once inside that window (replay protection).
- HTTP/RTSP Digest (RFC 7616 with MD5, and the RFC 2069 form without ``qop`` that many
  RTSP clients use), with stateless nonces: ``time:HMAC(secret, time)``, valid for
  ``nonce_lifetime`` seconds. Basic is accepted only where the caller allows it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)\s*,?')


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """The WS-Security PasswordDigest for a raw nonce, ``Created`` text and password."""
    raw = hashlib.sha1(nonce + created.encode("utf-8") + password.encode("utf-8")).digest()  # noqa: S324 - mandated by WS-Security
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class UsernameToken:
    """The fields of a WS-Security UsernameToken as received."""

    username: str
    password: str
    password_type: str
    nonce_b64: str | None
    created: str | None


class UsernameTokenChecker:
    """Verifies UsernameTokens for one account, rejecting stale or replayed ones."""

    DIGEST_TYPE = (
        "http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
    )

    def __init__(self, username: str, password: str, window: dt.timedelta | None = None) -> None:
        self.username = username
        self._password = password
        self._window = window or dt.timedelta(minutes=5)
        self._seen: OrderedDict[str, dt.datetime] = OrderedDict()

    def check(self, token: UsernameToken | None, now: dt.datetime) -> str | None:
        """``None`` if ``token`` is valid at ``now``, else the reason it is not."""
        if token is None:
            return "no WS-Security UsernameToken"
        if token.password_type != self.DIGEST_TYPE:
            return f"password type {token.password_type!r} is not PasswordDigest"
        if token.nonce_b64 is None or token.created is None:
            return "UsernameToken without Nonce or Created"
        try:
            nonce = base64.b64decode(token.nonce_b64, validate=True)
            created = dt.datetime.fromisoformat(token.created.replace("Z", "+00:00"))
        except (binascii.Error, ValueError):
            return "malformed Nonce or Created"
        if created.tzinfo is None:
            return f"Created {token.created!r} has no time zone"
        if abs(now - created) > self._window:
            return f"Created {token.created} is outside {self._window} of {now.isoformat()}"
        expected = password_digest(nonce, token.created, self._password)
        ok_user = hmac.compare_digest(token.username.encode(), self.username.encode())
        if not (ok_user and hmac.compare_digest(expected, token.password)):
            return f"wrong username or password for user {token.username!r}"
        self._forget_before(now - self._window)
        if token.nonce_b64 in self._seen:
            return "replayed nonce"
        self._seen[token.nonce_b64] = now
        return None

    def _forget_before(self, limit: dt.datetime) -> None:
        while self._seen:
            first = next(iter(self._seen))
            if self._seen[first] >= limit and len(self._seen) < 100_000:
                break
            self._seen.popitem(last=False)


def parse_auth_params(text: str) -> dict[str, str]:
    """Parse ``key=value, key="quoted"`` parameters of an Authorization header."""
    params: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _PARAM.match(text, pos)
        if not match or match.end() == pos:
            break
        value = match.group(3) if match.group(3) is not None else match.group(2)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = match.end()
    return params


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - mandated by Digest


class DigestAuthenticator:
    """Issues Digest challenges and checks Authorization headers for one account."""

    def __init__(
        self,
        realm: str,
        username: str,
        password: str,
        *,
        nonce_lifetime: float = 600.0,
        secret: bytes | None = None,
    ) -> None:
        self.realm = realm
        self.username = username
        self._password = password
        self._lifetime = nonce_lifetime
        self._secret = secret or secrets.token_bytes(32)

    def make_nonce(self, now: float) -> str:
        """A nonce that :meth:`check` accepts until ``now + nonce_lifetime``."""
        stamp = f"{now:.3f}"
        mac = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        return base64.b64encode(f"{stamp}:{mac}".encode()).decode("ascii")

    def challenge(self, now: float, *, qop: bool, stale: bool = False) -> str:
        """A ``WWW-Authenticate`` value (with ``qop="auth"`` when ``qop``)."""
        parts = [f'Digest realm="{self.realm}"', f'nonce="{self.make_nonce(now)}"']
        if qop:
            parts.append('qop="auth"')
        parts.append("algorithm=MD5")
        if stale:
            parts.append("stale=true")
        return ", ".join(parts)

    def check(self, method: str, header: str | None, now: float, *, allow_basic: bool) -> bool:
        """Whether the ``Authorization`` header authenticates the account for ``method``."""
        if not header:
            return False
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() == "basic" and allow_basic:
            try:
                user, _, password = base64.b64decode(rest.strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return hmac.compare_digest(user.encode(), self.username.encode()) and (
                hmac.compare_digest(password.encode(), self._password.encode())
            )
        if scheme.lower() != "digest":
            return False
        p = parse_auth_params(rest)
        required = ("username", "realm", "nonce", "uri", "response")
        if any(k not in p for k in required) or p["realm"] != self.realm:
            return False
        if not self._nonce_valid(p["nonce"], now):
            return False
        if p.get("algorithm", "MD5").upper() != "MD5":
            return False
        ha1 = _md5(f"{self.username}:{self.realm}:{self._password}")
        ha2 = _md5(f"{method}:{p['uri']}")
        if "qop" in p:
            if p["qop"] != "auth" or "nc" not in p or "cnonce" not in p:
                return False
            expected = _md5(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        else:
            expected = _md5(f"{ha1}:{p['nonce']}:{ha2}")
        user_ok = hmac.compare_digest(p["username"].encode(), self.username.encode())
        return user_ok and hmac.compare_digest(expected, p["response"].lower())

    def _nonce_valid(self, nonce: str, now: float) -> bool:
        try:
            stamp, _, mac = base64.b64decode(nonce, validate=True).decode("ascii").partition(":")
            issued = float(stamp)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        good = hmac.new(self._secret, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        # The stamp is rounded to milliseconds, so it may be a hair later than ``now``.
        return hmac.compare_digest(good, mac) and -0.01 <= now - issued <= self._lifetime
