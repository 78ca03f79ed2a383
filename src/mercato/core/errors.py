"""Domain errors: plain Python, no web framework.

Services, workers and the CLI raise ``MercatoError`` subclasses (never HTTPException); each
carries the ``status`` and stable ``code`` of the problem document the web layer answers it
with (``mercato.core.problems`` renders it as RFC 9457 ``application/problem+json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code", "errors",
                              "request_id"})
"""RFC 9457's members and ours: an error's extension members may never take their names."""


class MercatoError(Exception):
    """A failure the caller can act on; ``status`` and ``code`` pick its problem document.
    ``extra`` adds extension members (``cart_status``, never ``status``)."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = [dict(e) for e in errors or []]
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        shadowed = RESERVED_MEMBERS.intersection(self.extra)
        if shadowed:
            raise ValueError(f"extension members may not be named {sorted(shadowed)}: they "
                             "are the problem document's own")


class BadRequest(MercatoError):
    status, code = 400, "bad_request"


class ValidationFailed(MercatoError):
    status, code = 422, "validation_error"


class Unauthorized(MercatoError):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str = "Missing or invalid credentials.", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(MercatoError):
    status, code = 403, "forbidden"


class NotFound(MercatoError):
    status, code = 404, "not_found"


class Conflict(MercatoError):
    status, code = 409, "conflict"


class PaymentFailed(MercatoError):
    """The payment was declined or could not be taken; nothing was bought."""

    status, code = 402, "payment_failed"


class PreconditionFailed(MercatoError):
    status, code = 412, "precondition_failed"


class OrganizationSuspended(MercatoError):
    """The platform operator suspended the organization: nothing of it answers until it is
    reactivated (its data is kept as it was)."""

    status, code = 423, "organization_suspended"

    def __init__(self, detail: str = "This organization is suspended by the platform "
                 "operator; try again once it is reactivated.", **kw: Any) -> None:
        super().__init__(detail, **kw)


class PlanLimitReached(MercatoError):
    """The organization's plan allows no more of something (products, staff members)."""

    status, code = 409, "plan_limit"


class IdempotencyMismatch(MercatoError):
    status, code = 422, "idempotency_mismatch"


class RateLimited(MercatoError):
    status, code = 429, "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, **kw)


class ServiceUnavailable(MercatoError):
    """A provider Mercato depends on (a payment gateway, a channel) did not answer; try again."""

    status, code = 503, "service_unavailable"
