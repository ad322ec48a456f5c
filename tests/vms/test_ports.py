"""Ports (vms/ports.py): the typed registry, and that every port production code reads has
a provider once the installed plugins are in, in every role that reads it (#11.1)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from vms import ports as ports_module
from vms.errors import FailedPrecondition
from vms.ports import CredentialBox, MaskZones, PortMissing, Ports, PoseSource
from vms.roles import ROLES, RoleRunner, check_ports
from vms.services import Services
from web import server

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("vms", "onvif_control", "recorder", "privacy_masks", "retention", "web")


class Box:
    def decrypt(self, camera_id: str, stored: str) -> str:
        return stored[::-1]


def test_a_port_is_found_by_its_type() -> None:
    registry = Ports()
    box = Box()
    assert registry.find(CredentialBox) is None
    registry.provide(CredentialBox, box)
    assert registry.get(CredentialBox) is box
    assert registry.get(CredentialBox).decrypt("c1", "cba") == "abc"


def test_a_missing_port_names_the_port_and_its_reader() -> None:
    with pytest.raises(PortMissing, match=r"vms\.ports\.MaskZones.*needed by the report"):
        Ports().get(MaskZones, reader="the report")


def test_a_port_is_provided_once() -> None:
    registry = Ports()
    registry.provide(CredentialBox, Box())
    with pytest.raises(FailedPrecondition, match="CredentialBox is provided twice"):
        registry.provide(CredentialBox, Box())


def port_reads() -> set[tuple[str, str]]:
    """(module, name) of every ``<x>.ports.get(Name)`` / ``<x>.ports.find(Name)`` call in
    the production packages."""
    found: set[tuple[str, str]] = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("get", "find")
                    and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == "ports"
                    and node.args
                    and isinstance(node.args[0], ast.Name)
                    and node.args[0].id[0].isupper()  # a port class, not the checker's loop
                ):
                    continue
                found.add((module, node.args[0].id))
    return found


def test_every_port_read_in_production_has_a_provider(services: Services) -> None:
    """Each port a production module reads (by AST) is provided by the installed plugins:
    no reader of a port nobody provides (the ``mask_zones`` key was read and never
    provided before, PSCS-5)."""
    reads = port_reads()
    # The seams this issue names are among them (the scan finds what it should).
    names = {name for _, name in reads}
    assert {"PoseSource", "CredentialBox", "MaskZones", "MaskSetup", "DemoSetup"} <= names
    missing = []
    for module, name in sorted(reads):
        port = getattr(importlib.import_module(module), name)
        if services.ports.find(port) is None:
            missing.append(f"{module} reads {name}")
    assert not missing, missing


@pytest.mark.parametrize("role", ROLES)
def test_every_port_a_role_requires_has_a_provider_in_that_role(
    services: Services, role: str
) -> None:
    """Per role: what its components and readers require resolves (the start check)."""
    server.install(services)
    required = services.roles.required([role])
    check_ports(services, [role])
    for _, port, reader in required:
        assert services.ports.get(port, reader=reader) is not None
    ports_of = {port for _, port, _ in required}
    expected = {
        "media": {CredentialBox, PoseSource},
        "jobs": set(),
        "web": {MaskZones},  # the PTZ-use report counts commands into masks (PSCS-5)
    }[role]
    assert ports_of == expected


def test_every_protocol_port_is_provided(services: Services) -> None:
    """The protocols of vms/ports.py all have a provider in a full install."""
    protocols = [
        getattr(ports_module, name)
        for name in ports_module.__all__
        if name not in ("Ports", "PortMissing")
    ]
    assert [p.__name__ for p in protocols if services.ports.find(p) is None] == []


@pytest.mark.parametrize(
    ("role", "port", "component"),
    [
        ("media", CredentialBox, "recorder"),
        ("media", PoseSource, "recorder"),
        ("web", MaskZones, "the PTZ-use report"),
    ],
)
def test_a_missing_required_port_fails_the_start_naming_port_and_role(
    services: Services, role: str, port: type, component: str
) -> None:
    """Without a provider the role refuses to start, before starting anything."""
    server.install(services)
    services.ports.withdraw(port)
    runner = RoleRunner(services, role)
    with pytest.raises(PortMissing) as refused:
        runner.start()
    message = str(refused.value)
    assert f"the {role} role cannot start" in message
    assert port.__name__ in message and component in message
    from recorder.engine import Recorder

    assert services.ports.get(Recorder).running is False
