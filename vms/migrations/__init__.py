"""Alembic migrations; run them with :func:`vms.migrations.upgrade`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine

from vms.db.schema import refuse_newer

HERE = Path(__file__).parent


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema at ``engine`` to ``revision`` (idempotent). A database a newer
    release migrated is refused by name (Alembic would say "Can't locate revision")."""
    refuse_newer(engine)
    command.upgrade(alembic_config(engine), revision)


def check(engine: Engine) -> None:
    """Raise if the models and the migrated schema differ (``alembic check``)."""
    command.check(alembic_config(engine))
