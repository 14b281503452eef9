"""batch hits as rows: what the report lists, without parsing every stored result

A batch item that hits keeps its explained result; each of its candidates is now also a
``batch_hits`` row with the fields the report shows, and the item keeps its spreadsheet
columns as text of their own. Items stored before keep ``hit_rows`` NULL and are reported
from their result, as they were.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batch_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sheet", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("hit_rows", sa.Integer(), nullable=True))
    op.create_table(
        "batch_hits",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("match_no", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("crime_ref", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("edits", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_batch_hits_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("batch_id", "seq", "match_no", "rank", name=op.f("pk_batch_hits")),
    )


def downgrade() -> None:
    op.drop_table("batch_hits")
    with op.batch_alter_table("batch_items", schema=None) as batch_op:
        batch_op.drop_column("hit_rows")
        batch_op.drop_column("sheet")
