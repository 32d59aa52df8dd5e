"""What the simulators' pages share: the layout and the person picker.

Plain HTML, French first, no script, no external asset. Each simulator's page module extends
these templates and fills in its own blocks (the banner, the request's summary, how a person
is labelled, the extra fields of a fictional person, the buttons' words).
"""

from __future__ import annotations

from jinja2 import DictLoader, Environment

_TEMPLATES = {
    "layout.html": """<!doctype html>
<html lang="fr">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} – {% block simulator %}{% endblock %}</title></head>
<body>
<header><p>{% block banner %}{% endblock %}</p></header>
<main>
<h1>{{ title }}</h1>
{% block content %}{% endblock %}
</main>
</body>
</html>""",
    "hidden.html": """{% for name, value in fields.items() %}
<input type="hidden" name="{{ name }}" value="{{ value }}">{% endfor %}
""",
    "picker.html": """{% extends "layout.html" %}{% block content %}
{% block intro %}{% endblock %}
{% if error %}<p role="alert"><strong>{{ error }}</strong></p>{% endif %}
<form method="post" action="{{ post_url }}">
{% include "hidden.html" %}<fieldset>
<legend>Choisir une personne de démonstration</legend>
<ul>
{% for p in persons %}
<li><button type="submit" name="action" value="person:{{ p.key }}">
{{- p.given_name }} {{ p.family_name }}</button> ({% block person_note scoped %}{% endblock %})</li>
{%- endfor %}
</ul>
</fieldset>
</form>
<form method="post" action="{{ post_url }}">
{% include "hidden.html" %}<fieldset>
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
{% block extra_fields %}{% endblock %}
<p><button type="submit" name="action" value="custom">
{%- block custom_label %}{% endblock %}</button></p>
</fieldset>
</form>
<form method="post" action="{{ post_url }}">
{% include "hidden.html" %}
<p><button type="submit" name="action" value="cancel">Annuler</button></p>
</form>
{% endblock %}""",
}

env = Environment(loader=DictLoader(_TEMPLATES), autoescape=True)


def template(source: str):
    """A page template that may extend ``layout.html`` or ``picker.html``."""
    return env.from_string(source)
