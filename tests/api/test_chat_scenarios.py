"""The chat scenarios of the reference's integration suite (talk-api-v1.md §13): chat/one-to-one,
chat/group, chat/public, chat/password and chat/rich-messages."""
from __future__ import annotations

import pytest

from .chat_steps import guest_row, joined, read, send, sees, user_row


# -- chat/one-to-one.feature and chat/group.feature (the same five scenarios) -------------------

@pytest.fixture(params=["one-to-one", "group"])
async def private_room(request, p1):
    """p1 owns it and p2 is in it: invited (one-to-one) or through the group attendees1."""
    if request.param == "one-to-one":
        return await p1.create_room(1, invite="participant2")
    return await p1.create_room(2, invite="attendees1")


async def test_owner_can_send_and_receive_chat_messages(p1, private_room):
    await send(p1, private_room, "Message 1")
    assert await sees(p1, private_room) == [user_row(private_room, 1, "Message 1")]


async def test_invited_user_can_send_and_receive_chat_messages(p2, private_room):
    await send(p2, private_room, "Message 1")
    assert await sees(p2, private_room) == [user_row(private_room, 2, "Message 1")]


async def test_not_invited_user_can_not_send_nor_receive_chat_messages(p1, p3, private_room):
    await send(p3, private_room, "Message 1", expect=404)
    await send(p1, private_room, "Message 2")
    assert (await read(p3, private_room)).status == 404


async def test_guest_can_not_send_nor_receive_chat_messages(guest, private_room):
    assert (await guest.post(f"/call/{private_room}")).status == 404
    await send(guest, private_room, "Message 1", expect=404)
    assert (await read(guest, private_room)).status == 404


async def test_everyone_in_a_private_room_can_receive_messages_from_everyone(p1, p2, private_room):
    await send(p1, private_room, "Message 1")
    await send(p2, private_room, "Message 2")
    expected = [user_row(private_room, 2, "Message 2"), user_row(private_room, 1, "Message 1")]
    assert await sees(p1, private_room) == expected
    assert await sees(p2, private_room) == expected


# -- chat/public.feature ---------------------------------------------------------------------

@pytest.fixture
async def public_room(p1, p2):
    token = await p1.create_room(3, name="room")
    assert (await p1.post(f"/room/{token}/participants", newParticipant="participant2")).status == 200
    return token


async def test_owner_can_chat_in_a_public_room(p1, public_room):
    await send(p1, public_room, "Message 1")
    assert await sees(p1, public_room) == [user_row(public_room, 1, "Message 1")]


async def test_invited_user_can_chat_in_a_public_room(p2, public_room):
    await send(p2, public_room, "Message 1")
    assert await sees(p2, public_room) == [user_row(public_room, 2, "Message 1")]


async def test_not_invited_user_can_chat_in_a_public_room_after_joining(p3, public_room):
    await joined(p3, public_room)
    await send(p3, public_room, "Message 1")
    assert await sees(p3, public_room) == [user_row(public_room, 3, "Message 1")]


async def test_not_invited_user_can_not_chat_in_a_public_room_without_joining(p3, public_room):
    await send(p3, public_room, "Message 1", expect=404)
    assert (await read(p3, public_room)).status == 404


async def test_joined_guest_can_chat_in_a_public_room(guest, public_room):
    session = await joined(guest, public_room)
    await send(guest, public_room, "Message 1")
    assert await sees(guest, public_room, {"guest": session}) == [guest_row(public_room, "Message 1")]


async def test_guest_can_not_chat_in_a_public_room_without_joining(guest, public_room):
    await send(guest, public_room, "Message 1", expect=404)
    assert (await read(guest, public_room)).status == 404


async def test_everyone_in_a_public_room_can_receive_messages_from_everyone(p1, p2, guest, public_room):
    session = await joined(guest, public_room)
    await send(p1, public_room, "Message 1")
    await send(p2, public_room, "Message 2")
    await send(guest, public_room, "Message 3")
    expected = [guest_row(public_room, "Message 3"), user_row(public_room, 2, "Message 2"),
                user_row(public_room, 1, "Message 1")]
    for actor in (p1, p2, guest):
        assert await sees(actor, public_room, {"guest": session}) == expected


# -- chat/password.feature -------------------------------------------------------------------

@pytest.fixture
async def password_room(p1, public_room):
    assert (await p1.put(f"/room/{public_room}/password", password="foobar")).status == 200
    return public_room


async def test_owner_can_chat_in_a_password_room_without_joining(p1, password_room):
    await send(p1, password_room, "Message 1")
    assert await sees(p1, password_room) == [user_row(password_room, 1, "Message 1")]


async def test_invited_user_can_chat_in_a_password_room_without_joining(p2, password_room):
    await send(p2, password_room, "Message 1")
    assert await sees(p2, password_room) == [user_row(password_room, 2, "Message 1")]


async def test_not_invited_user_can_chat_in_a_password_room_after_joining_with_the_password(p3, password_room):
    await joined(p3, password_room, "foobar")
    await send(p3, password_room, "Message 1")
    assert await sees(p3, password_room) == [user_row(password_room, 3, "Message 1")]


async def test_not_invited_user_can_not_chat_in_a_password_room_without_joining(p3, password_room):
    await send(p3, password_room, "Message 1", expect=404)
    assert (await read(p3, password_room)).status == 404


async def test_guest_can_chat_in_a_password_room_after_joining_with_the_password(guest, password_room):
    session = await joined(guest, password_room, "foobar")
    await send(guest, password_room, "Message 1")
    assert await sees(guest, password_room, {"guest": session}) == [guest_row(password_room, "Message 1")]


async def test_guest_can_not_chat_in_a_password_room_without_joining(guest, password_room):
    assert (await guest.join(password_room)).status == 403
    await send(guest, password_room, "Message 1", expect=404)
    assert (await read(guest, password_room)).status == 404


async def test_everyone_in_a_password_room_can_receive_messages_from_everyone(p1, p2, p3, guest, password_room):
    await joined(p3, password_room, "foobar")
    session = await joined(guest, password_room, "foobar")
    await send(p1, password_room, "Message 1")
    await send(p2, password_room, "Message 2")
    await send(p3, password_room, "Message 3")
    await send(guest, password_room, "Message 4")
    expected = [guest_row(password_room, "Message 4"), user_row(password_room, 3, "Message 3"),
                user_row(password_room, 2, "Message 2"), user_row(password_room, 1, "Message 1")]
    for actor in (p1, p2, p3, guest):
        assert await sees(actor, password_room, {"guest": session}) == expected


# -- chat/rich-messages.feature --------------------------------------------------------------

P2 = '"mention-user{k}":{{"type":"user","id":"participant2","name":"participant2-displayname"}}'
P3 = '"mention-user{k}":{{"type":"user","id":"participant3","name":"participant3-displayname"}}'
UNKNOWN = '"mention-user{k}":{{"type":"user","id":"unknownUser","name":"Unknown user"}}'


async def test_message_without_enrichable_references_has_empty_parameters(p1, public_room):
    await send(p1, public_room, "Message without enrichable references")
    assert await sees(p1, public_room) == [user_row(public_room, 1, "Message without enrichable references")]


async def test_message_with_mention_to_a_user(p1, public_room):
    await send(p1, public_room, "Mention to @participant2")
    assert await sees(p1, public_room) == [
        user_row(public_room, 1, "Mention to {mention-user1}", "{" + P2.format(k=1) + "}")]


async def test_message_with_mention_to_an_unknown_user(p1, public_room):
    await send(p1, public_room, "Mention to @unknownUser")
    assert await sees(p1, public_room) == [
        user_row(public_room, 1, "Mention to {mention-user1}", "{" + UNKNOWN.format(k=1) + "}")]


async def test_message_with_duplicated_mention(p1, public_room):
    await send(p1, public_room, "Mention to @participant2 and @participant2 again")
    assert await sees(p1, public_room) == [
        user_row(public_room, 1, "Mention to {mention-user1} and {mention-user1} again", "{" + P2.format(k=1) + "}")]


async def test_message_with_several_mentions(p1, public_room):
    await send(p1, public_room, "Mention to @participant2, @unknownUser, @participant2 again and @participant3")
    parameters = "{" + ",".join([P2.format(k=1), UNKNOWN.format(k=2), P3.format(k=3)]) + "}"
    assert await sees(p1, public_room) == [user_row(
        public_room, 1, "Mention to {mention-user1}, {mention-user2}, {mention-user1} again and {mention-user3}",
        parameters)]
