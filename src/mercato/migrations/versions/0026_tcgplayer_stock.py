"""TCGplayer files first-class: their stock, warnings on import rows, rarities as data.

- ``imported_stock`` (inventory): the quantity the last imported file gave a variant at a
  location, so the next file moves stock by the difference only; ``imported_stock_files``:
  the files imported per location, by SHA-256, so a file's Add to Quantity is added once.
- ``import_jobs`` gains ``location_id``, ``adds_skipped`` and ``warnings``;
  ``import_row_errors`` gains ``severity`` (``error`` or ``warning``).
- Installed ``tcg-single`` / ``tcg-graded`` product types accept any rarity (a string of 1 to
  60 characters, no closed list), ``tcg-single`` any condition text (1 to 100) and, with
  ``tcg-sealed``, a ``tcgplayer_id`` variant attribute. The schemas are written out here, not
  imported: a migration is history.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-14 10:00:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RARITY = {"type": "string", "minLength": 1, "maxLength": 60, "examples": [
    "common", "uncommon", "rare", "mythic", "super-rare", "legendary", "enchanted", "epic",
    "iconic", "holo-rare", "secret-rare", "promo", "special"], "x-facet": True}
CONDITION = {"type": "string", "minLength": 1, "maxLength": 100,
             "examples": ["NM", "LP", "MP", "HP", "DMG"], "x-facet": True}
"""Open, but still facets and filters (``catalog.tcg.FACET``), as the closed lists were."""
TCGPLAYER_ID = {"type": "string", "pattern": "^[0-9]{1,12}$"}
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
OLD_RARITIES = ["common", "uncommon", "rare", "mythic", "special", "promo", "secret", "other"]
OLD_CONDITIONS = ["NM", "LP", "MP", "HP", "DMG"]


def upgrade() -> None:
    op.create_table(
        'imported_stock',
        sa.Column('variant_id', sa.String(length=26), nullable=False),
        sa.Column('location_id', sa.String(length=26), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=100), nullable=False),
        sa.Column('updated_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('organization_id', sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(['location_id'], ['locations.id'],
                                name=op.f('fk_imported_stock_location_id_locations'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                                name=op.f('fk_imported_stock_organization_id_organizations'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('variant_id', 'location_id', name=op.f('pk_imported_stock')),
    )
    op.create_index(op.f('ix_imported_stock_organization_id'), 'imported_stock',
                    ['organization_id'], unique=False)
    enable_tenant_rls('imported_stock')
    op.create_table(
        'imported_stock_files',
        sa.Column('location_id', sa.String(length=26), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('reference', sa.String(length=100), nullable=False),
        sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('organization_id', sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(['location_id'], ['locations.id'],
                                name=op.f('fk_imported_stock_files_location_id_locations'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['organization_id'], ['organizations.id'],
            name=op.f('fk_imported_stock_files_organization_id_organizations'),
            ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('location_id', 'sha256', name=op.f('pk_imported_stock_files')),
    )
    op.create_index(op.f('ix_imported_stock_files_organization_id'), 'imported_stock_files',
                    ['organization_id'], unique=False)
    enable_tenant_rls('imported_stock_files')
    with op.batch_alter_table('import_jobs') as batch:
        batch.add_column(sa.Column('warnings', sa.Integer(), server_default='0',
                                   nullable=False))
        batch.add_column(sa.Column('location_id', sa.String(length=26), nullable=True))
        batch.add_column(sa.Column('adds_skipped', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
    with op.batch_alter_table('import_row_errors') as batch:
        batch.add_column(sa.Column('severity', sa.String(length=16), server_default='error',
                                   nullable=False))
    _open_card_types()


def _load(value: Any) -> dict[str, Any]:
    return dict(json.loads(value) if isinstance(value, str) else value)


def _open_card_types() -> None:
    """Every organization's installed card types take the open rarity (and condition), where
    they still have the closed list this migration replaces (a schema edited since is left)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("SELECT set_config('mercato.organization_id', '*', true)")
    rows = bind.execute(sa.text(
        "SELECT id, slug, attributes_schema, variant_attributes_schema FROM product_types "
        "WHERE slug IN ('tcg-single', 'tcg-graded', 'tcg-sealed')")).all()
    for type_id, slug, attributes, variant_attributes in rows:
        attrs, variant = _load(attributes), _load(variant_attributes)
        properties = attrs.get("properties", {})
        variant_properties = variant.get("properties", {})
        changed = False
        if properties.get("rarity", {}).get("enum") == OLD_RARITIES:
            properties["rarity"] = RARITY
            changed = True
        if slug == "tcg-single" and \
                variant_properties.get("condition", {}).get("enum") == OLD_CONDITIONS:
            variant_properties["condition"] = CONDITION
            changed = True
        if slug in ("tcg-single", "tcg-sealed") and "tcgplayer_id" not in variant_properties \
                and "properties" in variant:
            variant_properties["tcgplayer_id"] = TCGPLAYER_ID
            changed = True
        if changed:
            bind.execute(sa.text(
                "UPDATE product_types SET attributes_schema = :a, "
                "variant_attributes_schema = :v WHERE id = :id").bindparams(
                sa.bindparam("a", type_=JSON), sa.bindparam("v", type_=JSON)),
                {"a": attrs, "v": variant, "id": type_id})


def downgrade() -> None:
    """The card types keep their open schemas: values stored since may not fit the lists."""
    with op.batch_alter_table('import_row_errors') as batch:
        batch.drop_column('severity')
    with op.batch_alter_table('import_jobs') as batch:
        batch.drop_column('adds_skipped')
        batch.drop_column('location_id')
        batch.drop_column('warnings')
    disable_tenant_rls('imported_stock_files')
    op.drop_index(op.f('ix_imported_stock_files_organization_id'),
                  table_name='imported_stock_files')
    op.drop_table('imported_stock_files')
    disable_tenant_rls('imported_stock')
    op.drop_index(op.f('ix_imported_stock_organization_id'), table_name='imported_stock')
    op.drop_table('imported_stock')
