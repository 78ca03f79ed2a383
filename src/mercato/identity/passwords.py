"""Argon2id password hashing, with parameters from settings (tests use cheaper ones)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 256


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


class Passwords:
    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self._ph = _hasher(time_cost, memory_kib)
        self._dummy = self._ph.hash("timing-equaliser")

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Constant-ish time: an unknown user costs the same as a wrong password."""
        try:
            return self._ph.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False
