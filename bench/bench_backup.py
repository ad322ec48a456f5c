"""Backup sets (docs/design/backup.md) against the tools a site would otherwise use, on the
same installation in the same run:

- a first set: ``vms backup create`` vs ``cp -a data_dir`` + ``sync`` (a copy that is not
  consistent and says nothing of its wholeness; ours hashes every original it copies);
- a second set with nothing new: ours vs ``rsync -a`` of the same folder (both only look);
- ``vms backup verify --check-hash`` vs ``sha256sum`` of every file of the set;
- ``vms backup restore`` vs ``cp -a`` of the set + ``sync``.

    $V/bin/python bench/bench_backup.py [--items 16] [--item-mib 64]

Wall-clock seconds; CPU seconds of this process (ours) or of the child processes (the
peers). The originals are distinct Matroska files (one generated source, each copy with
bytes of its own appended), ingested through the real ingest path on SQLite.
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import benchlib
from benchlib import OUT_DIR, sync

from vms.audit.log import SYSTEM_ROLE, Who
from vms.backup.create import make_backup
from vms.backup.restore import restore, verify_set
from vms.config import Config, load_config
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

WHO = Who("bench", SYSTEM_ROLE)


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def measure(fn: Callable[[], object], *, children: bool) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn()`` followed by ``sync`` (what it wrote, on disk)."""
    sync()
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    cpu, start = _cpu(who), time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start, _cpu(who) - cpu


def config_of(data_dir: Path) -> Config:
    return load_config(
        environ={},
        overrides={"VMS_DATA_DIR": str(data_dir), "VMS_INGEST_MIN_FREE_BYTES": "0"},
    )


def populate(services: Services, source: Path, items: int) -> int:
    data = source.read_bytes()
    total = 0
    for i in range(items):
        body = data + f"bench-item-{i:06d}".encode()  # distinct bytes, same probe
        services.ingestor.ingest(
            io.BytesIO(body),
            IngestRequest(source=SourceKind.BWC, device_id=f"bench-bwc-{i % 4}"),
            WHO,
        )
        total += len(body)
    return total


def line(name: str, ours: tuple[float, float], peer: tuple[float, float], peer_name: str) -> None:
    print(
        f"{name:<22} ours {ours[0]:7.2f} s wall {ours[1]:6.2f} s CPU | {peer_name:<16} "
        f"{peer[0]:7.2f} s wall {peer[1]:6.2f} s CPU | ratio wall {ours[0] / peer[0]:5.2f}x"
        f" CPU {ours[1] / max(peer[1], 1e-3):5.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--item-mib", type=int, default=64)
    args = parser.parse_args()
    source = benchlib.source_media(args.item_mib * 1024**2, f"source-{args.item_mib}MiB.mkv")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT_DIR, prefix="backup-") as tmp:
        work = Path(tmp)
        data_dir = work / "var"
        services = Services.open(config_of(data_dir))
        try:
            services.migrate()
            benchlib.quiet_logs()
            size = populate(services, source, args.items)
            print(
                f"{benchlib.machine()}; {args.items} originals, {size / 1024**2:.0f} MiB, "
                f"SQLite, local store; {benchlib.cpu_pressure()}"
            )
            peer_copy = work / "cp-copy"
            cp = measure(
                lambda: subprocess.run(["cp", "-a", str(data_dir), str(peer_copy)], check=True),
                children=True,
            )
            folder = work / "set"
            first = measure(lambda: make_backup(services, folder, WHO), children=False)
            line("first set", first, cp, "cp -a + sync")
            shutil.rmtree(peer_copy)
            mirror = work / "rsync"
            subprocess.run(["rsync", "-a", f"{data_dir}/", f"{mirror}/"], check=True)
            rsync = measure(
                lambda: subprocess.run(["rsync", "-a", f"{data_dir}/", f"{mirror}/"], check=True),
                children=True,
            )
            again = measure(lambda: make_backup(services, folder, WHO), children=False)
            line("second set, no change", again, rsync, "rsync -a")
            shutil.rmtree(mirror)
        finally:
            services.close()
        files = [str(p) for p in folder.rglob("*") if p.is_file()]
        sums = measure(
            lambda: subprocess.run(["sha256sum", *files], check=True, stdout=subprocess.DEVNULL),
            children=True,
        )
        verified = measure(lambda: verify_set(folder, check_hash=True), children=False)
        line("verify --check-hash", verified, sums, "sha256sum")
        peer_restore = work / "cp-restore"
        cp_set = measure(
            lambda: subprocess.run(["cp", "-a", str(folder), str(peer_restore)], check=True),
            children=True,
        )
        target = config_of(work / "restored")
        restored = measure(lambda: restore(target, folder, WHO), children=False)
        line("restore", restored, cp_set, "cp -a + sync")


if __name__ == "__main__":
    main()
