"""Channel connectors: connections, sync jobs, the client toolkit, one package per platform."""
