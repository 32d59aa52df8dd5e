"""Role names, strongest first, as ``policies/enterprise.polar`` names them."""

# "gap" comes only from a GapDesignation; the others from a RoleGrant. A "client_agent" is an
# agent who also acts for the enterprise's clients (when it is an intermediary holding
# mandates from them); owners and above do too.
ROLES = ("gap", "access_manager", "owner", "client_agent", "agent", "reader")
GRANTABLE_ROLES = ROLES[1:]
ROLE_RANK = {role: len(ROLES) - i for i, role in enumerate(ROLES)}
