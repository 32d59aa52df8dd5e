"""Forged requests and framing, from a real browser: a form posted without its token (from the
page itself or from another site) is refused and writes nothing; no page can be framed by
another site."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from admin_ui.models import OutboxMessage
from authz.models import AuditEvent, RoleRequest

ATTACKER = "http://attacker.invalid"
FORM = "/entreprises/ajouter"
FIELDS = {"bce": "0123456749", "role": "owner", "message": "forged"}
EXPIRED = "Le formulaire a expiré. Rechargez la page et réessayez."
FRAMED_PATHS = ("/", "/login", "/me", "/entreprises", FORM, "/demo-rp", "/demo/outbox")


def written() -> tuple[int, int, int]:
    """What a request would write: role requests, emails, audit events."""
    return RoleRequest.select().count(), OutboxMessage.select().count(), AuditEvent.select().count()


def post_from_page(page: Page, path: str, fields: dict[str, str]) -> int:
    """POST a form body with fetch() from the page (its cookies go along); the status."""
    return page.evaluate(
        """async ([path, fields]) => (await fetch(path, {
            method: "POST", body: new URLSearchParams(fields), redirect: "manual",
        })).status""",
        [path, fields],
    )


def token_of(page: Page) -> str:
    return page.locator('#content input[name="csrf_token"]').first.get_attribute("value")


def serve_attacker_page(page: Page, html: str) -> None:
    page.route(
        f"{ATTACKER}/**",
        lambda route: route.fulfill(content_type="text/html", body=f"<!doctype html>{html}"),
    )


def test_a_post_without_the_token_is_refused_and_writes_nothing(new_page, check_page):
    alice = new_page("alice", next_path=FORM)
    before = written()

    assert post_from_page(alice, FORM, FIELDS) == 400
    assert post_from_page(alice, FORM, {**FIELDS, "csrf_token": "0" * 64}) == 400

    # The form itself, its token taken out, sent the way a person sends it.
    alice.locator('#content input[name="csrf_token"]').evaluate("e => e.remove()")
    alice.get_by_label("Numéro d'entreprise (BCE)").fill("0123.456.749")
    with alice.expect_response(re.compile(f"{FORM}$")) as answer:
        alice.get_by_role("button", name="Envoyer la demande").click()
    assert answer.value.status == 400
    expect(alice.get_by_text(EXPIRED)).to_be_visible()
    check_page(alice, "formulaire-expire")

    assert written() == before
    # The same form with its token goes through: the refusals were the token's doing.
    alice.goto(FORM)
    assert post_from_page(alice, FORM, {**FIELDS, "csrf_token": token_of(alice)}) == 200
    assert written()[0] == before[0] + 1


def test_another_sessions_token_is_refused(new_page):
    alice = new_page("alice", next_path=FORM)
    emma = new_page("emma", next_path=FORM)
    before = written()
    assert post_from_page(emma, FORM, {**FIELDS, "csrf_token": token_of(alice)}) == 400
    assert written() == before


def test_a_withdrawal_without_the_token_is_refused(new_page):
    nora = new_page("nora", next_path="/entreprises")
    (pending,) = RoleRequest.select().where(RoleRequest.status == "pending")
    before = written()
    assert post_from_page(nora, f"/entreprises/demandes/{pending.id}/retirer", {}) == 400
    assert written() == before
    assert RoleRequest.get_by_id(pending.id).status == "pending"


def test_a_form_posted_from_another_site_writes_nothing(site, new_page):
    """The login session's cookie (SameSite=Lax) stays home: the app sees no login."""
    alice = new_page("alice", other_origins=(ATTACKER,))
    serve_attacker_page(
        alice,
        f'<html lang="en"><title>Win a prize</title><form method="post" action="{site.url}{FORM}">'
        + "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in FIELDS.items())
        + "<button>Claim</button></form></html>",
    )
    before = written()
    alice.goto(f"{ATTACKER}/prize")
    with alice.expect_response(f"{site.url}{FORM}") as answer:
        alice.get_by_role("button", name="Claim").click()
    assert answer.value.status == 303  # to the login page: no session came with the post
    alice.wait_for_url(re.compile(r"/login\?"))
    assert written() == before


def test_no_page_can_be_framed_by_another_site(site, new_page):
    alice = new_page("alice", other_origins=(ATTACKER,))
    frames = "".join(
        f'<iframe title="{path}" src="{site.url}{path}"></iframe>' for path in FRAMED_PATHS
    )
    # The control: the same origin's page without the headers (answered by the browser
    # itself) is shown in the frame.
    control = f"{site.url}/without-headers"
    alice.route(control, lambda route: route.fulfill(content_type="text/html", body="<p>ok"))
    frames += f'<iframe title="control" src="{control}"></iframe>'
    serve_attacker_page(alice, f'<html lang="en"><title>Framing</title>{frames}</html>')

    alice.goto(f"{ATTACKER}/frames")
    alice.wait_for_load_state("load")

    def shown_in(title: str) -> str:
        return alice.locator(f'iframe[title="{title}"]').element_handle().content_frame().url

    assert shown_in("control") == control
    for path in FRAMED_PATHS:
        # Chromium shows its error page in place of a page that refuses to be framed.
        assert shown_in(path) == "chrome-error://chromewebdata/", path
        headers = alice.request.get(f"{site.url}{path}", max_redirects=0).headers
        assert headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
