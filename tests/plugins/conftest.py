"""A distribution of test plugins, installed for real: its metadata (``entry_points.txt``
in group ``mercato.plugins``) is written to a directory put on ``sys.path``, where
``importlib.metadata`` finds it as it finds any installed distribution."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.app import create_app
from mercato.core.db import Database
from mercato.plugins import registry
from mercato.settings import Settings

ENTRY_POINTS = """\
[mercato.plugins]
test-tagger = tests.plugins.sample_plugins:tagger
test-second = tests.plugins.sample_plugins:second
test-broken-import = tests.plugins.no_such_module:manifest
test-not-a-manifest = tests.plugins.sample_plugins:not_a_manifest
test-bad-hook = tests.plugins.sample_plugins:bad_hook
"""


@contextlib.contextmanager
def install(site: Path, distribution: str, entry_points: str) -> Iterator[Path]:
    """A distribution of plugins installed for real (its metadata in ``site``, put on
    ``sys.path``), discovered again, then uninstalled."""
    info = site / f"{distribution.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    sys.path.insert(0, str(site))
    registry.refresh()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        registry.refresh()


@pytest.fixture(scope="module")
def test_plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The test plugins installed (for this module's tests), uninstalled after."""
    with install(tmp_path_factory.mktemp("site"), "mercato-test-plugins", ENTRY_POINTS) as site:
        yield site


@pytest.fixture(scope="module")
def plugin_app(test_plugins: Path, settings: Settings, db: Database) -> FastAPI:
    """An app started with the test plugins installed (their routes mounted)."""
    return create_app(settings, db)


@pytest.fixture(scope="module")
def pclient(plugin_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(plugin_app, raise_server_exceptions=False) as client:
        yield client
