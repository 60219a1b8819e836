"""Simulated players and game servers for the end-to-end test and bench.

A player does what a game client does, over the real HTTP routes: guest
login, StartMatchmaking, waiting for its ticket to be COMPLETED (by push as
rally's client SDK does, or by polling), then a TCP connection to the game
server it was placed on, where it shows its PlayerSessionId and expects
"OK <its PlayerId>", at once: a player told COMPLETED must find its seat.
Game servers are real rally-gameserver processes of fleet-local. Players
run on one asyncio loop over kept-alive connections (aclient.py), so
thousands cost the machine little next to what they measure."""

import asyncio
import os
import random
import subprocess
import time

from aclient import EventSource, Http, raise_fd_limit
from rally import BIN, RUN

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


def start_gameservers(count, first_port, heartbeat_ms=200, fleet="fleet-local", idle_seconds=20,
                      extra=()):
    """count rally-gameserver processes of `fleet`, half in each location,
    with `extra` arguments; returns the Popen objects (stop them with
    stop_gameservers)."""
    env = dict(os.environ, RALLY_FLEET_SECRET_FILE=os.path.join(RUN, "fleets", fleet + ".secret"))
    log = open(os.path.join(RUN, "logs", "gameservers-e2e.log"), "a")
    procs = []
    for i in range(count):
        location = "us-east-1" if i % 2 == 0 else "eu-west-1"
        procs.append(subprocess.Popen(
            [os.path.join(BIN, "rally-gameserver"), "--url", "http://127.0.0.1:%s" % os.environ["RALLY_HTTP_PORT"],
             "--fleet", fleet, "--location", location, "--port", str(first_port + i),
             "--heartbeat-ms", str(heartbeat_ms), "--idle-seconds", str(idle_seconds)] + list(extra),
            stdout=log, stderr=subprocess.STDOUT, env=env))
    log.close()
    return procs


def stop_gameservers(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


async def wait_by_polling(http, tid, token, view, deadline, poll):
    """A read of the ticket every `poll` seconds (jittered, as a client
    should) until it ends or the deadline passes; the last view."""
    while view.get("Status") not in TERMINAL and time.time() < deadline:
        await asyncio.sleep(poll * (0.75 + random.random() / 2))
        status, js = await http.request("GET", "/v1/matchmaking/" + tid, token=token)
        if status == 200:
            view = js
    return view


async def wait_by_push(http, tid, token, view, deadline, poll):
    """As rally_wait_for_match: the ticket's EventSource (which opens with
    the ticket's current view), a read of the ticket every 15 s as a safety
    net, polling if push is refused."""
    while view.get("Status") not in TERMINAL and time.time() < deadline:
        es = EventSource()
        try:
            if await es.open(tid, token) != 200:
                return await wait_by_polling(http, tid, token, view, deadline, poll)
            while view.get("Status") not in TERMINAL:
                view = await asyncio.wait_for(es.next(), max(0.1, min(15, deadline - time.time())))
        except (asyncio.TimeoutError, ConnectionError, OSError):
            status, js = await http.request("GET", "/v1/matchmaking/" + tid, token=token)
            if status == 200:
                view = js
        finally:
            es.close()
    return view


async def play(i, configuration, timeout, wait, poll):
    """Player i, start to seat. Returns a dict: ok, status, why, seconds."""
    t0 = time.time()
    out = {"ok": False, "status": None, "why": "", "seconds": 0.0}
    http = Http()
    try:
        status, g = await http.request("POST", "/v1/identity/guest", {})
        if status != 200:
            out["why"] = "login: %s %s" % (status, g)
            return out
        status, view = await http.request("POST", "/v1/matchmaking",
                                          {"latencyInMs": latency_for(i), "configuration": configuration},
                                          token=g["auth_token"])
        if status not in (200, 201):
            out["why"] = "StartMatchmaking: %s %s" % (status, view)
            return out
        tid = view["TicketId"]
        view = await wait(http, tid, g["auth_token"], view, t0 + timeout, poll)
        out["status"] = view.get("Status")
        if out["status"] != "COMPLETED":
            out["why"] = "ticket %s ended %s" % (tid, out["status"])
            return out
        info = view["GameSessionConnectionInfo"]
        seat = [m["PlayerSessionId"] for m in info["MatchedPlayerSessions"]
                if m["PlayerId"] == g["user_id"]][0]
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(info["IpAddress"], info["Port"]), 10)
        writer.write((seat + "\n").encode())
        answer = (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
        writer.close()
        out["ok"] = answer == "OK " + g["user_id"]
        out["why"] = "" if out["ok"] else "game server said %r" % answer
    except Exception as e:  # a player's failure is a result, not a crash
        out["why"] = "%s: %s" % (type(e).__name__, e)
    finally:
        http.close()
        out["seconds"] = time.time() - t0
    return out


def latency_for(i):
    """A spread of players: most near us-east-1, some nearer eu-west-1."""
    east = 20 + (i * 7) % 60
    west = 40 + (i * 13) % 90
    return {"us-east-1": east, "eu-west-1": west}


WAITS = {"push": wait_by_push, "poll": wait_by_polling}


def simulate(n, configuration, timeout=60.0, wait="push", poll=1.0):
    """n players at once on one asyncio loop, each waiting for its match as
    `wait` says ("push" as rally's client SDK does, or "poll" every `poll`
    seconds); returns (results, wall seconds)."""
    raise_fd_limit()

    async def run():
        return await asyncio.gather(*(play(i, configuration, timeout, WAITS[wait], poll)
                                      for i in range(n)))
    t0 = time.time()
    results = asyncio.run(run())
    return results, time.time() - t0
