"""What the mandate services publish (authz.events), in their transaction, and only on success."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authz import events
from authz.errors import Forbidden
from authz.events import Contact, EnterpriseRef
from authz.models import Person, RoleRequest, utcnow
from authz.services import (
    accept_invitation,
    accept_request,
    designate_gap,
    expire_requests,
    invite,
    invite_gap,
    refuse_request,
    request_role,
    withdraw_request,
)
from tests.authz.services import as_, reload


@pytest.fixture
def heard(world) -> list[events.Event]:
    """Every event published from now on (the world's own set-up excluded)."""
    published: list[events.Event] = []
    events.subscribe(events.Event, published.append)
    return published


def with_email(person: Person, email: str, language: str = "fr") -> Person:
    Person.update(email=email, language=language).where(Person.id == person.id).execute()
    return reload(person)


def test_a_request_its_decisions_and_its_withdrawal_name_who_to_tell(world, heard):
    nora = with_email(world.stranger, "nora@example.test", "nl")
    gap = with_email(world.acme_gap, "marc@example.test", "de")
    acme = EnterpriseRef(world.acme.bce, "Acme Demo SA")
    nora_contact = Contact("Nora Benali", "nora@example.test", "nl")
    gap_contact = Contact("Marc Lambert", "marc@example.test", "de")

    made = request_role(as_(nora), world.acme.bce, "owner", "  Je reprends la compta ")
    withdraw_request(as_(nora), made.id)
    again = request_role(as_(nora), world.acme.bce, "owner")
    accept_request(as_(gap), again.id, role="reader")
    assert heard == [
        events.RoleRequested(
            acme,
            request_id=made.id,
            requester=nora_contact,
            role="owner",
            message="Je reprends la compta",
            gap=gap_contact,
        ),
        events.RequestWithdrawn(
            acme, request_id=made.id, requester=nora_contact, role="owner", gap=gap_contact
        ),
        events.RoleRequested(
            acme,
            request_id=again.id,
            requester=nora_contact,
            role="owner",
            message="",
            gap=gap_contact,
        ),
        events.RequestAccepted(
            acme, request_id=again.id, requester=nora_contact, requested_role="owner", role="reader"
        ),
    ]


def test_a_refusal_carries_its_reason(world, heard):
    made = request_role(as_(world.stranger), world.globex.bce, "agent")
    refuse_request(as_(world.globex_gap), made.id, "Inconnue chez nous")
    refused = heard[-1]
    assert isinstance(refused, events.RequestRefused)
    assert (refused.request_id, refused.role, refused.reason) == (
        made.id,
        "agent",
        "Inconnue chez nous",
    )
    assert refused.requester == Contact("Nora Benali", language="fr")  # no address: nobody to email


def test_expiry_tells_of_each_request_it_expires_and_of_no_other(world, heard):
    overdue = request_role(as_(world.stranger), world.acme.bce, "agent")
    recent = request_role(as_(world.stranger), world.globex.bce, "agent")
    RoleRequest.update(expires_at=utcnow() - timedelta(minutes=1)).where(
        RoleRequest.id == overdue.id
    ).execute()
    heard.clear()
    assert expire_requests() == 1
    (event,) = heard
    assert isinstance(event, events.RequestExpired)
    assert (event.request_id, event.role, event.enterprise.bce) == (
        overdue.id,
        "agent",
        world.acme.bce,
    )
    assert reload(recent).status == "pending"
    heard.clear()
    assert expire_requests() == 0 and heard == []


def test_invitations_carry_their_link_token_and_the_bound_persons_language(world, heard):
    with_email(world.stranger, "nora@example.test", "en")
    invitation, token = invite(
        as_(world.acme_gap),
        world.acme.bce,
        "nora@example.test",
        "agent",
        nrn=world.stranger.nrn,
        message="Bienvenue",
    )
    gap_invitation, gap_token = invite_gap(as_(world.asbl_rep), world.asbl.bce, "x@example.test")
    sent, gap_sent = heard
    assert isinstance(sent, events.InvitationSent)
    assert (sent.invitation_id, sent.token, sent.role, sent.language, sent.message) == (
        invitation.id,
        token,
        "agent",
        "en",
        "Bienvenue",
    )
    assert (
        sent.inviter == Contact("Marc Lambert", language="fr")
        and sent.expires_at == invitation.expires_at
    )
    assert (gap_sent.invitation_id, gap_sent.token, gap_sent.role, gap_sent.language) == (
        gap_invitation.id,
        gap_token,
        "gap",
        None,
    )


def test_a_gap_replaced_names_the_former_one(world, heard):
    designation = designate_gap(as_(world.acme_rep), world.acme.bce, world.acme_owner.nrn)
    (designated,) = heard
    assert designated == events.GapDesignated(
        EnterpriseRef(world.acme.bce, "Acme Demo SA"),
        designation_id=designation.id,
        gap=Contact("Paul Dubois", language="fr"),
        designated_by=Contact("Anne Delvaux", language="fr"),
        previous=Contact("Marc Lambert", language="fr"),
        invitation_id=None,
    )
    heard.clear()
    invitation, token = invite_gap(as_(world.asbl_rep), world.asbl.bce, "x@example.test")
    heard.clear()
    accept_invitation(as_(world.stranger), token)
    (first,) = heard
    assert first.previous is None and first.invitation_id == invitation.id
    assert first.gap == Contact("Nora Benali", language="fr") and first.designated_by == Contact(
        "Yves Simon", language="fr"
    )


def test_a_refused_action_publishes_nothing(world, heard, refused):
    with refused(Forbidden):
        designate_gap(as_(world.stranger), world.acme.bce, world.stranger.nrn)
    assert heard == []


def test_a_failing_subscriber_undoes_the_action(world, refused):
    class MailDown(Exception):
        pass

    def fail(event):
        raise MailDown

    events.subscribe(events.RoleRequested, fail)
    with refused(MailDown):
        request_role(as_(world.stranger), world.acme.bce, "agent")


def test_muted_actions_tell_nobody(world, heard):
    with events.muted():
        request_role(as_(world.stranger), world.acme.bce, "agent")
    assert heard == []
