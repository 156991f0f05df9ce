"""Six Chromium participants (one browser, six contexts, fake 160×120 video at 10 fps) hold one
call through Parley and a real Janus: each publishes once and sees the other five playing; then
three leave and the other three keep playing each other's video."""
from __future__ import annotations

import re

import trio

from server.domain import accounts
from tests.sfu_support import write_y4m
from tests.support import PASSWORD
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, Browser, log_in, require_browser

from ..signaling_helpers import custom_server

REMOTE = """() => [...document.querySelectorAll('.tile:not(.tile-local)')].map(tile => ({
    session: tile.dataset.session, state: tile.dataset.connectionState,
    width: tile.querySelector('video').videoWidth, time: tile.querySelector('video').currentTime}))"""


def all_playing(page, count: int) -> None:
    """`count` remote tiles, each connected with its video decoding, and their time advancing."""
    page.wait_for_function(
        f"() => {{ const t = [...document.querySelectorAll('.tile:not(.tile-local) video')];"
        f" return t.length === {count} && t.every(v => v.videoWidth > 0 && v.currentTime > 0); }}",
        timeout=90_000)
    first = {t["session"]: t for t in page.evaluate(REMOTE)}
    page.wait_for_timeout(1500)
    second = {t["session"]: t for t in page.evaluate(REMOTE)}
    assert set(first) == set(second) and len(second) == count, (first, second)
    for session, tile in second.items():
        assert tile["width"] == 160 and tile["state"] == "connected", tile
        assert tile["time"] > first[session]["time"], (first[session], tile)


async def test_six_browsers_through_janus_each_see_five_then_three_leave(janus, tmp_path):
    require_browser()
    camera = write_y4m(tmp_path / "camera.y4m")
    async with custom_server(tmp_path, janus_url=janus.url, stun_servers=()) as server:
        for n in (4, 5, 6):
            await accounts.add_user(server.ctx, f"participant{n}", PASSWORD, f"participant{n}-displayname")
        owner = server.actor("participant1")
        token = await owner.create_room(2, name="Big call")
        for n in range(2, 7):
            assert (await owner.post(f"/room/{token}/participants", newParticipant=f"participant{n}")).status == 200
        sfu = server.ctx.hub.sfu
        seen: dict[str, object] = {}

        def scenario(url: str) -> None:
            from playwright.sync_api import expect, sync_playwright
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                    *CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera}",
                    "--disable-features=WebRtcHideLocalIpsWithMdns"])
                try:
                    browser = Browser(chromium)
                    pages = [browser.page(f"participant{n}", url, width=960, height=640) for n in range(1, 7)]
                    for n, page in enumerate(pages, 1):
                        log_in(page, f"participant{n}")
                        page.get_by_role("link", name=re.compile("Big call")).click()
                        expect(page.get_by_role("heading", name="Big call")).to_be_visible()
                        label = "Start call" if n == 1 else "Join call"
                        page.get_by_role("button", name=label).click(timeout=30_000)
                        expect(page.locator(".tile-local")).to_have_count(1)
                    for page in pages:
                        all_playing(page, 5)
                    seen["handles"] = trio.from_thread.run_sync(sfu.handle_count)
                    seen["publishers"] = len(trio.from_thread.run(sfu.list_participants, token))
                    for page in pages[3:]:
                        page.get_by_role("button", name="Leave call").first.click()
                    for page in pages[:3]:
                        expect(page.locator(".tile:not(.tile-local)")).to_have_count(2, timeout=30_000)
                        all_playing(page, 2)
                    seen["handles_after"] = trio.from_thread.run_sync(sfu.handle_count)
                    seen["publishers_after"] = len(trio.from_thread.run(sfu.list_participants, token))
                    browser.assert_no_console_errors()
                finally:
                    chromium.close()

        await trio.to_thread.run_sync(scenario, server.url)
        assert seen["handles"] == 6 + 6 * 5 and seen["publishers"] == 6
        assert seen["handles_after"] == 3 + 3 * 2 and seen["publishers_after"] == 3
