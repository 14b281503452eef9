"""fleet tables: outbox, amendments, central look-ups, the centre's copies

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fleet_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fleet_alerts")),
    )
    with op.batch_alter_table("fleet_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fleet_alerts_station_id"), ["station_id"], unique=False
        )

    op.create_table(
        "fleet_audit",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "entry_id", name=op.f("pk_fleet_audit")),
    )
    op.create_table(
        "fleet_images",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_fleet_images")),
    )
    op.create_table(
        "fleet_records",
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("marked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_fleet_records")),
    )
    with op.batch_alter_table("fleet_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fleet_records_station_received", ["station_id", "received_at"], unique=False
        )

    op.create_table(
        "fleet_register_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_fleet_register_versions")),
    )
    op.create_table(
        "fleet_stations",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("nats_user", sa.String(length=100), nullable=False),
        sa.Column("nats_password_hash", sa.String(length=100), nullable=False),
        sa.Column("register_scope", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_contact", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.JSON(), nullable=False),
        sa.Column("audit_last_id", sa.Integer(), nullable=False),
        sa.Column("audit_last_hash", sa.String(length=64), nullable=False),
        sa.Column("chain_ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", name=op.f("pk_fleet_stations")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("audit_from", sa.Integer(), nullable=False),
        sa.Column("audit_to", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_state_id", ["state", "id"], unique=False)

    op.create_table(
        "central_lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["check_id"], ["checks.id"], name=op.f("fk_central_lookups_check_id_checks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_central_lookups")),
    )
    with op.batch_alter_table("central_lookups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_central_lookups_check_id"), ["check_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_central_lookups_state"), ["state"], unique=False)

    op.create_table(
        "check_amendments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"], ["checks.id"], name=op.f("fk_check_amendments_check_id_checks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_amendments")),
    )
    with op.batch_alter_table("check_amendments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_check_amendments_check_id"), ["check_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("check_amendments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_check_amendments_check_id"))

    op.drop_table("check_amendments")
    with op.batch_alter_table("central_lookups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_central_lookups_state"))
        batch_op.drop_index(batch_op.f("ix_central_lookups_check_id"))

    op.drop_table("central_lookups")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_state_id")

    op.drop_table("outbox")
    op.drop_table("fleet_stations")
    op.drop_table("fleet_register_versions")
    with op.batch_alter_table("fleet_records", schema=None) as batch_op:
        batch_op.drop_index("ix_fleet_records_station_received")

    op.drop_table("fleet_records")
    op.drop_table("fleet_images")
    op.drop_table("fleet_audit")
    with op.batch_alter_table("fleet_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fleet_alerts_station_id"))

    op.drop_table("fleet_alerts")
