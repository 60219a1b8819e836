"""The fuzzer's requests: one valid seed request per public route, and the
mutations applied to it (see fuzz.py for the approach).

Everything here is a pure function of a random.Random and the Context that
fuzz.py builds once (real tokens and ids): request i of a seed is the same
request on every run, only the tokens and ids inside it are new."""

import base64
import datetime
import hashlib
import hmac
import json
import re
import urllib.parse

# ---- a request as bytes on the wire ------------------------------------------


class Request:
    """One HTTP/1.1 request. path and query are str that may carry any byte
    (surrogateescape); framing names a deliberately broken body framing, for
    which the client uses a connection of its own."""

    def __init__(self, family, route, method, path, query=None, headers=None, body=None):
        self.family, self.route = family, route
        self.method, self.path, self.query = method, path, query
        self.headers = list(headers or [])  # [(name, value)], in order, duplicates allowed
        self.body = body  # bytes or None
        self.framing = None  # None, or a name from FRAMINGS
        self.extra = None  # what the framing adds: bytes promised beyond the body, or a value
        self.path_id = None  # the {id} in the path, if the route has one
        self.notification = None  # the signed SNS notification in the body, on the SNS route
        self.aws = None  # (key id, secret): signed with SigV4 as it is sent (the GameLift API)
        self.mutations = []

    def set_header(self, name, value):
        self.drop_header(name)
        if value is not None:
            self.headers.append((name, value))

    def drop_header(self, name):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]

    def lengths(self, n):
        """The Content-Length headers of a lying framing, for a body of n bytes."""
        if self.framing == "short":
            return [str(n // 2)]
        if self.framing == "long":
            return [str(n + self.extra)]
        if self.framing == "invalid":
            return [self.extra]
        return [str(n), str(n + (self.framing == "conflicting"))]

    def target(self):
        return self.path + ("?" + self.query if self.query is not None else "")

    def wire(self):
        """The exact bytes sent."""
        enc = lambda s: s.encode("utf-8", "surrogateescape")
        if self.aws is not None:
            sign_aws(self, *self.aws)
        lines = [enc("%s %s HTTP/1.1" % (self.method, self.target())), b"Host: 127.0.0.1"]
        lines += [enc(k) + b": " + enc(v) for k, v in self.headers]
        body = self.body or b""
        if self.framing == "chunked":
            lines.append(b"Transfer-Encoding: chunked")
            body = chunked(body)
        elif self.framing == "chunked+length":
            lines += [b"Transfer-Encoding: chunked", b"Content-Length: %d" % len(body)]
            body = chunked(body)
        elif self.framing is not None:
            lines += [enc("Content-Length: " + cl) for cl in self.lengths(len(body))]
        elif self.body is not None:
            lines.append(b"Content-Length: %d" % len(body))
        if self.framing is not None:
            lines.append(b"Connection: close")  # sent on a connection of its own (fuzz.py)
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


def sign_aws(req, key_id, secret, region="us-east-1", service="gamelift"):
    """Signs req as it stands (AWS Signature Version 4, as botocore does),
    now: a mutated body or header gets past the signature to the operation.
    The path and query are taken as they are, odd bytes included."""
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    req.set_header("X-Amz-Date", stamp)
    enc = lambda s: s.encode("utf-8", "surrogateescape")
    values = {"host": ["127.0.0.1"]}
    for k, v in req.headers:
        if k.lower() in ("content-type", "x-amz-date", "x-amz-target"):
            values.setdefault(k.lower(), []).append(" ".join(v.split()))
    names = sorted(values)
    query = "&".join(sorted((req.query or "").split("&"))) if req.query else ""
    canonical = b"\n".join([enc(req.method), enc(req.path), enc(query)] +
                            [enc("%s:%s" % (n, ",".join(values[n]))) for n in names] +
                            [b"", enc(";".join(names)), enc(hashlib.sha256(req.body or b"").hexdigest())])
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    to_sign = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (stamp, scope, hashlib.sha256(canonical).hexdigest())
    k = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    req.set_header("Authorization", "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                   % (key_id, scope, ";".join(names), signature))


def chunked(body):
    if not body:
        return b"0\r\n\r\n"
    half = len(body) // 2 or 1
    parts = [body[:half], body[half:]]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"


def json_body(req, value):
    req.body = json.dumps(value).encode()
    req.set_header("Content-Type", "application/json")
    return req


def bearer(req, token, bare=False):
    req.set_header("Authorization", token if bare else "Bearer " + token)
    return req


# ---- seed requests ---------------------------------------------------------------
# Each builder returns a valid request of its route for a player, fleet or
# notification of the context, chosen with rng.

COMPAT_PREFIXES = ["", "/prod", "/Prod"]


def player(ctx, rng):
    return rng.choice(ctx.players)


def latency(rng):
    regions = ["us-east-1", "eu-west-1", "us-west-2", "ap-south-1"]
    return {r: rng.randint(1, 300) for r in rng.sample(regions, rng.randint(1, 3))}


def guest(ctx, rng):
    r = Request("identity", "POST /v1/identity/guest", "POST", "/v1/identity/guest")
    if rng.random() < 0.5:
        return json_body(r, {})
    p = player(ctx, rng)
    return json_body(r, {"user_id": p["user_id"], "guest_secret": p["guest_secret"]})


def server(ctx, rng):
    r = Request("identity", "POST /v1/identity/server", "POST", "/v1/identity/server")
    return json_body(r, {"fleetId": "fleet-local", "fleetSecret": ctx.fleet_secret})


def refresh(ctx, rng):
    r = Request("identity", "POST /v1/identity/refresh", "POST", "/v1/identity/refresh")
    return json_body(r, {"refresh_token": player(ctx, rng)["refresh_token"]})


def logout(ctx, rng):
    r = Request("identity", "POST /v1/identity/logout", "POST", "/v1/identity/logout")
    return bearer(r, player(ctx, rng)["auth_token"])


def start(ctx, rng):
    p = player(ctx, rng)
    body = {"latencyInMs": latency(rng)}
    if rng.random() < 0.3:
        body["configuration"] = rng.choice(ctx.configurations)
    if rng.random() < 0.3:
        body["ticketId"] = p["ticket"] if rng.random() < 0.5 else "fuzz-%d" % rng.randrange(1000)
    if rng.random() < 0.2:
        body["attributes"] = {"skill": {"N": rng.randint(0, 100)}}
    r = Request("matchmaking", "POST /v1/matchmaking", "POST", "/v1/matchmaking")
    return bearer(json_body(r, body), p["auth_token"])


def ticket_route(method, suffix, route):
    def build(ctx, rng):
        p = player(ctx, rng)
        r = Request("matchmaking", route, method, "/v1/matchmaking/" + p["ticket"] + suffix)
        r.path_id = p["ticket"]
        if suffix == "/accept":
            json_body(r, {"acceptanceType": rng.choice(["ACCEPT", "REJECT"])})
        return bearer(r, p["auth_token"])
    return build


def events(ctx, rng):
    """A push subscription by long-poll, EventSource or WebSocket."""
    p = player(ctx, rng)
    r = Request("push", "GET /v1/matchmaking/{id}/events", "GET",
                "/v1/matchmaking/%s/events" % p["ticket"])
    r.path_id = p["ticket"]
    kind = rng.choice(["longpoll", "eventsource", "websocket"])
    if kind == "eventsource":
        r.set_header("Accept", "text/event-stream")
    elif kind == "websocket":
        r.headers += [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                      ("Sec-WebSocket-Key", base64.b64encode(rng.randbytes(16)).decode()),
                      ("Sec-WebSocket-Version", "13")]
    return bearer(r, p["auth_token"])


def fleet_body(route, body_of):
    def build(ctx, rng):
        r = Request("fleet", "POST " + route, "POST", route)
        return bearer(json_body(r, body_of(ctx, rng)), ctx.server_token)
    return build


def party(ctx, rng):
    players = [{"PlayerId": "fuzz-party-%d" % rng.randrange(50),
                "PlayerAttributes": {"skill": {"N": rng.randint(1, 50)}}, "LatencyInMs": latency(rng)}
               for _ in range(rng.randint(1, 3))]
    players = list({p["PlayerId"]: p for p in players}.values())
    body = {"ConfigurationName": rng.choice(ctx.configurations), "Players": players}
    if rng.random() < 0.3:
        body["TicketId"] = "fuzz-party-ticket-%d" % rng.randrange(100)
    return body


def process_ready(ctx, rng):
    return {"location": rng.choice(["us-east-1", "eu-west-1"]), "ipAddress": "127.0.0.1",
            "dnsName": "localhost", "port": rng.randint(40000, 50000), "maxPlayers": rng.randint(1, 10)}


def fleet_path(method, template, ids, route, body=None):
    def build(ctx, rng):
        pid = rng.choice(getattr(ctx, ids))
        r = Request("fleet", route, method, template % pid)
        r.path_id = pid
        if body is not None:
            json_body(r, body(ctx, rng))
        return bearer(r, ctx.server_token)
    return build


def compute(ctx, rng):
    return {"computeName": "fuzz-host-%d" % rng.randrange(5),
            "location": rng.choice(["us-east-1", "eu-west-1"]), "ipAddress": "127.0.0.1"}


def deregister(ctx, rng):
    name = "fuzz-host-%d" % rng.randrange(5)
    r = Request("fleet", "DELETE /v1/fleet/computes/{id}", "DELETE", "/v1/fleet/computes/" + name)
    r.path_id = name
    return bearer(r, ctx.server_token)


def world(method, suffix, body_of=None, query=None):
    """A world-state route of one of a few worlds, with the fleet's token."""
    route = "%s /v1/worlds/{id}%s" % (method, suffix)

    def build(ctx, rng):
        wid = "fuzz-world-%d" % rng.randrange(4)
        r = Request("world", route, method, "/v1/worlds/%s%s" % (wid, suffix), query=query)
        r.path_id = wid
        if body_of is not None:
            json_body(r, body_of(ctx, rng))
        return bearer(r, ctx.server_token)
    return build


def blocks(ctx, rng):
    return {"blocks": [[rng.randint(-100, 100), rng.randint(0, 255), rng.randint(-100, 100), rng.randint(0, 9)]
                       for _ in range(rng.randint(1, 20))]}


def sns(ctx, rng):
    """A signed SNS Notification from the pool fuzz.py signed at start."""
    n = dict(rng.choice(ctx.notifications))
    r = Request("sns", "POST /v1/events/sns", "POST", "/v1/events/sns")
    r.headers = [("x-amz-sns-message-type", n.get("Type", "Notification")),
                 ("x-amz-sns-message-id", n.get("MessageId", "")),
                 ("x-amz-sns-topic-arn", n.get("TopicArn", "")),
                 ("Content-Type", "text/plain; charset=UTF-8")]
    r.body = json.dumps(n).encode()
    r.notification = n
    return r


def compat(route, method, build):
    def builder(ctx, rng):
        prefix = rng.choice(COMPAT_PREFIXES)
        r = Request(("compat " + prefix).strip(), "%s %s" % (method, route), method, prefix + route)
        build(ctx, rng, r)
        return r
    return builder


def login_v2(ctx, rng, r):
    if rng.random() < 0.5:
        p = player(ctx, rng)
        r.query = "user_id=%s&guest_secret=%s" % (p["user_id"], p["guest_secret"])


def refresh_v2(ctx, rng, r):
    r.query = "refresh_token=" + player(ctx, rng)["refresh_token"]


def start_v2(ctx, rng, r):
    bearer(json_body(r, {"latencyInMs": latency(rng)}), player(ctx, rng)["auth_token"], bare=True)


def status_v2(ctx, rng, r):
    p = player(ctx, rng)
    r.query = rng.choice(["", "&"]) + "ticketId=" + p["ticket"]
    bearer(r, p["auth_token"], bare=True)


def start_v1(ctx, rng, r):
    sep = rng.choice(["_", "%20", "+"])
    r.query = "latencies=" + sep.join("%s_%d" % kv for kv in latency(rng).items())
    bearer(r, player(ctx, rng)["auth_token"])


def status_v1(ctx, rng, r):
    p = player(ctx, rng)
    r.query = "ticketId=" + p["ticket"]
    bearer(r, p["auth_token"])


def well_known(ctx, rng):
    path = rng.choice(["/.well-known/jwks.json", "/.well-known/openid-configuration"])
    return Request("well-known", "GET " + path, "GET", path)


UNKNOWN_PATHS = [
    "/", "/v1", "/v1/", "/v1/identity", "/v1/identity/", "/v1/identity/admin", "/v1/matchmaking/",
    "/v1/matchmaking/a/b", "/v1/matchmaking/a/events/x", "/v1/fleet", "/v1/fleet/processes/",
    "/v1/fleet/matchmaking", "/v1/events", "/v1/events/sns/", "/v2/matchmaking", "/.well-known/",
    "/.well-known/jwks", "/.well-known/../etc/passwd", "/push/ticket/x", "/_rally/error",
    "/_rally/ticket-events-auth", "/favicon.ico", "/prod", "/prod/", "/PROD/login-as-guest",
    "/Prod/v1/matchmaking", "/prod/prod/requestmatchstatus", "/index.html", "/robots.txt",
    "/login-as-guest/", "/get-match-status/x", "/%2e%2e/%2e%2e/etc/passwd", "/\u00e9t\u00e9",
    "/v1/matchmaking%2Fx", "/nginx_status",
]


def unknown(ctx, rng):
    path = rng.choice(UNKNOWN_PATHS)
    if rng.random() < 0.3:
        path += "/" + rng.choice(ODD_IDS)(ctx, rng)
    method = rng.choice(["GET", "POST", "DELETE"])
    r = Request("unknown", "unknown path", method, path)
    if method == "POST":
        json_body(r, {})
    if rng.random() < 0.5:
        bearer(r, player(ctx, rng)["auth_token"])
    return r


# -- the GameLift service API: POST / with X-Amz-Target, signed --------------------

def gamelift(op, body_of):
    def build(ctx, rng):
        r = Request("gamelift", "GameLift." + op, "POST", "/",
                    headers=[("X-Amz-Target", "GameLift." + op),
                             ("Content-Type", "application/x-amz-json-1.1")])
        r.body = json.dumps(body_of(ctx, rng)).encode()
        r.aws = ctx.aws_key
        return r
    return build


def some(rng, values, k=3):
    return rng.sample(values, rng.randint(1, min(k, len(values))))


def game_session(ctx, rng):
    return rng.choice(ctx.game_session_arns)


def gl_players(ctx, rng):
    return [{"PlayerId": "fuzz-gl-%d" % rng.randrange(50), "LatencyInMs": latency(rng),
             "PlayerAttributes": {"skill": {"N": rng.randint(1, 50)}}} for _ in range(rng.randint(1, 3))]


FILTERS = ["playerSessionCount > 0", "hasAvailablePlayerSessions=true", "gameSessionName = 'w'",
           "(maximumSessions >= 2 AND NOT playerSessionCount = 0) OR gameSessionProperties.mode = 'duel'",
           "creationTimeMillis < 1", "gameSessionProperties.mode <> \"pve\"", "((((a))))", "a = ", "= 1",
           "maximumSessions > 10 AND", "gameSessionName = 'unterminated"]
SORTS = ["creationTimeMillis ASC", "playerSessionCount DESC", "gameSessionProperties.mode ASC", "x", ""]

GAMELIFT = [
    ("DescribeGameSessions", lambda ctx, rng: dict(
        {"FleetId": "fleet-local", "Limit": rng.randint(1, 100)},
        **rng.choice([{}, {"StatusFilter": "ACTIVE"}, {"Location": "us-east-1"},
                      {"GameSessionId": game_session(ctx, rng)}]))),
    ("DescribeGameSessionDetails", lambda ctx, rng: {"GameSessionId": game_session(ctx, rng)}),
    ("SearchGameSessions", lambda ctx, rng: {"FleetId": "fleet-local", "FilterExpression": rng.choice(FILTERS),
                                             "SortExpression": rng.choice(SORTS), "Limit": rng.randint(1, 20)}),
    ("CreateGameSession", lambda ctx, rng: dict(
        {"FleetId": "fleet-local", "MaximumPlayerSessionCount": rng.randint(1, 8), "Name": "fuzz world",
         "GameProperties": [{"Key": "mode", "Value": "pve"}]},
        **rng.choice([{}, {"IdempotencyToken": "fuzz-%d" % rng.randrange(20)}, {"CreatorId": "fuzz"}]))),
    ("UpdateGameSession", lambda ctx, rng: dict(
        {"GameSessionId": game_session(ctx, rng)},
        **rng.choice([{"MaximumPlayerSessionCount": rng.randint(1, 8)}, {"Name": "renamed"},
                      {"PlayerSessionCreationPolicy": rng.choice(["ACCEPT_ALL", "DENY_ALL"])},
                      {"GameProperties": [{"Key": "mode", "Value": "duel"}]}]))),
    ("TerminateGameSession", lambda ctx, rng: {
        "GameSessionId": game_session(ctx, rng),
        "TerminationMode": rng.choice(["TRIGGER_ON_PROCESS_TERMINATE", "FORCE_TERMINATE"])}),
    ("CreatePlayerSession", lambda ctx, rng: {"GameSessionId": game_session(ctx, rng),
                                              "PlayerId": "fuzz-gl-%d" % rng.randrange(50), "PlayerData": "d"}),
    ("CreatePlayerSessions", lambda ctx, rng: {"GameSessionId": game_session(ctx, rng),
                                               "PlayerIds": ["fuzz-a", "fuzz-b"], "PlayerDataMap": {"fuzz-a": "x"}}),
    ("DescribePlayerSessions", lambda ctx, rng: dict(
        {"Limit": rng.randint(1, 50)},
        **rng.choice([{"GameSessionId": game_session(ctx, rng)}, {"PlayerId": player(ctx, rng)["user_id"]},
                      {"PlayerSessionId": rng.choice(ctx.player_session_ids)}]))),
    ("StartMatchmaking", lambda ctx, rng: {"ConfigurationName": rng.choice(ctx.configurations),
                                           "Players": gl_players(ctx, rng)}),
    ("DescribeMatchmaking", lambda ctx, rng: {"TicketIds": some(rng, ctx.tickets)}),
    ("StopMatchmaking", lambda ctx, rng: {"TicketId": rng.choice(ctx.tickets)}),
    ("AcceptMatch", lambda ctx, rng: dict(zip(("TicketId", "PlayerIds"), rng.choice(ctx.ticket_players)),
                                          AcceptanceType=rng.choice(["ACCEPT", "REJECT"]))),
    ("StartMatchBackfill", lambda ctx, rng: {"ConfigurationName": rng.choice(ctx.configurations),
                                             "GameSessionArn": game_session(ctx, rng),
                                             "Players": gl_players(ctx, rng)}),
    ("StartGameSessionPlacement", lambda ctx, rng: {
        "PlacementId": "fuzz-placement-%d" % rng.randrange(30), "GameSessionQueueName": "rally-queue",
        "MaximumPlayerSessionCount": rng.randint(1, 8),
        "PlayerLatencies": [{"PlayerId": "fuzz-a", "RegionIdentifier": "us-east-1", "LatencyInMilliseconds": 20}],
        "DesiredPlayerSessions": [{"PlayerId": "fuzz-a", "PlayerData": "x"}]}),
    ("DescribeGameSessionPlacement", lambda ctx, rng: {"PlacementId": "fuzz-placement-%d" % rng.randrange(30)}),
    ("StopGameSessionPlacement", lambda ctx, rng: {"PlacementId": "fuzz-placement-%d" % rng.randrange(30)}),
    ("ListFleets", lambda ctx, rng: {"Limit": rng.randint(1, 10)}),
    ("DescribeFleetAttributes", lambda ctx, rng: {"FleetIds": some(rng, ["fleet-local", "fleet-nope"])}),
    ("DescribeFleetCapacity", lambda ctx, rng: {"FleetIds": some(rng, ["fleet-local", "fleet-nope"])}),
    ("UpdateFleetCapacity", lambda ctx, rng: {"FleetId": rng.choice(["fleet-local", "fleet-nope"]),
                                              "Location": rng.choice(["us-east-1", "eu-west-1"]),
                                              "DesiredInstances": rng.randint(20, 40)}),
    ("DescribeGameSessionQueues", lambda ctx, rng: {"Names": some(rng, ["rally-queue", "queue-nope"])}),
    ("DescribeMatchmakingConfigurations", lambda ctx, rng: {"Names": some(rng, ctx.configurations)}),
    ("DescribeMatchmakingRuleSets", lambda ctx, rng: {"Names": some(rng, ["SampleRuleSet", "ModesRuleSet"])}),
    ("ValidateMatchmakingRuleSet", lambda ctx, rng: {"RuleSetBody": rng.choice([
        json.dumps({"ruleLanguageVersion": "1.0", "teams": [{"name": "a", "maxPlayers": 2, "minPlayers": 1}]}),
        "{", "{}", json.dumps({"ruleLanguageVersion": "1.0", "teams": []})])}),
    ("CreateFleet", lambda ctx, rng: {"Name": "not served"}),  # an operation rally does not serve
]


# (builder, weight): the SNS route, with the most inside to get wrong,
# weighs most; the static files and unknown paths least.
SEEDS = [
    (guest, 3), (server, 2), (refresh, 3), (logout, 1),
    (start, 3), (ticket_route("GET", "", "GET /v1/matchmaking/{id}"), 3),
    (ticket_route("DELETE", "", "DELETE /v1/matchmaking/{id}"), 2),
    (ticket_route("POST", "/accept", "POST /v1/matchmaking/{id}/accept"), 2),
    (events, 3),
    (fleet_body("/v1/fleet/matchmaking/describe",
                lambda ctx, rng: {"TicketIds": rng.sample(ctx.tickets, rng.randint(1, 3))}), 2),
    (fleet_body("/v1/fleet/matchmaking/start", party), 2),
    (fleet_body("/v1/fleet/matchmaking/explain", lambda ctx, rng: {"TicketId": rng.choice(ctx.tickets)}), 2),
    (fleet_body("/v1/fleet/matchmaking/stop", lambda ctx, rng: {"TicketId": rng.choice(ctx.tickets)}), 2),
    (fleet_body("/v1/fleet/matchmaking/accept",
                lambda ctx, rng: dict(zip(("TicketId", "PlayerIds"), rng.choice(ctx.ticket_players)),
                                      AcceptanceType=rng.choice(["ACCEPT", "REJECT"]))), 2),
    (fleet_body("/v1/fleet/processes", process_ready), 2),
    (fleet_path("POST", "/v1/fleet/processes/%s/heartbeat", "process_ids",
                "POST /v1/fleet/processes/{id}/heartbeat"), 2),
    (fleet_path("DELETE", "/v1/fleet/processes/%s", "process_ids", "DELETE /v1/fleet/processes/{id}"), 1),
    (fleet_path("POST", "/v1/fleet/game-sessions/%s/activate", "game_session_ids",
                "POST /v1/fleet/game-sessions/{id}/activate"), 2),
    (fleet_path("POST", "/v1/fleet/player-sessions/%s/accept", "player_session_ids",
                "POST /v1/fleet/player-sessions/{id}/accept",
                lambda ctx, rng: {"gameSessionId": rng.choice(ctx.game_session_ids)}), 2),
    (fleet_path("POST", "/v1/fleet/player-sessions/%s/remove", "player_session_ids",
                "POST /v1/fleet/player-sessions/{id}/remove"), 2),
    (fleet_body("/v1/fleet/computes", compute), 1), (deregister, 1),
    (world("PUT", ""), 1),
    (world("GET", ""), 1),
    (world("PUT", "", lambda ctx, rng: {"fleetId": "fleet-local", "idleSeconds": rng.randint(1, 99)}), 0.5),
    (world("POST", "/join", lambda ctx, rng: {"playerId": "fuzz-%d" % rng.randrange(9)}), 0.5),
    (world("POST", "/stop"), 0.5),
    (world("POST", "/host", lambda ctx, rng: {"gameSessionId": rng.choice(ctx.game_session_ids)}), 1),
    (world("POST", "/blocks", blocks), 2),
    (world("POST", "/chunks", lambda ctx, rng: {"chunks": [[rng.randint(-3, 3), rng.randint(-3, 3)]
                                                           for _ in range(rng.randint(1, 5))],
                                                "since": rng.randint(0, 5)}), 2),
    (world("POST", "/chunks/clear", lambda ctx, rng: {"p": rng.randint(-3, 3), "q": rng.randint(-3, 3)}), 1),
    (world("POST", "/items", lambda ctx, rng: {"items": [
        {"key": "k%d" % rng.randrange(5), "value": {"n": rng.randrange(9)}, "ifVersion": rng.randrange(3)}
        for _ in range(rng.randint(1, 3))]}), 1),
    (world("POST", "/saves"), 1),
    (world("POST", "/items", lambda ctx, rng: {"items": [
        {"key": "big%d" % rng.randrange(3), "upload": "u%d" % rng.randrange(3), "parts": rng.randint(1, 3),
         "sha256": "%064x" % rng.getrandbits(256)}]}), 0.5),
    (world("GET", "/items/part", query="key=big0&part=1"), 0.5),
    (world("POST", "/saves/complete", lambda ctx, rng: {"version": rng.randint(1, 3), "parts": 1,
                                                         "sha256": "0" * 64}), 1),
    (sns, 6),
    (compat("/login-as-guest", "GET", login_v2), 2),
    (compat("/refresh-access-token", "GET", refresh_v2), 2),
    (compat("/request-matchmaking", "POST", start_v2), 2),
    (compat("/get-match-status", "GET", status_v2), 2),
    (compat("/requestmatchmaking", "GET", start_v1), 2),
    (compat("/requestmatchstatus", "GET", status_v1), 2),
    (well_known, 1), (unknown, 2),
] + [(gamelift(op, body), 0.5) for op, body in GAMELIFT]


# ---- mutations ------------------------------------------------------------------
# Each takes (req, ctx, rng) and changes req in place.

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
           "PROPFIND", "FOO", "get", "Post", "GET\tX", ""]


def m_method(req, ctx, rng):
    req.method = rng.choice(METHODS)


def odd(*values):
    return [lambda ctx, rng, v=v: v for v in values]


# Replacements for an id in a path (and for ids in bodies and queries).
ODD_IDS = odd("", "a" * 128, "a" * 129, "a" * 2000, "a" * 9000, "\u00e9", "\u2603\U0001F600",
              "%C3%A9", "%00", "%2F", "%2e%2e", "..%2F..", "../..", "..", ".", "...", "a/../b",
              "./x", "%252F", "%", "%zz", "%c0%af", "\x01", "\x7f", "a b", "a\tb", "a%0d%0aX-Injected: 1",
              "%0a", "-", "a.b-c", "0" * 128, "null", "undefined", "{id}", "*", "a;b", "a,b", "a@b",
              "\udcff\udcfe", "%ff%fe", "1e999", "-1", "9223372036854775808") + [
    lambda ctx, rng: rng.choice(ctx.tickets),
    lambda ctx, rng: rng.choice(ctx.process_ids),
    lambda ctx, rng: rng.choice(ctx.player_session_ids),
    lambda ctx, rng: rng.choice(ctx.players)["user_id"],
    lambda ctx, rng: "".join(rng.choice("abcdefABC0123456789.-") for _ in range(rng.randint(1, 140))),
]


def m_path_id(req, ctx, rng):
    new = rng.choice(ODD_IDS)(ctx, rng)
    if req.path_id and req.path_id in req.path:
        req.path = req.path.replace(req.path_id, new, 1)
    else:
        segments = req.path.split("/")
        segments[rng.randrange(1, len(segments)) if len(segments) > 1 else 0] = new
        req.path = "/".join(segments)


PATH_SHAPES = [
    lambda p, rng: p + "/",
    lambda p, rng: p.replace("/", "//", 1),
    lambda p, rng: p.replace("/", "/./", 1),
    lambda p, rng: "/x/.." + p,
    lambda p, rng: "/.." + p,
    lambda p, rng: p + "/..",
    lambda p, rng: p + "/../" + p.rsplit("/", 1)[-1],
    lambda p, rng: p.upper(),
    lambda p, rng: p.lower(),
    lambda p, rng: rng.choice(["/prod", "/Prod", "/PROD", "/dev", "/prod/prod"]) + p,
    lambda p, rng: p[len("/prod"):] if p.lower().startswith("/prod") else "/prod" + p,
    lambda p, rng: "".join("%%%02X" % ord(c) if c.isalnum() and rng.random() < 0.3 else c for c in p),
    lambda p, rng: p.replace("/", "%2F", 1) if p.count("/") > 1 else p + "%2F",
    lambda p, rng: p + rng.choice(["%00", "%", "%2", "\x00", "\x01", "\x7f", "\u00e9", "\udcff", " ", "#frag",
                                   ";jsessionid=1", "~", "*", "\\", "%5C"]),
    lambda p, rng: p + "/" + "x" * rng.choice([10, 200, 5000, 9000]),
    lambda p, rng: p.rsplit("/", 1)[0] or "/",
    lambda p, rng: "http://127.0.0.1" + p,
    lambda p, rng: p[1:],
    lambda p, rng: "*",
]


def m_path_shape(req, ctx, rng):
    req.path = rng.choice(PATH_SHAPES)(req.path, rng)


QUERY_ADDS = ["ticketId=", "ticketId=x", "ticketId=%s", "ticketId=%s&ticketId=other", "&&&", "=", "a",
              "latencies=", "latencies=us-east-1_x", "latencies=_", "latencies=__1", "latencies=a_99999999999",
              "latencies=a_-1", "latencies=%s" % "_".join("r%d_1" % i for i in range(300)),
              "latencies=a_1_a_2", "latencies=\u00e9_1", "latencies=a%00_1",
              "refresh_token=", "refresh_token=%s", "user_id=%s", "guest_secret=x", "user_id=&guest_secret=",
              "x=" + "y" * 6000, "x=" + "y" * 9000, "%zz=%", "a[]=1&a[]=2", "a=%ff%fe", "a=\u00e9", "a=\udcff",
              "a=\x01", "a=b c", "a=b#c", "ticketId=%00", "ticketId=%2e%2e%2f"]


def m_query(req, ctx, rng):
    roll = rng.random()
    if roll < 0.2:
        req.query = None
    elif roll < 0.3:
        req.query = ""
    else:
        add = rng.choice(QUERY_ADDS)
        if "%s" in add:
            add = add % rng.choice(ODD_IDS)(ctx, rng)
        if roll < 0.6 or not req.query:
            req.query = add
        else:
            req.query += "&" + add


def b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def token_variants(ctx, rng):
    """Authorization values: other players', other scopes, broken and forged."""
    tok = rng.choice(ctx.players)["auth_token"]
    h, p, s = (tok.split(".") + ["", ""])[:3]
    return rng.choice([
        None, "", "Bearer", "Bearer ", "bearer " + tok, "BEARER  " + tok, " Bearer " + tok, tok + " ",
        "Basic dXNlcjpwYXNz", "Bearer " + tok[:rng.randrange(len(tok))],
        "Bearer " + tok[:-3] + ("AAA" if not tok.endswith("AAA") else "BBB"),
        "Bearer %s.%s.%s" % (h, b64({"sub": "someone-else", "scope": "server", "exp": 4102444800}), s),
        "Bearer %s.%s." % (b64({"alg": "none", "typ": "JWT"}), p),
        "Bearer %s.%s.%s" % (b64({"alg": "HS256", "typ": "JWT"}), p, s),
        "Bearer %s.%s.%s" % (h, p, s + "." + s), "Bearer " + "." * 2, "Bearer a.b.c",
        "Bearer " + "x" * rng.choice([100, 4000, 9000]), "Bearer " + tok + "\u00e9", "Bearer \udcff" + tok,
        "Bearer " + ctx.server_token, rng.choice(ctx.players)["auth_token"],
        "Bearer " + rng.choice(ctx.forged), "Bearer " + rng.choice(ctx.players)["refresh_token"],
    ])


def m_auth(req, ctx, rng):
    req.set_header("Authorization", token_variants(ctx, rng))


CONTENT_TYPES = [None, "", "application/json", "text/plain", "application/json; charset=utf-16",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml",
                 "APPLICATION/JSON", "application/json;;;", "x" * 3000, "\u00e9/\u00e9"]


def m_content_type(req, ctx, rng):
    req.set_header("Content-Type", rng.choice(CONTENT_TYPES))


FRAMINGS = ["chunked", "chunked+length", "short", "long", "invalid", "duplicate", "conflicting"]


def m_framing(req, ctx, rng):
    """Body framing: chunked bodies (valid), and Content-Length values that
    lie about the body (on a connection of their own)."""
    req.framing = rng.choice(FRAMINGS)
    if req.framing == "long":
        req.extra = rng.choice([1, 10, 100000])
    elif req.framing == "invalid":
        req.extra = rng.choice(["abc", "-1", "1e3", " 12", "+12", "0x10", "99999999999999999999", "2, 2", ""])
    if req.framing == "short" and not req.body:
        req.body = b"{}"


HEADERS = [
    ("Expect", "100-continue"), ("Expect", "nonsense"), ("Connection", "close"), ("Connection", "Upgrade"),
    ("Upgrade", "websocket"), ("Upgrade", "h2c"), ("Accept", "text/event-stream"), ("Accept", "*/*"),
    ("Accept", "application/xml"), ("Accept-Encoding", "gzip, br"), ("Range", "bytes=0-1"), ("Range", "bytes=999-"),
    ("If-None-Match", "*"), ("If-None-Match", "zz"), ("If-Modified-Since", "Thu, 01 Jan 2099 00:00:00 GMT"),
    ("If-Modified-Since", "yesterday"), ("Last-Event-ID", "1:1"), ("Last-Event-ID", "garbage"),
    ("If-Match", '"x"'), ("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("Sec-WebSocket-Version", "99"), ("Sec-WebSocket-Key", "short"), ("Origin", "http://evil.example"),
    ("X-Request-Id", "client-id.1"), ("X-Request-Id", "bad id \x7f"), ("X-Request-Id", "r" * 200),
    ("X-Forwarded-For", "1.2.3.4"), ("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "identity"),
    ("X-Big", "a" * 10000), ("X-Unicode", "\u00e9\u2603"), ("X-Bytes", "\udcff\udcfe"), ("X-Ctl", "a\x01b"),
    ("x-amz-sns-message-type", "Notification"), ("x-amz-sns-message-type", "SubscriptionConfirmation"),
    ("x-amz-sns-message-id", "other-id"), ("Cookie", "a=b; " * 50), ("Content-Encoding", "gzip"),
    ("Host", "evil.example"), ("Authorization", "Bearer a"),
]


def m_header(req, ctx, rng):
    name, value = rng.choice(HEADERS)
    if name in ("Connection", "Upgrade", "Authorization", "Host") or rng.random() < 0.5:
        req.headers.append((name, value))  # a second one, where it exists
    else:
        req.set_header(name, value)


# -- bodies -------------------------------------------------------------------------

WRONG_VALUES = [None, True, False, 0, -1, 1.5, -0.0, 2 ** 31, 2 ** 63, 2 ** 64, 10 ** 30, -10 ** 30, 1e308,
                float("nan"), float("inf"), "", "x", "x" * 5000, "\u00e9\u2603", "\U0001F600", "\u0000",
                "\ud800", "ACCEPT", "us-east-1", [], [1, "a"], {}, {"N": 1}, {"S": "x"}, {"SL": ["a"]},
                {"SDM": {"a": 1}}, {"N": "NaN"}, [[[[[[[[]]]]]]]]]


def nodes(value, path=()):
    """Every (path, value) in a JSON document."""
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from nodes(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from nodes(v, path + (i,))


def replace_at(doc, path, value):
    if not path:
        return value
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = value
    return doc


def deep(rng, depth):
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return opener * depth + "1" + closer * depth


def m_json(req, ctx, rng):
    """A structural change inside the JSON body: a wrong type, a missing or
    extra field, deep nesting, huge numbers, NaN, duplicate keys."""
    try:
        doc = json.loads(req.body or b"{}")
    except (ValueError, RecursionError):
        doc = {}
    path, value = rng.choice(list(nodes(doc)))
    kind = rng.randrange(8)
    if kind <= 2:
        doc = replace_at(doc, path, rng.choice(WRONG_VALUES))
    elif kind == 3 and path:
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        del parent[path[-1]]
    elif kind == 4 and isinstance(value, dict):
        value[rng.choice(["extra", "TicketId", "ticketId", "Players", "latencyInMs", "__proto__", "\u00e9",
                          ""])] = rng.choice(WRONG_VALUES)
    elif kind == 5 and isinstance(value, list):
        value.extend(value * rng.choice([2, 20, 300]) or [rng.choice(WRONG_VALUES)] * 300)
    text = json.dumps(doc)  # NaN and Infinity come out as bare words, as wanted
    if kind == 6:  # deep nesting in place of a value, or as the whole body
        text = json.dumps(replace_at(doc, path, "@@DEEP@@")).replace('"@@DEEP@@"', deep(
            rng, rng.choice([50, 500, 3000, 30000])))
    elif kind == 7:  # a literal no encoder writes
        literal = rng.choice(["1e999", "-1e999", "123456789012345678901234567890", "-0", "0.0000000000000000001e-400",
                              "NaN", "-Infinity", "01", "1.", ".5", "+1", "0x10", "true1", "nul", "'x'",
                              '"\\ud800"', '"\\udc00\\ud800"', '"\\u0000"', '"\\x41"', '"\\uZZZZ"'])
        text = json.dumps(replace_at(doc, path, "@@LIT@@")).replace('"@@LIT@@"', literal)
    if kind != 6 and isinstance(doc, dict) and doc and rng.random() < 0.15:  # a key twice
        k = rng.choice(list(doc))
        text = "{%s: %s, %s" % (json.dumps(k), json.dumps(rng.choice(WRONG_VALUES)), text[1:])
    req.body = text.encode()


INVALID_UTF8 = [b"\xff", b"\xfe", b"\xc3\x28", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                b"\xf8\x88\x80\x80\x80", b"\x80", b"\xc3", b"\x00", b"\x1b[31m"]


def m_bytes(req, ctx, rng):
    """A change of the body's bytes: truncated, invalid UTF-8, not JSON at
    all, empty, oversized."""
    body = req.body or b""
    kind = rng.randrange(9)
    if kind == 0 and body:
        req.body = body[:rng.randrange(len(body))]
    elif kind == 1:
        quotes = [m.end() for m in re.finditer(rb'"', body)] or [0]
        at = rng.choice(quotes)
        req.body = body[:at] + rng.choice(INVALID_UTF8) + body[at:]
    elif kind == 2:
        req.body = rng.choice([b"", b" ", b"\n", b"null", b"[]", b"[{}]", b'"x"', b"1", b"true", b"{", b"}",
                               b"{}{}", b"{} x", b"\xef\xbb\xbf{}", b"a=b&c=d", b"<xml/>", b"{'a':1}"])
    elif kind == 3:
        req.body = None
    elif kind == 4:
        req.body = body + rng.choice([b"x", b"\x00", b" {}", b",", b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"])
    elif kind == 5:  # just under and over nginx's 16 KiB, and over the SNS route's 256 KiB
        size = rng.choice([16000, 16385, 300000])
        req.body = b'{"pad":"' + b"p" * size + b'"}'
    elif kind == 6 and body:
        at = rng.randrange(len(body))
        req.body = body[:at] + bytes([rng.randrange(256)]) + body[at + 1:]
    elif kind == 7:
        req.body = urllib.parse.urlencode({"a": "b"}).encode()
    else:
        req.body = b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(rng.choice([100, 1500]))) + b"}"


def m_sns(req, ctx, rng):
    """A change of a signed notification's envelope (which breaks the
    signature) or of the headers that go with it."""
    n = dict(req.notification or {})
    field = rng.choice(["Type", "MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion",
                        "Signature", "SigningCertURL", "SubscribeURL", "Token", "UnsubscribeURL", "Subject"])
    n[field] = rng.choice([
        None, "", 2, ["x"], "SubscriptionConfirmation", "UnsubscribeConfirmation", "Unknown", "1", "3",
        "x" * 129, "https://sns.local.rally.invalid/../../etc/passwd.pem",
        "https://sns.local.rally.invalid/" + "a" * 200 + ".pem", "https://sns.local.rally.invalid/.pem",
        "https://sns.local.rally.invalid/rally-local-sns.pem/", "https://evil.example/rally-local-sns.pem",
        "https://sns.local.rally.invalid/rally-local-sns.pem", "AAAA", "!!!not base64!!!",
        "arn:aws:sns:local:000000000000:other", "2000-01-01T00:00:00.000Z", "2999-01-01T00:00:00Z",
        "2024-13-45T99:99:99Z", "\u00e9", "{}", "null", '{"detail-type":"GameLift Matchmaking Event"}'])
    if n[field] is None:
        del n[field]
    req.body = json.dumps(n).encode()
    if field in ("Type", "MessageId") and rng.random() < 0.5:  # keep the headers in step
        header = "x-amz-sns-message-type" if field == "Type" else "x-amz-sns-message-id"
        req.set_header(header, n.get(field) if isinstance(n.get(field), str) else None)


PUSH_HEADERS = [
    ("Accept", ["text/event-stream", "multipart/mixed", "application/json", "*/*", "text/event-stream, */*", ""]),
    ("Last-Event-ID", ["1:0", "0:0", "-1:-1", "9999999999:0", "1:[0]", "1:0,1,2", "garbage", "", "\u00e9"]),
    ("If-Modified-Since", ["Thu, 01 Jan 1970 00:00:00 GMT", "Thu, 01 Jan 2099 00:00:00 GMT", "yesterday", ""]),
    ("If-None-Match", ["0", "-", "[0]", "99999", "a,b,c", "*", "", "1:0", "9999999999:0"]),
    ("If-Match", ['"x"', "*", ""]),
    ("If-Unmodified-Since", ["Thu, 01 Jan 1970 00:00:00 GMT", "Thu, 01 Jan 2099 00:00:00 GMT", "yesterday"]),
    ("Range", ["bytes=0-5", "bytes=999-", "lines=1"]),
    ("Upgrade", ["websocket", "WebSocket", "h2c", ""]),
    ("Connection", ["Upgrade", "keep-alive, Upgrade", "close", ""]),
    ("Sec-WebSocket-Version", ["13", "8", "", "13, 8", "99"]),
    ("Sec-WebSocket-Key", ["", "short", "!!!!", "dGhlIHNhbXBsZSBub25jZQ=="]),
    ("Sec-WebSocket-Protocol", ["ws+meta.nchan", "chat", ""]),
    ("Sec-WebSocket-Extensions", ["permessage-deflate", "permessage-deflate; client_max_window_bits=99",
                                  "permessage-deflate; server_max_window_bits=1", "x-webkit-deflate-frame"]),
]


def m_push(req, ctx, rng):
    """The headers of the push transports: which one, where to resume from,
    and the WebSocket handshake."""
    name, values = rng.choice(PUSH_HEADERS)
    req.set_header(name, rng.choice(values))


# (mutation, weight, applies to): bodies are mutated more where there is one.
MUTATIONS = [
    (m_method, 2, lambda r: True), (m_path_id, 3, lambda r: True), (m_path_shape, 3, lambda r: True),
    (m_query, 2, lambda r: True), (m_auth, 4, lambda r: True), (m_content_type, 1, lambda r: True),
    (m_framing, 1, lambda r: True), (m_header, 3, lambda r: True), (m_json, 6, lambda r: r.body is not None),
    (m_bytes, 3, lambda r: True), (m_sns, 6, lambda r: r.family == "sns"),
    (m_push, 6, lambda r: r.family == "push"),
]


def generate(ctx, rng):
    """A seed request of a random route, with zero to four mutations."""
    build = rng.choices([b for b, _ in SEEDS], [w for _, w in SEEDS])[0]
    req = build(ctx, rng)
    for _ in range(rng.choices([0, 1, 2, 3, 4], [10, 45, 25, 12, 8])[0]):
        usable = [(m, w) for m, w, ok in MUTATIONS if ok(req)]
        m = rng.choices([m for m, _ in usable], [w for _, w in usable])[0]
        m(req, ctx, rng)
        req.mutations.append(m.__name__[2:])
    if "auth" in req.mutations:
        req.aws = None  # the mutated Authorization goes as it is
    return req


# ---- which rules a response must follow ------------------------------------------

COMPAT_ROUTE = re.compile(r"^(?:/prod|/Prod)?/(?:login-as-guest|refresh-access-token|request-matchmaking|"
                          r"get-match-status|requestmatchmaking|requestmatchstatus)$")
EVENTS_ROUTE = re.compile(r"^/v1/matchmaking/[A-Za-z0-9.-]{1,128}/events$")


def normalized_path(target):
    """The URI nginx matches locations against: the path before '?' (and a
    '#'), %-decoded, slashes merged, '.' and '..' segments resolved."""
    target = target.rstrip(" ")  # "GET /x  HTTP/1.1": nginx takes the spaces as the separator
    path = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*", "", target)  # absolute form
    path = path.split("?", 1)[0].split("#", 1)[0]
    path = urllib.parse.unquote(path, errors="surrogateescape")
    out = []
    for seg in re.sub("/+", "/", path).split("/"):
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    normal = "/".join(out)
    if path.endswith(("/.", "/..")):
        normal += "/"
    return normal if normal.startswith("/") else "/" + normal


def dialect(req):
    """'compat' where nginx routes to a compatibility route (which answers
    in its AWS sample's shape), 'events' on the push route, else 'native'.
    (What rally answers as the GameLift API says so itself: fuzz.py judges
    a response with x-amzn-RequestId by that API's rules.)"""
    path = normalized_path(req.target())
    if COMPAT_ROUTE.match(path):
        return "compat"
    if EVENTS_ROUTE.match(path):
        return "events"
    return "native"
