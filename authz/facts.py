"""The facts a decision reads, for one (person, enterprise) pair.

The policy never sees tables: it sees these small immutable objects, which
``authz.mandates.load_pair`` builds from indexed queries on the pair at hand (person by NRN,
enterprise by BCE number, grants / designation / representation by (person, enterprise)), so
the cost of a decision does not grow with the number of grants in the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

SERVICE_DOMAIN_RE = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


@dataclass(frozen=True)
class Grant:
    """A role grant not revoked (it may still be past its end date: the policy decides)."""

    id: int
    enterprise: str
    role: str
    scope: list[str]
    valid_until: date | None


@dataclass(frozen=True)
class Designation:
    """The GAP designation in force."""

    id: int
    enterprise: str


@dataclass(frozen=True)
class Representation:
    """A legal representation from the BCE registry, not ended."""

    id: int
    enterprise: str
    capacity: str


@dataclass(frozen=True)
class PersonFacts:
    """The actor as the policy sees it (registered in Polar as ``Person``)."""

    nrn: str
    grants: list[Grant] = field(default_factory=list)
    designations: list[Designation] = field(default_factory=list)
    representations: list[Representation] = field(default_factory=list)

    def only(self, fact: Grant | Designation | Representation) -> PersonFacts:
        """The same person holding just one fact: used to explain which fact decides."""
        return PersonFacts(
            self.nrn,
            grants=[fact] if isinstance(fact, Grant) else [],
            designations=[fact] if isinstance(fact, Designation) else [],
            representations=[fact] if isinstance(fact, Representation) else [],
        )


@dataclass(frozen=True)
class EnterpriseFacts:
    """The resource as the policy sees it (registered in Polar as ``Enterprise``)."""

    bce: str
    name: str
    active: bool
    today: date
    service_domain: str | None = None
    epoch: int = 0
    # The mandates this enterprise gave to intermediaries (firms), accepted and not ended,
    # each with the firm as the policy sees it; only on the enterprise asked about, never on
    # the firms themselves (one level of intermediary).
    mandates: list[ClientMandate] = field(default_factory=list)

    @property
    def firm_epochs(self) -> tuple[tuple[str, int], ...]:
        """(BCE number, epoch) of each firm holding a mandate from this enterprise: a cached
        decision about this enterprise holds only while these have not moved either."""
        return tuple((m.firm.bce, m.firm.epoch) for m in self.mandates)


@dataclass(frozen=True)
class ClientMandate:
    """A mandate an enterprise (the client) gave an intermediary (the firm), accepted and not
    ended (registered in Polar as ``ClientMandate``). Its dates are the policy's to judge, as
    a grant's end date is: ``valid_from`` its first day, ``valid_until`` its last (None: no
    end)."""

    id: int
    client: str
    firm: EnterpriseFacts
    domains: list[str]
    valid_from: date
    valid_until: date | None


@dataclass(frozen=True)
class GrantTerms:
    """A grant someone is about to give (registered in Polar as ``Terms``).

    ``recipient`` is the NRN of the person receiving it, None while unknown (an invitation not
    bound to an NRN); ``changes_own`` marks the change of the recipient's own grant by
    themself.
    """

    role: str
    scope: list[str]
    valid_until: date | None
    recipient: str | None
    changes_own: bool = False

    @classmethod
    def of(
        cls,
        role: str,
        scope: str,
        valid_until: date | None,
        recipient: str | None,
        changes_own: bool = False,
    ) -> GrantTerms:
        """Terms from stored values (``scope`` space-separated, as in the tables)."""
        return cls(role, scope.split() if scope else [], valid_until, recipient, changes_own)


@dataclass(frozen=True)
class Offer:
    """An invitation or a role request, as the policy sees it when someone decides on it
    (registered in Polar as ``Offer``): ``made_by`` is the NRN of the person who sent the
    invitation or asked for the role."""

    kind: str  # invitation | request
    id: int
    made_by: str


@dataclass(frozen=True)
class Question:
    """One of many ``allow`` questions asked at once (``PolicyEngine.allowed_each``): its
    position ``n`` in the batch, and the question itself."""

    n: int
    person: PersonFacts
    action: str
    enterprise: EnterpriseFacts
