"""Roles: what each role of a process runs, and ``vms serve``, which runs them.

A process runs one role (``--role web|media|jobs``) or all of them (``--role all``, the
embedded default, ARCHITECTURE section 1). Each plugin contributes its :class:`Component`
per role to ``services.roles`` when it is installed (nothing starts at install):

- media: the pose tracker (``onvif_control``), the recorder with its registry reconcile
  (``recorder``);
- jobs: one :class:`JobRunner` over ``services.jobs`` (dock scan, upload expiry, login
  throttle sweep from ``vms``; purge and tagging reports from ``retention``; camera health
  and PTZ session expiry from ``onvif_control``);
- web: the Flask app (``web``; the role's *main* component, which blocks until the
  process stops).

Before anything starts, every port a component of the chosen roles requires must have a
provider (:mod:`vms.ports`); otherwise the start fails naming the port and the role.
``vms`` imports none of the other packages: the ``serve`` command is registered by the
package that contributes the web app (``web.server.register``), passing its installer.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vms.config import Config
from vms.errors import FailedPrecondition, InvalidArgument
from vms.failure_streak import FailureStreak
from vms.ports import DemoSetup, PortMissing, port_name

if TYPE_CHECKING:
    from vms.leases import JobLeases
    from vms.services import Job, Services

log = logging.getLogger(__name__)

ROLES = ("media", "jobs", "web")  # start order of ``--role all``
ROLE_CHOICES = ("all", *ROLES)


def _nothing() -> None:
    return None


def settle_heap() -> None:
    """Take what start-up made out of the garbage collector's sight: called once a
    serving process has built everything that lives as long as it does (modules, the
    app, the services, ONVIF's parsed WSDL), right before it serves.

    Without it every full collection walks those ~170,000 objects again (60 ms on this
    project's reference machine), in the middle of whichever request triggered it: the
    whole tail of the 24 h playlist's latency (issue 15, bench/playlist.py). Frozen
    objects are never collected, which is what they are for; garbage made while serving
    is collected as before. (``gc.freeze``, as the Python documentation advises for
    long-lived servers.)"""
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class Component:
    """A part of a role: ``start()`` when the role starts, ``stop()`` when it stops
    (reverse order). A *main* component (at most one per process: the web app) is
    started last and blocks in ``start()`` until the process ends."""

    role: str
    name: str
    start: Callable[[], object]
    stop: Callable[[], object] = _nothing
    requires: tuple[type, ...] = ()
    main: bool = False
    order: int = 50  # within a role, lower starts first

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidArgument(f"unknown role {self.role!r} (one of {', '.join(ROLES)})")


@dataclass(frozen=True)
class Serving:
    """What ``vms serve`` runs in this process: the web role's component reads it to
    choose its HTTP server (``web.server``)."""

    roles: tuple[str, ...]
    demo: bool


class Listener(Protocol):
    """The small HTTP server of a process without the web app."""

    @property
    def port(self) -> int: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class RoleSet:
    """The components plugins contributed, and the ports read outside components
    (``readers``: role -> (port, reader name)), checked at start like ``requires``."""

    components: list[Component] = field(default_factory=list)
    readers: list[tuple[str, type, str]] = field(default_factory=list)
    serving: Serving | None = None  # set by serve() before anything starts
    # The HTTP listener of a media-role process without the web app: health, metrics and
    # the internal API (contributed by the web package, issue 13.2); None: health only.
    node_listener: Callable[[Services, str, int], Listener] | None = None

    def add(self, component: Component) -> None:
        self.components.append(component)

    def reads(self, role: str, port: type, reader: str) -> None:
        """Declare that ``reader``, served by ``role``, reads ``port`` (checked at start)."""
        if role not in ROLES:
            raise InvalidArgument(f"unknown role {role!r} (one of {', '.join(ROLES)})")
        self.readers.append((role, port, reader))

    def of(self, roles: Iterable[str]) -> list[Component]:
        """The components of ``roles`` in start order: by role, then ``order``, then as
        contributed; the main component last."""
        wanted = list(roles)
        chosen = [c for c in self.components if c.role in wanted]
        chosen.sort(key=lambda c: (c.main, ROLES.index(c.role), c.order))
        return chosen

    def required(self, roles: Iterable[str]) -> list[tuple[str, type, str]]:
        """(role, port, reader) for every port the chosen roles read."""
        wanted = list(roles)
        out = [(c.role, p, c.name) for c in self.of(wanted) for p in c.requires]
        out += [r for r in self.readers if r[0] in wanted]
        return out


def expand(role: str) -> tuple[str, ...]:
    """``all`` -> every role; else the role itself."""
    if role == "all":
        return ROLES
    if role not in ROLES:
        raise InvalidArgument(f"unknown role {role!r} (one of {', '.join(ROLE_CHOICES)})")
    return (role,)


def check_ports(services: Services, roles: Iterable[str]) -> None:
    """Fail (:class:`~vms.ports.PortMissing`) when a port the roles read has no provider."""
    for role, port, reader in services.roles.required(roles):
        if services.ports.find(port) is None:
            raise PortMissing(
                f"the {role} role cannot start: port {port_name(port)}, required by "
                f"{reader}, has no provider (is the plugin that provides it installed?)"
            )


class JobRunner:
    """Periodic jobs in named background threads, stopped with :meth:`stop`. A job marked
    ``cluster_once`` runs under its lease (:mod:`vms.leases`): looked at four times per
    period (at least every second, at most every minute), run by whichever node claims it."""

    def __init__(self, jobs: Sequence[Job], leases: JobLeases | None = None) -> None:
        self._stop = threading.Event()
        self._leases = leases
        self._threads = [
            threading.Thread(target=self._run, args=(job,), name=f"job-{job.name}", daemon=True)
            for job in jobs
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, job: Job) -> None:
        leases = self._leases if job.cluster_once else None
        period = job.interval_seconds
        if leases is not None:
            period = min(period, max(1.0, period / 4), 60.0)
        interval = dt.timedelta(seconds=job.interval_seconds)
        failures = FailureStreak()  # runs failed in a row
        while not self._stop.wait(period):
            try:
                if leases is None:
                    job.run()
                else:
                    leases.run(job.name, interval, job.run, job.recover)
            except Exception:
                # A failing job is logged and retried next period, never silently dropped;
                # one failing for hours (the database away) at runs 1, 2, 4, 8, ... only,
                # not a traceback every period.
                if failures.failed():
                    log.exception(
                        "job %s failed%s",
                        job.name,
                        f" ({failures.count} runs in a row)" if failures.count > 1 else "",
                    )
                continue
            if ended := failures.ended():
                log.warning("job %s works again after %d failed runs", job.name, ended)


def add_job_runner(services: Services) -> None:
    """The jobs role's component: every job in ``services.jobs``."""
    runner = JobRunner(services.jobs, services.leases)
    services.roles.add(Component("jobs", "job-runner", runner.start, runner.stop))


class RoleRunner:
    """Starts the components of some roles of one process and stops them again."""

    def __init__(self, services: Services, role: str) -> None:
        self.services = services
        self.roles = expand(role)
        self._started: list[Component] = []

    def start(self) -> Component | None:
        """Check the ports, start every non-main component; return the main one (not
        started) if the roles have one."""
        check_ports(self.services, self.roles)
        components = self.services.roles.of(self.roles)
        mains = [c for c in components if c.main]
        if len(mains) > 1:
            names = ", ".join(c.name for c in mains)
            raise FailedPrecondition(f"more than one main component: {names}")
        for component in components:
            if component.main:
                continue
            log.info("%s role: starting %s", component.role, component.name)
            component.start()
            self._started.append(component)
        return mains[0] if mains else None

    def stop(self) -> None:
        """Stop what was started, newest first; a failing stop does not keep the others
        running."""
        while self._started:
            component = self._started.pop()
            try:
                component.stop()
            except Exception:
                log.exception("%s role: stopping %s failed", component.role, component.name)


Installer = Callable[["Services"], None]


def serve(
    config: Config,
    *,
    role: str,
    demo: bool,
    plugins: Sequence[Installer] = (),
    wait: Callable[[], object] | None = None,
) -> int:
    """Run ``role`` in this process until it ends (the web app returns, or forever for the
    other roles). ``plugins`` install components besides the ``vms.plugins`` entry points
    (the web app, from the package that registers the command)."""
    from vms.health import HealthListener
    from vms.services import Services  # the runner is loaded by the CLI before Services

    services = Services.open(config)
    runner: RoleRunner | None = None
    demo_setup: DemoSetup | None = None
    # Everything after the open inside the try: a plugin's install, the job runner's
    # set-up or an unknown role failing closes the services too (the database's pool,
    # the bus's threads), not only a failure while serving.
    try:
        for install in plugins:
            install(services)
        add_job_runner(services)
        runner = RoleRunner(services, role)
        services.roles.serving = Serving(runner.roles, demo)
        services.migrate()
        services.startup_recovery()
        if demo:
            demo_setup = services.ports.get(DemoSetup, reader="vms serve --demo")
            demo_setup.start(runner.roles)
        main = runner.start()
        if main is not None:
            main.start()  # the web app settles the heap itself, once it is built
        else:
            # No web app: a small listener for /healthz, /readyz, /metrics (issue 13.7),
            # and on a media node the internal API web processes forward to (13.2).
            make: Callable[[Services, str, int], Listener] = HealthListener
            if "media" in runner.roles and services.roles.node_listener is not None:
                make = services.roles.node_listener
            health = make(services, config.web.host, config.web.port)
            health.start()
            settle_heap()
            print(
                f"VMS {role} role: health on http://{config.web.host}:{health.port}/healthz",
                flush=True,
            )
            try:
                (wait or threading.Event().wait)()
            finally:
                health.stop()
    finally:
        # Each step runs even when one before it raised (a demo camera that would not
        # stop): the services are closed last, always.
        try:
            try:
                if runner is not None:
                    runner.stop()
            finally:
                if demo_setup is not None:
                    demo_setup.stop()
        finally:
            services.close()
    return 0


def _handle(args: argparse.Namespace, plugins: Sequence[Installer]) -> int:
    config: Config = args.config_obj
    web = dataclasses.replace(
        config.web,
        host=args.host or config.web.host,
        port=args.port if args.port is not None else config.web.port,
        workers=args.workers if args.workers is not None else config.web.workers,
    )
    config = dataclasses.replace(config, web=web)
    return serve(config, role=args.role, demo=args.demo, plugins=plugins)


def register(subparsers: Any, plugins: Sequence[Installer] = ()) -> None:
    """Add ``vms serve`` to the CLI; ``plugins`` are installed into its services."""
    p = subparsers.add_parser("serve", help="run the VMS (web, jobs, media roles)")
    p.add_argument("--host", default=None, help="bind address (default [web] host)")
    p.add_argument("--port", type=int, default=None, help="port (default [web] port)")
    p.add_argument("--role", choices=list(ROLE_CHOICES), default="all")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gunicorn worker processes of --role web (default [web] workers; more than "
        "one needs redis_url)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="add demo users and simulated cameras (never on a real deployment)",
    )
    p.set_defaults(func=lambda args: _handle(args, plugins))
