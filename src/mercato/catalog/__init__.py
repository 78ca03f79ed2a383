"""Catalog: product types defined at run time (JSON Schema), products, variants, categories."""
