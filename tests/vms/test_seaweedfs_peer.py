"""The test S3 server itself (tests/peers/seaweedfs): a port taken between choosing it and
SeaweedFS binding it must not fail every S3 test of a worker. CI failed so (stop 39):
``filer.go:461 failed to listen on grpc port 40921: bind: address already in use``,
13 tests in error; the filer binds its ports seconds after they were chosen free."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.peers import seaweedfs


def test_a_port_taken_before_the_server_binds_it_is_chosen_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    taken_port = int(taken.getsockname()[1])
    choose = seaweedfs.free_ports
    calls: list[list[int]] = []

    def first_with_the_filers_grpc_port_taken(n: int) -> list[int]:
        ports = choose(n)
        if not calls:
            ports[seaweedfs.PORT_NAMES.index("filer.port.grpc")] = taken_port
        calls.append(ports)
        return ports

    monkeypatch.setattr(seaweedfs, "free_ports", first_with_the_filers_grpc_port_taken)
    try:
        server = seaweedfs.start(tmp_path / "weed")
        try:
            assert len(calls) == 2, calls
            assert taken_port not in calls[1]
            assert server.process.poll() is None
            assert seaweedfs._s3_ready(server.endpoint)
        finally:
            server.stop()
    finally:
        taken.close()


def test_chosen_ports_are_outside_the_range_the_kernel_gives_connections() -> None:
    low, high = seaweedfs.ephemeral_range()
    ports = seaweedfs.free_ports(len(seaweedfs.PORT_NAMES))
    assert len(set(ports)) == len(ports)
    assert all(not low <= p <= high for p in ports), (ports, low, high)
