"""Files and search alongside the later chat: deleting or clearing frees files and unindexes
text, edits are re-indexed, uploads take a caption reply, silent and referenceId, capabilities."""
from __future__ import annotations

from server.domain import attachments

from .files_helpers import blob_files, download, group_room, png, raw, upload


async def test_deleting_a_file_message_frees_the_file(users, p1, p2, tmp_path):
    token = await group_room(p1, "participant2")
    shared = await upload(p1, token, "holiday-photo.png", png())
    link = shared.data["messageParameters"]["file"]["link"]
    assert len(blob_files(tmp_path)) == 1
    r = await p1.delete(f"/chat/{token}/{shared.data['id']}")
    assert r.status == 200, r.text
    assert (await download(p2, link)).status_code == 404
    items = await raw(p2, "GET", f"/chat/{token}/share", params={"objectType": "media"})
    assert items.status == 200 and items.body["ocs"]["data"] == []
    found = await p2.get(f"/chat/{token}/search", params={"term": "holiday"})
    assert found.data == []
    await attachments.sweep(users.ctx)
    assert blob_files(tmp_path) == []


async def test_clearing_the_history_frees_every_file(users, p1, tmp_path):
    token = await group_room(p1)
    for n in range(3):
        await upload(p1, token, f"f{n}.txt", f"file {n}".encode())
    assert len(blob_files(tmp_path)) == 3
    r = await p1.delete(f"/chat/{token}")
    assert r.status == 200, r.text
    overview = await raw(p1, "GET", f"/chat/{token}/share/overview")
    assert overview.data["file"] == []
    await attachments.sweep(users.ctx)
    assert blob_files(tmp_path) == []


async def test_an_edit_is_reindexed(users, p1):
    token = await group_room(p1)
    r = await p1.post(f"/chat/{token}", message="meeting on monday")
    assert r.status == 201
    message_id = r.data["id"]
    assert len((await p1.get(f"/chat/{token}/search", params={"term": "monday"})).data) == 1
    edited = await p1.put(f"/chat/{token}/{message_id}", message="meeting on tuesday")
    assert edited.status == 200, edited.text
    assert (await p1.get(f"/chat/{token}/search", params={"term": "monday"})).data == []
    hits = (await p1.get(f"/chat/{token}/search", params={"term": "tuesday"})).data
    assert [m["id"] for m in hits] == [message_id] and hits[0]["lastEditActorId"] == "participant1"


async def test_system_messages_are_not_search_results(users, p1):
    token = await group_room(p1, "participant2", name="renamed room")
    r = await p1.get(f"/chat/{token}/search", params={"term": "participant2"})
    assert r.status == 200 and r.data == []   # "{actor} added {user}" is not a comment


async def test_upload_with_caption_reply_silent_and_reference_id(users, p1, p2):
    token = await group_room(p1, "participant2")
    question = (await p2.post(f"/chat/{token}", message="send me the plan")).data
    r = await upload(p1, token, "plan.pdf", b"%PDF-1.4 plan", caption="here it is", replyTo=str(question["id"]),
                     silent="true", referenceId="  ref-123  ")
    assert r.status == 201, r.text
    assert r.data["message"] == "here it is"
    assert r.data["parent"]["id"] == question["id"]
    assert r.data["silent"] is True and r.data["referenceId"] == "ref-123"
    assert r.data["messageParameters"]["file"]["name"] == "plan.pdf"
    bad = await upload(p1, token, "plan.pdf", b"x", replyTo="999999")
    assert bad.status == 400
    not_int = await upload(p1, token, "plan.pdf", b"x", replyTo="first")
    assert not_int.status == 400 and "replyTo" in not_int.meta["message"]


async def test_a_file_message_can_be_replied_to_and_reacted_to(users, p1, p2):
    token = await group_room(p1, "participant2")
    shared = (await upload(p1, token, "p.png", png())).data
    reply = await p2.post(f"/chat/{token}", message="nice", replyTo=shared["id"])
    assert reply.status == 201 and reply.data["parent"]["messageParameters"]["file"]["name"] == "p.png"
    reacted = await p2.post(f"/reaction/{token}/{shared['id']}", reaction="👍")
    assert reacted.status in (200, 201), reacted.text
    items = await raw(p2, "GET", f"/chat/{token}/share", params={"objectType": "media"})
    (item,) = items.data.values()
    assert item["reactions"] == {"👍": 1} and item["reactionsSelf"] == ["👍"]


async def test_capabilities_name_the_file_features(users, p1):
    r = await p1.request("GET", "/cloud/capabilities", prefix="/ocs/v2.php")
    features = r.data["capabilities"]["spreed"]["features"]
    for name in ("rich-object-list-media", "rich-object-delete", "media-caption"):
        assert name in features
    assert len(features) == len(set(features))
