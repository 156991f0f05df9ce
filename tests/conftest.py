from __future__ import annotations

import pytest
import trio


from . import cluster_mode, pg_support
from .support import RunningServer, add_background_users, start_server, test_config


def pytest_configure(config: pytest.Config) -> None:
    # Known also when pytest-xdist is not loaded (`-p no:xdist`), where the suite's
    # warnings-as-errors would otherwise reject the unknown marker.
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")
    config.addinivalue_line("markers", "single_node(reason): inherently one process; skipped in "
                                       "PARLEY_TEST_DB=cluster mode only (tests/cluster_mode.py)")


# Browser tests whose Chromiums carry calls (camera, WebRTC, Janus): the heavy ones.
CALL_FILES = {"test_calls.py", "test_call_features.py", "test_https_call.py", "test_accessibility.py"}


def _chromium_group(item: pytest.Item) -> str | None:
    """"chromium-calls" for a browser test with a call, "chromium" for another browser test."""
    folder, name = item.path.parts[-2], item.path.name
    if folder == "sfu" and name.startswith("test_browser_"):
        return "chromium-calls"
    if folder == "web":
        return "chromium-calls" if name in CALL_FILES else "chromium"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `pytest -n N --dist loadgroup` (`make test`) the browser tests with calls run on one
    worker, one at a time: two Chromiums in calls on the 2-core CI box starve each other and the
    servers. The other browser tests (chat, settings, accessibility) are a second group: one of
    them beside a call is like an API test beside it, and the two groups no longer queue behind
    each other (one group made the default suite as long as all browser tests in a row). Without
    xdist the marker does nothing. In cluster mode, tests marked `single_node` are skipped."""
    for item in items:
        group = _chromium_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
        if cluster_mode.wanted():
            marker = item.get_closest_marker("single_node")
            if marker is not None:
                item.add_marker(pytest.mark.skip(reason="single node only: " + (marker.args[0] if marker.args else "")))


@pytest.fixture(scope="session", autouse=True)
def _shared_redis():
    """With PARLEY_TEST_DB=cluster: the session's redis-server, stopped at the end."""
    yield
    cluster_mode.shutdown()


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
    cluster_mode.release()


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
