"""Exports (issue 15, item 4; docs/design/exports.md): court copies anyone can verify.

- :mod:`vms.exports.manifest`: the manifest's values and canonical bytes (pure);
- :mod:`vms.exports.signing`: the Ed25519 export key in the secrets folder;
- :mod:`vms.exports.package`: the ZIP writer (clips, manifest, signature, verifier);
- :mod:`vms.exports.verify`: the standalone verifier shipped in every package (Python 3
  and ``cryptography`` only: it imports nothing of ``vms``).

Clips themselves are cut by :mod:`vms.media.clip` (the media adapter).
"""
