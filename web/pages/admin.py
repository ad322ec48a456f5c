"""The keys page (``/admin/keys``, issue 15.4): the public keys the agency publishes, so
that recipients and auditors can compare fingerprints without asking us: the export
signing key (every package's ``manifest.sig``; ``verify.py`` prints its fingerprint),
the C2PA CA certificate (trust anchor of the clips' Content Credentials) and the audit
checkpoint key (signed checkpoints and audit exports, docs/design/audit-chain.md).

Admins and auditors (``audit.read``) see it: they publish and check these fingerprints.
The keys are public (``GET /api/v1/exports/public-key`` gives the export key to any
signed-in user); the private halves stay in the secrets folder and are never read here
except to derive the public half.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import render_template

from vms.auth.permissions import Action
from vms.exports.signing import load_or_create_signer
from web.pages.blueprint import page_blueprint
from web.security import require_actor, services

bp = page_blueprint("admin_pages", __name__)

C2PA_CA = "c2pa-ca.pem"  # vms/exports/credentials.py CA_CERT (that module loads c2pa)


@dataclass(frozen=True)
class KeyView:
    name: str
    purpose: str
    algorithm: str
    fingerprint: str | None  # None: not made yet
    how: str  # how the fingerprint is computed
    pem: str | None


def _c2pa_ca() -> KeyView:
    path = services().config.secrets_dir / C2PA_CA
    fingerprint = pem = None
    if path.is_file():
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        pem = path.read_text()
    return KeyView(
        "C2PA CA certificate",
        "Trust anchor of the Content Credentials in every exported clip (shipped in each"
        " package as c2pa-ca.pem). Made with the first export.",
        "ECDSA P-256 (ES256)",
        fingerprint,
        "SHA-256 of the certificate (DER)",
        pem,
    )


@bp.get("/admin/keys")
def keys() -> Any:
    actor = require_actor()
    services().authoriser.require(actor, Action.AUDIT_READ, "keys")
    export = load_or_create_signer(services().config.secrets_dir).public()
    audit = services().checkpoints.signer
    shown = [
        KeyView(
            "Export signing key",
            "Signs every export package's manifest (manifest.sig); verify.py prints this"
            " fingerprint and takes it as --fingerprint.",
            export.algorithm,
            export.fingerprint,
            "SHA-256 of the raw 32-byte public key",
            export.pem,
        ),
        _c2pa_ca(),
        KeyView(
            "Audit checkpoint key",
            "Signs the audit chain's checkpoints and audit exports.",
            "Ed25519",
            audit.fingerprint,
            "SHA-256 of the raw 32-byte public key",
            audit.public_pem,
        ),
    ]
    return render_template("admin_keys.html", keys=shown)
