"""The shared kernel: database, errors, conventions and events. No business rules live here."""
