"""The mandate services: every change of access goes through one of these functions.

Each is authorized by the policy, audited, and done in one transaction that also bumps the
enterprise's authorization epoch. The admin UI and the CLI call the same functions; nothing
else writes the mandate tables. No Flask here.
"""

from authz.services.base import Caller, ensure_person
from authz.services.gap import (
    ANY_GAP,
    GAP_ROLE,
    current_gap,
    designate_gap,
    pending_gap_invitations,
)
from authz.services.grants import active_grant, change_role, grant_role, revoke_role
from authz.services.intermediaries import (
    accept_mandate,
    end_mandate,
    mandates_of_enterprise,
    propose_mandate,
    refuse_mandate,
)
from authz.services.invitations import (
    accept_invitation,
    cancel_invitation,
    check_invitation,
    find_invitation,
    invite,
    invite_gap,
)
from authz.services.requests import (
    accept_request,
    expire_requests,
    refuse_request,
    request_role,
    withdraw_request,
)

__all__ = [
    "ANY_GAP",
    "GAP_ROLE",
    "Caller",
    "accept_invitation",
    "accept_mandate",
    "accept_request",
    "active_grant",
    "cancel_invitation",
    "change_role",
    "check_invitation",
    "current_gap",
    "designate_gap",
    "end_mandate",
    "ensure_person",
    "expire_requests",
    "find_invitation",
    "grant_role",
    "invite",
    "invite_gap",
    "mandates_of_enterprise",
    "pending_gap_invitations",
    "propose_mandate",
    "refuse_mandate",
    "refuse_request",
    "request_role",
    "revoke_role",
    "withdraw_request",
]
