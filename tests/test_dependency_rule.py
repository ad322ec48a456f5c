"""The dependency rule (docs/design/dependencies.md, ARCHITECTURE 2), checked on the
source with the AST: each adapter library is imported only by the modules the design doc
names, and ``vms`` imports none of the packages built on it.

Every ``import``/``from ... import`` anywhere in a module counts (also inside functions
and ``TYPE_CHECKING`` blocks), and so do ``importlib.import_module("x")`` and
``__import__("x")`` with a literal name.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vms", "onvif_control", "recorder", "privacy_masks", "web", "retention")
DOC = ROOT / "docs" / "design" / "dependencies.md"

# Library -> the modules (or packages: a name allows everything under it) that may import
# it. Mirrors the table "Adapter libraries" of docs/design/dependencies.md (a test below
# keeps the two in step).
ADAPTERS: dict[str, tuple[str, ...]] = {
    "av": ("vms.media", "onvif_control.simulator.encoder"),
    "onvif": ("onvif_control.adapter", "onvif_control.onvif"),
    "zeep": ("onvif_control.adapter", "onvif_control.onvif"),
    "cv2": ("privacy_masks.detection.opencv",),
    "ultralytics": ("privacy_masks.detection.yolo",),
    "aiortc": ("recorder.webrtc",),
    "c2pa": ("vms.exports.credentials",),
    "boto3": ("vms.s3",),
    "botocore": ("vms.s3",),
    "flask": ("web",),
    "flask_socketio": ("web",),
    "werkzeug": ("web",),
    "pydantic": ("web",),
    "pydantic_core": ("web",),
}

SIBLINGS = tuple(p for p in PACKAGES if p != "vms")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module name ``tree`` imports, absolute (relative imports resolved)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.module or ""
                continue
            base = module.split(".")
            base = base if is_package else base[:-1]
            base = base[: len(base) - (node.level - 1)]
            yield ".".join([*base, node.module] if node.module else base)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            yield node.args[0].value


def imports_by_module(root: Path) -> dict[str, set[str]]:
    """Module name -> the top-level packages it imports, for every module of PACKAGES."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = module_name(path, root)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            tops = {n.split(".")[0] for n in imported_names(tree, name, path.stem == "__init__")}
            found[name] = tops - {""}
    return found


def within(module: str, allowed: tuple[str, ...]) -> bool:
    return any(module == a or module.startswith(a + ".") for a in allowed)


def adapter_violations(
    imports: Mapping[str, set[str]], rules: Mapping[str, tuple[str, ...]] = ADAPTERS
) -> list[str]:
    """``module imports library`` for each import of an adapter library outside its modules."""
    return sorted(
        f"{module} imports {library} (allowed only in {', '.join(rules[library])})"
        for module, tops in imports.items()
        for library in tops & rules.keys()
        if not within(module, rules[library])
    )


def core_violations(imports: Mapping[str, set[str]]) -> list[str]:
    """``vms`` modules importing a package built on ``vms``."""
    return sorted(
        f"{module} imports {sibling}"
        for module, tops in imports.items()
        if within(module, ("vms",))
        for sibling in sorted(tops & set(SIBLINGS))
    )


def doc_table() -> dict[str, tuple[str, ...]]:
    """The "Adapter libraries" table of the design doc: library -> allowed modules."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### Adapter libraries", 1)[1].split("\n#", 1)[0]
    table: dict[str, tuple[str, ...]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        modules = tuple(re.findall(r"`([\w.]+)`", cells[2]))
        for library in re.findall(r"`([\w.]+)`", cells[0]):
            table[library] = modules
    return table


# -- the rule, on this source tree ---------------------------------------------------------


def test_adapter_libraries_are_imported_only_by_their_adapters():
    offenders = adapter_violations(imports_by_module(ROOT))
    assert not offenders, (
        "third-party libraries imported outside the modules named in "
        "docs/design/dependencies.md:\n  " + "\n  ".join(offenders)
    )


def test_vms_imports_none_of_the_packages_built_on_it():
    offenders = core_violations(imports_by_module(ROOT))
    assert not offenders, (
        "vms must import none of " + ", ".join(SIBLINGS) + ":\n  " + "\n  ".join(offenders)
    )


def test_the_rule_table_mirrors_the_design_doc():
    assert doc_table() == ADAPTERS


def test_every_package_is_walked():
    imports = imports_by_module(ROOT)
    assert {m.split(".")[0] for m in imports} == set(PACKAGES)
    assert "av" in imports["vms.media.stream"]  # the walk sees real imports


# -- the checker itself, on a planted tree -------------------------------------------------


def _plant(root: Path, files: Mapping[str, str]) -> None:
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").write_text("")
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


def test_planted_imports_are_reported(tmp_path):
    _plant(
        tmp_path,
        {
            "vms/media/stream.py": "import av\n",  # allowed
            "web/app.py": "from flask import Flask\n",  # allowed
            "recorder/pipeline.py": "import av.error\n",
            "retention/service.py": "def f():\n    from flask import request\n",
            "privacy_masks/paint.py": "import importlib\nimportlib.import_module('cv2')\n",
            "onvif_control/ptz.py": "from zeep.helpers import serialize_object\n",
            "vms/roles.py": "from web.server import register\n",
            "vms/auth/roles.py": "if True:\n    import recorder.engine\n",
            "vms/media/codec.py": "from . import stream\nfrom .. import errors\n",  # relative
        },
    )
    imports = imports_by_module(tmp_path)
    assert adapter_violations(imports) == [
        "onvif_control.ptz imports zeep (allowed only in onvif_control.adapter, "
        "onvif_control.onvif)",
        "privacy_masks.paint imports cv2 (allowed only in privacy_masks.detection.opencv)",
        "recorder.pipeline imports av (allowed only in vms.media, onvif_control.simulator.encoder)",
        "retention.service imports flask (allowed only in web)",
    ]
    assert core_violations(imports) == [
        "vms.auth.roles imports recorder",
        "vms.roles imports web",
    ]


# -- services speak domain values (issue 11, item 3) ---------------------------------------

SERVICE_PACKAGES = tuple(p for p in PACKAGES if p != "web")
MAPPING = re.compile(r"^(dict|Mapping|MutableMapping)\[str, Any\]")
# Free-form mappings that are not request bodies, by parameter name.
FREE_FORM = {
    "details": "the free-form details of an audit entry or a refusal (JSON by design)",
    "payload": "an event's payload (the bus carries JSON to Socket.IO clients)",
    "params": "SOAP call parameters inside the ONVIF adapter",
    "overrides": "configuration overrides (tests, the CLI's --set)",
    "asked": "a refused request, kept verbatim in its audit entry (INV-6)",
    "requested": "what a PTZ command asked, for its audit entry (INV-6)",
    "as_stored": "a job's request as the service itself stored it, matched against a repeat",
}
# Functions and modules that read JSON documents that are not request bodies.
DOCUMENT_READERS = {
    "vms.camera_model.from_dict": "a calibration read back from its JSON column",
    "onvif_control.cameras.calibration_from_simulator": "the simulator's own state (test peer)",
    "vms.audit.verify_export": "the standalone verifier of an audit export document",
    "vms.exports.values.from_json": "an export's sources read back from its stored request",
    "vms.exports.runner.note_plan": "an export's cataloguing plan, kept in its row for a restart",
    "vms.exports.job.catalogue": "that plan read back from the row (a restart finishes it)",
    "vms.exports.credentials._sign": "a C2PA manifest definition built here, for c2pa",
    "privacy_masks.redaction_values.of": "tracks and video facts read back from their JSON columns",
    "vms.exports.credentials._redaction_action": "a redaction's record, for a C2PA assertion",
    "vms.config_load._credential_keys": "the parsed configuration file, read for credentials",
    "vms.config_load._warn_if_credentials_open": "the parsed configuration file and its mode",
}


def dict_body_parameters(root: Path) -> list[str]:
    """``module.function(parameter: annotation)`` for every function outside ``web`` that
    takes what looks like a request body: a parameter named ``body``, or one annotated as
    a mapping of strings to anything that is not one of the FREE_FORM kinds."""
    found = []
    for package in SERVICE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "simulator" in path.parts:
                continue  # the simulated camera is a test peer speaking SOAP, not a service
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for arg in [*node.args.args, *node.args.kwonlyargs]:
                    note = ast.unparse(arg.annotation) if arg.annotation else ""
                    mapping = MAPPING.match(note) and arg.arg not in FREE_FORM
                    module = module_name(path, root)
                    if {module, f"{module}.{node.name}"} & DOCUMENT_READERS.keys():
                        continue
                    if arg.arg == "body" or mapping:
                        found.append(f"{module}.{node.name}({arg.arg}: {note})")
    return found


def test_no_service_takes_a_request_body():
    offenders = dict_body_parameters(ROOT)
    assert not offenders, (
        "services take frozen command values, not request bodies (web/schemas/ parses "
        "them):\n  " + "\n  ".join(offenders)
    )


def test_a_planted_body_parameter_is_found(tmp_path):
    _plant(
        tmp_path,
        {
            "retention/svc.py": "def create(actor, body: dict[str, Any]): ...\n",
            "recorder/svc.py": "def f(x: Mapping[str, Any]): ...\n",
            "vms/ok.py": "def g(command: NewHold, details: dict[str, Any]): ...\n",
        },
    )
    assert dict_body_parameters(tmp_path) == [
        "recorder.svc.f(x: Mapping[str, Any])",
        "retention.svc.create(body: dict[str, Any])",
    ]
