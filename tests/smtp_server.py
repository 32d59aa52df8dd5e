"""A real SMTP server on localhost (aiosmtpd), collecting what it receives."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


class Collector:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@dataclass
class MailSettings:
    smtp_host: str | None = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str = "Mon Espace <no-reply@monespace.test>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(name="smtp_server")
def smtp_server_fixture():
    """(collector, settings pointing at it); STARTTLS off for this plain server."""
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield collector, MailSettings(smtp_port=controller.port)
    controller.stop()


@pytest.fixture(name="closed_port_settings")
def closed_port_settings_fixture() -> MailSettings:
    """Settings naming a port where nothing listens."""
    return MailSettings(smtp_port=free_port())
