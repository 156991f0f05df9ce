from __future__ import annotations

import trio
import pytest

from tests.support import RunningServer, start_server, test_config
from tests.web.browser import require_browser


@pytest.fixture
async def server(tmp_path) -> RunningServer:
    """Like the suite's server, without STUN servers: the browsers connect over host candidates,
    and nothing tries to reach a STUN server outside this machine."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        running = await start_server(nursery, test_config(str(tmp_path), stun_servers=()), stop)
        yield running
        for actor in running.actors:
            await actor.aclose()
        stop.set()


@pytest.fixture
def browser_available() -> None:
    """Chromium and Playwright are there: skip locally without them, fail in CI (CI=true)."""
    require_browser()
