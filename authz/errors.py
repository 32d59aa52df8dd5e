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


class NotTheInvitee(Forbidden):
    """The invitation is bound to another person's national register number."""

    code = "not_the_invitee"


class SenderNotEntitled(Forbidden):
    """The person who sent an invitation may no longer give what it offers: no longer a legal
    representative (a GAP invitation), or no longer managing that role."""

    code = "sender_not_entitled"


class SenderBeyondOwnGrant(SenderNotEntitled, BeyondOwnGrant):
    """The sender of an invitation still manages the role, but their own grant now ends
    earlier or covers fewer service domains than the invitation offers."""

    code = "sender_beyond_own_grant"


class Conflict(AuthzError):
    """The action clashes with the current state (already accepted, already pending...)."""

    code = "conflict"


class EnterpriseStopped(Conflict):
    """The enterprise has stopped according to the BCE registry: its access no longer changes."""

    code = "enterprise_stopped"


class AlreadyDecided(Conflict):
    """The role request is no longer pending: accepted, refused, withdrawn or expired
    (``status``), possibly by someone else a moment ago."""

    code = "already_decided"

    def __init__(self, message: str, *, status: str):
        super().__init__(message)
        self.status = status


class RequestPending(Conflict):
    """The person already has a pending role request for this enterprise."""

    code = "request_pending"


class AlreadyGap(Conflict):
    """The person is already the enterprise's GAP (who holds every role)."""

    code = "already_gap"


class RoleAlreadyHeld(Conflict):
    """The person already holds this role, or a stronger one, on the enterprise (``role``)."""

    code = "role_already_held"

    def __init__(self, message: str, *, role: str):
        super().__init__(message)
        self.role = role


class InvitationUsed(Conflict):
    """The invitation was accepted already (``by_caller``: by the person now using it)."""

    code = "invitation_used"

    def __init__(self, message: str, *, by_caller: bool = False):
        super().__init__(message)
        self.by_caller = by_caller


class InvitationCancelled(Conflict):
    """The invitation was cancelled (by its sender, or by a newer GAP designation)."""

    code = "invitation_cancelled"


class ChangedMeanwhile(Conflict):
    """Someone else changed the same thing since the caller looked at it (a GAP replaced,
    a grant ended, a request decided, a unique index raced): reload and try again."""

    code = "changed_meanwhile"


class MandateOpen(Conflict):
    """The client already has an open mandate (pending or accepted) with this firm: end it
    first to give another (other service domains, other dates)."""

    code = "mandate_open"


class Expired(AuthzError):
    """The request or invitation is past its expiry."""

    code = "expired"


class NoGap(AuthzError):
    """The enterprise (``enterprise_name``) has no principal access manager (GAP) to handle
    the request."""

    code = "no_gap"

    def __init__(self, message: str, *, enterprise_name: str):
        super().__init__(message)
        self.enterprise_name = enterprise_name


class SchemaError(AuthzError):
    """The database schema is missing, older or newer than this code."""

    code = "schema"
