"""Images uploaded on a product's page, kept as files and served at ``/media/...``.

The catalog keeps a product's media as links (``Media.url``, what ``/api/v1/products`` takes);
an upload stores the file under the media directory (``MERCATO_MEDIA_DIR``, or ``media``
beside a SQLite database) and adds its public address (``MERCATO_PUBLIC_URL`` +
``/media/<organization>/<name>``) to the product's media through the API's own update. Only
PNG, JPEG and WebP images of at most ``MAX_IMAGE_BYTES`` are taken, known by their first bytes
(never by the name or the browser's word), and stored under a name of our own.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import ValidationError

from mercato.catalog import service
from mercato.catalog.schemas import ProductUpdate
from mercato.core.errors import MercatoError, NotFound
from mercato.core.ids import new_id
from mercato.core.uow import DbSession, MercatoRoute
from mercato.settings import Settings
from mercato.web.admin.catalog_forms import media_directory, problems_of
from mercato.web.admin.products import WRITE, product_page
from mercato.web.session import StaffSession
from mercato.web.templating import redirect

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
files = APIRouter(include_in_schema=False)
"""The public side: no session, no unit of work."""
MAX_IMAGE_BYTES = 5 * 1024 * 1024
TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
STORED = re.compile(r"^[0-9A-Z]{26}$")
NAME = re.compile(r"^[0-9A-Z]{26}\.(png|jpg|webp)$")


def image_kind(head: bytes) -> str | None:
    """The image format its first bytes show (PNG, JPEG, WebP), or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _store(directory: Path, organization_id: str, name: str, content: bytes) -> None:
    """Write the image (atomically: a reader never sees half a file)."""
    folder = directory / organization_id
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, folder / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@router.post("/admin/products/{product_id}/media", response_class=HTMLResponse)
def media_upload(product_id: str, request: Request, session: DbSession,
                 image: Annotated[UploadFile | None, File()] = None,
                 alt: Annotated[str, Form(max_length=500)] = "",
                 staff: StaffSession = Depends(WRITE)) -> Response:
    """Add an uploaded image to the product's media (``PATCH /api/v1/products/{id}``)."""
    settings: Settings = request.app.state.settings
    product = service.get_product(session, product_id)
    directory = media_directory(settings)

    def refuse(message: str) -> Response:
        return product_page(request, session, product, status=422,
                            values={"alt": alt}, errors={"image": message},
                            error_list=[{"field": "image", "message": message}])

    if directory is None or not settings.public_url:
        return refuse("Uploads are not set up here (MERCATO_MEDIA_DIR and MERCATO_PUBLIC_URL); "
                      "add the image's address under Image URLs instead.")
    content = image.file.read(MAX_IMAGE_BYTES + 1) if image is not None else b""
    if not content:
        return refuse("Choose an image file.")
    if len(content) > MAX_IMAGE_BYTES:
        return refuse(f"The image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB.")
    kind = image_kind(content[:16])
    if kind is None:
        return refuse("The file is not a PNG, JPEG or WebP image.")
    organization_id, name = staff.principal.organization_id, f"{new_id()}.{kind}"
    url = f"{settings.public_url.rstrip('/')}/media/{organization_id}/{name}"
    media = [*product.media, {"url": url, "alt": alt.strip(), "position": len(product.media)}]
    try:
        update = ProductUpdate.model_validate({"media": media})
        service.update_product(session, product, update)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        message = "; ".join(e["message"] for e in problems_of(exc)[1])
        return refuse(message)
    _store(directory, organization_id, name, content)  # before the commit: never a dead link
    return redirect(f"/admin/products/{product.id}#media", flash="Image added.")


@files.get("/media/{organization_id}/{name}")
def media_file(organization_id: str, name: str, request: Request) -> Response:
    """An uploaded image, public (a storefront and the channels show it), cached for a year:
    a name is never reused."""
    directory = media_directory(request.app.state.settings)
    if directory is None or not STORED.match(organization_id) or not NAME.match(name):
        raise NotFound("No such image.")
    path = directory / organization_id / name
    if not path.is_file():
        raise NotFound("No such image.")
    return FileResponse(path, media_type=TYPES[name.rsplit(".", 1)[1]], headers={
        "Cache-Control": "public, max-age=31536000, immutable",
        "Content-Security-Policy": "default-src 'none'; sandbox"})
