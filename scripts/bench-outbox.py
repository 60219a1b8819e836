#!/usr/bin/env python3
"""Outbox bench (make bench): EVENTS FlexMatch events published at once to a
topic whose one subscriber is an external HTTP endpoint (an asyncio server
on loopback that answers 200 at once, as a studio's consumer would), then
delivered by the running matchmaker's outbox threads: signed SNS
Notifications, POSTed. Reports deliveries per second from the commit of the
events to the last one received, and checks each arrived exactly once.

    bench-outbox.py EVENTS OUT.json      (against a running stack, env sourced)
"""

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

import rally  # noqa: E402

TOPIC = "arn:aws:sns:local:000000000000:rally-bench-outbox"
TARGET_PER_SECOND = 2000


class Sink(asyncio.Protocol):
    """HTTP/1.1 keep-alive POSTs: counts each by its x-amz-sns-message-id."""

    def __init__(self, seen, stamps):
        self.buf = b""
        self.seen = seen
        self.stamps = stamps

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            fields = {}
            for line in head[1:]:
                k, _, v = line.partition(":")
                fields[k.strip().lower()] = v.strip()
            length = int(fields.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            mid = fields.get("x-amz-sns-message-id", "")
            self.seen[mid] = self.seen.get(mid, 0) + 1
            self.stamps.append(time.time())
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


async def run(n):
    seen, stamps = {}, []
    server = await asyncio.get_running_loop().create_server(lambda: Sink(seen, stamps), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    endpoint = "http://127.0.0.1:%d/sns" % port
    rally.psql("INSERT INTO events.subscriptions (topic_arn, endpoint) VALUES (:'p1', :'p2')", TOPIC, endpoint)
    try:
        message = json.dumps(rally.event("MatchmakingSucceeded",
                                         [("bench-outbox-%d" % i, [{"playerId": "p%d" % i}]) for i in range(10)],
                                         matchId="bench-outbox-match"))
        t0 = time.time()
        ids = await asyncio.to_thread(
            rally.psql, "SELECT events.publish(:'p1', :'p2') FROM generate_series(1, %d)" % n, TOPIC, message)
        committed = time.time()
        deadline = committed + 120
        while len(seen) < n and time.time() < deadline:
            await asyncio.sleep(0.05)
        done = time.time()
        await asyncio.sleep(1)  # none arrives twice
    finally:
        server.close()
        rally.psql("DELETE FROM events.subscriptions WHERE endpoint = :'p1'", endpoint)
    wanted = set(ids)
    arrived = [m for m in seen if m in wanted]
    last = max(stamps) if stamps else done
    seconds = max(1e-6, last - committed)
    return {
        "events": n,
        "publish_seconds": round(committed - t0, 2),
        "delivered": len(arrived),
        "delivered_twice": sum(1 for m in arrived if seen[m] > 1),
        "unexpected": sum(1 for m in seen if m not in wanted),
        "seconds": round(seconds, 2),
        "per_second": round(len(arrived) / seconds),
        "target_per_second": TARGET_PER_SECOND,
    }


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    f = asyncio.run(run(n))
    f["meets_target"] = (f["delivered"] == n and f["delivered_twice"] == 0
                         and f["per_second"] >= TARGET_PER_SECOND)
    with open(out, "w") as fh:
        json.dump(f, fh)
    print("outbox: %(delivered)d/%(events)d events delivered to an external subscriber in %(seconds)s s: "
          "%(per_second)d/s (target >= %(target_per_second)d/s: %(meets_target)s); "
          "%(delivered_twice)d twice" % f)
    return 0 if f["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
