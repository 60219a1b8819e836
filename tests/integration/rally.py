"""Helpers for rally's integration tests: HTTP against the real nginx, SQL
against the real PostgreSQL, signed SNS deliveries, forged tokens.

Only the Python standard library; signing goes through the project's own
rally-sns-sign tool and the openssl command line."""

import base64
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

ENV = os.environ
URL_HOST = "127.0.0.1"
PORT = int(ENV["RALLY_HTTP_PORT"])
BIN = ENV["RALLY_BIN"]
RUN = ENV["RALLY_RUN_DIR"]
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOPIC = ENV["RALLY_SNS_TOPICS"].split(",")[0]
CONFIG_ARN = "arn:aws:gamelift:local:000000000000:matchmakingconfiguration/"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


def request(method, path, body=None, token=None, headers=None, bare=False, port=None):
    """One HTTP request; body may be bytes, str or a JSON-able object; to the
    stack's nginx unless port names another (edge.SideNginx)."""
    h = {}
    if token is not None:
        h["Authorization"] = token if bare else "Bearer " + token
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    if isinstance(body, str):
        body = body.encode()
    h.update(headers or {})
    conn = http.client.HTTPConnection(URL_HOST, port or PORT, timeout=20)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def guest():
    r = request("POST", "/v1/identity/guest", {})
    assert r.status == 200, r
    return r.json


def psql(sql, *args):
    """Runs one SQL statement as the rally role; returns stdout lines.
    Arguments are bound through psql variables, never pasted into SQL."""
    cmd = ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1"]
    for i, a in enumerate(args):
        cmd += ["-v", "p%d=%s" % (i + 1, a)]
    out = subprocess.run(cmd, input=sql, capture_output=True, text=True, check=True)
    return [l for l in out.stdout.splitlines() if l]


def now_iso(offset=0.0):
    t = time.time() + offset
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def event(etype, tickets, configuration="SampleFlexMatchConfiguration", when=None, **detail):
    """A FlexMatch matchmaking event (the SNS Message), reference/aws-flow.md §3.
    tickets: list of (ticketId, [player dicts])."""
    d = {"tickets": [{"ticketId": tid, "startTime": now_iso(-5), "players": players}
                     for tid, players in tickets],
         "type": etype,
         "gameSessionInfo": {"players": [p for _, ps in tickets for p in ps]}}
    d.update(detail)
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "GameLift Matchmaking Event",
            "source": "aws.gamelift", "account": "000000000000",
            "time": when or now_iso(), "region": "local",
            "resources": [CONFIG_ARN + configuration], "detail": d}


def sign(message, version="2", message_id=None, topic=None, key=None, cert_url=None,
         timestamp=None):
    """A signed SNS Notification body (dict) for message (dict or str)."""
    args = [os.path.join(BIN, "rally-sns-sign"), "-v", version]
    if message_id:
        args += ["-i", message_id]
    if topic:
        args += ["-T", topic]
    if key:
        args += ["-k", key]
    if cert_url:
        args += ["-u", cert_url]
    if timestamp:
        args += ["-t", timestamp]
    text = message if isinstance(message, str) else json.dumps(message)
    out = subprocess.run(args, input=text, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def deliver(notification, message_type=None, headers=None):
    h = {"x-amz-sns-message-type": message_type or notification.get("Type", "Notification"),
         "x-amz-sns-message-id": notification.get("MessageId", ""),
         "x-amz-sns-topic-arn": notification.get("TopicArn", ""),
         "Content-Type": "text/plain; charset=UTF-8"}
    h.update(headers or {})
    return request("POST", "/v1/events/sns", json.dumps(notification), headers=h)


def publish(etype, tickets, **kw):
    """Signs and delivers one event; returns the response."""
    return deliver(sign(event(etype, tickets, **kw)))


def start_ticket(token, latency=None, **body):
    body.setdefault("latencyInMs", latency or {"us-east-1": 20, "eu-west-1": 90})
    return request("POST", "/v1/matchmaking", body, token=token)


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")))


def decode_part(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def key_alg(key_path):
    """The JWS algorithm a PEM key signs with: ES256 for EC P-256, else RS256."""
    out = subprocess.run(["openssl", "pkey", "-in", key_path, "-noout", "-text_pub"],
                         capture_output=True, check=True, text=True).stdout
    return "ES256" if "prime256v1" in out else "RS256"


def der_to_raw(der):
    """An ECDSA signature's DER (SEQUENCE of INTEGER r, s) as JWS's R || S."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    halves = []
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        halves.append(int.from_bytes(der[i + 2:i + 2 + n], "big").to_bytes(32, "big"))
        i += 2 + n
    return b"".join(halves)


def jws_sign(signing_input, key_path, alg):
    out = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path], input=signing_input.encode(),
                         capture_output=True, check=True)
    return b64url(der_to_raw(out.stdout) if alg == "ES256" else out.stdout)


def current_kid():
    with open(os.path.join(ENV["RALLY_JWT_KEY_DIR"], "current")) as f:
        return f.read().strip()


def current_key_path():
    return os.path.join(ENV["RALLY_JWT_KEY_DIR"], "keys", current_kid() + ".key")


def forge(claims=None, header=None, key_path=None):
    """A token with chosen header/claims, signed with key_path (default: the
    real current key, so only the claims are wrong) in its key's algorithm."""
    kid = current_kid()
    now = int(time.time())
    c = {"iss": ENV["RALLY_JWT_ISSUER"], "sub": str(uuid.uuid4()), "aud": "gamebackend",
         "scope": "guest", "iat": now, "nbf": now, "exp": now + 600, "jti": str(uuid.uuid4())}
    c.update(claims or {})
    key = key_path or current_key_path()
    alg = key_alg(key)
    h = {"alg": alg, "typ": "JWT", "kid": kid}
    h.update(header or {})
    signing_input = b64url_json(h) + "." + b64url_json(c)
    return signing_input + "." + jws_sign(signing_input, key, alg)


def jose_verify(tokens):
    """Each token checked by npm jose (tests/integration/jose) against the
    JWKS nginx serves, with rally's issuer and audience: a list of its
    answers ({"ok", "alg", "kid", "sub"} or {"ok": False, "code"})."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(["node", os.path.join(here, "jose", "verify.mjs"),
                          f"http://{URL_HOST}:{PORT}/.well-known/jwks.json", ENV["RALLY_JWT_ISSUER"],
                          "gamebackend"],
                         input="".join(t + "\n" for t in tokens), capture_output=True, text=True,
                         timeout=60, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


def pids(name):
    with open(os.path.join(RUN, "pids", name + ".pid")) as f:
        return int(f.read().strip())


def wait_until(predicate, timeout=10.0, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def fresh_fleet_local(idle=2, timeout=30):
    """fleet-local as `make run` starts it: every process ended (the
    matches earlier tests left on them, whose players never came, with
    them), and at least `idle` idle ones in each location again, the
    stack's agents having replaced them (docs/agent.md). True once there."""
    psql("UPDATE fleet.processes SET status = 'TERMINATED' WHERE fleet_id = 'fleet-local'")
    counts = lambda: [int(n) for n in psql(
        "SELECT count(p.process_id) FROM unnest(ARRAY['local-us-east-1', 'local-eu-west-1']) c "
        "LEFT JOIN fleet.processes p ON p.compute_name = c AND p.status = 'ACTIVE' "
        "AND p.game_session_id IS NULL GROUP BY c")]
    return wait_until(lambda: all(n >= idle for n in counts()), timeout)


def load_config(**kinds):
    """Loads config/ plus the given files through rally-admin, as an operator
    would: load_config(rulesets={"Duel": {...}}, queues={...}, fleets={...},
    configurations={...})."""
    d = tempfile.mkdtemp(prefix="rally-config-test-")
    try:
        shutil.copytree(os.path.join(TOP, "config"), d, dirs_exist_ok=True)
        for kind, files in kinds.items():
            os.makedirs(os.path.join(d, kind), exist_ok=True)
            for name, body in files.items():
                with open(os.path.join(d, kind, name + ".json"), "w") as f:
                    json.dump(body, f)
        subprocess.run([os.path.join(BIN, "rally-admin"), "load-config", d], check=True,
                       capture_output=True, env=os.environ)
    finally:
        shutil.rmtree(d)


def stop_postgres():
    """Stops the stack's PostgreSQL (fast: sessions are ended)."""
    cmd = ["/usr/lib/postgresql/15/bin/pg_ctl", "-D", os.path.join(ENV["RALLY_RT_DIR"], "pg", "data"),
           "-m", "fast", "-w", "stop"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    subprocess.run(cmd, check=True, capture_output=True)


def crash_postgres():
    """Crashes the stack's PostgreSQL: immediate mode ends every process at
    once, with no checkpoint and nothing flushed, so the next start
    recovers from the WAL as after a power cut of PostgreSQL alone (the
    kernel keeps what was written to it: RALLY_PG_FAST's fsync=off does
    not matter). start_postgres() brings it back."""
    cmd = ["/usr/lib/postgresql/15/bin/pg_ctl", "-D", os.path.join(ENV["RALLY_RT_DIR"], "pg", "data"),
           "-m", "immediate", "-w", "stop"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    subprocess.run(cmd, check=True, capture_output=True)


def start_postgres():
    subprocess.run([os.path.join(TOP, "scripts", "stack.sh"), "pg-start", RUN], check=True, capture_output=True)


def _pid(name):
    with open(os.path.join(RUN, "pids", name + ".pid")) as f:
        return int(f.read())


def pause_matchmaker():
    """For tests that play the matchmaker themselves (signed events straight
    to event-ingest): the real one would match their tickets too. Paired
    with resume_matchmaker() in setUpModule / tearDownModule."""
    os.kill(_pid("matchmaker"), signal.SIGSTOP)


def resume_matchmaker():
    os.kill(_pid("matchmaker"), signal.SIGCONT)
