"""Tables of the login side: state kept between the steps of an upstream login, assertions
already used, and login sessions. In the database, so that any node can finish a login another
node started, and a replay is caught whichever node it reaches."""

from __future__ import annotations

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from authz.models import BaseModel, Person, utcnow


class IdpBridgeSchemaInfo(BaseModel):
    """One row: the version of the idp_bridge tables (see ``idp_bridge.schema``)."""

    version = IntegerField()
    # The oldest software version that still runs on this schema (rolling upgrades).
    compatible_from = IntegerField(null=True)


class PendingLogin(BaseModel):
    """State between sending a person to an upstream and its answer (SAML request id, itsme
    state and nonce), used once, until it expires."""

    key = CharField(max_length=128, unique=True)
    kind = CharField(max_length=32)
    value = TextField(default="{}")
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(index=True)


class SeenAssertion(BaseModel):
    """An upstream assertion (or ID token) already accepted, kept until it expires: a second
    use is a replay."""

    upstream = CharField(max_length=32)
    assertion_id = CharField(max_length=256)
    expires_at = DateTimeField(index=True)

    class Meta:
        indexes = ((("upstream", "assertion_id"), True),)


class LoginSession(BaseModel):
    """A person logged in: only the SHA-256 of the session id (the cookie) is stored."""

    id_hash = CharField(max_length=64, unique=True)
    person = ForeignKeyField(Person, backref="login_sessions")
    upstream = CharField(max_length=32)
    upstream_session_ref = CharField(default="")
    acr = CharField()
    amr = CharField(default="")
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(index=True)
    ended_at = DateTimeField(null=True)


ALL_MODELS = (PendingLogin, SeenAssertion, LoginSession)
