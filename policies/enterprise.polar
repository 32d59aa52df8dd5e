# =============================================================================
# Who may do what for an enterprise
# =============================================================================
#
# This file decides every question of the form "may PERSON do ACTION for
# ENTERPRISE?": the admin UI and the mandate services ask it before every
# change of access, the OpenID provider asks it to build representation
# claims, and relying parties ask it through the decision API.
#
# The answer follows the chain of mandates of Mon Espace:
#
#   legal representative (BCE registry)
#     -> designates the GAP (principal access manager, "gestionnaire d'acces
#        principal")
#       -> the GAP and access managers grant roles to other people, by
#          invitation or by accepting their role requests.
#
# and, for intermediaries (accountants, social secretariats), one more link:
#
#   the client enterprise's GAP or legal representative gives a firm a
#   mandate for some service domains; the firm's GAP accepts it
#     -> the firm's members whose role there gives "act_for_clients" act
#        for the client in those domains (see "Acting for clients").
#
# Roles, strongest first:
#   gap > access_manager > owner > client_agent > agent > reader.
# A stronger role has every permission of the weaker ones.
#
# The facts this file reads are loaded from the database for the one
# (person, enterprise) pair being asked about, never for everyone:
#
#   person.grants            role grants not revoked: id, enterprise, role,
#                            scope (list of service domains, [] = all) and
#                            valid_until (a date, or nil for no end)
#   person.designations      the GAP designation in force, if any
#   person.representations   legal representations from the BCE registry
#                            that have not ended
#   enterprise.bce           the enterprise's BCE number
#   enterprise.active        false once the enterprise has stopped
#   enterprise.today         the date of the decision (UTC)
#   enterprise.service_domain the service domain asked about (for example
#                            "fiscalite"), or nil for questions about
#                            managing access
#   enterprise.mandates      the mandates this enterprise gave to firms,
#                            accepted and not ended: id, client (the BCE
#                            number of the enterprise that gave it), firm
#                            (the firm, seen as an Enterprise: bce, active,
#                            today, service_domain), domains, valid_from,
#                            valid_until (nil for no end)
#
# With a firm holding a mandate from the enterprise asked about,
# person.grants and person.designations also hold the person's facts in that
# firm, each naming the firm's BCE number: every rule below keeps a fact to
# the enterprise it names.
#
# When someone gives a grant or decides on an invitation or a role request,
# the services also pass what is at stake:
#
#   terms.role, terms.scope, terms.valid_until
#                            the grant about to be given (scope [] = all
#                            service domains, valid_until nil = no end)
#   terms.recipient          the NRN of the person receiving it, or nil
#                            while unknown (an invitation bound to no NRN)
#   terms.changes_own        true when a person changes their own grant
#   offer.made_by            the NRN of the person who sent the invitation,
#                            or who asked for the role
#
# Permission names are verb_noun and must match authz/permissions.py
# (a test checks that they do).

# -----------------------------------------------------------------------------
# The entry point
# -----------------------------------------------------------------------------

# A person may do something for an enterprise if one of their roles (or their
# legal representation) gives that permission, and only while the enterprise
# is active: a stopped enterprise gives nothing to anyone.
allow(person: Person, action, enterprise: Enterprise) if
  enterprise.active = true and
  has_permission(person, action, enterprise);

# -----------------------------------------------------------------------------
# The actors and the resource
# -----------------------------------------------------------------------------

# People, identified by their national register number, whatever the login
# method (eID or itsme).
actor Person {}

resource Enterprise {
  roles = ["gap", "access_manager", "owner", "client_agent", "agent", "reader"];

  permissions = [
    # Managing the mandates themselves.
    "designate_gap",
    "give_mandate",
    "accept_mandate",
    "view_members",
    "invite_member",
    "grant_role",
    "revoke_role",
    "decide_request",
    "view_history",
    # Acting for the enterprise in government applications.
    "act_for",
    "read_dossier",
    "edit_dossier",
    "submit_dossier",
    # Acting for the enterprise's clients, when it is an intermediary.
    "act_for_clients"
  ];

  # --- Role implications: each role has everything the next one has. ---

  # The GAP is the first access manager: everything an access manager may
  # do, the GAP may do.
  "access_manager" if "gap";

  # An access manager is also an owner of the enterprise's space.
  "owner" if "access_manager";

  # An owner ("Proprietaire") can do everything a client agent can.
  "client_agent" if "owner";

  # A client agent ("Collaborateur clients") can do everything an agent can,
  # and acts for the enterprise's clients (below).
  "agent" if "client_agent";

  # An agent ("Collaborateur") can read everything a reader can.
  "reader" if "agent";

  # --- What each role gives. ---

  # Access managers (and so the GAP) see the members and the history of the
  # enterprise, invite people, grant and revoke roles, and decide on role
  # requests. Which roles they may hand out is limited below
  # (allow_role_change).
  "view_members" if "access_manager";
  "invite_member" if "access_manager";
  "grant_role" if "access_manager";
  "revoke_role" if "access_manager";
  "decide_request" if "access_manager";
  "view_history" if "access_manager";

  # Owners submit dossiers in the enterprise's name: they have every dossier
  # permission.
  "submit_dossier" if "owner";

  # Agents act for the enterprise and prepare dossiers, within the service
  # domains of their grant (a scoped grant gives its role only in those
  # domains, see role_source below).
  "act_for" if "agent";
  "edit_dossier" if "agent";

  # Readers consult the enterprise's dossiers.
  "read_dossier" if "reader";

  # In an intermediary, client agents (and so owners, access managers and the
  # GAP) act for the clients that gave it a mandate, within the service
  # domains of their grant and of the mandate (see "Acting for clients").
  # The GAP and access managers choose who they are by granting the role.
  "act_for_clients" if "client_agent";

  # The GAP gives mandates to intermediaries for the enterprise, and accepts
  # (or refuses) the mandates clients give the enterprise. Either side may
  # end a mandate with the same permission. Access managers do neither: a
  # mandate lets a whole other organisation act, and choose its own people,
  # beyond what an access manager's own grant could bound.
  "give_mandate" if "gap";
  "accept_mandate" if "gap";
}

# -----------------------------------------------------------------------------
# Where roles come from
# -----------------------------------------------------------------------------

# A person has a role on an enterprise when some fact gives it to them.
# role_source names that fact, so that every decision can be explained.
has_role(person: Person, role: String, enterprise: Enterprise) if
  role_source(person, role, enterprise, _fact);

# The GAP role comes only from a designation in force by one of the
# enterprise's legal representatives. It is never granted like other roles.
role_source(person: Person, "gap", enterprise: Enterprise, designation: Designation) if
  designation in person.designations and
  designation.enterprise = enterprise.bce;

# Every other role comes from a role grant that is not revoked, is in force on
# the day of the decision, and covers the service domain asked about.
role_source(person: Person, role, enterprise: Enterprise, grant: Grant) if
  grant in person.grants and
  grant.enterprise = enterprise.bce and
  grant.role = role and
  # In force: no end date, or an end date not yet passed (the end date is
  # the grant's last valid day).
  (grant.valid_until = nil or
    (grant.valid_until != nil and enterprise.today <= grant.valid_until)) and
  # Covering: a grant without a scope covers every service domain, and
  # questions asked without one (such as managing access). A scoped grant
  # covers only the domains it lists, so it gives nothing for questions
  # asked without a service domain.
  (grant.scope = [] or enterprise.service_domain in grant.scope);

# -----------------------------------------------------------------------------
# Legal representatives
# -----------------------------------------------------------------------------

# A legal representative of an enterprise, as registered in the BCE, may
# designate (or replace) its GAP. A sole trader, their own legal
# representative, may designate themself. Being a legal representative gives
# no other permission: to act for the enterprise, they too need a role.
has_permission(person: Person, "designate_gap", enterprise: Enterprise) if
  representation in person.representations and
  representation.enterprise = enterprise.bce;

# A legal representative may also give (and end) the enterprise's mandates to
# intermediaries, as its GAP may: both engage the enterprise as a whole.
has_permission(person: Person, "give_mandate", enterprise: Enterprise) if
  representation in person.representations and
  representation.enterprise = enterprise.bce;

# -----------------------------------------------------------------------------
# Acting for clients (enterprises acting for enterprises)
# -----------------------------------------------------------------------------

# A client enterprise may give an intermediary (an accountant, a social
# secretariat: "the firm") a mandate for some service domains. While that
# mandate is in force, the firm's members whose role there gives
# "act_for_clients" act for the client and handle its dossiers in those
# domains. Nothing more: they neither see the client's members nor manage
# its access, and a person of the firm without that permission (even its
# GAP, without a mandate) gets nothing from the client.
has_permission(person: Person, action: String, client: Enterprise) if
  action in ["act_for", "read_dossier", "edit_dossier", "submit_dossier"] and
  mandate_source(person, client, _mandate);

# The mandate that lets a person act for a client through their firm:
# - given by this client, accepted by the firm and not ended (the only ones
#   loaded: a pending, refused, withdrawn or ended mandate is never seen);
# - covering the service domain asked about (a mandate always names its
#   domains, so it gives nothing for a question asked without one);
# - in force on the day of the decision: from its first day, to its last
#   day included (no last day: until ended);
# - held by a firm that is active, where the person's role gives
#   "act_for_clients" for that service domain (a scoped grant in the firm
#   limits it further).
# One level only: "act_for_clients" comes from a role in the firm, never
# from a mandate, so a firm cannot pass a client's mandate on to another
# (no sub-delegation), and the firm's own mandates are not loaded.
mandate_source(person: Person, client: Enterprise, mandate: ClientMandate) if
  mandate in client.mandates and
  mandate.client = client.bce and
  client.service_domain in mandate.domains and
  mandate.valid_from <= client.today and
  (mandate.valid_until = nil or
    (mandate.valid_until != nil and client.today <= mandate.valid_until)) and
  allow(person, "act_for_clients", mandate.firm);

# -----------------------------------------------------------------------------
# Granting and revoking roles
# -----------------------------------------------------------------------------

# Nobody hands out a role stronger than their own. A person allowed to grant
# (or revoke) roles may grant, change or revoke a given role only if they hold
# that role themselves, directly or through a stronger one. The GAP role is
# never granted or revoked this way: it comes from a designation.
allow_role_change(person: Person, action, role, enterprise: Enterprise) if
  action in ["grant_role", "revoke_role"] and
  role != "gap" and
  allow(person, action, enterprise) and
  has_role(person, role, enterprise);

# -----------------------------------------------------------------------------
# Nobody decides on their own access
# -----------------------------------------------------------------------------

# An invitation or a role request is decided by someone other than the
# person who made it: whoever sent an invitation cannot accept it, and
# whoever asked for a role can neither accept nor refuse their own request
# (they may withdraw it).
may_decide(person: Person, offer: Offer) if
  offer.made_by != person.nrn;

# What a person may give. The services ask this one rule whenever a grant is
# given: granting a role, changing one, sending an invitation, accepting an
# invitation (asked about its sender) and accepting a role request (asked
# about the person deciding). It is always asked with the giver's facts of
# that moment: an invitation accepted later is bounded by what its sender
# holds when it is accepted, not when it was sent. A grant already given is
# not touched when its giver's own grant later ends or shrinks.
may_give(giver: Person, terms: Terms, enterprise: Enterprise) if
  allow_role_change(giver, "grant_role", terms.role, enterprise) and
  within_own_grant(giver, terms, enterprise) and
  not_to_oneself(giver, terms, enterprise);

# A grant given is bounded by the giver's own: it ends no later than the
# access manager grant that lets them give it (that it gives no stronger role
# is allow_role_change). That grant covers every service domain: giving is
# asked without a service domain, and a scoped grant gives nothing for such
# questions (role_source), so an access manager scoped to some domains gives
# no grant at all.
within_own_grant(giver: Person, terms: Terms, enterprise: Enterprise) if
  role_source(giver, "access_manager", enterprise, grant) and
  ends_no_later(terms, grant);

# The GAP is bounded by nothing: a designation has no end date and covers
# every service domain; it lasts until a legal representative designates
# someone else. (Legal representatives give no grants: they designate the
# GAP, see designate_gap.)
within_own_grant(giver: Person, _terms: Terms, enterprise: Enterprise) if
  role_source(giver, "gap", enterprise, _designation);

# Under a giver's grant without an end date, any end date (or none) fits;
# under one with an end date, only an end date on or before it: no end date
# at all would outlast it.
ends_no_later(terms: Terms, grant: Grant) if
  grant.valid_until = nil or
  (grant.valid_until != nil and terms.valid_until != nil and
    terms.valid_until <= grant.valid_until);

# Nobody gives themselves a grant: not directly, not by accepting their own
# invitation or role request. An access manager may still change their own
# grant to give themselves less (an earlier end date, a weaker role: the
# bounds above keep it within what they hold). The GAP, bounded by nothing,
# never gives themselves a grant.
not_to_oneself(giver: Person, terms: Terms, _enterprise: Enterprise) if
  terms.recipient != giver.nrn;
not_to_oneself(giver: Person, terms: Terms, enterprise: Enterprise) if
  terms.recipient = giver.nrn and
  terms.changes_own = true and
  not role_source(giver, "gap", enterprise, _);
