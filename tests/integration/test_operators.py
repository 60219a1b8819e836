"""An operator's access (the console's, docs/observability.md): the admin
login, and what its token opens: the GameLift API and Prometheus's query
API through nginx. Players' and game servers' tokens open none of it."""

import json
import os
import stat
import unittest

from rally import RUN, guest, request, wait_until
from test_fleet import server_token


def password():
    with open(os.path.join(RUN, "secrets", "admin-password")) as f:
        return f.read().strip()


def login(username="admin", pw=None):
    return request("POST", "/v1/admin/login",
                   {"username": username, "password": password() if pw is None else pw})


def admin_token():
    r = login()
    assert r.status == 200, r
    return r.json["auth_token"]


def gamelift(operation, body, token):
    return request("POST", "/", body, token=token,
                   headers={"X-Amz-Target": "GameLift." + operation,
                            "Content-Type": "application/x-amz-json-1.1"})


class Login(unittest.TestCase):
    def test_the_admin_logs_in(self):
        r = login()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"auth_token", "auth_token_expires_in"})
        self.assertEqual(r.json["auth_token_expires_in"], 3600)
        payload = r.json["auth_token"].split(".")[1]
        claims = json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        self.assertEqual((claims["sub"], claims["scope"]), ("admin", "admin"))

    def test_wrong_credentials_are_refused_alike(self):
        for user, pw in (("admin", password() + "x"), ("nobody", password()), ("admin", "")):
            r = login(user, pw)
            self.assertEqual(r.status, 401, (user, r))
            self.assertEqual(r.json["error"], "invalid_credentials")
        for body in ({}, {"username": "admin"}, {"username": "admin", "password": 1},
                     {"username": "admin", "password": "x", "extra": 1}):
            self.assertEqual(request("POST", "/v1/admin/login", body).status, 400, body)

    def test_the_password_is_kept_as_a_digest(self):
        path = os.path.join(RUN, "secrets", "admins")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            text = f.read()
        self.assertNotIn(password(), text)
        self.assertRegex(text, r"^admin:pbkdf2-sha256\$600000\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+\n$")


class AdminToken(unittest.TestCase):
    def test_it_calls_the_gamelift_api(self):
        r = gamelift("ListFleets", {}, admin_token())
        self.assertEqual(r.status, 200, r)
        self.assertIn("fleet-local", r.json["FleetIds"])
        r = gamelift("DescribeFleetCapacity", {"FleetIds": ["fleet-local"]}, admin_token())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["FleetCapacity"][0]["FleetId"], "fleet-local")

    def test_other_tokens_do_not(self):
        for token in (guest()["auth_token"], server_token("fleet-local")):
            r = gamelift("ListFleets", {}, token)
            self.assertIn(r.status, (400, 401, 403), r)
            self.assertNotIn("FleetIds", r.json or {})

    def test_it_queries_prometheus(self):
        token = admin_token()

        def up():
            r = request("GET", "/v1/admin/prometheus/api/v1/query?query=up", token=token)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["status"], "success")
            return any(x["metric"].get("service") == "poll-ticket" for x in r.json["data"]["result"])
        self.assertTrue(wait_until(up, 30, 1))

    def test_prometheus_is_for_admins_and_reads_only(self):
        path = "/v1/admin/prometheus/api/v1/query?query=up"
        self.assertEqual(request("GET", path).status, 401)
        self.assertEqual(request("GET", path, token=guest()["auth_token"]).status, 403)
        self.assertEqual(request("GET", path, token=server_token("fleet-local")).status, 403)
        self.assertEqual(request("POST", path, token=admin_token()).status, 403)
        for other in ("/v1/admin/prometheus/api/v1/admin/tsdb/delete_series",
                      "/v1/admin/prometheus/-/quit", "/v1/admin/prometheus/api/v1/status/config"):
            self.assertEqual(request("GET", other, token=admin_token()).status, 404, other)


if __name__ == "__main__":
    unittest.main()


class DeadLetters(unittest.TestCase):
    """A delivery given up on, listed and sent again by an operator."""

    def setUp(self):
        from rally import psql
        self.psql = psql
        self.endpoint = "http://127.0.0.1:9/operators-test"
        psql("INSERT INTO events.subscriptions (topic_arn, endpoint) VALUES ('arn:aws:sns:local:0:ops', :'p1') "
             "ON CONFLICT DO NOTHING", self.endpoint)
        self.addCleanup(psql, "DELETE FROM events.subscriptions WHERE endpoint = :'p1'", self.endpoint)
        self.addCleanup(psql, "DELETE FROM events.dead_letters WHERE endpoint = :'p1'", self.endpoint)
        self.sub = int(psql("SELECT subscription_id FROM events.subscriptions WHERE endpoint = :'p1'",
                            self.endpoint)[0])
        self.message = psql(
            "INSERT INTO events.dead_letters (message_id, subscription_id, topic_arn, endpoint, message, "
            "attempts, last_error) VALUES (gen_random_uuid(), :'p1', 'arn:aws:sns:local:0:ops', :'p2', "
            "'{\"detail\": \"<b>hi</b>\"}', 3, 'connection refused') RETURNING message_id",
            str(self.sub), self.endpoint)[0]

    def test_listed_and_retried(self):
        r = request("GET", "/v1/admin/dead-letters", token=admin_token())
        self.assertEqual(r.status, 200, r)
        mine = [d for d in r.json["DeadLetters"] if d["MessageId"] == self.message]
        self.assertEqual(len(mine), 1, r.json)
        self.assertEqual((mine[0]["SubscriptionId"], mine[0]["Endpoint"], mine[0]["Attempts"],
                          mine[0]["LastError"]), (self.sub, self.endpoint, 3, "connection refused"))
        r = request("POST", "/v1/admin/dead-letters/retry",
                    {"MessageId": self.message, "SubscriptionId": self.sub}, token=admin_token())
        self.assertEqual(r.status, 200, r)
        # Back in the outbox, due again (and, nothing listening there, given up again later).
        left = self.psql("SELECT count(*) FROM events.dead_letters WHERE message_id = :'p1'", self.message)[0]
        due = self.psql("SELECT count(*) FROM events.outbox WHERE message_id = :'p1'", self.message)[0]
        self.assertEqual((left, due) if left == "0" else ("0", "1"), ("0", "1"))
        r = request("POST", "/v1/admin/dead-letters/retry",
                    {"MessageId": "00000000-0000-0000-0000-000000000000", "SubscriptionId": self.sub},
                    token=admin_token())
        self.assertEqual(r.status, 404, r)

    def test_for_admins_alone(self):
        for token in (None, guest()["auth_token"], server_token("fleet-local")):
            self.assertIn(request("GET", "/v1/admin/dead-letters", token=token).status, (401, 403))
            r = request("POST", "/v1/admin/dead-letters/retry",
                        {"MessageId": self.message, "SubscriptionId": self.sub}, token=token)
            self.assertIn(r.status, (401, 403))
        self.assertEqual(self.psql("SELECT count(*) FROM events.dead_letters WHERE message_id = :'p1'",
                                   self.message)[0], "1")
        for body in ({}, {"MessageId": "x", "SubscriptionId": 1}, {"MessageId": self.message},
                     {"MessageId": self.message, "SubscriptionId": "1"}):
            r = request("POST", "/v1/admin/dead-letters/retry", body, token=admin_token())
            self.assertEqual(r.status, 400, (body, r))
        self.assertEqual(request("GET", "/v1/admin/dead-letters?limit=0", token=admin_token()).status, 400)
