from __future__ import annotations

import trio
import pytest

from tests.support import RunningServer, start_server, test_config
from tests.web.browser import require_browser


@pytest.fixture
def server_options() -> dict:
    """Config overrides for the server; a test parametrizes it, e.g. {"websocket": False}."""
    return {}


@pytest.fixture
async def server(tmp_path, server_options) -> RunningServer:
    """Like the suite's server, without STUN servers: the browsers connect over host candidates,
    and nothing tries to reach a STUN server outside this machine."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        running = await start_server(nursery, test_config(str(tmp_path), stun_servers=(), **server_options), stop)
        yield running
        for actor in running.actors:
            await actor.aclose()
        stop.set()


@pytest.fixture
def browser_available() -> None:
    """Chromium and Playwright are there: skip locally without them, fail in CI (CI=true)."""
    require_browser()
