"""Database: typed models, UTC column type, engine/session factory, Alembic migrations."""
