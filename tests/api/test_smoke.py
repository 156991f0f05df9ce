async def test_owner_creates_public_room_and_sees_it(p1, p3):
    token = await p1.create_room(3, name="lobby")
    rooms = await p1.rooms()
    assert [r["token"] for r in rooms] == [token]
    assert rooms[0]["participantType"] == 1
    assert await p3.rooms() == []
