"""Prometheus metrics of the email outbox (``admin_ui.mail``): messages sent, failed attempts,
and the outbox's depth as the last delivery run (``monespace worker``, ``monespace mail send``)
counted it. See ``authz.metrics`` for how the values are kept across processes."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from authz.metrics import FastCounter

OUTBOX_SENT = FastCounter(
    Counter("monespace_outbox_sent", "Emails of the outbox handed to the SMTP server.")
)
OUTBOX_FAILURES = FastCounter(
    Counter(
        "monespace_outbox_send_failures",
        "Failed attempts to send an email of the outbox (each retried later, up to a limit).",
    )
)
OUTBOX_MESSAGES = Gauge(
    "monespace_outbox_messages",
    "Emails in the outbox, as the last delivery run counted them: pending (to be sent or "
    "retried) or abandoned (every attempt failed).",
    ["state"],
    multiprocess_mode="livemax",
)
OUTBOX_PENDING = OUTBOX_MESSAGES.labels("pending")
OUTBOX_ABANDONED = OUTBOX_MESSAGES.labels("abandoned")
