"""First run in the browser: the setup link printed by `parley serve` creates the first admin."""
from __future__ import annotations

import pytest

from tests.web.browser import in_browser


@pytest.mark.usefixtures("browser_available")
async def test_the_setup_link_creates_the_first_admin_in_the_browser(server):
    token = server.app.first_run.token
    assert token is not None   # the fixture's database has no account

    def scenario(browser, url, token):
        from playwright.sync_api import expect
        page = browser.page("installer", url)
        page.goto("/setup")   # without the token: the form says so and cannot be sent
        expect(page.get_by_role("alert")).to_contain_text("no token")
        expect(page.get_by_role("button", name="Create administrator")).to_be_disabled()

        # A wrong token: refused by the server. Only the fragment changes, so this is a same-
        # document navigation: its popstate makes the client render the form again once it has
        # asked the server for the login status. Wait for that form (its button is enabled; the
        # no-token form's is not), else the first field is filled in the form about to be replaced.
        page.goto(f"/setup#{'x' * 43}")
        expect(page.get_by_role("button", name="Create administrator")).to_be_enabled()
        page.get_by_label("Password", exact=True).fill("first-admin-pw")
        page.get_by_label("Repeat the password").fill("first-admin-pw")
        page.get_by_role("button", name="Create administrator").click()
        expect(page.get_by_role("alert")).to_contain_text("wrong or has expired")

        page.goto("/")
        page.goto(f"/setup#{token}")
        expect(page.get_by_role("heading", name="Welcome to Parley")).to_be_visible()
        expect(page.get_by_label("Administrator user name")).to_have_value("admin")
        page.get_by_label("Administrator user name").fill("ada")
        page.get_by_label("Display name").fill("Ada Lovelace")
        page.get_by_label("Password", exact=True).fill("first-admin-pw")
        page.get_by_label("Repeat the password").fill("another")
        page.get_by_role("button", name="Create administrator").click()
        expect(page.get_by_role("alert")).to_contain_text("do not match")
        page.get_by_label("Repeat the password").fill("first-admin-pw")
        page.get_by_role("button", name="Create administrator").click()
        # Logged in at once, with the token gone from the address bar.
        page.get_by_role("heading", name="Conversations").wait_for()
        expect(page.locator("#topbar-name")).to_contain_text("Ada Lovelace")
        assert page.url == url + "/"

        # The link works once: the page is refused afterwards, in a fresh browser too.
        other = browser.page("someone else", url)
        reply = other.goto(f"/setup#{token}")
        assert reply.status == 404
        browser.assert_no_console_errors(lambda e: "403" in e.text or "404" in e.text)

    await in_browser(scenario, server.url, token)
    user = server.actor("ada", password="first-admin-pw")
    r = await user.get("/users", prefix="/ocs/v2.php/cloud")
    assert r.status == 200 and r.data["users"] == ["ada"]
