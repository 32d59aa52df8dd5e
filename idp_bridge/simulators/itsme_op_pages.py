"""The itsme simulator's pages: plain HTML, French first, no script, no external asset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jinja2 import Environment

_env = Environment(autoescape=True)

_LAYOUT = _env.from_string(
    """<!doctype html>
<html lang="fr">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} – simulateur itsme</title></head>
<body>
<header><p>Simulateur itsme (démonstration : aucun téléphone n'est sollicité)
<span lang="nl">– itsme-simulator</span> <span lang="en">– itsme simulator</span></p></header>
<main>
<h1>{{ title }}</h1>
{% block content %}{% endblock %}
</main>
</body>
</html>"""
)

_HIDDEN = """{% for name, value in fields.items() %}
<input type="hidden" name="{{ name }}" value="{{ value }}">{% endfor %}
"""

_CHOOSE = _env.from_string(
    """{% extends layout %}{% block content %}
<p>Le service <strong>{{ client_id }}</strong> demande une confirmation itsme
(niveau {{ level_label }}). Il recevra le nom et le numéro de registre national de la
personne choisie.</p>
{% if error %}<p role="alert"><strong>{{ error }}</strong></p>{% endif %}
<form method="post" action="{{ post_url }}">
"""
    + _HIDDEN
    + """<fieldset>
<legend>Choisir une personne de démonstration</legend>
<ul>
{% for p in persons %}
<li><button type="submit" name="action" value="person:{{ p.key }}">
{{- p.given_name }} {{ p.family_name }}</button> ({{ p.nrn_display }})</li>{% endfor %}
</ul>
</fieldset>
</form>
<form method="post" action="{{ post_url }}">
"""
    + _HIDDEN
    + """<fieldset>
<legend>Ou une personne fictive</legend>
<p><label for="nrn">Numéro de registre national</label>
<input id="nrn" name="nrn" required inputmode="numeric" autocomplete="off" maxlength="20"
 value="{{ form.get('nrn', '') }}"></p>
<p><label for="given_name">Prénom</label>
<input id="given_name" name="given_name" required maxlength="100"
 value="{{ form.get('given_name', '') }}"></p>
<p><label for="family_name">Nom</label>
<input id="family_name" name="family_name" required maxlength="100"
 value="{{ form.get('family_name', '') }}"></p>
<p><label for="locale">Langue de l'application</label>
<select id="locale" name="locale">
{% for code, label in languages %}
<option value="{{ code }}"{% if form.get('locale', 'FR') == code %} selected{% endif %}>
{{- label }}</option>{% endfor %}
</select></p>
<p><button type="submit" name="action" value="custom">Confirmer avec cette personne</button></p>
</fieldset>
</form>
<form method="post" action="{{ post_url }}">
"""
    + _HIDDEN
    + """<p><button type="submit" name="action" value="cancel">Annuler</button></p>
</form>
{% endblock %}"""
)

_INVALID = _env.from_string(
    """{% extends layout %}{% block content %}
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
        layout=_LAYOUT,
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
    return _INVALID.render(layout=_LAYOUT, title="Demande refusée", reason=reason)
