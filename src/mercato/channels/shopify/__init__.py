"""Shopify: GraphQL Admin API client, mapping, sync, webhooks (its emulator is the separate
mercato-emulators distribution: `mercato_emulators.shopify`)."""
