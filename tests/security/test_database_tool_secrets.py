"""The database password never reaches ``pg_dump``'s or ``pg_restore``'s command line,
wherever the URL carries it (docs/design/backup.md; docs/design/security.md, "Local OS
user"): any local user reads a process's arguments (``ps``) while a backup runs."""

from __future__ import annotations

import pytest

from vms.backup.snapshot import libpq


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://vms@db.example:5432/vms?password=s3cret&sslmode=require",
        "postgresql+psycopg:///vms?host=/run/postgresql&user=vms&password=s3cret",
        "postgresql+psycopg://vms:s3cret@db.example/vms?password=s3cret",
    ],
    ids=["query", "socket-query", "both"],
)
def test_a_password_given_as_a_query_parameter_is_not_put_on_the_command_line_ACC_1(
    url: str,
) -> None:
    uri, env = libpq(url)
    assert "s3cret" not in uri, uri
    assert "password" not in uri, uri
    assert env["PGPASSWORD"] == "s3cret"
    assert uri.startswith("postgresql://")
