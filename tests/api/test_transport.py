"""The transport layer (talk-api-v1.md §1): OCS envelopes, JSON/XML, status mapping, CSRF header,
authentication order, parameter sources, framework errors, the session cookie."""
import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.support import API

UNKNOWN_ROUTE = ("Invalid query, please check the syntax. API specifications are here: "
                 "http://www.freedesktop.org/wiki/Specifications/open-collaboration-services.\n")


async def raw(server, method, path, *, headers=None, auth=None, **kwargs) -> httpx.Response:
    """A request with exactly the given headers (no OCS-APIRequest, no Accept unless given)."""
    async with httpx.AsyncClient(base_url=server.url, auth=auth, verify=False) as client:
        response = await client.request(method, path, headers=headers or {}, **kwargs)
    assert response.status_code < 500, response.text
    return response


ROOM_LIST = f"/ocs/v2.php{API}/room"
OCS = {"OCS-APIRequest": "true"}
P1_AUTH = ("participant1", "123456")


# -- JSON or XML -------------------------------------------------------------------------------

@pytest.mark.parametrize("accept,query,is_json", [
    ("application/json", {}, True),
    ("application/json, text/plain, */*", {}, True),
    ("text/plain, application/json", {}, True),
    ("JSON", {}, True),
    ("application/json;q=0.9", {}, False),
    ("text/xml", {}, False),
    ("application/xml, application/json", {}, False),
    ("", {}, False),
    ("application/json", {"format": "xml"}, False),
    ("application/xml", {"format": "json"}, True),
], ids=lambda v: repr(v))
async def test_format_parameter_then_accept_header_select_json_or_xml(users, accept, query, is_json):
    headers = {**OCS, **({"Accept": accept} if accept else {})}
    r = await raw(users, "GET", ROOM_LIST, headers=headers, auth=P1_AUTH, params=query)
    assert r.status_code == 200
    kind = "application/json" if is_json else "application/xml"
    assert r.headers["content-type"] == f"{kind}; charset=utf-8"
    if is_json:
        assert r.json()["ocs"]["data"] == []
    else:
        assert r.text.startswith('<?xml version="1.0"?>')
        assert ET.fromstring(r.text).find("meta/statuscode").text == "200"


async def test_format_in_the_form_body_selects_json(users):
    r = await raw(users, "POST", ROOM_LIST, headers=OCS, auth=P1_AUTH,
                  data={"roomType": "3", "roomName": "x", "format": "json"})
    assert r.status_code == 201
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["ocs"]["data"]["name"] == "x"


async def test_xml_writes_true_as_1_false_as_empty_and_list_items_as_element(users, p1):
    token = await p1.create_room(3, name="a & <b>")
    assert (await p1.join(token)).status == 200
    assert (await p1.post(f"/call/{token}")).status == 200
    r = await raw(users, "GET", ROOM_LIST, headers=OCS, auth=P1_AUTH)
    ocs = ET.fromstring(r.text)
    assert [child.tag for child in ocs] == ["meta", "data"]
    assert [m.tag for m in ocs.find("meta")] == ["status", "statuscode", "message"]
    [room] = ocs.find("data").findall("element")
    assert room.find("token").text == token
    assert room.find("name").text == "a & <b>"
    assert room.find("participantInCall").text == "1"
    assert room.find("hasCall").text == "1"
    assert room.find("hasPassword").text is None
    assert room.find("participants/participant1/name").text == "participant1-displayname"


async def test_xml_for_an_error_has_an_empty_data_element(users):
    r = await raw(users, "GET", f"/ocs/v2.php{API}/room/abcdefgh", headers=OCS)
    assert r.status_code == 404
    ocs = ET.fromstring(r.text)
    assert ocs.find("meta/status").text == "failure"
    assert ocs.find("meta/statuscode").text == "404"
    assert ocs.find("meta/message").text
    assert len(ocs.find("data")) == 0 and not ocs.find("data").text


# -- OCS v1 and v2 envelopes -------------------------------------------------------------------

async def test_v2_success_envelope(p1):
    r = await p1.get("/room")
    assert r.status == 200
    assert r.body == {"ocs": {"meta": {"status": "ok", "statuscode": 200, "message": "OK"}, "data": []}}


async def test_v1_success_is_http_200_with_statuscode_100_and_empty_paging_fields(p1):
    r = await p1.get("/room", v=1)
    assert r.status == 200
    assert r.meta == {"status": "ok", "statuscode": 100, "message": "OK", "totalitems": "", "itemsperpage": ""}
    assert r.data == []


async def test_v1_created_reads_as_failure_with_statuscode_201(p1):
    r = await p1.post("/room", v=1, roomType=3, roomName="x")
    assert r.status == 200
    assert (r.meta["status"], r.meta["statuscode"]) == ("failure", 201)
    assert r.data["name"] == "x"


async def test_v2_created_is_http_201(p1):
    r = await p1.post("/room", roomType=3, roomName="x")
    assert r.status == 201
    assert r.meta == {"status": "ok", "statuscode": 201, "message": "OK"}


@pytest.mark.parametrize("v,http", [(1, 200), (2, 404)])
async def test_not_found_on_v1_is_http_200_with_statuscode_404(p1, v, http):
    r = await p1.get("/room/abcdefgh", v=v)
    assert r.status == http
    assert (r.meta["status"], r.meta["statuscode"]) == ("failure", 404)
    assert r.data == []
    assert isinstance(r.meta["message"], str) and r.meta["message"]


@pytest.mark.parametrize("v", [1, 2])
async def test_missing_login_is_http_401_with_statuscode_997_on_both_versions(guest, v):
    r = await guest.get("/room", v=v)
    assert r.status == 401
    assert (r.meta["status"], r.meta["statuscode"]) == ("failure", 997)
    assert r.meta["message"] == "Current user is not logged in"
    assert r.data == []


async def test_unknown_route_on_v2_is_a_404_envelope(p1):
    r = await p1.get("/no/such/route")
    assert r.status == 404
    assert r.meta == {"status": "failure", "statuscode": 404, "message": UNKNOWN_ROUTE}
    assert r.data == []


async def test_unknown_route_on_v1_is_statuscode_998(p1):
    r = await p1.get("/no/such/route", v=1)
    assert r.status == 200
    assert (r.meta["statuscode"], r.meta["message"]) == (998, UNKNOWN_ROUTE)


async def test_unknown_route_defaults_to_xml(users):
    r = await raw(users, "GET", f"/ocs/v2.php{API}/nothing", headers=OCS)
    assert r.status_code == 404
    assert ET.fromstring(r.text).find("meta/statuscode").text == "404"


@pytest.mark.parametrize("token", ["ABCDEFGH", "abc", "a" * 31, "abcd-efg"])
async def test_token_outside_the_route_pattern_is_an_unknown_route(p1, token):
    r = await p1.get(f"/room/{token}")
    assert r.status == 404
    assert r.meta["message"] == UNKNOWN_ROUTE


async def test_known_path_with_wrong_method_is_405_with_empty_body(p1):
    token = await p1.create_room(3, name="x")
    for method, path in [("PATCH", "/room"), ("PUT", "/room"), ("GET", f"/room/{token}/public"),
                         ("PUT", f"/call/{token}"), ("GET", f"/call/{token}/ping")]:
        r = await p1.request(method, path)
        assert (r.status, r.text) == (405, ""), (method, path)


# -- CSRF header and authentication order ------------------------------------------------------

async def test_missing_ocs_header_is_a_plain_412(users, p1):
    token = await p1.create_room(3, name="x")
    r = await raw(users, "GET", f"/ocs/v2.php{API}/room/{token}", headers={"Accept": "application/json"})
    assert r.status_code == 412
    assert r.json() == {"message": "CSRF check failed"}
    r = await raw(users, "GET", ROOM_LIST, headers={"Accept": "application/json"}, auth=P1_AUTH)
    assert (r.status_code, r.json()) == (412, {"message": "CSRF check failed"})


@pytest.mark.parametrize("value", ["false", "1", ""])
async def test_ocs_header_must_say_true(users, value):
    r = await raw(users, "GET", ROOM_LIST, headers={"OCS-APIRequest": value}, auth=P1_AUTH)
    assert r.status_code == 412


async def test_ocs_header_name_and_value_are_case_insensitive(users):
    r = await raw(users, "GET", ROOM_LIST, headers={"ocs-apirequest": "TRUE", "Accept": "application/json"},
                  auth=P1_AUTH)
    assert r.status_code == 200


async def test_401_comes_before_412_on_login_required_endpoints(users):
    r = await raw(users, "GET", ROOM_LIST, headers={"Accept": "application/json"})
    assert r.status_code == 401
    assert r.json()["ocs"]["meta"]["statuscode"] == 997


@pytest.mark.parametrize("auth", [("participant1", "wrong"), ("nobody", "123456")])
async def test_wrong_basic_credentials_are_401(users, auth):
    token = await users.actor("participant1").create_room(3, name="x")
    for path in ("/room", f"/room/{token}"):
        r = await raw(users, "GET", f"/ocs/v2.php{API}{path}", headers={**OCS, "Accept": "application/json"},
                      auth=auth)
        assert r.status_code == 401
        assert r.json()["ocs"]["meta"]["statuscode"] == 997


async def test_malformed_basic_header_is_401(users):
    r = await raw(users, "GET", ROOM_LIST, headers={**OCS, "Authorization": "Basic !!!"})
    assert r.status_code == 401


async def test_capabilities_need_no_ocs_header_and_no_login(users):
    r = await raw(users, "GET", "/ocs/v2.php/cloud/capabilities", headers={"Accept": "application/json"})
    assert r.status_code == 200


# -- parameters ------------------------------------------------------------------------------

async def test_form_body_is_read_on_put_and_delete(p1, p2):
    token = await p1.create_room(3, name="x")
    assert (await p1.put(f"/room/{token}", roomName="renamed")).status == 200
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    assert (await p1.delete(f"/room/{token}/participants", participant="participant2")).status == 200
    assert (await p1.room(token)).data["name"] == "renamed"
    assert await p2.rooms() == []


async def test_json_body_is_read(p1, p2):
    r = await p1.post("/room", json={"roomType": 3, "roomName": "from json"})
    assert r.status == 201
    token = r.data["token"]
    assert (await p1.put(f"/room/{token}", json={"roomName": "renamed"})).status == 200
    assert (await p1.post(f"/room/{token}/participants", json={"newParticipant": "participant2"})).status == 200
    assert (await p1.delete(f"/room/{token}/participants", json={"participant": "participant2"})).status == 200
    assert (await p1.room(token)).data["name"] == "renamed"


async def test_query_string_parameters_are_read(p1):
    r = await p1.post("/room", params={"roomType": "3", "roomName": "from query"})
    assert (r.status, r.data["name"]) == (201, "from query")


async def test_json_body_wins_over_query_string(p1):
    r = await p1.post("/room", params={"roomType": "2", "roomName": "query"}, json={"roomType": 3, "roomName": "json"})
    assert r.status == 201
    assert (await p1.room(r.data["token"])).data["type"] == 3


@pytest.mark.parametrize("value", ["abc", "1.5", "12abc", "", " "])
async def test_non_integer_int_parameter_is_400_naming_it(p1, value):
    r = await p1.post("/room", roomType=value, roomName="x")
    assert r.status == 400
    assert r.data == []
    assert "roomType" in r.meta["message"]


async def test_oversized_body_is_a_413_envelope(p1):
    r = await p1.post("/room", roomType=3, roomName="x" * (1024 * 1024 + 10))
    assert r.status == 413
    assert r.meta["statuscode"] == 413
    assert "bytes" in r.meta["message"]
    assert r.headers["connection"] == "close"     # the unread body makes the connection unusable
    assert await p1.rooms() == []


# -- the session cookie ----------------------------------------------------------------------

async def test_join_sets_an_http_only_cookie_and_other_requests_do_not(users, p1, guest):
    token = await p1.create_room(3, name="x")
    r = await guest.room(token)
    assert "set-cookie" not in r.headers
    r = await guest.join(token)
    assert r.status == 200
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "path=/" in cookie.lower()
    assert len(r.data["sessionId"]) == 255


async def test_failed_join_sets_no_cookie(p1, guest):
    token = await p1.create_room(3, name="x")
    assert (await p1.put(f"/room/{token}/password", password="foobar")).status == 200
    r = await guest.join(token)
    assert r.status == 403
    assert "set-cookie" not in r.headers


async def test_the_cookie_identifies_the_guest_session(p1, guest):
    token = await p1.create_room(3, name="x")
    session = (await guest.join(token)).data["sessionId"]
    r = await guest.room(token)
    assert (r.data["sessionId"], r.data["participantType"]) == (session, 4)
    guest.client.cookies.clear()
    r = await guest.room(token)
    assert (r.data["sessionId"], r.data["participantType"]) == ("0", 4)


async def test_repeated_wrong_account_passwords_are_throttled(users):
    for _ in range(5):
        r = await raw(users, "GET", ROOM_LIST, headers=OCS, auth=("participant1", "wrong"))
        assert r.status_code == 401
    r = await raw(users, "GET", ROOM_LIST, headers={**OCS, "Accept": "application/json"}, auth=P1_AUTH)
    assert r.status_code == 429
    assert "retry in" in r.json()["ocs"]["meta"]["message"]
    r = await raw(users, "GET", ROOM_LIST, headers=OCS, auth=("participant2", "123456"))
    assert r.status_code == 200                        # other accounts are not affected
