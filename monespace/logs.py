"""The service's log lines: JSON lines (production) or plain text (the demo), each line logged
while a request is answered carrying that request's id.

The request id is the caller's ``X-Request-ID`` (the decision API sends it back: see
``authz.api.fastlane``) when it is a short printable token, else one made up for the request.
It is worked out only when a line is logged: :class:`~monespace.wsgi.Observed` merely notes
which request the thread is answering (a context variable), so a request that logs nothing
pays nothing more.

``log_format`` (``json`` or ``text``; json by default in production) is applied by
:func:`configure`, once per process, by its entry point (granian's workers through their
factory, ``monespace.app.create_served_app``; the demo's ``monespace serve``; the worker
formats its own lines), not by the app factory: a handler on the root logger, which every
logger reaches; the service's own loggers (``monespace.*``, ``authz.*``, ``idp_bridge.*``,
``admin_ui.*``, Flask's ``app.logger`` among them) at level INFO, the libraries' at their own
(WARNING by default).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from flask.logging import default_handler

FORMATS = ("json", "text")
REQUEST_ID_KEY = "monespace.request_id"  # environ key of the id made up for a request
# A caller's id is kept when it is this short and made of these characters; anything else
# (a log injection, a megabyte) is replaced by one of ours.
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")

# The environ of the request this thread (or task) answers; None outside requests.
current_environ: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "monespace_request", default=None
)


def request_id(environ: dict) -> str:
    """The request's id: the caller's ``X-Request-ID`` if acceptable, else a new one, kept in
    the environ so that every line of the request shows the same."""
    made = environ.get(REQUEST_ID_KEY)
    if made is None:
        given = environ.get("HTTP_X_REQUEST_ID", "")
        made = given if _ACCEPTED_ID.fullmatch(given) else uuid.uuid4().hex
        environ[REQUEST_ID_KEY] = made
    return made


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id``: the id of the request being answered, else None."""

    def filter(self, record: logging.LogRecord) -> bool:
        environ = current_environ.get()
        record.request_id = request_id(environ) if environ is not None else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id, and
    the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


class _Handler(logging.StreamHandler):
    """The handler :func:`configure` installs (told apart from any other on the root). Without
    a stream of its own it writes to ``sys.stderr`` as it is at each line, so a later
    redirection of stderr (a test's capture, a daemon's) is followed."""

    def __init__(self, stream: Any = None):
        super().__init__(stream)
        self._own_stream = stream

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return self._own_stream if self._own_stream is not None else sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        self._own_stream = value


SERVICE_LOGGERS = ("monespace", "authz", "idp_bridge", "admin_ui")


def configure(log_format: str, stream: Any = None) -> logging.Handler:
    """Send the log lines to ``stream`` (stderr) in ``log_format``, the service's from level
    INFO; replaces the handler an earlier call installed, leaves others alone."""
    root = logging.getLogger()
    unconfigure()
    handler = _Handler(stream)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    for name in SERVICE_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
    # Flask's own handler would write each line of app.logger a second time, unformatted.
    logging.getLogger("monespace.app").removeHandler(default_handler)
    return handler


def unconfigure() -> None:
    """Remove the handler :func:`configure` installed (tests)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
