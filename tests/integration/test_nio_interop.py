"""A third party's expectations: Debian's matrix-nio against the fake.

matrix-nio validates server responses against its own JSON schemas, so a
response shape the fake gets wrong shows up here as an error response
object instead of a success. Needs python3-matrix-nio (apt); skipped with
the reason when it cannot be imported (e.g. under a pyenv python).
"""

import asyncio
import unittest

try:
    import nio
    NIO_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    nio = None
    NIO_ERROR = "matrix-nio not importable (%s); apt-get install " \
        "python3-matrix-nio and run with /usr/bin/python3" % exc

from fakes import FakeHomeserver


@unittest.skipIf(nio is None, NIO_ERROR)
class NioInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hs = FakeHomeserver().start()

    @classmethod
    def tearDownClass(cls):
        cls.hs.stop()

    def setUp(self):
        self.hs.reset()

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, 30))

    def assertOk(self, resp, kind):
        self.assertIsInstance(resp, kind, "nio got %r" % (resp,))
        return resp

    async def client(self, name, register=False):
        cl = nio.AsyncClient(self.hs.url, "@%s:localhost" % name)
        if register:
            self.assertOk(await cl.register(name, "pw-" + name),
                          nio.RegisterResponse)
            await cl.close()
            cl = nio.AsyncClient(self.hs.url, "@%s:localhost" % name)
        else:
            self.hs.human_register(name, "pw-" + name)
        self.assertOk(await cl.login("pw-" + name), nio.LoginResponse)
        return cl

    def test_login_create_send_sync(self):
        async def scenario():
            bot = await self.client("bot", register=True)
            person = await self.client("person")
            try:
                await self._conversation(bot, person)
            finally:
                await bot.close()
                await person.close()
        self.run_async(scenario())

    async def _conversation(self, bot, person):
        created = self.assertOk(await bot.room_create(
            name="Helpdesk", topic="IT", invite=["@person:localhost"]),
            nio.RoomCreateResponse)
        room_id = created.room_id
        first = self.assertOk(await bot.sync(timeout=0, full_state=True),
                              nio.SyncResponse)
        self.assertIn(room_id, first.rooms.join)
        self.assertEqual(bot.rooms[room_id].name, "Helpdesk")

        self.assertOk(await person.sync(timeout=0), nio.SyncResponse)
        self.assertIn(room_id, person.invited_rooms)
        self.assertOk(await person.join(room_id), nio.JoinResponse)
        self.assertOk(await person.sync(timeout=0), nio.SyncResponse)
        sent = self.assertOk(await person.room_send(
            room_id, "m.room.message", {"msgtype": "m.text",
                                        "body": "Can you help?"}),
            nio.RoomSendResponse)

        self.assertNoBadEvents(first)
        inc = self.assertOk(await bot.sync(timeout=3000), nio.SyncResponse)
        self.assertNoBadEvents(inc)
        events = inc.rooms.join[room_id].timeline.events
        texts = [e for e in events if isinstance(e, nio.RoomMessageText)]
        self.assertEqual([(e.event_id, e.body) for e in texts],
                         [(sent.event_id, "Can you help?")])
        self.assertIn("@person:localhost", bot.rooms[room_id].users)

        reply = self.assertOk(await bot.room_send(
            room_id, "m.room.message", {
                "msgtype": "m.text", "body": "**Done**",
                "format": "org.matrix.custom.html",
                "formatted_body": "<strong>Done</strong>"}),
            nio.RoomSendResponse)
        self.assertOk(await bot.room_typing(room_id, True, 1000),
                      nio.RoomTypingResponse)
        self.assertOk(await bot.room_read_markers(
            room_id, sent.event_id, sent.event_id),
            nio.RoomReadMarkersResponse)
        page = self.assertOk(await person.room_messages(
            room_id, start="", limit=10), nio.RoomMessagesResponse)
        self.assertEqual(page.chunk[0].event_id, reply.event_id)
        members = self.assertOk(await bot.joined_members(room_id),
                                nio.JoinedMembersResponse)
        self.assertEqual(sorted(m.user_id for m in members.members),
                         ["@bot:localhost", "@person:localhost"])
        # An incremental sync with nothing new has no "rooms" at all,
        # as on Synapse; nio must still accept it.
        self.assertOk(await person.sync(timeout=0), nio.SyncResponse)
        quiet = self.assertOk(await person.sync(timeout=200),
                              nio.SyncResponse)
        self.assertEqual(quiet.rooms.join, {})

    def assertNoBadEvents(self, sync):
        """nio turns events that fail its schemas into BadEvent objects."""
        bad = (nio.BadEvent, nio.UnknownBadEvent)
        for room in sync.rooms.join.values():
            for ev in room.timeline.events + room.state:
                self.assertNotIsInstance(ev, bad, "nio rejected %r" % ev)

    def test_state_profile_and_errors(self):
        async def scenario():
            bot = await self.client("bot")
            try:
                created = self.assertOk(await bot.room_create(name="R"),
                                        nio.RoomCreateResponse)
                rid = created.room_id
                self.assertOk(await bot.room_put_state(
                    rid, "org.example.marker", {"agent_id": "a1"}),
                    nio.RoomPutStateResponse)
                got = self.assertOk(await bot.room_get_state_event(
                    rid, "org.example.marker"),
                    nio.RoomGetStateEventResponse)
                self.assertEqual(got.content, {"agent_id": "a1"})
                self.assertOk(await bot.room_get_state(rid),
                              nio.RoomGetStateResponse)
                self.assertOk(await bot.set_displayname("Bot"),
                              nio.ProfileSetDisplayNameResponse)
                name = self.assertOk(await bot.get_displayname(),
                                     nio.ProfileGetDisplayNameResponse)
                self.assertEqual(name.displayname, "Bot")
                err = await bot.room_send("!nope:localhost",
                                          "m.room.message",
                                          {"msgtype": "m.text", "body": "x"})
                self.assertIsInstance(err, nio.RoomSendError)
                self.assertEqual(err.status_code, "M_FORBIDDEN")
                self.assertOk(await bot.room_leave(rid),
                              nio.RoomLeaveResponse)
                self.assertOk(await bot.room_forget(rid),
                              nio.RoomForgetResponse)
                self.assertOk(await bot.logout(), nio.LogoutResponse)
            finally:
                await bot.close()
        self.run_async(scenario())


if __name__ == "__main__":
    unittest.main()
