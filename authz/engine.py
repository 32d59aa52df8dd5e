"""The policy engine: oso evaluating ``policies/*.polar`` over the facts of one pair.

One :class:`PolicyEngine` per process (:func:`get_engine`). It knows the policy version (a hash
of the loaded files, recorded with every audit event and decision log entry), answers
decisions, lists roles and permissions for claims, and explains any decision: which fact
(grant, designation, representation) and which rules made it, or why nothing did.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from datetime import date
from pathlib import Path

from oso import Oso, Variable
from polar.exceptions import OsoError

from authz import facts as F
from authz import mandates
from authz.errors import AuthzError
from authz.explanation import (
    DecisionPath,
    Explanation,
    RuleLine,
    describe,
    describe_mandate,
    why_not,
    why_not_mandate,
)
from authz.models import ROLES, today
from authz.permissions import ACT_FOR_CLIENTS, ALL_PERMISSIONS
from policies import POLICY_DIR

log = logging.getLogger(__name__)


class PolicyError(AuthzError):
    """The policy files are missing, do not parse, or disagree with the code."""

    code = "policy"


_SHORTHAND = re.compile(r'^\s*"(?P<head>\w+)"\s+if\s+"(?P<body>\w+)"\s*;')
_PERMISSIONS_BLOCK = re.compile(r"permissions\s*=\s*\[(?P<body>[^\]]*)\]", re.S)


def policy_files(policy_dir: Path = POLICY_DIR) -> list[Path]:
    files = sorted(policy_dir.glob("*.polar"))
    if not files:
        raise PolicyError(f"no policy files (*.polar) in {policy_dir}")
    return files


def file_digest(path: Path) -> str:
    """SHA-256 of one policy file, its line endings read as LF (a checkout with CRLF line
    endings is the same policy)."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def policy_manifest(files: list[Path]) -> str:
    """One line ``<sha256 of the file>  <file name>`` per file, sorted by file name (bytes of
    its UTF-8), the format of ``sha256sum``: what :func:`policy_version` hashes."""
    ordered = sorted(files, key=lambda path: path.name.encode())
    return "".join(f"{file_digest(path)}  {path.name}\n" for path in ordered)


def policy_version(files: list[Path]) -> str:
    """The policy's identity: SHA-256 of :func:`policy_manifest`, in full (64 hex digits).

    On a Linux checkout, ``cd policies && sha256sum *.polar | sha256sum`` prints the same
    value (with ``LC_ALL=C`` so that the shell sorts the names as bytes). It covers every
    ``*.polar`` file of the policy directory (names and contents) and nothing else: see
    docs/policies.md for what it does not cover.
    """
    return hashlib.sha256(policy_manifest(files).encode()).hexdigest()


class PolicyEngine:
    def __init__(self, policy_dir: Path = POLICY_DIR, constants: dict[str, object] | None = None):
        """Load ``policy_dir/*.polar``; ``constants`` are objects the policy may name (the
        coverage tracer of ``authz.policycoverage``), their classes registered too."""
        self.policy_dir = policy_dir
        self.files = policy_files(policy_dir)
        self.version = policy_version(self.files)
        self.oso = Oso()
        for cls, name in (
            (F.PersonFacts, "Person"),
            (F.EnterpriseFacts, "Enterprise"),
            (F.Grant, "Grant"),
            (F.Designation, "Designation"),
            (F.Representation, "Representation"),
            (F.GrantTerms, "Terms"),
            (F.Offer, "Offer"),
            (F.ClientMandate, "ClientMandate"),
        ):
            self.oso.register_class(cls, name=name)
        for name, value in (constants or {}).items():
            self.oso.register_class(type(value))
            self.oso.register_constant(value, name)
        try:
            self.oso.load_files([str(f) for f in self.files])
        except OsoError as exc:
            # oso's message continues with a source excerpt and a help link: keep the first line.
            first_line = str(exc).strip().splitlines()[0].rstrip(":")
            raise PolicyError(f"policy does not load: {first_line}") from None
        self._lines = [
            (path.name, number, text.strip())
            for path in self.files
            for number, text in enumerate(path.read_text().splitlines(), start=1)
        ]
        self._check_permissions_match_code()

    # -- consistency ---------------------------------------------------------------------

    def declared_permissions(self) -> set[str]:
        declared: set[str] = set()
        for path in self.files:
            text = re.sub(r"#[^\n]*", "", path.read_text())
            for block in _PERMISSIONS_BLOCK.finditer(text):
                declared.update(re.findall(r'"(\w+)"', block.group("body")))
        return declared

    def _check_permissions_match_code(self) -> None:
        declared, known = self.declared_permissions(), set(ALL_PERMISSIONS)
        if declared != known:
            raise PolicyError(
                "the policy's permissions differ from authz/permissions.py: "
                f"only in policy {sorted(declared - known)}, "
                f"only in code {sorted(known - declared)}"
            )

    # -- decisions on loaded facts -------------------------------------------------------

    def allowed(self, person: F.PersonFacts, action: str, enterprise: F.EnterpriseFacts) -> bool:
        """The policy's answer; an error while evaluating it is a deny (fail closed)."""
        try:
            return self.oso.query_rule_once("allow", person, action, enterprise)
        except OsoError:
            log.exception("policy evaluation failed: %s on %s: denied", action, enterprise.bce)
            return False

    def permissions(self, person: F.PersonFacts, enterprise: F.EnterpriseFacts) -> list[str]:
        """Every permission ``person`` has on ``enterprise``, in the policy's order."""
        return [a for a in ALL_PERMISSIONS if self.allowed(person, a, enterprise)]

    def roles(self, person: F.PersonFacts, enterprise: F.EnterpriseFacts) -> list[str]:
        """Roles held on an active enterprise, direct and implied, strongest first."""
        if not enterprise.active:
            return []
        try:
            found = {
                r["bindings"]["role"]
                for r in self.oso.query_rule("has_role", person, Variable("role"), enterprise)
            }
        except OsoError:
            log.exception("policy evaluation failed: roles on %s: none", enterprise.bce)
            return []
        return [role for role in ROLES if role in found]

    def allow_role_change(
        self, person: F.PersonFacts, action: str, role: str, enterprise: F.EnterpriseFacts
    ) -> bool:
        try:
            return self.oso.query_rule_once("allow_role_change", person, action, role, enterprise)
        except OsoError:
            log.exception(
                "policy evaluation failed: %s %s on %s: denied", action, role, enterprise.bce
            )
            return False

    def may_decide(self, person: F.PersonFacts, offer: F.Offer) -> bool:
        """Whether ``person`` may decide on ``offer`` (rule ``may_decide``): not their own."""
        return self._ask("may_decide", person, offer)

    def may_give(
        self, giver: F.PersonFacts, terms: F.GrantTerms, enterprise: F.EnterpriseFacts
    ) -> bool:
        """Whether ``giver`` may give a grant on these terms (rule ``may_give``)."""
        return self._ask("may_give", giver, terms, enterprise)

    def why_not_give(
        self, giver: F.PersonFacts, terms: F.GrantTerms, enterprise: F.EnterpriseFacts
    ) -> str | None:
        """Which part of ``may_give`` refuses, None if none does: ``role`` (a role the giver
        does not hold or may not grant), ``oneself`` (a grant to the giver), ``bound``
        (beyond the giver's own grant). Each is the policy's own rule, asked alone."""
        if not self._ask("allow_role_change", giver, "grant_role", terms.role, enterprise):
            return "role"
        if not self._ask("not_to_oneself", giver, terms, enterprise):
            return "oneself"
        if not self._ask("within_own_grant", giver, terms, enterprise):
            return "bound"
        return None

    # -- many rows at once ---------------------------------------------------------------

    def allowed_each(self, questions: list[F.Question]) -> set[int]:
        """The positions (``Question.n``) of the questions the policy allows, asked as one
        query: a page of rows is one question to the policy, not one a row. An error while
        evaluating it denies them all (fail closed)."""
        if not questions:
            return set()
        try:
            results = self.oso.query(
                "q in questions and allow(q.person, q.action, q.enterprise)",
                bindings={"questions": questions},
            )
            return {result["bindings"]["q"].n for result in results}
        except OsoError:
            log.exception("policy evaluation failed: %d questions: denied", len(questions))
            return set()

    def decidable(self, person: F.PersonFacts, offers: list[F.Offer]) -> set[int]:
        """The ids of the offers ``person`` may decide (rule ``may_decide``), asked as one
        query; an error denies them all."""
        if not offers:
            return set()
        try:
            results = self.oso.query(
                "offer in offers and may_decide(person, offer)",
                bindings={"offers": offers, "person": person},
            )
            return {result["bindings"]["offer"].id for result in results}
        except OsoError:
            log.exception("policy evaluation failed: may_decide on %d offers: denied", len(offers))
            return set()

    def _ask(self, rule: str, *args) -> bool:
        try:
            return self.oso.query_rule_once(rule, *args)
        except OsoError:
            log.exception("policy evaluation failed: %s: denied", rule)
            return False

    # -- decisions by identifiers --------------------------------------------------------

    def decide(
        self,
        nrn: str,
        action: str,
        bce: str,
        service_domain: str | None = None,
        on: date | None = None,
    ) -> bool:
        """May person ``nrn`` do ``action`` for enterprise ``bce``? (unknown -> no)."""
        pair = mandates.load_pair(nrn, bce, on or today(), service_domain)
        return pair is not None and self.allowed(pair[0], action, pair[1])

    # -- explanations --------------------------------------------------------------------

    def explain(
        self,
        nrn: str,
        action: str,
        bce: str,
        service_domain: str | None = None,
        on: date | None = None,
    ) -> Explanation:
        on = on or today()
        result = Explanation(False, action, nrn, bce, service_domain, on, self.version)
        if action not in ALL_PERMISSIONS:
            result.add_reason(f"{action!r} is not a permission of the policy")
            return result
        pair = mandates.load_pair(nrn, bce, on, service_domain)
        if pair is None:
            result.add_reason(f"no enterprise with BCE number {bce} is known")
            return result
        person, enterprise = pair
        result.allowed = self.allowed(person, action, enterprise)
        if not enterprise.active:
            result.add_reason("the enterprise is stopped: it gives no rights to anyone")
        # The person's facts in the intermediaries are explained with their mandates, below.
        candidates: list[F.Grant | F.Designation | F.Representation] = [
            *(d for d in person.designations if d.enterprise == bce),
            *sorted(
                (g for g in person.grants if g.enterprise == bce),
                key=lambda g: ROLES.index(g.role) if g.role in ROLES else 99,
            ),
            *person.representations,
        ]
        for fact in candidates:
            scope = fact.scope if isinstance(fact, F.Grant) else []
            result.add_fact(describe(fact), scope)
            if self.allowed(person.only(fact), action, enterprise):
                result.paths.append(self._path(fact, action))
            elif enterprise.active:
                result.add_reason(why_not(fact, action, enterprise), scope)
        for line, scope in mandates.ended_facts_description(nrn, bce):
            result.add_fact(line, scope)
        through_firms = self._explain_mandates(person, action, enterprise, result)
        not_in_force = mandates.unstanding_mandates_description(nrn, bce)
        for line, scope in not_in_force:
            result.add_fact(line, scope)
        if not candidates and not through_firms and not_in_force:
            result.add_reason(
                "the enterprise gave the person's firm no mandate that is accepted and not "
                "ended, and the person holds no role on the enterprise itself",
                sorted({domain for _line, scope in not_in_force for domain in scope}),
            )
        elif not candidates and not through_firms:
            result.add_reason(
                "the person holds no role, GAP designation or legal representation "
                "in force on this enterprise"
            )
        return result

    def _explain_mandates(
        self,
        person: F.PersonFacts,
        action: str,
        client: F.EnterpriseFacts,
        result: Explanation,
    ) -> bool:
        """Explain each mandate the client gave a firm where the person holds a fact: the
        chain person -> role in the firm -> mandate -> service domain, as a path when it
        gives ``action``, else the link that breaks. True if there was any such chain."""
        found = False
        for mandate in client.mandates:
            in_firm = [
                fact
                for fact in (*person.designations, *person.grants)
                if fact.enterprise == mandate.firm.bce
            ]
            if not in_firm:
                continue
            found = True
            result.add_fact(describe_mandate(mandate), mandate.domains)
            alone = dataclasses.replace(client, mandates=[mandate])
            for fact in in_firm:
                scope = fact.scope if isinstance(fact, F.Grant) else []
                result.add_fact(f"{describe(fact)}, in the firm {mandate.firm.bce}", scope)
                if self.allowed(person.only(fact), action, alone):
                    result.paths.append(self._mandate_path(person, fact, mandate, client))
                elif client.active:
                    reason = why_not_mandate(
                        mandate,
                        fact,
                        action,
                        client,
                        self.allowed(person.only(fact), ACT_FOR_CLIENTS, mandate.firm),
                    )
                    result.add_reason(reason, mandate.domains)
        return found

    def _mandate_path(
        self, person: F.PersonFacts, fact, mandate: F.ClientMandate, client: F.EnterpriseFacts
    ) -> DecisionPath:
        role = "gap" if isinstance(fact, F.Designation) else fact.role
        kind = "designation" if role == "gap" else "grant"
        rules = [
            *self._chain(role, ACT_FOR_CLIENTS),
            *(
                RuleLine(name, number, text)
                for name, number, text in self._lines
                if text.startswith("mandate_source(person: Person")
                or text.startswith("has_permission(person: Person, action: String, client")
            ),
        ]
        until = mandate.valid_until.isoformat() if mandate.valid_until else "no end date"
        chain = (
            f"person {person.nrn}",
            f"{role} in {mandate.firm.bce} {mandate.firm.name} ({kind}#{fact.id})",
            f"mandate#{mandate.id} from {client.bce} {client.name} "
            f"({mandate.valid_from.isoformat()} to {until})",
            f"{client.service_domain}",
        )
        return DecisionPath(
            "mandate", mandate.id, role, tuple(rules), tuple(mandate.domains), chain
        )

    def _path(self, fact, action: str) -> DecisionPath:
        if isinstance(fact, F.Representation):
            return DecisionPath("representation", fact.id, None, tuple(self._rules_naming(action)))
        role = "gap" if isinstance(fact, F.Designation) else fact.role
        kind = "designation" if role == "gap" else "grant"
        scope = tuple(fact.scope) if isinstance(fact, F.Grant) else ()
        return DecisionPath(kind, fact.id, role, tuple(self._chain(role, action)), scope)

    def _chain(self, role: str, action: str) -> list[RuleLine]:
        """The shorthand rules leading from ``role`` to ``action`` (breadth-first)."""
        edges: dict[str, list[tuple[str, RuleLine]]] = {}
        for name, number, text in self._lines:
            if m := _SHORTHAND.match(text):
                edges.setdefault(m["body"], []).append((m["head"], RuleLine(name, number, text)))
        frontier: list[tuple[str, list[RuleLine]]] = [(role, [])]
        seen = {role}
        while frontier:
            node, path = frontier.pop(0)
            for head, rule in edges.get(node, []):
                if head == action:
                    return [*path, rule]
                if head not in seen:
                    seen.add(head)
                    frontier.append((head, [*path, rule]))
        return []

    def _rules_naming(self, action: str) -> list[RuleLine]:
        return [
            RuleLine(name, number, text)
            for name, number, text in self._lines
            if f'"{action}"' in text and "has_permission(" in text
        ]


_engine: PolicyEngine | None = None


def get_engine() -> PolicyEngine:
    """The process-wide engine, loaded on first use."""
    global _engine
    if _engine is None:
        _engine = PolicyEngine()
    return _engine


def set_engine(engine: PolicyEngine | None) -> None:
    """Replace the process-wide engine (tests, policy reload)."""
    global _engine
    _engine = engine
