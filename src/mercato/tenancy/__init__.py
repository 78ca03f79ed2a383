"""Organizations (tenants), their slugs and custom domains."""
