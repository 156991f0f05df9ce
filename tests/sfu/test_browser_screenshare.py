"""Screen sharing through a real Janus: Chromium participants in an SFU call, one shares its (fake)
screen. It is published once, as a second publisher of the videoroom; the others (one of them
joining the call after the share began) get it from the SFU, shown large and playing; stopping the
share removes their tiles and every Janus handle of the screen, while the camera call goes on."""
from __future__ import annotations

import re
import time

import trio

from tests.sfu_support import write_y4m
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, Browser, log_in, require_browser

from ..signaling_helpers import custom_server

CAMERAS = ".stage .tile:not(.tile-local) video"
SCREEN = ".screen-stage .tile-screen:not(.tile-screen-local) video"


def playing(page, selector: str, count: int) -> None:
    """`count` videos matching `selector`, all decoding, and their time advancing."""
    page.wait_for_function(
        f"() => {{ const v = [...document.querySelectorAll({selector!r})];"
        f" return v.length === {count} && v.every(x => x.videoWidth > 0 && x.currentTime > 0); }}",
        timeout=90_000)
    times = f"() => [...document.querySelectorAll({selector!r})].map(v => v.currentTime)"
    first = page.evaluate(times)
    page.wait_for_function(f"() => ({times})().every((t, i) => t > {first}[i])", timeout=15_000)


def screen_state(sfu, token: str) -> dict[str, object]:
    """What the SFU holds for screens in this call, and what Janus lists as publishers."""
    room = sfu.rooms.get(token)
    publishers = [k for k in room.publishers if k[1] == "screen"] if room else []
    subscribers = [k for k in room.subscribers if k[2] == "screen"] if room else []
    return {"handles": sfu.handle_count(), "screen_publishers": len(publishers),
            "screen_subscribers": len(subscribers)}


def wait_for(check, what: str, timeout: float = 30.0):
    """Re-read state owned by the trio thread until `check()` is truthy (the SFU works asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, what
            return value
        time.sleep(0.2)


async def test_a_screen_shared_through_janus_is_seen_by_the_others_and_freed_when_it_stops(janus, tmp_path):
    require_browser()
    camera = write_y4m(tmp_path / "camera.y4m")
    async with custom_server(tmp_path, janus_url=janus.url, stun_servers=()) as server:
        owner = server.actor("participant1")
        token = await owner.create_room(2, name="Screen call")
        for n in (2, 3):
            assert (await owner.post(f"/room/{token}/participants", newParticipant=f"participant{n}")).status == 200
        sfu = server.ctx.hub.sfu
        seen: dict[str, object] = {}

        def state() -> dict[str, object]:
            return trio.from_thread.run_sync(screen_state, sfu, token)

        def displays() -> list[str]:
            return [p.get("display", "") for p in trio.from_thread.run(sfu.list_participants, token) or []]

        def scenario(url: str) -> None:
            from playwright.sync_api import expect, sync_playwright
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                    *CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera}",
                    "--disable-features=WebRtcHideLocalIpsWithMdns"])
                try:
                    browser = Browser(chromium)
                    pages = [browser.page(f"participant{n}", url, width=960, height=640) for n in (1, 2, 3)]

                    def join(n: int) -> None:
                        page = pages[n - 1]
                        log_in(page, f"participant{n}")
                        page.get_by_role("link", name=re.compile("Screen call")).click()
                        expect(page.get_by_role("heading", name="Screen call")).to_be_visible()
                        page.get_by_role("button", name="Start call" if n == 1 else "Join call").click(timeout=30_000)
                        expect(page.locator(".tile-local")).to_have_count(1)

                    join(1)
                    join(2)
                    for page in pages[:2]:
                        playing(page, CAMERAS, 1)
                    seen["before"] = state()

                    sharer, viewers = pages[0], pages[1:]
                    sharer.get_by_role("button", name="Share your screen").click()
                    expect(sharer.get_by_role("button", name="Stop sharing the screen")).to_have_attribute(
                        "aria-pressed", "true")
                    playing(pages[1], SCREEN, 1)
                    join(3)             # a latecomer gets the screen too
                    for page in pages:
                        playing(page, CAMERAS, 2)
                    seen["three"] = wait_for(lambda: (s := state())["handles"] == 3 + 3 * 2 + 1 + 2 and s,
                                             "three cameras and the screen to two viewers")
                    for page in viewers:
                        screen = page.locator(".screen-stage .tile-screen")
                        expect(screen).to_have_count(1, timeout=30_000)
                        expect(screen).to_contain_text("participant1-displayname's screen")
                        playing(page, SCREEN, 1)
                        # Shown large, like the mesh share: wider than a camera tile.
                        assert screen.bounding_box()["width"] > page.locator(".stage .tile").first.bounding_box()["width"]
                    seen["sharing"] = wait_for(lambda: (s := state())["screen_subscribers"] == 2 and s,
                                               "both viewers subscribed to the screen")
                    seen["displays"] = displays()
                    # The sharer's one screen connection goes to Janus.
                    seen["publish_state"] = sharer.evaluate(
                        "() => document.querySelector('.screen-stage .tile-screen-local').dataset.publishState")

                    sharer.get_by_role("button", name="Stop sharing the screen").click()
                    for page in viewers:
                        expect(page.locator(".screen-stage .tile-screen")).to_have_count(0, timeout=30_000)
                        expect(page.locator(".screen-stage")).to_be_hidden()
                    expect(sharer.locator(".screen-stage .tile-screen")).to_have_count(0)
                    seen["after"] = wait_for(lambda: (s := state())["handles"] == 3 + 3 * 2 and s,
                                             "the screen's Janus handles are freed")
                    # Janus drops a detached publisher from its list a moment later.
                    seen["displays_after"] = wait_for(lambda: len(d := displays()) == 3 and d,
                                                      "Janus lists the three cameras only")
                    for page in pages:      # the camera call goes on
                        playing(page, CAMERAS, 2)
                    browser.assert_no_console_errors()
                finally:
                    chromium.close()

        await trio.to_thread.run_sync(scenario, server.url)
        assert seen["before"] == {"handles": 2 + 2 * 1, "screen_publishers": 0, "screen_subscribers": 0}
        assert seen["three"] == {"handles": 3 + 3 * 2 + 1 + 2, "screen_publishers": 1, "screen_subscribers": 2}
        assert seen["sharing"] == {"handles": 3 + 3 * 2 + 1 + 2, "screen_publishers": 1, "screen_subscribers": 2}
        assert seen["publish_state"] == "connected"
        assert len(seen["displays"]) == 4 and sum(d.endswith(" screen") for d in seen["displays"]) == 1, seen
        assert seen["after"] == {"handles": 3 + 3 * 2, "screen_publishers": 0, "screen_subscribers": 0}
        assert len(seen["displays_after"]) == 3 and not any(d.endswith(" screen") for d in seen["displays_after"])


def test_only_an_unshare_to_oneself_goes_to_the_sfu():
    """`unshareScreen` to a viewer must reach the viewer (its tile goes); to oneself it is the SFU's."""
    from signaling.sfu.controller import SfuController
    assert SfuController.intercepts({"type": "unshareScreen"}, "me", "me")
    assert not SfuController.intercepts({"type": "unshareScreen"}, "me", "viewer")
    assert not SfuController.intercepts({"type": "unshareScreen"})
    assert SfuController.intercepts({"type": "sendoffer", "roomType": "screen"}, "me", "viewer")
    assert not SfuController.intercepts({"type": "mute"}, "me", "me")
