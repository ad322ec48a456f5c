"""Exports API (``/api/v1/exports``, issue 15, item 4). So far the export key: the
public key and fingerprint recipients compare packages against
(docs/design/exports.md, "The key"). Any signed-in user may read it."""

from __future__ import annotations

from vms.exports.signing import PublicKey, load_or_create_signer
from web.contract import ApiBlueprint
from web.schemas.exports import PublicKeyOut
from web.security import require_actor, services

bp = ApiBlueprint("exports_api", __name__, tag="exports")


@bp.operation("GET", "/exports/public-key", response=PublicKeyOut)
def public_key() -> PublicKey:
    """The export signing key (Ed25519) and its fingerprint (SHA-256 of the raw key).

    Every package's ``manifest.sig`` verifies with this key; recipients compare the
    fingerprint ``verify.py`` prints with this one."""
    require_actor()
    return load_or_create_signer(services().config.secrets_dir).public()
