"""Token verification: every way a forged or stale token must fail."""

import hmac
import hashlib
import os
import subprocess
import tempfile
import time
import unittest

from rally import (ENV, b64url, b64url_json, current_key_path, current_kid, decode_part, forge, guest,
                   jose_verify, key_alg, request)


def fleet_token():
    with open(os.path.join(ENV["RALLY_FLEET_SECRET_DIR"], "fleet-local.secret")) as f:
        secret = f.read().strip()
    return request("POST", "/v1/identity/server",
                   {"fleetId": "fleet-local", "fleetSecret": secret}).json["auth_token"]


class IndependentVerifier(unittest.TestCase):
    """npm jose, which nobody at rally wrote, verifies every kind of token
    rally issues against the JWKS nginx serves, as a studio's service would."""

    def test_jose_verifies_issued_tokens(self):
        g = guest()
        again = request("POST", "/v1/identity/guest",
                        {"user_id": g["user_id"], "guest_secret": g["guest_secret"]}).json
        refreshed = request("POST", "/v1/identity/refresh", {"refresh_token": again["refresh_token"]}).json
        tokens = [g["auth_token"], again["auth_token"], refreshed["auth_token"], fleet_token()]
        answers = jose_verify(tokens)
        kid = current_kid()
        self.assertEqual([a["ok"] for a in answers], [True] * 4, answers)
        self.assertEqual({(a["alg"], a["kid"]) for a in answers}, {(key_alg(current_key_path()), kid)})
        self.assertEqual([a["sub"] for a in answers], [g["user_id"]] * 3 + ["fleet-local"])
        # What rally's default keys are: ES256 (docs/bench.md, issue 16).
        self.assertEqual(answers[0]["alg"], "ES256")

    def test_jose_refuses_a_tampered_token(self):
        h, p, s = guest()["auth_token"].split(".")
        claims = dict(decode_part(p), sub="someone-else")
        answers = jose_verify([h + "." + b64url_json(claims) + "." + s])
        self.assertEqual(answers, [{"ok": False, "code": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
                                    "alg": decode_part(h)["alg"]}])


class TokenAttacks(unittest.TestCase):
    route = "/v1/matchmaking"
    body = {"latencyInMs": {"us-east-1": 10}}

    def assert_rejected(self, token, status=401):
        r = request("POST", self.route, self.body, token=token)
        self.assertEqual(r.status, status, r)
        self.assertIn(r.json["error"], ("unauthorized", "forbidden"))
        return r

    def test_valid_forgery_control(self):
        # The forging helper itself makes acceptable tokens: the attacks below
        # fail for their one defect, not for how they were built.
        r = request("POST", self.route, self.body, token=forge())
        self.assertEqual(r.status, 201, r)

    def test_bare_token_without_bearer_is_accepted(self):
        r = request("POST", self.route, self.body, token=guest()["auth_token"], bare=True)
        self.assertEqual(r.status, 201)

    def test_missing_and_garbage(self):
        self.assert_rejected(None)
        self.assert_rejected("garbage")
        self.assert_rejected("a.b.c")

    def test_alg_none(self):
        claims = decode_part(guest()["auth_token"].split(".")[1])
        token = b64url_json({"alg": "none", "typ": "JWT", "kid": current_kid()}) + "." + b64url_json(claims) + "."
        self.assert_rejected(token)

    def test_hs256_signed_with_the_public_key(self):
        kid = current_kid()
        with open(os.path.join(ENV["RALLY_JWT_KEY_DIR"], "keys", kid + ".pub"), "rb") as f:
            pub = f.read()
        claims = decode_part(guest()["auth_token"].split(".")[1])
        signing_input = b64url_json({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + b64url_json(claims)
        sig = hmac.new(pub, signing_input.encode(), hashlib.sha256).digest()
        self.assert_rejected(signing_input + "." + b64url(sig))

    def test_tampered_payload(self):
        h, p, s = guest()["auth_token"].split(".")
        claims = decode_part(p)
        claims["sub"] = "someone-else"
        self.assert_rejected(h + "." + b64url_json(claims) + "." + s)

    def test_unknown_kid(self):
        self.assert_rejected(forge(header={"kid": "k-unknown"}))

    def test_signed_by_another_key_with_a_known_kid(self):
        with tempfile.TemporaryDirectory() as d:
            ec, rsa = os.path.join(d, "ec.pem"), os.path.join(d, "rsa.pem")
            subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-out", ec,
                            "-pkeyopt", "ec_paramgen_curve:P-256"], check=True, capture_output=True)
            subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-out", rsa,
                            "-pkeyopt", "rsa_keygen_bits:2048"], check=True, capture_output=True)
            # Another key of the current key's kind, and one of the other
            # kind (its own alg in the header, the current kid).
            self.assert_rejected(forge(key_path=ec))
            self.assert_rejected(forge(key_path=rsa))
            self.assertEqual(jose_verify([forge(key_path=ec), forge(key_path=rsa)]),
                             [{"ok": False, "code": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
                               "alg": "ES256"},
                              {"ok": False, "code": "ERR_JWKS_NO_MATCHING_KEY", "alg": "RS256"}])

    def test_alg_of_the_other_kind_under_the_current_kid(self):
        # Signed by the current key itself, over a header naming the other
        # algorithm: the signature is genuine, only the alg is wrong.
        other = "RS256" if key_alg(current_key_path()) == "ES256" else "ES256"
        self.assert_rejected(forge(header={"alg": other}))

    def test_expired_and_not_yet_valid(self):
        now = int(time.time())
        self.assert_rejected(forge({"exp": now - 120, "iat": now - 1000, "nbf": now - 1000}))
        self.assert_rejected(forge({"nbf": now + 600}))
        # Inside the 60 s leeway the token still works.
        r = request("POST", self.route, self.body, token=forge({"exp": now - 30}))
        self.assertEqual(r.status, 201)

    def test_wrong_audience_and_issuer(self):
        self.assert_rejected(forge({"aud": "someone-else"}))
        self.assert_rejected(forge({"iss": "https://evil.example"}))
        self.assert_rejected(forge({"scope": "superuser"}))
        self.assert_rejected(forge({"exp": None}))

    def test_player_token_on_server_route_is_403(self):
        r = request("POST", "/v1/fleet/matchmaking/describe", {"TicketIds": ["t1"]},
                    token=guest()["auth_token"])
        self.assertEqual(r.status, 403)
        self.assertEqual(r.json["error"], "forbidden")

    def test_server_token_on_player_route_is_403(self):
        self.assert_rejected(fleet_token(), status=403)

    def test_server_route_with_server_token(self):
        g = guest()
        t = request("POST", self.route, self.body, token=g["auth_token"]).json["TicketId"]
        r = request("POST", "/v1/fleet/matchmaking/describe", {"TicketIds": [t, "unknown-1"]},
                    token=fleet_token())
        self.assertEqual(r.status, 200)
        self.assertEqual([x["TicketId"] for x in r.json["TicketList"]], [t])

    def test_compat_routes_answer_like_api_gateway(self):
        r = request("GET", "/prod/get-match-status?ticketId=x", token=forge({"aud": "x"}), bare=True)
        self.assertEqual((r.status, r.body), (401, b'{"message": "Unauthorized"}'))
        r = request("GET", "/Prod/requestmatchstatus?ticketId=x")
        self.assertEqual((r.status, r.body), (401, b'{"message":"Unauthorized"}'))
