"""OAuth 2.0 error responses (RFC 6749 section 5.2) as one exception type.

The provider's code raises :class:`OAuthError` wherever a request is refused; the blueprint
turns it into the JSON body (:meth:`OAuthError.to_dict`), the status and the headers in one
place (STYLE principle 9).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# RFC 6749 section 5.2: error = 1*NQSCHAR, error_description = 1*NQSCHAR-or-space, where
# NQSCHAR = %x20-21 / %x23-5B / %x5D-7E: printable ASCII without '"' and '\'.
_ERROR = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_DESCRIPTION = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$")

BASIC_CHALLENGE = 'Basic realm="monespace"'


class OAuthError(Exception):
    """A refused OAuth request: ``error`` is the RFC 6749 code, ``description`` is for the
    client's developers (never a secret, never an echo of what the client sent)."""

    def __init__(
        self,
        error: str,
        description: str = "",
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        # Checked here rather than escaped later: descriptions are written by us, so a
        # character outside the RFC's set is a bug to see in the tests, not to hide.
        if not _ERROR.match(error):
            raise ValueError(f"invalid OAuth error code {error!r}")
        if not _DESCRIPTION.match(description):
            raise ValueError(f"invalid OAuth error description {description!r}")
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status if status is not None else (401 if error == "invalid_client" else 400)
        self.headers: dict[str, str] = dict(headers or {})

    def to_dict(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str) -> OAuthError:
    """Client authentication failed: 401 with a ``WWW-Authenticate`` challenge.

    RFC 6749 section 5.2 requires the challenge when the client tried HTTP Basic, and
    RFC 9110 section 15.5.2 requires one on every 401, so it is always sent: Basic is the
    scheme this provider offers for secrets.
    """
    return OAuthError("invalid_client", description, 401, {"WWW-Authenticate": BASIC_CHALLENGE})


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description, 400)


# A parameter name is echoed in an error description only when it is a plain word.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def single_params(params: Mapping[str, str]) -> dict[str, str]:
    """Every parameter of a request, each given once (RFC 6749 sections 3.1 and 3.2: "Request
    and response parameters MUST NOT be included more than once"); a repeated one is
    ``invalid_request``, whatever its name."""
    getlist = getattr(params, "getlist", None)
    if getlist is not None:
        for name in params:
            if len(getlist(name)) > 1:
                shown = f"the {name} parameter" if _PLAIN_NAME.match(name) else "a parameter"
                raise invalid_request(f"{shown} is repeated")
    return {name: params[name] for name in params}


def single_param(params: Mapping[str, str], name: str) -> str | None:
    """A request parameter (RFC 6749 section 3.1): None when absent or empty; a repeated one
    or a value that is not text is ``invalid_request``."""
    getlist = getattr(params, "getlist", None)
    if getlist is not None and len(getlist(name)) > 1:
        raise invalid_request(f"the {name} parameter is repeated")
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid_request(f"the {name} parameter must be a string")
    return value
