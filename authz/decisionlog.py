"""The decision log: one JSON line per logged decision, for security teams to search.

Each line says who asked (client, request id), the question (subject, action, resource, service
domain), the answer, whether it came from the cache, the epoch and policy version it was
computed at, and the facts it was computed from (``grant#12``, ``designation#3``...). Lines go
to a file (``decision_log_file``) or to the ``monespace.decisions`` logger's handlers, so a log
shipper or ``jq`` can search them:

    jq 'select(.resource == "0123456749" and .decision == true)' decisions.log

``mode`` is ``off``, ``full`` (every decision) or ``sample`` (a random fraction ``rate`` of
decisions; explained decisions are always logged).
"""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from pathlib import Path

LOGGER_NAME = "monespace.decisions"


class DecisionLog:
    def __init__(self, mode: str = "sample", rate: float = 0.01, path: Path | None = None):
        if mode not in ("off", "sample", "full"):
            raise ValueError(f"unknown decision log mode {mode!r}")
        self.mode, self.rate = mode, rate
        self.logger = logging.getLogger(LOGGER_NAME)
        self.logger.setLevel(logging.INFO)
        if path is not None and not any(
            getattr(h, "baseFilename", None) == str(Path(path).resolve())
            for h in self.logger.handlers
        ):
            handler = WatchedFileHandler(path, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(message)s"))
            self.logger.addHandler(handler)
            # The file holds the decisions; they do not go to the app's log as well.
            self.logger.propagate = False

    def wanted(self, explained: bool = False) -> bool:
        if self.mode == "off":
            return False
        return self.mode == "full" or explained or random.random() < self.rate  # noqa: S311

    def record(self, **entry) -> None:
        """Write one line; ``entry`` holds the fields described in the module docstring."""
        line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry}
        self.logger.info(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
