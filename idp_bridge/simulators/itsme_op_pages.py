"""The itsme simulator's pages: plain HTML, French first, no script, no external asset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from idp_bridge.simulators.pages import template

_BASE = """{% block simulator %}simulateur itsme{% endblock %}
{% block banner %}Simulateur itsme (démonstration : aucun téléphone n'est sollicité)
<span lang="nl">– itsme-simulator</span> <span lang="en">– itsme simulator</span>{% endblock %}"""

_CHOOSE = template(
    """{% extends "picker.html" %}"""
    + _BASE
    + """
{% block intro %}
<p>Le service <strong>{{ client_id }}</strong> demande une confirmation itsme
(niveau {{ level_label }}). Il recevra le nom et le numéro de registre national de la
personne choisie.</p>
{% endblock %}
{% block person_note %}{{ p.nrn_display }}{% endblock %}
{% block extra_fields %}
<p><label for="locale">Langue de l'application</label>
<select id="locale" name="locale">
{% for code, label in languages %}
<option value="{{ code }}"{% if form.get('locale', 'FR') == code %} selected{% endif %}>
{{- label }}</option>{% endfor %}
</select></p>
{% endblock %}
{% block custom_label %}Confirmer avec cette personne{% endblock %}"""
)

_INVALID = template(
    """{% extends "layout.html" %}"""
    + _BASE
    + """{% block content %}
<p>La demande de connexion n'est pas valide ({{ reason }}). Recommencez depuis le service.</p>
{% endblock %}"""
)

LANGUAGES = (("FR", "Français"), ("NL", "Nederlands"), ("DE", "Deutsch"), ("EN", "English"))
_LEVELS = {"basic": "basique : code ou empreinte", "advanced": "avancé : code itsme"}


def choose_person(
    post_url: str,
    fields: Mapping[str, str],
    client_id: str,
    level: str,
    persons: Sequence,
    error: str | None = None,
    form: Mapping[str, str] | None = None,
) -> str:
    return _CHOOSE.render(
        title="Confirmer avec itsme",
        post_url=post_url,
        fields=fields,
        client_id=client_id,
        level_label=_LEVELS.get(level, level),
        persons=persons,
        error=error,
        languages=LANGUAGES,
        form=form or {},
    )


def invalid_request(reason: str) -> str:
    return _INVALID.render(title="Demande refusée", reason=reason)
