"""Emails telling people what the mandate services did.

The services publish domain events (``authz.events``) in their transaction; the handlers here
turn them into outbox rows (``admin_ui.mail.enqueue``) in that same transaction, so an action
and its emails commit together, whether a page, the command line (``monespace requests
expire``) or a worker did it. Pages send no email themselves.

Who hears of what:

- a role request: its enterprise's GAP; its acceptance, refusal or expiry: the requester;
  its withdrawal: the GAP who would have decided it;
- an invitation (a role, or the post of GAP): the invited address, in the bound person's
  language when known;
- a GAP designated by national register number: the new GAP; any GAP replaced, whether by
  designation or by an accepted GAP invitation: the former GAP;
- each step of a mandate between enterprises (proposed, accepted, refused, ended or
  withdrawn): the GAPs of the client and of the firm.

A person without a known address gets no email and sees the news on their pages.

:func:`register` subscribes the handlers, once per process (the app factory and the command
line both call it through ``monespace.bootstrap``); links in the emails start with the
configured ``base_url``.
"""

from __future__ import annotations

from babel.dates import format_datetime

from admin_ui import mail
from authz import events
from authz.events import Contact, EnterpriseRef
from authz.identifiers import format_bce
from monespace.i18n import DEFAULT, LANGUAGES, translations

# Paths of the pages the emails link to (admin_ui.enterprises, admin_ui.invitations).
ENTERPRISES_PATH = "/entreprises"
ADD_ENTERPRISE_PATH = "/entreprises/ajouter"
ACCEPT_PATH = "/invitation/"


class Notifier:
    """The handlers of one configuration (its ``base_url``), subscribed by :func:`register`."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    def handlers(self) -> list[tuple[type[events.Event], events.Handler]]:
        return [
            (events.RoleRequested, self.role_requested),
            (events.RequestAccepted, self.request_accepted),
            (events.RequestRefused, self.request_refused),
            (events.RequestWithdrawn, self.request_withdrawn),
            (events.RequestExpired, self.request_expired),
            (events.InvitationSent, self.invitation_sent),
            (events.GapDesignated, self.gap_designated),
            (events.MandateProposed, self.mandate_step),
            (events.MandateAccepted, self.mandate_step),
            (events.MandateRefused, self.mandate_step),
            (events.MandateEnded, self.mandate_step),
        ]

    def link(self, path: str) -> str:
        return self.base_url + path

    def role_requested(self, event: events.RoleRequested) -> None:
        _tell(
            event.gap,
            "role_request_received",
            requester=_name(event.requester, event.gap),
            **_about(event.enterprise),
            role=event.role,
            link=self.link(ENTERPRISES_PATH),
            message=event.message or None,
        )

    def request_accepted(self, event: events.RequestAccepted) -> None:
        _tell(
            event.requester,
            "request_accepted",
            **_about(event.enterprise),
            role=event.role,
            link=self.link(ENTERPRISES_PATH),
        )

    def request_refused(self, event: events.RequestRefused) -> None:
        _tell(
            event.requester,
            "request_refused",
            **_about(event.enterprise),
            role=event.role,
            reason=event.reason or None,
        )

    def request_withdrawn(self, event: events.RequestWithdrawn) -> None:
        _tell(
            event.gap,
            "request_withdrawn",
            requester=_name(event.requester, event.gap),
            **_about(event.enterprise),
            role=event.role,
        )

    def request_expired(self, event: events.RequestExpired) -> None:
        _tell(
            event.requester,
            "request_expired",
            **_about(event.enterprise),
            role=event.role,
            link=self.link(ADD_ENTERPRISE_PATH),
        )

    def invitation_sent(self, event: events.InvitationSent) -> None:
        language = event.language if event.language in LANGUAGES else DEFAULT
        reader = Contact(name="", email=event.email, language=language)
        values = {
            "inviter": _name(event.inviter, reader),
            **_about(event.enterprise),
            "link": self.link(ACCEPT_PATH + event.token),
            "expires": format_datetime(event.expires_at, "d MMMM y, HH:mm 'UTC'", locale=language),
        }
        if event.role == "gap":
            mail.enqueue("gap_invitation", event.email, language, **values)
        else:
            mail.enqueue(
                "invitation",
                event.email,
                language,
                role=event.role,
                message=event.message or None,
                **values,
            )

    def gap_designated(self, event: events.GapDesignated) -> None:
        about = _about(event.enterprise)
        # Whoever accepted a GAP invitation knows it already; someone designated by number
        # learns it here (or at their first login, without a known address).
        if event.invitation_id is None:
            _tell(
                event.gap,
                "gap_designated",
                **about,
                link=self.link(ENTERPRISES_PATH),
                designated_by=_name(event.designated_by, event.gap),
            )
        if event.previous is not None:
            _tell(
                event.previous,
                "gap_replaced",
                **about,
                new_gap=_name(event.gap, event.previous),
                changed_by=_name(event.designated_by, event.previous),
            )

    def mandate_step(self, event: events.MandateEvent) -> None:
        """Each step of a mandate between enterprises: the GAPs of both sides, each in their
        language (once, when one person is the GAP of both)."""
        kind = {
            events.MandateProposed: "mandate_proposed",
            events.MandateAccepted: "mandate_accepted",
            events.MandateRefused: "mandate_refused",
            events.MandateEnded: "mandate_ended",
        }[type(event)]
        extra = {
            name: getattr(event, name) for name in ("message", "reason") if getattr(event, name, "")
        }
        if kind in ("mandate_proposed", "mandate_accepted"):
            extra["since"] = event.valid_from.isoformat()
        told: set[str] = set()
        for reader in (event.client_gap, event.firm_gap):
            if reader is None or not reader.email or reader.email in told:
                continue
            told.add(reader.email)
            _tell(
                reader,
                kind,
                by=_name(event.by, reader),
                **_about(event.enterprise),
                firm=event.firm.name,
                firm_bce=format_bce(event.firm.bce),
                domains=", ".join(event.domains),
                link=self.link(ENTERPRISES_PATH),
                **extra,
            )


def _about(enterprise: EnterpriseRef) -> dict[str, str]:
    """The enterprise as every email names it: its name and its formatted BCE number."""
    return {"enterprise": enterprise.name, "bce": format_bce(enterprise.bce)}


def _tell(contact: Contact | None, kind: str, **values: object) -> None:
    if contact is None or not contact.email:
        return
    mail.enqueue(kind, contact.email, contact.language, **values)


def _name(person: Contact, reader: Contact | None) -> str:
    """A person's name for the reader of an email, in the reader's language when unnamed."""
    language = reader.language if reader is not None else None
    return person.name or translations(language).gettext("une personne sans nom connu")


def register(base_url: str) -> Notifier:
    """Subscribe the notifications, replacing any registered before in this process (so that
    creating a second app, or running a command, never sends an email twice)."""
    unregister()
    notifier = Notifier(base_url)
    for event_type, handler in notifier.handlers():
        events.subscribe(event_type, handler)
    return notifier


def unregister() -> None:
    """Unsubscribe every notifier's handlers: those of the last :func:`register`, and any other
    still subscribed (subscriptions put back by ``events.restore``)."""
    for event_type, handlers in events.subscriptions().items():
        for handler in handlers:
            if isinstance(getattr(handler, "__self__", None), Notifier):
                events.unsubscribe(event_type, handler)
