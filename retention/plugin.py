"""Installs retention into a :class:`~vms.services.Services` (entry point ``vms.plugins``).

``install`` builds the retention services from the configuration, appends the ingest
hook (pin by preservation scope, set the expiry), the tag-change hook (recompute the
expiry), the purge job (every ``[retention] purge_interval_minutes``), the daily tagging
deadline job (TAG-3) and the startup replay of interrupted purges (INV-3), and puts the
services in ``services.ports`` (keyed by :class:`Retention`). Nothing runs at import or install.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from retention.casefile import CaseFileService
from retention.clock_guard import PurgeClockGuard
from retention.expiry import ExpiryService
from retention.holds import Holder
from retention.legal import CaseService, LegalHoldService
from retention.object_holds import SYNC_SECONDS, ObjectHolds
from retention.preservation import PreservationService
from retention.purge import PURGE_WHO, Purger, PurgeReport
from retention.release_shares import ReleaseShares
from retention.releases import ReleaseService
from retention.reports import Reports
from retention.rules import RetentionPolicy
from retention.share_links import ShareAccess
from vms import ids
from vms.db.models import MediaItem
from vms.ports import TaggingReport
from vms.services import Job, Services
from vms.store_guard import StoreNotThere

DAY_SECONDS = 24 * 3600.0


@dataclass
class Retention:
    """The retention services of one process."""

    policy: RetentionPolicy
    expiry: ExpiryService
    holder: Holder
    preservation: PreservationService
    legal_holds: LegalHoldService
    cases: CaseService
    purger: Purger
    reports: Reports
    releases: ReleaseService
    release_shares: ReleaseShares
    shares: ShareAccess
    object_holds: ObjectHolds

    def on_ingest(self, session: Session, item: MediaItem, now: dt.datetime) -> None:
        """Ingest hook: pin by active preservation scopes, then set the expiry."""
        self.preservation.on_ingest(session, item, now)
        self.expiry.apply(session, item)

    def on_change(self, session: Session, item: MediaItem, now: dt.datetime) -> None:
        """Tag-change hook: categories, evidence or case number moved (RET-12)."""
        self.expiry.apply(session, item)

    def replay_purges(self) -> int:
        """Startup: finish purges a crash interrupted (INV-3)."""
        report = PurgeReport(run_id=ids.new_id(), dry_run=False, now=self.purger.clock.now())
        try:
            return self.purger.replay(report)
        except StoreNotThere:
            # Logged and alarmed by the guard; the intents wait for the store (RET-1).
            return 0


def build(services: Services) -> Retention:
    cfg = services.config.retention
    policy = RetentionPolicy.build(
        fixed_days=cfg.fixed_days,
        bwc_days=cfg.bwc_days,
        dash_days=cfg.dash_days,
        handheld_days=cfg.handheld_days,
        evidence_days=cfg.evidence_days,
        categories=services.categories.categories,
    )
    expiry = ExpiryService(services.db, policy)
    holder = Holder(services.store, expiry)
    args = (services.db, services.audit, services.clock)
    releases = ReleaseService(
        services.db,
        services.store,
        services.audit,
        services.clock,
        services.authoriser,
        services.config.releases,
    )
    return Retention(
        policy=policy,
        expiry=expiry,
        holder=holder,
        preservation=PreservationService(
            *args, services.events, services.authoriser, services.ingestor, holder, expiry
        ),
        legal_holds=LegalHoldService(*args, services.authoriser, holder),
        cases=CaseService(*args, services.authoriser, expiry),
        purger=Purger(
            services.db,
            services.store,
            services.audit,
            services.clock,
            services.events,
            expiry,
            batch_size=cfg.purge_batch_size,
            alarm_free_bytes=cfg.disk_alarm_free_bytes,
            guard=services.store_guard,
            clock_guard=PurgeClockGuard(
                services.db,
                services.audit,
                services.events,
                max_gap=dt.timedelta(hours=cfg.purge_clock_max_gap_hours),
                max_skew=(
                    dt.timedelta(seconds=cfg.purge_clock_max_skew_seconds)
                    if cfg.purge_clock_max_skew_seconds > 0
                    else None
                ),
                who=PURGE_WHO,
            ),
        ),
        reports=Reports(
            *args,
            services.events,
            services.authoriser,
            deadline_hours=services.config.tagging.deadline_hours,
            zone=services.config.zone,
        ),
        releases=releases,
        release_shares=ReleaseShares(releases),
        shares=ShareAccess(
            services.db, services.store, services.audit, services.clock, services.users.throttle
        ),
        object_holds=ObjectHolds(services.db, services.store),
    )


def install(services: Services) -> None:
    retention = build(services)
    services.ingestor.hooks.append(retention.on_ingest)
    services.catalog.change_hooks.append(retention.on_change)
    services.jobs.append(
        Job(
            "purge",
            services.config.retention.purge_interval_minutes * 60,
            retention.purger.run,
            cluster_once=True,
        )
    )
    services.jobs.append(
        Job(
            "tagging-deadlines",
            DAY_SECONDS,
            retention.reports.notify_untagged,
            cluster_once=True,
        )
    )
    if services.store.remote is not None:
        # Held items' objects get an S3 legal hold (issue 13.6, INV-3).
        services.jobs.append(
            Job("object-holds", SYNC_SECONDS, retention.object_holds.sync, cluster_once=True)
        )
    services.recovery.append(retention.replay_purges)
    services.ports.provide(Retention, retention)
    # TAG-7's numbers for the monthly audit (vms/audit/monthly.py, OPS-7).
    services.ports.provide(TaggingReport, retention.reports)
    # Case folders (issue 15.3): their own port, read by web/api/cases.py.
    services.ports.provide(
        CaseFileService,
        CaseFileService(
            services.db,
            services.audit,
            services.clock,
            services.authoriser,
            retention.expiry,
            services.ports,
        ),
    )


def get(services: Services) -> Retention:
    """The installed retention services (for the web and CLI layers)."""
    return services.ports.get(Retention, reader="retention")
