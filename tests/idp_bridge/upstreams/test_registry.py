"""idp_bridge/upstreams/registry.py: the plugins by name, built-in first, each module's PLUGIN."""

from __future__ import annotations

import sys
import types

import pytest

from idp_bridge.upstreams import registry
from idp_bridge.upstreams.eid import EidSettings
from idp_bridge.upstreams.itsme import ItsmeSettings


@pytest.fixture
def module(monkeypatch):
    """A module importable by name, holding what the test puts in it."""

    def make(name: str, **attributes) -> str:
        made = types.ModuleType(name)
        made.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, made)
        return name

    return make


def test_eid_and_itsme_are_built_in():
    plugins = registry.load()

    assert list(plugins) == ["eid", "itsme"]
    assert plugins["eid"].settings is EidSettings
    assert plugins["itsme"].settings is ItsmeSettings


def test_a_module_adds_its_plugin_after_the_built_in_ones():
    plugins = registry.load(("tests.idp_bridge.upstreams.fixed_login",) * 2)

    assert list(plugins) == ["eid", "itsme", "fixed"]


def test_a_module_without_a_plugin_is_refused(module):
    with pytest.raises(registry.PluginError, match="has no PLUGIN"):
        registry.load(
            (module("plugin_less"),),
        )
    with pytest.raises(registry.PluginError, match="cannot be imported"):
        registry.load(("tests.no_such_plugin",))


def test_a_second_plugin_of_a_taken_name_is_refused(module):
    eid = registry.load()["eid"]

    with pytest.raises(registry.PluginError, match="two upstream logins are named 'eid'"):
        registry.load((module("impostor", PLUGIN=eid),))


@pytest.mark.parametrize("name", ["Eid", "e", "eid_saml", "x" * 17, "1eid"])
def test_a_name_that_is_no_url_segment_or_prefix_is_refused(module, name):
    plugin = registry.load()["eid"]
    renamed = type(plugin)(name=name, settings=plugin.settings, factory=plugin.factory)

    with pytest.raises(registry.PluginError, match="lower-case letters"):
        registry.load((module("badly_named", PLUGIN=renamed),))
