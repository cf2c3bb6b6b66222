"""Domain errors. Each carries the HTTP status and the envelope code it maps to (see gateway.http.errors)."""

from __future__ import annotations


class DomainError(Exception):
    status: int = 400
    code: int = 1

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    @property
    def statuscode(self) -> str:
        return f"{self.status}.{self.code}"


class InvalidInput(DomainError):
    """A field is missing or wrong; the description names it."""

    status, code = 400, 1

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class MissingApiKey(DomainError):
    status, code = 401, 1


class InvalidApiKey(DomainError):
    status, code = 401, 2


class WrongRole(DomainError):
    status, code = 403, 1


class OutOfScope(DomainError):
    status, code = 403, 2


class NotFound(DomainError):
    status, code = 404, 2


class MethodNotAllowed(DomainError):
    status, code = 405, 1

    def __init__(self, method: str, allowed: list[str]) -> None:
        super().__init__(f"Method {method} is not allowed here; allowed: {', '.join(allowed)}.")
        self.allowed = allowed


class AlreadyExists(DomainError):
    status, code = 409, 1


class Conflict(DomainError):
    status, code = 409, 2


class PayloadTooLarge(DomainError):
    status, code = 413, 1


class UnsupportedMediaType(DomainError):
    status, code = 415, 1


class Unavailable(DomainError):
    """A dependency failed in a way a retry may fix (throttling, transaction conflicts)."""

    status, code = 503, 1


class StorageFailure(DomainError):
    """The data store refused a call in a way no retry fixes: a bug on our side, logged."""

    status, code = 500, 1
