"""Outsiders' access to share links (``/s/<token>``, issue 16.6, ACC-5; the links are
made and revoked by :class:`retention.release_shares.ReleaseShares`).

No account: the token is the credential. A link serves the request's items until it
expires, reaches its download count, is revoked, the request is no longer approved
or released, (but for a court order) one of its items was flagged privacy-sensitive
since (REL-3), or one was restricted since the approval (ACC-7); a wrong, expired,
revoked or used-up token all answer the same :class:`NotFound`. Every download is
counted atomically, audited with the remote address and recorded as a custody event.
An address that keeps trying links that do not work is held back like a password
guesser (:mod:`vms.auth.throttle`; docs/design/security.md).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from retention.release_checks import (
    NO_LINK,
    SHAREABLE,
    restricted_since_approval,
    restricted_since_reason,
    sensitive_items,
    token_hash,
)
from vms.audit.log import AuditLog, Who
from vms.auth.throttle import SHARE_LINKS, LoginThrottle
from vms.clock import Clock
from vms.db.engine import Database
from vms.db.models import CustodyEvent, MediaItem, ReleaseItem, ReleaseRequest, ShareLink
from vms.errors import NotFound, RateLimited
from vms.store import MediaStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SharedFile:
    position: int
    name: str
    size: int
    content_type: str
    sha256: str  # shown on the page: the recipient checks the file they got (INV-8)


@dataclass(frozen=True)
class ShareLanding:
    request_number: str
    expires_at: dt.datetime
    downloads_left: int
    files: tuple[SharedFile, ...]


@dataclass(frozen=True)
class ShareDownload:
    # The original on local disk, opened before the download was counted, so a purge
    # that unlinks it once the count has committed does not take the bytes of a download
    # already recorded (ACC-6, RET-13); None: in the object store, read from ``body``.
    file: BinaryIO | None
    name: str
    content_type: str
    sha256: str
    size: int
    # The object store's answer, asked for before the download was counted (so a store
    # that fails counts nothing); None for a file on local disk.
    body: Iterator[bytes] | None = None

    def close(self) -> None:
        """Give back the file or the store's answer when they are not sent."""
        _close(self.file)
        _close(self.body)


class ShareAccess:
    """What an outsider holding a link may see and download."""

    def __init__(
        self,
        db: Database,
        store: MediaStore,
        audit: AuditLog,
        clock: Clock,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.audit = audit
        self.clock = clock
        # Tries of links, throttled per address like sign-ins: every unusable link
        # (wrong, expired, revoked, used up) counts as a failed try.
        self.throttle = throttle

    def _usable(self, token: str, remote: str) -> tuple[str, str, str]:
        """(link id, release id, request number) of ``token`` if it may still be used;
        :class:`NotFound` (one message for every case) otherwise. A known link that is
        no longer usable is audited (outside any transaction). Throttled per address:
        :class:`RateLimited` once an address has tried too many unusable links."""
        digest = token_hash(token)
        now = self.clock.now()
        if self.throttle is not None:
            with self.db.transaction() as s:
                refusal = self.throttle.admit(s, remote, SHARE_LINKS, now)
            if refusal is not None:
                wait = max(1, math.ceil(refusal.retry_after.total_seconds()))
                raise RateLimited(
                    f"too many tries of share links that do not work from this address: "
                    f"wait {wait} s and try again",
                    retry_after_seconds=wait,
                )
        with self.db.session() as s:
            link = s.execute(select(ShareLink).where(ShareLink.token_sha256 == digest)).scalar()
            # The lookup is by a hash the caller cannot steer; compare in constant time too.
            if link is None or not hmac.compare_digest(link.token_sha256, digest):
                link = None
            else:
                release = s.get_one(ReleaseRequest, link.release_id)
                found = (link.id, release.id, release.request_number)
                why = self._unusable(s, link, release, now)
        if link is None:
            log.info("share link: unknown token from %s", remote)
            raise NotFound(NO_LINK)
        if why is not None:
            self._refuse(found[0], found[1], why, remote)
        if self.throttle is not None:
            with self.db.transaction() as s:
                self.throttle.succeeded(s, remote, SHARE_LINKS)  # the try worked: given back
        return found

    def _unusable(
        self, s: Session, link: ShareLink, release: ReleaseRequest, now: dt.datetime
    ) -> str | None:
        """Why ``link`` may not be used now (None: it may), read in ``s``."""
        if link.revoked_at is not None:
            return "revoked"
        if link.expires_at <= now:
            return "expired"
        if link.downloads >= link.max_downloads:
            return "download limit reached"
        if release.state not in SHAREABLE:
            return f"request is {release.state}"
        if release.kind != "court_order" and (
            flagged := sensitive_items(s, self._media_ids(s, release.id))
        ):
            # Flagged since approval: released only redacted now (REL-3, ACC-11).
            return (
                f"items {', '.join(flagged)} are privacy-sensitive: released only "
                "as a redacted derivative (REL-3, ACC-11)"
            )
        if restricted := restricted_since_approval(s, release.id):
            return restricted_since_reason(restricted)  # ACC-7
        return None

    def _refuse(self, link_id: str, release_id: str, why: str, remote: str) -> NoReturn:
        """Audit a known link refused for ``why`` (its own transaction) and answer as
        for any dead link."""
        self.audit.record(
            self.db,
            Who(f"share:{link_id}", "outsider"),
            "release.share.open",
            f"release:{release_id}",
            outcome="denied",
            details={"link_id": link_id, "reason": why, "remote_addr": remote},
        )
        raise NotFound(NO_LINK)

    @staticmethod
    def _media_ids(s: Session, release_id: str) -> list[str]:
        return list(
            s.execute(
                select(ReleaseItem.media_id).where(ReleaseItem.release_id == release_id)
            ).scalars()
        )

    def _files(
        self, s: Session, release_id: str, *, lock: bool = False
    ) -> list[tuple[ReleaseItem, MediaItem]]:
        """The request's files in order, read fresh; ``lock``: their items' rows FOR KEY
        SHARE until ``s`` ends (PostgreSQL)."""
        stmt = (
            select(ReleaseItem, MediaItem)
            .join(MediaItem, MediaItem.id == ReleaseItem.media_id)
            .where(ReleaseItem.release_id == release_id)
            .order_by(ReleaseItem.position)
            .execution_options(populate_existing=True)
        )
        if lock:
            stmt = stmt.with_for_update(read=True, key_share=True, of=MediaItem)
        rows = s.execute(stmt).all()
        return [(r[0], r[1]) for r in rows]

    @staticmethod
    def _name(item: ReleaseItem, media: MediaItem) -> str:
        if item.export_id:
            return media.original_filename or f"export-{item.export_id}.zip"
        return media.original_filename or media.id

    def landing(self, token: str, *, remote: str) -> ShareLanding:
        """What a link offers: the request number and its files (no account needed)."""
        link_id, release_id, number = self._usable(token, remote)
        with self.db.session() as s:
            link = s.get_one(ShareLink, link_id)
            files = tuple(
                SharedFile(i.position, self._name(i, m), m.size_bytes, m.content_type, m.sha256)
                for i, m in self._files(s, release_id)
            )
            return ShareLanding(number, link.expires_at, link.max_downloads - link.downloads, files)

    def download(self, token: str, position: int, *, remote: str) -> ShareDownload:
        """File ``position`` (1-based) of a usable link: counted, audited with the remote
        address, and a custody event on the item. A file in the object store is asked of
        it before the download is counted: a store that fails (503, a timeout) counts
        and records nothing (the link's few downloads are not spent on it)."""
        link_id, release_id, _ = self._usable(token, remote)
        now = self.clock.now()
        with self.db.session() as s:
            hashes = {i.position: m.sha256 for i, m in self._files(s, release_id)}
        if position not in hashes:
            raise NotFound(NO_LINK)
        # A file in the object store is asked of it before the download is counted, so a
        # store that fails (503, a timeout) spends none of the link's downloads; and
        # before the locks below are taken, so no audited write waits on the store.
        path = self.store.servable(hashes[position], NO_LINK)
        # On local disk, opened now: the bytes of the download counted below (POSIX keeps
        # them readable when the purge unlinks the file after the count, RET-13).
        opened = _opened(path) if path is not None else None
        stream = self.store.read(hashes[position]) if path is None else None
        try:
            with self.db.transaction() as s:
                # ACC-7, ACC-11, REL-3: checked again in the transaction that counts the
                # download, so a restriction or a privacy flag placed since the check
                # above is seen. PostgreSQL, in the order the other writers lock (their
                # own rows, then the audit chain's head, then perhaps copies, whose rows
                # they update): the link's row (a revocation locks it before its audit
                # entry), the items' rows FOR KEY SHARE (what the custody event's foreign
                # key takes anyway: a restriction of the item waits, an update of a copy
                # does not), then the audit head. Every restriction, flag, state change or
                # revocation is audited in its transaction (INV-4), so it has committed
                # and is read below, or it waits for this download. (SQLite's BEGIN
                # IMMEDIATE serialises writers.)
                link = s.get_one(ShareLink, link_id, with_for_update=True, populate_existing=True)
                files = {i.position: (i, m) for i, m in self._files(s, release_id, lock=True)}
                self.audit.hold(s)
                release = s.get_one(ReleaseRequest, release_id, populate_existing=True)
                files = {i.position: (i, m) for i, m in self._files(s, release_id)}
                why = self._unusable(s, link, release, now)
                if why is None:
                    if position not in files:
                        raise NotFound(NO_LINK)
                    item, media = files[position]
                    return self._count(
                        s, link_id, release_id, item, media, opened, stream, now, remote
                    )
        except BaseException:
            _close(opened)  # a file or an answer of the store that will not be sent
            _close(stream)
            raise
        _close(opened)
        _close(stream)
        self._refuse(link_id, release_id, why, remote)

    def _count(
        self,
        s: Session,
        link_id: str,
        release_id: str,
        item: ReleaseItem,
        media: MediaItem,
        opened: BinaryIO | None,
        stream: Iterator[bytes] | None,
        now: dt.datetime,
        remote: str,
    ) -> ShareDownload:
        """Count, audit and witness the download of ``item`` in ``s`` (the checking
        transaction)."""
        # Counted atomically: two downloads racing for the last one get one each.
        counted = s.execute(
            update(ShareLink)
            .where(
                ShareLink.id == link_id,
                ShareLink.downloads < ShareLink.max_downloads,
                ShareLink.revoked_at.is_(None),
                ShareLink.expires_at > now,
            )
            .values(downloads=ShareLink.downloads + 1)
            .execution_options(synchronize_session=False)
        )
        if counted.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(NO_LINK)
        details = {
            "link_id": link_id,
            "media_id": media.id,
            "export_id": item.export_id,
            "remote_addr": remote,
        }
        s.add(
            CustodyEvent(
                media_id=media.id,
                at=now,
                actor=f"share:{link_id}"[:64],
                action="shared_download",
                details=details,
            )
        )
        self.audit.append(
            s,
            Who(f"share:{link_id}", "outsider"),
            "release.share.download",
            f"release:{release_id}",
            details=details,
        )
        return ShareDownload(
            opened,
            self._name(item, media),
            media.content_type,
            media.sha256,
            media.size_bytes,
            stream,
        )


def _opened(path: Path) -> BinaryIO:
    """``path`` opened for reading; gone (purged since it was found): the dead link's
    answer, nothing counted."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise NotFound(NO_LINK) from None


def _close(stream: Iterator[bytes] | BinaryIO | None) -> None:
    """Give back a file or an object store answer that will not be sent."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()
