"""Engines and sessions. URLs from embedded PostgreSQL or the environment are normalised to psycopg 3."""

from sqlalchemy import Engine, create_engine


def sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def make_engine(url: str, pool_size: int = 10) -> Engine:
    return create_engine(sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
