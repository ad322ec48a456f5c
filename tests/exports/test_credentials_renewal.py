"""The agency's C2PA chain outlives its certificates (INV-8, REL-2): the export signer's
certificate is made for two years and the CA's for ten, and c2pa refuses to sign with a
certificate that is not valid at the time of signing. Without renewal every export and
every redaction fails from the day the signer certificate expires.

c2pa checks validity against the real time of signing, so the chains here are made as if
set up long ago (``now`` in the past) and then loaded at the real time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509

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
