"""The mandate model: who represents, manages and acts for which enterprise.

Tables are plain peewee models that run unchanged on SQLite and PostgreSQL. Nothing here
decides anything: rights come from the policies (``policies/*.polar``) over these facts, and
every write that changes access goes through ``authz.services``.
"""

from __future__ import annotations

import json

from peewee import (
    BooleanField,
    CharField,
    CompositeKey,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

# Re-exported: the core's modules and the tests name them from here.
from authz.roles import GRANTABLE_ROLES as GRANTABLE_ROLES
from authz.roles import ROLE_RANK as ROLE_RANK
from authz.roles import ROLES as ROLES
from authz.tables import MAX_ROW_ID as MAX_ROW_ID
from authz.tables import BaseModel, utcnow
from authz.tables import today as today

LEGAL_FORMS = ("company", "sole_trader", "asbl", "cpas", "public_body", "other")
ENTERPRISE_STATUSES = ("active", "stopped")
REQUEST_STATUSES = ("pending", "accepted", "refused", "withdrawn", "expired")
GRANT_END_REASONS = ("revoked", "replaced", "expired")
# A mandate between enterprises: proposed (pending), then accepted or refused by the mandatee;
# a pending one may be withdrawn, an accepted one ended, by either side.
ENTERPRISE_MANDATE_STATUSES = ("pending", "accepted", "refused", "withdrawn", "ended")


class SchemaInfo(BaseModel):
    """One row: the schema version this database is at (see ``authz.schema``)."""

    version = IntegerField()
    # The oldest software version that still runs on this schema (rolling upgrades).
    compatible_from = IntegerField(null=True)


class Person(BaseModel):
    """One per national register number, whatever the login method."""

    nrn = CharField(max_length=11, unique=True)
    given_name = CharField(default="")
    family_name = CharField(default="")
    email = CharField(null=True)
    email_verified = BooleanField(default=False)
    language = CharField(max_length=2, default="fr")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip() or self.nrn


class Enterprise(BaseModel):
    """An entity with a BCE number: company, sole trader, ASBL, CPAS..."""

    bce = CharField(max_length=10, unique=True)
    name = CharField()
    legal_form = CharField(default="company")
    status = CharField(default="active")
    # Bumped in every transaction that changes who may do what for this enterprise; decision
    # caches key on it so that a cached allow never outlives a revocation.
    authz_epoch = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class LegalRepresentation(BaseModel):
    """Person X legally represents enterprise E, from the authentic source (BCE import)."""

    person = ForeignKeyField(Person, backref="representations")
    enterprise = ForeignKeyField(Enterprise, backref="representatives")
    capacity = CharField(default="")
    source = CharField(default="bce")
    ended_on = DateField(null=True)
    imported_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("person", "enterprise"), True),)


class GapDesignation(BaseModel):
    """E's principal access manager, designated by one of E's legal representatives."""

    enterprise = ForeignKeyField(Enterprise, backref="gap_designations")
    person = ForeignKeyField(Person, backref="gap_designations")
    designated_by = ForeignKeyField(Person, null=True)
    started_at = DateTimeField(default=utcnow)
    ended_at = DateTimeField(null=True)
    ended_by = ForeignKeyField(Person, null=True)

    class Meta:
        indexes = ((("person", "enterprise"), False),)


class RoleGrant(BaseModel):
    """Person X holds role R on E, until ``valid_until`` (inclusive), within ``scope``."""

    person = ForeignKeyField(Person, backref="grants")
    enterprise = ForeignKeyField(Enterprise, backref="grants")
    role = CharField()
    # Space-separated service domains; empty means every domain.
    scope = TextField(default="")
    valid_until = DateField(null=True)
    source = CharField(default="direct")  # direct | request | invitation
    granted_by = ForeignKeyField(Person, null=True)
    granted_at = DateTimeField(default=utcnow)
    ended_at = DateTimeField(null=True)
    ended_by = ForeignKeyField(Person, null=True)
    end_reason = CharField(null=True)  # revoked | replaced | expired

    class Meta:
        indexes = ((("person", "enterprise"), False),)

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split()) if self.scope else ()


class RoleRequest(BaseModel):
    """ "Ajouter une entreprise": person X asks role R on E, decided by E's GAP."""

    person = ForeignKeyField(Person, backref="role_requests")
    enterprise = ForeignKeyField(Enterprise, backref="role_requests")
    role = CharField()
    message = TextField(default="")
    status = CharField(default="pending")
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    decided_at = DateTimeField(null=True)
    decided_by = ForeignKeyField(Person, null=True)
    reason = TextField(default="")
    grant = ForeignKeyField(RoleGrant, null=True)

    class Meta:
        indexes = ((("enterprise", "status"), False), (("person", "status"), False))


class Invitation(BaseModel):
    """A single-use, expiring link: whoever accepts it (logged in) gets the role."""

    enterprise = ForeignKeyField(Enterprise, backref="invitations")
    email = CharField()
    role = CharField()
    scope = TextField(default="")
    valid_until = DateField(null=True)
    nrn = CharField(max_length=11, null=True)  # when set, only this person may accept
    token_hash = CharField(max_length=64, unique=True)  # SHA-256 of the token; never the token
    invited_by = ForeignKeyField(Person)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    accepted_at = DateTimeField(null=True)
    accepted_by = ForeignKeyField(Person, null=True)
    cancelled_at = DateTimeField(null=True)
    grant = ForeignKeyField(RoleGrant, null=True)


class EnterpriseMandate(BaseModel):
    """Enterprise A (the mandator, a client) lets enterprise B (the mandatee, an intermediary:
    an accountant, a social secretariat) act for it in some service domains, from
    ``valid_from`` until ``valid_until`` (inclusive; none: no end).

    Proposed by A's GAP or a legal representative of A, accepted or refused by B's GAP; either
    side ends it. Which of B's members act for A is decided inside B, by their role there
    (``policies/enterprise.polar``, "Acting for clients"). One level only: B never passes it on.
    """

    mandator = ForeignKeyField(Enterprise, backref="mandates_given")
    mandatee = ForeignKeyField(Enterprise, backref="mandates_held")
    # Space-separated service domains, sorted; never empty (a mandate names its domains).
    domains = TextField()
    valid_from = DateField()
    valid_until = DateField(null=True)
    status = CharField(default="pending")
    message = TextField(default="")
    proposed_by = ForeignKeyField(Person, backref="mandates_proposed")
    proposed_at = DateTimeField(default=utcnow)
    decided_by = ForeignKeyField(Person, null=True)
    decided_at = DateTimeField(null=True)
    reason = TextField(default="")
    ended_by = ForeignKeyField(Person, null=True)
    ended_at = DateTimeField(null=True)
    ended_side = CharField(null=True)  # mandator | mandatee

    class Meta:
        indexes = ((("mandator", "status"), False), (("mandatee", "status"), False))

    @property
    def domain_list(self) -> tuple[str, ...]:
        return tuple(self.domains.split())


class Client(BaseModel):
    """A relying party (OIDC) and/or a caller of the decision API."""

    client_id = CharField(unique=True)
    name = CharField()
    secret_hash = CharField(null=True)
    auth_method = CharField(default="client_secret_basic")
    redirect_uris = TextField(default="[]")
    post_logout_redirect_uris = TextField(default="[]")
    jwks = TextField(null=True)
    jwks_uri = CharField(null=True)
    allowed_scopes = TextField(default="openid profile")
    service_domain = CharField()
    sector_identifier = CharField(null=True)
    subject_type = CharField(default="pairwise")
    may_receive_nrn = BooleanField(default=False)
    backchannel_logout_uri = CharField(null=True)
    created_at = DateTimeField(default=utcnow)
    disabled_at = DateTimeField(null=True)
    # The portal's catalogue entry as JSON (authz.catalogue.CatalogueEntry); None: not listed.
    catalogue = TextField(null=True)

    @property
    def redirect_uri_list(self) -> list[str]:
        return json.loads(self.redirect_uris)

    @property
    def is_enabled(self) -> bool:
        return self.disabled_at is None


class AuditEvent(BaseModel):
    """Append-only, hash-chained and keyed record of every access change and admin action.

    Values that enter the hash are stored as text exactly as hashed (``occurred_at`` as an ISO
    string, ``details`` as canonical JSON) so both database backends return the same bytes.
    """

    seq = IntegerField(unique=True)
    occurred_at = CharField()
    actor = CharField()
    action = CharField()
    target_type = CharField()
    target_id = CharField()
    enterprise_bce = CharField(max_length=10, null=True, index=True)
    details = TextField(default="{}")
    ip = CharField(null=True)
    policy_version = CharField()
    prev_hash = CharField(max_length=64)
    hash = CharField(max_length=64)
    # HMAC-SHA-256 of ``hash`` under the audit key whose id is ``key_id`` (authz.audit).
    key_id = CharField(max_length=16, null=True)
    mac = CharField(max_length=64, null=True)

    class Meta:
        # The latest events of one kind (the operator's BCE imports, a history filter).
        indexes = ((("action", "seq"), False),)


class AuditMention(BaseModel):
    """A national register number that an audit event names (its actor, its target, a value
    of its details), written with the event (``authz.audit``): how a person's events are
    found by an exact match on an index, never by reading the log. Not part of the chain:
    ``monespace db upgrade`` rebuilds it from the log."""

    nrn = CharField(max_length=11)
    seq = IntegerField()

    class Meta:
        primary_key = CompositeKey("nrn", "seq")


def _partial_unique_indexes() -> None:
    # One active GAP per enterprise, one active grant and one pending request per pair.
    GapDesignation.add_index(
        GapDesignation.index(GapDesignation.enterprise, unique=True).where(
            GapDesignation.ended_at.is_null()
        )
    )
    RoleGrant.add_index(
        RoleGrant.index(RoleGrant.person, RoleGrant.enterprise, unique=True).where(
            RoleGrant.ended_at.is_null()
        )
    )
    RoleRequest.add_index(
        RoleRequest.index(RoleRequest.person, RoleRequest.enterprise, unique=True).where(
            RoleRequest.status == "pending"
        )
    )
    # One open mandate (pending or accepted) per (mandator, mandatee): a change of domains or
    # dates is a new mandate once the open one has ended.
    EnterpriseMandate.add_index(
        EnterpriseMandate.index(
            EnterpriseMandate.mandator, EnterpriseMandate.mandatee, unique=True
        ).where(EnterpriseMandate.status.in_(("pending", "accepted")))
    )


_partial_unique_indexes()

ALL_MODELS = (
    SchemaInfo,
    Person,
    Enterprise,
    LegalRepresentation,
    GapDesignation,
    RoleGrant,
    RoleRequest,
    Invitation,
    Client,
    AuditEvent,
    EnterpriseMandate,
    AuditMention,
)
