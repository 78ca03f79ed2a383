"""The store's logo and colours on its pages (Settings → Organization, or
``PATCH /api/v1/organization``): the header shows the logo with the store's name as its alt
text, and the colours reach ``store.css`` as custom properties set by a small inline
``<style>``.

The values are validated when saved (``#rrggbb``; an https URL or a path of the store's
media), and the text on each colour is white or black, whichever contrasts more: at least
4.58:1 for any colour, so WCAG AA holds whatever the owner picks. The pages' policy forbids
inline styles, so a page with one allows exactly it, by its SHA-256, and the logo's host for
images.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi.responses import Response

from mercato.core.browser import HTML_CSP
from mercato.tenancy import OrgSettings

WHITE, BLACK = "#ffffff", "#000000"


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(color: str) -> float:
    """WCAG 2's relative luminance of ``#rrggbb``."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_on(color: str) -> str:
    """White or black, whichever reads better on ``color``."""
    return WHITE if contrast(color, WHITE) >= contrast(color, BLACK) else BLACK


@dataclass(frozen=True)
class Brand:
    logo_url: str | None
    style: str | None
    """The inline ``<style>``'s text (custom properties only), or None without colours."""

    @property
    def style_hash(self) -> str:
        digest = hashlib.sha256((self.style or "").encode()).digest()
        return "'sha256-" + base64.b64encode(digest).decode() + "'"


def brand_of(settings: OrgSettings | None) -> Brand | None:
    """The store's branding as the layout uses it, None when it has none."""
    if settings is None or not (settings.logo_url or settings.brand_color
                                or settings.accent_color):
        return None
    props = []
    for name, color in (("brand", settings.brand_color), ("accent", settings.accent_color)):
        if color:
            props.append(f"--{name}:{color};--{name}-text:{text_on(color)};")
    return Brand(settings.logo_url, ":root{" + "".join(props) + "}" if props else None)


def allow(response: Response, brand: Brand) -> None:
    """The page's policy, allowing its one inline style and the logo's host."""
    policy = response.headers.get("Content-Security-Policy", HTML_CSP)
    if brand.style:
        policy = policy.replace("style-src 'self'", f"style-src 'self' {brand.style_hash}", 1)
    if brand.logo_url and brand.logo_url.startswith("https://"):
        parts = urlsplit(brand.logo_url)
        policy = policy.replace("img-src 'self' data:",
                                f"img-src 'self' data: https://{parts.netloc}", 1)
    response.headers["Content-Security-Policy"] = policy
