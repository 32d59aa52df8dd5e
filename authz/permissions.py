"""Permission names, the same as in ``policies/enterprise.polar`` (a test checks they match)."""

DESIGNATE_GAP = "designate_gap"
VIEW_MEMBERS = "view_members"
INVITE_MEMBER = "invite_member"
GRANT_ROLE = "grant_role"
REVOKE_ROLE = "revoke_role"
DECIDE_REQUEST = "decide_request"
VIEW_HISTORY = "view_history"
ACT_FOR = "act_for"
READ_DOSSIER = "read_dossier"
EDIT_DOSSIER = "edit_dossier"
SUBMIT_DOSSIER = "submit_dossier"
GIVE_MANDATE = "give_mandate"
ACCEPT_MANDATE = "accept_mandate"
ACT_FOR_CLIENTS = "act_for_clients"

ALL_PERMISSIONS = (
    DESIGNATE_GAP,
    VIEW_MEMBERS,
    INVITE_MEMBER,
    GRANT_ROLE,
    REVOKE_ROLE,
    DECIDE_REQUEST,
    VIEW_HISTORY,
    ACT_FOR,
    READ_DOSSIER,
    EDIT_DOSSIER,
    SUBMIT_DOSSIER,
    GIVE_MANDATE,
    ACCEPT_MANDATE,
    ACT_FOR_CLIENTS,
)

# What an intermediary's members may do for a client, under a mandate in force: act for it
# and handle its dossiers, never manage its access.
CLIENT_PERMISSIONS = (ACT_FOR, READ_DOSSIER, EDIT_DOSSIER, SUBMIT_DOSSIER)
