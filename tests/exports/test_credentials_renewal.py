"""The agency's C2PA chain outlives its certificates (INV-8, REL-2): the export signer's
certificate is made for two years and the CA's for ten, and c2pa refuses to sign with a
certificate that is not valid at the time of signing. Without renewal every export and
every redaction fails from the day the signer certificate expires.

c2pa checks validity against the real time of signing, so the chains here are made as if
set up long ago (``now`` in the past) and then loaded at the real time.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.media import make_video
from vms.exports.credentials import (
    SIGNER_CERT,
    ClipProvenance,
    SourceRef,
    load_or_create_chain,
    read_credentials,
    sign_clip,
)

NOW = dt.datetime.now(dt.UTC)  # c2pa signs at the real time, whatever clock we inject


def signs(tmp_path: Path, secrets: Path) -> str:
    """Sign a short clip with the chain in ``secrets`` as loaded now: the reader's state
    with the chain's CA as trust anchor."""
    chain = load_or_create_chain(secrets, NOW)
    clip = tmp_path / "clip.mp4"
    make_video(clip, seconds=1.0)
    about = ClipProvenance("exp-r", "clip", NOW, "keyframe", NOW, NOW, [SourceRef("m", "0" * 64)])
    sign_clip(clip, tmp_path / "signed.mp4", chain, about)
    return read_credentials(tmp_path / "signed.mp4", chain.ca_pem).state


def test_an_expired_signer_certificate_is_renewed_under_the_same_ca_INV_8(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    first = load_or_create_chain(secrets, NOW - dt.timedelta(days=800))  # expired 70 days ago
    assert signs(tmp_path, secrets) == "Trusted"
    renewed = x509.load_pem_x509_certificate((secrets / SIGNER_CERT).read_bytes())
    assert renewed.not_valid_before_utc <= NOW < renewed.not_valid_after_utc
    # The CA is still good for eight years: recipients' trust anchor does not change.
    assert load_or_create_chain(secrets, NOW).ca_pem == first.ca_pem


def test_an_expired_ca_is_replaced_with_a_new_one_INV_8(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    first = load_or_create_chain(secrets, NOW - dt.timedelta(days=3700))
    assert signs(tmp_path, secrets) == "Trusted"
    assert load_or_create_chain(secrets, NOW).ca_pem != first.ca_pem


def test_a_signer_is_never_made_to_outlive_its_ca(tmp_path: Path) -> None:
    """A CA with a year left issues a signer valid for that year, not two: a signer
    certificate past its issuer's end is not valid either."""
    secrets = tmp_path / "secrets"
    load_or_create_chain(secrets, NOW - dt.timedelta(days=3650 - 365))
    (secrets / SIGNER_CERT).unlink()  # as if the signer had expired: made anew
    chain = load_or_create_chain(secrets, NOW)
    ca = x509.load_pem_x509_certificate(chain.ca_pem)
    leaf = x509.load_pem_x509_certificate((secrets / SIGNER_CERT).read_bytes())
    assert leaf.not_valid_after_utc <= ca.not_valid_after_utc


@pytest.mark.parametrize("attempt", range(3))
def test_two_first_uses_at_once_make_one_chain_whose_key_matches(
    tmp_path: Path, attempt: int
) -> None:
    """The export job and the redaction job (or two jobs processes) making the chain at
    once must not leave one's certificate beside the other's key."""
    secrets = tmp_path / "secrets"
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def make() -> None:
        barrier.wait()
        try:
            load_or_create_chain(secrets, NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert signs(tmp_path, secrets) == "Trusted"


def test_two_processes_making_the_chain_at_once_agree(tmp_path: Path) -> None:
    """Two jobs processes making the chain at once: each must end with a signer whose
    certificate and key are one pair, issued by the CA on disk."""
    secrets = tmp_path / "secrets"
    code = (
        "import datetime as dt, sys; from pathlib import Path; "
        "from vms.exports.credentials import load_or_create_chain; "
        "load_or_create_chain(Path(sys.argv[1]), dt.datetime.now(dt.UTC))"
    )
    for _ in range(3):
        shutil.rmtree(secrets, ignore_errors=True)
        runs = [
            subprocess.Popen([sys.executable, "-c", code, str(secrets)], stderr=subprocess.PIPE)
            for _ in range(4)
        ]
        for run in runs:
            _, err = run.communicate(timeout=60)
            assert run.returncode == 0, err.decode()
        chain = load_or_create_chain(secrets, NOW)
        ca = x509.load_pem_x509_certificate(chain.ca_pem)
        leaf = x509.load_pem_x509_certificate((secrets / SIGNER_CERT).read_bytes())
        leaf.verify_directly_issued_by(ca)
        key = serialization.load_pem_private_key(chain.key_pem, None)
        assert key.public_key() == leaf.public_key()
