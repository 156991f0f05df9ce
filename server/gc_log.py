"""PARLEY_GC_LOG=1: measure garbage-collector pauses, for load tests.

Thousands of parked long-polls are thousands of live objects, and a full collection walks all of
them while the event loop stands still. With PARLEY_GC_LOG=1 in its environment, `parley serve`
times every collection (gc.callbacks), logs the longest pause per generation at shutdown, and
serves `GET /debug/gc` (plain JSON, no auth: enable it only on a test machine) with those figures
and the hub's statistics, so a load tool can also tell when its long-polls are parked.
`DELETE /debug/gc` starts a new measurement window. Off by default: nothing is registered then.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import time
from dataclasses import asdict

from quart import Quart, Response, current_app, request

log = logging.getLogger("parley.gc")
ENV = "PARLEY_GC_LOG"


def enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0", "false", "no")


class GcLog:
    """Pause durations per generation since the last `reset()`."""

    def __init__(self) -> None:
        self._started = 0.0
        self.reset()

    def reset(self) -> None:
        self.collections = [0, 0, 0]
        self.max_pause = [0.0, 0.0, 0.0]
        self.total_pause = 0.0
        self.collected = [0, 0, 0]       # objects found unreachable by the longest pause

    def callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = info.get("generation", 2)
        self.collections[generation] += 1
        if pause > self.max_pause[generation]:
            self.max_pause[generation] = pause
            self.collected[generation] = info.get("collected", 0)
        self.total_pause += pause

    def snapshot(self) -> dict:
        return {"collections": self.collections,
                "max_pause_ms": [round(p * 1000, 3) for p in self.max_pause],
                "collected_in_longest": self.collected,
                "total_pause_ms": round(self.total_pause * 1000, 3),
                "thresholds": gc.get_threshold()}


def install(app: Quart) -> GcLog:
    """Start timing collections and register the debug endpoint and the shutdown log line."""
    gc_log = GcLog()
    gc.callbacks.append(gc_log.callback)

    async def debug_gc() -> Response:
        if request.method == "DELETE":
            gc_log.reset()
        ctx = current_app.parley_ctx  # type: ignore[attr-defined]
        body = {"gc": gc_log.snapshot(), "hub": asdict(ctx.hub.statistics())}
        return Response(json.dumps(body), content_type="application/json")
    app.add_url_rule("/debug/gc", "debug_gc", debug_gc, methods=["GET", "DELETE"])

    @app.after_serving
    async def report() -> None:
        gc.callbacks.remove(gc_log.callback)
        log.warning("gc pauses: %s", json.dumps(gc_log.snapshot()))
    log.warning("%s is set: timing garbage collections, GET /debug/gc serves them", ENV)
    return gc_log
