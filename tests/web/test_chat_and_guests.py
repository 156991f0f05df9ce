"""A user and guests in the browser: chat both ways, participant lists, guest passwords, unread."""
from __future__ import annotations

import re

import pytest
import trio

from tests.web.browser import (composer, in_browser, log_in, messages, participants, screenshot, send_message,
                               token_of)

LIST_MS = 15_000


@pytest.mark.usefixtures("browser_available")
async def test_user_and_guest_chat_both_ways_and_see_each_other(users):
    def scenario(browser, url):
        from playwright.sync_api import expect
        user = browser.page("participant1", url)
        log_in(user, "participant1")
        user.get_by_role("button", name="New conversation").click()
        user.get_by_label("Public").check()
        user.get_by_label("Name").fill("Design review")
        user.get_by_role("button", name="Create").click()
        expect(composer(user)).to_be_focused()
        token = token_of(user)
        send_message(user, "Welcome! The mockups are in the shared folder.")

        guest = browser.page("guest", url)
        guest.goto(f"/call/{token}")
        expect(guest.get_by_role("heading", name="Design review")).to_be_visible()
        guest.get_by_label("Your name").fill("Grace")
        guest.get_by_role("button", name="Join conversation").click()
        expect(messages(guest)).to_have_count(1)
        expect(messages(guest).first).to_contain_text("Welcome! The mockups are in the shared folder.")
        expect(messages(guest).first).to_contain_text("participant1-displayname")
        # A guest's ticket has no user: the WebSocket hello takes userid null all the same.
        expect(guest.locator(".room")).to_have_attribute("data-signaling", "websocket")

        send_message(guest, "Thanks, looking at them now.")
        expect(messages(user)).to_have_count(2)
        expect(messages(user).last).to_contain_text("Grace")
        expect(messages(user).last).to_contain_text("Thanks, looking at them now.")
        send_message(user, "Great, tell me what you think.")
        expect(messages(guest).last).to_contain_text("Great, tell me what you think.")

        # Lists follow signaling at once; the 10 s refresh is the fallback, hence the longer wait.
        expect(participants(user).filter(has_text="Grace")).to_have_count(1, timeout=LIST_MS)
        expect(participants(user).filter(has_text="Grace")).to_contain_text("Guest")
        expect(participants(guest).filter(has_text="participant1-displayname")).to_contain_text("Owner",
                                                                                                timeout=LIST_MS)
        expect(participants(guest).filter(has_text="Grace (you)")).to_have_count(1)

        # A moderator adds someone, then mentions them through the autocomplete.
        user.get_by_label("Add a participant").fill("participant2")
        user.get_by_role("button", name="Add", exact=True).click()
        expect(participants(user).filter(has_text="participant2-displayname")).to_have_count(1)
        composer(user).fill("Also looping in @part")
        option = user.get_by_role("option", name=re.compile("participant2-displayname"))
        expect(option).to_be_visible()
        composer(user).press("Enter")
        expect(composer(user)).to_have_value("Also looping in @participant2 ")
        composer(user).press("Enter")
        expect(messages(user).last.locator(".mention")).to_have_text("@participant2-displayname")
        expect(messages(guest).last.locator(".mention")).to_have_text("@participant2-displayname")
        user.evaluate("document.getElementById('toasts').replaceChildren()")   # a tidy picture for the README
        screenshot(user, "room.png")
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)


@pytest.mark.usefixtures("browser_available")
async def test_guest_needs_the_room_password(users, p1):
    token = await p1.create_room(3, name="Board meeting")
    r = await p1.put(f"/room/{token}/password", password="s3cret-pass")
    assert r.status == 200

    def scenario(browser, url):
        from playwright.sync_api import expect
        guest = browser.page("guest", url)
        guest.goto(f"/call/{token}")
        guest.get_by_label("Your name").fill("Gus")
        guest.get_by_label("Conversation password").fill("not-the-password")
        guest.get_by_role("button", name="Join conversation").click()
        expect(guest.get_by_role("alert")).to_have_text("Wrong password. Try again.")
        expect(composer(guest)).to_have_count(0)

        guest.get_by_label("Conversation password").fill("s3cret-pass")
        guest.get_by_role("button", name="Join conversation").click()
        expect(composer(guest)).to_be_visible()
        send_message(guest, "Made it in.")
        expect(messages(guest).last).to_contain_text("Made it in.")
        # The refused attempt is the only error the console may show: the browser logs the 403.
        browser.assert_no_console_errors(allowed=lambda e: "status of 403" in e.text
                                         and e.url.endswith(f"/room/{token}/participants/active"))

    await in_browser(scenario, users.url)
    r = await p1.get(f"/room/{token}/participants")
    assert [p["displayName"] for p in r.data if p["participantType"] == 4] == ["Gus"]


@pytest.mark.usefixtures("browser_available")
async def test_room_list_follows_changes_and_marks_unread(users, p1):
    def scenario(browser, url, create_room_and_chat):
        from playwright.sync_api import expect
        user = browser.page("participant2", url)
        log_in(user, "participant2")
        expect(user.get_by_text("No conversations yet.")).to_be_visible()
        create_room_and_chat()
        room = user.get_by_role("link", name=re.compile("participant1-displayname"))
        expect(room).to_be_visible(timeout=15_000)            # the list polls every 10 s
        expect(room.locator(".badge")).to_have_text("2")
        room.click()
        expect(user.get_by_role("separator")).to_have_text("New messages")
        expect(messages(user)).to_have_count(2)
        expect(room.locator(".badge")).to_have_count(0)
        browser.assert_no_console_errors()

    def create_room_and_chat():
        trio.from_thread.run(_one_to_one_with_two_messages, p1)

    await in_browser(scenario, users.url, create_room_and_chat)


async def _one_to_one_with_two_messages(p1):
    token = await p1.create_room(1, invite="participant2")
    for text in ("Are you around?", "I have a question about the release."):
        r = await p1.post(f"/chat/{token}", message=text)
        assert r.status == 201



@pytest.mark.usefixtures("browser_available")
async def test_an_older_room_answer_arriving_last_does_not_undo_a_newer_one(users, p1, p2):
    """The open room refreshes on every participants event; under load the answers can arrive out
    of order. Here the answer to a refresh asked before p2 started a call is held until the
    refresh after it has shown "Join call": it must not put "Start call" back."""
    token = await p1.create_room(2, name="Ordered", invite="attendees1")

    def scenario(browser, url, act):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        log_in(one, "participant1")
        one.goto(f"/call/{token}")
        expect(one.locator(".room[data-signaling]")).to_have_count(1)
        held = []

        def hold_first(route):
            if held or route.request.method != "GET":
                route.continue_()
            else:
                held.append((route, route.fetch()))   # the server's answer now, delivered later
        one.route(lambda u: u.split("?")[0].endswith(f"/room/{token}"), hold_first)
        act("join")            # p2's session: an event, and a refresh whose answer is held
        for _ in range(200):
            if held:
                break
            one.wait_for_timeout(50)
        assert held, "the page did not refresh the room after p2 joined"
        assert held[0][1].json()["ocs"]["data"]["hasCall"] is False
        act("call")            # p2 starts a call: the next refresh shows it
        expect(one.get_by_role("button", name="Join call")).to_be_visible(timeout=15_000)
        with one.expect_response(lambda r: r.url.split("?")[0].endswith(f"/room/{token}")):
            held[0][0].fulfill(response=held[0][1])
        one.wait_for_timeout(300)   # let the page handle it (an undo would show by then)
        expect(one.get_by_role("button", name="Join call")).to_be_visible()
        browser.assert_no_console_errors()

    def act(what):
        async def run():
            if what == "join":
                assert (await p2.join(token)).status == 200
            else:
                assert (await p2.post(f"/call/{token}")).status == 200
        trio.from_thread.run(run)

    await in_browser(scenario, users.url, act)
