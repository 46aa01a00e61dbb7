"""Domain errors. Services raise these; ``omniretail.problems`` alone maps them to HTTP.

A context adds an error by subclassing a category (``NotFound``, ``Conflict``, ...): the
category decides the HTTP status, the subclass its machine-readable ``code``.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"
    title = "Request cannot be served"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        # Set when ``detail`` is already worded in a reader's language (en or zh-CN); else the
        # detail is English and the HTTP layer renders it in the reader's language.
        self.locale: str | None = None


class Unauthenticated(DomainError):
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    code = "forbidden"
    title = "Not allowed"


class NotFound(DomainError):
    code = "not_found"
    title = "Not found"

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key!r} not found", resource=what)


class Conflict(DomainError):
    code = "conflict"
    title = "Conflict with the current state"


class AlreadyExists(Conflict):
    code = "already_exists"
    title = "Already exists"


class ValidationFailed(DomainError):
    """Input that parsed but breaks a rule; ``errors`` lists each bad field."""

    code = "validation_error"
    title = "Invalid request"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None, **extra: Any):
        super().__init__(detail, errors=errors or [], **extra)


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    title = "Idempotency-Key reused with another request"


class TooLarge(DomainError):
    code = "too_large"
    title = "Too large"


class RateLimited(DomainError):
    code = "rate_limited"
    title = "Too many attempts"


class Unavailable(DomainError):
    """A service we depend on (a payment gateway) gave no answer we can use; try again."""

    code = "unavailable"
    title = "Temporarily unavailable"
