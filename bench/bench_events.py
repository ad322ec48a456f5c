"""Latency of the cross-process event bus (issue 13, item 3).

A child process subscribes with a :class:`~vms.events.RedisEventBus` and publishes every
event it hears back on a second channel; this process publishes ``--events`` events one
at a time and times each round trip. One way is half a round trip (two Redis hops, two
JSON codings, two listener threads).

    $V/bin/python bench/bench_events.py [--events 2000] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import queue
import subprocess
import sys
import time
import uuid

import benchlib
from benchlib import median, percentile

from vms.events import RedisEventBus

ECHO = """
import sys, threading
from vms.events import RedisEventBus
url, inbound, outbound = sys.argv[1:4]
back = RedisEventBus(url, channel=outbound)
bus = RedisEventBus(url, channel=inbound)
bus.subscribe(lambda topic, payload: back.publish(topic, payload))
bus.wait_listening(10)
print("ready", flush=True)
sys.stdin.read()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    child = subprocess.Popen(
        [sys.executable, "-c", ECHO, args.redis, f"{prefix}:out", f"{prefix}:back"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=benchlib.ROOT,
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "ready"
    out = RedisEventBus(args.redis, channel=f"{prefix}:out")
    back = RedisEventBus(args.redis, channel=f"{prefix}:back")
    answers: queue.Queue[int] = queue.Queue()
    back.subscribe(lambda _topic, payload: answers.put(int(payload["n"])))
    assert back.wait_listening(10)
    rtts = []
    try:
        for n in range(args.events):
            started = time.perf_counter()
            out.publish("bench.ping", {"n": n, "camera_id": "cam-1", "pan": 0.25})
            while answers.get(timeout=10) != n:
                pass
            rtts.append(time.perf_counter() - started)
    finally:
        out.close()
        back.close()
        child.stdin.close()
        child.wait(timeout=10)
    one_way = sorted(r / 2 * 1000 for r in rtts)
    print(
        f"{args.events} events: one way p50 {median(one_way):.3f} ms, "
        f"p95 {percentile(one_way, 95):.3f} ms, p99 {percentile(one_way, 99):.3f} ms "
        f"(round trip p95 {percentile(sorted(r * 1000 for r in rtts), 95):.3f} ms)"
    )


if __name__ == "__main__":
    main()
