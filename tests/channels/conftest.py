"""Fixtures of the channel tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels.helpers import ShopifyServer


@pytest.fixture
def shopify() -> Iterator[ShopifyServer]:
    """A fresh emulated shop per test, its webhooks retried quickly."""
    with ShopifyServer(webhook_retry_delays=[0.05, 0.1, 0.2]) as server:
        yield server
