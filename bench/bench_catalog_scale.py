"""Hot reads at agency scale (PostgreSQL): how a request's cost grows with the catalog
and the audit log, small against large.

    $V/bin/python bench/bench_catalog_scale.py [--sizes 10000:25000,200000:500000]
        [--runs 7] [--keep] [--database NAME]

For each size ``MEDIA:AUDIT`` a database of its own (``vms_scale_<media>_<audit>``,
dropped at the end unless ``--keep``; reused when ``--database`` names a loaded one) is
built by the migrations and bulk-loaded with COPY (bench/scale_data.py): one-minute
segments of 40 fixed cameras (90 %) and body-worn items, with expiries and custody
events, and a chained audit log over 30 days (views, searches with the items they
showed, PTZ commands, logins). Then each request below runs ``--runs`` times through
the real app (Flask test client, bearer token; the request's own audit entry included):
median milliseconds and the statements it sent. A request whose statements grow with
the data, or whose time grows with it while its answer does not, is a defect.

To compare with an older commit, copy this file and scale_data.py into that commit's
tree (``git archive <commit> | tar -x -C /tmp/old``; benchlib puts the tree of the file
run first on the path) and run both against the same loaded database (``--database``;
add ``--keep`` when building it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import benchlib
import scale_data
import sqlalchemy as sa
from sqlalchemy import event, select

from vms.audit.log import SYSTEM_ROLE, Who
from vms.clock import ManualClock
from vms.config import load_config
from vms.db.models import MediaItem, User
from vms.services import Services

USERS = (("auditor", "auditor"), ("investigator", "investigator"), ("admin", "admin"))
PASSWORD = "correct horse battery"
DAY = "start=2026-11-19T12:00:00Z&end=2026-11-20T12:00:00Z"
OLD_DAY = "start=2026-10-22T00:00:00Z&end=2026-10-23T00:00:00Z"


def open_services(name: str) -> Services:
    url = sa.make_url(benchlib.PG_ADMIN_URL).set(database=name)
    config = load_config(
        environ={},
        overrides={
            "VMS_DATA_DIR": str(benchlib.OUT_DIR / name),
            "VMS_DATABASE_URL": url.render_as_string(hide_password=False),
            "VMS_INGEST_MIN_FREE_BYTES": "0",
        },
    )
    services = Services.open(config, clock=ManualClock(scale_data.NOW))
    services.migrate()
    benchlib.quiet_logs()
    return services


def build(name: str, media: int, audit: int) -> None:
    benchlib.pg_admin(f'CREATE DATABASE "{name}"')
    services = open_services(name)
    try:
        t = time.perf_counter()
        scale_data.load(services, media, audit)
        by = Who("bench", SYSTEM_ROLE)
        for username, role in USERS:
            services.users.add_user(username, role, PASSWORD, by=by)
        print(f"  loaded {media} items, {audit} audit entries in {time.perf_counter() - t:.0f}s")
    finally:
        services.close()


def requests(services: Services) -> list[tuple[str, str, str]]:
    """(name, user, path) of the requests measured."""
    with services.db.session() as s:
        old_item = s.execute(
            select(MediaItem.id).order_by(MediaItem.recorded_start).offset(100).limit(1)
        ).scalar_one()
    return [
        ("catalog page, newest 50", "investigator", "/api/v1/media?limit=50"),
        ("catalog page, one camera", "investigator", "/api/v1/media?device_id=cam-001&limit=50"),
        ("camera timeline, last 24 h", "investigator", f"/api/v1/cameras/cam-001/timeline?{DAY}"),
        ("audit, newest 100", "auditor", "/api/v1/audit"),
        ("audit, one actor", "auditor", "/api/v1/audit?actor=user001"),
        ("audit, what touched an item", "auditor", f"/api/v1/audit?target=media:{old_item}"),
        ("audit, one day a month ago", "auditor", f"/api/v1/audit?{OLD_DAY}"),
        ("PTZ-use report, 7 days", "auditor", "/api/v1/audit/ptz/report"),
        ("monthly audit", "auditor", "/api/v1/reports/monthly-audit?month=2026-11"),
    ]


def measure(services: Services, runs: int) -> dict[str, tuple[float, int, int]]:
    """name -> (median ms, statements, status) per request."""
    from web.app import create_app

    app, _ = create_app(services, testing=True)
    client = app.test_client()
    with services.db.session() as s:
        users = {u.username: u for u in s.execute(select(User)).scalars()}
        tokens = {
            name: services.users.issue_token(services.users.actor_for(s, user)).token
            for name, user in users.items()
        }
    sent: list[str] = []

    def count(*args: Any) -> None:
        sent.append(args[2])

    event.listen(services.db.engine, "before_cursor_execute", count)
    out: dict[str, tuple[float, int, int]] = {}
    try:
        for name, user, path in requests(services):
            headers = {"Authorization": f"Bearer {tokens[user]}"}
            times: list[float] = []
            for _ in range(runs):
                sent.clear()
                t = time.perf_counter()
                r = client.get(path, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
            out[name] = (statistics.median(times), len(sent), r.status_code)
    finally:
        event.remove(services.db.engine, "before_cursor_execute", count)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:25000,200000:500000")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--database", help="a database loaded before (one size only)")
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split(":")) for s in args.sizes.split(",")]
    results: dict[str, dict[str, tuple[float, int, int]]] = {}
    for media, audit in sizes:
        label = f"{media // 1000}k items/{audit // 1000}k audit"
        name = args.database or f"vms_scale_{media}_{audit}"
        print(f"{label}: database {name}", flush=True)
        if not args.database:
            build(name, media, audit)
        services = open_services(name)
        try:
            results[label] = measure(services, args.runs)
        finally:
            services.close()
            if not args.keep and not args.database:
                benchlib.pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    labels = list(results)
    print()
    print(f"{'request':32s}" + "".join(f"{lb:>34s}" for lb in labels))
    for name in results[labels[0]]:
        cells = []
        for lb in labels:
            ms, statements, status = results[lb][name]
            flag = "" if status == 200 else f" HTTP {status}"
            cells.append(f"{ms:10.1f} ms {statements:4d} stmts{flag}".rjust(34))
        print(f"{name:32s}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
