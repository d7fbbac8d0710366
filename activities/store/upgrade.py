"""Add columns a newer version of the tables has to a store an older version created.

``create_all`` creates missing tables but never alters existing ones, so a CRM database kept in
``.saves/`` from an earlier release would fail on the first new column. Only additive changes
are handled here (new columns, nullable or with a server default); anything else needs a migration.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text
from sqlalchemy.sql.schema import DefaultClause

from activities.store.tables import Base


def add_missing_columns(conn: Connection) -> list[str]:
    """Returns ``table.column`` for every column added."""
    inspector = inspect(conn)
    added = []
    for table in Base.metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            ddl = (f"ALTER TABLE {table.name} ADD COLUMN {column.name} "
                   f"{column.type.compile(conn.dialect)}")
            default = column.server_default
            if isinstance(default, DefaultClause) and isinstance(default.arg, str):
                ddl += " DEFAULT '" + default.arg.replace("'", "''") + "'"
            conn.execute(text(ddl))
            added.append(f"{table.name}.{column.name}")
    return added
