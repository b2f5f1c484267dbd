"""Alembic, driven from code so no alembic.ini has to agree with the settings."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from bot.config import PROJECT_ROOT


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
