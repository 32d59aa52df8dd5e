"""Server-to-server HTTP for upstream logins, behind one small function type.

An upstream module never opens a connection itself: it calls a ``Transport``. Production uses
``urllib_transport``: time limits, a bounded response size, no redirects, HTTPS unless told
otherwise. ``wsgi_transport`` hands the calls to a Flask app in the same process (the demo's
simulators, the tests), so a one-process server never has to call itself over the network.

A transport returns the response whatever its status, and raises ``TimeoutError`` when the
other side did not answer in time and ``ConnectionError`` when it could not be reached.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_RESPONSE_BYTES = 1_000_000


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


# transport(method, url, form) -> response; ``form`` is sent url-encoded when not None.
Transport = Callable[[str, str, Mapping[str, str] | None], HttpResponse]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is returned as it is: a token endpoint has no business redirecting us."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def urllib_transport(timeout: float = 10.0, allow_http: bool = False) -> Transport:
    """A transport over urllib: ``timeout`` seconds for connecting and for each read."""

    opener = urllib.request.build_opener(_NoRedirect)

    def send(method: str, url: str, form: Mapping[str, str] | None = None) -> HttpResponse:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme != "https" and not (allow_http and scheme == "http"):
            raise ConnectionError(f"refusing to call {scheme or 'a relative'} URL {url}")
        data = urllib.parse.urlencode(form).encode("ascii") if form is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (checked above)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with opener.open(request, timeout=timeout) as response:
                return HttpResponse(response.status, _read(response), dict(response.headers))
        except urllib.error.HTTPError as exc:
            with exc:
                return HttpResponse(exc.code, _read(exc), dict(exc.headers or {}))
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise TimeoutError(f"{url}: no answer in {timeout}s") from exc
            raise ConnectionError(f"{url}: {exc.reason}") from exc
        except TimeoutError as exc:
            raise TimeoutError(f"{url}: no answer in {timeout}s") from exc
        except OSError as exc:
            raise ConnectionError(f"{url}: {exc}") from exc

    return send


def _read(response) -> bytes:
    body = response.read(MAX_RESPONSE_BYTES + 1)
    if len(body) > MAX_RESPONSE_BYTES:
        raise ConnectionError(f"response larger than {MAX_RESPONSE_BYTES} bytes")
    return body


def wsgi_transport(app: Any, base_url: str) -> Transport:
    """A transport to the Flask ``app`` for URLs under ``base_url``; any other URL is out of
    reach (``ConnectionError``)."""
    client = app.test_client()
    prefix = base_url.rstrip("/")

    def send(method: str, url: str, form: Mapping[str, str] | None = None) -> HttpResponse:
        if url != prefix and not url.startswith(prefix + "/"):
            raise ConnectionError(f"{url} is not served in this process")
        parts = urllib.parse.urlsplit(url)
        response = client.open(
            parts.path,
            base_url=f"{parts.scheme}://{parts.netloc}",
            query_string=parts.query,
            method=method,
            data=dict(form) if form is not None else None,
        )
        return HttpResponse(response.status_code, response.get_data(), dict(response.headers))

    return send
