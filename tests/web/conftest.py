"""Browser fixtures: headless Chromium (Debian's) driven by Playwright, and the real app.

Layers: ``browser`` (one Chromium per session) -> ``site`` (the app with Socket.IO on a
real threaded HTTP server, 127.0.0.1, ephemeral port) -> ``page`` (a fresh browser context,
so no cookies or localStorage leak between tests). The browser tests run on SQLite only:
the pages are what is under test here; the database layers have their own suites on both
backends.

A missing Chromium fails the tests instead of skipping them: a page test that silently
never runs would be a test that lies.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import PASSWORD
from vms.roles import JobRunner
from vms.services import Job, Services

CHROMIUM = os.environ.get("VMS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Set to a folder to keep a screenshot of each page the tests look at (for review).
SCREENSHOT_DIR = os.environ.get("VMS_TEST_SCREENSHOTS")
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def web_assets() -> Path:
    """hls.js in web/static/vendor, put there by the project's own install script."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-web-assets.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    hls = ROOT / "web" / "static" / "vendor" / "hls.min.js"
    assert hls.stat().st_size > 100_000
    return hls


# Per test module, not per session: Playwright's sync API keeps an asyncio loop running
# in the main thread while it is open, and a later module of the same worker calling
# asyncio.run (the WebRTC viewers, the cluster's WHEP watch) would find it there.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    # launch() gives Chromium a fresh temporary --user-data-dir of its own (removed on
    # close); each test then gets its own context (cookies, localStorage).
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000
    )
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class Site:
    url: str
    services: Services


@pytest.fixture
def site(services: Services) -> Iterator[Site]:
    """The app and its Socket.IO, served by werkzeug's threaded server (as ``vms serve``).

    werkzeug hands the raw socket to simple-websocket (``werkzeug.socket``), so Socket.IO
    gets real websockets here without ``socketio.run``, and the server can be shut down.
    """
    from werkzeug.serving import make_server

    from web.app import create_app

    flask_app, _socketio = create_app(services)
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", services)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test on any JavaScript error or CSP violation it logs."""
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield pg
    assert not problems, problems


@pytest.fixture
def start_job() -> Iterator[Callable[[str, Callable[[], int]], None]]:
    """``start_job(name, run_pending)``: the jobs role's job ``name`` polling often beside
    the live server (one process, as ``vms serve --role all``), from when the test calls
    it to the test's end."""
    runners: list[JobRunner] = []

    def start(name: str, run_pending: Callable[[], int]) -> None:
        runner = JobRunner([Job(name, 0.2, run_pending)])
        runner.start()
        runners.append(runner)

    try:
        yield start
    finally:
        for runner in runners:
            runner.stop()


def run_verifier(package: Path, folder: Path) -> str:
    """Unpack an export package into ``folder`` and run its own ``verify.py`` there as
    the recipient does, isolated from our code (``-I``); it must pass. Its output."""
    with zipfile.ZipFile(package) as zf:
        zf.extractall(folder)
    checked = subprocess.run(
        [sys.executable, "-I", "verify.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return checked.stdout


def login(page: Page, username: str, password: str = PASSWORD, lands: str = "**/catalog") -> None:
    """Sign in through the form and wait for the start page (dispatchers: ``**/live``)."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lands)


def switch_user(page: Page, username: str, **kwargs: str) -> None:
    """Sign in as another user in the same browser context. The page is left first: a
    request of the open page still in flight when the cookies are cleared would set the
    previous user's session cookie again (Flask refreshes it on every answer), and
    ``/login`` would then forward to that user's start page (a CI failure)."""
    page.goto("about:blank")
    page.context.clear_cookies()
    login(page, username, **kwargs)


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Page, str], None]:
    """``shoot(page, name)``: a full-page screenshot when VMS_TEST_SCREENSHOTS is set."""

    def take(page: Page, name: str) -> None:
        if SCREENSHOT_DIR:
            folder = Path(SCREENSHOT_DIR)
            folder.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^\w.-]+", "_", f"{request.node.name}-{name}")
            page.screenshot(path=folder / f"{stem}.png", full_page=True)

    return take
