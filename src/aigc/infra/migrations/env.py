"""Alembic environment: the URL comes from the Config that aigc.infra.migrate builds."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from aigc.guard import tables as _guard_tables  # noqa: F401
from aigc.infra import schema  # noqa: F401  (registers the tables on Base.metadata)
from aigc.infra.db import Base
from aigc.knowledge import tables as _knowledge_tables  # noqa: F401

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
