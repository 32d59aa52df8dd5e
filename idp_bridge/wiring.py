"""The upstream logins of one app, built from its configuration by their plugins.

``config.upstreams`` holds, by name, the validated settings of each login that is on
(:mod:`monespace.config`); each is built by its plugin (:mod:`idp_bridge.upstreams.registry`).
The demo's simulated logins are built elsewhere (``monespace.demo_logins``), which puts them
under :data:`EXTENSION` first; the configured ones join them (docs/upstreams.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from idp_bridge.upstreams import registry
from idp_bridge.upstreams.base import Site, Upstream, UpstreamConfigError

logger = logging.getLogger(__name__)

# The app's upstreams, name -> Upstream, set before the login pages are initialised.
EXTENSION = "monespace.upstreams"

Upstreams = Mapping[str, Upstream]


class LoginConfigError(ValueError):
    """An upstream login cannot be built from the configuration (IdP metadata, keys...)."""


def site_of(config: Any) -> Site:
    """What the plugins know of the service (``config`` is :class:`monespace.config.Config`)."""
    return Site(base_url=config.base_url, keys_dir=Path(config.keys_dir), demo=config.is_demo)


def build(config: Any) -> Upstreams:
    """The upstreams configured in ``config.upstreams``, in the plugins' order;
    :class:`LoginConfigError` says what cannot work."""
    plugins = registry.load(config.upstream_plugins)
    site = site_of(config)
    upstreams: dict[str, Upstream] = {}
    for name, settings in config.upstreams.items():
        try:
            upstreams[name] = plugins[name].build(settings, site)
        except UpstreamConfigError as exc:
            raise LoginConfigError(str(exc)) from None
        except OSError as exc:  # a key file that cannot be read
            raise LoginConfigError(f"{exc.filename}: {exc.strerror}") from None
    return upstreams


def init_app(app: Flask) -> Upstreams:
    """The app's upstreams: those already given (the demo's simulated ones), then those
    configured."""
    upstreams = {**app.extensions.get(EXTENSION, {}), **build(app.config["MONESPACE"])}
    if not upstreams:
        logger.warning("no upstream login is configured: nobody can log in")
    app.extensions[EXTENSION] = upstreams
    return upstreams
