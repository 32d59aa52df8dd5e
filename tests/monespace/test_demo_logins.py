"""monespace/demo_logins.py: the simulators are loaded by the demo's app factory alone."""

from __future__ import annotations

import subprocess
import sys


def test_no_production_module_loads_the_simulators():
    # A fresh interpreter: this test process has loaded the simulators for other tests.
    code = (
        "import sys, monespace.app, monespace.cli, admin_ui.pages, idp_bridge.web;"
        "import admin_ui.enterprises, admin_ui.operator, admin_ui.representatives;"
        "print(sorted(m for m in sys.modules if m.startswith('idp_bridge.simulators')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"


def test_the_demo_app_mounts_both_simulators(app):
    rules = {rule.rule for rule in app.url_map.iter_rules()}

    assert "/simulators/eid/sso" in rules and "/simulators/itsme/authorization" in rules
    assert {"/login/eid/acs", "/login/itsme/callback"} <= rules


def test_without_the_simulators_none_is_mounted(make_app):
    app = make_app(simulators=False)
    rules = {rule.rule for rule in app.url_map.iter_rules()}

    assert not any(rule.startswith("/simulators/") for rule in rules)
    assert not any(rule.startswith(("/login/eid", "/login/itsme")) for rule in rules)
