"""A seeded, bounded fuzz run over every public route of rally: `make fuzz`.

Approach. A seed request is a valid request of one route (fuzz_requests.SEEDS:
native, compatibility with and without /prod and /Prod, fleet, SNS, push,
/.well-known, unknown paths, the GameLift API's operations signed with the
stack's access key as they are sent, so that a mutated body gets past the
signature), made with real state created at start: guests
with tickets and refresh tokens, a fleet's server token, processes, game and
player sessions, signed SNS notifications (some with mutated events inside).
Each request then gets zero to four mutations (method; path, ids, encodings;
query; Authorization and other headers; body framing; JSON structure and
bytes; the SNS envelope), all drawn from random.Random("SEED:i"): request i is
the same on every run of a seed whatever the timing, only the tokens and ids
inside it are the new stack's. Requests are written as raw bytes (most are
requests no HTTP library would send) over RALLY_FUZZ_CONNECTIONS keep-alive
connections. Halfway through, PostgreSQL is stopped for a few seconds and
started again while the fuzzing goes on.

Every response must:
- not be a 5xx, except a 503 while PostgreSQL is down, and 501 to an unknown
  Transfer-Encoding (HTTP's answer to it; test_platform.ErrorPages);
- when it is an error (>= 400), have a JSON Content-Type and a JSON body:
  rally's {"error", "message"} envelope on native routes, GameLift's
  {"__type", "message"} where rally answers as the GameLift API, any JSON on
  the compatibility routes (their AWS samples have their own error shapes); the
  exceptions are nchan's long-poll 408 (no body) and HEAD (no body);
- when it says it is JSON, parse as JSON;
- carry X-Request-Id, and no more bytes than it declares (on a keep-alive
  connection they would be read as the next response).
Crashed workers (functions or nginx) and sanitizer reports are found by
scripts/integration.sh's scan of the logs after this program ends: make fuzz
runs it through that script. A failure prints the request as sent and how
to replay it; the exact bytes of each are saved under build-san/fuzz/.

    RALLY_FUZZ_SEED       the seed (default 9)
    RALLY_FUZZ_COUNT      how many requests (default 20000)
    RALLY_FUZZ_CONNECTIONS  connections at once (default 8)
    RALLY_FUZZ_ONLY=I,J-K  replays those requests alone, printing each request
                           and response (no outage)
"""

import asyncio
import collections
import concurrent.futures
import configparser
import json
import os
import random
import shutil
import subprocess
import sys
import time

import rally
from fuzz_requests import Request, dialect, generate, m_bytes, m_json
from rally import ENV, PORT, RUN, TOP, URL_HOST, guest, psql, request

SEED = int(ENV.get("RALLY_FUZZ_SEED", "9"))
COUNT = int(ENV.get("RALLY_FUZZ_COUNT", "20000"))
CONNECTIONS = int(ENV.get("RALLY_FUZZ_CONNECTIONS", "8"))
ONLY = ENV.get("RALLY_FUZZ_ONLY", "")
OUTAGE_SECONDS = 3.0
TIMEOUT = 20.0  # above nginx's 15 s FastCGI timeouts: a hung function is nginx's 504
HELD_AFTER = 3.0  # a push subscription with nothing to send yet is held, not hung
BODY_WAIT = 1.0  # nginx waits for the rest of a body that was promised longer
SHOWN_FAILURES = 25
SAVE_DIR = os.path.join(TOP, "build-san", "fuzz")  # the exact bytes of every failed request and response


# ---- the state seed requests are made from -----------------------------------


class Context:
    """Real tokens and ids on the running stack, made once."""

    PLAYERS = 8

    def __init__(self, seed):
        rng = random.Random("%d:context" % seed)
        with open(os.path.join(RUN, "fleets", "fleet-local.secret")) as f:
            self.fleet_secret = f.read().strip()
        r = request("POST", "/v1/identity/server", {"fleetId": "fleet-local", "fleetSecret": self.fleet_secret})
        assert r.status == 200, r
        self.server_token = r.json["auth_token"]
        self.configurations = ["SampleFlexMatchConfiguration", "ModesConfiguration", "TeamDeathmatch",
                               "NoSuchConfiguration"]
        self.players = []
        for i in range(self.PLAYERS):
            g = guest()
            latency = {"us-east-1": rng.randint(1, 100), "eu-west-1": rng.randint(1, 100)}
            t = request("POST", "/v1/matchmaking", {"latencyInMs": latency,
                                                     "configuration": self.configurations[i % 3]},
                        token=g["auth_token"])
            assert t.status == 201, t
            self.players.append(dict(g, ticket=t.json["TicketId"]))
        self.tickets = [p["ticket"] for p in self.players] + ["no-such-ticket"]
        self.ticket_players = [(p["ticket"], [p["user_id"]]) for p in self.players]
        self.process_ids = ["process-nope"]
        for port in (41001, 41002):
            r = request("POST", "/v1/fleet/processes", {"location": "us-east-1", "ipAddress": "127.0.0.1",
                                                        "port": port, "maxPlayers": 4}, token=self.server_token)
            assert r.status == 201, r
            self.process_ids.append(r.json["processId"])
        # The matchmaker places some of the tickets on the sample game
        # servers: their game and player sessions are real ids to aim at.
        rally.wait_until(lambda: psql("SELECT count(*) FROM fleet.player_sessions") != ["0"], 10, 0.3)
        self.game_session_ids = psql("SELECT game_session_id FROM fleet.game_sessions ORDER BY 1 LIMIT 4") + [
            "gsess-nope"]
        self.player_session_ids = psql("SELECT player_session_id FROM fleet.player_sessions ORDER BY 1 LIMIT 4") + [
            "psess-nope"]
        self.forged = [rally.forge(claims) for claims in (
            {"exp": int(time.time()) - 3600}, {"nbf": int(time.time()) + 3600}, {"aud": "other"},
            {"iss": "http://evil.example"}, {"scope": "admin"}, {"scope": "server"},
            {"sub": self.players[0]["user_id"]})] + [rally.forge(header={"kid": "unknown-kid"})]
        self.notifications = signed_notifications(self, random.Random("%d:sns" % seed))
        keys = configparser.ConfigParser()
        keys.read(os.path.join(RUN, "aws", "credentials"))
        self.aws_key = (keys["default"]["aws_access_key_id"], keys["default"]["aws_secret_access_key"])
        self.game_session_arns = psql("SELECT game_session_arn FROM fleet.game_sessions ORDER BY 1 LIMIT 4") + [
            "arn:aws:gamelift:us-east-1::gamesession/fleet-local/us-east-1/nope", "gsess-nope"]


EVENT_TYPES = ["MatchmakingSearching", "PotentialMatchCreated", "AcceptMatch", "AcceptMatchCompleted",
               "MatchmakingSucceeded", "MatchmakingTimedOut", "MatchmakingCancelled", "MatchmakingFailed"]


def signed_notifications(ctx, rng, n=64):
    """SNS Notifications signed by the stack's own signer: FlexMatch events
    of the context's tickets, half of them with a mutated event inside (so
    the mutation gets past the signature), some old, future or odd stamps."""
    jobs = []
    for k in range(n):
        p = rng.choice(ctx.players)
        etype = rng.choice(EVENT_TYPES)
        players = [{"playerId": p["user_id"], "playerSessionId": "psess-fuzz-%d" % k, "team": "red"}]
        detail = {"matchId": "match-fuzz-%d" % rng.randrange(8), "acceptanceRequired": rng.random() < 0.5,
                  "acceptanceTimeout": 10}
        if etype == "MatchmakingSucceeded":
            detail["gameSessionInfo"] = {"gameSessionArn": "arn:aws:gamelift:local::gamesession/fleet-local/gs-1",
                                         "ipAddress": "10.0.0.1", "dnsName": "gs.example", "port": 7777,
                                         "players": players}
        if etype == "AcceptMatchCompleted":
            detail["acceptance"] = rng.choice(["Accepted", "Rejected", "TimedOut"])
        event = rally.event(etype, [(p["ticket"], players)], **detail)
        text = json.dumps(event)
        if rng.random() < 0.5:
            carrier = Request("sns", "", "POST", "/", body=text.encode())
            (m_json if rng.random() < 0.8 else m_bytes)(carrier, ctx, rng)
            text = (carrier.body or b"").decode("utf-8", "replace")
        stamp = rng.choice([None] * 6 + ["2000-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z", "not a time"])
        jobs.append((text, rng.choice(["1", "2"]), "fuzz-%d-%d" % (SEED, k), stamp))

    def sign(job):
        text, version, message_id, stamp = job
        try:
            return rally.sign(text, version=version, message_id=message_id, timestamp=stamp)
        except subprocess.CalledProcessError:
            return None  # a message the signer refuses (say, one it cannot put in JSON)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return [s for s in pool.map(sign, jobs) if s is not None]


# ---- raw HTTP/1.1 over asyncio ------------------------------------------------------

# What a request got when it got no response to judge.
HELD = "held"  # a push subscription waiting for news
WAITING = "waiting"  # nginx waiting for the rest of a body promised longer than sent
CLOSED = "closed"  # the connection closed without a response
TIMED_OUT = "timeout"


class NoResponse(Exception):
    pass


class Overrun(Exception):
    """Bytes where a status line should be: the previous response on the
    connection carried more than its headers declared."""


class Response:
    def __init__(self, status, headers, body, head):
        self.status, self.headers, self.body, self.head = status, headers, body, head

    def closes(self):
        return self.body is None or "close" in self.headers.get("connection", "").lower()

    def __repr__(self):
        return "%d %r" % (self.status, (self.head + (b"<stream>" if self.body is None else self.body))[:1500])


async def read_response(reader, method, events):
    """One response (1xx but 101 skipped). The body of a stream (WebSocket,
    EventSource) is not read: its headers are the answer."""
    while True:
        first = await reader.readline()
        if not first:
            raise NoResponse()
        head = [first]
        while head[-1] not in (b"\r\n", b"\n", b""):
            head.append(await reader.readline())
        parts = first.split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise Overrun(first)
        status = int(parts[1])
        if not (100 <= status < 200) or status == 101:
            break
    headers = {}
    for line in head[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if value:
            headers[name.strip().lower()] = value.strip()
    head = b"".join(head)
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    if status == 101 or (events and status < 300 and (chunked or "content-length" not in headers)):
        return Response(status, headers, None, head)
    if method == "HEAD" or status in (204, 304):
        return Response(status, headers, b"", head)
    if chunked:
        body = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            body.append((await reader.readexactly(size + 2))[:-2])  # each chunk ends in CRLF
            if size == 0:
                return Response(status, headers, b"".join(body), head)
    if "content-length" in headers:
        return Response(status, headers, await reader.readexactly(int(headers["content-length"])), head)
    return Response(status, headers, await reader.read(), head)


class Connection:
    """One keep-alive connection, opened on demand."""

    def __init__(self):
        self.reader = self.writer = None
        self.used = False

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(URL_HOST, PORT, limit=1 << 20)
        self.used = False

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, wire):
        try:
            self.writer.write(wire)
            await self.writer.drain()
        except ConnectionError:
            pass  # nginx may answer (413, 400) before it read everything: read what it said

    async def leftover(self, wait):
        """Bytes that arrive after a response, on a connection still open:
        what the next request would read as its response (a replay has no
        next request to notice them)."""
        if self.reader is None:
            return b""
        try:
            return await asyncio.wait_for(self.reader.read(100), wait)
        except (asyncio.TimeoutError, ConnectionError):
            return b""

    async def exchange(self, req, wire):
        """The outcome of one request: a Response, HELD, WAITING, CLOSED or
        TIMED_OUT. Raises Overrun (and closes) when the previous response
        ran over into this one."""
        events = dialect(req) == "events"
        limit = HELD_AFTER if events else TIMEOUT
        if req.framing is not None:
            # A lying body framing goes on a connection of its own (the
            # request says Connection: close). When less body came than
            # promised, nginx may answer at once (413) or wait for the rest
            # (" 12" is a valid 12).
            self.close()
            await self.open()
            await self.send(wire)
            promised = req.framing in ("long", "invalid")
            try:
                return await asyncio.wait_for(read_response(self.reader, req.method, events),
                                              BODY_WAIT if promised else limit)
            except (NoResponse, ConnectionError, asyncio.IncompleteReadError):
                return CLOSED
            except asyncio.TimeoutError:
                return WAITING if promised else HELD if events else TIMED_OUT
            finally:
                self.close()
        for attempt in (1, 2):
            if self.writer is None:
                await self.open()
            reused = self.used
            await self.send(wire)
            try:
                resp = await asyncio.wait_for(read_response(self.reader, req.method, events), limit)
            except (NoResponse, ConnectionError):
                # Nothing came back. On a kept-alive connection that is the
                # race every HTTP client meets: nginx closed it (an end of
                # file, or a reset when bytes of ours were still unread)
                # as the request went out. Once more on a new one, as
                # browsers do; on a new connection it is a failure.
                self.close()
                if reused and attempt == 1:
                    continue
                return CLOSED
            except asyncio.IncompleteReadError:
                self.close()
                return CLOSED
            except asyncio.TimeoutError:
                self.close()
                return HELD if events else TIMED_OUT
            except Overrun:
                self.close()
                raise
            self.used = True
            if resp.closes():
                self.close()
            return resp


# ---- the rules every response follows ----------------------------------------------


def unknown_transfer_coding(req):
    """A Transfer-Encoding nginx does not implement, which HTTP answers with
    501 (RFC 9112 6.1; test_platform.ErrorPages checks its envelope)."""
    return any(k.lower() == "transfer-encoding" and v.strip().lower() != "chunked" for k, v in req.headers)


def problems(req, resp):
    """What is wrong with one outcome (empty when nothing)."""
    if isinstance(resp, str):
        return {CLOSED: ["connection closed without a response"],
                TIMED_OUT: ["no response within %d s" % TIMEOUT]}.get(resp, [])
    out = []
    # Only the GameLift API's answers carry x-amzn-RequestId (common/dialect.c).
    kind = "gamelift" if "x-amzn-requestid" in resp.headers else dialect(req)
    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    if resp.status >= 500 and not (resp.status == 501 and unknown_transfer_coding(req)):
        out.append("status %d" % resp.status)
    if "x-request-id" not in resp.headers:
        out.append("no X-Request-Id")
    doc, parsed = None, False
    if resp.body:
        try:
            doc, parsed = json.loads(resp.body), True
        except ValueError:
            pass
    if resp.status >= 400 and not (resp.status == 408 and kind == "events" and not resp.body):
        json_types = ("application/json", "application/x-amz-json-1.1") if kind == "gamelift" \
            else ("application/json",)
        if ctype not in json_types:
            out.append("error with Content-Type %r" % ctype)
        if req.method != "HEAD":
            if not parsed:
                out.append("error body is not JSON")
            elif kind == "gamelift":
                # nginx's own error pages on POST / (413 and the like) say no
                # x-amzn-RequestId and keep the native envelope.
                if not (isinstance(doc, dict) and isinstance(doc.get("__type"), str)
                        and isinstance(doc.get("message"), str)):
                    out.append("error body is not the GameLift {__type, message} envelope")
            elif kind != "compat" and not (isinstance(doc, dict) and isinstance(doc.get("error"), str)
                                           and isinstance(doc.get("message"), str)):
                out.append("error body is not the {error, message} envelope")
    elif ctype in ("application/json", "application/x-amz-json-1.1") and resp.body and not parsed:
        out.append("JSON Content-Type but the body is not JSON")
    return out


# ---- the run ---------------------------------------------------------------------------


class Outage:
    """PostgreSQL stopped (pg_ctl stop, as test_platform.DatabaseRestart)
    and started again (scripts/stack.sh pg-start) while requests keep coming."""

    def __init__(self):
        self.start = self.end = None

    async def run(self, started, at):
        while started[0] < at:
            await asyncio.sleep(0.05)
        self.start = time.monotonic()
        try:
            await asyncio.to_thread(rally.stop_postgres)
            await asyncio.sleep(OUTAGE_SECONDS)
        finally:
            await asyncio.to_thread(rally.start_postgres)
            self.end = time.monotonic()

    def covers(self, sent, done):
        """Whether a request was in flight while PostgreSQL was down."""
        return self.start is not None and sent <= (self.end or float("inf")) and done >= self.start


OVERRUN = "its response carried more than it declared: %r came next"


class Run:
    def __init__(self, ctx, indices, verbose):
        self.ctx, self.indices, self.verbose = ctx, indices, verbose
        self.routes = collections.Counter()
        self.families = collections.Counter()
        self.statuses = collections.Counter()
        self.failures = []  # (i, req, wire, outcome, [problems])
        self.unavailable = []  # (i, req, wire, outcome, sent, done): 503s, judged after the outage
        self.started = [0]

    async def worker(self, queue):
        conn, previous = Connection(), None
        while queue:
            i = queue.popleft()
            self.started[0] += 1
            req = generate(self.ctx, random.Random("%d:%d" % (SEED, i)))
            wire = req.wire()
            sent = time.monotonic()
            try:
                outcome = await conn.exchange(req, wire)
            except Overrun as e:
                # The fault of the previous request's response: its failure,
                # and this request once more on a new connection.
                self.failures.append(previous + ([OVERRUN % e.args[0][:80]],))
                outcome = await conn.exchange(req, wire)
            self.record(i, req, wire, outcome, sent, time.monotonic())
            previous = (i, req, wire, outcome)
            extra = await conn.leftover(0.3) if self.verbose else b""
            if extra:
                self.failures.append(previous + ([OVERRUN % extra[:80]],))
                conn.close()
        conn.close()

    def record(self, i, req, wire, outcome, sent, done):
        self.routes[req.route] += 1
        self.families[req.family] += 1
        self.statuses[outcome if isinstance(outcome, str) else outcome.status] += 1
        found = problems(req, outcome)
        if self.verbose:
            print("---- request %d (%s; mutations: %s)\n%r\n---- response\n%r\n%s" % (
                i, req.route, ", ".join(req.mutations) or "none", wire, outcome, found or "ok"))
        if found == ["status 503"]:
            self.unavailable.append((i, req, wire, outcome, sent, done))
        elif found:
            self.failures.append((i, req, wire, outcome, found))

    async def run(self, outage):
        queue = collections.deque(self.indices)
        tasks = [asyncio.create_task(self.worker(queue)) for _ in range(CONNECTIONS)]
        if outage is not None:
            tasks.append(asyncio.create_task(outage.run(self.started, len(self.indices) // 2)))
        await asyncio.gather(*tasks)
        for i, req, wire, outcome, sent, done in self.unavailable:
            if outage is None or not outage.covers(sent, done):
                self.failures.append((i, req, wire, outcome, ["status 503 while PostgreSQL was up"]))


def recovered():
    """After the run (and the outage) the stack answers normally again."""
    g = guest()
    r = request("POST", "/v1/matchmaking", {"latencyInMs": {"us-east-1": 10}}, token=g["auth_token"])
    return r.status == 201 and request("GET", "/v1/matchmaking/" + r.json["TicketId"],
                                       token=g["auth_token"]).status == 200


def parse_only(spec):
    out = []
    for part in filter(None, spec.split(",")):
        a, _, b = part.partition("-")
        out += range(int(a), int(b or a) + 1)
    return out


def main():
    t0 = time.monotonic()
    shutil.rmtree(SAVE_DIR, ignore_errors=True)
    ctx = Context(SEED)
    setup = time.monotonic() - t0
    indices = parse_only(ONLY) if ONLY else list(range(COUNT))
    outage = None if ONLY else Outage()
    run = Run(ctx, indices, verbose=bool(ONLY))
    t1 = time.monotonic()
    asyncio.run(run.run(outage))
    took = time.monotonic() - t1
    ok = recovered()

    print("fuzz: seed %d, %d requests over %d connections in %.1f s (%.0f/s; setup %.1f s)"
          % (SEED, len(indices), CONNECTIONS, took, len(indices) / max(took, 1e-9), setup))
    if outage is not None and outage.start is not None:
        print("fuzz: PostgreSQL down for %.1f s from request ~%d: %d responses were 503"
              % (outage.end - outage.start, len(indices) // 2, run.statuses[503]))
    print("requests per route family:")
    for family, n in sorted(run.families.items()):
        print("  %-14s %6d" % (family, n))
    print("requests per route:")
    for route, n in sorted(run.routes.items()):
        print("  %-50s %6d" % (route, n))
    print("statuses: " + ", ".join("%s: %d" % (s, n) for s, n in sorted(run.statuses.items(), key=str)))

    kinds = collections.Counter((req.route, p.split(":")[0]) for _, req, _, _, found in run.failures for p in found)
    if run.failures:
        os.makedirs(SAVE_DIR, exist_ok=True)
    for n, (i, req, wire, resp, found) in enumerate(sorted(run.failures, key=lambda f: f[0])):
        saved = os.path.join(SAVE_DIR, "seed-%d-request-%d.http" % (SEED, i))
        with open(saved, "wb") as f:
            f.write(wire)
        if isinstance(resp, Response):  # and what came back, whole
            with open(saved[:-len(".http")] + ".response", "wb") as f:
                f.write(resp.head + (resp.body or b""))
        if n >= SHOWN_FAILURES:
            continue
        print("\nFAIL request %d of seed %d: %s (%s; mutations: %s)" % (
            i, SEED, "; ".join(found), req.route, ", ".join(req.mutations) or "none"))
        print("  replay: RALLY_FUZZ_SEED=%d RALLY_FUZZ_ONLY=%d make fuzz (new tokens), or the bytes in %s" % (
            SEED, i, saved))
        print("  sent (%d bytes): %r%s" % (len(wire), wire[:4000], "..." if len(wire) > 4000 else ""))
        print("  got: %r" % (resp,))
    if run.failures:
        print("\nfailures by route and kind:")
        for (route, p), n in kinds.most_common():
            print("  %5d  %s: %s" % (n, route, p))
    if not ok:
        print("FAIL: the stack did not answer normally after the run")
    print("fuzz: seed %d: %s" % (SEED, "%d failures" % len(run.failures) if run.failures or not ok else "ok"))
    return 0 if ok and not run.failures else 1


if __name__ == "__main__":
    sys.exit(main())
