"""An OpenID provider that behaves like itsme, for the demo and the tests.

It has its own keys and publishes its discovery document and JWK Set. Its authorization
endpoint accepts only a request object signed by the registered client (RS256) and encrypted
to the simulator (RSA-OAEP-256, A128CBC-HS256), then lets the person pick a demo person or
type a fictional one; "Annuler" answers ``error=access_denied``. Its token endpoint requires
``private_key_jwt`` with a signing key from the client's registered JWK Set, each assertion
usable once, and answers an ID token signed (RS256) then encrypted to the client's ``enc``
key, with itsme's claims. The pending request travels in the page's hidden fields and is
verified again on submit; codes are single-use and live one minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse
from base64 import urlsafe_b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, request
from stdnum.be import nn

from idp_bridge.shared import client_assertion, nested_jwt
from idp_bridge.shared.nested_jwt import JoseFailure, RSAKey
from idp_bridge.shared.stores import MemoryRequestStore, MemorySeenStore
from idp_bridge.simulators import itsme_op_pages as pages
from idp_bridge.upstreams.itsme import ItsmeConfig
from idp_bridge.upstreams.itsme_claims import ACR_VALUES, CLAIM_NRN

_LEVEL_OF_ACR = {uri: level for level, uri in ACR_VALUES.items()}
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class SimulatedClient:
    """A relying party registered with the simulator, as itsme's onboarding would record it."""

    client_id: str
    redirect_uris: tuple[str, ...]
    service_codes: tuple[str, ...]
    jwks: Mapping[str, Any]  # the client's public keys: one "sig", one "enc"

    @classmethod
    def for_relying_party(cls, config: ItsmeConfig) -> SimulatedClient:
        """Our own relying party, registered as its configuration describes it."""
        keys = nested_jwt.public_jwks(config.signing_key, config.encryption_key)
        return cls(config.client_id, (config.redirect_uri,), (config.service_code,), keys)


@dataclass(frozen=True)
class SimulatedPerson:
    key: str
    nrn: str
    given_name: str
    family_name: str
    locale: str = "FR"

    @property
    def nrn_display(self) -> str:
        return nn.format(self.nrn)


@dataclass(frozen=True)
class ItsmeSimulatorConfig:
    issuer: str  # where the blueprint is served, e.g. http://127.0.0.1:8000/simulators/itsme
    signing_key: RSAKey = field(repr=False)
    encryption_key: RSAKey = field(repr=False)
    clients: tuple[SimulatedClient, ...] = ()
    persons: tuple[SimulatedPerson, ...] = ()  # offered on the page (the demo's)
    code_ttl: int = 60
    id_token_ttl: int = 300
    clock_skew: int = 60

    def __post_init__(self):
        object.__setattr__(self, "issuer", self.issuer.rstrip("/"))
        object.__setattr__(self, "signing_key", nested_jwt.rsa_key(self.signing_key, "sig"))
        object.__setattr__(self, "encryption_key", nested_jwt.rsa_key(self.encryption_key, "enc"))
        for client in self.clients:
            nested_jwt.key_set(client.jwks)  # fails now rather than at the first login

    def endpoint(self, name: str) -> str:
        return f"{self.issuer}/{name}"


class InvalidAuthorization(Exception):
    """The authorization request cannot be answered at all: shown on a page, never redirected."""


class TokenError(Exception):
    """An OAuth error at the token endpoint (RFC 6749 5.2)."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def make_blueprint(
    config: ItsmeSimulatorConfig, *, clock: Callable[[], float] = time.time
) -> Blueprint:
    """The simulator as a blueprint served at the path of ``config.issuer``."""
    prefix = urllib.parse.urlsplit(config.issuer).path.rstrip("/")
    bp = Blueprint("itsme_simulator", __name__, url_prefix=prefix or None)
    clients = {c.client_id: c for c in config.clients}
    # Each client's keys, read once (the configuration is fixed).
    client_keys = {c.client_id: nested_jwt.key_set(c.jwks) for c in config.clients}
    codes = MemoryRequestStore(max_entries=10_000, clock=clock)
    seen_assertions = MemorySeenStore(max_entries=100_000, clock=clock)

    def persons() -> tuple[SimulatedPerson, ...]:
        return config.persons

    @bp.errorhandler(InvalidAuthorization)
    def _invalid_authorization(exc: InvalidAuthorization):
        return Response(pages.invalid_request(str(exc)), 400, _PAGE_HEADERS)

    @bp.errorhandler(TokenError)
    def _token_error(exc: TokenError):
        body = jsonify(error=exc.error, error_description=exc.description)
        body.status_code = exc.status
        body.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        if exc.status == 401:
            body.headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
        return body

    @bp.get("/.well-known/openid-configuration")
    def discovery():
        return jsonify(
            issuer=config.issuer,
            authorization_endpoint=config.endpoint("authorization"),
            token_endpoint=config.endpoint("token"),
            jwks_uri=config.endpoint("jwks"),
            response_types_supported=["code"],
            grant_types_supported=["authorization_code"],
            subject_types_supported=["pairwise"],
            scopes_supported=["openid", "service", "profile", "eid"],
            claims_supported=["sub", "given_name", "family_name", "name", "locale", CLAIM_NRN],
            acr_values_supported=list(ACR_VALUES.values()),
            token_endpoint_auth_methods_supported=["private_key_jwt"],
            token_endpoint_auth_signing_alg_values_supported=[nested_jwt.SIG_ALG],
            request_parameter_supported=True,
            request_object_signing_alg_values_supported=[nested_jwt.SIG_ALG],
            request_object_encryption_alg_values_supported=[nested_jwt.ENC_ALG],
            request_object_encryption_enc_values_supported=[nested_jwt.ENC_ENC],
            id_token_signing_alg_values_supported=[nested_jwt.SIG_ALG],
            id_token_encryption_alg_values_supported=[nested_jwt.ENC_ALG],
            id_token_encryption_enc_values_supported=[nested_jwt.ENC_ENC],
            code_challenge_methods_supported=["S256"],
            authorization_response_iss_parameter_supported=True,
        )

    @bp.get("/jwks")
    def jwks():
        return jsonify(nested_jwt.public_jwks(config.signing_key, config.encryption_key))

    @bp.get("/authorization")
    def authorization():
        names = ("client_id", "request", "response_type", "scope")
        fields = {name: request.args[name] for name in names if name in request.args}
        wanted = _verified_request(fields)
        return _choose_page(fields, wanted)

    @bp.post("/authorization")
    def decision():
        names = ("client_id", "request", "response_type", "scope")
        fields = {name: request.form[name] for name in names if name in request.form}
        wanted = _verified_request(fields)
        action = request.form.get("action", "")
        if action == "cancel":
            return _back(wanted, error="access_denied", error_description="cancelled by the user")
        if action.startswith("person:"):
            person = next((p for p in persons() if p.key == action[7:]), None)
            if person is None:
                return _choose_page(fields, wanted, "Personne inconnue.")
        elif action == "custom":
            person, error = _typed_person(request.form)
            if person is None:
                return _choose_page(fields, wanted, error, request.form, status=422)
        else:
            return _choose_page(fields, wanted, "Choisissez une personne ou annulez.")
        code = secrets.token_urlsafe(32)
        codes.put(code, {**wanted, **_person_claims(person)}, config.code_ttl)
        return _back(wanted, code=code)

    @bp.post("/token")
    def token():
        form = request.form
        if form.get("grant_type") != "authorization_code":
            raise TokenError("unsupported_grant_type", "only authorization_code")
        try:
            client_id = client_assertion.verify(
                form.get("client_assertion", ""),
                form.get("client_assertion_type", ""),
                client_id=form.get("client_id"),
                audience=config.endpoint("token"),
                resolve_key=_client_sig_key,
                seen=seen_assertions,
                clock=clock,
                leeway=config.clock_skew,
            )
        except client_assertion.AssertionRefused as exc:
            raise TokenError("invalid_client", str(exc), 401) from exc
        grant = codes.pop(form.get("code", ""))
        if grant is None or grant["client_id"] != client_id:
            raise TokenError("invalid_grant", "unknown, expired or already used code")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            raise TokenError("invalid_grant", "redirect_uri differs from the authorization's")
        verifier = form.get("code_verifier")
        if grant["code_challenge"]:
            if not verifier or not hmac.compare_digest(_s256(verifier), grant["code_challenge"]):
                raise TokenError("invalid_grant", "code_verifier does not match")
        elif verifier:
            raise TokenError("invalid_grant", "code_verifier without a code_challenge")
        enc_key = nested_jwt.pick_key(client_keys[client_id], "enc")
        if enc_key is None:
            raise TokenError("invalid_client", "the client registered no encryption key")
        id_token = nested_jwt.sign_then_encrypt(
            _id_token_claims(grant), config.signing_key, enc_key
        )
        response = jsonify(
            access_token=secrets.token_urlsafe(32),
            token_type="Bearer",  # noqa: S106 (the OAuth token type, not a secret)
            expires_in=config.id_token_ttl,
            id_token=id_token,
        )
        response.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
        return response

    # -- helpers, closed over the configuration -----------------------------------------------

    def _client_sig_key(client_id: str, kid: str | None) -> RSAKey | None:
        keys = client_keys.get(client_id)
        return None if keys is None else nested_jwt.pick_key(keys, "sig", kid)

    def _verified_request(fields: Mapping[str, str]) -> dict[str, str]:
        """The authorization request, from its request object; InvalidAuthorization if it was
        not signed by the client then encrypted to us, or asks for what we do not serve."""
        client = clients.get(fields.get("client_id", ""))
        if client is None:
            raise InvalidAuthorization("client inconnu")
        if not fields.get("request"):
            raise InvalidAuthorization("objet de requête absent")
        try:
            claims = nested_jwt.decrypt_then_verify(
                fields["request"],
                config.encryption_key,
                lambda kid: _client_sig_key(client.client_id, kid),
            )
        except JoseFailure as exc:
            raise InvalidAuthorization(f"objet de requête refusé : {exc}") from exc
        now = clock()
        if claims.get("iss") != client.client_id or claims.get("client_id") != client.client_id:
            raise InvalidAuthorization("objet de requête d'un autre client")
        if claims.get("aud") != config.issuer:
            raise InvalidAuthorization("objet de requête destiné à un autre fournisseur")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp < now - config.clock_skew:
            raise InvalidAuthorization("objet de requête expiré")
        for name in ("response_type", "scope"):
            if name in fields and fields[name] != claims.get(name):
                raise InvalidAuthorization(f"{name} diffère de l'objet de requête")
        if claims.get("response_type") != "code":
            raise InvalidAuthorization("seul response_type=code est accepté")
        if claims.get("redirect_uri") not in client.redirect_uris:
            raise InvalidAuthorization("redirect_uri non enregistrée")
        scopes = str(claims.get("scope", "")).split()
        services = [s[8:] for s in scopes if s.startswith("service:")]
        if "openid" not in scopes or len(services) != 1 or services[0] not in client.service_codes:
            raise InvalidAuthorization("scope sans openid ou sans service enregistré")
        for name in ("state", "nonce"):
            if not isinstance(claims.get(name), str) or not claims[name]:
                raise InvalidAuthorization(f"{name} absent")
        challenge = claims.get("code_challenge", "")
        if challenge and claims.get("code_challenge_method") != "S256":
            raise InvalidAuthorization("seule la méthode PKCE S256 est acceptée")
        asked = [_LEVEL_OF_ACR.get(v) for v in str(claims.get("acr_values", "")).split()]
        level = "advanced" if "advanced" in asked else "basic"  # the most constraining one
        return {
            "client_id": client.client_id,
            "redirect_uri": claims["redirect_uri"],
            "state": claims["state"],
            "nonce": claims["nonce"],
            "scope": " ".join(scopes),
            "level": level,
            "code_challenge": str(challenge),
        }

    def _choose_page(fields, wanted, error=None, form=None, status=200):
        html = pages.choose_person(
            config.endpoint("authorization"),
            fields,
            wanted["client_id"],
            wanted["level"],
            persons(),
            error,
            form,
        )
        return Response(html, status, _PAGE_HEADERS)

    def _back(wanted: Mapping[str, str], **params: str):
        query = urllib.parse.urlencode({**params, "state": wanted["state"], "iss": config.issuer})
        separator = "&" if urllib.parse.urlsplit(wanted["redirect_uri"]).query else "?"
        return redirect(wanted["redirect_uri"] + separator + query, 302)

    def _id_token_claims(grant: Mapping[str, str]) -> dict:
        now = int(clock())
        # Pairwise, as itsme does: the same person has a different sub for each client.
        sub = hashlib.sha256(f"{grant['client_id']}|{grant['nrn']}".encode()).hexdigest()[:36]
        claims = {
            "iss": config.issuer,
            "sub": sub,
            "aud": grant["client_id"],
            "iat": now,
            "exp": now + config.id_token_ttl,
            "nonce": grant["nonce"],
            "acr": ACR_VALUES[grant["level"]],
            "given_name": grant["given_name"],
            "family_name": grant["family_name"],
            "name": f"{grant['given_name']} {grant['family_name']}",
            "locale": grant["locale"],
        }
        if "eid" in grant["scope"].split():
            claims[CLAIM_NRN] = grant["nrn"]
        return claims

    return bp


def _typed_person(form: Mapping[str, str]) -> tuple[SimulatedPerson | None, str]:
    nrn = nn.compact(form.get("nrn", ""))
    given, family = form.get("given_name", "").strip(), form.get("family_name", "").strip()
    locale = form.get("locale", "FR")
    if not (nrn.isdigit() and nn.is_valid(nrn)):
        return None, "Ce numéro de registre national n'est pas valide."
    if not given or not family or len(given) > 100 or len(family) > 100:
        return None, "Le prénom et le nom sont requis (100 caractères au plus)."
    if locale not in dict(pages.LANGUAGES):
        return None, "Langue inconnue."
    return SimulatedPerson("typed", nrn, given, family, locale), ""


def _person_claims(person: SimulatedPerson) -> dict[str, str]:
    return {
        "nrn": person.nrn,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "locale": person.locale,
    }


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
