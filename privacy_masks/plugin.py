"""Installs redaction jobs into a :class:`~vms.services.Services` (issue 16, item 3).

Provides the port :class:`~privacy_masks.redaction.RedactionService` (read by ``web``),
the job ``redactions`` (every ``[redaction] poll_seconds``: analyse queued jobs, render
the ones queued for rendering) and two components of the jobs role: the configured
detector is built once at start (a bad model file is a configuration error there, issue
16 items 1 and 8), and jobs whose runner is gone (its lease expired: a killed jobs role,
here or on another jobs host) left ``analysing``/``rendering`` are marked failed before
the job runs (and again before each of its rounds). Nothing runs at import or install.

Called by the ``recorder`` plugin's ``install`` (which installs the privacy masks'
service too): a separate ``vms.plugins`` entry point needs the package metadata
reinstalled, which shared environments do not do on their own.
"""

from __future__ import annotations

from privacy_masks.redaction import RedactionService
from vms.roles import Component
from vms.row_leases import Runner
from vms.services import Job, Services


def install(services: Services) -> None:
    config = services.config
    redactions = RedactionService(
        services.db,
        services.store,
        services.audit,
        services.clock,
        services.authoriser,
        services.events,
        services.ingestor,
        config.redaction,
        secrets_dir=config.secrets_dir,
        work_dir=config.data_dir / "redactions",
        settings_dir=config.data_dir / "ultralytics",
        reserve_bytes=max(config.ingest.upload_min_free_bytes, config.ingest.min_free_bytes),
        runner=Runner.of(config.cluster.node_id, config.cluster.job_lease_seconds),
    )
    services.ports.provide(RedactionService, redactions)
    # One runner across nodes (issue 13.5), as for exports (vms/services.py).
    services.jobs.append(
        Job(
            "redactions",
            config.redaction.poll_seconds,
            redactions.run_pending,
            cluster_once=True,
            recover=redactions.recover_interrupted,
        )
    )
    services.roles.add(Component("jobs", "redaction-detector", redactions.check_detector, order=5))
    services.roles.add(
        Component(
            "jobs",
            "redaction-recovery",
            lambda: services.leases.unless_held("redactions", redactions.recover_interrupted),
            order=10,
        )
    )
