"""PostgreSQL: tables, engine, migrations and repositories (inventory, read model)."""
