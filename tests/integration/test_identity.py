"""Guest identity, refresh rotation with reuse detection, logout."""

import unittest

from rally import guest, psql, request


class GuestLogin(unittest.TestCase):
    def test_new_guest_gets_identity_and_tokens(self):
        r = request("POST", "/v1/identity/guest", {})
        self.assertEqual(r.status, 200)
        self.assertEqual(list(r.json), ["user_id", "guest_secret", "auth_token", "refresh_token",
                                        "auth_token_expires_in", "refresh_token_expires_in"])
        self.assertEqual(r.json["auth_token_expires_in"], 900)
        self.assertEqual(psql("SELECT count(*) FROM identity.users WHERE user_id = :'p1'",
                              r.json["user_id"]), ["1"])
        # The secret is stored only as a digest.
        self.assertEqual(psql("SELECT count(*) FROM identity.users WHERE secret_sha256 = :'p1'",
                              r.json["guest_secret"]), ["0"])

    def test_empty_body_is_a_new_guest(self):
        r = request("POST", "/v1/identity/guest")
        self.assertEqual(r.status, 200)
        self.assertIn("guest_secret", r.json)

    def test_returning_guest_logs_in_without_new_secret(self):
        g = guest()
        r = request("POST", "/v1/identity/guest",
                    {"user_id": g["user_id"], "guest_secret": g["guest_secret"]})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["user_id"], g["user_id"])
        self.assertNotIn("guest_secret", r.json)
        self.assertNotEqual(r.json["refresh_token"], g["refresh_token"])

    def test_wrong_secret_is_401(self):
        g = guest()
        r = request("POST", "/v1/identity/guest", {"user_id": g["user_id"], "guest_secret": "x" * 43})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json["error"], "invalid_credentials")

    def test_unknown_or_malformed_user_is_401(self):
        for uid in ("00000000-0000-4000-8000-000000000000", "not-a-uuid", "' OR 1=1 --"):
            r = request("POST", "/v1/identity/guest", {"user_id": uid, "guest_secret": "abc"})
            self.assertEqual(r.status, 401, uid)

    def test_bad_bodies_are_400_and_create_nothing(self):
        before = psql("SELECT count(*) FROM identity.users")
        for body in ('{"user_id": "x"}', '{"guest_secret": "x"}', '{"user_id": 5, "guest_secret": "x"}',
                     '{"nickname": "bob"}', "{", "[]", '"x"', b'{"user_id": "\xff\xfe"}',
                     '{"user_id": "a", "user_id": "b", "guest_secret": "c"}'):
            r = request("POST", "/v1/identity/guest", body)
            self.assertEqual(r.status, 400, body)
            self.assertIn("error", r.json)
            self.assertIn("message", r.json)
        self.assertEqual(psql("SELECT count(*) FROM identity.users"), before)

    def test_wrong_method_is_405_json(self):
        r = request("GET", "/v1/identity/guest")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.json["error"], "method_not_allowed")


class Refresh(unittest.TestCase):
    def test_rotation_returns_a_new_pair(self):
        g = guest()
        r = request("POST", "/v1/identity/refresh", {"refresh_token": g["refresh_token"]})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["user_id"], g["user_id"])
        self.assertNotEqual(r.json["refresh_token"], g["refresh_token"])
        # The new access token works.
        me = request("POST", "/v1/matchmaking", {"latencyInMs": {"x": 1}}, token=r.json["auth_token"])
        self.assertEqual(me.status, 201)

    def test_reuse_revokes_the_whole_family(self):
        g = guest()
        first = request("POST", "/v1/identity/refresh", {"refresh_token": g["refresh_token"]})
        self.assertEqual(first.status, 200)
        # The old token again: someone copied it.
        again = request("POST", "/v1/identity/refresh", {"refresh_token": g["refresh_token"]})
        self.assertEqual(again.status, 401)
        self.assertEqual(again.json["error"], "refresh_token_reused")
        # The legitimate newer token is revoked with its family.
        newer = request("POST", "/v1/identity/refresh", {"refresh_token": first.json["refresh_token"]})
        self.assertEqual(newer.status, 401)
        self.assertEqual(newer.json["error"], "invalid_refresh_token")

    def test_unknown_token_is_401_and_bad_body_400(self):
        self.assertEqual(request("POST", "/v1/identity/refresh", {"refresh_token": "nope"}).status, 401)
        self.assertEqual(request("POST", "/v1/identity/refresh", {}).status, 400)
        self.assertEqual(request("POST", "/v1/identity/refresh", {"refresh_token": 1}).status, 400)

    def test_expired_refresh_token_is_401(self):
        g = guest()
        psql("UPDATE identity.refresh_tokens SET expires_at = now() - interval '1 second' "
             "WHERE family_id = (SELECT family_id FROM identity.refresh_families WHERE user_id = :'p1')",
             g["user_id"])
        r = request("POST", "/v1/identity/refresh", {"refresh_token": g["refresh_token"]})
        self.assertEqual(r.status, 401)

    def test_logout_revokes_the_callers_family_only(self):
        g = guest()
        other = request("POST", "/v1/identity/guest",
                        {"user_id": g["user_id"], "guest_secret": g["guest_secret"]}).json
        r = request("POST", "/v1/identity/logout", token=g["auth_token"])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, {})
        self.assertEqual(request("POST", "/v1/identity/refresh",
                                 {"refresh_token": g["refresh_token"]}).status, 401)
        # The other session of the same user lives on.
        self.assertEqual(request("POST", "/v1/identity/refresh",
                                 {"refresh_token": other["refresh_token"]}).status, 200)

    def test_logout_needs_a_token(self):
        r = request("POST", "/v1/identity/logout")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.headers.get("www-authenticate"), "Bearer")


class ServerIdentity(unittest.TestCase):
    def test_fleet_secret_gives_server_token(self):
        import os
        with open(os.path.join(os.environ["RALLY_FLEET_SECRET_DIR"], "fleet-local.secret")) as f:
            secret = f.read().strip()
        r = request("POST", "/v1/identity/server", {"fleetId": "fleet-local", "fleetSecret": secret})
        self.assertEqual(r.status, 200)
        self.assertIn("auth_token", r.json)
        bad = request("POST", "/v1/identity/server", {"fleetId": "fleet-local", "fleetSecret": secret + "x"})
        self.assertEqual(bad.status, 401)
        for fleet in ("../fleets/fleet-local", "nope"):
            r = request("POST", "/v1/identity/server", {"fleetId": fleet, "fleetSecret": secret})
            self.assertEqual(r.status, 401, fleet)
