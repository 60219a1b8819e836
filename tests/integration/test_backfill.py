"""Match backfill through the GameLift service API (StartMatchBackfill),
driven by Debian's boto3 against real rally-gameserver processes: a running
3v3 that lost a player on each team gets two new players from the pool, in
the same game session, with seats of their own, and its game server hears
of them (OnUpdateGameSession)."""

import json
import os
import socket
import time
import unittest

import players
import rally
from rally import RUN, psql, wait_until
from test_gamelift import KEYS, client, error_code, new_key, raw

FLEET = "fleet-bf"
CONFIG = "Backfill3v3"
THREE_V_THREE = {
    "ruleLanguageVersion": "1.0",
    "playerAttributes": [{"name": "skill", "type": "number", "default": 10}],
    "teams": [{"name": "red", "minPlayers": 3, "maxPlayers": 3},
              {"name": "blue", "minPlayers": 3, "maxPlayers": 3}],
    "rules": [{"name": "FairTeamSkill", "type": "distance",
               "measurements": ["avg(teams[*].players.attributes[skill])"],
               "referenceValue": "avg(flatten(teams[*].players.attributes[skill]))",
               "maxDistance": 10}]}
QUEUE = {"Name": "bf-queue", "TimeoutInSeconds": 60,
         "Destinations": [{"DestinationArn": "arn:aws:gamelift:local:000000000000:fleet/" + FLEET}]}
CONFIGURATION = {"Name": CONFIG, "RuleSetName": "ThreeVThree", "RequestTimeoutSeconds": 60,
                 "AcceptanceRequired": False, "FlexMatchMode": "WITH_QUEUE", "BackfillMode": "MANUAL",
                 "GameSessionQueueArns": ["arn:aws:gamelift:local:000000000000:gamesessionqueue/bf-queue"]}
# Teams of 2 to 3: a 2v2 starts with two empty seats.
TWO_OR_THREE = dict(THREE_V_THREE, teams=[{"name": "red", "minPlayers": 2, "maxPlayers": 3},
                                          {"name": "blue", "minPlayers": 2, "maxPlayers": 3}])
# Two teams from one definition: the engine names them squad_1 and squad_2.
SQUADS = dict(THREE_V_THREE, teams=[{"name": "squad", "quantity": 2, "minPlayers": 1, "maxPlayers": 3}])
# The same matches, their players asked to accept them.
ACCEPTED = "AcceptedBackfill"
ACCEPTING = dict(CONFIGURATION, Name=ACCEPTED, AcceptanceRequired=True, AcceptanceTimeoutSeconds=10)
AUTO = "AutoBackfill"
AUTOMATIC = dict(CONFIGURATION, Name=AUTO, RuleSetName="TwoOrThree", BackfillMode="AUTOMATIC")
# A game server that asks for backfill itself (--backfill, the server SDK's
# StartMatchBackfill), on a fleet of its own.
SERVER_FLEET = "fleet-bf-server"
BY_SERVER = dict(CONFIGURATION, Name="ServerBackfill",
                 GameSessionQueueArns=["arn:aws:gamelift:local:000000000000:gamesessionqueue/bf-server"])
SERVER_QUEUE = dict(QUEUE, Name="bf-server", Destinations=[
    {"DestinationArn": "arn:aws:gamelift:local:000000000000:fleet/" + SERVER_FLEET}])
LOG = os.path.join(RUN, "logs", "gameservers-e2e.log")

_ids = iter(range(1, 1 << 30))


def name(prefix):
    return "%s-%d-%d" % (prefix, os.getpid(), next(_ids))


def player(pid, skill=10, team=None):
    p = {"PlayerId": pid, "PlayerAttributes": {"skill": {"N": skill}}, "LatencyInMs": {"us-east-1": 20}}
    if team:
        p["Team"] = team
    return p


def setUpModule():
    global PROCS
    one_location = [{"Location": "us-east-1"}]
    rally.load_config(rulesets={"ThreeVThree": THREE_V_THREE, "TwoOrThree": TWO_OR_THREE, "Squads": SQUADS},
                      queues={"bf-queue": QUEUE, "bf-server": SERVER_QUEUE},
                      configurations={CONFIG: CONFIGURATION, AUTO: AUTOMATIC, "ServerBackfill": BY_SERVER,
                                      ACCEPTED: ACCEPTING,
                                      "SquadBackfill": dict(CONFIGURATION, Name="SquadBackfill",
                                                            RuleSetName="Squads")},
                      fleets={FLEET: {"FleetId": FLEET, "Locations": one_location},
                              SERVER_FLEET: {"FleetId": SERVER_FLEET, "Locations": one_location}})
    for fleet in (FLEET, SERVER_FLEET):
        with open(os.path.join(RUN, "fleets", fleet + ".secret"), "w") as f:
            f.write("bf-secret-0123456789abcdef\n")
    # One game server per fleet: each test's game runs on it, and ends with the test.
    PROCS = players.start_gameservers(1, 17960, heartbeat_ms=200, fleet=FLEET, idle_seconds=600)
    PROCS += players.start_gameservers(1, 17962, heartbeat_ms=200, fleet=SERVER_FLEET, idle_seconds=600,
                                       extra=["--backfill", "ServerBackfill"])
    assert wait_until(lambda: psql("SELECT count(*) FROM fleet.processes WHERE fleet_id IN (:'p1', :'p2') "
                                   "AND status = 'ACTIVE'", FLEET, SERVER_FLEET) == ["2"], 20)


def tearDownModule():
    players.stop_gameservers(PROCS)
    for fleet in (FLEET, SERVER_FLEET):
        os.remove(os.path.join(RUN, "fleets", fleet + ".secret"))
    psql("UPDATE matchmaking.tickets SET status = 'CANCELLED' WHERE configuration_name IN "
         "(:'p1', :'p2', :'p3', 'ServerBackfill', 'SquadBackfill') AND status IN ('QUEUED', 'SEARCHING')",
         CONFIG, AUTO, ACCEPTED)
    psql("DELETE FROM fleet.processes WHERE fleet_id IN (:'p1', :'p2')", FLEET, SERVER_FLEET)
    rally.load_config()


def tickets(ids):
    return {t["TicketId"]: t for t in client().describe_matchmaking(TicketIds=ids)["TicketList"]}


def completed(ids, timeout=20):
    assert wait_until(lambda: all(t["Status"] == "COMPLETED" for t in tickets(ids).values()), timeout), \
        tickets(ids)
    return tickets(ids)


def start(players_, configuration=CONFIG):
    return client().start_matchmaking(ConfigurationName=configuration,
                                      Players=players_)["MatchmakingTicket"]["TicketId"]


def matchmaker_data(arn):
    gs = client().describe_game_sessions(GameSessionId=arn)["GameSessions"][0]
    return json.loads(gs["MatchmakerData"])


class Backfill(unittest.TestCase):
    def setUp(self):
        # A running 3v3 on the fleet's game server.
        self.names = [name("p") for _ in range(6)]
        ids = [start([player(p)]) for p in self.names]
        done = completed(ids)
        self.arn = done[ids[0]]["GameSessionConnectionInfo"]["GameSessionArn"]
        gs = client().describe_game_sessions(GameSessionId=self.arn)["GameSessions"][0]
        self.teams = {t["name"]: [p["playerId"] for p in t["players"]]
                      for t in json.loads(gs["MatchmakerData"])["teams"]}
        self.addCleanup(raw, "TerminateGameSession", {"GameSessionId": self.arn,
                                                      "TerminationMode": "FORCE_TERMINATE"})
        # The third player of each team comes and goes: their seats free up
        # (the server removes a player who leaves).
        seats = {s["PlayerId"]: (done[tid]["GameSessionConnectionInfo"], s["PlayerSessionId"])
                 for tid in ids for s in done[tid]["GameSessionConnectionInfo"]["MatchedPlayerSessions"]}
        for ps in self.teams.values():
            info, psess = seats[ps[2]]
            with socket.create_connection((info["IpAddress"], info["Port"]), timeout=10) as sock:
                sock.sendall((psess + "\n").encode())
                self.assertEqual(sock.makefile().readline().strip(), "OK " + ps[2])
        gone = lambda: client().describe_game_sessions(GameSessionId=self.arn)["GameSessions"][0][
            "CurrentPlayerSessionCount"] == 4
        self.assertTrue(wait_until(gone, 10))

    def staying(self):
        """Two of each team stay: one player of each left."""
        return [player(p, team=team) for team, ps in self.teams.items() for p in ps[:2]]

    def test_two_new_players_take_the_empty_seats(self):
        gl = client()
        bf = gl.start_match_backfill(ConfigurationName=CONFIG, GameSessionArn=self.arn,
                                     Players=self.staying())["MatchmakingTicket"]
        self.assertEqual(bf["Status"], "QUEUED")
        new = [name("new") for _ in range(2)]
        ids = [start([player(p, skill=12)]) for p in new]
        done = completed(ids + [bf["TicketId"]])
        # The new players are seated in the running game session.
        for tid in ids:
            info = done[tid]["GameSessionConnectionInfo"]
            self.assertEqual(info["GameSessionArn"], self.arn)
            [seat] = info["MatchedPlayerSessions"]
            ps = gl.describe_player_sessions(PlayerSessionId=seat["PlayerSessionId"])["PlayerSessions"][0]
            self.assertEqual((ps["GameSessionId"], ps["Status"]), (self.arn, "RESERVED"))
        # The game session's MatchmakerData names everyone, one new player a team.
        gs = gl.describe_game_sessions(GameSessionId=self.arn)["GameSessions"][0]
        teams = {t["name"]: sorted(p["playerId"] for p in t["players"])
                 for t in json.loads(gs["MatchmakerData"])["teams"]}
        self.assertEqual(sorted(teams["red"] + teams["blue"]),
                         sorted([p["PlayerId"] for p in self.staying()] + new))
        self.assertEqual((len(teams["red"]), len(teams["blue"])), (3, 3))
        for team, ps in self.teams.items():
            self.assertTrue(set(ps[:2]) <= set(teams[team]), (team, teams))
        # Its game server heard of it, and lets a new player in.
        self.assertTrue(wait_until(lambda: "MATCHMAKING_DATA_UPDATED" in open(LOG).read(), 5))
        seat = done[ids[0]]["GameSessionConnectionInfo"]["MatchedPlayerSessions"][0]
        info = done[ids[0]]["GameSessionConnectionInfo"]
        with socket.create_connection((info["IpAddress"], info["Port"]), timeout=10) as sock:
            sock.sendall((seat["PlayerSessionId"] + "\n").encode())
            self.assertEqual(sock.makefile().readline().strip(), "OK " + seat["PlayerId"])

    def accepting_backfill(self):
        """A backfill under ACCEPTED and two new players, proposed a match:
        (backfill ticket, new tickets, new player ids)."""
        gl = client()
        bf = gl.start_match_backfill(ConfigurationName=ACCEPTED, GameSessionArn=self.arn,
                                     Players=self.staying())["MatchmakingTicket"]["TicketId"]
        new = [name("new") for _ in range(2)]
        ids = [start([player(p, skill=12)], ACCEPTED) for p in new]
        proposed = lambda: all(t["Status"] == "REQUIRES_ACCEPTANCE" for t in tickets(ids + [bf]).values())
        self.assertTrue(wait_until(proposed, 10), tickets(ids + [bf]))
        # The players already in the game session are not asked.
        self.assertEqual(error_code(gl.accept_match, TicketId=bf, PlayerIds=[self.teams["red"][0]],
                                    AcceptanceType="REJECT"), "InvalidRequestException")
        return bf, ids, new

    def test_new_players_accept_then_take_the_seats(self):
        gl = client()
        bf, ids, new = self.accepting_backfill()
        time.sleep(0.5)
        # Asked and not yet answered: nobody is seated meanwhile.
        self.assertEqual(gl.describe_game_sessions(GameSessionId=self.arn)["GameSessions"][0]
                         ["CurrentPlayerSessionCount"], 4)
        for tid, pid in zip(ids, new):
            gl.accept_match(TicketId=tid, PlayerIds=[pid], AcceptanceType="ACCEPT")
        done = completed(ids + [bf])
        for tid in ids:
            self.assertEqual(done[tid]["GameSessionConnectionInfo"]["GameSessionArn"], self.arn)
        self.assertTrue(wait_until(lambda: gl.describe_game_sessions(GameSessionId=self.arn)[
            "GameSessions"][0]["CurrentPlayerSessionCount"] == 6, 5))

    def test_a_new_player_rejects_and_the_backfill_searches_again(self):
        gl = client()
        bf, ids, new = self.accepting_backfill()
        gl.accept_match(TicketId=ids[0], PlayerIds=[new[0]], AcceptanceType="ACCEPT")
        gl.accept_match(TicketId=ids[1], PlayerIds=[new[1]], AcceptanceType="REJECT")
        # The one who rejected is out; the one who accepted and the backfill
        # request go back to the pool (where, alone, they wait).
        settled = lambda: [tickets(ids + [bf])[t]["Status"] for t in (ids[1], ids[0], bf)] == \
            ["CANCELLED", "SEARCHING", "SEARCHING"]
        self.assertTrue(wait_until(settled, 10), tickets(ids + [bf]))
        self.assertEqual(gl.describe_game_sessions(GameSessionId=self.arn)["GameSessions"][0]
                         ["CurrentPlayerSessionCount"], 4)
        for tid in (ids[0], bf):
            gl.stop_matchmaking(TicketId=tid)

    def test_no_room_for_the_new_players(self):
        # The server names only one player a team, but four seats are held:
        # the four new players the rule set wants do not fit, the backfill
        # fails, and they search again.
        gl = client()
        one_each = [player(ps[0], team=team) for team, ps in self.teams.items()]
        bf = gl.start_match_backfill(ConfigurationName=CONFIG, GameSessionArn=self.arn,
                                     Players=one_each)["MatchmakingTicket"]["TicketId"]
        new = [start([player(name("crowd"), skill=11)]) for _ in range(4)]
        self.assertTrue(wait_until(lambda: tickets([bf])[bf]["Status"] == "FAILED", 20))
        self.assertIn("no room", tickets([bf])[bf]["StatusMessage"])
        self.assertTrue(wait_until(lambda: all(t["Status"] == "SEARCHING"
                                               for t in tickets(new).values()), 10))
        self.assertEqual(gl.describe_game_sessions(GameSessionId=self.arn)["GameSessions"][0]
                         ["CurrentPlayerSessionCount"], 4)
        for tid in new:
            gl.stop_matchmaking(TicketId=tid)

    def test_a_new_request_replaces_the_searching_one(self):
        gl = client()
        first = gl.start_match_backfill(ConfigurationName=CONFIG, GameSessionArn=self.arn,
                                        Players=self.staying())["MatchmakingTicket"]["TicketId"]
        second = gl.start_match_backfill(ConfigurationName=CONFIG, GameSessionArn=self.arn,
                                         Players=self.staying())["MatchmakingTicket"]["TicketId"]
        self.assertTrue(wait_until(lambda: tickets([first])[first]["Status"] == "CANCELLED", 5))
        self.assertIn(tickets([second])[second]["Status"], ("QUEUED", "SEARCHING"))
        gl.stop_matchmaking(TicketId=second)

    def test_teams_are_named_as_matches_name_them(self):
        # A definition with a quantity of two makes teams squad_1 and
        # squad_2: those are the names a backfill's players carry.
        gl = client()
        staying = [player(self.names[0], team="squad_1"), player(self.names[1], team="squad_2")]
        tid = gl.start_match_backfill(ConfigurationName="SquadBackfill", GameSessionArn=self.arn,
                                      Players=staying)["MatchmakingTicket"]["TicketId"]
        gl.stop_matchmaking(TicketId=tid)
        self.assertEqual(error_code(gl.start_match_backfill, ConfigurationName="SquadBackfill",
                                    GameSessionArn=self.arn, Players=[player(self.names[0], team="squad")]),
                         "InvalidRequestException")

    def test_refusals(self):
        gl = client()
        self.assertEqual(error_code(gl.start_match_backfill, ConfigurationName=CONFIG,
                                    GameSessionArn=self.arn + "-gone", Players=self.staying()),
                         "NotFoundException")
        self.assertEqual(error_code(gl.start_match_backfill, ConfigurationName=CONFIG,
                                    GameSessionArn=self.arn,
                                    Players=[player(self.names[0], team="green")]),
                         "InvalidRequestException")
        self.assertEqual(error_code(gl.start_match_backfill, ConfigurationName=CONFIG,
                                    GameSessionArn=self.arn, Players=[player(self.names[0])]),
                         "InvalidRequestException")  # no Team
        # A new ticket's players have no team.
        self.assertEqual(error_code(gl.start_matchmaking, ConfigurationName=CONFIG,
                                    Players=[player(name("x"), team="red")]),
                         "InvalidRequestException")
        # A game server's key backfills its own fleet's game sessions only.
        key = new_key("bf-other", "fleet:fleet-local")
        self.addCleanup(os.remove, os.path.join(KEYS, key[0] + ".json"))
        self.assertEqual(error_code(client(key).start_match_backfill, ConfigurationName=CONFIG,
                                    GameSessionArn=self.arn, Players=self.staying()),
                         "NotFoundException")
        own = new_key("bf-own", "fleet:" + FLEET)
        self.addCleanup(os.remove, os.path.join(KEYS, own[0] + ".json"))
        tid = client(own).start_match_backfill(ConfigurationName=CONFIG, GameSessionArn=self.arn,
                                               Players=self.staying())["MatchmakingTicket"]["TicketId"]
        gl.stop_matchmaking(TicketId=tid)
        self.assertEqual(int(psql("SELECT count(*) FROM matchmaking.tickets WHERE game_session_id IS "
                                  "NOT NULL AND status IN ('QUEUED', 'SEARCHING')")[0]), 0)

    def test_the_game_session_ended_first(self):
        gl = client()
        bf = gl.start_match_backfill(ConfigurationName=CONFIG, GameSessionArn=self.arn,
                                     Players=self.staying())["MatchmakingTicket"]["TicketId"]
        raw("TerminateGameSession", {"GameSessionId": self.arn, "TerminationMode": "FORCE_TERMINATE"})
        # The game session's end cancels its backfill request...
        self.assertTrue(wait_until(lambda: tickets([bf])[bf]["Status"] == "CANCELLED", 10))
        # ...so new players are not matched into it: they search on (two
        # alone make no 3v3).
        new = [start([player(name("late"), skill=12)]) for _ in range(2)]
        self.assertTrue(wait_until(lambda: all(t["Status"] == "SEARCHING"
                                               for t in tickets(new).values()), 10))
        time.sleep(2)
        self.assertEqual({t["Status"] for t in tickets(new).values()}, {"SEARCHING"})
        for tid in new:
            gl.stop_matchmaking(TicketId=tid)


class ServerBackfill(unittest.TestCase):
    """The sample game server started with --backfill: a player leaving its
    match makes it call StartMatchBackfill (server SDK) with the players
    still holding seats (DescribePlayerSessions), on their teams."""

    def test_a_leaver_makes_the_server_ask_for_another(self):
        names = [name("s") for _ in range(6)]
        ids = [start([player(p)], "ServerBackfill") for p in names]
        done = completed(ids)
        info = done[ids[0]]["GameSessionConnectionInfo"]
        arn = info["GameSessionArn"]
        self.addCleanup(raw, "TerminateGameSession", {"GameSessionId": arn,
                                                      "TerminationMode": "FORCE_TERMINATE"})
        teams = {p["playerId"]: t["name"] for t in matchmaker_data(arn)["teams"] for p in t["players"]}
        seat = info["MatchedPlayerSessions"][0]
        with socket.create_connection((info["IpAddress"], info["Port"]), timeout=10) as sock:
            sock.sendall((seat["PlayerSessionId"] + "\n").encode())
            self.assertEqual(sock.makefile().readline().strip(), "OK " + seat["PlayerId"])
        backfill = lambda: psql("SELECT t.ticket_id FROM matchmaking.tickets t JOIN fleet.game_sessions g "
                                "USING (game_session_id) WHERE g.game_session_arn = :'p1' "
                                "AND t.status IN ('QUEUED', 'SEARCHING')", arn)
        self.assertTrue(wait_until(backfill, 10))
        tid = backfill()[0]
        view = tickets([tid])[tid]
        self.assertEqual(sorted(p["PlayerId"] for p in view["Players"]),
                         sorted(p for p in names if p != seat["PlayerId"]))
        stored = json.loads(psql("SELECT players::text FROM matchmaking.tickets WHERE ticket_id = :'p1'",
                                 tid)[0])
        self.assertEqual({p["PlayerId"]: p["Team"] for p in stored},
                         {p: t for p, t in teams.items() if p != seat["PlayerId"]})
        client().stop_matchmaking(TicketId=tid)


class AutomaticBackfill(unittest.TestCase):
    """BackfillMode AUTOMATIC: a game session that starts with empty seats,
    or loses a player, gets its own backfill ticket, named in its
    MatchmakerData."""

    def test_empty_seats_are_filled_and_a_leaver_replaced(self):
        gl = client()
        first = [start([player(name("a"))], AUTO) for _ in range(4)]
        done = completed(first)
        arn = done[first[0]]["GameSessionConnectionInfo"]["GameSessionArn"]
        self.addCleanup(raw, "TerminateGameSession", {"GameSessionId": arn,
                                                      "TerminationMode": "FORCE_TERMINATE"})
        data = matchmaker_data(arn)
        self.assertEqual(sum(len(t["players"]) for t in data["teams"]), 4)
        self.assertEqual(data["autoBackfillMode"], "AUTOMATIC")
        auto = data["autoBackfillTicketId"]
        self.assertIn(tickets([auto])[auto]["Status"], ("QUEUED", "SEARCHING"))
        # Two new players fill the two empty seats of the running game.
        new = [start([player(name("b"))], AUTO) for _ in range(2)]
        done = completed(new + [auto])
        for tid in new:
            self.assertEqual(done[tid]["GameSessionConnectionInfo"]["GameSessionArn"], arn)
        data = matchmaker_data(arn)
        self.assertEqual([len(t["players"]) for t in data["teams"]], [3, 3])
        # Full: no backfill under way.
        self.assertEqual(psql("SELECT count(*) FROM matchmaking.tickets t JOIN fleet.game_sessions g "
                              "USING (game_session_id) WHERE g.game_session_arn = :'p1' "
                              "AND t.status IN ('QUEUED', 'SEARCHING')", arn), ["0"])
        # A player comes and goes: the seat is backfilled by a new ticket.
        info = done[new[0]]["GameSessionConnectionInfo"]
        seat = info["MatchedPlayerSessions"][0]
        with socket.create_connection((info["IpAddress"], info["Port"]), timeout=10) as sock:
            sock.sendall((seat["PlayerSessionId"] + "\n").encode())
            self.assertEqual(sock.makefile().readline().strip(), "OK " + seat["PlayerId"])
        self.assertTrue(wait_until(lambda: matchmaker_data(arn)["autoBackfillTicketId"] != auto, 10))
        again = matchmaker_data(arn)["autoBackfillTicketId"]
        view = tickets([again])[again]
        self.assertIn(view["Status"], ("QUEUED", "SEARCHING"))
        self.assertEqual(sorted(p["PlayerId"] for p in view["Players"]),
                         sorted(p["playerId"] for t in data["teams"] for p in t["players"]
                                if p["playerId"] != seat["PlayerId"]))
        # StopMatchmaking on it turns automatic backfill off for now.
        gl.stop_matchmaking(TicketId=again)


if __name__ == "__main__":
    unittest.main()
