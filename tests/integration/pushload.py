"""Thousands of players waiting for their match by push, for the load test
(test_push.py) and `make bench` (scripts/bench-push.py).

With the matchmaker paused, N players log in, start a ticket of a STANDALONE
configuration that pairs players at once, and subscribe to their ticket by
EventSource. While all N are held by nginx, the FastCGI functions must still
answer. Then the matchmaker resumes: it pairs them, applies the events in
place and pushes each ticket, and each subscriber is told COMPLETED. The
delay of each is the time from the transaction that applied the event (the
ticket result's updated_at, when it began) to the subscriber reading it;
the mean wait is from the matchmaker's resumption."""

import asyncio
import os
import signal
import statistics
import time

from aclient import EventSource, Http, raise_fd_limit
from rally import RUN, psql

PAIRS_RULES = {"ruleLanguageVersion": "1.0",
               "playerAttributes": [{"name": "skill", "type": "number", "default": 10}],
               "teams": [{"name": "duo", "minPlayers": 2, "maxPlayers": 2}]}


def pairs_configuration(topic):
    return {"Name": "PushPairs", "RuleSetName": "PushPairsRules", "RequestTimeoutSeconds": 600,
            "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE", "NotificationTarget": topic}


def matchmaker_pid():
    with open(os.path.join(RUN, "pids", "matchmaker.pid")) as f:
        return int(f.read())


async def _bounded(limit, coros):
    """Runs the coroutines, at most `limit` at once."""
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            return await c
    return await asyncio.gather(*(one(c) for c in coros))


async def _player(http):
    status, g = await http.request("POST", "/v1/identity/guest", {})
    if status != 200:
        raise RuntimeError("login: %s %s" % (status, g))
    status, t = await http.request("POST", "/v1/matchmaking",
                                   {"latencyInMs": {"us-east-1": 20}, "configuration": "PushPairs"},
                                   token=g["auth_token"])
    if status != 201:
        raise RuntimeError("StartMatchmaking: %s %s" % (status, t))
    return g, t["TicketId"]


async def _run(n, hold_seconds, timeout):
    # Players and tickets, 100 at a time over kept-alive connections.
    pool = asyncio.Queue()
    for _ in range(100):
        pool.put_nowait(Http())

    async def player():
        http = await pool.get()
        try:
            return await _player(http)
        finally:
            pool.put_nowait(http)
    made = await asyncio.gather(*(player() for _ in range(n)))
    while not pool.empty():
        pool.get_nowait().close()

    subs = [EventSource() for _ in range(n)]
    statuses = await _bounded(500, (s.open(t, g["auth_token"]) for s, (g, t) in zip(subs, made)))
    refused = sum(1 for st in statuses if st != 200)

    # All held by nginx: the functions still answer (no worker is tied up).
    await asyncio.sleep(hold_seconds)
    probe = Http()
    g, t = made[0]
    probe_status, _ = await probe.request("GET", "/v1/matchmaking/" + t, token=g["auth_token"], tries=1)
    probe.close()

    received = {}
    reconnects = 0

    async def wait_done(i, s):
        # As a browser's EventSource does: nginx ends each subscription after
        # nchan_subscriber_timeout (routes.conf), and the client subscribes
        # again, getting the ticket's current status at once.
        nonlocal reconnects
        g, t = made[i]
        while True:
            try:
                msg = await s.next()
            except (ConnectionError, OSError):
                s.close()
                reconnects += 1
                await s.open(t, g["auth_token"])
                continue
            if msg.get("Status") == "COMPLETED":
                received[t] = time.time()
                return

    released = time.time()
    os.kill(matchmaker_pid(), signal.SIGCONT)
    try:
        await asyncio.wait_for(asyncio.gather(*(wait_done(i, s) for i, s in enumerate(subs))),
                               timeout)
    except asyncio.TimeoutError:
        pass
    for s in subs:
        s.close()
    return made, refused, probe_status, received, released, reconnects


def run(n, topic, hold_seconds=1.0, timeout=120.0):
    """Holds n subscribers, completes their tickets, returns the figures.
    The caller loaded PushPairs (pairs_configuration) and PushPairsRules."""
    raise_fd_limit()
    pid = matchmaker_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        made, refused, probe_status, received, released, reconnects = asyncio.run(
            _run(n, hold_seconds, timeout))
    finally:
        os.kill(pid, signal.SIGCONT)
    applied = {}
    for line in psql("SELECT ticket_id || ' ' || extract(epoch FROM updated_at) FROM backend.ticket_results "
                     "WHERE configuration_name = 'PushPairs' AND status = 'COMPLETED' "
                     "AND updated_at >= to_timestamp(:'p1')", t0):
        tid, at = line.split()
        applied[tid] = float(at)
    delays = sorted(max(0.0, received[t] - applied[t]) for t in received if t in applied)
    waited = [received[t] - released for t in received]
    pct = lambda q: round(delays[min(len(delays) - 1, int(q * len(delays)))] * 1000, 1) if delays else None
    mean_wait = statistics.mean(waited) if waited else None
    return {
        "subscribers": n,
        "refused": refused,
        "function_answered_while_held": probe_status,
        "completed_pushed": len(received),
        "reconnects": reconnects,
        "delay_p50_ms": pct(0.5),
        "delay_p99_ms": pct(0.99),
        "delay_max_ms": round(delays[-1] * 1000, 1) if delays else None,
        # While waiting, a 1.5 s poller makes n/1.5 requests a second; a
        # subscriber makes one request in all.
        "polling_rps_for_same_players": round(n / 1.5, 1),
        "push_requests_total": n,
        "mean_wait_seconds": round(mean_wait, 2) if mean_wait is not None else None,
    }
