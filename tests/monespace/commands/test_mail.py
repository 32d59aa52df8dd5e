"""``monespace mail send`` and ``monespace mail outbox``."""

from __future__ import annotations

from admin_ui import mail
from admin_ui.models import OutboxMessage
from authz import db
from tests.monespace.conftest import run_cli

GAP = {"enterprise": "Boulangerie Dupont", "bce": "0123.456.749", "link": "https://x.test/g"}


def designate(recipient: str = "gap@example.test") -> None:
    with db.transaction():
        mail.enqueue("gap_designated", recipient, "en", **GAP)


def test_send_delivers_the_due_messages(cli_env, smtp_server, monkeypatch, capsys):
    collector, settings = smtp_server
    monkeypatch.setenv("MONESPACE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MONESPACE_SMTP_PORT", str(settings.smtp_port))
    monkeypatch.setenv("MONESPACE_SMTP_STARTTLS", "false")
    designate()
    designate("other@example.test")
    assert run_cli(capsys, "mail", "send") == (0, "sent 2, failed 0\n", "")
    assert len(collector.messages) == 2
    assert run_cli(capsys, "mail", "send") == (0, "sent 0, failed 0\n", "")


def test_send_without_smtp_host_warns_and_keeps_the_messages(cli_env, capsys):
    designate()
    code, out, err = run_cli(capsys, "mail", "send")
    assert (code, out) == (0, "sent 0, failed 0\n")
    assert "MONESPACE_SMTP_HOST is not set" in err
    assert OutboxMessage.get().status == "pending"


def test_outbox_lists_the_latest_messages(cli_env, capsys):
    designate()
    code, out, _err = run_cli(capsys, "mail", "outbox")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:3] == ["id", "created", "(UTC)"]
    assert "pending" in row and "gap@example.test" in row
    assert "You are the access manager of Boulangerie Dupont" in row
