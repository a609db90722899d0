"""Voice library: voices (embedding, profile, reference key), voice_uses, voice_assignments.

On PostgreSQL the embedding is pgvector's vector(256) with an HNSW index for cosine distance;
elsewhere (SQLite, embedded) float32 bytes searched exactly in numpy.

Revision ID: v0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from globalvoice.storage.voices.vectors import vector_type

revision: str = "v0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "voices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("embedding", vector_type(dialect), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("reference_key", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voices")),
    )
    op.create_index("ix_voices_tenant_created", "voices", ["tenant_id", "created_at", "id"])
    if dialect == "postgresql":
        op.create_index(
            "ix_voices_embedding_hnsw",
            "voices",
            ["embedding"],
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        )
    op.create_table(
        "voice_uses",
        sa.Column("voice_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["voice_id"],
            ["voices.id"],
            name=op.f("fk_voice_uses_voice_id_voices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("voice_id", "source", name=op.f("pk_voice_uses")),
    )
    op.create_table(
        "voice_assignments",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("dub_id", sa.String(length=40), nullable=False),
        sa.Column("speaker_id", sa.String(length=32), nullable=False),
        sa.Column("voice_id", sa.String(length=40), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["voice_id"],
            ["voices.id"],
            name=op.f("fk_voice_assignments_voice_id_voices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "dub_id", "speaker_id", name=op.f("pk_voice_assignments")
        ),
    )
    op.create_index(
        op.f("ix_voice_assignments_voice_id"), "voice_assignments", ["voice_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("voice_assignments")
    op.drop_table("voice_uses")
    op.drop_table("voices")
