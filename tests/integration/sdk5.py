"""A game server process as GameLift's server SDK 5 speaks to rally,
written from the protocol facts (reference/gamelift-server-sdk5.md), on
Debian's websocket-client: the connect URL with its query, JSON messages
with Action and RequestId, answers matched by RequestId, pushes
(CreateGameSession, UpdateGameSession, TerminateProcess,
RefreshConnection) collected apart."""

import json
import os
import queue
import threading
import urllib.parse
import uuid

import websocket

from rally import PORT, RUN, request

URL = "ws://127.0.0.1:%d/v1/fleet/sdk5" % PORT
PUSHES = ("CreateGameSession", "UpdateGameSession", "TerminateProcess", "RefreshConnection")


def fleet_token(fleet):
    with open(os.path.join(RUN, "fleets", fleet + ".secret")) as f:
        secret = f.read().strip()
    r = request("POST", "/v1/identity/server", {"fleetId": fleet, "fleetSecret": secret})
    assert r.status == 200, r
    return r.json["auth_token"]


def register_compute(token, name, location="us-east-1", ip="127.0.0.1"):
    r = request("POST", "/v1/fleet/computes",
                {"computeName": name, "location": location, "ipAddress": ip}, token=token)
    assert r.status == 200, r


def connect_url(token, fleet, compute, process, url=URL, **extra):
    q = {"Authorization": token, "ComputeId": compute, "FleetId": fleet,
         "IdempotencyToken": str(uuid.uuid4()), "pID": process, "sdkLanguage": "Go",
         "sdkVersion": "5.6.0"}
    q.update(extra)
    q = {k: v for k, v in q.items() if v is not None}
    return url + "?" + urllib.parse.urlencode(sorted(q.items()))


class Process:
    """One connection of a process: call() sends an action and waits for
    its answer; push() waits for the next message rally pushed."""

    def __init__(self, token, fleet, compute, process, url=URL):
        self.process = process
        self.ws = websocket.create_connection(connect_url(token, fleet, compute, process, url),
                                              timeout=10, header=["User-Agent: gamelift-go-sdk/1.0"])
        self.answers, self.pushes, self.other = {}, queue.Queue(), queue.Queue()
        self.cv = threading.Condition()
        self.closed = None  # (code, reason) once rally closed the connection
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                op, data = self.ws.recv_data(control_frame=True)
            except Exception:
                break
            if op == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                self.closed = (code, data[2:].decode(errors="replace"))
                break
            if op != websocket.ABNF.OPCODE_TEXT:
                continue
            m = json.loads(data)
            if m.get("Action") in PUSHES:
                self.pushes.put(m)
            elif m.get("RequestId"):
                with self.cv:
                    self.answers[m["RequestId"]] = m
                    self.cv.notify_all()
            else:
                self.other.put(m)
        with self.cv:
            self.cv.notify_all()

    def send(self, action, **fields):
        rid = str(uuid.uuid4())
        self.ws.send(json.dumps(dict({"Action": action, "RequestId": rid}, **fields)))
        return rid

    def wait(self, rid, timeout=10):
        with self.cv:
            self.cv.wait_for(lambda: rid in self.answers or not self.reader.is_alive(), timeout)
            return self.answers.pop(rid, None)

    def call(self, action, timeout=10, **fields):
        return self.wait(self.send(action, **fields), timeout)

    def push(self, timeout=10):
        try:
            return self.pushes.get(timeout=timeout)
        except queue.Empty:
            return None

    def note(self, timeout=10):
        """The next answer rally could not give a RequestId to."""
        try:
            return self.other.get(timeout=timeout)
        except queue.Empty:
            return None

    def ready(self, port):
        """ProcessReady, then at once the first heartbeat, as the SDK does:
        rally pushes nothing before it (the SDK would drop a CreateGameSession
        that came before it took ProcessReady's answer)."""
        answer = self.call("ActivateServerProcess", SdkVersion="5.6.0", SdkLanguage="Go", Port=port,
                           LogPaths=None)
        if answer is not None and answer["StatusCode"] == 200:
            self.call("HeartbeatServerProcess", HealthStatus=True)
        return answer

    def drop(self):
        """Gone without a closing handshake, as the SDK's Destroy()."""
        self.ws.sock.close()
        self.reader.join(5)

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        self.reader.join(5)
