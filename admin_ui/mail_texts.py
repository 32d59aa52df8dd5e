"""The texts of the emails, as gettext messages of the catalogs the pages use.

Written in French in the code, like every message, and translated in
``monespace/translations`` (one translation system: ``pybabel extract`` finds them here).
An email is written outside any request (a command, a worker) in the language of the person
who receives it, not of the page being served: :func:`render` asks
:func:`monespace.i18n.translations` for that language's catalog.

Each kind lists the values it needs; ``%(extra)s`` in a body is where the optional paragraphs
(``OPTIONAL``) go, when their value is given.
"""

from __future__ import annotations

from collections.abc import Callable

from monespace.i18n import translations

Gettext = Callable[[str], str]

MANDATE_VALUES = ("by", "enterprise", "bce", "firm", "firm_bce", "domains", "link")

# kind -> (required values, optional values)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "role_request_received": (("requester", "enterprise", "bce", "role", "link"), ("message",)),
    "request_accepted": (("enterprise", "bce", "role", "link"), ()),
    "request_refused": (("enterprise", "bce", "role"), ("reason",)),
    "request_withdrawn": (("requester", "enterprise", "bce", "role"), ()),
    "request_expired": (("enterprise", "bce", "role", "link"), ()),
    "invitation": (("inviter", "enterprise", "bce", "role", "link", "expires"), ("message",)),
    "gap_designated": (("enterprise", "bce", "link"), ("designated_by",)),
    "gap_replaced": (("enterprise", "bce", "new_gap"), ("changed_by",)),
    "gap_invitation": (("inviter", "enterprise", "bce", "link", "expires"), ()),
    # Mandates between enterprises: ``enterprise`` is the client, ``firm`` the intermediary;
    # each step is told to the GAPs of both.
    "mandate_proposed": ((*MANDATE_VALUES, "since"), ("message",)),
    "mandate_accepted": ((*MANDATE_VALUES, "since"), ()),
    "mandate_refused": (MANDATE_VALUES, ("reason",)),
    "mandate_ended": (MANDATE_VALUES, ("reason",)),
}


def _roles(_: Gettext) -> dict[str, str]:
    # Inside a sentence ("le rôle de lecteur"), hence lower case.
    return {
        "agent": _("collaborateur"),
        "client_agent": _("collaborateur clients"),
        "reader": _("lecteur"),
        "owner": _("propriétaire"),
        "access_manager": _("gestionnaire d'accès"),
    }


def _greeting(_: Gettext) -> str:
    return _("Bonjour,")


def _signature(_: Gettext) -> str:
    return _("Mon Espace\n(Ce message a été envoyé automatiquement ; merci de ne pas y répondre.)")


OPTIONAL: dict[str, Callable[[Gettext], str]] = {
    "message": lambda _: _("Son message :\n%(message)s"),
    "reason": lambda _: _("Motif : %(reason)s"),
    "designated_by": lambda _: _("Vous avez été désigné par %(designated_by)s."),
    "changed_by": lambda _: _("Ce changement a été fait par %(changed_by)s."),
}

# kind -> its (subject, body) in the language of the gettext given
TEXTS: dict[str, Callable[[Gettext], tuple[str, str]]] = {
    "mandate_proposed": lambda _: (
        _("Mandat proposé par %(enterprise)s à %(firm)s"),
        _(
            "%(by)s propose, pour %(enterprise)s (%(bce)s), un mandat à %(firm)s "
            "(%(firm_bce)s) pour les domaines %(domains)s, à partir du %(since)s.\n\n"
            "%(extra)sLe gestionnaire d'accès principal de %(firm)s peut l'accepter ou le "
            "refuser :\n%(link)s"
        ),
    ),
    "mandate_accepted": lambda _: (
        _("Mandat accepté : %(firm)s agit pour %(enterprise)s"),
        _(
            "%(by)s a accepté, pour %(firm)s (%(firm_bce)s), le mandat de %(enterprise)s "
            "(%(bce)s) pour les domaines %(domains)s, à partir du %(since)s.\n\n"
            "Les collaborateurs que %(firm)s désigne peuvent désormais agir pour "
            "%(enterprise)s dans ces domaines :\n%(link)s"
        ),
    ),
    "mandate_refused": lambda _: (
        _("Mandat refusé par %(firm)s"),
        _(
            "%(by)s a refusé, pour %(firm)s (%(firm_bce)s), le mandat de %(enterprise)s "
            "(%(bce)s) pour les domaines %(domains)s.\n\n%(extra)s%(link)s"
        ),
    ),
    "mandate_ended": lambda _: (
        _("Fin du mandat de %(enterprise)s à %(firm)s"),
        _(
            "%(by)s a mis fin au mandat de %(enterprise)s (%(bce)s) à %(firm)s "
            "(%(firm_bce)s) pour les domaines %(domains)s : %(firm)s n'agit plus pour "
            "%(enterprise)s.\n\n%(extra)s%(link)s"
        ),
    ),
    "role_request_received": lambda _: (
        _("Demande de rôle pour %(enterprise)s"),
        _(
            "%(requester)s demande le rôle de %(role)s pour %(enterprise)s (%(bce)s).\n\n"
            "%(extra)sEn tant que gestionnaire d'accès, vous pouvez accepter ou refuser cette "
            "demande :\n%(link)s"
        ),
    ),
    "request_accepted": lambda _: (
        _("Votre demande pour %(enterprise)s a été acceptée"),
        _(
            "Votre demande du rôle de %(role)s pour %(enterprise)s (%(bce)s) a été acceptée.\n\n"
            "Vous pouvez désormais agir pour l'entreprise :\n%(link)s"
        ),
    ),
    "request_refused": lambda _: (
        _("Votre demande pour %(enterprise)s a été refusée"),
        _(
            "Votre demande du rôle de %(role)s pour %(enterprise)s (%(bce)s) a été refusée par "
            "son gestionnaire d'accès.\n\n%(extra)sPour toute question, adressez-vous à "
            "l'entreprise."
        ),
    ),
    "request_withdrawn": lambda _: (
        _("Demande retirée pour %(enterprise)s"),
        _(
            "%(requester)s a retiré sa demande du rôle de %(role)s pour %(enterprise)s "
            "(%(bce)s).\n\nVous n'avez plus rien à faire pour cette demande."
        ),
    ),
    "request_expired": lambda _: (
        _("Votre demande pour %(enterprise)s a expiré"),
        _(
            "Votre demande du rôle de %(role)s pour %(enterprise)s (%(bce)s) n'a pas été "
            "traitée dans les 30 jours : elle a expiré.\n\nSi vous voulez toujours agir pour "
            "l'entreprise, vous pouvez refaire une demande :\n%(link)s"
        ),
    ),
    "invitation": lambda _: (
        _("Invitation à agir pour %(enterprise)s"),
        _(
            "%(inviter)s vous invite à agir pour %(enterprise)s (%(bce)s) avec le rôle de "
            "%(role)s.\n\n%(extra)sPour accepter, ouvrez ce lien et connectez-vous (il ne peut "
            "servir qu'une fois, jusqu'au %(expires)s) :\n%(link)s\n\n"
            "Si vous ne vous attendiez pas à cette invitation, ignorez ce message."
        ),
    ),
    "gap_designated": lambda _: (
        _("Vous êtes gestionnaire d'accès de %(enterprise)s"),
        _(
            "Vous avez été désigné gestionnaire d'accès principal (GAP) de %(enterprise)s "
            "(%(bce)s).\n\n%(extra)sVous recevrez les demandes de rôle des personnes qui "
            "veulent agir pour l'entreprise, et pouvez gérer leurs accès ici :\n%(link)s"
        ),
    ),
    "gap_replaced": lambda _: (
        _("Vous n'êtes plus gestionnaire d'accès de %(enterprise)s"),
        _(
            "Vous n'êtes plus le gestionnaire d'accès principal (GAP) de %(enterprise)s "
            "(%(bce)s) : %(new_gap)s vous remplace.\n\n%(extra)sSi ce changement vous "
            "surprend, adressez-vous à un représentant légal de l'entreprise."
        ),
    ),
    "gap_invitation": lambda _: (
        _("Invitation à devenir gestionnaire d'accès de %(enterprise)s"),
        _(
            "%(inviter)s, représentant légal de %(enterprise)s (%(bce)s), vous invite à devenir "
            "le gestionnaire d'accès principal (GAP) de l'entreprise : vous gérerez qui peut "
            "agir pour elle dans les services publics en ligne.\n\n"
            "Pour accepter, ouvrez ce lien et connectez-vous (il ne peut servir qu'une fois, "
            "jusqu'au %(expires)s) :\n%(link)s\n\n"
            "Si vous ne vous attendiez pas à cette invitation, ignorez ce message."
        ),
    ),
}


def render(kind: str, language: str, values: dict[str, str]) -> tuple[str, str]:
    """Subject and body of a message; ``values`` holds every required value of the kind."""
    _ = translations(language).gettext
    _required, optional = KINDS[kind]
    subject, body = TEXTS[kind](_)
    values = dict(values)
    if "role" in values:
        values["role"] = _roles(_).get(values["role"], values["role"])
    extra = "".join(OPTIONAL[name](_) % values + "\n\n" for name in optional if values.get(name))
    text = body % {**values, "extra": extra}
    body = f"{_greeting(_)}\n\n{text}\n\n-- \n{_signature(_)}\n"
    return subject % values, body
