"""Sortable, opaque ids (ULID: 48-bit millisecond time + 80 random bits, Crockford base32)."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
"""Two base32 digits for each 10-bit number."""
_SHIFTS = tuple(range(120, -1, -10))
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def new_id() -> str:
    """A 26-character ULID, monotonic within this process so ids sort in creation order."""
    global _last_ms, _last_rand
    with _lock:
        now = time.time_ns() // 1_000_000
        if now <= _last_ms:
            now = _last_ms
            rand = (_last_rand + 1) & ((1 << 80) - 1)
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last_ms, _last_rand = now, rand
    return encode((now << 80) | rand)


def encode(value: int) -> str:
    """130 bits as 26 Crockford base32 digits, ten bits at a time: a tenth of a bulk import
    went to ids when they went through ``base64.b32encode`` (Python code in 3.11)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])
