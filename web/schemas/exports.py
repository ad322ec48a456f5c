"""Exports API models (issue 15, item 4)."""

from __future__ import annotations

from web.contract import ResponseModel


class PublicKeyOut(ResponseModel):
    """The export signing key recipients check ``manifest.sig`` with."""

    algorithm: str
    pem: str
    fingerprint: str
