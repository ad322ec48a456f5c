"""Wiring: one :class:`Services` holds the configured services of a process.

Built by the CLI, the web app factory and test fixtures; nothing is created at import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.auth.users import UserService
from vms.catalog import Catalog
from vms.categories import CategoryList, load_categories
from vms.check import recover
from vms.clock import Clock, SystemClock
from vms.config import Config
from vms.db.engine import Database
from vms.dock import DockScanner
from vms.events import EventBus
from vms.ingest import Ingestor
from vms.migrations import upgrade
from vms.secrets import load_or_create_key
from vms.store import MediaStore
from vms.uploads import UploadService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A periodic job the jobs role runs: ``run()`` every ``interval_seconds``."""

    name: str
    interval_seconds: float
    run: Callable[[], object]


@dataclass
class Services:
    config: Config
    clock: Clock
    db: Database
    store: MediaStore
    audit: AuditLog
    events: EventBus
    categories: CategoryList
    users: UserService
    ingestor: Ingestor
    catalog: Catalog
    uploads: UploadService
    dock: DockScanner
    jobs: list[Job] = field(default_factory=list)
    # Services that plugins add (``extensions["retention"]``...).
    extensions: dict[str, Any] = field(default_factory=dict)
    # Crash recovery that plugins add (the retention purge replay, INV-3); run in order
    # by :meth:`startup_recovery` after the store check.
    recovery: list[Callable[[], object]] = field(default_factory=list)

    @classmethod
    def open(cls, config: Config, *, clock: Clock | None = None) -> Services:
        clock = clock or SystemClock()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(config.effective_database_url)
        store = MediaStore(config.media_dir)
        store.create_dirs()
        audit = AuditLog(load_or_create_key(config.secrets_dir, "audit.key"), clock)
        events = EventBus()
        categories = load_categories(config.tagging.categories_file)
        users = UserService(
            db,
            audit,
            clock,
            max_failures=config.web.login_max_failures,
            window_seconds=config.web.login_window_seconds,
            token_hours=config.web.token_hours,
        )
        ingestor = Ingestor(
            db,
            store,
            audit,
            clock,
            events,
            categories,
            reserve_bytes=config.ingest.min_free_bytes,
            buffer_bytes=config.ingest.copy_buffer_bytes,
        )
        catalog = Catalog(db, store, audit, clock, categories)
        uploads = UploadService(
            db,
            config.data_dir / "uploads",
            ingestor,
            catalog,
            audit,
            clock,
            max_upload_bytes=config.web.max_upload_bytes,
            max_chunk_bytes=config.web.max_chunk_bytes,
        )
        dock = DockScanner(config.dock_dir, ingestor, clock, config.ingest.dock_settle_seconds)
        services = cls(
            config=config,
            clock=clock,
            db=db,
            store=store,
            audit=audit,
            events=events,
            categories=categories,
            users=users,
            ingestor=ingestor,
            catalog=catalog,
            uploads=uploads,
            dock=dock,
        )
        services.jobs.append(Job("dock-scan", config.ingest.dock_scan_seconds, dock.scan))
        # Packages built on the core (retention, ...) install their hooks, jobs and
        # services here; ``vms`` itself imports none of them (ARCHITECTURE section 2).
        for ep in entry_points(group="vms.plugins"):
            install: Callable[[Services], None] = ep.load()
            install(services)
        return services

    def migrate(self) -> None:
        """Create the folders and bring the schema to the newest migration (idempotent)."""
        for path in (self.config.media_dir, self.config.dock_dir, self.config.data_dir / "uploads"):
            path.mkdir(parents=True, exist_ok=True)
        self.store.create_dirs()
        upgrade(self.db.engine)

    def startup_recovery(self) -> None:
        """Finish or undo what a crash left behind (INV-1)."""
        report = recover(self.db, self.store)
        if report.missing:
            log.error("%d catalogued files are missing from the store", len(report.missing))
        if report.quarantined:
            log.warning(
                "%d unreadable files wait in quarantine (vms catalog check lists them)",
                len(report.quarantined),
            )
        for step in self.recovery:
            step()

    def init(self, admin_user: str | None = None, admin_password: str | None = None) -> None:
        """``vms init``: migrate, create folders and the first admin (idempotent)."""
        self.migrate()
        if admin_user and admin_password:
            self.users.add_user(
                admin_user,
                "admin",
                admin_password,
                by=Who("vms-init", SYSTEM_ROLE),
                exist_ok=True,
            )

    def close(self) -> None:
        self.db.dispose()
