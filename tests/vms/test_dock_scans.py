"""Two dock scans at once (TAG-5): the jobs role's periodic scan and ``vms dock scan``
from the CLI, or the scans of two jobs processes, on the same device folder."""

from __future__ import annotations

from typing import Any

import pytest

from tests.vms.test_crash_safety import run_cli
from tests.vms.test_dock import settle
from vms import dock as dock_module
from vms.config import Config
from vms.services import Services


def test_a_cli_scan_during_a_scan_leaves_the_refused_file_its_reason_TAG_5(
    config: Config, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAG-5 (a refused file is kept with the reason, for a person): two scans took no
    lease on a device folder. ``vms dock scan`` run while the jobs role's scan was
    refusing a file refused it too, under the same name in ``rejected/``: it replaced
    the first scan's reason with its own and moved the file; the first scan then found
    nothing to move and removed the reason it believed its own. The file was left in
    ``rejected/`` with no ``.error.txt``, and the first scan answered that it had been
    replaced. Now a scan holds the device folder while it takes its files; another scan
    meanwhile leaves that folder to it, and says so."""
    device = config.dock_dir / "BWC-0042"
    device.mkdir(parents=True)
    junk = device / "FILE0001.MP4"
    junk.write_bytes(b"not a recording" * 100)
    settle(junk, services.clock)
    real_move = dock_module._move_checked
    cli: list[Any] = []

    def move_checked(*args: Any, **kwargs: Any) -> bool:
        if not cli:  # the jobs scan has written the reason; the CLI's scan runs now
            cli.append(run_cli(config, "dock", "scan"))
        return real_move(*args, **kwargs)

    monkeypatch.setattr(dock_module, "_move_checked", move_checked)

    [outcome] = services.dock.scan()

    rejected = device / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == [
        "FILE0001.MP4",
        "FILE0001.MP4.error.txt",
    ]
    assert outcome.status == "rejected", outcome
    assert "not a decodable" in (rejected / "FILE0001.MP4.error.txt").read_text()
    assert list(p.name for p in device.iterdir()) == ["rejected"]
    [other] = cli
    assert other.returncode == 0, (other.stdout, other.stderr)
    assert other.stdout.startswith(f"deferred: {device} "), other.stdout
    assert "another scan" in other.stdout, other.stdout
