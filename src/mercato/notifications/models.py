"""The record of every email sent to a customer."""

from __future__ import annotations
