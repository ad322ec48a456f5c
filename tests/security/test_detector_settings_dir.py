"""The YOLO detector's settings folder is never a fixed name in the shared temporary
folder (docs/design/security.md, "Local OS user"): there another local user could have
made it first, or put a link there, and hand ultralytics the settings it reads (where
it keeps weights, data sets and runs)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import os
from privacy_masks.detection.yolo import _ultralytics
_ultralytics(None)
print(os.environ["YOLO_CONFIG_DIR"])
"""


def test_without_a_settings_dir_a_planted_folder_in_tmp_is_not_used(tmp_path: Path) -> None:
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    elsewhere = tmp_path / "theirs"
    elsewhere.mkdir(mode=0o777)
    (shared_tmp / "vms-ultralytics").symlink_to(elsewhere)  # planted by another user
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    env.update(TMPDIR=str(shared_tmp), PYTHONPATH=str(REPO))
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    used = Path(r.stdout.strip().splitlines()[-1])
    assert used.resolve() != elsewhere.resolve(), used
    assert used.parent == shared_tmp and not used.is_symlink()
    assert stat.S_IMODE(used.stat().st_mode) == 0o700
