"""A camera not written here: Debian's GStreamer RTSP server (gst-rtsp-server through
python3-gi) serving H.264 from ``videotestsrc`` on 127.0.0.1 at an ephemeral port.

Run with the SYSTEM interpreter (``/usr/bin/python3``; gi is a Debian package, not in
the venv)::

    /usr/bin/python3 rtsp_camera.py [--width 320 --height 180 --fps 10]

Prints ``READY rtsp://127.0.0.1:<port>/cam`` once listening; runs until stdin closes or
SIGTERM, so a parent that dies takes it down too.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")  # ephemeral port
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={args.width},"
        f"height={args.height},framerate={args.fps}/1 ! x264enc tune=zerolatency "
        f"speed-preset=ultrafast key-int-max={args.fps} ! video/x-h264,profile=baseline "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print("FAILED to attach the RTSP server", flush=True)
        return 1
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}/cam", flush=True)

    def quit_on_eof() -> None:
        sys.stdin.read()
        GLib.idle_add(loop.quit)

    threading.Thread(target=quit_on_eof, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: GLib.idle_add(loop.quit))
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
