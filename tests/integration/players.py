"""Simulated players and game servers for the end-to-end test and bench.

A player does what a game client does, over the real HTTP routes: guest
login, StartMatchmaking, polling its ticket until COMPLETED, then a TCP
connection to the game server it was placed on, where it shows its
PlayerSessionId and expects "OK <its PlayerId>". Game servers are real
rally-gameserver processes of fleet-local."""

import os
import random
import socket
import subprocess
import threading
import time

from rally import BIN, RUN, request

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


def start_gameservers(count, first_port, heartbeat_ms=200):
    """count rally-gameserver processes of fleet-local, half in each location;
    returns the Popen objects (stop them with stop_gameservers)."""
    env = dict(os.environ, RALLY_FLEET_SECRET_FILE=os.path.join(RUN, "fleets", "fleet-local.secret"))
    log = open(os.path.join(RUN, "logs", "gameservers-e2e.log"), "a")
    procs = []
    for i in range(count):
        location = "us-east-1" if i % 2 == 0 else "eu-west-1"
        procs.append(subprocess.Popen(
            [os.path.join(BIN, "rally-gameserver"), "--url", "http://127.0.0.1:%s" % os.environ["RALLY_HTTP_PORT"],
             "--location", location, "--port", str(first_port + i), "--heartbeat-ms", str(heartbeat_ms),
             "--idle-seconds", "20"],
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


def patient(method, path, body=None, token=None, tries=6):
    """A request as a well-behaved client makes it: 502, 503 and 429 (and a
    refused connection) are retried with jittered backoff."""
    pause = 0.2
    for attempt in range(tries):
        try:
            r = request(method, path, body, token=token)
            if r.status not in (429, 502, 503) or attempt == tries - 1:
                return r
        except OSError:
            if attempt == tries - 1:
                raise
        time.sleep(pause * (0.5 + random.random()))
        pause *= 2
    return r


def play(configuration, latency, timeout=60.0, poll=0.5):
    """One player, start to seat. Returns a dict: ok, status, why, seconds."""
    t0 = time.time()
    out = {"ok": False, "status": None, "why": "", "seconds": 0.0}
    try:
        login = patient("POST", "/v1/identity/guest", {})
        if login.status != 200:
            out["why"] = "login: %s" % login
            return out
        g = login.json
        r = patient("POST", "/v1/matchmaking", {"latencyInMs": latency, "configuration": configuration},
                    token=g["auth_token"])
        if r.status not in (200, 201):
            out["why"] = "StartMatchmaking: %s %s" % (r.status, r.json)
            return out
        tid = r.json["TicketId"]
        view = r.json
        while view.get("Status") not in TERMINAL and time.time() - t0 < timeout:
            time.sleep(poll * (0.75 + random.random() / 2))  # jitter, as a client should
            resp = patient("GET", "/v1/matchmaking/" + tid, token=g["auth_token"])
            if resp.status == 200:
                view = resp.json
        out["status"] = view.get("Status")
        if out["status"] != "COMPLETED":
            out["why"] = "ticket %s ended %s" % (tid, out["status"])
            return out
        info = view["GameSessionConnectionInfo"]
        seat = [m["PlayerSessionId"] for m in info["MatchedPlayerSessions"]
                if m["PlayerId"] == g["user_id"]][0]
        with socket.create_connection((info["IpAddress"], info["Port"]), timeout=10) as s:
            s.sendall((seat + "\n").encode())
            answer = s.makefile().readline().strip()
        out["ok"] = answer == "OK " + g["user_id"]
        out["why"] = "" if out["ok"] else "game server said %r" % answer
    except Exception as e:  # a player's failure is a result, not a crash
        out["why"] = "%s: %s" % (type(e).__name__, e)
    finally:
        out["seconds"] = time.time() - t0
    return out


def latency_for(i):
    """A spread of players: most near us-east-1, some nearer eu-west-1."""
    east = 20 + (i * 7) % 60
    west = 40 + (i * 13) % 90
    return {"us-east-1": east, "eu-west-1": west}


def simulate(n, configuration, timeout=60.0, poll=0.5):
    """n players at once; returns (results, wall seconds)."""
    threading.stack_size(256 * 1024)
    results = [None] * n
    def run(i):
        results[i] = play(configuration, latency_for(i), timeout, poll)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.time() - t0
