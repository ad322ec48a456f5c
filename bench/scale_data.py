"""Agency-scale data for bench_catalog_scale.py: a catalog of one-minute segments per
fixed camera plus body-worn items, their expiries and custody events, and an audit log
with real chain hashes (so the app works on it), bulk-loaded with COPY on PostgreSQL.

Not product code: the benchmark imports it as a sibling module.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from vms.audit.chain import GENESIS_HASH, Link, link_hash
from vms.audit.mentions import mentioned
from vms.db.models import AuditHead, Device, Officer
from vms.services import Services

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
CAMERAS = [f"cam-{i:03d}" for i in range(40)]
BWCS = [f"bwc-{i:03d}" for i in range(40)]
OFFICERS = [f"B{1000 + i}" for i in range(120)]
USERS = [f"user{i:03d}" for i in range(300)]
BATCH = 20_000

MEDIA_COLS = [
    "id",
    "source",
    "media_type",
    "content_type",
    "device_id",
    "officer_badge",
    "recorded_start",
    "recorded_end",
    "duration_seconds",
    "size_bytes",
    "sha256",
    "original_filename",
    "title",
    "case_number",
    "evidence",
    "restricted",
    "ingested_at",
    "ingested_by",
    "recorded_start_origin",
]


def _media_id(at: dt.datetime, serial: int) -> str:
    ms = int(at.timestamp() * 1000)
    return str(uuid.UUID(int=ms << 80 | 0x7 << 76 | 0b10 << 62 | serial))


def media_rows(count: int, seed: int = 3) -> Iterator[tuple[Any, ...]]:
    """``count`` items, newest at NOW: 90 % one-minute segments of the fixed cameras
    (each camera one per minute), 10 % body-worn recordings with an officer."""
    rng = random.Random(seed)
    fixed = count * 9 // 10
    minutes = -(-fixed // len(CAMERAS))
    for serial, n in enumerate(range(count), start=1):
        if n < fixed:
            device, officer, source = CAMERAS[n % len(CAMERAS)], None, "fixed"
            start = NOW - dt.timedelta(minutes=minutes - n // len(CAMERAS))
            seconds = 60
        else:
            device, officer, source = rng.choice(BWCS), rng.choice(OFFICERS), "bwc"
            start = NOW - dt.timedelta(seconds=rng.randrange(minutes * 60))
            seconds = rng.randrange(30, 1800)
        sha = uuid.UUID(int=rng.getrandbits(128)).hex * 2
        yield (
            _media_id(start, serial),
            source,
            "video",
            "video/mp4",
            device,
            officer,
            start,
            start + dt.timedelta(seconds=seconds),
            float(seconds),
            seconds * 250_000,
            sha,
            f"{device}-{start:%Y%m%dT%H%M%S}.mp4",
            None,
            f"2026-{rng.randrange(1, 5000):05d}" if rng.random() < 0.02 else None,
            False,
            False,
            start + dt.timedelta(seconds=seconds + 5),
            "recorder" if source == "fixed" else officer,
            "container",
        )


AUDIT_SHAPES = (
    # action, target kind, weight
    ("media.view", "media", 30),
    ("media.search", "catalog", 20),
    ("ptz.command", "camera", 25),
    ("media.detail", "media", 10),
    ("auth.login", "user", 10),
    ("audit.read", "audit", 5),
)


def audit_links(
    count: int, key: bytes, media_ids: list[str], seed: int = 5
) -> Iterator[tuple[Link, str]]:
    """``count`` chained entries over the 30 days before NOW, with their hashes."""
    rng = random.Random(seed)
    actions = [a for a, _, w in AUDIT_SHAPES for _ in range(w)]
    kinds = {a: k for a, k, _ in AUDIT_SHAPES}
    span = 30 * 86400
    prev = GENESIS_HASH
    for seq in range(1, count + 1):
        action = rng.choice(actions)
        kind = kinds[action]
        details: dict[str, Any] = {}
        if kind == "media":
            target = f"media:{rng.choice(media_ids)}"
        elif kind == "camera":
            target = f"camera:{rng.choice(CAMERAS)}"
            details = {"command": "continuous_move", "purpose": "event management"}
        elif kind == "user":
            target = f"user:{rng.choice(USERS)}"
        elif kind == "catalog":
            target = "catalog"
            details = {"filters": {}, "media_ids": rng.sample(media_ids, 10)}
        else:
            target = kind
        link = Link(
            seq=seq,
            at=NOW - dt.timedelta(seconds=span * (count - seq) / count),
            actor=rng.choice(USERS),
            role="investigator",
            action=action,
            target=target,
            details=details,
            outcome="ok" if rng.random() < 0.97 else "denied",
            prev_hash=prev,
        )
        prev = link_hash(key, link)
        yield link, prev


def _copy(raw: Any, table: str, cols: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    cursor = raw.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def load(services: Services, media: int, audit: int) -> None:
    """Bulk-load ``media`` catalog items and ``audit`` chained entries (PostgreSQL)."""
    import json

    engine = services.db.engine
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Device),
            [{"id": d, "kind": "fixed", "name": d, "created_at": NOW} for d in CAMERAS]
            + [{"id": d, "kind": "bwc", "name": d, "created_at": NOW} for d in BWCS],
        )
        conn.execute(
            sa.insert(Officer),
            [{"badge": b, "name": None, "created_at": NOW} for b in OFFICERS],
        )
    raw = engine.raw_connection()
    try:
        ids: list[str] = []
        expiry: list[tuple[Any, ...]] = []
        custody: list[tuple[Any, ...]] = []

        def media_iter() -> Iterator[tuple[Any, ...]]:
            for row in media_rows(media):
                ids.append(row[0])
                days = 30 if row[1] == "fixed" else 90
                rule = "RET-1 fixed 30 days" if days == 30 else "RET-4 bwc 90 days"
                expiry.append((row[0], row[6] + dt.timedelta(days=days), rule))
                custody.append((row[0], row[16], row[17], "ingested", "{}"))
                yield row

        _copy(raw, "media_items", MEDIA_COLS, media_iter())
        _copy(raw, "media_expiry", ["media_id", "expires_at", "retention_rule"], iter(expiry))
        _copy(
            raw, "custody_events", ["media_id", "at", "actor", "action", "details"], iter(custody)
        )
        key = services.audit._key
        mentions: list[tuple[str, int]] = []
        head: tuple[int, str] = (0, GENESIS_HASH)

        def audit_iter() -> Iterator[tuple[Any, ...]]:
            nonlocal head
            for link, digest in audit_links(audit, key, ids):
                mentions.extend((t, link.seq) for t in sorted(mentioned(link.target, link.details)))
                head = (link.seq, digest)
                yield (
                    link.seq,
                    link.at,
                    link.actor,
                    link.role,
                    link.action,
                    link.target,
                    json.dumps(link.details, sort_keys=True, separators=(",", ":")),
                    link.outcome,
                    link.prev_hash,
                    digest,
                )

        cols = [
            "seq",
            "at",
            "actor",
            "role",
            "action",
            "target",
            "details",
            "outcome",
            "prev_hash",
            "hash",
        ]
        _copy(raw, "audit_entries", cols, audit_iter())
        _copy(raw, "audit_mentions", ["target", "seq"], iter(mentions))
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        # Entries the services appended before the load (users added...) are replaced.
        conn.execute(
            sa.update(AuditHead).where(AuditHead.id == 1).values(seq=head[0], hash=head[1])
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
