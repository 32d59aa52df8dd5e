"""The upstream logins this service knows, by name: eID and itsme built in, others from the
modules the ``upstream_plugins`` setting names. Each module holds its :class:`Plugin` as
``PLUGIN``; importing one changes nothing until a configuration names it.

A plugin's name is its URL (``/login/<name>``) and the prefix of its settings
(``<name>_*``, ``MONESPACE_<NAME>_*``); :mod:`monespace.config` validates them with the
plugin's settings type.
"""

from __future__ import annotations

import importlib
import re

from idp_bridge.upstreams.base import Plugin

BUILT_IN = ("idp_bridge.upstreams.eid", "idp_bridge.upstreams.itsme")
# A URL segment and a settings prefix: no "_" (eid_idp_metadata is eid's idp_metadata).
_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")


class PluginError(ValueError):
    """A plugin cannot be loaded."""


def load(modules: tuple[str, ...] = ()) -> dict[str, Plugin]:
    """The plugins of the built-in modules and of ``modules``, by name, in that order."""
    plugins: dict[str, Plugin] = {}
    for module_name in dict.fromkeys((*BUILT_IN, *modules)):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise PluginError(
                f"upstream plugin module {module_name!r} cannot be imported: {exc}"
            ) from None
        plugin = getattr(module, "PLUGIN", None)
        if not isinstance(plugin, Plugin):
            raise PluginError(f"upstream plugin module {module_name!r} has no PLUGIN")
        if not _NAME.match(plugin.name):
            raise PluginError(f"upstream name {plugin.name!r}: 2-16 lower-case letters, digits")
        if plugin.name in plugins:
            raise PluginError(f"two upstream logins are named {plugin.name!r}")
        plugins[plugin.name] = plugin
    return plugins
