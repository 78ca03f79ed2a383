"""A webhook receiver on loopback for the tests: a real HTTP server that checks Mercato's
signature with an HMAC-SHA256 of its own (RFC 2104 over hashlib.sha256, not Mercato's code
nor the ``hmac`` module), records what it got, and answers as the test says.

``Receiver`` dedupes by ``Mercato-Event-Id`` the way a merchant's idempotent receiver would:
``processed`` holds each event once, ``received`` every request.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BLOCK = 64


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC (RFC 2104) with SHA-256, written out: the receiver trusts nothing of Mercato's."""
    if len(key) > BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def parse_signature(header: str) -> tuple[int, list[str]]:
    timestamp, signatures = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
    assert timestamp is not None, header
    return timestamp, signatures


def verifies(secret: str, header: str, body: bytes, *, tolerance: int = 300) -> bool:
    """Some ``v1`` of the header is this secret's HMAC of ``"<t>.<body>"``, and ``t`` is
    recent."""
    timestamp, signatures = parse_signature(header)
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac_sha256(secret.encode(), f"{timestamp}.".encode() + body).hex()
    return expected in signatures


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers["mercato-event-id"]


Answer = Callable[[Request], int]


@dataclass
class Receiver:
    url: str
    received: list[Request] = field(default_factory=list)
    processed: dict[str, Request] = field(default_factory=dict)
    """Event id -> the request first processed (answered 2xx), in the order processed."""
    answer: Answer = field(default=lambda request: 200)
    hold: Callable[[Request], None] | None = None
    """Called before answering (a test can block here)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 60.0) -> None:
        """Until ``predicate`` holds (a bound on waiting, not an assertion on time)."""
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self), timeout), (
                f"receiver: {len(self.received)} requests, {len(self.processed)} processed")

    def ok(self) -> list[Request]:
        return [r for r in self.received if 200 <= r.status < 300]


@contextmanager
def receiver(answer: Answer | None = None) -> Iterator[Receiver]:
    """A threaded HTTP server on 127.0.0.1 for the duration of the block."""
    state = Receiver(url="")
    if answer is not None:
        state.answer = answer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            request = Request(self.path, {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(length))
            if state.hold is not None:
                state.hold(request)
            request.status = state.answer(request)
            with state.changed:
                state.received.append(request)
                if 200 <= request.status < 300:
                    state.processed.setdefault(request.event_id, request)
                state.changed.notify_all()
            self.send_response(request.status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(f"status {request.status}".encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def dead_endpoint() -> Iterator[str]:
    """A port that takes connections (the kernel's backlog) and never answers: every request
    to it waits for the sender's timeout. Closing it resets what waits."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/never"
    finally:
        sock.close()
