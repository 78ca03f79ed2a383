"""Probe fixtures for reviews: see tests/probe.py."""
