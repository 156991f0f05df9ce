"""Request parameters: query < form body (any method) < path < JSON body, into typed values.

Talk coerces declared int parameters with PHP's (int); Parley answers 400 instead, naming the
parameter ("limit must be an integer"), because silently reading "abc" as 0 hides client bugs.
"""
from __future__ import annotations

import json
from typing import Any

from quart import g, request

from .domain.errors import BadParameter


class Params:
    def __init__(self, values: dict[str, Any], lists: dict[str, list[Any]] | None = None) -> None:
        self._values = values
        self._lists = lists or {}   # every value of a repeated query/form key (`shareTypes[]=0&shareTypes[]=1`)

    @classmethod
    async def load(cls, path_params: dict[str, Any] | None = None, *, body: bool = True) -> "Params":
        values: dict[str, Any] = dict(request.args.items())
        lists: dict[str, list[Any]] = {key: request.args.getlist(key) for key in request.args}
        content_type = (request.content_type or "").split(";")[0].strip().lower() if body else ""
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form
            values.update(form.items())
            lists.update({key: form.getlist(key) for key in form})
        values.update(path_params or {})
        if content_type == "application/json":
            data = await request.get_data()
            try:
                raw = data.decode("utf-8")
            except UnicodeDecodeError:
                raise BadParameter("the JSON body is not valid UTF-8") from None
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise BadParameter("the JSON body is not valid JSON") from None
                if not isinstance(body, dict):
                    raise BadParameter("the JSON body must be an object")
                values.update(body)
        if values.get("format") in ("json", "xml"):
            g.ocs_format = values["format"]   # the body may choose the response format too (§1.3)
        return cls(values, lists)

    def __contains__(self, name: str) -> bool:
        return name in self._values and self._values[name] is not None

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self._values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if not isinstance(value, str):
            raise BadParameter(f"{name} must be a string")
        return value

    def required_str(self, name: str) -> str:
        value = self.str(name)
        if value is None:
            raise BadParameter(f"{name} is required")
        return value

    def int(self, name: str, default: int | None = None) -> int | None:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            if abs(value) >= 10 ** 18:   # as for strings below: SQLite integers stop at 2**63
                raise BadParameter(f"{name} is out of range")
            return value
        if isinstance(value, str):
            text = value.strip()
            if text.lstrip("-").isdigit() and len(text) <= 18:
                return int(text)
        raise BadParameter(f"{name} must be an integer")

    def bool(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes"):
            return True
        if str(value).lower() in ("0", "false", "no"):
            return False
        raise BadParameter(f"{name} must be a boolean")

    def list(self, name: str) -> list[Any] | None:
        """All values of a repeated key (`shareTypes[]=0&shareTypes[]=1`), or a JSON array given
        under `name` or `name` without the `[]`; None when absent."""
        for key in (name, name.removesuffix("[]")):
            value = self._values.get(key)
            if isinstance(value, list):
                return value
            if isinstance(value, dict):
                raise BadParameter(f"{name} must be a list")
        return self._lists.get(name) or None
