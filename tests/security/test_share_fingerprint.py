"""What an outside recipient (no account) can check a shared package against (INV-8):
the package carries its own public key, so its signature proves only that *some* key
signed it. The README says to compare the fingerprint with the one the agency publishes
at ``GET /api/v1/exports/public-key``, which refuses anyone without an account; the share
page is the one page of the agency such a recipient can open, so it must show it."""

from __future__ import annotations

import hashlib

from flask import Flask
from flask.testing import FlaskClient

from tests.security.test_share_links import OUTSIDER, share
from vms.exports.signing import load_or_create_signer
from vms.services import Services


def test_the_share_page_shows_the_export_key_fingerprint_and_each_files_sha256_INV_8(
    app: Flask,
    client: FlaskClient,
    services: Services,
    tokens: dict[str, str],
    released: str,
    document_item: tuple[str, bytes],
) -> None:
    fingerprint = load_or_create_signer(services.config.secrets_dir).fingerprint
    link = share(client, tokens, released)
    outsider = app.test_client()  # no session, no token
    assert outsider.get("/api/v1/exports/public-key").status_code == 401
    page = outsider.get(f"/s/{link['token']}", environ_base=OUTSIDER)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert fingerprint in html, html
    assert f"--fingerprint {fingerprint}" in html, html
    assert hashlib.sha256(document_item[1]).hexdigest() in html, html
