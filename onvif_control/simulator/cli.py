"""``vms simulate-camera``: run N simulated cameras until SIGINT/SIGTERM.

Registered with the ``vms`` command through the ``vms.commands`` entry-point group
(``register``); ``python -m onvif_control.simulator`` runs it standalone (``main``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

#: ``--play-start`` values: those of :class:`~onvif_control.simulator.rtsp_server.PlayStart`
#: (not imported here: building the ``vms`` parser must not load the simulator).
PLAY_STARTS = ("idr", "p_frames", "next_keyframe")


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT") from None
    if width < 16 or height < 16 or width % 2 or height % 2 or width > 4096 or height > 2304:
        raise argparse.ArgumentTypeError(f"size {text!r} must be even, 16x16 to 4096x2304")
    return width, height


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value < 65536:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0..65535")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``simulate-camera`` (defaults in the help)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument(
        "--onvif-port",
        type=_port,
        default=8081,
        help="first ONVIF HTTP port (default %(default)s; 0 = ephemeral)",
    )
    parser.add_argument(
        "--rtsp-port",
        type=_port,
        default=8554,
        help="first RTSP port (default %(default)s; 0 = ephemeral)",
    )
    parser.add_argument("--username", default="admin", help="ONVIF/RTSP user (default %(default)s)")
    parser.add_argument(
        "--password", default="admin", help="ONVIF/RTSP password (default %(default)s)"
    )
    parser.add_argument(
        "--count",
        type=int,
        default=1,
        help="number of cameras, on consecutive ports (default %(default)s)",
    )
    parser.add_argument(
        "--size", type=_size, default=(1280, 720), help="frame size WxH (default 1280x720)"
    )
    parser.add_argument(
        "--fps", type=int, default=15, help="frames per second (default %(default)s)"
    )
    parser.add_argument(
        "--gop-seconds",
        type=float,
        default=1.0,
        help="seconds between keyframes (default %(default)s)",
    )
    parser.add_argument(
        "--play-start",
        choices=PLAY_STARTS,
        default=PLAY_STARTS[0],
        help="what an RTSP session gets first after PLAY: a fresh IDR, P frames as they "
        "come, or nothing until the next keyframe, as cameras differ (default %(default)s)",
    )
    parser.add_argument(
        "--burn-in-clock",
        action="store_true",
        help="burn each frame's capture time into the picture as a block code "
        "(glass-to-glass latency, bench/bench_latency.py)",
    )
    parser.add_argument(
        "--scene",
        type=Path,
        default=None,
        help="scene file (.toml or .json); default: built-in street",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate-camera`` subcommand to the ``vms`` parser."""
    parser = subparsers.add_parser(
        "simulate-camera",
        help="run simulated ONVIF PTZ cameras (ONVIF + RTSP/H.264)",
        description="Run simulated ONVIF PTZ cameras until interrupted.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the fleet, print one ready line per camera, wait for SIGINT/SIGTERM."""
    if args.count < 1 or args.count > 64:
        print(f"error: --count {args.count} must be 1..64")
        return 2
    if not 1 <= args.fps <= 60:
        print(f"error: --fps {args.fps} must be 1..60")
        return 2
    if not 0 < args.gop_seconds <= 60:
        print(f"error: --gop-seconds {args.gop_seconds} must be above 0 and at most 60")
        return 2
    # Imported here: the simulator (numpy, the renderer, its servers) takes ~0.15 s to
    # load, which every other ``vms`` command would pay when the parser is built.
    from onvif_control.simulator.fleet import SimulatorFleet
    from onvif_control.simulator.rtsp_server import PlayStart
    from onvif_control.simulator.scene import load_scene

    try:
        scene = load_scene(args.scene) if args.scene else None
    except (OSError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    fleet = SimulatorFleet(
        args.count,
        host=args.host,
        onvif_port=args.onvif_port,
        rtsp_port=args.rtsp_port,
        username=args.username,
        password=args.password,
        size=args.size,
        fps=args.fps,
        scene=scene,
        gop_seconds=args.gop_seconds,
        burn_in_clock=args.burn_in_clock,
        play_start=PlayStart(args.play_start),
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            fleet.start()
        except OSError as exc:
            print(f"error: cannot start the cameras: {exc}")
            return 1
        for camera in fleet.cameras:
            print(f"ONVIF {camera.onvif_url} RTSP {camera.rtsp_url}", flush=True)
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        fleet.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point (``python -m onvif_control.simulator``)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser(
        prog="simulate-camera", description="Run simulated ONVIF PTZ cameras."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
