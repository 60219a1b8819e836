"""Guest identity, refresh rotation with reuse detection, logout, and the
sweep of sessions (what a crash may lose: test_durability)."""

import base64
import unittest

import rally
from rally import guest, psql, request, wait_until


def login(g):
    return request("POST", "/v1/identity/guest", {"user_id": g["user_id"], "guest_secret": g["guest_secret"]})


def refresh(token):
    return request("POST", "/v1/identity/refresh", {"refresh_token": token})


def families(user_id):
    return int(psql("SELECT count(*) FROM identity.refresh_families WHERE user_id = :'p1'", user_id)[0])


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

    def test_a_login_stores_no_session(self):
        g = guest()
        stored = lambda: (families(g["user_id"]), psql(
            "SELECT count(*) FROM identity.refresh_tokens t JOIN identity.refresh_families f USING (family_id) "
            "WHERE f.user_id = :'p1'", g["user_id"])[0])
        r = login(g)
        self.assertEqual(r.status, 200)
        self.assertEqual(stored(), (0, "0"), "a new account and a login write no session rows")
        # The session is in its tokens: the access token's sid is the family
        # the refresh token carries, and the database learns of it at the
        # first rotation, with the token used.
        sid = rally.decode_part(r.json["auth_token"].split(".")[1])["sid"]
        again = refresh(r.json["refresh_token"])
        self.assertEqual(again.status, 200)
        self.assertEqual(stored(), (1, "1"))
        self.assertEqual(psql("SELECT family_id FROM identity.refresh_families WHERE user_id = :'p1'",
                              g["user_id"]), [sid])
        self.assertEqual(rally.decode_part(again.json["auth_token"].split(".")[1])["sid"], sid)

    def test_last_login_is_kept_to_the_hour(self):
        g = guest()
        psql("UPDATE identity.users SET last_login_at = now() - interval '2 hours' WHERE user_id = :'p1'",
             g["user_id"])
        self.assertEqual(login(g).status, 200)
        seen = lambda: psql("SELECT last_login_at FROM identity.users WHERE user_id = :'p1'", g["user_id"])[0]
        first = seen()
        self.assertEqual(psql("SELECT :'p1'::timestamptz > now() - interval '1 minute'", first), ["t"])
        self.assertEqual(login(g).status, 200)
        self.assertEqual(seen(), first, "a second login within the hour leaves the user's row alone")

    def test_user_ids_are_case_blind(self):
        g = guest()
        r = request("POST", "/v1/identity/guest", {"user_id": g["user_id"].upper(),
                                                   "guest_secret": g["guest_secret"]})
        self.assertEqual((r.status, r.json["user_id"]), (200, g["user_id"]))
        self.assertEqual(refresh(r.json["refresh_token"]).json["user_id"], g["user_id"])

    def test_wrong_secret_is_401(self):
        g = guest()
        r = request("POST", "/v1/identity/guest", {"user_id": g["user_id"], "guest_secret": "x" * 43})
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json["error"], "invalid_credentials")
        wrong_by_one = g["guest_secret"][:-1] + ("A" if g["guest_secret"][-1] != "A" else "B")
        self.assertEqual(request("POST", "/v1/identity/guest",
                                 {"user_id": g["user_id"], "guest_secret": wrong_by_one}).status, 401)

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


class LoginsInBatches(unittest.TestCase):
    """auth-guest answers the guest logins waiting on its socket together:
    one read for the returning guests, one transaction for the new ones.
    Under concurrency each must still get its own answer."""

    def test_concurrent_logins_each_get_their_own_answer(self):
        import concurrent.futures
        import json
        import urllib.parse
        from test_metrics import until_batched

        def sub(token):
            part = token.split(".")[1]
            return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["sub"]

        known = [guest() for _ in range(8)]
        cases = []  # (kind, guest or None, route)
        for k in range(160):  # every kind on both routes, every known guest in each
            cases.append((["new", "right", "wrong", "unknown"][k % 4], known[(k // 4) % 8], (k // 32) % 2))

        def call(case):
            kind, g, guidance = case
            who = {"new": {}, "right": {"user_id": g["user_id"], "guest_secret": g["guest_secret"]},
                   "wrong": {"user_id": g["user_id"], "guest_secret": g["guest_secret"][::-1]},
                   "unknown": {"user_id": "00000000-0000-4000-8000-%012d" % cases.index(case),
                               "guest_secret": g["guest_secret"]}}[kind]
            if guidance:
                return request("GET", "/login-as-guest?" + urllib.parse.urlencode(who), bare=True)
            return request("POST", "/v1/identity/guest", who, bare=True)

        def burst():
            with concurrent.futures.ThreadPoolExecutor(32) as pool:
                got = list(pool.map(call, cases))
            made = set()
            for (kind, g, guidance), r in zip(cases, got):
                if kind in ("wrong", "unknown"):
                    self.assertEqual(r.status, 401, (kind, r))
                    continue
                self.assertEqual(r.status, 200, (kind, r))
                self.assertEqual(sub(r.json["auth_token"]), r.json["user_id"])
                if kind == "right":
                    self.assertEqual((r.json["user_id"], "guest_secret" in r.json), (g["user_id"], False))
                    continue
                made.add(r.json["user_id"])
                # A new guest is there, durable, before its answer: its
                # secret logs in at once.
                self.assertEqual(login(r.json).json["user_id"], r.json["user_id"])
            self.assertEqual(len(made), 40)  # each new guest its own user

        until_batched(self, "auth-guest", burst, len(cases))


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

    def test_another_spelling_of_a_used_token_is_no_new_token(self):
        # base64url's last character carries two unused bits: the same token
        # spelled otherwise must not slip past reuse detection.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        g = guest()
        t = g["refresh_token"]
        self.assertEqual(refresh(t).status, 200)
        other = t[:-1] + alphabet[alphabet.index(t[-1]) | 1]
        r = refresh(other)
        self.assertEqual((r.status, r.json["error"]), (401, "invalid_refresh_token"))
        self.assertEqual(refresh(t).json["error"], "refresh_token_reused")

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

    def test_forged_refresh_tokens_are_401_and_ask_nothing(self):
        # A token's MAC and expiry are checked before the database is asked
        # (tests/unit/test_refresh.c has every byte and the expiry).
        g = guest()
        raw = bytearray(base64.urlsafe_b64decode(g["refresh_token"] + "="))
        for i in (0, 20, 40, 60, 88):  # version, family, player, expiry, MAC
            forged = bytearray(raw)
            forged[i] ^= 1
            token = base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()
            r = refresh(token)
            self.assertEqual((r.status, r.json["error"]), (401, "invalid_refresh_token"), i)
        # The GUIDANCE sample's route refuses it alike.
        r = request("GET", "/refresh-access-token?refresh_token=" + token)
        self.assertEqual(r.status, 401)
        self.assertEqual(refresh(g["refresh_token"]).status, 200)

    def test_a_revoked_familys_newer_tokens_stay_refused(self):
        g = guest()
        newer = refresh(g["refresh_token"]).json
        self.assertEqual(request("POST", "/v1/identity/logout", token=newer["auth_token"]).status, 200)
        r = refresh(newer["refresh_token"])
        self.assertEqual((r.status, r.json["error"]), (401, "invalid_refresh_token"))
        self.assertEqual(psql("SELECT revoked_reason FROM identity.refresh_families WHERE user_id = :'p1'",
                              g["user_id"]), ["logout"])

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


class Sweep(unittest.TestCase):
    def test_used_tokens_and_families_go_when_they_expire(self):
        g = guest()
        refresh(g["refresh_token"])
        other = guest()
        refresh(other["refresh_token"])
        rows = lambda user: psql(
            "SELECT (SELECT count(*) FROM identity.refresh_families WHERE user_id = :'p1') || '/' || "
            "(SELECT count(*) FROM identity.refresh_tokens t JOIN identity.refresh_families f "
            "USING (family_id) WHERE f.user_id = :'p1')", user)[0]
        self.assertEqual((rows(g["user_id"]), rows(other["user_id"])), ("1/1", "1/1"))
        psql("UPDATE identity.refresh_families SET expires_at = now() - interval '1 second' "
             "WHERE user_id = :'p1'", g["user_id"])
        self.assertTrue(wait_until(lambda: rows(g["user_id"]) == "0/0", 10),
                        "the sweeper deletes an expired family and its used tokens")
        self.assertEqual(rows(other["user_id"]), "1/1")
        # A used token whose own expiry passed goes; its family, whose newer
        # token still lives, stays.
        psql("UPDATE identity.refresh_tokens t SET expires_at = now() - interval '1 second' "
             "FROM identity.refresh_families f WHERE f.family_id = t.family_id AND f.user_id = :'p1'",
             other["user_id"])
        self.assertTrue(wait_until(lambda: rows(other["user_id"]) == "1/0", 10))
