"""What a crash of PostgreSQL may and may not lose (docs/failures.md, "What a
crash may lose"): which statements commit without waiting for the disk, and
what survives a crash right after each kept write."""

import unittest
import uuid

import rally
from rally import guest, psql, request, start_ticket, wait_until
from test_identity import login, refresh


def setUpModule():
    rally.pause_matchmaker()  # the tickets here stay as they were made


def tearDownModule():
    rally.resume_matchmaker()


class CommitModes(unittest.TestCase):
    """What commits synchronously and what does not (docs/failures.md):
    the setting in force when each statement's transaction commits, read
    inside that transaction."""

    def setting_after(self, sql, *args):
        out = psql("BEGIN;\n" + sql + ";\nSELECT 'mode=' || current_setting('synchronous_commit');\nROLLBACK;",
                   *args)
        return [l for l in out if l.startswith("mode=")][0][5:]

    def test_accounts_and_revocations_are_synchronous_rotations_not(self):
        self.assertEqual(psql("SHOW synchronous_commit"), ["on"])
        user, family = str(uuid.uuid4()), str(uuid.uuid4())
        make = "SELECT identity.create_guests(ARRAY[:'p1'::uuid], ARRAY[md5('secret')])"
        self.assertEqual(self.setting_after(make, user), "on")
        psql(make, user)
        # A login reads (auth-guest's check_guests); once an hour it records
        # itself, asynchronously.
        self.assertEqual(self.setting_after("SELECT identity.touch_guest(:'p1'::uuid)", user), "off")
        rotate = ("SELECT identity.rotate_refresh(md5(:'p1'), :'p2'::uuid, :'p3', now() + interval '1 hour', "
                  "now() + interval '2 hours')")
        self.assertEqual(self.setting_after(rotate, "token-1", family, user), "off")
        self.assertEqual(psql(rotate, "token-1", family, user), ["ok"])
        self.assertEqual(self.setting_after(rotate, "token-1", family, user), "on")  # reused: the revocation
        self.assertEqual(psql(rotate, "token-1", family, user), ["reused"])
        self.assertEqual(psql(rotate, "token-2", family, user), ["revoked"])
        logout = "SELECT identity.logout(:'p1'::uuid, :'p2', 3600)"
        self.assertEqual(self.setting_after(logout, str(uuid.uuid4()), user), "on")

    def test_a_new_ticket_is_asynchronous_and_nothing_else_of_starting_one(self):
        player = "durability-" + uuid.uuid4().hex
        start = ("SELECT (matchmaking.start_matchmaking(NULL, 'SampleFlexMatchConfiguration', :'p1', "
                 "'{\"us-east-1\": 20}', '{}', 10800, false)).outcome")
        self.assertEqual(self.setting_after(start, player), "off")
        self.assertEqual(psql(start, player), ["created"])
        # The same player again: refused (an active ticket), nothing written.
        self.assertEqual(psql(start, player), ["active"])
        self.assertEqual(self.setting_after(start, player), "on")
        unknown = ("SELECT (matchmaking.start_matchmaking(NULL, 'NoSuchConfiguration', :'p1', '{}', '{}', "
                   "10800, false)).outcome")
        self.assertEqual(self.setting_after(unknown, player), "on")


class CrashDurability(unittest.TestCase):
    """PostgreSQL crashes right after a request: what must survive does.
    Each kept thing is the last write before its own crash, since any later
    synchronous commit would also make the earlier writes durable. (The
    stack's own writers, heartbeats and the sweeper, can do that too, so a
    wrongly asynchronous revocation would only sometimes be lost here:
    CommitModes is the exact check of which commits wait.)"""

    def crash(self):
        rally.crash_postgres()
        rally.start_postgres()
        self.assertTrue(wait_until(self.serving, 30, 0.2))

    @staticmethod
    def serving():
        """A new guest, and a read with its token: both functions back."""
        r = request("POST", "/v1/identity/guest", {})
        return r.status == 200 and request("GET", "/v1/matchmaking/none",
                                           token=r.json["auth_token"]).status == 404

    def test_an_account_survives(self):
        account = guest()
        self.crash()
        self.assertEqual(login(account).status, 200, "an account made just before the crash")

    def test_reuse_detection_survives(self):
        stolen = guest()
        rotated = refresh(stolen["refresh_token"]).json
        self.assertEqual(refresh(stolen["refresh_token"]).json["error"], "refresh_token_reused")
        self.crash()
        r = refresh(rotated["refresh_token"])
        self.assertEqual((r.status, r.json["error"]), (401, "invalid_refresh_token"),
                         "the family revoked for reuse stays revoked")

    def test_logout_survives(self):
        left = guest()
        self.assertEqual(request("POST", "/v1/identity/logout", token=left["auth_token"]).status, 200)
        self.crash()
        self.assertEqual(refresh(left["refresh_token"]).status, 401, "a logout stays")

    def test_a_ticket_lost_or_not_is_answered_for(self):
        # A new ticket commits asynchronously: after a crash it is there, or
        # its poll says 404 and the client asks again; never a 5xx, and the
        # player can always start another.
        g = guest()
        t = start_ticket(g["auth_token"]).json["TicketId"]
        self.crash()
        r = request("GET", "/v1/matchmaking/" + t, token=g["auth_token"])
        self.assertIn(r.status, (200, 404), r)
        if r.status == 404:
            self.assertEqual(start_ticket(g["auth_token"]).status, 201)

    def test_a_rotation_lost_or_not_leaves_the_player_in(self):
        player = guest()
        renewed = refresh(player["refresh_token"]).json  # committed asynchronously
        self.crash()
        # The rotation may have been lost, which only forgets that the old
        # token was used: the new one carries its session and works either way.
        self.assertEqual(refresh(renewed["refresh_token"]).status, 200)
        self.assertEqual(login(player).status, 200)
