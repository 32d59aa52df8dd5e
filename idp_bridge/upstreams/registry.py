"""The upstream logins this service knows, by name: eID and itsme built in, others from the
modules the ``upstream_plugins`` setting names. Each module holds its :class:`Plugin` as
``PLUGIN``; importing it registers nothing by itself.

A plugin's name is its URL (``/login/<name>``) and the prefix of its settings
(``<name>_*``, ``MONESPACE_<NAME>_*``); :mod:`monespace.config` validates them with the
plugin's settings type.
"""

from __future__ import annotations

import importlib
import re

from idp_bridge.upstreams.base import Plugin

_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")
_PLUGINS: dict[str, Plugin] = {}
BUILT_IN = ("idp_bridge.upstreams.eid", "idp_bridge.upstreams.itsme")


class PluginError(ValueError):
    """A plugin cannot be registered or loaded."""


def register(plugin: Plugin) -> Plugin:
    """Add a plugin; registering the same one again is harmless, another of that name is not."""
    if not _NAME.match(plugin.name):
        raise PluginError(f"upstream name {plugin.name!r}: 2-16 lower-case letters and digits")
    known = _PLUGINS.get(plugin.name)
    if known is not None and known != plugin:
        raise PluginError(f"two upstream logins are named {plugin.name!r}")
    _PLUGINS[plugin.name] = plugin
    return plugin


def load(modules: tuple[str, ...] = ()) -> dict[str, Plugin]:
    """The plugins by name, in the order registered, after registering the ``PLUGIN`` of the
    built-in modules and of ``modules``."""
    for name in (*BUILT_IN, *modules):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise PluginError(
                f"upstream plugin module {name!r} cannot be imported: {exc}"
            ) from None
        plugin = getattr(module, "PLUGIN", None)
        if not isinstance(plugin, Plugin):
            raise PluginError(f"upstream plugin module {name!r} has no PLUGIN")
        register(plugin)
    return dict(_PLUGINS)


def plugins() -> dict[str, Plugin]:
    """The plugins registered so far (``load`` imports the built-in ones)."""
    return dict(_PLUGINS)
