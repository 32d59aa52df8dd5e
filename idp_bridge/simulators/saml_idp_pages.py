"""The SAML IdP simulator's pages: plain HTML, French, no script, no external asset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from idp_bridge.simulators.pages import template

_BASE = """{% block simulator %}simulateur eID{% endblock %}
{% block banner %}Simulateur de connexion eID (démonstration : aucune vraie carte n'est lue)\
{% endblock %}"""

_CHOOSE = template(
    """{% extends "picker.html" %}"""
    + _BASE
    + """
{% block intro %}
<p>Le service <strong>{{ sp }}</strong> demande une connexion avec la carte d'identité.</p>
{% endblock %}
{% block person_note %}{{ p.story }}{% endblock %}
{% block extra_fields %}
<p><label for="language">Langue</label>
<select id="language" name="language">
{% for code, label in languages %}
<option value="{{ code }}"{% if form.get('language', 'fr') == code %} selected{% endif %}>
{{- label }}</option>{% endfor %}
</select></p>
<p><label for="email">Adresse e-mail (facultative)</label>
<input id="email" name="email" type="email" maxlength="254" value="{{ form.get('email', '') }}"></p>
{% endblock %}
{% block custom_label %}Se connecter avec cette personne{% endblock %}"""
)

_POST = template(
    """{% extends "layout.html" %}"""
    + _BASE
    + """{% block content %}
<p>Connexion terminée. Cliquez sur « Continuer » pour revenir au service.</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="SAMLResponse" value="{{ response }}">
{% if relay_state %}<input type="hidden" name="RelayState" value="{{ relay_state }}">{% endif %}
<p><button type="submit">Continuer</button></p>
</form>
{% endblock %}"""
)

_INVALID = template(
    """{% extends "layout.html" %}"""
    + _BASE
    + """{% block content %}
<p>La demande de connexion n'est pas valide (signature absente ou incorrecte, service inconnu
ou message illisible). Recommencez depuis le service.</p>
{% endblock %}"""
)

_LANGUAGES = (("fr", "Français"), ("nl", "Nederlands"), ("de", "Deutsch"), ("en", "English"))


def choose_person(
    post_url: str,
    fields: Mapping[str, str],
    sp: str,
    error: str | None = None,
    form: Mapping[str, str] | None = None,
    persons: Sequence = (),
) -> str:
    return _CHOOSE.render(
        title="Connexion avec la carte d'identité",
        post_url=post_url,
        fields=fields,
        sp=sp,
        error=error,
        persons=persons,
        languages=_LANGUAGES,
        form=form or {},
    )


def post_to_sp(action: str, response: str, relay_state: str | None) -> str:
    return _POST.render(
        title="Retour au service",
        action=action,
        response=response,
        relay_state=relay_state,
    )


def invalid_request() -> str:
    return _INVALID.render(title="Demande refusée")
