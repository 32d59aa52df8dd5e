"""OpenID AuthZEN Authorization API 1.0: reading its messages into questions for this service.

No HTTP here (``authz.api`` is the HTTPS binding). This module checks requests against the
specification's *Information Model* (a Subject or Resource has a string ``type`` and ``id``, an
Action a string ``name``, ``properties`` and ``context`` are objects), applies the *Access
Evaluations API* defaults and ``options.evaluations_semantic``, reads and writes the opaque page
tokens of the *Search APIs*' pagination, and maps the model onto this service's vocabulary:
subjects ``{"type": "person", "id": NRN}``, resources ``{"type": "enterprise", "id": BCE}``,
actions ``{"name": permission}``.

Errors are :class:`AuthzenError`, carrying the HTTP status and a stable code. Two kinds:

- the request breaks the information model (a required key missing, a value of the wrong JSON
  type): *JSON Serialization* says this is a Bad Request, so it fails the whole request, batch
  included;
- the request is well-formed but this service refuses a value (subject or resource type, NRN,
  BCE number, action name, another service domain): in a batch, only that evaluation fails, with
  ``{"decision": false, "context": {"error": {"status": ..., "message": ...}}}``, the shape of the
  specification's example of per-evaluation errors (:func:`error_result`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from typing import Any, NamedTuple

from authz import constant_time
from authz.errors import InvalidInput
from authz.identifiers import normalize_bce, normalize_nrn
from authz.permissions import ALL_PERMISSIONS

SUBJECT_TYPE = "person"
RESOURCE_TYPE = "enterprise"
EXECUTE_ALL, DENY_ON_FIRST_DENY, PERMIT_ON_FIRST_PERMIT = (
    "execute_all",
    "deny_on_first_deny",
    "permit_on_first_permit",
)
SEMANTICS = (EXECUTE_ALL, DENY_ON_FIRST_DENY, PERMIT_ON_FIRST_PERMIT)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_EVALUATIONS = 200
_MAX_TOKEN_LENGTH = 100


class AuthzenError(Exception):
    """A request this service does not answer; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, code: str, description: str):
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


def bad_request(code: str, description: str) -> AuthzenError:
    return AuthzenError(400, code, description)


class Evaluation(NamedTuple):
    """One access evaluation request, as the information model checked it."""

    subject: dict
    action: dict
    resource: dict
    context: dict


# -- the information model ----------------------------------------------------------------


def _object(value: Any, where: str, *, required: bool = True) -> dict | None:
    if value is None:  # absent, or null (which the specification asks senders to omit)
        if required:
            raise bad_request("invalid_request", f"{where} is required")
        return None
    if not isinstance(value, dict):
        raise bad_request("invalid_request", f"{where} must be an object")
    return value


def _string(entity: dict, key: str, where: str) -> None:
    value = entity.get(key)
    if value is None:
        raise bad_request("invalid_request", f"{where}.{key} is required")
    if not isinstance(value, str):
        raise bad_request("invalid_request", f"{where}.{key} must be a string")


def entity(value: Any, where: str, *, with_id: bool = True) -> dict:
    """A Subject or Resource; searches leave out the id of the kind searched for."""
    checked = _object(value, where)
    _string(checked, "type", where)
    if with_id:
        _string(checked, "id", where)
    _object(checked.get("properties"), f"{where}.properties", required=False)
    return checked


def action(value: Any, where: str = "action") -> dict:
    checked = _object(value, where)
    _string(checked, "name", where)
    _object(checked.get("properties"), f"{where}.properties", required=False)
    return checked


def context(value: Any, where: str = "context") -> dict:
    checked = _object(value, where, required=False) or {}
    if not isinstance(checked.get("explain", False), bool):
        raise bad_request("invalid_request", f"{where}.explain must be true or false")
    domain = checked.get("service_domain")
    if domain is not None and not isinstance(domain, str):
        raise bad_request("invalid_request", f"{where}.service_domain must be a string")
    return checked


def evaluation(item: dict, where: str = "") -> Evaluation:
    return Evaluation(
        entity(item.get("subject"), f"{where}subject"),
        action(item.get("action"), f"{where}action"),
        entity(item.get("resource"), f"{where}resource"),
        context(item.get("context"), f"{where}context"),
    )


def evaluations(body: dict) -> tuple[list[Evaluation], str] | None:
    """The batch's evaluations (defaults applied) and semantic; None for a single evaluation.

    Every item is checked before any is decided, so a malformed batch fails whatever the
    decisions would have been.
    """
    items = body.get("evaluations")
    if items is None or items == []:
        return None
    if not isinstance(items, list):
        raise bad_request("invalid_request", "evaluations must be an array")
    if len(items) > MAX_EVALUATIONS:
        raise bad_request("invalid_request", f"at most {MAX_EVALUATIONS} evaluations per request")
    options = _object(body.get("options"), "options", required=False) or {}
    semantic = options.get("evaluations_semantic") or EXECUTE_ALL
    if semantic not in SEMANTICS:
        raise bad_request(
            "invalid_request", f"options.evaluations_semantic must be one of {', '.join(SEMANTICS)}"
        )
    # Top-level keys are defaults; a key given in an item replaces its default whole.
    defaults = {key: body[key] for key in Evaluation._fields if key in body}
    checked = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad_request("invalid_request", f"evaluations[{index}] must be an object")
        given = {key: value for key, value in item.items() if value is not None}
        checked.append(evaluation({**defaults, **given}, f"evaluations[{index}]."))
    return checked, semantic


def stops_after(semantic: str, decision: bool) -> bool:
    """Whether a batch run with ``semantic`` ends after an evaluation deciding ``decision``."""
    if semantic == DENY_ON_FIRST_DENY:
        return not decision
    return semantic == PERMIT_ON_FIRST_PERMIT and decision


def error_result(error: AuthzenError) -> dict:
    """A failed evaluation inside a batch: denied, with the error in its context."""
    return {
        "decision": False,
        "context": {"error": {"status": error.status, "message": error.description}},
    }


# -- this service's vocabulary -------------------------------------------------------------

# Valid identifiers are remembered (bounded): the same people and enterprises come back on
# every request, and checking a number costs more than the rest of reading the request.
_nrn = functools.lru_cache(maxsize=16_384)(normalize_nrn)
_bce = functools.lru_cache(maxsize=16_384)(normalize_bce)


def check_subject_type(subject: dict) -> None:
    if subject["type"] != SUBJECT_TYPE:
        raise bad_request("invalid_subject", f"subject type must be {SUBJECT_TYPE!r}")


def check_resource_type(resource: dict) -> None:
    if resource["type"] != RESOURCE_TYPE:
        raise bad_request("invalid_resource", f"resource type must be {RESOURCE_TYPE!r}")


def nrn_of(subject: dict) -> str:
    """The subject's national register number, normalized."""
    check_subject_type(subject)
    try:
        return _nrn(subject["id"])
    except InvalidInput as exc:
        raise bad_request("invalid_subject", exc.message) from None


def bce_of(resource: dict) -> str:
    """The resource's BCE number, normalized."""
    check_resource_type(resource)
    try:
        return _bce(resource["id"])
    except InvalidInput as exc:
        raise bad_request("invalid_resource", exc.message) from None


def permission_of(checked_action: dict) -> str:
    name = checked_action["name"]
    if name not in ALL_PERMISSIONS:
        known = ", ".join(ALL_PERMISSIONS)
        raise bad_request("invalid_action", f"unknown action {name!r}; known actions: {known}")
    return name


def service_domain(checked_context: dict, own_domain: str) -> str:
    """The caller's own service domain: questions about another one are forbidden."""
    return domain_asked(checked_context.get("service_domain"), own_domain)


def domain_asked(asked: str | None, own_domain: str) -> str:
    """:func:`service_domain`, given the context's ``service_domain`` (None when absent)."""
    if asked is not None and asked != own_domain:
        raise AuthzenError(
            403, "forbidden", f"this client may only ask about its service domain {own_domain!r}"
        )
    return own_domain


# -- pagination ---------------------------------------------------------------------------


def page(body: dict) -> tuple[str, int]:
    """(token, limit) of a search request's ``page`` object; the limit capped."""
    given = _object(body.get("page"), "page", required=False) or {}
    token = given.get("token") or ""
    if not isinstance(token, str):
        raise bad_request("invalid_request", "page.token must be a string")
    limit = given.get("limit")
    if limit is None:
        limit = DEFAULT_PAGE_SIZE
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise bad_request("invalid_request", "page.limit must be a positive integer")
    return token, min(limit, MAX_PAGE_SIZE)


class PageTokens:
    """Opaque ``next_token`` values: a cursor, signed together with the query it pages.

    The signature covers the search kind, caller, service domain, question and page size, so
    a token altered, or sent with a changed query (which the specification says a PDP SHOULD
    refuse), is refused with 400 ``invalid_page_token``.
    """

    def __init__(self, secret_key: str):
        self._key = hashlib.sha256(b"authzen page token\0" + secret_key.encode()).digest()

    def _mac(self, query: tuple, after: int) -> str:
        message = json.dumps([*query, after]).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def issue(self, query: tuple, after: int | None) -> str:
        """The token of the page after cursor ``after``; "" when there is none."""
        if after is None:
            return ""
        raw = f"{after}.{self._mac(query, after)}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def cursor(self, query: tuple, token: str) -> int:
        """The cursor a token issued for this same query carries; 0 for the first page."""
        if not token:
            return 0
        raw = ""
        if len(token) <= _MAX_TOKEN_LENGTH:
            try:
                raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            except ValueError:  # not base64, or not ASCII inside
                raw = ""
        after, _, mac = raw.partition(".")
        if not after.isdigit() or not constant_time.equal(mac, self._mac(query, int(after))):
            raise bad_request(
                "invalid_page_token",
                "page.token was not issued for this query (it was altered, or the subject, "
                "action, resource, service domain or page.limit changed)",
            )
        return int(after)
