"""Resilience: bursts of tickets that stress the matchmaker's outbox, and
(in other classes of this module) the failures a self-hosted stack meets."""

import asyncio
import os
import time
import unittest

import aclient
import rally
from rally import psql
from test_fleet import server_token

# Nobody ever matches: a duel between players of exactly equal skill, and
# every burst player has a skill of their own. Each ticket therefore makes
# exactly one event (MatchmakingSearching) while the burst is measured.
LONELY = {"ruleLanguageVersion": "1.0",
          "playerAttributes": [{"name": "skill", "type": "number"}],
          "teams": [{"name": "red", "minPlayers": 1, "maxPlayers": 1},
                    {"name": "blue", "minPlayers": 1, "maxPlayers": 1}],
          "rules": [{"name": "Equal", "type": "distance", "maxDistance": 0,
                     "measurements": ["flatten(teams[*].players.attributes[skill])"]}]}
BURST_CONFIG = {"Name": "Burst", "RuleSetName": "LonelyRules", "RequestTimeoutSeconds": 600,
                "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE",
                "NotificationTarget": rally.TOPIC}


async def _burst(token, seconds, paths_and_bodies):
    """Sends the requests spread evenly over `seconds` on 50 kept-alive
    connections; returns the statuses."""
    conns = [aclient.Http() for _ in range(50)]
    step = seconds / len(paths_and_bodies)
    t0 = time.monotonic()

    async def one(i, path, body):
        await asyncio.sleep(max(0.0, t0 + i * step - time.monotonic()))
        conn = conns[i % len(conns)]
        async with locks[i % len(conns)]:
            status, _ = await conn.request("POST", path, body, token=token)
        return status

    locks = [asyncio.Lock() for _ in conns]
    try:
        return await asyncio.gather(*(one(i, p, b) for i, (p, b) in enumerate(paths_and_bodies)))
    finally:
        for c in conns:
            c.close()


class Burst(unittest.TestCase):
    """500 StartMatchmaking calls to one configuration within a second, twice:
    the matchmaker keeps running (no crash, no sanitizer report), and every
    ticket's MatchmakingSearching reaches the client's view."""

    @classmethod
    def setUpClass(cls):
        rally.load_config(rulesets={"LonelyRules": LONELY}, configurations={"Burst": BURST_CONFIG})
        cls.token = server_token("fleet-local")

    def test_five_hundred_tickets_a_second_twice(self):
        matchmaker = rally.pids("matchmaker")
        ids = []
        for round_ in range(2):
            tag = "burst%d-%s" % (round_, os.urandom(4).hex())
            reqs = [("/v1/fleet/matchmaking/start",
                     {"ConfigurationName": "Burst", "TicketId": "%s-%d" % (tag, i),
                      "Players": [{"PlayerId": "%s-p%d" % (tag, i),
                                   "PlayerAttributes": {"skill": {"N": 1000 * round_ + i}}}]})
                    for i in range(500)]
            statuses = asyncio.run(_burst(self.token, 1.0, reqs))
            self.assertEqual(sorted(set(statuses)), [200], statuses)
            ids += [b["TicketId"] for _, b in reqs]
        try:
            def searching():
                return psql("SELECT count(*) FROM backend.ticket_results WHERE ticket_id LIKE 'burst%' "
                            "AND status = 'SEARCHING'") == [str(len(ids))]
            self.assertTrue(rally.wait_until(searching, timeout=60, interval=0.5),
                            (psql("SELECT status, count(*) FROM backend.ticket_results "
                                  "WHERE ticket_id LIKE 'burst%' GROUP BY 1"),
                             psql("SELECT status, count(*) FROM matchmaking.tickets "
                                  "WHERE ticket_id LIKE 'burst%' GROUP BY 1"),
                             psql("SELECT last_error, count(*) FROM events.dead_letters GROUP BY 1")))
            os.kill(matchmaker, 0)  # still the same process: it never died
            self.assertEqual(rally.pids("matchmaker"), matchmaker)
            self.assertEqual(psql("SELECT count(*) FROM events.dead_letters "
                                  "WHERE message LIKE '%burst_-%'"), ["0"])
        finally:
            # Out of the pool, so later tests' ticks stay small.
            psql("UPDATE matchmaking.tickets SET status = 'CANCELLED', updated_at = now() "
                 "WHERE ticket_id LIKE 'burst%' AND status IN ('QUEUED', 'SEARCHING')")
