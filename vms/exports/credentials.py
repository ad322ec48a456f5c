"""C2PA Content Credentials on exported clips (issue 15, item 4; docs/design/exports.md,
"Content Credentials"): the one module that imports ``c2pa`` (c2pa-python,
docs/design/dependencies.md).

The agency's signing chain is made at set-up and kept in the secrets folder:

- ``c2pa-ca.pem`` / ``c2pa-ca.key``: the agency CA (EC P-256, ``BasicConstraints``
  ca=True, ``keyCertSign``), ten years;
- ``c2pa-signer.pem`` / ``c2pa-signer.key``: the export signer (EC P-256, ES256),
  ``digitalSignature`` with the ``emailProtection`` extended usage C2PA asks of
  signers, issued by that CA, two years.

Keys are written mode 0600. A reader trusts the chain only when given the CA as a trust
anchor (the recipient gets ``c2pa-ca.pem``, like the Ed25519 key's fingerprint);
otherwise C2PA readers report the signature valid but the signer unknown.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import gc
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vms.errors import DataLoss
from vms.file_modes import private_output

CA_CERT = "c2pa-ca.pem"
CA_KEY = "c2pa-ca.key"
SIGNER_CERT = "c2pa-signer.pem"
SIGNER_KEY = "c2pa-signer.key"
CHAIN_LOCK = ".c2pa.lock"  # held while the chain is read or made
# A fixed camera records what it sees: its pictures are a digital capture (IPTC).
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
EXPORT_ASSERTION = "org.vms.export"
REDACTION_ASSERTION = "org.vms.redaction"
IO_BUFFER = 1 << 20  # bytes: the clip's reads and writes while signing (see _sign)
# The action of each redaction (see sign_redacted on why not c2pa.redacted).
REDACTED_ACTION = "c2pa.edited"


@dataclass(frozen=True)
class AgencyChain:
    """The signer's certificate chain (leaf then CA, PEM), its key, and the CA alone."""

    chain_pem: bytes
    key_pem: bytes
    ca_pem: bytes


@dataclass(frozen=True)
class SourceRef:
    """A stored item a clip was cut from."""

    media_id: str
    sha256: str


@dataclass(frozen=True)
class ClipProvenance:
    """What the clip's Content Credentials say: which export, when it was recorded,
    how it was cut and from which stored items."""

    export_id: str
    title: str
    recorded_start: dt.datetime
    cut_mode: str
    requested_start: dt.datetime
    requested_end: dt.datetime
    sources: Sequence[SourceRef]
    agency: str = "VMS"
    version: str = "0.1.0"
    # The redactions of redacted copies among the sources (``ExportReads.redactions_of``):
    # the clip's pictures were painted over, and its credentials must say so (INV-8).
    redactions: Sequence[dict[str, Any]] = ()


CA_LIFETIME = dt.timedelta(days=3650)
SIGNER_LIFETIME = dt.timedelta(days=730)
# A CA with less than this left is replaced rather than made to issue a signer for days.
CA_MIN_LEFT = dt.timedelta(days=30)


def load_or_create_chain(directory: Path, now: dt.datetime, agency: str = "VMS") -> AgencyChain:
    """The chain in ``directory``, made (CA, then signer) if absent, and renewed where a
    certificate has expired at ``now`` (taken from the injected clock): c2pa refuses to
    sign with an expired certificate, so without renewal every export and redaction would
    fail from the day the signer's two years end (INV-8). A new signer is issued by the
    current CA and never outlives it; a CA with under 30 days left is replaced (new
    packages ship the new ``c2pa-ca.pem``; earlier ones carry the CA they were signed
    under)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Made under a lock: first callers at once (the export and redaction jobs, a CLI
    # export) each made a chain and wrote it file by file, leaving one's key beside the
    # other's certificate, every later signature then unverifiable (INV-8).
    with _locked(directory / CHAIN_LOCK):
        return _load_or_create_chain(directory, now, agency)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _load_or_create_chain(directory: Path, now: dt.datetime, agency: str) -> AgencyChain:
    ca = _certificate_in(directory / CA_CERT)
    if ca is None or not _valid(ca, now, CA_MIN_LEFT):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate(f"{agency} export CA", ca_key, None, ca_key, now, CA_LIFETIME, ca=True)
        _write(directory / CA_KEY, _private_pem(ca_key))
        _write(directory / CA_CERT, ca.public_bytes(serialization.Encoding.PEM))
    ca_pem = (directory / CA_CERT).read_bytes()
    leaf = _certificate_in(directory / SIGNER_CERT)
    if (
        leaf is None
        or not _valid(leaf, now)
        or not _issued_by(leaf, ca)
        or not _holds_key_of(directory / SIGNER_KEY, leaf)
    ):
        loaded = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise DataLoss(f"{directory / CA_KEY} is not an EC private key")
        key = ec.generate_private_key(ec.SECP256R1())
        lifetime = min(SIGNER_LIFETIME, ca.not_valid_after_utc - now)
        leaf = _certificate(f"{agency} evidence export", key, ca, loaded, now, lifetime, ca=False)
        _write(directory / SIGNER_KEY, _private_pem(key))
        _write(directory / SIGNER_CERT, leaf.public_bytes(serialization.Encoding.PEM))
    return AgencyChain(
        (directory / SIGNER_CERT).read_bytes() + ca_pem,
        (directory / SIGNER_KEY).read_bytes(),
        ca_pem,
    )


def _certificate_in(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return None


def _valid(cert: x509.Certificate, now: dt.datetime, left: dt.timedelta = dt.timedelta()) -> bool:
    """``cert`` has not expired at ``now`` and will not for ``left`` after it. (Its start
    is not checked: a clock set back must not replace the CA every time it is read.)"""
    return now + left < cert.not_valid_after_utc


def _holds_key_of(path: Path, cert: x509.Certificate) -> bool:
    """``path`` holds the private key of ``cert`` (a pair left mismatched by an earlier
    race is made anew)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
    except (FileNotFoundError, ValueError, TypeError):
        return False
    return key.public_key() == cert.public_key()


def _issued_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def sign_clip(source: Path, target: Path, chain: AgencyChain, about: ClipProvenance) -> None:
    """Write ``source`` to ``target`` with a C2PA manifest embedded and signed (ES256)."""
    sources = [{"media_id": s.media_id, "sha256": s.sha256} for s in about.sources]
    manifest = {
        "claim_generator_info": [{"name": about.agency + " VMS", "version": about.version}],
        "title": about.title,
        "format": "video/mp4",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_CAPTURE,
                            "when": about.recorded_start.isoformat(),
                        },
                        *(_redaction_action(r) for r in about.redactions),
                        {
                            "action": "c2pa.edited",
                            "description": (
                                f"trimmed ({about.cut_mode} cut) from stored recording "
                                "segments by stream copy"
                            ),
                            # Not C2PA ``ingredients`` (hashed links to ingredient
                            # assertions, each made by reading its whole source):
                            # the stored items by id and SHA-256 (exports.md).
                            "parameters": {"org.vms.sources": sources},
                        },
                    ]
                },
            },
            {
                "label": EXPORT_ASSERTION,
                "data": {
                    "export_id": about.export_id,
                    "cut_mode": about.cut_mode,
                    "requested": {
                        "start": about.requested_start.isoformat(),
                        "end": about.requested_end.isoformat(),
                    },
                    "sources": sources,
                },
            },
        ],
    }
    _sign(manifest, source, target, chain)


def _redaction_action(redaction: dict[str, Any]) -> dict[str, Any]:
    """The action saying a source of the clip is a redacted copy (see sign_redacted on
    why ``c2pa.edited``)."""
    tracks = list(redaction.get("tracks") or [])
    muted = list(redaction.get("audio_muted") or [])
    action: dict[str, Any] = {
        "action": REDACTED_ACTION,
        "description": (
            f"redacted: {len(tracks)} region(s) and {len(muted)} audio range(s) "
            f"({redaction.get('method')}, redaction {redaction.get('redaction_id')} by "
            f"{redaction.get('redacted_by')}) in {redaction.get('redacted_media_id')}, "
            f"a redacted copy of {redaction.get('original_media_id')}"
        ),
        "parameters": {
            "org.vms.original": {"media_id": redaction.get("original_media_id")},
            "org.vms.redaction": redaction,
        },
    }
    if redaction.get("at"):
        action["when"] = redaction["at"]
    return action


@dataclass(frozen=True)
class RedactionProvenance:
    """What a redacted copy's Content Credentials say (issue 16, item 3): the original
    (id and SHA-256), who redacted it and when, the method and every redacted region
    (track id, class, frames, manual or detected), the audio ranges muted."""

    redaction_id: str
    title: str
    recorded_start: dt.datetime | None
    original_media_id: str
    original_sha256: str
    redacted_by: str
    redacted_at: dt.datetime
    method: str
    tracks: Sequence[dict[str, Any]]
    audio_muted: Sequence[tuple[float, float]]
    agency: str = "VMS"
    version: str = "0.1.0"


def sign_redacted(
    source: Path, target: Path, chain: AgencyChain, about: RedactionProvenance
) -> None:
    """Write ``source`` (the rendered copy) to ``target`` with a C2PA manifest: actions
    ``c2pa.created`` (the recording), then one ``c2pa.edited`` per redacted region and
    one for muted audio (description "redacted: ...", parameters ``org.vms.redacted``:
    the region, and ``org.vms.original``: the original's id and SHA-256), and the
    assertion ``org.vms.redaction`` with the whole record.

    Not ``c2pa.redacted``: in C2PA that action means *assertions* redacted from an
    ingredient's manifest, and c2pa-rs refuses to sign one whose ``parameters.redacted``
    is not a JUMBF reference to such an assertion (``assertion.action.redactionMismatch``);
    our originals carry no manifest (docs/design/redaction.md, "Content Credentials")."""
    original = {"media_id": about.original_media_id, "sha256": about.original_sha256}
    created: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": DIGITAL_CAPTURE}
    if about.recorded_start is not None:
        created["when"] = about.recorded_start.isoformat()
    actions: list[dict[str, Any]] = [created]
    for track in about.tracks:
        how = "drawn by hand" if track["manual"] else "detected"
        actions.append(
            {
                "action": REDACTED_ACTION,
                "when": about.redacted_at.isoformat(),
                "description": (
                    f"redacted: {track['class']} region ({how}, track {track['id']}), "
                    f"{about.method} over frames {track['first_frame']}..{track['last_frame']}"
                ),
                "parameters": {"org.vms.original": original, "org.vms.redacted": dict(track)},
            }
        )
    for lo, hi in about.audio_muted:
        actions.append(
            {
                "action": REDACTED_ACTION,
                "when": about.redacted_at.isoformat(),
                "description": f"redacted: audio muted from {lo:g} s to {hi:g} s",
                "parameters": {
                    "org.vms.original": original,
                    "org.vms.redacted": {"audio": [lo, hi]},
                },
            }
        )
    manifest = {
        "claim_generator_info": [{"name": about.agency + " VMS", "version": about.version}],
        "title": about.title,
        "format": "video/mp4",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": actions}},
            {
                "label": REDACTION_ASSERTION,
                "data": {
                    "redaction_id": about.redaction_id,
                    "original": original,
                    "redacted_by": about.redacted_by,
                    "redacted_at": about.redacted_at.isoformat(),
                    "method": about.method,
                    "tracks": list(about.tracks),
                    "audio_muted": [list(r) for r in about.audio_muted],
                },
            },
        ],
    }
    _sign(manifest, source, target, chain)


def _sign(manifest: dict[str, Any], source: Path, target: Path, chain: AgencyChain) -> None:
    info = c2pa.C2paSignerInfo(
        alg=b"es256", sign_cert=chain.chain_pem, private_key=chain.key_pem, ta_url=None
    )
    try:
        signer: Any = c2pa.Signer.from_info(info)
        builder: Any = c2pa.Builder(manifest)
        # c2pa-rs reads and writes the clip 8 KiB at a time through Python callbacks
        # (70,000 calls for an hour of 720p15): big buffers turn them into memory copies
        # instead of as many system calls, and the collector is held off meanwhile (each
        # call allocates a few objects; the collections were a tenth of the signing time,
        # measured with py-spy). It runs for the one call, re-enabled in any case.
        with (
            source.open("rb", buffering=IO_BUFFER) as src,
            target.open("w+b", buffering=IO_BUFFER) as dst,
        ):
            collecting = gc.isenabled()
            gc.disable()
            try:
                builder.sign(signer, "video/mp4", src, dst)
            finally:
                if collecting:
                    gc.enable()
    except c2pa.C2paError as exc:
        target.unlink(missing_ok=True)
        raise DataLoss(f"signing the Content Credentials of {source.name}: {exc}") from None


@dataclass(frozen=True)
class CredentialReport:
    """What a C2PA reader says of a file: its validation state (``Valid``, ``Trusted``,
    ``Invalid``), the failure codes, and the active manifest's actions."""

    state: str
    failures: tuple[str, ...]
    actions: tuple[str, ...]
    # The active manifest as the reader gives it (assertions with their data).
    manifest: dict[str, Any] = field(default_factory=dict)


def read_credentials(path: Path, trust_anchor_pem: bytes | None = None) -> CredentialReport:
    """Read and validate ``path``'s Content Credentials (with ``trust_anchor_pem``, the
    agency CA, as the trust anchor if given)."""
    try:
        context: Any = None
        if trust_anchor_pem is not None:
            settings = {"trust": {"trust_anchors": trust_anchor_pem.decode()}}
            context = c2pa.Context.from_json(json.dumps(settings))
        with path.open("rb") as stream:
            reader: Any = (
                c2pa.Reader("video/mp4", stream, None, context)
                if context is not None
                else c2pa.Reader("video/mp4", stream)
            )
            state = str(reader.get_validation_state())
            results = reader.get_validation_results() or {}
            manifest = reader.get_active_manifest() or {}
    except c2pa.C2paError as exc:
        raise DataLoss(f"reading the Content Credentials of {path.name}: {exc}") from None
    failures = tuple(
        str(item.get("code")) for item in results.get("activeManifest", {}).get("failure", [])
    )
    actions: list[str] = []
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            actions.extend(str(a.get("action")) for a in assertion["data"]["actions"])
    return CredentialReport(state, failures, tuple(actions), dict(manifest))


def _certificate(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
    lifetime: dt.timedelta,
    *,
    ca: bool,
) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, common_name.split(" ")[0]),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + lifetime)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False
        )
    return builder.add_extension(usage, True).sign(issuer_key, hashes.SHA256())


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a temporary file of its own, 0600 like the
    whole secrets folder: fsync, rename)."""
    with private_output(path) as f:
        f.write(data)
