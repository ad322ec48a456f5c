"""The page scripts' first read on the socket's connection (OPS-1: a camera's health and
alarms shown). live.js (base.html) opens the page's one socket before the page's own
scripts run: a script that read only on ``socket.on("connect", ...)`` missed its first
read when it came later than the connection (a loaded server). Three scripts had that
trap (ptz_control.js, alarms.js, live_view.js; the held-script tests in
test_page_races_browser.py); each now uses live.js's ``vmsOnConnected(socket, fn)``,
which runs fn on every connection and at once when already connected. This check keeps
a fourth copy of the trap out: no script or template subscribes to "connect" but the
helper itself."""

from __future__ import annotations

import re
from pathlib import Path

import web

WEB = Path(web.__file__).parent
CONNECT = re.compile(r"""\.on\(\s*["']connect["']""")
# The one subscription allowed: the helper's own, the line after its definition.
HELPER = re.compile(
    r"""window\.vmsOnConnected = function \(socket, fn\) \{\n\s*socket\.on\("connect", fn\);"""
)


def direct_connect_handlers(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    allowed = {text.count("\n", 0, m.end()) + 1 for m in HELPER.finditer(text)}
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if CONNECT.search(line) and number not in allowed:
            name = path.relative_to(WEB) if path.is_relative_to(WEB) else path.name
            found.append(f"{name}:{number}: {line.strip()}")
    return found


def page_scripts() -> list[Path]:
    scripts = sorted((WEB / "static").glob("*.js"))
    return scripts + sorted((WEB / "templates").rglob("*.html"))


def test_no_page_script_reads_on_connect_but_through_vms_on_connected_OPS_1() -> None:
    assert (WEB / "static" / "live.js") in page_scripts()
    found = [f for p in page_scripts() for f in direct_connect_handlers(p)]
    assert found == [], (
        'a script subscribes to "connect" itself; use window.vmsOnConnected(socket, fn) '
        "(live.js), which also runs fn when the socket connected before the script ran"
    )


def test_the_check_sees_a_direct_connect_subscription(tmp_path: Path) -> None:
    live = (WEB / "static" / "live.js").read_text(encoding="utf-8")
    assert "window.vmsOnConnected = function (socket, fn) {" in live
    script = tmp_path / "page.js"
    script.write_text(
        'socket.on("connect", read);\n'
        "window.vmsOnConnected(socket, read);\n"
        "socket.on( 'connect', () => read());\n"
    )
    assert [f.split(": ", 1)[0] for f in direct_connect_handlers(script)] == [
        "page.js:1",
        "page.js:3",
    ]
