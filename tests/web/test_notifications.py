"""Unread counts in the tab title and favicon, and browser notifications while the tab is hidden:
one-to-one messages and mentions, with the permission granted in the browser context; a click on
a notification opens its conversation. The page's visibility is switched by the test (Playwright
has no "hide the tab"), and Notification is wrapped so the test sees each one the page creates."""
from __future__ import annotations

import pytest
import trio

from tests.web.browser import composer, in_browser, log_in, messages, send_message

WATCH_NOTIFICATIONS = """
window.__hidden = false;
window.__notifications = [];
Object.defineProperty(document, "hidden", { configurable: true, get: () => window.__hidden });
Object.defineProperty(document, "visibilityState", { configurable: true,
  get: () => (window.__hidden ? "hidden" : "visible") });
if (window.Notification) {
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push({ title, body: options && options.body, tag: options && options.tag });
      window.__lastNotification = this;
    }
  };
}
"""
SET_HIDDEN = "(hidden) => { window.__hidden = hidden; document.dispatchEvent(new Event('visibilitychange')); }"
LIST_MS = 15_000   # the room list polls every 10 s


def watched_page(browser, name, url, grant=True):
    page = browser.page(name, url)
    if grant:
        page.context.grant_permissions(["notifications"], origin=url)
    page.context.add_init_script(WATCH_NOTIFICATIONS)
    return page


@pytest.mark.usefixtures("browser_available")
async def test_hidden_tab_notifies_one_to_one_messages_and_counts_them(users, p1):
    token = await p1.create_room(1, invite="participant2")

    def scenario(browser, url):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        two = watched_page(browser, "participant2", url)
        log_in(one, "participant1")
        log_in(two, "participant2")
        expect(two.get_by_role("button", name="Enable notifications")).to_be_hidden()   # already granted
        for page in (one, two):
            page.goto(f"/call/{token}")
            expect(page.locator(".room[data-signaling]")).to_have_count(1)
        send_message(one, "Seen while you look")
        expect(messages(two).last).to_contain_text("Seen while you look")
        assert two.evaluate("window.__notifications.length") == 0     # the tab is visible: no popup
        expect(two).to_have_title("participant1-displayname · Parley")

        two.evaluate(SET_HIDDEN, True)
        send_message(one, "Lunch at {noon}?")
        two.wait_for_function("() => window.__notifications.length === 1")
        shown = two.evaluate("window.__notifications[0]")
        assert shown == {"title": "participant1-displayname", "body": "Lunch at {noon}?", "tag": f"parley-{token}"}
        expect(two).to_have_title("(1) participant1-displayname · Parley")
        expect(two.locator("link[rel=icon]")).to_have_attribute("data-unread", "1")
        assert two.evaluate("document.querySelector('link[rel=icon]').href").startswith("data:image/png")

        two.evaluate(SET_HIDDEN, False)
        expect(two).to_have_title("participant1-displayname · Parley")
        expect(two.locator("link[rel=icon]")).not_to_have_attribute("data-unread", "1")
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)


@pytest.mark.usefixtures("browser_available")
async def test_mentions_notify_other_group_messages_only_count_and_a_click_opens_the_room(users, p1):
    token = await p1.create_room(2, name="Release")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200

    def scenario(browser, url, post, one_to_one):
        from playwright.sync_api import expect
        two = watched_page(browser, "participant2", url)
        log_in(two, "participant2")
        two.goto(f"/call/{token}")
        expect(two.locator(".room[data-signaling]")).to_have_count(1)
        two.evaluate(SET_HIDDEN, True)
        post(token, "No mention here")    # a group message without a mention: counted, no popup
        expect(two).to_have_title("(1) Release · Parley")
        post(token, "@participant2 can you check the build?")
        two.wait_for_function("() => window.__notifications.length === 1")
        shown = two.evaluate("window.__notifications[0]")
        assert shown["title"] == "participant1-displayname in Release"
        assert shown["body"] == "@participant2-displayname can you check the build?"
        expect(two).to_have_title("(2) Release · Parley")
        assert two.evaluate("window.__notifications.length") == 1

        # A one-to-one message in another conversation comes through the room list (10 s poll).
        other = one_to_one("Are you free for a call?")
        two.wait_for_function("() => window.__notifications.length === 2", timeout=LIST_MS)
        shown = two.evaluate("window.__notifications[1]")
        assert (shown["title"], shown["tag"]) == ("participant1-displayname", f"parley-{other}")
        expect(two).to_have_title("(3) Release · Parley")
        two.evaluate("window.__lastNotification.onclick(new Event('click'))")
        expect(two.get_by_role("heading", name="participant1-displayname")).to_be_visible()
        expect(messages(two)).to_have_count(1)
        expect(messages(two).last).to_contain_text("Are you free for a call?")
        two.evaluate(SET_HIDDEN, False)
        # Release's two messages arrived while the tab was hidden and were never shown: still unread.
        expect(two).to_have_title("(2) participant1-displayname · Parley")
        expect(two.get_by_role("link", name="Release").locator(".badge")).to_have_text("2", timeout=LIST_MS)
        browser.assert_no_console_errors()

    def post(room, text):
        trio.from_thread.run(_post, p1, room, text)

    def one_to_one(text):
        room = trio.from_thread.run(p1.create_room, 1, "participant2")
        post(room, text)
        return room

    await in_browser(scenario, users.url, post, one_to_one)


@pytest.mark.usefixtures("browser_available")
async def test_messages_a_poll_brings_after_the_tab_was_hidden_stay_unread(users, p1, p2):
    """A poll sent from a visible tab lets the server mark what it finds at once as read; when the
    tab hides before the answer comes (here: the poll is held until a post landed), the page puts
    the marker back, so the room still counts that message unread."""
    token = await p1.create_room(2, name="Held", invite="attendees1")

    def scenario(browser, url, post):
        from playwright.sync_api import expect
        two = watched_page(browser, "participant2", url)
        log_in(two, "participant2")
        held = []
        polls = lambda u: f"/chat/{token}?" in u and "lookIntoFuture=1" in u   # noqa: E731
        two.route(polls, lambda route: route.continue_() if held else held.append(route))   # the first only
        two.goto(f"/call/{token}")
        for _ in range(200):
            if held:
                break
            two.wait_for_timeout(50)
        assert held and "setReadMarker=1" in held[0].request.url   # sent while visible
        two.evaluate(SET_HIDDEN, True)
        post(token, "Arrived behind your back")
        # The page's correction is a request of its own after the render: wait for its answer
        # (the browser closes when the scenario returns, and would take it along).
        corrected = lambda r: r.url.endswith(f"/chat/{token}/read") and r.request.method == "POST"   # noqa: E731
        with two.expect_response(corrected):
            held[0].continue_()
        expect(messages(two).last).to_contain_text("Arrived behind your back")
        browser.assert_no_console_errors()

    def post(room, text):
        trio.from_thread.run(_post, p1, room, text)

    await in_browser(scenario, users.url, post)
    rooms = {room["token"]: room for room in (await p2.get("/room")).data}
    assert rooms[token]["unreadMessages"] == 1


async def _post(actor, token, text):
    r = await actor.post(f"/chat/{token}", message=text)
    assert r.status == 201, r.text


@pytest.mark.usefixtures("browser_available")
async def test_notification_permission_is_asked_from_a_click(users):
    def scenario(browser, url):
        from playwright.sync_api import expect
        page = watched_page(browser, "participant1", url, grant=False)
        log_in(page, "participant1")
        button = page.get_by_role("button", name="Enable notifications")
        expect(button).to_be_visible()
        page.context.grant_permissions(["notifications"], origin=url)
        button.click()                     # the request comes from the click, and is answered at once
        expect(button).to_be_hidden()
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)
