"""Role names, strongest first, as ``policies/enterprise.polar`` names them."""

# "gap" comes only from a GapDesignation; the others from a RoleGrant.
ROLES = ("gap", "access_manager", "owner", "agent", "reader")
GRANTABLE_ROLES = ROLES[1:]
ROLE_RANK = {role: len(ROLES) - i for i, role in enumerate(ROLES)}
