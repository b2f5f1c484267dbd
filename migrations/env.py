"""Alembic environment: the URL comes from bot.migrate, the models from bot.models."""

from alembic import context
from sqlalchemy import create_engine

from bot import models  # noqa: F401  (registers the tables)
from bot.db import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "bot.migrate sets sqlalchemy.url"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
