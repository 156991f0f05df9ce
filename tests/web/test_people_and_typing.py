"""Finding people by name (new one-to-one chats, adding users and groups) and typing indicators
between two browsers, over both signaling transports."""
from __future__ import annotations

import pytest

from tests.support import PASSWORD
from tests.web.browser import composer, in_browser, log_in, messages, participants, send_message


async def _add_alice(users):
    admin = users.actor("admin", password="admin")
    r = await admin.post("/cloud/users", prefix="/ocs/v2.php", userid="alice", password=PASSWORD,
                         displayName="Alice Liddell")
    assert r.status == 200, r.text


@pytest.mark.usefixtures("browser_available")
async def test_people_search_starts_one_to_one_chats_and_adds_users_and_groups(users, p1):
    await _add_alice(users)
    group_room = await p1.create_room(2, name="Planning")

    def scenario(browser, url):
        from playwright.sync_api import expect
        page = browser.page("participant1", url)
        log_in(page, "participant1")
        # A one-to-one chat with someone found by a piece of their display name.
        page.get_by_role("button", name="New conversation").click()
        page.get_by_label("One-to-one").check()
        page.get_by_role("combobox", name="Person").fill("lidd")
        option = page.get_by_role("option", name="Alice Liddell")
        expect(option).to_be_visible()
        expect(page.get_by_role("option")).to_have_count(1)
        page.get_by_role("combobox", name="Person").press("Enter")
        expect(page.get_by_role("heading", name="Alice Liddell")).to_be_visible()
        expect(participants(page).filter(has_text="Alice Liddell")).to_have_count(1)

        # Adding to a group room: by display name with the mouse, then a whole group by keyboard.
        page.goto(f"/call/{group_room}")
        expect(page.locator(".room[data-signaling]")).to_have_count(1)   # ready: the composer took the focus
        add = page.get_by_role("combobox", name="Add a participant")
        add.fill("Alice")
        page.get_by_role("option", name="Alice Liddell").click()
        expect(participants(page).filter(has_text="Alice Liddell")).to_have_count(1)
        add.fill("alic")   # people already in the room are not offered again
        expect(page.get_by_role("option")).to_have_text("Nobody found for “alic”")
        add.fill("attendees")
        expect(page.get_by_role("option", name="attendees1")).to_contain_text("Group")
        add.press("ArrowDown")
        add.press("Enter")
        expect(participants(page).filter(has_text="participant2-displayname")).to_have_count(1)
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)
    rooms = {r["displayName"]: r for r in await p1.rooms()}
    assert rooms["Alice Liddell"]["type"] == 1
    people = sorted(p["userId"] for p in (await p1.get(f"/room/{group_room}/participants")).data)
    assert people == ["alice", "participant1", "participant2"]


@pytest.mark.usefixtures("browser_available")
@pytest.mark.parametrize("server_options, transport", [({}, "websocket"), ({"websocket": False}, "polling")],
                         ids=["websocket", "polling"])
async def test_typing_indicator_appears_and_clears_on_send_and_on_emptying(users, p1, transport):
    token = await p1.create_room(2, name="Typing")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200

    def scenario(browser, url):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        two = browser.page("participant2", url)
        for page, user in ((one, "participant1"), (two, "participant2")):
            log_in(page, user)
            page.goto(f"/call/{token}")
            expect(page.locator(".room")).to_have_attribute("data-signaling", transport)
        expect(participants(one).filter(has_text="participant2-displayname")).to_have_class(
            "person online", timeout=15_000)
        indicator = two.locator(".typing-indicator")
        expect(indicator).to_be_empty()
        composer(one).press_sequentially("Hello the")
        expect(indicator).to_have_text("participant1-displayname is typing…")
        expect(one.locator(".typing-indicator")).to_be_empty()   # never about ourselves
        composer(one).press_sequentially("re")
        composer(one).press("Enter")
        expect(messages(two).last).to_contain_text("Hello there")
        expect(indicator).to_be_empty()

        composer(two).press_sequentially("a draft")
        expect(one.locator(".typing-indicator")).to_have_text("participant2-displayname is typing…")
        composer(two).fill("")
        composer(two).dispatch_event("input")
        expect(one.locator(".typing-indicator")).to_be_empty()
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)
