"""Prometheus metrics (`GET /metrics`, served by server/ops_http.py), one registry per app.

Why a registry per app and not prometheus-client's global one: tests run several servers in one
process, and each must count only its own requests.

Cheap on the hot paths: a request costs two dictionary look-ups of cached label children, one
counter increment and one histogram observation (server/ops_http.py). Live state (parked chat
polls, parked signaling pulls, WebSocket connections, messages posted and relayed, the database
queue, login failures) is *read at scrape time* from the hub, the database and the password
service by `LiveCollector`, so the code that parks and publishes never touches a metric.
"""
from __future__ import annotations

import gc
import time
from typing import Any, Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Request latency: long-polls park up to 30 s (chat: up to 60 s), so the buckets reach that far.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
# Label values must stay few: a method outside this set is counted as "other".
METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"})
UNMATCHED = "unmatched"       # the route label of a request no route took (404s, probes)


class LiveCollector:
    """Gauges and counters read from the running server's own state when Prometheus scrapes."""

    def __init__(self, ctx: Callable[[], Any]) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[Metric]:
        ctx = self._ctx()
        if ctx is None:       # not started yet
            return
        hub = ctx.hub
        stats = hub.statistics()
        yield _gauge("parley_chat_polls_parked", "Chat long-polls parked, waiting for a message",
                     stats.chat_waiters)
        yield _gauge("parley_signaling_pulls_parked", "Signaling pulls (internal signaling) parked",
                     hub.mailboxes.pulls_waiting())
        yield _gauge("parley_websocket_connections", "Open WebSocket signaling connections",
                     stats.websocket_connections)
        yield _gauge("parley_websocket_sessions",
                     "WebSocket signaling sessions, including those waiting for a resume", stats.websocket_sessions)
        yield _gauge("parley_live_sessions", "Talk sessions with a ping held in memory", stats.live_sessions)
        yield _counter("parley_chat_messages_posted", "Chat messages posted", stats.chat_messages)
        yield _counter("parley_signaling_messages_relayed",
                       "Signaling messages handed to a recipient's mailbox", stats.signals_delivered)
        yield _gauge("parley_db_queue_depth", "Units of work waiting for the database thread",
                     ctx.db.queue_depth())
        throttle = ctx.passwords.throttle
        yield _counter("parley_logins_failed", "Password checks that failed (Basic auth, web login, room passwords)",
                       getattr(throttle, "failures_total", 0))
        yield _counter("parley_logins_throttled", "Login attempts refused by the brute-force throttle (429)",
                       getattr(throttle, "refusals_total", 0) + ctx.passwords.stats.throttled)
        yield _counter("parley_password_checks_busy",
                       "Password checks refused because the hash workers' queue was full (503)",
                       ctx.passwords.stats.busy)
        yield _gauge("parley_password_hashes_running", "Password hashes being computed",
                     ctx.passwords.workers.running)
        yield _gauge("parley_password_hashes_waiting", "Password hashes waiting for a hash worker",
                     ctx.passwords.workers.waiting)
        yield _gauge("parley_shutting_down", "1 once a graceful shutdown has begun", int(hub.stopping))


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


class Metrics:
    def __init__(self, ctx: Callable[[], Any]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("parley_http_requests", "HTTP requests answered, by route template and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("parley_http_request_duration_seconds",
                                 "Time from a request's arrival until its response was sent (long-polls include "
                                 "their wait)", ["route", "method"], buckets=REQUEST_BUCKETS, registry=self.registry)
        self.db_units = Histogram("parley_db_unit_seconds",
                                  "Database units of work: time queued before the database thread took them, "
                                  "and time running (transaction included)", ["phase"],
                                  buckets=DB_BUCKETS, registry=self.registry)
        self.gc_pauses = Histogram("parley_gc_pause_seconds", "Garbage-collector pauses, by generation",
                                   ["generation"], buckets=GC_BUCKETS, registry=self.registry)
        self.registry.register(LiveCollector(ctx))
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._db_queued = self.db_units.labels("queued")
        self._db_run = self.db_units.labels("run")
        self._gc = [self.gc_pauses.labels(str(g)) for g in range(3)]
        self._gc_started = 0.0

    # -- requests (the event loop) ---------------------------------------------------------------

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in METHODS:
            method = "other"     # any string can be a method: never let one grow the cache
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(route, method, str(status)),
                                              self.latency.labels(route, method))
        children[0].inc()
        children[1].observe(seconds)

    # -- the database thread ------------------------------------------------------------------------

    def observe_db_unit(self, queued: float, run: float) -> None:
        """Called on the database thread after each unit (prometheus-client values are locked)."""
        self._db_queued.observe(queued)
        self._db_run.observe(run)

    # -- the garbage collector ------------------------------------------------------------------------

    def gc_callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self._gc[min(info.get("generation", 2), 2)].observe(time.perf_counter() - self._gc_started)

    def start_gc_timing(self) -> None:
        if self.gc_callback not in gc.callbacks:
            gc.callbacks.append(self.gc_callback)

    def stop_gc_timing(self) -> None:
        if self.gc_callback in gc.callbacks:
            gc.callbacks.remove(self.gc_callback)

    def render(self) -> bytes:
        return generate_latest(self.registry)
