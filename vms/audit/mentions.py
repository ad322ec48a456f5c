"""What an audit entry mentions besides its target (ACC-6, issue 14 item 2).

A view of metadata (a search page, a timeline, a case) is audited with the ids it
showed, in the entry's ``details`` (``media_ids``, ``camera_ids`` ...), which the chain
covers. So that an auditor can pull everything that touched one item or one camera,
those ids are also written to ``audit_mentions`` (target, seq), an index over the
chained details: derived from them by :func:`mentioned` when the entry is appended,
rebuildable from the chain at any time (migration 0022 builds it for older entries),
and never trusted on its own: each entry it leads to is still checked by the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Detail key -> the target kind its values name (targets are written "kind:id").
KEYS: Mapping[str, str] = {
    "media_id": "media",
    "media_ids": "media",
    "source_media_ids": "media",
    "camera_id": "camera",
    "camera_ids": "camera",
    "bookmark_ids": "bookmark",
    "export_id": "export",
    "export_ids": "export",
    "case_number": "case",
    "case_numbers": "case",
    "preservation_ids": "preservation",
    "hold_ids": "legal_hold",
}

TARGET_MAX = 200  # the width of audit_entries.target and audit_mentions.target


def mentioned(target: str, details: Mapping[str, Any]) -> set[str]:
    """The targets ``details`` names, other than ``target`` itself."""
    out: set[str] = set()
    for key, kind in KEYS.items():
        value = details.get(key)
        values = value if isinstance(value, list) else [value]
        for one in values:
            if isinstance(one, str | int) and not isinstance(one, bool) and str(one):
                out.add(f"{kind}:{one}"[:TARGET_MAX])
    out.discard(target[:TARGET_MAX])
    return out
