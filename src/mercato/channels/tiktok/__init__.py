"""TikTok Shop (Partner API 202309): signed calls, linked SKUs, stock, prices, orders and
webhooks."""
