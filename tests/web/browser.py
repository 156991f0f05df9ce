"""Driving Debian's Chromium with Playwright's sync API from the trio tests.

Playwright's async API needs asyncio, so each browser scenario is a plain function run in a worker
thread (`in_browser`), while the trio test keeps serving Parley on the main thread. Never run
`playwright install`: the tests use /usr/bin/chromium from Debian's `chromium` package.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import trio

from tests.support import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    # Two fake cameras (and Chromium's three fake microphones) to switch between; a fake screen
    # for getDisplayMedia, picked without a prompt.
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=device-count=2",
    "--auto-select-desktop-capture-source=Entire screen", "--no-sandbox", "--disable-gpu",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 20_000


def require_browser() -> None:
    """Skip locally when Chromium or Playwright is missing; fail in CI, where .ci/run installs them."""
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is missing (apt-get install -y chromium; .ci/install-system-deps.sh does it)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing (pip install -e '.[test]')"
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"web tests cannot run in CI: {problem}")
    pytest.skip(f"web tests skipped: {problem}")


async def in_browser(scenario: Callable[..., Any], *args: Any, extra_args: tuple[str, ...] = (),
                     env: dict[str, str] | None = None) -> Any:
    """Run `scenario(browser, *args)` in a worker thread with a fresh Chromium. Tests using it
    request the `browser_available` fixture (skip locally, fail in CI without Chromium).
    `extra_args` are added to Chromium's command line; `env` replaces its environment."""
    return await trio.to_thread.run_sync(_run, scenario, args, extra_args, env)


def _run(scenario: Callable[..., Any], args: tuple, extra_args: tuple[str, ...] = (),
         env: dict[str, str] | None = None) -> Any:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + list(extra_args),
                                              env=env)
        browser = Browser(chromium)
        try:
            return scenario(browser, *args)
        finally:
            chromium.close()


@dataclass
class ConsoleEntry:
    page: str
    text: str
    url: str


@dataclass
class Browser:
    """One Chromium; each `page()` is a separate context, so a separate cookie jar (one person)."""
    chromium: Any
    console_errors: list[ConsoleEntry] = field(default_factory=list)

    def page(self, name: str, base_url: str, width: int = 1280, height: int = 800):
        context = self.chromium.new_context(base_url=base_url, viewport={"width": width, "height": height})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(
            ConsoleEntry(name, m.text, m.location.get("url", ""))))
        page.on("pageerror", lambda e: self.console_errors.append(ConsoleEntry(name, f"uncaught: {e}", "")))
        return page

    def assert_no_console_errors(self, allowed: Callable[[ConsoleEntry], bool] = lambda e: False) -> None:
        unexpected = [e for e in self.console_errors if not allowed(e)]
        assert not unexpected, "errors in the browser console:\n" + "\n".join(
            f"  [{e.page}] {e.text} ({e.url})" for e in unexpected)


def log_in(page, user: str, password: str = PASSWORD) -> None:
    page.goto("/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Conversations").wait_for()


def composer(page):
    return page.get_by_role("textbox", name="Message")


def send_message(page, text: str) -> None:
    composer(page).fill(text)
    composer(page).press("Enter")


def messages(page):
    return page.locator(".messages .message")


def participants(page):
    return page.locator(".people-list .person")


def screenshot(page, name: str) -> Path | None:
    """docs/screenshots/<name>, only with PARLEY_SCREENSHOTS=1 (CONTRIBUTING.md): a plain test run
    leaves the tree clean, and the PNGs change only when someone means to refresh them."""
    if os.environ.get("PARLEY_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path


def token_of(page) -> str:
    match = re.search(r"/call/([a-z0-9]+)$", page.url)
    assert match, page.url
    return match.group(1)
