"""An asyncio HTTP/1.1 client for load: kept-alive connections, retries as a
well-behaved client makes them, and an EventSource reader. Thousands of
simulated clients run on one event loop, so the simulation costs the machine
little next to what it measures. Standard library only."""

import asyncio
import json
import random
import resource

from rally import PORT, URL_HOST


def raise_fd_limit():
    """Thousands of sockets need more than the default 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def read_head(reader):
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed")
    status = int(line.split()[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            return status, headers
        k, _, v = line.decode().partition(":")
        headers[k.strip().lower()] = v.strip()


def request_bytes(method, path, body=None, token=None, accept=None):
    data = json.dumps(body).encode() if body is not None else b""
    head = "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (method, path, URL_HOST, len(data))
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    if body is not None:
        head += "Content-Type: application/json\r\n"
    if accept:
        head += "Accept: %s\r\n" % accept
    return head.encode() + b"\r\n" + data


class Http:
    """One kept-alive HTTP/1.1 connection to nginx."""

    def __init__(self):
        self.reader = self.writer = None

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def _read_body(self, headers):
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    return body
                body += chunk[:-2]
        return await self.reader.readexactly(int(headers.get("content-length", "0")))

    async def _once(self, method, path, body, token):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(URL_HOST, PORT)
        self.writer.write(request_bytes(method, path, body, token))
        status, headers = await read_head(self.reader)
        payload = await self._read_body(headers)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, (json.loads(payload) if payload else None)

    async def request(self, method, path, body=None, token=None, tries=6):
        """429, 502, 503 and broken connections are retried with jittered
        backoff, as a well-behaved client does."""
        pause = 0.2
        for attempt in range(tries):
            try:
                status, js = await self._once(method, path, body, token)
                if status not in (429, 502, 503) or attempt == tries - 1:
                    return status, js
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                self.close()
                if attempt == tries - 1:
                    raise
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause *= 2
        return status, js


class EventSource:
    """A subscription to a ticket's pushed updates (text/event-stream)."""

    def __init__(self):
        self.reader = self.writer = None
        self.status = None

    async def open(self, ticket, token):
        self.reader, self.writer = await asyncio.open_connection(URL_HOST, PORT)
        self.writer.write(request_bytes("GET", "/v1/matchmaking/%s/events" % ticket, token=token,
                                        accept="text/event-stream"))
        self.status, headers = await read_head(self.reader)
        self.chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        return self.status

    async def _line(self):
        # nchan streams event-stream unchunked; a chunked stream has size lines
        # between the events, which hold no "data:" and are skipped below.
        return (await self.reader.readline()).decode().rstrip("\r\n")

    async def next(self):
        """The next message's JSON."""
        data = []
        while True:
            line = await self._line()
            if line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                return json.loads("\n".join(data))
            elif not line and self.reader.at_eof():
                raise ConnectionError("subscription closed")

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
