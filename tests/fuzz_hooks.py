"""Schemathesis hooks for the fuzz pass (tests/test_fuzz.py), loaded by the schemathesis CLI
through ``SCHEMATHESIS_HOOKS=tests.fuzz_hooks``.

- ``problem_document``: every error answer is ``application/problem+json`` whose ``status``
  member is the HTTP status (docs/api-conventions.md).
- Path parameters are drawn from real ids as well as generated ones: ids the tenant probe's
  factories made in the fuzzed organization (``MERCATO_FUZZ_IDS`` names a JSON file
  ``{"param": "id"}``). Random ids only ever reach a 404; real ones reach the services.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import schemathesis
from hypothesis import strategies as st

PARAM = re.compile(r"\{([^}:]+)\}")


def _ids() -> dict[str, str]:
    path = os.environ.get("MERCATO_FUZZ_IDS")
    if not path:
        return {}
    with open(path, encoding="utf-8") as file:
        return {str(k): str(v) for k, v in json.load(file).items()}


IDS = _ids()


@schemathesis.check
def problem_document(ctx: Any, response: Any, case: Any) -> bool | None:
    """An error is a problem document whose ``status`` is the response's status."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    if content_type.split(";")[0].strip() != "application/problem+json":
        raise AssertionError(f"A {response.status_code} answered as {content_type!r}, not "
                             "application/problem+json")
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError("The problem document is not JSON") from None
    if not isinstance(body, dict):
        raise AssertionError("The problem document is not a JSON object")
    missing = [m for m in ("type", "title", "status", "detail", "code") if m not in body]
    if missing:
        raise AssertionError(f"The problem document lacks {', '.join(missing)}")
    if body["status"] != response.status_code:
        raise AssertionError(f"The problem document's status is {body['status']!r} in a "
                             f"{response.status_code} response")
    return None


@schemathesis.hook
def before_generate_path_parameters(context: Any, strategy: Any) -> Any:
    """Real ids for the operation's path (when the probe made every one) or generated ones."""
    operation = context.operation
    if operation is None or not IDS:
        return strategy
    names = PARAM.findall(operation.path)
    if not names or any(name not in IDS for name in names):
        return strategy
    return st.one_of(st.just({name: IDS[name] for name in names}), strategy)
