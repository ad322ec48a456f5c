"""The ``/metrics`` bearer token against odd input (ACC-1). Failed before its fix."""

from __future__ import annotations

from typing import Any

from vms.services import Services


def test_a_non_ascii_metrics_token_is_refused_with_403_not_a_500_ACC_1(
    services: Services, client: Any
) -> None:
    """``hmac.compare_digest`` raises TypeError for non-ASCII ``str``: a remote scraper
    sending ``Authorization: Bearer é`` got a 500 instead of the refusal."""
    (services.config.secrets_dir / "metrics.token").write_text("scrape-me-9f2c\n")
    remote = {"REMOTE_ADDR": "198.51.100.7"}
    r = client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer é"})
    assert r.status_code == 403, r.get_data(as_text=True)[:300]
    right = {"Authorization": "Bearer scrape-me-9f2c"}
    assert client.get("/metrics", environ_base=remote, headers=right).status_code == 200
