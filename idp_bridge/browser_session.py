"""The browser's login session as every page sees it: who is logged in, the forms' CSRF tokens,
where to go after a login, and what happens when a session ends.

The login pages (``idp_bridge.web``), the OpenID provider's pages and the admin UI all read the
session through this module, so none of them depends on another's pages.

**The session** lives in the database (``idp_bridge.sessions``): the cookie holds a random id,
``HttpOnly``, ``SameSite=Lax``, ``Secure`` outside the plain-http demo, replaced at every login.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request

from idp_bridge.sessions import SessionPolicy, current_session

EXTENSION = "monespace.browser_session"
# Callables given the LoginSession that just ended (the OpenID provider's back-channel logout).
LOGOUT_HOOKS = "monespace.logout_hooks"
SESSION_COOKIE = "monespace_session"
DEFAULT_NEXT = "/me"


@dataclass(frozen=True)
class BrowserSessions:
    """The session rules and cookie settings of one app."""

    policy: SessionPolicy
    secure: bool  # cookies marked Secure (all but the plain-http demo)
    secret: bytes  # keys the CSRF tokens


def init_app(app: Flask) -> None:
    config = app.config["MONESPACE"]
    app.extensions[EXTENSION] = BrowserSessions(
        policy=SessionPolicy(
            idle_timeout=config.session_idle_timeout,
            absolute_timeout=config.session_absolute_timeout,
        ),
        secure=config.secure_cookies,
        secret=config.secret_key.encode(),
    )


def settings() -> BrowserSessions:
    return current_app.extensions[EXTENSION]


def current_login() -> Any:
    """The request's live login session (with its person), or None; read once per request."""
    if "login_session" not in g:
        g.login_session = current_session(request.cookies.get(SESSION_COOKIE), settings().policy)
    return g.login_session


def csrf_token(login_session: Any, purpose: str = "") -> str:
    """A token bound to the login session, for the forms of logged-in pages; a ``purpose``
    binds it to one form as well (one login's espace chooser, a logout confirmation)."""
    message = "csrf:" + (f"{purpose}:" if purpose else "") + login_session.id_hash
    return hmac.new(settings().secret, message.encode(), hashlib.sha256).hexdigest()


def safe_next(value: str | None) -> str:
    """A path on this site to go to after login; anything else (another site) is replaced."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 for c in value)
        or len(value) > 2000
    ):
        return DEFAULT_NEXT
    return value


def session_ended(session: Any) -> None:
    """A session ended by a logout or replaced by a new login: the same consequences."""
    for hook in current_app.extensions.get(LOGOUT_HOOKS, ()):
        hook(session)
