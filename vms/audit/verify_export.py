#!/usr/bin/env python3
"""Verify an audit export of the VMS without the VMS and without its secrets.

    python3 verify_audit_export.py audit-export.json [--fingerprint HEX]

Needs only Python 3.11+ and the ``cryptography`` package. Exits 0 when the export is
intact, 1 naming the first problem otherwise, 2 when the file cannot be read. This module
imports nothing from the VMS on purpose: ``vms audit export`` writes a copy of it next to
the export, and ``vms audit verify-export`` runs this same code (issue 14, item 1;
docs/design/audit-chain.md, "Signed checkpoints").

What is checked, in order:

1. the export's statement is signed by the installation's audit signing key (Ed25519;
   the public key is in the export, so anyone who rewrites the whole file can sign it
   with a key of their own: give ``--fingerprint`` the one the agency publishes, or
   compare the fingerprint printed; ``vms audit verify-export`` pins the installation's
   own key);
2. every checkpoint in the export is signed by that key;
3. the entries are the statement's entries, in order, with no gap: each entry's SHA-256
   is the one the statement lists for its sequence number (an entry altered, removed,
   added or moved in the file is named);
4. each entry links to the one before it (``prev_hash`` is the previous entry's hash);
5. the public chain digest, recomputed from the start digest over every entry, equals
   the digest each checkpoint signed when it was made (an entry altered in the database
   before the export is caught here: the span between two checkpoints is named);
6. the export starts at entry 1 or right after a signed checkpoint (included), and ends
   at a signed checkpoint: entries cut from either end are named.

Licence: AGPL-3.0-or-later.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FORMAT = "vms-audit-export/1"
GENESIS = "0" * 64
ENTRY_FIELDS = ("seq", "at", "actor", "role", "action", "target", "details", "outcome")
# What each part of an export may hold: every field is covered by a signature (the
# statement's, or a checkpoint's, or an entry's SHA-256 in the statement) or is checked
# against one. Anything else would read as part of an "intact" export unsigned.
EXPORT_KEYS = frozenset(
    {"format", "statement", "signature", "public_key", "checkpoints", "entries"}
)
CHECKPOINT_KEYS = frozenset(
    {"seq", "at", "entry_hash", "chain_digest", "signature", "key_fingerprint"}
)
ENTRY_KEYS = frozenset({*ENTRY_FIELDS, "prev_hash", "hash"})


def canonical_entry(fields: Mapping[str, Any]) -> bytes:
    """The bytes of one audit entry that its hashes cover: sorted-key compact JSON of
    ``seq, at, actor, role, action, target, details, outcome, prev_hash`` with ``at`` as
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (the audit chain's canonical form)."""
    body = {name: fields[name] for name in (*ENTRY_FIELDS, "prev_hash")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_sha256(entry: Mapping[str, Any]) -> str:
    """SHA-256 of an exported entry: its canonical form and its chain hash."""
    return hashlib.sha256(canonical_entry(entry) + entry["hash"].encode()).hexdigest()


def next_digest(previous: str, entry: Mapping[str, Any]) -> str:
    """The public chain digest after ``entry``: ``SHA-256(previous || canonical || hash)``.
    Unlike the keyed chain hash, anyone can recompute it; a signed checkpoint fixes it."""
    data = bytes.fromhex(previous) + canonical_entry(entry) + entry["hash"].encode()
    return hashlib.sha256(data).hexdigest()


def checkpoint_payload(seq: int, entry_hash: str, digest: str, at: str) -> bytes:
    """The bytes a checkpoint signs."""
    body = {"seq": seq, "entry_hash": entry_hash, "chain_digest": digest, "at": at}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def statement_payload(statement: Mapping[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def fingerprint(public_key_pem: str) -> str:
    """SHA-256 of the raw 32-byte Ed25519 public key, as hex (what the agency publishes;
    the same definition as the export packages' fingerprint)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(public_key_pem.encode())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _unsigned(fields: Mapping[str, Any], allowed: frozenset[str]) -> str | None:
    """The fields of ``fields`` that no signature covers, named; None when there are none."""
    extra = sorted(set(fields) - allowed)
    if not extra:
        return None
    return f"holds {', '.join(map(repr, extra))}, which no signature covers (added to the file)"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: readers differ on a key given twice
    (Python keeps the last, others the first), so such a file says two things at once."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} is given twice in one object")
        seen[key] = value
    return seen


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with an export: ``where`` (an entry, a checkpoint, the
    statement) and what."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


def _verifier(public_key_pem: str) -> Any:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the export's public key is not an Ed25519 key")

    def check(signature_b64: str, payload: bytes) -> bool:
        try:
            key.verify(base64.b64decode(signature_b64, validate=True), payload)
        except (InvalidSignature, ValueError):
            return False
        return True

    return check


def verify(doc: Mapping[str, Any], pinned: str | None = None) -> Problem | None:
    """The first problem of the export ``doc`` (parsed JSON), or None when intact.

    ``pinned``: the fingerprint the signing key must have (INV-4). Without it, an export
    rewritten whole (entries removed, checkpoints and statement signed again with
    another key) is intact under its own key: only the fingerprint tells."""
    if doc.get("format") != FORMAT:
        return Problem("export", f"format {doc.get('format')!r} is not {FORMAT}")
    if (unsigned := _unsigned(doc, EXPORT_KEYS)) is not None:
        return Problem("export", unsigned)
    try:
        check = _verifier(doc["public_key"])
        found = fingerprint(doc["public_key"])
    except (KeyError, ValueError, TypeError) as exc:
        return Problem("export", f"no usable public key ({exc})")
    if pinned is not None and found != pinned.strip().lower():
        return Problem(
            "public_key",
            f"the export is signed by key {found}, not the expected {pinned}: another "
            "installation's export, or one rewritten and signed again",
        )
    statement = doc.get("statement")
    if not isinstance(statement, dict) or not check(
        doc.get("signature", ""), statement_payload(statement)
    ):
        return Problem("statement", "the signature does not match (the statement was changed)")
    if statement.get("key_fingerprint") != found:
        return Problem(
            "statement", f"names key {statement.get('key_fingerprint')}, signed by key {found}"
        )

    checkpoints: Sequence[Mapping[str, Any]] = doc.get("checkpoints", [])
    by_seq: dict[int, Mapping[str, Any]] = {}
    for cp in checkpoints:
        payload = checkpoint_payload(cp["seq"], cp["entry_hash"], cp["chain_digest"], cp["at"])
        if not check(cp.get("signature", ""), payload):
            return Problem(f"checkpoint {cp['seq']}", "the signature does not match (forged)")
        if (unsigned := _unsigned(cp, CHECKPOINT_KEYS)) is not None:
            return Problem(f"checkpoint {cp['seq']}", unsigned)
        if cp.get("key_fingerprint") != found:  # not in the signed payload: checked here
            return Problem(
                f"checkpoint {cp['seq']}",
                f"names key {cp.get('key_fingerprint')}, signed by key {found}",
            )
        by_seq[cp["seq"]] = cp
    if sorted(by_seq) != list(statement["checkpoints"]):
        return Problem(
            "checkpoints",
            f"the export holds checkpoints {sorted(by_seq)}, the statement lists "
            f"{statement['checkpoints']}",
        )

    entries: Sequence[Mapping[str, Any]] = doc.get("entries", [])
    listed: Sequence[str] = statement["entry_sha256"]
    first = statement["first_seq"]
    digest = statement["start_digest"]
    prev_hash = statement["start_hash"]
    if first == 1:
        if (digest, prev_hash) != (GENESIS, GENESIS):
            return Problem("statement", "an export from entry 1 must start at the genesis")
    else:
        anchor = by_seq.get(first - 1)
        if anchor is None or (anchor["chain_digest"], anchor["entry_hash"]) != (
            digest,
            prev_hash,
        ):
            return Problem(
                f"checkpoint {first - 1}",
                "the export does not start right after a signed checkpoint",
            )
    span_start = first
    for i, entry in enumerate(entries):
        seq = first + i
        if entry.get("seq") != seq:
            moved = entry.get("seq")
            if any(e.get("seq") == seq for e in entries[i + 1 :]):
                return Problem(f"entry {seq}", f"is out of order (entry {moved} is in its place)")
            return Problem(f"entry {seq}", f"is missing (entry {moved} is in its place)")
        if (unsigned := _unsigned(entry, ENTRY_KEYS)) is not None:
            return Problem(f"entry {seq}", unsigned)
        if i >= len(listed) or entry_sha256(entry) != listed[i]:
            return Problem(f"entry {seq}", "was altered (its SHA-256 is not the signed one)")
        if entry["prev_hash"] != prev_hash:
            return Problem(f"entry {seq}", f"does not link to entry {seq - 1}")
        prev_hash = entry["hash"]
        digest = next_digest(digest, entry)
        signed = by_seq.get(seq)
        if signed is not None:
            if signed["entry_hash"] != entry["hash"] or signed["chain_digest"] != digest:
                return Problem(
                    f"entries {span_start}..{seq}",
                    f"differ from what checkpoint {seq} signed at {signed['at']} "
                    "(one of them was altered before the export)",
                )
            span_start = seq + 1
    last = first + len(entries) - 1
    if len(entries) != len(listed):
        return Problem(
            f"entry {last + 1}",
            f"is missing: the statement lists entries {first}..{first + len(listed) - 1}, "
            f"the export ends at entry {last}",
        )
    if not by_seq or max(by_seq) != last:
        return Problem(
            f"entry {last}", "the export does not end at a signed checkpoint (truncated?)"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an audit export of the VMS.")
    parser.add_argument("export", help="the export file (JSON)")
    parser.add_argument(
        "--fingerprint", help="the audit signing key fingerprint the agency published"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with open(args.export, encoding="utf-8") as f:
            doc = json.load(f, object_pairs_hook=_unique_keys)
    except (OSError, ValueError, RecursionError) as exc:
        print(f"cannot read {args.export}: {exc}", file=sys.stderr)
        return 2
    try:
        problem = verify(doc, args.fingerprint)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problem = Problem("export", f"malformed ({type(exc).__name__}: {exc})")
    if problem is not None:
        print(f"audit export INVALID: {problem}", file=sys.stderr)
        return 1
    statement = doc["statement"]
    print(
        f"audit export intact: entries {statement['first_seq']}..{statement['last_seq']}, "
        f"{len(doc['checkpoints'])} signed checkpoint(s), key {fingerprint(doc['public_key'])}"
    )
    if args.fingerprint is None:
        print("Compare the key fingerprint with the one your agency publishes (--fingerprint).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
