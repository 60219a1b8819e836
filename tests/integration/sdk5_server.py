#!/usr/bin/python3
"""A game server on GameLift's server SDK 5 protocol, as rally-agent runs
one: its identity and credentials from the environment the agent hands
over (GAMELIFT_SDK_WEBSOCKET_URL, _AUTH_TOKEN, _FLEET_ID, _HOST_ID,
_PROCESS_ID; RALLY_PORT), ProcessReady, a game session when rally pushes
one, players who connect over TCP and send their PlayerSessionId
(AcceptPlayerSession, then "OK"), and on TerminateProcess ProcessEnding
and exit, as a server built on AWS's SDK behaves."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sdk5  # noqa: E402

env = os.environ
listener = socket.create_server(("127.0.0.1", int(env.get("RALLY_PORT", "0"))))
proc = sdk5.Process(env["GAMELIFT_SDK_AUTH_TOKEN"], env["GAMELIFT_SDK_FLEET_ID"],
                    env["GAMELIFT_SDK_HOST_ID"], env["GAMELIFT_SDK_PROCESS_ID"],
                    url=env["GAMELIFT_SDK_WEBSOCKET_URL"])
answer = proc.ready(listener.getsockname()[1])
if answer is None or answer["StatusCode"] != 200:
    sys.exit("ProcessReady refused: %r" % (answer,))
session = {}


def heartbeats():
    while True:
        proc.call("HeartbeatServerProcess", HealthStatus=True)
        time.sleep(2)


def pushes():
    while True:
        m = proc.push(timeout=3600)
        if m is None:
            continue
        if m["Action"] == "CreateGameSession":
            session["id"] = m["GameSessionId"]
            proc.call("ActivateGameSession", GameSessionId=m["GameSessionId"])
        elif m["Action"] == "TerminateProcess":
            proc.call("TerminateServerProcess")
            proc.close()
            os._exit(0)


threading.Thread(target=heartbeats, daemon=True).start()
threading.Thread(target=pushes, daemon=True).start()
while True:
    conn, _ = listener.accept()
    with conn:
        psess = conn.makefile().readline().strip()
        got = proc.call("AcceptPlayerSession", GameSessionId=session.get("id", ""),
                        PlayerSessionId=psess)
        ok = got is not None and got["StatusCode"] == 200
        conn.sendall(b"OK\n" if ok else ("NO %s\n" % (got or {}).get("ErrorMessage")).encode())
