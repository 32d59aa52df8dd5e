"""Tables of the OpenID Connect provider: its signing keys and pyop's state.

In the database, so that every node signs with the same key, publishes the same JWK Set, and
can finish a flow another node started (a code issued by one node is redeemed at another).
"""

from __future__ import annotations

from peewee import CharField, DateTimeField, IntegerField, TextField

from authz.tables import BaseModel, utcnow


class OidcSchemaInfo(BaseModel):
    """One row: the version of the OpenID provider's tables (see ``idp_bridge.oidc.schema``)."""

    version = IntegerField()
    # The oldest software version that still runs on this schema (rolling upgrades).
    compatible_from = IntegerField(null=True)

    class Meta:
        table_name = "oidc_schema_info"


class SigningKey(BaseModel):
    """A key ID tokens are signed with, through its life: ``next`` (published, not yet used),
    ``current`` (signing), ``previous`` (published until what it signed has expired),
    ``retired`` (neither)."""

    kid = CharField(max_length=128, unique=True)
    state = CharField(max_length=16, index=True)
    alg = CharField(max_length=16, default="RS256")
    private_jwk = TextField()  # encrypted at rest (see idp_bridge.oidc.keys)
    created_at = DateTimeField(default=utcnow)
    activated_at = DateTimeField(null=True)
    retired_at = DateTimeField(null=True)

    class Meta:
        table_name = "oidc_signing_key"


class ProviderState(BaseModel):
    """pyop's mappings (authorization codes, access and refresh tokens, subject identifiers):
    one row per key of each collection, its value as JSON, forgotten after ``expires_at``."""

    collection = CharField(max_length=32)
    key = CharField(max_length=256)
    value = TextField()
    expires_at = DateTimeField(null=True, index=True)

    class Meta:
        table_name = "oidc_state"
        indexes = ((("collection", "key"), True),)


ALL_MODELS = (SigningKey, ProviderState)
