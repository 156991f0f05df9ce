"""Call features between two browsers: a shared screen seen large by the other side, who is
speaking, mute state, switching camera and microphone during the call, and a grid of 9 tiles."""
from __future__ import annotations

import pytest

from tests.web.browser import in_browser, log_in, screenshot
from tests.web.test_calls import remote_video_plays

REMOTE = ".stage .tile:not(.tile-local)"
VIDEO_TIME = "() => document.querySelector('.stage .tile:not(.tile-local) video').currentTime"


def join_call(one, two, token):
    from playwright.sync_api import expect
    for page, user in ((one, "participant1"), (two, "participant2")):
        log_in(page, user)
        page.goto(f"/call/{token}")
        expect(page.locator(".room[data-signaling]")).to_have_count(1)
    one.get_by_role("button", name="Start call").click()
    expect(one.locator(".tile-local")).to_have_count(1)
    expect(two.get_by_role("button", name="Join call")).to_be_visible(timeout=15_000)
    two.get_by_role("button", name="Join call").click()
    remote_video_plays(one, "participant2-displayname")
    remote_video_plays(two, "participant1-displayname")


def video_keeps_playing(page):
    first = page.evaluate(VIDEO_TIME)
    page.wait_for_function(f"() => ({VIDEO_TIME})() > {first} + 0.5", timeout=15_000)


@pytest.mark.usefixtures("browser_available")
async def test_a_shared_screen_is_seen_large_by_the_other_side(users, p1):
    token = await p1.create_room(2, name="Demo")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200

    def scenario(browser, url):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        two = browser.page("participant2", url)
        join_call(one, two, token)
        one.get_by_role("button", name="Share your screen").click()
        expect(one.get_by_role("button", name="Stop sharing the screen")).to_have_attribute("aria-pressed", "true")
        screen = two.locator(".screen-stage .tile-screen")
        expect(screen).to_have_count(1)
        expect(screen).to_contain_text("participant1-displayname's screen")
        two.wait_for_function("() => { const v = document.querySelector('.screen-stage video');"
                              " return v && v.videoWidth > 0 && v.currentTime > 0; }", timeout=20_000)
        # Shown large: wider than the camera tile of the same person.
        screen_box = screen.bounding_box()
        tile_box = two.locator(REMOTE).bounding_box()
        assert screen_box["width"] > tile_box["width"] and screen_box["height"] > tile_box["height"], (screen_box, tile_box)
        two.evaluate("document.getElementById('toasts').replaceChildren()")
        screenshot(two, "screenshare.png")

        one.get_by_role("button", name="Stop sharing the screen").click()
        expect(screen).to_have_count(0)
        expect(two.locator(".screen-stage")).to_be_hidden()
        # The camera call goes on.
        video_keeps_playing(two)
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)


@pytest.mark.usefixtures("browser_available")
async def test_speaking_mute_and_switching_devices_during_a_call(users, p1):
    token = await p1.create_room(2, name="Standup")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200

    def scenario(browser, url):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        two = browser.page("participant2", url)
        join_call(one, two, token)
        # Chromium's fake microphone beeps: its level reaches the other side as "speaking".
        expect(two.locator(REMOTE)).to_have_class("tile speaking", timeout=15_000)

        one.get_by_role("button", name="Mute microphone").click()
        expect(two.locator(REMOTE)).to_have_attribute("data-audio", "off")
        expect(two.locator(f"{REMOTE} .tile-muted")).to_be_visible()
        expect(two.locator(REMOTE)).not_to_have_class("tile speaking")
        one.get_by_role("button", name="Unmute microphone").click()
        expect(two.locator(REMOTE)).to_have_attribute("data-audio", "on")

        # Switch camera and microphone in the dialog; the other side keeps receiving video.
        one.get_by_role("button", name="Camera and microphone").click()
        dialog = one.get_by_role("dialog", name="Camera and microphone")
        camera = dialog.get_by_label("Camera")
        expect(camera.locator("option")).to_have_count(2)   # listed once the devices are enumerated
        camera.select_option(label="fake_device_1")
        one.wait_for_function("() => document.querySelector('.tile-local video').srcObject"
                              ".getVideoTracks()[0].label === 'fake_device_1'")
        dialog.get_by_label("Microphone").select_option(label="Fake Audio Input 1")
        one.wait_for_function("() => document.querySelector('.tile-local video').srcObject"
                              ".getAudioTracks()[0].label === 'Fake Audio Input 1'")
        dialog.get_by_role("button", name="Done").click()
        expect(dialog).to_have_count(0)
        video_keeps_playing(two)
        expect(two.locator(REMOTE)).to_have_class("tile speaking", timeout=15_000)   # the new microphone is heard
        # The choice is remembered for the next call.
        assert one.evaluate("localStorage.getItem('parley.camera')") == camera_id(one, "fake_device_1")
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)


def camera_id(page, label):
    return page.evaluate("async (label) => (await navigator.mediaDevices.enumerateDevices())"
                         ".find((d) => d.label === label).deviceId", label)


@pytest.mark.usefixtures("browser_available")
async def test_the_grid_keeps_nine_tiles_readable(users, p1):
    token = await p1.create_room(2, name="All hands")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200

    def scenario(browser, url):
        one = browser.page("participant1", url)
        two = browser.page("participant2", url)
        join_call(one, two, token)
        # Seven more copies of the remote tile stand in for seven more people.
        boxes = one.evaluate("""() => {
            const stage = document.querySelector('.stage');
            const remote = stage.querySelector('.tile:not(.tile-local)');
            for (let i = 0; i < 7; i++) stage.append(remote.cloneNode(true));
            stage.dataset.count = String(stage.children.length);
            const s = stage.getBoundingClientRect();
            return { stage: [s.left, s.top, s.right, s.bottom],
                     tiles: [...stage.children].map((t) => { const r = t.getBoundingClientRect();
                       return [r.left, r.top, r.right, r.bottom]; }) };
        }""")
        left, top, right, bottom = boxes["stage"]
        assert len(boxes["tiles"]) == 9
        assert len({round(t[0]) for t in boxes["tiles"]}) == 3      # three columns
        for l, t, r, b in boxes["tiles"]:
            assert r - l >= 180 and b - t >= 90, boxes            # big enough to recognise someone
            assert l >= left - 1 and r <= right + 1 and t >= top - 1 and b <= bottom + 1, boxes   # nothing cut off
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)
