"""CI's dependency audit reports and never fails the run; waivers need a reason."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _stub(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


def test_the_audit_reports_a_vulnerability_without_failing_and_applies_only_reasoned_waivers(
    tmp_path: Path,
) -> None:
    """pip-audit is replaced by a stand-in that finds an advisory and exits 1, as it does; the
    script prints what it found, passes the waivers that give a reason, and exits 0."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "audit", tmp_path / ".ci" / "audit")
    (tmp_path / ".ci" / "audit-waivers").write_text(
        "# comment\nPYSEC-2000-1  does not apply: we never parse that format\nGHSA-xxxx\n")
    _stub(tmp_path / ".venv" / "bin" / "pip", "echo 'jinja2==3.0.0'\n")
    _stub(tmp_path / ".venv-audit" / "bin" / "pip-audit",
          'echo "args: $*"\necho "jinja2 3.0.0 GHSA-h5c8-rqwp-cp95"\nexit 1\n')
    done = subprocess.run(["bash", str(tmp_path / ".ci" / "audit")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GHSA-h5c8-rqwp-cp95" in done.stdout
    assert "--ignore-vuln PYSEC-2000-1" in done.stdout
    assert "--ignore-vuln GHSA-xxxx" not in done.stdout
    assert "waiver GHSA-xxxx has no reason" in done.stdout
