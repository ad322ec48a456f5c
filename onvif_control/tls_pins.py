"""Camera certificate pins: the pure module moved to :mod:`vms.tls_pins`, where the media
adapter (the ``rtsps`` relay, :mod:`vms.media.rtsps`) reads them too; the names stay
importable here. :func:`check_tls_options` (onboarding's check of the options) is ONVIF's
own."""

from vms.errors import InvalidArgument
from vms.tls_pins import (
    DIGEST_BYTES,
    FINGERPRINT_CHARS,
    MAX_CA_PEM_CHARS,
    ca_context,
    fingerprint_of,
    format_fingerprint,
    normalise_fingerprint,
    parse_fingerprint,
)

__all__ = [
    "DIGEST_BYTES",
    "FINGERPRINT_CHARS",
    "MAX_CA_PEM_CHARS",
    "ca_context",
    "check_tls_options",
    "fingerprint_of",
    "format_fingerprint",
    "normalise_fingerprint",
    "parse_fingerprint",
]


def check_tls_options(scheme: str, fingerprint: str | None, ca_pem: str | None) -> None:
    """The certificate options of a camera at ``scheme`` are well formed, for an https
    camera, one at most; InvalidArgument naming the option otherwise."""
    given = [n for n, v in (("tls_fingerprint", fingerprint), ("tls_ca_pem", ca_pem)) if v]
    if given and scheme != "https":
        raise InvalidArgument(
            f"{given[0]} is for an https camera; this one is reached over {scheme}",
            field=given[0],
        )
    if len(given) == 2:
        raise InvalidArgument(
            "give tls_fingerprint (a pinned certificate) or tls_ca_pem (a CA that "
            "verifies it), not both",
            field="tls_ca_pem",
        )
    if fingerprint is not None:
        parse_fingerprint(fingerprint)
    if ca_pem is not None:
        ca_context(ca_pem)
