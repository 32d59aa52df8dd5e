"""Comparing secrets (form tokens, states, MACs) in constant time, whatever was sent.

``hmac.compare_digest`` refuses ``str`` values holding non-ASCII characters with a TypeError;
a token sent by a client may hold anything, and must be a refusal, not a failure. The values
are compared as UTF-8 bytes.
"""

from __future__ import annotations

import hmac


def equal(sent: object, expected: str) -> bool:
    """Whether ``sent`` is the text ``expected``; anything that is not text is not equal."""
    if not isinstance(sent, str):
        return False
    return hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
