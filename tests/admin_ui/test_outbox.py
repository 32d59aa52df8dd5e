"""admin_ui/outbox.py: the demo's outbox page; absent in production."""

from __future__ import annotations

from admin_ui import mail
from authz import db
from monespace.app import create_app
from tests.demo_app import (
    stop,
)
from tests.idp_bridge.web_client import (
    Browser,
    page_text,
)

INVITATION = {
    "inviter": "Alice Dupont",
    "enterprise": "Boulangerie Dupont",
    "bce": "0123.456.749",
    "role": "agent",
    "link": "https://id.example.test/invitations/abc123",
    "expires": "2030-01-31",
}


def invite(language: str = "fr"):
    with db.transaction():
        return mail.enqueue("invitation", "bob@example.test", language, **INVITATION)


def test_the_outbox_lists_and_shows_the_emails_in_demo(app):
    message = invite("de")
    client = app.test_client()
    listing = client.get("/demo/outbox")
    assert listing.status_code == 200
    text = page_text(listing)
    assert "bob@example.test" in text and "Einladung, für Boulangerie Dupont zu handeln" in text
    assert "En attente" in text
    assert f'href="/demo/outbox/{message.id}"' in listing.get_data(as_text=True)
    shown = client.get(f"/demo/outbox/{message.id}")
    assert shown.status_code == 200
    assert INVITATION["link"] in page_text(shown)
    assert f'href="{INVITATION["link"]}"' in shown.get_data(as_text=True)
    assert client.get("/demo/outbox/999999").status_code == 404


def test_the_outbox_page_speaks_the_pages_language(app):
    invite()
    assert "Pending" in page_text(app.test_client().get("/demo/outbox?lang=en"))


def test_no_outbox_page_in_production(database, database_url, tmp_path):
    app = create_app(
        {
            "mode": "production",
            "database_url": database_url,
            "secret_key": "k" * 40,
            "base_url": "https://id.example.test",
            "data_dir": str(tmp_path),
            "decision_log": "off",
        }
    )
    try:
        assert app.test_client().get("/demo/outbox").status_code == 404
    finally:
        stop(app)


def test_only_this_machine_or_the_operator_reads_the_outbox(app, caplog):
    message = invite()
    paths = ("/demo/outbox", f"/demo/outbox/{message.id}")
    for address in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):
        client = app.test_client()
        for path in paths:
            assert client.get(path, environ_base={"REMOTE_ADDR": address}).status_code == 200

    remote = {"REMOTE_ADDR": "192.0.2.7"}
    stranger = Browser(app)
    for path in paths:
        refused = stranger.get(path, environ_base=remote)
        assert refused.status_code == 403
        assert INVITATION["link"] not in refused.get_data(as_text=True)
    assert "demo outbox: refused to 192.0.2.7" in caplog.text
    marc = Browser(app)
    marc.login("eid", "person:marc")
    assert marc.get(paths[1], environ_base=remote).status_code == 403

    olivier = Browser(app)
    olivier.login("eid", "person:olivier")
    shown = olivier.get(paths[1], environ_base=remote)
    assert shown.status_code == 200
    assert INVITATION["link"] in page_text(shown)
