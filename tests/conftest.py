from __future__ import annotations

import pytest
import trio


from . import pg_support
from .support import RunningServer, add_background_users, start_server, test_config


def pytest_configure(config: pytest.Config) -> None:
    # Known also when pytest-xdist is not loaded (`-p no:xdist`), where the suite's
    # warnings-as-errors would otherwise reject the unknown marker.
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")


def _drives_chromium(item: pytest.Item) -> bool:
    parts = item.path.parts
    return "web" in parts[-2:-1] or ("sfu" in parts[-2:-1] and item.path.name.startswith("test_browser_"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `pytest -n N --dist loadgroup` (`make test`) every test that drives Chromium runs on
    one worker, one browser at a time: two Chromiums in calls on the 2-core CI box starve each
    other and the servers, while API tests beside one browser test do not. Without xdist the
    marker does nothing."""
    for item in items:
        if _drives_chromium(item):
            item.add_marker(pytest.mark.xdist_group("chromium"))


@pytest.fixture(scope="session", autouse=True)
def _shared_postgres():
    """With PARLEY_TEST_DB=postgres: the one PostgreSQL the session's databases live in, stopped
    and deleted at the end (it starts on first use, so SQLite runs never start one)."""
    yield
    pg_support.shutdown_shared()


@pytest.fixture(autouse=True)
def _postgres_databases():
    """Torn down after every other fixture of the test (autouse fixtures set up first), so the
    test's servers have closed their connections when its databases go back to the pool."""
    yield
    pg_support.release_databases()


@pytest.fixture
async def server(tmp_path) -> RunningServer:
    """A real Parley on 127.0.0.1:<ephemeral>, with its own SQLite file, shut down cleanly after."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        running = await start_server(nursery, test_config(str(tmp_path)), stop)
        yield running
        for actor in running.actors:
            await actor.aclose()
        stop.set()


@pytest.fixture
async def users(server: RunningServer) -> RunningServer:
    """The Behat background: participant1-3 (display names participantN-displayname), an admin,
    and group attendees1 holding participant2."""
    await add_background_users(server)
    return server


@pytest.fixture
def p1(users):
    return users.actor("participant1")


@pytest.fixture
def p2(users):
    return users.actor("participant2")


@pytest.fixture
def p3(users):
    return users.actor("participant3")


@pytest.fixture
def guest(users):
    return users.actor("guest")
