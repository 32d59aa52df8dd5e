"""Typed domain errors.

Each error carries a stable machine code; the HTTP edges and the CLI turn them into their own
format (a JSON error body, a form message, one line on stderr) in one place each.
"""


class AuthzError(Exception):
    """Base class of every error the domain raises on purpose."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(AuthzError):
    """The caller sent something malformed: a bad NRN, BCE number, role, date..."""

    code = "invalid_input"


class NotFound(AuthzError):
    """The person, enterprise, request or invitation named does not exist."""

    code = "not_found"


class Forbidden(AuthzError):
    """The policy does not allow the caller to do this."""

    code = "forbidden"


class OwnAccess(Forbidden):
    """Someone would decide on their own access: accept their own invitation, decide their own
    role request, give themselves a grant."""

    code = "own_access"


class BeyondOwnGrant(Forbidden):
    """A grant would give more than the giver's own grant: a later or no end date, more service
    domains."""

    code = "beyond_own_grant"


class Conflict(AuthzError):
    """The action clashes with the current state (already accepted, already pending...)."""

    code = "conflict"


class Expired(AuthzError):
    """The request or invitation is past its expiry."""

    code = "expired"


class NoGap(AuthzError):
    """The enterprise has no principal access manager (GAP) to handle the request."""

    code = "no_gap"


class SchemaError(AuthzError):
    """The database schema is missing, older or newer than this code."""

    code = "schema"
