"""Moderator actions in the browser, checked against the API; the layout at phone width."""
from __future__ import annotations

import re

import pytest

from tests.web.browser import composer, in_browser, log_in, participants



def open_room(page, name):
    page.get_by_role("link", name=re.compile(name)).click()
    from playwright.sync_api import expect
    expect(composer(page)).to_be_visible()


def settings(page):
    page.get_by_role("button", name="Conversation settings").click()
    return page.get_by_role("dialog", name="Conversation settings")


@pytest.mark.usefixtures("browser_available")
async def test_moderator_renames_opens_protects_and_manages_people(users, p1):
    token = await p1.create_room(2, name="Planning")
    for user in ("participant2", "participant3"):
        assert (await p1.post(f"/room/{token}/participants", newParticipant=user)).status == 200

    def scenario(browser, url):
        from playwright.sync_api import expect
        page = browser.page("participant1", url)
        log_in(page, "participant1")
        open_room(page, "Planning")

        dialog = settings(page)
        dialog.get_by_label("Conversation name").fill("Planning Q3")
        dialog.get_by_role("button", name="Rename").click()
        expect(page.get_by_role("heading", name="Planning Q3")).to_be_visible()

        settings(page).get_by_label(re.compile("Anyone with the link can join")).check()
        expect(page.locator(".room-subtitle")).to_contain_text("Public")
        expect(page.get_by_role("button", name="Copy guest link")).to_be_visible()

        dialog = settings(page)
        dialog.get_by_label("Room password").fill("hunter2-but-longer")
        dialog.get_by_role("button", name="Set", exact=True).click()
        expect(page.locator(".room-subtitle")).to_contain_text("password protected")

        row = participants(page).filter(has_text="participant2-displayname")
        row.get_by_role("button", name="Actions for participant2-displayname").click()
        row.get_by_role("menuitem", name="Make moderator").click()
        expect(row).to_contain_text("Moderator")

        row = participants(page).filter(has_text="participant3-displayname")
        row.get_by_role("button", name="Actions for participant3-displayname").click()
        row.get_by_role("menuitem", name="Remove from conversation").click()
        expect(participants(page).filter(has_text="participant3-displayname")).to_have_count(0)
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)
    room = (await p1.get(f"/room/{token}")).data
    assert room["name"] == "Planning Q3" and room["type"] == 3 and room["hasPassword"] is True
    people = {p["userId"]: p["participantType"] for p in (await p1.get(f"/room/{token}/participants")).data}
    assert people == {"participant1": 1, "participant2": 2}


@pytest.mark.usefixtures("browser_available")
async def test_phone_width_layout_works_with_the_keyboard(users, p1):
    token = await p1.create_room(3, name="Phone check")

    def scenario(browser, url):
        from playwright.sync_api import expect
        page = browser.page("participant1", url, width=390, height=844)
        log_in(page, "participant1")
        no_sideways_scroll = "() => document.documentElement.scrollWidth <= window.innerWidth"
        assert page.evaluate(no_sideways_scroll)
        # Reach the room from the keyboard alone.
        link = page.get_by_role("link", name=re.compile("Phone check"))
        link.focus()
        page.keyboard.press("Enter")
        expect(composer(page)).to_be_focused()
        assert page.evaluate(no_sideways_scroll)
        expect(page.get_by_role("navigation", name="Conversations")).to_be_hidden()
        page.get_by_role("button", name="Show participants").click()
        expect(participants(page)).to_have_count(1)
        page.get_by_role("button", name="Back to conversations").click()
        expect(page.get_by_role("navigation", name="Conversations")).to_be_visible()
        # Every control has an accessible name.
        unnamed = page.evaluate("""() => [...document.querySelectorAll('button, a, input, textarea')]
            .filter(el => !el.closest('[hidden]') && !(el.getAttribute('aria-label') || el.labels?.length
                   || el.textContent.trim() || el.title)).map(el => el.outerHTML)""")
        assert unnamed == []
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)
    assert token
