"""The web layer's rule (docs/design/web-layer.md): handlers parse, call a service and
serialise; they never open a database session or transaction (services own those and
write the audit entry in them) and never import SQLAlchemy."""

from __future__ import annotations

import ast
from pathlib import Path

import web

WEB = Path(web.__file__).parent
OPENERS = {"session", "transaction"}


def _name(path: Path) -> str:
    return str(path.relative_to(WEB.parent)) if path.is_relative_to(WEB.parent) else path.name


def offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in OPENERS
        ):
            found.append(f"{_name(path)}:{node.lineno}: .{node.func.attr}()")
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        found += [
            f"{_name(path)}:{node.lineno}: imports {n}"
            for n in names
            if n.split(".")[0] == "sqlalchemy"
        ]
    return found


def test_no_web_module_opens_a_database_session() -> None:
    modules = sorted(WEB.rglob("*.py"))
    assert len(modules) > 20  # the whole package, pages and API included
    found = [o for path in modules for o in offences(path)]
    assert not found, "\n".join(found)


def test_the_check_sees_a_session_opened_in_a_handler(tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text(
        "from sqlalchemy import select\n"
        "def page():\n    with services().db.session() as s:\n        return s\n",
        encoding="utf-8",
    )
    assert len(offences(handler)) == 2
