"""Staff identity, roles and permissions, access tokens, API keys and the audit log."""
