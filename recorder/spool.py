"""The recorder's spool: segment files being written, named
``<data_dir>/recorder/spool/<camera>/<start>.v<mask version>.<m|p>[c][.f<token>].mp4``, and
the ingest request that catalogues one as a ``fixed`` segment (INV-1). Used by the
segment writer and by the crash salvage, so both catalogue segments alike.

``c``: the segment continues the one before it without a keyframe (its first packet is
none), so the salvage copies it from its first packet. ``f<token>``: the camera lease
token the file was recorded under (camera ownership on), so a crash leftover is salvaged
under the fence it was written under (INV-9, docs/design/recording.md procedure 5). The
spool is the node's own (``data_dir`` is never shared between media nodes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# CONTINUED: the custody detail ("true") of a segment whose first packet is no keyframe
# (it continues the one before it, cut at its limit), defined with what reads it.
from vms.continued import CONTINUED
from vms.db.models import SourceKind
from vms.ingest import IngestRequest

SPOOL_STAMP = "%Y%m%dT%H%M%S.%fZ"


@dataclass(frozen=True)
class SpoolName:
    """What a spool file's name says: start (first keyframe's capture time), the mask
    version of every frame in it, masked (``m``) or passed through (``p``), and the
    camera lease token it was recorded under (``fence``; None: not fenced, or a name
    from before tokens were kept), and whether it continues the segment before it
    without a keyframe (``continued``, ``c`` after ``m|p``)."""

    start: dt.datetime
    mask_version: int
    masked: bool
    fence: int | None = None
    continued: bool = False

    def file_name(self) -> str:
        kind = ("m" if self.masked else "p") + ("c" if self.continued else "")
        fence = "" if self.fence is None else f".f{self.fence}"
        return f"{self.start.strftime(SPOOL_STAMP)}.v{self.mask_version}.{kind}{fence}.mp4"

    @classmethod
    def parse(cls, name: str) -> SpoolName:
        """Raises ValueError for a name the segment writer did not make."""
        base = name.removesuffix(".mp4")
        fence: int | None = None
        head, _, last = base.rpartition(".")
        if last.startswith("f") and last[1:].isdigit():
            base, fence = head, int(last[1:])
        stamp, version, kind = base.rsplit(".", 2)
        if kind not in ("m", "p", "mc", "pc") or not version.startswith("v"):
            raise ValueError(f"not a spool file name: {name!r}")
        start = dt.datetime.strptime(stamp, SPOOL_STAMP).replace(tzinfo=dt.UTC)
        return cls(start, int(version.removeprefix("v")), kind[0] == "m", fence, kind.endswith("c"))


def segment_request(
    camera_id: str,
    name: SpoolName,
    end: dt.datetime,
    packets: int,
    fence: int | None = None,
    **details: str,
) -> IngestRequest:
    """The ingest request of a segment spooled as ``name`` and ending at ``end``, with
    the camera, mask version and packet count (and ``details``) in its custody event;
    ``fence``: the camera lease token it was recorded under (issue 13.1). A segment
    that continues another (``name.continued``) says so in its custody (``CONTINUED``)
    and is probed without a keyframe."""
    if name.continued:
        details = {**details, CONTINUED: "true"}
    return IngestRequest(
        fence=fence,
        continues_without_keyframe=name.continued,
        source=SourceKind.FIXED,
        device_id=camera_id,
        recorded_at=name.start,
        recorded_end=end,
        title=f"{camera_id} {name.start.strftime('%Y-%m-%d %H:%M:%S')}Z",
        original_filename=f"{camera_id}-{name.file_name()}",
        custody_details={
            "camera_id": camera_id,
            "mask_version": str(name.mask_version),
            "masked": "true" if name.masked else "false",
            "packets": str(packets),
            **details,
        },
    )
