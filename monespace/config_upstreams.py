"""The settings of the upstream logins: each plugin declares its own (``<name>_*``, in the
environment ``MONESPACE_<NAME>_*``) with its settings type, which checks them here, once, at
start-up (``monespace.config``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from idp_bridge.upstreams import registry
from idp_bridge.upstreams.base import Plugin, UpstreamSettings
from monespace.config_error import ConfigError

ENV_PREFIX = "MONESPACE_"
# The upstream logins the demo's simulators stand in for (monespace.demo_logins).
SIMULATED_UPSTREAMS = ("eid", "itsme")


def comma_separated(value: Any) -> Any:
    """``"a, b;c"`` as ``["a", "b", "c"]``; anything else as it is."""
    if isinstance(value, str):
        return [item.strip() for item in value.replace(";", ",").split(",") if item.strip()]
    return value


def plugins_of(sources: list[tuple[str, dict[str, Any]]]) -> dict[str, Plugin]:
    """The plugins: the built-in ones and those of the ``upstream_plugins`` modules (the value
    of the last source that sets it)."""
    modules: Any = ()
    for _source, values in sources:
        modules = values.get("upstream_plugins", modules)
    modules = comma_separated(modules)
    if not isinstance(modules, list | tuple) or not all(isinstance(m, str) for m in modules):
        raise ConfigError("MONESPACE_UPSTREAM_PLUGINS must be a list of module names")
    try:
        return registry.load(tuple(modules))
    except registry.PluginError as exc:
        raise ConfigError(f"MONESPACE_UPSTREAM_PLUGINS: {exc}") from None


def known_settings(core: list[str], plugins: Mapping[str, Plugin]) -> list[str]:
    """The ``core`` settings, then every plugin's."""
    names = list(core)
    for name, plugin in plugins.items():
        names += [f"{name}_{field}" for field in plugin.settings.model_fields]
    return names


def problem(error: Mapping[str, Any], prefix: str = "") -> str:
    """One pydantic error as one line naming the variable."""
    name = ENV_PREFIX + (prefix + "_".join(str(part) for part in error["loc"][:1])).upper()
    value = error.get("input")
    context = error.get("ctx") or {}
    kind = error["type"]
    if kind == "bool_parsing" or kind == "bool_type":
        return f"{name} must be true or false, not {value!r}"
    if kind in ("int_parsing", "float_parsing", "int_type", "float_type", "int_from_float"):
        return f"{name} must be a number, not {value!r}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{name} must be at least {context.get('ge', context.get('gt'))}, not {value!r}"
    if kind in ("less_than_equal", "less_than"):
        return f"{name} must be at most {context.get('le', context.get('lt'))}, not {value!r}"
    if kind == "literal_error":
        expected = str(context.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{name} must be one of {expected}, not {value!r}"
    if kind == "string_type":
        return f"{name} must be a string, not {type(value).__name__}"
    if kind == "missing":
        return f"{name} is needed"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{name} {message}"


def upstream_settings(
    settings: Mapping[str, Any], plugins: Mapping[str, Plugin], demo: bool, simulators: bool
) -> dict[str, UpstreamSettings]:
    """The settings of each upstream login that is on (its switch set), checked by its plugin."""
    upstreams = {}
    for name, plugin in plugins.items():
        fields = plugin.settings.model_fields
        given = {
            field: settings[f"{name}_{field}"]
            for field in fields
            if settings.get(f"{name}_{field}") not in (None, "")
        }
        switch = f"MONESPACE_{name}_{plugin.settings.switch}".upper()
        if plugin.settings.switch not in given:
            required = [field for field in given if fields[field].is_required()]
            if required:
                given_name = f"MONESPACE_{name}_{required[0]}".upper()
                raise ConfigError(f"{given_name} is set but {switch} is not")
            continue
        if simulators and name in SIMULATED_UPSTREAMS:
            raise ConfigError(
                "the login simulators stand in for eID and itsme: set MONESPACE_SIMULATORS=false "
                "to use a real eID IdP or itsme"
            )
        missing = [
            field for field, info in fields.items() if info.is_required() and field not in given
        ]
        if missing:
            needed = f"MONESPACE_{name}_{missing[0]}".upper()
            raise ConfigError(f"{switch} is set: {needed} is needed too")
        try:
            upstreams[name] = plugin.settings.model_validate(given, context={"demo": demo})
        except ValidationError as exc:
            raise ConfigError(problem(exc.errors()[0], f"{name}_")) from None
    return upstreams
