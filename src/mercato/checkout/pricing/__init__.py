"""Price lists and pricing rules: what a variant costs per currency, customer group and channel."""
