"""Logging set-up: `[server] log_format = "text" | "json"` and the optional access log.

JSON: one object per line with `ts` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `msg`,
`exc` when there is a traceback, and every extra field the call passed (`log.info(..., extra=…)`),
so a log collector can index them without parsing prose.

The access log (logger `parley.access`, one record per request, written by server/ops_http.py)
goes only to its own destination (`access_log`: a path or "-" for stderr), in the same format.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

ACCESS_LOGGER = "parley.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exc"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextAccessFormatter(logging.Formatter):
    """`<ts> <client> "<METHOD> <route>" <status> <seconds>s`, close to the common log format."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        return (f"{self.formatTime(record)} {fields.get('client', '-')} \"{fields.get('method', '-')} "
                f"{fields.get('route', '-')}\" {fields.get('status', '-')} {fields.get('duration', 0):.4f}s")


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(level: str, log_format: str, access_log: str = "") -> None:
    """Set up the root logger (stderr) and, if asked, the access log. Call once, from the CLI."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))

    access = logging.getLogger(ACCESS_LOGGER)
    access.propagate = False      # never mixed into the error log
    for old in list(access.handlers):
        access.removeHandler(old)
        old.close()
    if not access_log:
        access.disabled = True
        return
    target: logging.Handler = (logging.StreamHandler(sys.stderr) if access_log == "-"
                               else logging.FileHandler(access_log, encoding="utf-8"))
    target.setFormatter(JsonFormatter() if log_format == "json" else TextAccessFormatter())
    access.addHandler(target)
    access.setLevel(logging.INFO)
    access.disabled = False
