"""The content benchmark (bench/bench_content.py) runs end to end in a tiny mode: its three
gunicorn servers start on ephemeral ports and answer every range with the bytes asked
for (a refusal, a wrong length or a server that does not start stops the benchmark), and
it prints its figures, ratios and the statements it counted. Not a measurement: a check
that the benchmark still works against the product as it is."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, PG_ADMIN_URL

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BENCH = Path(__file__).resolve().parents[2] / "bench"


# SQLite only in the suite (CI time): `--backend postgresql` takes the same path with
# another database URL (the benchmark's figures in bench/README.md are on both).
@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_content_benchmark_runs_in_a_tiny_mode(
    backend: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend not in BACKENDS:
        pytest.skip(f"the {backend} backend is not selected (VMS_TEST_BACKENDS={BACKENDS})")
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_content
    import benchlib

    monkeypatch.setattr(benchlib, "OUT_DIR", tmp_path)  # the generated source file
    monkeypatch.setattr(benchlib, "PG_ADMIN_URL", PG_ADMIN_URL)
    argv = ["--backend", backend, "--size-mib", "1", "--requests", "4", "--rounds", "1"]
    argv += ["--warmup", "1", "--count-requests", "2", "--work", str(tmp_path / "work")]
    try:
        assert bench_content.main(argv) == 0
    finally:
        logging.disable(logging.NOTSET)  # the benchmark quiets the product's logs
    out = capsys.readouterr().out
    counted = dict(
        re.findall(
            r"^  (first view|continuation) +[\d.]+, of them the re-check +([\d.]+)", out, re.M
        )
    )
    assert set(counted) == {"first view", "continuation"}, out
    assert all(float(n) > 0 for n in counted.values()), out
    for contender in ("floor", "ours", "ours without re-check"):
        assert len(re.findall(rf"^  {contender} +[\d.]+ req/s", out, re.M)) == 2, out
    assert re.search(r"^  ours, continuation +req/s x ?[\d.]+", out, re.M), out
    assert not (tmp_path / "work").exists()  # cleaned up after itself
