"""Two users in a call: each sees the other's video over a connected RTCPeerConnection, with
signaling over the WebSocket (the default), over polling (websocket = false), and mixed."""
from __future__ import annotations

import re

import pytest
import trio

from tests.web.browser import in_browser, log_in, screenshot, send_message


REMOTE_VIDEO_STATE = """() => [...document.querySelectorAll('.tile:not(.tile-local)')].map(tile => ({
    state: tile.dataset.connectionState, width: tile.querySelector('video').videoWidth,
    time: tile.querySelector('video').currentTime, audio: tile.dataset.audio || 'on',
    name: tile.querySelector('figcaption').textContent}))"""


def remote_video_plays(page, name):
    """The one remote tile shows `name`, its peer connection is connected, and its video plays."""
    from playwright.sync_api import expect
    expect(page.locator(".tile:not(.tile-local)")).to_have_count(1)
    expect(page.locator(".tile:not(.tile-local)")).to_have_attribute("data-connection-state", "connected",
                                                                     timeout=20_000)
    page.wait_for_function("() => { const v = document.querySelector('.tile:not(.tile-local) video');"
                           " return v && v.videoWidth > 0 && v.currentTime > 0; }", timeout=20_000)
    first = page.evaluate(REMOTE_VIDEO_STATE)[0]
    page.wait_for_timeout(1000)
    second = page.evaluate(REMOTE_VIDEO_STATE)[0]
    assert first["name"] == name
    assert second["width"] > 0
    assert second["time"] > first["time"], (first, second)   # frames keep arriving
    return second


def count_signaling_pulls(page, token: str) -> list[str]:
    """Record every `GET /signaling/{token}` (a polling pull) the page makes."""
    pulls: list[str] = []
    page.on("request", lambda r: r.method == "GET" and r.url.split("?")[0].endswith(f"/signaling/{token}")
            and pulls.append(r.url))
    return pulls


def force_polling(page) -> None:
    """The client's switch for polling even when the server offers a WebSocket."""
    page.context.add_init_script("localStorage.setItem('parley.signaling', 'polling')")


@pytest.mark.usefixtures("browser_available")
@pytest.mark.parametrize("server_options, transport", [({}, "websocket"), ({"websocket": False}, "polling")],
                         ids=["websocket", "polling"])
async def test_two_users_call_and_see_each_others_video(users, p1, transport):
    token = await p1.create_room(2, name="Weekly sync")
    r = await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    assert r.status == 200

    def scenario(browser, url):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        two = browser.page("participant2", url)
        pulls = {page: count_signaling_pulls(page, token) for page in (one, two)}
        for page, user in ((one, "participant1"), (two, "participant2")):
            log_in(page, user)
            page.get_by_role("link", name=re.compile("Weekly sync")).click()
            expect(page.get_by_role("heading", name="Weekly sync")).to_be_visible()
            expect(page.locator(".room")).to_have_attribute("data-signaling", transport)

        one.get_by_role("button", name="Start call").click()
        expect(one.locator(".tile-local")).to_have_count(1)
        expect(two.get_by_role("button", name="Join call")).to_be_visible(timeout=15_000)
        two.get_by_role("button", name="Join call").click()

        remote_video_plays(one, "participant2-displayname")
        remote_video_plays(two, "participant1-displayname")
        expect(one.locator(".person", has_text="participant2-displayname")).to_contain_text("in call")
        send_message(two, "Can you see me now?")
        expect(one.locator(".message").last).to_contain_text("Can you see me now?")
        send_message(one, "Loud and clear!")
        expect(two.locator(".message").last).to_contain_text("Loud and clear!")
        screenshot(one, "call.png")

        # Muting tells the other side; leaving removes the tile there.
        one.get_by_role("button", name="Mute microphone").click()
        expect(two.locator(".tile:not(.tile-local)")).to_have_attribute("data-audio", "off")
        expect(one.get_by_role("button", name="Unmute microphone")).to_be_visible()
        two.get_by_role("button", name="Leave call").first.click()
        expect(one.locator(".tile:not(.tile-local)")).to_have_count(0, timeout=15_000)
        expect(two.locator(".tile")).to_have_count(0)
        browser.assert_no_console_errors()
        for page in (one, two):
            if transport == "websocket":
                assert pulls[page] == [], "a WebSocket client must not pull signaling over HTTP"
            else:
                assert pulls[page], "a polling client pulls signaling over HTTP"

    await in_browser(scenario, users.url)


@pytest.mark.usefixtures("browser_available")
async def test_websocket_and_polling_clients_call_each_other(users, p1):
    """One browser on the WebSocket, the other forced to polling: the hub relays between them."""
    token = await p1.create_room(2, name="Mixed call")
    r = await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    assert r.status == 200
    seen: dict[str, int] = {}

    def scenario(browser, url):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        two = browser.page("participant2", url)
        force_polling(two)
        pulls = {page: count_signaling_pulls(page, token) for page in (one, two)}
        for page, user, transport in ((one, "participant1", "websocket"), (two, "participant2", "polling")):
            log_in(page, user)
            page.get_by_role("link", name=re.compile("Mixed call")).click()
            expect(page.get_by_role("heading", name="Mixed call")).to_be_visible()
            expect(page.locator(".room")).to_have_attribute("data-signaling", transport)

        two.get_by_role("button", name="Start call").click()
        expect(one.get_by_role("button", name="Join call")).to_be_visible(timeout=15_000)
        one.get_by_role("button", name="Join call").click()
        remote_video_plays(one, "participant2-displayname")
        remote_video_plays(two, "participant1-displayname")
        seen["websocket_sessions"] = users.app.parley_ctx.hub.statistics().websocket_sessions

        # The server drops the WebSocket: the client resumes its session, and what it sends while
        # away (a mute) still reaches the polling peer.
        session_id = one.locator(".tile-local").get_attribute("data-session")
        dropped = trio.from_thread.run(drop_websocket, users, session_id)
        one.get_by_role("button", name="Mute microphone").click()
        expect(two.locator(".tile:not(.tile-local)")).to_have_attribute("data-audio", "off")
        expect(one.locator(".room")).to_have_attribute("data-signaling", "websocket")
        seen["resumed"] = trio.from_thread.run(resumed_on_a_new_socket, users, session_id, dropped)

        one.get_by_role("button", name="Leave call").first.click()
        expect(two.locator(".tile:not(.tile-local)")).to_have_count(0, timeout=15_000)
        browser.assert_no_console_errors()
        assert pulls[one] == [] and pulls[two]

    await in_browser(scenario, users.url)
    assert seen["websocket_sessions"] == 1
    assert seen["resumed"]


async def drop_websocket(server, talk_session: str) -> object:
    """Close the WebSocket that serves `talk_session` from the server's side (a network drop);
    returns the connection that was closed."""
    session = server.app.parley_ctx.hub.websockets.by_talk_session(talk_session)
    connection = session.connection
    await connection._close(1011)
    return connection


async def resumed_on_a_new_socket(server, talk_session: str, dropped: object) -> bool:
    """The same signaling session (same Talk session), now served by another connection."""
    session = server.app.parley_ctx.hub.websockets.by_talk_session(talk_session)
    return session is not None and session.connection is not None and session.connection is not dropped



@pytest.mark.usefixtures("browser_available")
@pytest.mark.parametrize("server_options", [{"public_url": "http://127.0.0.1:9"}])
async def test_unreachable_websocket_falls_back_to_polling(users, p1):
    """/signaling/settings names a WebSocket nobody answers on: the room opens over polling."""
    token = await p1.create_room(2, name="Fallback")
    r = await p1.post(f"/room/{token}/participants", newParticipant="participant2")
    assert r.status == 200

    def scenario(browser, url):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        two = browser.page("participant2", url)
        for page, user in ((one, "participant1"), (two, "participant2")):
            log_in(page, user)
            page.get_by_role("link", name=re.compile("Fallback")).click()
            expect(page.locator(".room")).to_have_attribute("data-signaling", "polling")
        one.get_by_role("button", name="Start call").click()
        expect(two.get_by_role("button", name="Join call")).to_be_visible(timeout=15_000)
        two.get_by_role("button", name="Join call").click()
        remote_video_plays(one, "participant2-displayname")
        remote_video_plays(two, "participant1-displayname")
        # Chromium reports the refused socket itself; nothing else may go wrong.
        browser.assert_no_console_errors(lambda e: "WebSocket connection to 'ws://127.0.0.1:9/spreed'" in e.text)

    await in_browser(scenario, users.url)
