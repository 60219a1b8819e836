#!/usr/bin/python3
"""GameLift API bench preparation (make bench), against a running stack (its
env file sourced). Debian's python3, for its botocore, which signs here.

    bench-gamelift.py OUT_DIR SESSIONS

Makes fleet-bench with SESSIONS ACTIVE game sessions (written straight into
the database: what is measured is reading and seating, not creating), then
writes two files of whole requests for bench/rally.lua's replay mode, each
signed with the stack's local access key as boto3 signs:

    describe.req   DescribeGameSessions of fleet-bench, 100 a page: one
                   request per page, each with its NextToken
    players.req    CreatePlayerSession, each on another game session

Requests stay valid for the five minutes a signature's date is good for."""

import configparser
import json
import os
import sys

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

from rally import PORT, RUN, psql  # noqa: E402

FLEET = "fleet-bench"
ENDPOINT = "http://127.0.0.1:%d" % PORT


def key():
    c = configparser.ConfigParser()
    c.read(os.path.join(RUN, "aws", "credentials"))
    return c["default"]["aws_access_key_id"], c["default"]["aws_secret_access_key"]


def signed(operation, body):
    """One request, as bytes on the wire, with its CRLFs as tabs."""
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=ENDPOINT + "/", data=data,
                     headers={"X-Amz-Target": "GameLift." + operation,
                              "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(*key()), "gamelift", "us-east-1").add_auth(req)
    head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n" % (PORT, len(data))
    for k, v in req.headers.items():
        if k.lower() not in ("host", "content-length"):
            head += "%s: %s\r\n" % (k, v)
    wire = head + "\r\n" + data.decode()
    assert "\t" not in wire and "\n" not in data.decode()
    return wire.replace("\r\n", "\t")


def main():
    out, sessions = sys.argv[1], int(sys.argv[2])
    psql("INSERT INTO fleet.fleets (fleet_id, locations, activation_timeout_seconds, "
         "reservation_timeout_seconds, heartbeat_timeout_seconds, body) VALUES "
         "(:'p1', '{us-east-1,eu-west-1}', 60, 60, 30, jsonb_build_object('FleetId', :'p1')) "
         "ON CONFLICT DO NOTHING", FLEET)
    psql("INSERT INTO fleet.game_sessions (game_session_id, game_session_arn, fleet_id, location, "
         "process_id, status, ip_address, port, maximum_players, name, game_properties, activated_at) "
         "SELECT 'gsess-bench-' || i, 'arn:aws:gamelift:local::gamesession/' || :'p1' || '/us-east-1/"
         "gsess-bench-' || lpad(i::text, 6, '0'), :'p1', 'us-east-1', 'process-bench', 'ACTIVE', "
         "'127.0.0.1', 7000, 200, 'world ' || i, '[{\"Key\": \"mode\", \"Value\": \"pve\"}]', now() "
         "FROM generate_series(1, :'p2'::integer) AS i ON CONFLICT DO NOTHING", FLEET, sessions)
    # As autovacuum would soon after such a load: plans for the table as it is.
    psql("ANALYZE fleet.game_sessions")
    gl = boto3.client("gamelift", endpoint_url=ENDPOINT, region_name="us-east-1",
                      aws_access_key_id=key()[0], aws_secret_access_key=key()[1])
    pages, ids, token = [], [], None
    while True:
        body = {"FleetId": FLEET, "Limit": 100}
        if token:
            body["NextToken"] = token
        pages.append(signed("DescribeGameSessions", body))
        page = gl.describe_game_sessions(**body)
        ids += [g["GameSessionId"] for g in page["GameSessions"]]
        token = page.get("NextToken")
        if not token:
            break
    with open(os.path.join(out, "describe.req"), "w") as f:
        f.write("\n".join(pages) + "\n")
    with open(os.path.join(out, "players.req"), "w") as f:
        for i, gs in enumerate(ids[:2000]):
            f.write(signed("CreatePlayerSession", {"GameSessionId": gs, "PlayerId": "bench-%d" % i}) + "\n")
    print("bench-gamelift: %d game sessions, %d pages, %d seat requests" % (len(ids), len(pages),
                                                                          min(len(ids), 2000)))


if __name__ == "__main__":
    main()
