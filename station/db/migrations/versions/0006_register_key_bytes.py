"""register keys compared byte by byte; no index on the identifier alone

Register entries are found by (source, kind, identifier) only, which the unique key serves;
nothing queries the identifier alone, so its own index only cost every import an index to
keep. On PostgreSQL the key columns take the "C" collation: identifiers are normalised
ASCII, and comparing them by the database's locale made an import's sort several times
slower (no abbreviated keys) and every key comparison dearer. SQLite compares bytes already.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (column, length) of the key columns
_KEY = (("identifier", 64), ("kind", 20), ("source", 100))


def upgrade() -> None:
    op.drop_index("ix_register_entries_identifier", table_name="register_entries")
    if op.get_bind().dialect.name == "postgresql":
        # one statement: the key index is rebuilt once, with the new collation
        op.execute(
            "ALTER TABLE register_entries "
            + ", ".join(
                f'ALTER COLUMN {name} TYPE VARCHAR({length}) COLLATE "C"' for name, length in _KEY
            )
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE register_entries "
            + ", ".join(
                f'ALTER COLUMN {name} TYPE VARCHAR({length}) COLLATE "default"'
                for name, length in _KEY
            )
        )
    op.create_index(
        "ix_register_entries_identifier", "register_entries", ["identifier"], unique=False
    )
