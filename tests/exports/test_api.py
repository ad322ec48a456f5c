"""``GET /api/v1/exports/public-key``: the key packages are signed with, for any
signed-in user; refused without credentials."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vms.exports.signing import load_or_create_signer
from vms.services import Services


def test_the_public_key_is_the_one_packages_are_signed_with(
    client: Any, tokens: dict[str, str], services: Services
) -> None:
    r = client.get(
        "/api/v1/exports/public-key", headers={"Authorization": f"Bearer {tokens['officer']}"}
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    signer = load_or_create_signer(services.config.secrets_dir)
    assert body["algorithm"] == "Ed25519" and body["fingerprint"] == signer.fingerprint
    key = serialization.load_pem_public_key(body["pem"].encode())
    assert isinstance(key, Ed25519PublicKey)
    key.verify(signer.sign(b"manifest"), b"manifest")  # raises if not the pair
    assert client.get("/api/v1/exports/public-key").status_code == 401
