"""The later chat in two browsers: replies, reactions (picker, counts, who reacted, toggling),
edits and deletions seen by the other side, system messages, files (button, drag and drop,
paste, progress, previews, downloads), the unread separator and its jump, "seen" in one-to-one
rooms, and the message search."""
from __future__ import annotations

import io

import pytest
import trio

from tests.web.browser import composer, in_browser, log_in, messages, screenshot, send_message


def png(width=120, height=80, color=(37, 99, 235)) -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def open_room(page, user, token):
    from playwright.sync_api import expect
    log_in(page, user)
    page.goto(f"/call/{token}")
    expect(page.locator(".room[data-signaling]")).to_have_count(1)


def message_with(page, text):
    """The message whose own text holds `text` (not a reply quoting it)."""
    return messages(page).filter(has=page.locator(".message-text", has_text=text))


def message_action(page, text, action):
    row = message_with(page, text)
    row.hover()
    row.get_by_role("button", name="Message actions").click()
    row.get_by_role("menuitem", name=action).click()


async def group_room(p1, name):
    token = await p1.create_room(2, name=name)
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    return token


@pytest.mark.usefixtures("browser_available")
async def test_replies_reactions_edits_and_deletes_reach_the_other_side(users, p1, tmp_path):
    token = await group_room(p1, "Launch")
    picture = tmp_path / "mockup.png"
    picture.write_bytes(png(320, 200))

    def scenario(browser, url):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        two = browser.page("participant2", url, height=1000)   # tall enough for the whole story in chat.png
        open_room(one, "participant1", token)
        open_room(two, "participant2", token)
        # System messages: compact centred lines with their rendered text, not chat bubbles.
        for page in (one, two):
            expect(page.locator(".system-message").filter(has_text="created the conversation")).to_have_count(1)
            expect(page.locator(".system-message").filter(has_text="participant2-displayname")).to_have_count(1)

        send_message(one, "Shall we ship on Friday?")
        expect(message_with(two, "Shall we ship on Friday?")).to_have_count(1)

        # A reply quotes its parent; clicking the quote shows the parent.
        message_action(two, "Shall we ship on Friday?", "Reply")
        expect(two.locator(".composer-context")).to_contain_text("Replying to participant1-displayname")
        send_message(two, "Friday works for me")
        reply = message_with(one, "Friday works for me")
        expect(reply.locator(".reply-quote")).to_contain_text("Shall we ship on Friday?")
        expect(two.locator(".composer-context")).to_be_hidden()
        reply.locator(".reply-quote").click()
        expect(message_with(one, "Shall we ship on Friday?")).to_have_class("message mine highlight")

        # A reaction from the picker, seen on the other side with who reacted; toggling it.
        row = message_with(two, "Shall we ship on Friday?")
        row.hover()
        row.get_by_role("button", name="Add reaction").click()
        picker = two.get_by_role("dialog", name="Pick a reaction")
        picker.get_by_label("Search emoji").fill("party")
        expect(picker.locator(".emoji-option")).to_have_count(1)
        picker.get_by_label("Search emoji").press("Enter")
        chip = message_with(one, "Shall we ship on Friday?").locator(".reaction")
        expect(chip).to_have_text("🎉1")
        expect(chip).to_have_attribute("aria-pressed", "false")
        chip.focus()
        expect(chip).to_have_attribute("title", "Reacted with 🎉: participant2-displayname")
        chip.click()
        expect(chip).to_have_text("🎉2")
        expect(chip).to_have_attribute("aria-pressed", "true")
        two_chip = message_with(two, "Shall we ship on Friday?").locator(".reaction")
        expect(two_chip).to_have_text("🎉2")
        expect(two_chip).to_have_attribute("aria-pressed", "true")
        row = message_with(one, "Shall we ship on Friday?")
        row.hover()
        row.get_by_role("button", name="Add reaction").click()
        one.get_by_role("dialog", name="Pick a reaction").get_by_role("button", name="👍 thumbs").click()
        expect(message_with(two, "Shall we ship on Friday?").locator(".reaction")).to_have_count(2)

        # An edit: the other side sees the new text, marked edited, in the reply's quote too.
        message_action(one, "Shall we ship on Friday?", "Edit")
        expect(composer(one)).to_have_value("Shall we ship on Friday?")
        composer(one).fill("Shall we ship on Thursday?")
        composer(one).press("Enter")
        edited = message_with(two, "Shall we ship on Thursday?")
        expect(edited.locator(".edited")).to_have_text("(edited)")
        expect(message_with(two, "Friday works for me").locator(".reply-quote")).to_contain_text("Thursday")
        expect(message_with(two, "Shall we ship on Friday?")).to_have_count(0)

        # A shared image for the picture, then the owner (a moderator) deletes someone else's message.
        one.locator("input[type=file]").set_input_files(str(picture))
        expect(two.locator(".file-share .file-download")).to_have_text("mockup.png")
        send_message(two, "Oops, wrong room")
        message_action(one, "Oops, wrong room", "Delete")
        one.get_by_role("dialog", name="Delete this message?").get_by_role("button", name="Delete").click()
        expect(message_with(two, "Oops, wrong room")).to_have_count(0)
        expect(two.locator(".message.deleted")).to_have_count(1)
        expect(two.locator(".message.deleted")).to_contain_text("deleted")
        two.wait_for_function("() => { const i = document.querySelector('.file-preview');"
                              " return i && i.complete && i.naturalWidth > 0; }")
        two.mouse.move(0, 0)
        two.evaluate("document.getElementById('toasts').replaceChildren()")
        screenshot(two, "chat.png")
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)
    history = (await p1.get(f"/chat/{token}", params={"lookIntoFuture": 0, "limit": 100})).data
    comments = [m["message"] for m in history if m["messageType"] == "comment" and m["message"] != "{file}"]
    assert "Shall we ship on Thursday?" in comments and "Oops, wrong room" not in comments


@pytest.mark.usefixtures("browser_available")
async def test_files_by_drop_and_paste_with_progress_preview_and_download(users, p1, tmp_path):
    token = await group_room(p1, "Assets")
    big = tmp_path / "report.bin"
    big.write_bytes(b"\x00" * 700_000)

    def scenario(browser, url):
        from playwright.sync_api import expect
        one = browser.page("participant1", url)
        two = browser.page("participant2", url)
        open_room(one, "participant1", token)
        open_room(two, "participant2", token)

        # A slow uplink, so the progress bar is there to see.
        cdp = one.context.new_cdp_session(one)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                       "downloadThroughput": -1, "uploadThroughput": 150_000})
        one.locator("input[type=file]").set_input_files(str(big))
        bar = one.get_by_role("progressbar", name="Uploading report.bin")
        expect(bar).to_be_visible()
        one.wait_for_function("() => { const p = document.querySelector('.upload progress'); return p && p.value > 0; }")
        expect(two.locator(".file-download").filter(has_text="report.bin")).to_be_visible(timeout=30_000)
        expect(bar).to_have_count(0)
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                       "downloadThroughput": -1, "uploadThroughput": -1})
        card = two.locator(".file-card").filter(has_text="report.bin")
        expect(card.locator(".file-size")).to_have_text("684 KB")
        with two.expect_download() as download:
            card.get_by_role("link").click()
        assert download.value.suggested_filename == "report.bin"
        assert open(download.value.path(), "rb").read() == b"\x00" * 700_000

        # Drag and drop a text file onto the chat.
        one.evaluate("""() => { const dt = new DataTransfer();
            dt.items.add(new File(['meeting notes'], 'notes.txt', { type: 'text/plain' }));
            const chat = document.querySelector('.chat');
            chat.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
            chat.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); }""")
        expect(two.locator(".file-download").filter(has_text="notes.txt")).to_be_visible()

        # Paste a screenshot into the composer: it is shared with an inline preview.
        one.evaluate("""async (bytes) => { const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], 'screenshot.png', { type: 'image/png' }));
            document.querySelector('.composer textarea').dispatchEvent(
              new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true })); }""",
                     list(png(200, 100, (220, 38, 38))))
        preview = two.locator(".file-share").filter(has_text="screenshot.png").locator("img.file-preview")
        expect(preview).to_have_attribute("alt", "Preview of screenshot.png")
        two.wait_for_function("() => [...document.querySelectorAll('.file-preview')].some(i => i.naturalWidth > 0)")
        assert composer(one).input_value() == ""   # the image went up, no text was pasted
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)


@pytest.mark.usefixtures("browser_available")
async def test_unread_separator_jump_and_seen_in_a_one_to_one_room(users, p1):
    token = await p1.create_room(1, invite="participant2")
    for n in range(1, 41):
        assert (await p1.post(f"/chat/{token}", message=f"Update number {n}")).status == 201

    def scenario(browser, url):
        from playwright.sync_api import expect
        two = browser.page("participant2", url, height=700)
        log_in(two, "participant2")
        two.get_by_role("link", name="participant1-displayname").click()
        separator = two.get_by_role("separator")
        expect(separator).to_have_text("New messages")
        expect(messages(two)).to_have_count(40)
        jump = two.get_by_role("button", name="Jump to unread")
        expect(jump).to_be_visible()
        jump.click()
        expect(separator).to_be_in_viewport()
        expect(jump).to_be_hidden()

        one = browser.page("participant1", url)
        open_room(one, "participant1", token)
        expect(one.get_by_role("link", name="participant2-displayname", exact=True)).to_have_accessible_description(
            "You: Update number 40")
        send_message(one, "Did you see this?")
        expect(message_with(two, "Did you see this?")).to_have_count(1)
        # participant2's open, visible room read it: participant1 sees "Seen" under it.
        # (A parked poll is not woken by a read; the sender's client re-polls every 5 s meanwhile.)
        expect(message_with(one, "Did you see this?").locator(".seen")).to_have_text("Seen", timeout=15_000)
        expect(one.locator(".seen")).to_have_count(1)
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)


@pytest.mark.usefixtures("browser_available")
async def test_search_lists_hits_and_opens_the_message_in_its_room(users, p1):
    planning = await group_room(p1, "Planning")
    other = await group_room(p1, "Random")
    for text in ("The budget review is on Monday", "Lunch?", "Coffee later"):
        assert (await p1.post(f"/chat/{other}", message=text)).status == 201
    assert (await p1.post(f"/chat/{planning}", message="Budget numbers are final")).status == 201
    for n in range(120):   # pushes the first hit out of the first page of history
        assert (await p1.post(f"/chat/{other}", message=f"filler {n}")).status == 201

    def scenario(browser, url):
        from playwright.sync_api import expect
        page = browser.page("participant2", url)
        log_in(page, "participant2")
        # The room list previews each room's last message (lastMessage) on one line, as the
        # link's description: its name stays the room's.
        for room, last in (("Planning", "Budget numbers are final"), ("Random", "filler 119")):
            link = page.get_by_role("link", name=room)
            expect(link).to_have_accessible_description(f"participant1-displayname: {last}")
            expect(link.locator(".room-item-sub")).to_have_css("white-space", "nowrap")
        page.get_by_role("searchbox", name="Search messages").fill("budget")
        hits = page.get_by_role("list", name="Search results").locator(".search-hit")
        expect(hits).to_have_count(2)
        expect(page.get_by_role("status").filter(has_text="2 messages found")).to_have_count(1)
        expect(hits.first).to_contain_text("in Planning")
        expect(hits.nth(1).locator("mark")).to_have_text("budget")
        expect(page.locator(".room-list")).to_be_hidden()
        hits.nth(1).click()
        expect(page.get_by_role("heading", name="Random")).to_be_visible()
        target = message_with(page, "The budget review is on Monday")
        expect(target).to_be_in_viewport()
        expect(target).to_have_class("message highlight")
        page.get_by_role("searchbox", name="Search messages").press("Escape")
        expect(page.locator(".room-list")).to_be_visible()
        browser.assert_no_console_errors()

    await in_browser(scenario, users.url)
