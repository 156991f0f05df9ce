"""Accessibility: axe-core (the axe-playwright-python package, which ships axe's script; no CDN)
finds no serious or critical violation on the main views, in light and dark mode; and the room
can be worked through with the keyboard alone, every focused control showing a visible focus."""
from __future__ import annotations

import pytest

from tests.web.browser import composer, in_browser, log_in, send_message

SERIOUS = ("serious", "critical")
FOCUS_STYLE = """() => { const el = document.activeElement; if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const label = el.getAttribute('aria-label') || el.textContent.trim().slice(0, 40) || el.tagName;
  return { label, visible: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none' }; }"""

# Resolves once the colour transitions the scheme switch started have ended: two frames, so the
# restyle has run and started them, then every running CSS transition's `finished` (transitions
# are finite; a cancelled one rejects, which counts as ended). A fixed wait was too short on a
# loaded machine and measured half-faded colours.
TRANSITIONS_DONE = """async () => {
  await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  await Promise.all(document.getAnimations().filter(a => a instanceof CSSTransition)
                            .map(a => a.finished.catch(() => null)));
}"""


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe
    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in SERIOUS]


def check(page, view: str, found: dict) -> None:
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.evaluate(TRANSITIONS_DONE)   # contrast measured mid-transition mixes both schemes
        problems = serious_violations(page)
        if problems:
            found[f"{view} ({scheme})"] = problems
    page.emulate_media(color_scheme="light")


@pytest.mark.usefixtures("browser_available")
async def test_main_views_have_no_serious_axe_violations(users, p1):
    token = await p1.create_room(3, name="Accessible room")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    assert (await p1.post(f"/chat/{token}", message="Hello @participant2, the agenda is up.")).status == 201

    def scenario(browser, url):
        from playwright.sync_api import expect
        found: dict[str, list[str]] = {}
        page = browser.page("participant1", url)
        page.goto("/")
        expect(page.get_by_label("User name")).to_be_visible()
        check(page, "login", found)
        log_in(page, "participant1")
        check(page, "room list", found)
        page.get_by_role("button", name="New conversation").click()
        expect(page.get_by_role("dialog")).to_be_visible()
        check(page, "new conversation dialog", found)
        page.keyboard.press("Escape")
        page.goto(f"/call/{token}")
        expect(page.locator(".room[data-signaling]")).to_have_count(1)
        send_message(page, "A second message")
        expect(page.locator(".message")).to_have_count(2)
        check(page, "room", found)
        page.get_by_role("button", name="Start call").click()
        expect(page.locator(".tile-local")).to_have_count(1)
        check(page, "call", found)
        page.get_by_role("button", name="Camera and microphone").click()
        expect(page.get_by_role("dialog", name="Camera and microphone")).to_be_visible()
        check(page, "device dialog", found)

        guest = browser.page("guest", url)
        guest.goto(f"/call/{token}")
        expect(guest.get_by_label("Your name")).to_be_visible()
        check(guest, "guest lobby", found)
        assert not found, "axe found serious or critical problems:\n" + "\n".join(
            f"  {view}: {problem}" for view, problems in found.items() for problem in problems)
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)


@pytest.mark.usefixtures("browser_available")
async def test_the_room_works_from_the_keyboard_with_visible_focus(users, p1):
    token = await p1.create_room(2, name="Keyboard room")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200

    def scenario(browser, url):
        from playwright.sync_api import expect
        page = browser.page("participant1", url)
        log_in(page, "participant1")
        page.goto(f"/call/{token}")
        expect(composer(page)).to_be_focused()
        page.evaluate("document.activeElement.blur()")
        reached, invisible = [], []
        for _ in range(40):
            page.keyboard.press("Tab")
            focus = page.evaluate(FOCUS_STYLE)
            if focus is None:
                continue
            reached.append(focus["label"])
            if not focus["visible"]:
                invisible.append(focus["label"])
        assert not invisible, f"focus not visible on {invisible}"
        for control in ("Start call", "Conversation settings", "Send message", "Skip to content"):
            assert any(control in label for label in reached), (control, reached)
        assert any("Add" == label for label in reached), reached

        # Operate: write and send, add someone through the search, start a call — keys only.
        composer(page).focus()
        page.keyboard.type("Typed without a mouse")
        page.keyboard.press("Enter")
        expect(page.locator(".message").last).to_contain_text("Typed without a mouse")
        page.get_by_role("combobox", name="Add a participant").focus()
        page.keyboard.type("participant3")
        expect(page.get_by_role("option", name="participant3-displayname")).to_be_visible()
        page.keyboard.press("Enter")
        expect(page.locator(".people-list .person").filter(has_text="participant3-displayname")).to_have_count(1)
        page.get_by_role("button", name="Start call").focus()
        page.keyboard.press("Enter")
        expect(page.locator(".tile-local")).to_have_count(1)
        page.get_by_role("button", name="Camera and microphone").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("dialog", name="Camera and microphone")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog", name="Camera and microphone")).to_have_count(0)
        expect(page.get_by_role("button", name="Camera and microphone")).to_be_focused()   # focus returns
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)
