"""Probe fixtures: see tests/probe.py."""
