"""The agency's C2PA chain (vms/exports/credentials.py) is made once, consistent, even
when the export and redaction jobs (threads of the jobs role) or a CLI export ask for it
first at the same moment (INV-8)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vms.exports.credentials import (
    CA_CERT,
    CA_KEY,
    SIGNER_CERT,
    SIGNER_KEY,
    AgencyChain,
    load_or_create_chain,
)

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def _public(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _cert_public(pem: bytes) -> bytes:
    return (
        x509.load_pem_x509_certificate(pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_a_chain_made_by_several_callers_at_once_is_one_consistent_chain_INV_8(
    tmp_path: Path,
) -> None:
    """INV-8: two first callers each made a CA and a signer and wrote them file by file
    (through one temp name per pid): the folder could end with one caller's key beside the
    other's certificate, and every later export signed with a key its certificate does
    not name, for good; or a caller failed (FileNotFoundError). The chain is made under a
    lock: every caller gets the same chain, whose certificates match their keys."""
    for n in range(8):
        folder = tmp_path / f"secrets-{n}"
        barrier = threading.Barrier(4)
        got: list[AgencyChain | Exception] = []

        def make(folder: Path = folder, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                got.append(load_or_create_chain(folder, NOW))
            except Exception as exc:  # collected: the assertion names it
                got.append(exc)

        threads = [threading.Thread(target=make) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not [g for g in got if isinstance(g, Exception)], got
        assert len(set(got)) == 1  # every caller the same chain
        assert _public((folder / CA_KEY).read_bytes()) == _cert_public(
            (folder / CA_CERT).read_bytes()
        )
        assert _public((folder / SIGNER_KEY).read_bytes()) == _cert_public(
            (folder / SIGNER_CERT).read_bytes()
        )
        signer = x509.load_pem_x509_certificate((folder / SIGNER_CERT).read_bytes())
        signer.verify_directly_issued_by(
            x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
        )
