"""Shopify: GraphQL Admin API client, mapping, sync, webhooks, and an emulator."""
