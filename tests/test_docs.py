"""The README stays true to the code: every setting and CLI command is documented."""

from __future__ import annotations

import re

from mercato.cli import app as cli_app
from mercato.settings import Settings
from tests.conftest import ROOT


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"MERCATO_{name.upper()}" in readme, name


def test_readme_quickstart_has_exactly_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", quickstart, re.S)
    assert [len(b.strip().splitlines()) for b in blocks] == [1, 1]
    assert "mercato demo" in blocks[0]
    assert "pytest" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci


def test_readme_lists_every_cli_command() -> None:
    readme = (ROOT / "README.md").read_text()
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in
             cli_app.registered_commands]
    for name in [*names, "org create"]:
        assert f"`mercato {name}" in readme, name
