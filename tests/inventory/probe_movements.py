"""Probe fixtures for inventory movements routes (imported by probe_fixtures)."""
