"""batch items: one row per position of a batch (unique batch_id, seq)

A batch is stored chunk by chunk and resumed after a crash from its last committed chunk;
the unique index makes "no row twice" a property of the schema, and serves the report,
which reads a batch's rows in position order. Any position a database already holds twice
keeps its first row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM batch_items WHERE EXISTS (SELECT 1 FROM batch_items AS earlier "
        "WHERE earlier.batch_id = batch_items.batch_id AND earlier.seq = batch_items.seq "
        "AND earlier.id < batch_items.id)"
    )
    op.drop_index(op.f("ix_batch_items_batch_id"), table_name="batch_items")
    op.create_index("ix_batch_items_batch_seq", "batch_items", ["batch_id", "seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_batch_items_batch_seq", table_name="batch_items")
    op.create_index(op.f("ix_batch_items_batch_id"), "batch_items", ["batch_id"], unique=False)
