"""Wiring: one :class:`Services` holds the configured services of a process.

Built by the CLI, the web app factory and test fixtures; nothing is created at import.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from vms.access import ReviewAccess
from vms.alarms import AlarmService
from vms.audit.checkpoints import AuditSigner, Checkpoints
from vms.audit.log import SYSTEM_ROLE, AuditLog, Who
from vms.audit.monthly import MonthlyAudit, ReviewService
from vms.audit.view import AuditViewService
from vms.auth.authoriser import Authoriser
from vms.auth.passwords import check_password
from vms.auth.throttle import ThrottleSettings
from vms.auth.users import UserService, checked_username
from vms.bookmarks import BookmarkService
from vms.case_exports import CaseExports
from vms.catalog import Catalog
from vms.categories import CategoryList, load_categories
from vms.check import recover
from vms.clock import Clock, SystemClock
from vms.config import Config
from vms.db.engine import Database, sqlite_path
from vms.db.schema import refuse_newer
from vms.devices import DeviceService
from vms.dock import DockScanner
from vms.errors import FailedPrecondition
from vms.events import EventBus, open_bus
from vms.exports.ownership import Runner as ExportRunner
from vms.exports.service import ExportService
from vms.file_modes import (
    PRIVATE_DIR_MODE,
    require_owned,
    restrict_umask,
    secure_data_dir,
    sqlite_files,
)
from vms.ingest import Ingestor
from vms.leases import JobLeases, default_node_id
from vms.logs import install_redaction
from vms.ports import Ports
from vms.recorded_time import RecordedWindow
from vms.roles import Component, RoleSet
from vms.secrets import load_or_create_key
from vms.store import MediaStore, open_bucket
from vms.store_guard import StoreGuard, StoreNotThere
from vms.uploads import UploadService

log = logging.getLogger(__name__)

# Abandoned uploads are looked for at least this often (and four times per stale age).
UPLOAD_EXPIRY_MAX_SECONDS = 600.0
# Who a schema upgrade at a role's start is audited as (ACC-6).
UPGRADE_ACTOR = Who("vms-upgrade", SYSTEM_ROLE)
# In the data folder while ``vms backup restore`` has not finished (docs/design/backup.md):
# no role starts on a catalog without its originals or keys.
RESTORING = ".restore-in-progress"


def require_not_restoring(data_dir: Path) -> None:
    """Refuse an installation a restore has not finished (docs/design/backup.md)."""
    if (data_dir / RESTORING).exists():
        raise FailedPrecondition(
            f"a restore into {data_dir} was cut short: run `vms backup restore` with the "
            "same set again to finish it"
        )


def _scheduled_backup(services: Services) -> object:
    from vms.backup.create import scheduled_backup  # it imports this module

    return scheduled_backup(services)


@dataclass(frozen=True)
class Job:
    """A periodic job the jobs role runs: ``run()`` every ``interval_seconds``.

    ``cluster_once``: one run per period across every jobs-role process, under a lease
    (:mod:`vms.leases`, issue 13.5); else every process runs its own (per-process state:
    login throttles, PTZ sessions, camera health of its own cameras). ``recover`` runs
    before ``run`` when a node takes over a run that another left unfinished."""

    name: str
    interval_seconds: float
    run: Callable[[], object]
    cluster_once: bool = False
    recover: Callable[[], object] | None = None


@dataclass
class Services:
    config: Config
    clock: Clock
    db: Database
    store: MediaStore
    audit: AuditLog
    authoriser: Authoriser  # every permission decision (ACC-1; refusals audited, INV-4)
    events: EventBus
    categories: CategoryList
    users: UserService
    ingestor: Ingestor
    catalog: Catalog
    uploads: UploadService
    dock: DockScanner
    devices: DeviceService
    audit_view: AuditViewService
    checkpoints: Checkpoints
    bookmarks: BookmarkService  # issue 15.3
    exports: ExportService  # issue 15.4
    reviews: ReviewService  # supervisor reviews (OPS-6, issue 14.3)
    monthly_audit: MonthlyAudit  # the monthly audits (OPS-7, issue 14.3)
    review_access: ReviewAccess  # issue 14.4: ACC-2 approvals, ACC-3 grants
    leases: JobLeases  # one runner of each cluster-wide job (issue 13.5)
    alarms: AlarmService  # alarms on screen (issue 12.3)
    jobs: list[Job] = field(default_factory=list)
    # What plugins offer each other, by port type (vms/ports.py), and what they run in
    # each role (vms/roles.py); docs/design/ports-and-roles.md.
    ports: Ports = field(default_factory=Ports)
    roles: RoleSet = field(default_factory=RoleSet)
    # Crash recovery that plugins add (the retention purge replay, INV-3); run in order
    # by :meth:`startup_recovery` after the store check.
    recovery: list[Callable[[], object]] = field(default_factory=list)
    # Cleanup that plugins add (camera connections, the ONVIF loop); run newest first by
    # :meth:`close`.
    closers: list[Callable[[], object]] = field(default_factory=list)
    # Is the media folder the catalog's store (vms/store_guard.py; RET-1, INV-3)?
    store_guard: StoreGuard | None = None

    @classmethod
    def open(
        cls, config: Config, *, clock: Clock | None = None, restoring: bool = False
    ) -> Services:
        """The services of the installation ``config`` describes; ``restoring``: the
        restore finishing its own work (docs/design/backup.md), the only one that may open
        an installation a restore has not finished."""
        if not restoring:
            require_not_restoring(config.data_dir)
        clock = clock or SystemClock()
        install_redaction()  # no URL password in any log record of the process (#10.11)
        # Private files from here on, the data folder's new parents included (under an
        # inherited umask 002 they were group-writable: the folder could be swapped).
        restrict_umask()
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        require_owned(config.data_dir)  # nothing another local user planted (item 12)
        # A warning for anything found open (item 12).
        database_file = sqlite_path(config.effective_database_url)
        secure_data_dir(config.data_dir, extra=sqlite_files(database_file) if database_file else ())
        db = Database(config.effective_database_url)
        try:
            refuse_newer(db.engine)  # a rolled-back upgrade: nothing read or written
            services = cls._wire(config, clock, db)
        except BaseException:
            db.dispose()
            raise
        try:
            services._install()
        except BaseException:
            # Nothing left open by a start that failed halfway (a plugin, a job's set-up):
            # what was installed so far, then the database (its connections closed, not
            # left to the garbage collector).
            services.close()
            raise
        return services

    @classmethod
    def _wire(cls, config: Config, clock: Clock, db: Database) -> Services:
        """The services on ``db``, before the jobs and plugins (:meth:`_install`)."""
        remote = open_bucket(config)
        store = MediaStore(config.media_dir, remote)
        store.create_dirs()
        audit = AuditLog(load_or_create_key(config.secrets_dir, "audit.key"), clock)
        authoriser = Authoriser(db, audit, privacy_roles=config.access.privacy_roles)  # ACC-11
        # Across processes through Redis when one is configured (issue 13, item 3).
        events = open_bus(config.bus_url, config.redis_prefix)
        store_guard = StoreGuard(store, db, events)
        categories = load_categories(config.tagging.categories_file)
        users = UserService(
            db,
            audit,
            clock,
            throttle=ThrottleSettings(
                free_failures=config.web.login_max_failures,
                window=dt.timedelta(seconds=config.web.login_window_seconds),
                first_delay=dt.timedelta(seconds=config.web.login_delay_seconds),
                max_delay=dt.timedelta(seconds=config.web.login_max_delay_seconds),
            ),
            token_hours=config.web.token_hours,
            session_hours=config.web.session_hours,
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
            window=RecordedWindow(
                max_future=dt.timedelta(seconds=config.ingest.recorded_at_max_future_seconds),
                max_age=dt.timedelta(days=config.ingest.recorded_at_max_age_days),
            ),
            enforce_assignment=config.ingest.device_assignment,
            max_frame_pixels=config.ingest.probe_max_frame_pixels,
            guard=store_guard,
        )
        catalog = Catalog(
            db, store, audit, clock, categories, authoriser, config.access.purpose_list
        )
        uploads = UploadService(
            db,
            config.data_dir / "uploads",
            ingestor,
            catalog,
            authoriser,
            audit,
            clock,
            max_upload_bytes=config.web.max_upload_bytes,
            max_chunk_bytes=config.web.max_chunk_bytes,
            reserve_bytes=config.ingest.upload_min_free_bytes,
            user_open_bytes=config.ingest.upload_user_open_bytes,
            user_open_uploads=config.ingest.upload_user_open_uploads,
        )
        dock = DockScanner(
            config.dock_dir,
            ingestor,
            clock,
            config.ingest.dock_settle_seconds,
            config.ingest.dock_orphan_sidecar_seconds,
        )
        ports = Ports()  # filled by the plugins at install; the monthly audit reads it
        services = cls(
            ports=ports,
            store_guard=store_guard,
            config=config,
            clock=clock,
            db=db,
            store=store,
            audit=audit,
            authoriser=authoriser,
            events=events,
            categories=categories,
            users=users,
            ingestor=ingestor,
            catalog=catalog,
            uploads=uploads,
            dock=dock,
            devices=DeviceService(
                db, audit, authoriser, clock, enforce_assignment=config.ingest.device_assignment
            ),
            audit_view=AuditViewService(db, audit, authoriser),
            bookmarks=BookmarkService(db, audit, clock, authoriser),
            review_access=ReviewAccess(db, audit, clock, authoriser),
            exports=ExportService(
                db,
                store,
                audit,
                clock,
                authoriser,
                events,
                ingestor,
                secrets_dir=config.secrets_dir,
                work_dir=config.data_dir / "exports",
                max_span=dt.timedelta(hours=config.exports.max_hours),
                max_pending_per_user=config.exports.max_pending_per_user,
                reserve_bytes=max(
                    config.ingest.upload_min_free_bytes, config.ingest.min_free_bytes
                ),
                change_hooks=catalog.change_hooks,
                runner=ExportRunner.of(config.cluster.node_id, config.cluster.job_lease_seconds),
            ),
            reviews=ReviewService(db, audit, clock, authoriser, zone=config.zone),
            monthly_audit=MonthlyAudit(
                db,
                audit,
                clock,
                authoriser,
                ports,
                reviews_required=config.reviews.per_officer_month,
                zone=config.zone,
            ),
            alarms=AlarmService(db, audit, clock, authoriser, events),
            leases=JobLeases(
                db,
                clock,
                config.cluster.node_id or default_node_id(),
                dt.timedelta(seconds=config.cluster.job_lease_seconds),
            ),
            checkpoints=Checkpoints(
                db,
                audit,
                AuditSigner(config.secrets_dir),
                clock,
                config.data_dir / "audit",
                remote=remote if config.store.audit_checkpoints else None,
                every_entries=config.audit.checkpoint_entries,
                every_minutes=config.audit.checkpoint_minutes,
            ),
        )
        return services

    def _install(self) -> None:
        """The jobs, the closers and the plugins' hooks of the services."""
        config, events = self.config, self.events
        self.closers.append(events.close)  # first registered: closed last
        self.alarms.listen()  # this process's events raise and clear alarms
        # Signed checkpoints of the audit chain (issue 14): checked twice per period.
        self.jobs.append(
            Job(
                "audit-checkpoint",
                max(1.0, min(60.0, config.audit.checkpoint_minutes * 30.0)),
                self.checkpoints.run,
                cluster_once=True,
            )
        )
        self.jobs.append(
            Job("dock-scan", config.ingest.dock_scan_seconds, self.dock.scan, cluster_once=True)
        )
        stale = dt.timedelta(hours=config.ingest.upload_stale_hours)
        self.jobs.append(
            Job(
                "upload-expiry",
                min(UPLOAD_EXPIRY_MAX_SECONDS, max(1.0, stale.total_seconds() / 4)),
                lambda: self.uploads.expire_stale(stale),
                cluster_once=True,
            )
        )
        # Exports (issue 15.4): queued ones run in the jobs role; when it starts, and
        # before each round, those whose runner is gone (a killed jobs role or `vms
        # export create`: its export's lease expired, vms/exports/ownership.py) are
        # finished or failed first (issue 15.6); a live runner's export is left alone.
        # Across nodes (issue 13.5): one runner of queued exports under the "exports"
        # lease; a node taking over from a dead one recovers first.
        exports = self.exports
        self.jobs.append(
            Job(
                "exports",
                config.exports.poll_seconds,
                exports.run_pending,
                cluster_once=True,
                recover=exports.recover_interrupted,
            )
        )
        self.roles.add(
            Component(
                "jobs",
                "export-recovery",
                lambda: self.leases.unless_held("exports", exports.recover_interrupted),
                order=10,
            )
        )
        self.ports.provide(CaseExports, self.exports)
        if config.backup.folder:  # scheduled backup sets (docs/design/backup.md)
            self.jobs.append(
                Job(
                    "backup",
                    config.backup.interval_hours * 3600,
                    lambda: _scheduled_backup(self),
                    cluster_once=True,
                )
            )
        # Aggregated audit of refused sign-ins, and forgetting idle throttle keys.
        self.jobs.append(
            Job("login-throttle", config.web.login_window_seconds, self.users.sweep_throttle)
        )
        # Packages built on the core (retention, ...) install their hooks, jobs and
        # services here; ``vms`` itself imports none of them (ARCHITECTURE section 2).
        for ep in entry_points(group="vms.plugins"):
            install: Callable[[Services], None] = ep.load()
            install(self)

    def migrate(self, by: Who = UPGRADE_ACTOR) -> None:
        """Create the folders and bring the schema to the newest migration (idempotent).
        ``by``: who an upgrade is audited as, ``vms-upgrade`` (a role's start) by default;
        ``vms init`` gives the operating-system user running it (ACC-6)."""
        for path in (self.config.media_dir, self.config.dock_dir, self.config.data_dir / "uploads"):
            path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        self.store.create_dirs()
        # Imported here: Alembic takes ~0.06 s to load, which CLI commands that do not
        # migrate need not pay.
        from vms.migrations import upgrade

        upgrade(self.db.engine, record=functools.partial(self._record_upgrade, by))

    def _record_upgrade(self, by: Who, connection: Connection, start: str, end: str) -> None:
        """The audit entry of a schema upgrade, in the migration's transaction (INV-4):
        its data migrations change records (0041 marks forms as evidence, ACC-6)."""
        with Session(bind=connection) as session:  # joins, never ends, that transaction
            self.audit.append(
                session,
                by,
                "schema.upgrade",
                f"schema:{end}",
                details={"from": start, "to": end},
            )

    def startup_recovery(self) -> None:
        """Finish or undo what a crash left behind (INV-1)."""
        if self.store_guard is not None:
            # Mark a store from before the marker; an unmounted one raises the alarm
            # here (the purge and the ingest refuse it on their own: RET-1, INV-3).
            with contextlib.suppress(StoreNotThere):
                self.store_guard.require("start")
        report = recover(self.db, self.store, audit=self.audit)
        if report.missing:
            log.error("%d catalogued files are missing from the store", len(report.missing))
        if report.quarantined:
            log.warning(
                "%d unreadable files wait in quarantine (vms catalog check lists them)",
                len(report.quarantined),
            )
        for step in self.recovery:
            step()

    def init(
        self,
        admin_user: str | None = None,
        admin_password: str | None = None,
        by: Who = Who("vms-init", SYSTEM_ROLE),
    ) -> None:
        """``vms init``: migrate, create folders and the first admin (idempotent). ``by``:
        who the admin's creation and a schema upgrade are audited as (the CLI: the OS user
        running it, ACC-6). An admin the user rules refuse is refused before anything
        is made: a refusal after the migration left an installation nobody can sign in to."""
        if admin_user and admin_password:
            checked_username(admin_user)
            check_password(admin_password)
        self.migrate(by)
        if admin_user and admin_password:
            self.users.add_user(
                admin_user,
                "admin",
                admin_password,
                by=by,
                exist_ok=True,
            )

    def close(self) -> None:
        """Run the plugins' cleanup (newest first), then close the object store's
        connections and release the database."""
        while self.closers:
            closer = self.closers.pop()
            try:
                closer()
            except Exception:
                log.exception("closing %r failed", closer)
        try:
            self.store.close()
        finally:
            self.db.dispose()
