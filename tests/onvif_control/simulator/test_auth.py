"""WS-Security UsernameToken and HTTP/RTSP Digest checks (pure, explicit times)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from onvif_control.simulator.auth import (
    DigestAuthenticator,
    UsernameToken,
    UsernameTokenChecker,
    parse_auth_params,
)

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
DIGEST = UsernameTokenChecker.DIGEST_TYPE


def token(password="secret", created=NOW, nonce=b"0123456789abcdef", user="admin", kind=DIGEST):
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + stamp.encode() + password.encode()).digest())
    return UsernameToken(user, digest.decode(), kind, base64.b64encode(nonce).decode(), stamp)


def test_valid_token_then_replay_refused():
    checker = UsernameTokenChecker("admin", "secret")
    assert checker.check(token(), NOW) is None
    assert checker.check(token(), NOW) == "replayed nonce"
    assert checker.check(token(nonce=b"other"), NOW) is None


def test_wrong_password_user_type_missing_and_stale():
    checker = UsernameTokenChecker("admin", "secret")
    assert "wrong" in str(checker.check(token(password="nope"), NOW))
    assert "wrong" in str(checker.check(token(user="root"), NOW))
    assert "PasswordDigest" in str(checker.check(token(kind="PasswordText"), NOW))
    assert "no WS-Security" in str(checker.check(None, NOW))
    old = token(created=NOW - dt.timedelta(minutes=10))
    assert "outside" in str(checker.check(old, NOW))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _authorization(auth: DigestAuthenticator, now: float, password: str, qop: bool) -> str:
    nonce = parse_auth_params(auth.challenge(now, qop=qop).removeprefix("Digest "))["nonce"]
    ha1 = _md5(f"admin:{auth.realm}:{password}")
    ha2 = _md5("DESCRIBE:rtsp://h/stream1")
    if qop:
        response = _md5(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}")
        extra = ', qop=auth, nc=00000001, cnonce="abc"'
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
        extra = ""
    return (
        f'Digest username="admin", realm="{auth.realm}", nonce="{nonce}", '
        f'uri="rtsp://h/stream1", response="{response}"{extra}'
    )


def test_digest_with_and_without_qop():
    auth = DigestAuthenticator("r", "admin", "secret", nonce_lifetime=60)
    for qop in (False, True):
        header = _authorization(auth, 100.0, "secret", qop)
        assert auth.check("DESCRIBE", header, 120.0, allow_basic=False)
        assert not auth.check("SETUP", header, 120.0, allow_basic=False)  # method is hashed
        assert not auth.check("DESCRIBE", header, 200.0, allow_basic=False)  # nonce expired
        assert not auth.check(
            "DESCRIBE", _authorization(auth, 100.0, "bad", qop), 120.0, allow_basic=False
        )


def test_forged_nonce_and_basic():
    auth = DigestAuthenticator("r", "admin", "secret")
    other = DigestAuthenticator("r", "admin", "secret")  # another secret
    assert not auth.check(
        "DESCRIBE", _authorization(other, 1.0, "secret", False), 2.0, allow_basic=False
    )
    basic = "Basic " + base64.b64encode(b"admin:secret").decode()
    assert auth.check("GET", basic, 0.0, allow_basic=True)
    assert not auth.check("GET", basic, 0.0, allow_basic=False)
    assert not auth.check("GET", "Basic !!!", 0.0, allow_basic=True)
    assert not auth.check("GET", None, 0.0, allow_basic=True)
    assert not auth.check("GET", "Digest garbage", 0.0, allow_basic=True)


def test_parse_auth_params_handles_quotes_and_commas():
    params = parse_auth_params('username="a,b", realm="x \\"y\\"", nc=00000001, qop=auth')
    assert params == {"username": "a,b", "realm": 'x "y"', "nc": "00000001", "qop": "auth"}
