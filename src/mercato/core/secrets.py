"""Secrets at rest (payment keys, channel credentials): Fernet under a key derived from
``MERCATO_SECRET_KEY``, one derived key per purpose, so a leaked channel key says nothing about
payment keys.

Code that has only a session (checkout, the worker, a sync job) finds the process's secret by
the session's database URL: the app registers it at start-up (``remember_secret_key``), and
otherwise ``MERCATO_SECRET_KEY`` from the environment is used.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from mercato.core.db import normalize_url
from mercato.core.errors import ServiceUnavailable
from mercato.core.keys import derive_key
from mercato.settings import Settings, get_settings

_secrets: dict[str, str] = {}
"""The secret key by database URL, registered by each app this process runs."""


def _canonical(url: str) -> str:
    return make_url(normalize_url(url)).render_as_string(hide_password=False)


def remember_secret_key(database_url: str, secret_key: str) -> None:
    """Register the process's secret key for the database at ``database_url``."""
    _secrets[_canonical(database_url)] = secret_key


def _secret_for(session: Session, settings: Settings | None) -> str:
    if settings is not None and settings.secret_key is not None:
        return settings.require_secret_key()
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    secret = _secrets.get(url)
    if secret is not None:
        return secret
    fallback = get_settings()
    if fallback.secret_key is None:
        raise ServiceUnavailable("Stored secrets cannot be decrypted: MERCATO_SECRET_KEY is not "
                                 "set in this process.")
    return fallback.require_secret_key()


def derived_key(session: Session, purpose: str, settings: Settings | None = None) -> bytes:
    """A key of its own for ``purpose`` (signing links, fingerprinting secrets), derived from
    the process's secret as ``Vault.of`` finds it."""
    return derive_key(_secret_for(session, settings), purpose)


class Vault:
    """Seals and opens one purpose's secrets (AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    @classmethod
    def of(cls, session: Session, purpose: str, settings: Settings | None = None) -> Vault:
        return cls(derive_key(_secret_for(session, settings), purpose))

    def seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def seal_bytes(self, value: bytes) -> bytes:
        return self._fernet.encrypt(value)

    def open(self, token: str) -> str:
        return self.open_bytes(token.encode()).decode()

    def open_bytes(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise ServiceUnavailable("Stored secrets cannot be decrypted: was MERCATO_SECRET_KEY "
                                     "changed? Enter the keys again.") from None
