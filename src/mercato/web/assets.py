"""Static files of the pages, served under fingerprinted names with a year's caching.

``asset("vendor/htmx.org-2.0.11/htmx.min.js")`` gives ``/assets/vendor/htmx.org-2.0.11/
htmx.min.<digest>.js``: a new file is a new name, so a browser may keep each name forever.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path, PurePosixPath

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

STATIC_DIR = Path(__file__).resolve().parent / "static"
PREFIX = "/assets/"
SERVED = frozenset({".css", ".js", ".svg", ".png", ".ico", ".woff2"})
IMMUTABLE = "public, max-age=31536000, immutable"


class Assets:
    """The fingerprinted name of every static file, computed once at start-up."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        self.urls: dict[str, str] = {}
        self.files: dict[str, Path] = {}
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix not in SERVED:
                continue
            name = path.relative_to(root).as_posix()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            pure = PurePosixPath(name)
            fingerprinted = str(pure.with_name(f"{pure.stem}.{digest}{pure.suffix}"))
            self.urls[name] = PREFIX + fingerprinted
            self.files[fingerprinted] = path

    def url(self, name: str) -> str:
        try:
            return self.urls[name]
        except KeyError:
            raise LookupError(f"no static file {name!r} under {STATIC_DIR}") from None


ASSETS = Assets()

router = APIRouter(include_in_schema=False)


@router.get(PREFIX + "{name:path}")
def asset_file(name: str) -> Response:
    path = ASSETS.files.get(name)
    if path is None:
        return Response("Not found", status_code=404, media_type="text/plain")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type.endswith("javascript"):
        media_type += "; charset=utf-8"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": IMMUTABLE})
