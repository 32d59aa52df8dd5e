"""The one writer of persons: a person is recorded by national register number (NRN), created
when first seen and brought up to date with what a source says of them, each creation and
each change audited (``person.create``, ``person.update`` with the fields changed).

The sources: a login (the upstream's identity, ``idp_bridge.sessions``), a mandate service
naming someone never seen (a GAP designated or a role granted by NRN), the BCE registry import
(its representatives, a batch at a time) and the demo seed. What a source does not say (a
field left ``None``) is kept as it is; no other module writes Person rows.

Every change to a recorded person announces itself at commit (:func:`authz.epochs.revoked`):
the processes that keep persons' claims (the OpenID provider's introspection and userinfo,
:mod:`authz.kept`) drop what they keep. A creation needs no announcement: an absence is never
kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from peewee import IntegrityError

from authz import audit, db, epochs
from authz.languages import LANGUAGES
from authz.models import Person
from authz.tables import RowByKey, utcnow

_FIELDS = ("given_name", "family_name", "email", "language")


@dataclass(frozen=True)
class PersonData:
    """What a source says of a person: ``None`` says nothing (the stored value stays)."""

    nrn: str  # 11 digits, already checked
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    language: str | None = None  # one of LANGUAGES, or None

    def __post_init__(self) -> None:
        if self.language is not None and self.language not in LANGUAGES:
            raise ValueError(f"unknown language {self.language!r}")

    def said(self) -> dict[str, str]:
        """The fields this source says something about."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "nrn" and getattr(self, f.name) is not None
        }


_person_by_nrn = RowByKey(Person, Person.nrn)


def record_person(
    data: PersonData,
    *,
    actor: str,
    policy_version: str,
    update: bool = True,
    ip: str | None = None,
) -> tuple[Person, bool]:
    """The person with ``data.nrn``, created if never seen or (with ``update``) brought up to
    date with what ``data`` says; audited in the same transaction. Returns (person, created).

    A first record of the same person by another process at the same moment may win: the
    creation runs in a savepoint and the loser reads the winner's row.
    """
    wanted = data.said()
    with db.within_transaction():
        person = _person_by_nrn(data.nrn)
        if person is None:
            try:
                with db.transaction():
                    person = Person.create(nrn=data.nrn, **wanted)
            except IntegrityError:
                person = Person.get(Person.nrn == data.nrn)
            else:
                _audit(actor, "person.create", data.nrn, policy_version, ip)
                return person, True
        if update:
            changed = sorted(
                name for name, value in wanted.items() if getattr(person, name) != value
            )
            if changed:
                for name in changed:
                    setattr(person, name, wanted[name])
                person.updated_at = utcnow()
                person.save(only=[*(getattr(Person, name) for name in changed), Person.updated_at])
                epochs.revoked()
                _audit(actor, "person.update", data.nrn, policy_version, ip, fields=changed)
        return person, False


def record_persons(
    batch: Iterable[PersonData], *, actor: str, policy_version: str
) -> tuple[dict[str, Person], set[str]]:
    """Many persons at once (a registry import's batch): the new ones inserted in one
    statement, the others updated with what the batch says (the last word per NRN wins),
    every creation and change audited. Call it inside the batch's transaction.

    Returns the persons by NRN (rows with their id and NRN) and the NRNs of those changed.
    """
    wanted: dict[str, dict[str, str]] = {}
    for data in batch:
        wanted.setdefault(data.nrn, {}).update(data.said())
    nrns = sorted(wanted)
    columns = (Person.id, Person.nrn, *(getattr(Person, name) for name in _FIELDS))
    persons = {p.nrn: p for p in Person.select(*columns).where(Person.nrn.in_(nrns))}
    new = [nrn for nrn in nrns if nrn not in persons]
    events = [_event(actor, "person.create", nrn, policy_version) for nrn in new]
    if new:
        Person.insert_many([{"nrn": nrn, **wanted[nrn]} for nrn in new]).execute()
        persons.update((p.nrn, p) for p in Person.select(*columns).where(Person.nrn.in_(new)))
    changed: set[str] = set()
    for nrn in nrns:
        person = persons[nrn]
        changes = {k: v for k, v in wanted[nrn].items() if getattr(person, k) != v}
        if nrn in new or not changes:
            continue
        Person.update({**changes, "updated_at": utcnow()}).where(Person.id == person.id).execute()
        for name, value in changes.items():
            setattr(person, name, value)
        changed.add(nrn)
        events.append(_event(actor, "person.update", nrn, policy_version, fields=sorted(changes)))
    if changed:
        epochs.revoked()
    audit.record_many(events)
    return persons, changed


def _event(actor: str, action: str, nrn: str, policy_version: str, ip=None, **details) -> dict:
    return {
        "actor": actor,
        "action": action,
        "target_type": "person",
        "target_id": nrn,
        "policy_version": policy_version,
        "details": details,
        "ip": ip,
    }


def _audit(actor: str, action: str, nrn: str, policy_version: str, ip=None, **details) -> None:
    audit.record(**_event(actor, action, nrn, policy_version, ip, **details))


def find_person(nrn: str) -> Person | None:
    """The person with this NRN, if ever recorded."""
    return _person_by_nrn(nrn)
