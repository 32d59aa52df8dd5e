"""The texts of the emails, in French, Dutch, German and English.

A table rather than the gettext catalogs: emails are written outside any request (a command,
a worker), in the language of the person who receives them, not of the page being served.
Each kind lists the values it needs; ``{extra}`` in a body is where the optional paragraphs
(``OPTIONAL``) go, when their value is given.
"""

from __future__ import annotations

# kind -> (required values, optional values)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "role_request_received": (("requester", "enterprise", "bce", "role", "link"), ("message",)),
    "request_accepted": (("enterprise", "bce", "role", "link"), ()),
    "request_refused": (("enterprise", "bce", "role"), ("reason",)),
    "invitation": (("inviter", "enterprise", "bce", "role", "link", "expires"), ("message",)),
    "gap_designated": (("enterprise", "bce", "link"), ("designated_by",)),
    "gap_invitation": (("inviter", "enterprise", "bce", "link", "expires"), ()),
}

ROLES: dict[str, dict[str, str]] = {
    "fr": {
        "agent": "collaborateur",
        "reader": "lecteur",
        "owner": "propriétaire",
        "access_manager": "gestionnaire d'accès",
    },
    "nl": {
        "agent": "medewerker",
        "reader": "lezer",
        "owner": "eigenaar",
        "access_manager": "toegangsbeheerder",
    },
    "de": {
        "agent": "Mitarbeiter",
        "reader": "Leser",
        "owner": "Eigentümer",
        "access_manager": "Zugangsverwalter",
    },
    "en": {
        "agent": "agent",
        "reader": "reader",
        "owner": "owner",
        "access_manager": "access manager",
    },
}

SIGNATURE = {
    "fr": "Mon Espace\n(Ce message a été envoyé automatiquement ; merci de ne pas y répondre.)",
    "nl": "Mon Espace\n(Dit bericht werd automatisch verzonden; gelieve er niet op te antwoorden.)",
    "de": "Mon Espace\n(Diese Nachricht wurde automatisch versendet; bitte antworten Sie nicht.)",
    "en": "Mon Espace\n(This message was sent automatically; please do not reply to it.)",
}

GREETING = {"fr": "Bonjour,", "nl": "Goedendag,", "de": "Guten Tag,", "en": "Hello,"}

OPTIONAL: dict[str, dict[str, str]] = {
    "message": {
        "fr": "Son message :\n{message}",
        "nl": "Het bericht:\n{message}",
        "de": "Die Nachricht:\n{message}",
        "en": "The message:\n{message}",
    },
    "reason": {
        "fr": "Motif : {reason}",
        "nl": "Reden: {reason}",
        "de": "Begründung: {reason}",
        "en": "Reason: {reason}",
    },
    "designated_by": {
        "fr": "Vous avez été désigné par {designated_by}.",
        "nl": "U werd aangeduid door {designated_by}.",
        "de": "Sie wurden von {designated_by} benannt.",
        "en": "You were designated by {designated_by}.",
    },
}

# kind -> language -> (subject, body)
TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "role_request_received": {
        "fr": (
            "Demande de rôle pour {enterprise}",
            "{requester} demande le rôle de {role} pour {enterprise} ({bce}).\n\n{extra}"
            "En tant que gestionnaire d'accès, vous pouvez accepter ou refuser cette demande :\n"
            "{link}",
        ),
        "nl": (
            "Rolaanvraag voor {enterprise}",
            "{requester} vraagt de rol van {role} voor {enterprise} ({bce}).\n\n{extra}"
            "Als toegangsbeheerder kunt u deze aanvraag aanvaarden of weigeren:\n{link}",
        ),
        "de": (
            "Rollenantrag für {enterprise}",
            "{requester} beantragt die Rolle {role} für {enterprise} ({bce}).\n\n{extra}"
            "Als Zugangsverwalter können Sie diesen Antrag annehmen oder ablehnen:\n{link}",
        ),
        "en": (
            "Role request for {enterprise}",
            "{requester} asks for the role of {role} for {enterprise} ({bce}).\n\n{extra}"
            "As the access manager, you can accept or refuse this request:\n{link}",
        ),
    },
    "request_accepted": {
        "fr": (
            "Votre demande pour {enterprise} a été acceptée",
            "Votre demande du rôle de {role} pour {enterprise} ({bce}) a été acceptée.\n\n"
            "Vous pouvez désormais agir pour l'entreprise :\n{link}",
        ),
        "nl": (
            "Uw aanvraag voor {enterprise} werd aanvaard",
            "Uw aanvraag voor de rol van {role} voor {enterprise} ({bce}) werd aanvaard.\n\n"
            "U kunt voortaan optreden voor de onderneming:\n{link}",
        ),
        "de": (
            "Ihr Antrag für {enterprise} wurde angenommen",
            "Ihr Antrag für die Rolle {role} für {enterprise} ({bce}) wurde angenommen.\n\n"
            "Sie können ab jetzt für das Unternehmen handeln:\n{link}",
        ),
        "en": (
            "Your request for {enterprise} was accepted",
            "Your request for the role of {role} for {enterprise} ({bce}) was accepted.\n\n"
            "You can now act for the enterprise:\n{link}",
        ),
    },
    "request_refused": {
        "fr": (
            "Votre demande pour {enterprise} a été refusée",
            "Votre demande du rôle de {role} pour {enterprise} ({bce}) a été refusée par "
            "son gestionnaire d'accès.\n\n{extra}"
            "Pour toute question, adressez-vous à l'entreprise.",
        ),
        "nl": (
            "Uw aanvraag voor {enterprise} werd geweigerd",
            "Uw aanvraag voor de rol van {role} voor {enterprise} ({bce}) werd geweigerd door "
            "de toegangsbeheerder.\n\n{extra}"
            "Met vragen kunt u terecht bij de onderneming.",
        ),
        "de": (
            "Ihr Antrag für {enterprise} wurde abgelehnt",
            "Ihr Antrag für die Rolle {role} für {enterprise} ({bce}) wurde vom "
            "Zugangsverwalter abgelehnt.\n\n{extra}"
            "Bei Fragen wenden Sie sich bitte an das Unternehmen.",
        ),
        "en": (
            "Your request for {enterprise} was refused",
            "Your request for the role of {role} for {enterprise} ({bce}) was refused by its "
            "access manager.\n\n{extra}"
            "For any question, please contact the enterprise.",
        ),
    },
    "invitation": {
        "fr": (
            "Invitation à agir pour {enterprise}",
            "{inviter} vous invite à agir pour {enterprise} ({bce}) avec le rôle de {role}."
            "\n\n{extra}"
            "Pour accepter, ouvrez ce lien et connectez-vous (il ne peut servir qu'une fois, "
            "jusqu'au {expires}) :\n{link}\n\n"
            "Si vous ne vous attendiez pas à cette invitation, ignorez ce message.",
        ),
        "nl": (
            "Uitnodiging om op te treden voor {enterprise}",
            "{inviter} nodigt u uit om op te treden voor {enterprise} ({bce}) met de rol van "
            "{role}.\n\n{extra}"
            "Open deze link en meld u aan om te aanvaarden (hij werkt slechts één keer, tot "
            "{expires}):\n{link}\n\n"
            "Verwachtte u deze uitnodiging niet, negeer dan dit bericht.",
        ),
        "de": (
            "Einladung, für {enterprise} zu handeln",
            "{inviter} lädt Sie ein, mit der Rolle {role} für {enterprise} ({bce}) zu handeln."
            "\n\n{extra}"
            "Um anzunehmen, öffnen Sie diesen Link und melden Sie sich an (er gilt nur einmal, "
            "bis {expires}):\n{link}\n\n"
            "Falls Sie diese Einladung nicht erwartet haben, ignorieren Sie diese Nachricht.",
        ),
        "en": (
            "Invitation to act for {enterprise}",
            "{inviter} invites you to act for {enterprise} ({bce}) with the role of {role}."
            "\n\n{extra}"
            "To accept, open this link and log in (it works once only, until {expires}):\n"
            "{link}\n\n"
            "If you were not expecting this invitation, please ignore this message.",
        ),
    },
    "gap_designated": {
        "fr": (
            "Vous êtes gestionnaire d'accès de {enterprise}",
            "Vous avez été désigné gestionnaire d'accès principal (GAP) de {enterprise} ({bce})."
            "\n\n{extra}"
            "Vous recevrez les demandes de rôle des personnes qui veulent agir pour "
            "l'entreprise, et pouvez gérer leurs accès ici :\n{link}",
        ),
        "nl": (
            "U bent toegangsbeheerder van {enterprise}",
            "U werd aangewezen als hoofdtoegangsbeheerder (HTB) van {enterprise} ({bce})."
            "\n\n{extra}"
            "U ontvangt de rolaanvragen van personen die voor de onderneming willen optreden, "
            "en u kunt hun toegang hier beheren:\n{link}",
        ),
        "de": (
            "Sie sind Zugangsverwalter von {enterprise}",
            "Sie wurden zum Hauptzugangsverwalter (HZV) von {enterprise} ({bce}) benannt."
            "\n\n{extra}"
            "Sie erhalten die Rollenanfragen der Personen, die für das Unternehmen handeln "
            "möchten, und können deren Zugänge hier verwalten:\n{link}",
        ),
        "en": (
            "You are the access manager of {enterprise}",
            "You were designated principal access manager (GAP) of {enterprise} ({bce})."
            "\n\n{extra}"
            "You will receive the role requests of people who want to act for the enterprise, "
            "and can manage their access here:\n{link}",
        ),
    },
    "gap_invitation": {
        "fr": (
            "Invitation à devenir gestionnaire d'accès de {enterprise}",
            "{inviter}, représentant légal de {enterprise} ({bce}), vous invite à devenir le "
            "gestionnaire d'accès principal (GAP) de l'entreprise : vous gérerez qui peut agir "
            "pour elle dans les services publics en ligne.\n\n"
            "Pour accepter, ouvrez ce lien et connectez-vous (il ne peut servir qu'une fois, "
            "jusqu'au {expires}) :\n{link}\n\n"
            "Si vous ne vous attendiez pas à cette invitation, ignorez ce message.",
        ),
        "nl": (
            "Uitnodiging om toegangsbeheerder van {enterprise} te worden",
            "{inviter}, wettelijk vertegenwoordiger van {enterprise} ({bce}), nodigt u uit om "
            "hoofdtoegangsbeheerder (HTB) van de onderneming te worden: u beheert wie voor haar "
            "mag optreden in de online overheidsdiensten.\n\n"
            "Open deze link en meld u aan om te aanvaarden (hij werkt slechts één keer, tot "
            "{expires}):\n{link}\n\n"
            "Verwachtte u deze uitnodiging niet, negeer dan dit bericht.",
        ),
        "de": (
            "Einladung, Zugangsverwalter von {enterprise} zu werden",
            "{inviter}, gesetzlicher Vertreter von {enterprise} ({bce}), lädt Sie ein, "
            "Hauptzugangsverwalter (HZV) des Unternehmens zu werden: Sie verwalten, wer in den "
            "Online-Diensten der Behörden für das Unternehmen handeln darf.\n\n"
            "Um anzunehmen, öffnen Sie diesen Link und melden Sie sich an (er gilt nur einmal, "
            "bis {expires}):\n{link}\n\n"
            "Falls Sie diese Einladung nicht erwartet haben, ignorieren Sie diese Nachricht.",
        ),
        "en": (
            "Invitation to become the access manager of {enterprise}",
            "{inviter}, legal representative of {enterprise} ({bce}), invites you to become the "
            "principal access manager (GAP) of the enterprise: you will manage who may act for "
            "it in online government services.\n\n"
            "To accept, open this link and log in (it works once only, until {expires}):\n"
            "{link}\n\n"
            "If you were not expecting this invitation, please ignore this message.",
        ),
    },
}


def render(kind: str, language: str, values: dict[str, str]) -> tuple[str, str]:
    """Subject and body of a message; ``values`` holds every required value of the kind."""
    _required, optional = KINDS[kind]
    subject, body = TEXTS[kind][language]
    values = dict(values)
    if "role" in values:
        values["role"] = ROLES[language].get(values["role"], values["role"])
    extra = "".join(
        OPTIONAL[name][language].format(**values) + "\n\n" for name in optional if values.get(name)
    )
    text = body.format(extra=extra, **values)
    body = f"{GREETING[language]}\n\n{text}\n\n-- \n{SIGNATURE[language]}\n"
    return subject.format(**values), body
