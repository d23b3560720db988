"""Errors the core raises for clients. Each dialect renders them in its own shape.

``code`` is stable and tells the client which side failed: gateway codes (invalid_*,
model_*, not_found, ...), balance codes (insufficient_balance, key_spend_limit_reached)
and vendor codes (vendor_*, content_moderation).
"""

from django.db import InterfaceError, OperationalError

INVALID = "invalid_request_error"
AUTHENTICATION = "authentication_error"
PERMISSION = "permission_error"
NOT_FOUND = "not_found_error"
BILLING = "billing_error"
UPSTREAM = "upstream_error"
SERVER = "server_error"


class GatewayError(Exception):
    def __init__(self, status, code, message, *, param=None, kind=INVALID, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.kind = kind
        self.headers = headers or {}


DATABASE_RETRY_AFTER = 5  # seconds


def database_unavailable():
    """The database could not be reached (or timed out): nothing was done; the client may retry."""
    return GatewayError(
        503,
        "service_unavailable",
        "The gateway cannot reach its database for a moment; nothing was done. Retry shortly.",
        kind=SERVER,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
    )


def is_database_unavailable(exc):
    """A lost or refused database connection (or a lock timeout), as opposed to a bad query."""
    return isinstance(exc, (OperationalError, InterfaceError))


def not_found(what="video"):
    return GatewayError(404, "not_found", f"No {what} with that id exists for this key.", kind=NOT_FOUND)
