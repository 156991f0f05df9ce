"""The OCS layer: v1/v2 envelopes, JSON/XML, the status mapping, and the one error handler.

v2: the HTTP status is the result's status and meta.statuscode repeats it (997 for 401).
v1: the HTTP status is 200 (401 stays 401), meta.statuscode is 100 for 200, else the status,
    and meta.status is "ok" only for 100 (so a 201 reads "failure" on v1: a Talk quirk clients know).
"""
from __future__ import annotations

import json
import logging
from typing import Any
from xml.sax.saxutils import escape

from quart import Response, g, request

from .domain.errors import ParleyError

log = logging.getLogger("parley.ocs")

V1_PREFIX = "/ocs/v1.php"
V2_PREFIX = "/ocs/v2.php"
UNKNOWN_ROUTE_MESSAGE = ("Invalid query, please check the syntax. API specifications are here: "
                         "http://www.freedesktop.org/wiki/Specifications/open-collaboration-services.\n")


def version_of(path: str) -> int:
    return 1 if path.startswith(V1_PREFIX) else 2


def api_version() -> int:
    return version_of(request.path)


def is_ocs_path(path: str) -> bool:
    return path.startswith(V1_PREFIX + "/") or path.startswith(V2_PREFIX + "/")


def json_wanted(fmt: str | None, accept: str) -> bool:
    """`fmt` is the request's `format` parameter (body, else query), `accept` its Accept header."""
    if fmt in ("json", "xml"):
        return fmt == "json"
    for part in accept.split(","):
        kind = part.strip().lower().removeprefix("application/")
        if kind in ("json", "xml"):
            return kind == "json"
    return False


def wants_json() -> bool:
    """`format` (body, else query) first, then the first Accept part that is exactly json or xml;
    XML by default. The body's `format` is known once `Params.load` has read it."""
    return json_wanted(g.get("ocs_format") or request.args.get("format"), request.headers.get("Accept", ""))


def _meta(status: int, statuscode: int, message: str | None, version: int) -> dict[str, Any]:
    ok = statuscode == 100 if version == 1 else 200 <= status < 300
    meta: dict[str, Any] = {"status": "ok" if ok else "failure", "statuscode": statuscode,
                            "message": "OK" if ok else message}
    if version == 1:
        meta["totalitems"] = ""
        meta["itemsperpage"] = ""
    return meta


def _codes(status: int, version: int, *, v1_code: int | None = None) -> tuple[int, int]:
    """(HTTP status, meta.statuscode)."""
    if version == 2:
        return status, 997 if status == 401 else status
    if status == 401:
        return 401, 997
    if status in (429, 503):   # overload must reach clients and proxies as such, so they back off
        return status, status
    return 200, v1_code if v1_code is not None else (100 if status == 200 else status)


def encode(data: Any, status: int, version: int, as_json: bool, *, message: str | None = None,
           v1_code: int | None = None, memo: dict | None = None) -> tuple[int, bytes, str]:
    """(HTTP status, body, Content-Type) of an OCS answer, without Quart's request: `render` for
    Quart routes and the chat fast path (server/routes/chat_fast.py) both build their answer here.
    Not for 304 (no envelope: see `render`). `data=None` renders as `[]`, the way Talk says "no data".

    `memo`: a dict shared by requests answered with the same `data` and status (a chat fan-out);
    the encoded body is kept there per OCS version and format, so it is built once."""
    http_status, code = _codes(status, version, v1_code=v1_code)
    body = memo.get((version, as_json, status, message)) if memo is not None else None
    if body is None:
        envelope = {"ocs": {"meta": _meta(status, code, message, version), "data": [] if data is None else data}}
        text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) if as_json else to_xml(envelope["ocs"])
        body = text.encode()
        if memo is not None:
            memo[(version, as_json, status, message)] = body
    return http_status, body, JSON_TYPE if as_json else XML_TYPE


JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"
SERVER_ERROR_MESSAGE = "Internal server error; the incident was logged"
SERVER_ERROR_V1_CODE = 996


def render(data: Any = None, status: int = 200, *, message: str | None = None,
           headers: dict[str, str] | None = None, v1_code: int | None = None,
           memo: dict | None = None) -> Response:
    """An OCS response (see `encode`); 304 is an empty body, no envelope."""
    if status == 304:
        return Response(b"", status=304, headers=headers)
    http_status, body, content_type = encode(data, status, api_version(), wants_json(), message=message,
                                             v1_code=v1_code, memo=memo)
    return Response(body, status=http_status, headers=headers, content_type=content_type)


def render_error(exc: ParleyError) -> Response:
    return render(None, exc.status, message=exc.message, headers=exc.headers() or None)


def csrf_failed() -> Response:
    return Response(json.dumps({"message": "CSRF check failed"}), status=412,
                    content_type="application/json; charset=utf-8")


def plain_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error outside the OCS API (the web client's /login…): plain JSON, never an envelope."""
    return Response(json.dumps({"message": message}), status=status, headers=headers,
                    content_type="application/json; charset=utf-8")


def unknown_route() -> Response:
    return render(None, 404, message=UNKNOWN_ROUTE_MESSAGE, v1_code=998)


def server_error() -> Response:
    return render(None, 500, message=SERVER_ERROR_MESSAGE, v1_code=SERVER_ERROR_V1_CODE)


# -- XML ---------------------------------------------------------------------------------------

def _xml_value(value: Any) -> str:
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    if isinstance(value, dict):
        return "".join(_xml_element(str(k), v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "".join(_xml_element("element", v) for v in value)
    return escape(str(value))


def _is_xml_name(name: str) -> bool:
    return bool(name) and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c in "-_." for c in name)


def _xml_element(name: str, value: Any) -> str:
    # Keys such as user ids need not be XML names; those become <element key="..."> so the
    # document stays well-formed (Nextcloud would emit broken XML here).
    if _is_xml_name(name):
        return f"<{name}>{_xml_value(value)}</{name}>"
    return f'<element key="{escape(name, {chr(34): "&quot;"})}">{_xml_value(value)}</element>'


def to_xml(ocs: dict[str, Any]) -> str:
    return f'<?xml version="1.0"?>\n<ocs>{_xml_value(ocs)}</ocs>\n'
