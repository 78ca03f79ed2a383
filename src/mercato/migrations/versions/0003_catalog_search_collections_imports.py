"""Catalog: collections, facet and full-text indexes, price columns, import jobs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 17:32:55.685346
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("collections", "product_collections", "product_facets", "product_search",
                 "import_jobs", "import_row_errors")

# SQLite: an FTS5 index over product_search.document, kept in step by triggers.
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE product_search_fts USING fts5(document, content='product_search', "
    "content_rowid='id', tokenize=\"unicode61 remove_diacritics 2\")",
    "CREATE TRIGGER product_search_ai AFTER INSERT ON product_search BEGIN "
    "INSERT INTO product_search_fts(rowid, document) VALUES (new.id, new.document); END",
    "CREATE TRIGGER product_search_ad AFTER DELETE ON product_search BEGIN "
    "INSERT INTO product_search_fts(product_search_fts, rowid, document) "
    "VALUES ('delete', old.id, old.document); END",
    "CREATE TRIGGER product_search_au AFTER UPDATE ON product_search BEGIN "
    "INSERT INTO product_search_fts(product_search_fts, rowid, document) "
    "VALUES ('delete', old.id, old.document); "
    "INSERT INTO product_search_fts(rowid, document) VALUES (new.id, new.document); END",
]
# PostgreSQL: a generated tsvector with a GIN index.
POSTGRES_FTS = [
    "ALTER TABLE product_search ADD COLUMN tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', document)) STORED",
    "CREATE INDEX ix_product_search_tsv ON product_search USING gin (tsv)",
]


def upgrade() -> None:
    op.create_table('collections',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_collections_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collections')),
    sa.UniqueConstraint('organization_id', 'slug', name=op.f('uq_collections_organization_id_slug'))
    )
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collections_organization_id'), ['organization_id'], unique=False)

    op.create_table('import_jobs',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('format', sa.String(length=32), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('products_created', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=26), nullable=True),
    sa.Column('lease_until', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_import_jobs_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs'))
    )
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_jobs_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_jobs_status'), ['status'], unique=False)

    op.create_table('import_row_errors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('job_id', sa.String(length=26), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=True),
    sa.Column('field', sa.String(length=200), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['import_jobs.id'], name=op.f('fk_import_row_errors_job_id_import_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_import_row_errors_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_row_errors'))
    )
    with op.batch_alter_table('import_row_errors', schema=None) as batch_op:
        batch_op.create_index('ix_import_row_errors_job', ['job_id', 'line', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_row_errors_organization_id'), ['organization_id'], unique=False)

    op.create_table('product_collections',
    sa.Column('product_id', sa.String(length=26), nullable=False),
    sa.Column('collection_id', sa.String(length=26), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], name=op.f('fk_product_collections_collection_id_collections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_product_collections_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_collections_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', 'collection_id', name=op.f('pk_product_collections'))
    )
    with op.batch_alter_table('product_collections', schema=None) as batch_op:
        batch_op.create_index('ix_product_collections_collection', ['collection_id', 'product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_collections_organization_id'), ['organization_id'], unique=False)

    op.create_table('product_facets',
    sa.Column('product_id', sa.String(length=26), nullable=False),
    sa.Column('field', sa.String(length=100), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_product_facets_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_facets_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('product_id', 'field', 'value', name=op.f('pk_product_facets'))
    )
    with op.batch_alter_table('product_facets', schema=None) as batch_op:
        batch_op.create_index('ix_product_facets_lookup', ['organization_id', 'field', 'value', 'product_id'], unique=False)

    op.create_table('product_search',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('product_id', sa.String(length=26), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_product_search_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_search_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_search')),
    sa.UniqueConstraint('product_id', name=op.f('uq_product_search_product_id'))
    )
    with op.batch_alter_table('product_search', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_search_organization_id'), ['organization_id'], unique=False)

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_price', sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.add_column(sa.Column('max_price', sa.Numeric(precision=12, scale=2), nullable=True))
        batch_op.create_index('ix_products_org_price', ['organization_id', 'min_price', 'id'], unique=False)

    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('available', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.create_index('ix_variants_product_price', ['product_id', 'price'], unique=False)

    bind = op.get_bind()
    for statement in POSTGRES_FTS if bind.dialect.name == "postgresql" else SQLITE_FTS:
        op.execute(statement)
    for table in TENANT_TABLES:
        enable_tenant_rls(table)
    # 0004 indexes the products that exist (see catalog/index.py)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("product_search_ai", "product_search_ad", "product_search_au"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE product_search_fts")
    with op.batch_alter_table('variants', schema=None) as batch_op:
        batch_op.drop_index('ix_variants_product_price')
        batch_op.drop_column('available')

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_org_price')
        batch_op.drop_column('max_price')
        batch_op.drop_column('min_price')

    with op.batch_alter_table('product_search', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_search_organization_id'))

    op.drop_table('product_search')
    with op.batch_alter_table('product_facets', schema=None) as batch_op:
        batch_op.drop_index('ix_product_facets_lookup')

    op.drop_table('product_facets')
    with op.batch_alter_table('product_collections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_collections_organization_id'))
        batch_op.drop_index('ix_product_collections_collection')

    op.drop_table('product_collections')
    with op.batch_alter_table('import_row_errors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_row_errors_organization_id'))
        batch_op.drop_index('ix_import_row_errors_job')

    op.drop_table('import_row_errors')
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_jobs_status'))
        batch_op.drop_index(batch_op.f('ix_import_jobs_organization_id'))

    op.drop_table('import_jobs')
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collections_organization_id'))

    op.drop_table('collections')
