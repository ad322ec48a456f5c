"""The hook through which a case page lists the case's exports (issue 15.3 and 15.4).

Exports are built in ``vms`` (ARCHITECTURE section 2); the case folder service lives in
``retention``, which may import ``vms`` but not the other way round. The exports package
provides :class:`CaseExports` in ``services.ports`` at install; the case page reads it
when it is there and shows no exports otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CaseExport:
    """One export filed under a case, as its page lists it."""

    id: str
    state: str  # queued | running | done | failed
    purpose: str
    created_at: dt.datetime
    created_by: str
    package_media_id: str | None = None


class CaseExports(Protocol):
    """The exports of a case (provided by the exports package)."""

    def for_case(self, case_number: str) -> Sequence[CaseExport]:
        """Every export made for ``case_number``, oldest first."""
        ...
