"""C2PA Content Credentials on an exported clip (issue 15, item 4), read back with
c2pa-python's own ``Reader``: a valid manifest with our actions, trusted when the
agency CA is the trust anchor, a hash mismatch when one byte of the media changes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import stat
import subprocess
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.exports.conftest import Recording
from vms.exports.credentials import (
    CA_KEY,
    EXPORT_ASSERTION,
    SIGNER_KEY,
    AgencyChain,
    ClipProvenance,
    SourceRef,
    load_or_create_chain,
    read_credentials,
    sign_clip,
)
from vms.media.clip import Clip, cut_clips

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AgencyChain]:
    secrets = tmp_path_factory.mktemp("secrets")
    return secrets, load_or_create_chain(secrets, NOW, agency="Testville")


@pytest.fixture(scope="module")
def signed(
    recorded: Recording, chain: tuple[Path, AgencyChain], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Clip]:
    out = tmp_path_factory.mktemp("c2pa")
    start, end = recorded.at(3.3), recorded.at(11.8)
    clip = cut_clips(recorded.segments, start, end, out, mode="exact").clips[0]
    about = ClipProvenance(
        "exp-7",
        clip.path.name,
        clip.start,
        "exact",
        start,
        end,
        [SourceRef(label, recorded.sha256[label]) for label in clip.sources],
        agency="Testville",
    )
    target = out / "signed.mp4"
    sign_clip(clip.path, target, chain[1], about)
    return target, clip


def reader(path: Path, anchor: bytes | None = None) -> c2pa.Reader:
    """c2pa-python's own reader on the file's bytes (with the CA as trust anchor)."""
    stream = io.BytesIO(path.read_bytes())
    if anchor is None:
        return c2pa.Reader("video/mp4", stream)
    context = c2pa.Context.from_json(json.dumps({"trust": {"trust_anchors": anchor.decode()}}))
    return c2pa.Reader("video/mp4", stream, None, context)


def test_the_chain_is_an_agency_ca_and_an_es256_signer(chain: tuple[Path, AgencyChain]) -> None:
    secrets, made = chain
    leaf, ca = x509.load_pem_x509_certificates(made.chain_pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.issuer == ca.subject
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in list(usages)
    for name in (CA_KEY, SIGNER_KEY):
        assert stat.S_IMODE((secrets / name).stat().st_mode) == 0o600
    again = load_or_create_chain(secrets, NOW + dt.timedelta(days=1), agency="Testville")
    assert again == made  # made once, at set-up


def test_c2pa_reader_reports_a_valid_manifest_with_our_actions(
    signed: tuple[Path, Clip], recorded: Recording, chain: tuple[Path, AgencyChain]
) -> None:
    path, clip = signed
    read = reader(path)
    assert read.get_validation_state() == "Valid", read.get_validation_results()
    manifest = read.get_active_manifest()
    labels = {a["label"]: a["data"] for a in manifest["assertions"]}
    actions = [a["action"] for a in labels["c2pa.actions.v2"]["actions"]]
    assert actions == ["c2pa.created", "c2pa.edited"]
    edited = labels["c2pa.actions.v2"]["actions"][1]
    assert [i["sha256"] for i in edited["parameters"]["org.vms.sources"]] == [
        recorded.sha256[label] for label in clip.sources
    ]
    assert labels[EXPORT_ASSERTION]["export_id"] == "exp-7"
    assert manifest["signature_info"]["alg"].lower() == "es256"
    trusted = reader(path, chain[1].ca_pem)
    assert trusted.get_validation_state() == "Trusted"
    ours = read_credentials(path, chain[1].ca_pem)
    assert ours.state == "Trusted" and ours.failures == ()
    assert ours.actions == ("c2pa.created", "c2pa.edited")


def test_the_signed_clip_still_plays_cleanly(signed: tuple[Path, Clip]) -> None:
    path, _ = signed
    probe = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "warning", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stderr == ""
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_one_flipped_byte_of_media_is_a_hash_mismatch(
    signed: tuple[Path, Clip], tmp_path: Path
) -> None:
    path, _ = signed
    data = bytearray(path.read_bytes())
    mdat = data.index(b"mdat")
    data[mdat + (len(data) - mdat) // 2] ^= 0x01
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    read = reader(damaged)
    assert read.get_validation_state() == "Invalid"
    assert "assertion.bmffHash.mismatch" in read_credentials(damaged).failures
