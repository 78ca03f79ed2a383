"""Probe fixtures for inventory purchasing routes (imported by probe_fixtures)."""
