"""The SAML IdP simulator's pages: plain HTML, French, no script, no external asset."""

from __future__ import annotations

from collections.abc import Mapping

from jinja2 import Environment

_env = Environment(autoescape=True)

_LAYOUT = """<!doctype html>
<html lang="fr">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} – simulateur eID</title></head>
<body>
<header><p>Simulateur de connexion eID (démonstration : aucune vraie carte n'est lue)</p></header>
<main>
<h1>{{ title }}</h1>
{% block content %}{% endblock %}
</main>
</body>
</html>"""

_HIDDEN = """{% for name, value in fields.items() %}
<input type="hidden" name="{{ name }}" value="{{ value }}">{% endfor %}
"""

_CHOOSE = _env.from_string(
    """{% extends layout %}{% block content %}
<p>Le service <strong>{{ sp }}</strong> demande une connexion avec la carte d'identité.</p>
{% if error %}<p role="alert"><strong>{{ error }}</strong></p>{% endif %}
<form method="post" action="{{ post_url }}">
"""
    + _HIDDEN
    + """<fieldset>
<legend>Choisir une personne de démonstration</legend>
<ul>
{% for p in persons %}
<li><button type="submit" name="action" value="person:{{ p.key }}">
{{- p.given_name }} {{ p.family_name }}</button> ({{ p.story }})</li>{% endfor %}
</ul>
</fieldset>
</form>
<form method="post" action="{{ post_url }}">
"""
    + _HIDDEN
    + """<fieldset>
<legend>Ou une personne fictive</legend>
<p><label for="nrn">Numéro de registre national</label>
<input id="nrn" name="nrn" required inputmode="numeric" autocomplete="off"
 value="{{ form.get('nrn', '') }}"></p>
<p><label for="given_name">Prénom</label>
<input id="given_name" name="given_name" required maxlength="100"
 value="{{ form.get('given_name', '') }}"></p>
<p><label for="family_name">Nom</label>
<input id="family_name" name="family_name" required maxlength="100"
 value="{{ form.get('family_name', '') }}"></p>
<p><label for="language">Langue</label>
<select id="language" name="language">
{% for code, label in languages %}
<option value="{{ code }}"{% if form.get('language', 'fr') == code %} selected{% endif %}>
{{- label }}</option>{% endfor %}
</select></p>
<p><label for="email">Adresse e-mail (facultative)</label>
<input id="email" name="email" type="email" maxlength="254" value="{{ form.get('email', '') }}"></p>
<p><button type="submit" name="action" value="custom">Se connecter avec cette personne</button></p>
</fieldset>
</form>
<form method="post" action="{{ post_url }}">
"""
    + _HIDDEN
    + """<p><button type="submit" name="action" value="cancel">Annuler</button></p>
</form>
{% endblock %}"""
)

_POST = _env.from_string(
    """{% extends layout %}{% block content %}
<p>Connexion terminée. Cliquez sur « Continuer » pour revenir au service.</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="SAMLResponse" value="{{ response }}">
{% if relay_state %}<input type="hidden" name="RelayState" value="{{ relay_state }}">{% endif %}
<p><button type="submit">Continuer</button></p>
</form>
{% endblock %}"""
)

_INVALID = _env.from_string(
    """{% extends layout %}{% block content %}
<p>La demande de connexion n'est pas valide (signature absente ou incorrecte, service inconnu
ou message illisible). Recommencez depuis le service.</p>
{% endblock %}"""
)

_LAYOUT_TEMPLATE = _env.from_string(_LAYOUT)
_LANGUAGES = (("fr", "Français"), ("nl", "Nederlands"), ("de", "Deutsch"), ("en", "English"))


def demo_persons():
    from monespace.demo import PERSONS  # imported late: monespace wires idp_bridge in

    return PERSONS


def choose_person(
    post_url: str,
    fields: Mapping[str, str],
    sp: str,
    error: str | None = None,
    form: Mapping[str, str] | None = None,
) -> str:
    return _CHOOSE.render(
        layout=_LAYOUT_TEMPLATE,
        title="Connexion avec la carte d'identité",
        post_url=post_url,
        fields=fields,
        sp=sp,
        error=error,
        persons=demo_persons(),
        languages=_LANGUAGES,
        form=form or {},
    )


def post_to_sp(action: str, response: str, relay_state: str | None) -> str:
    return _POST.render(
        layout=_LAYOUT_TEMPLATE,
        title="Retour au service",
        action=action,
        response=response,
        relay_state=relay_state,
    )


def invalid_request() -> str:
    return _INVALID.render(layout=_LAYOUT_TEMPLATE, title="Demande refusée")
