#!/usr/bin/env bash
# Prints a curl walkthrough of the whole flow against the running local stack
# (.run, or RALLY_RUN_DIR). Every block can be pasted into a shell as it is
# (it needs curl and python3); `make demo` runs all of it and fails unless the
# game server let the player in.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "${RALLY_RUN_DIR:-$TOP/.run}/env"
cat <<TXT

# rally is up: $RALLY_URL   (logs: .run/logs, stop: make stop)

# 1. A guest identity (keep user_id + guest_secret to log in again later)
export RALLY=$RALLY_URL
LOGIN=\$(curl -s -X POST \$RALLY/v1/identity/guest -d '{}'); echo "\$LOGIN"
TOKEN=\$(echo "\$LOGIN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["auth_token"])')
REFRESH=\$(echo "\$LOGIN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')

# 2. Ask for a match with this client's latencies
TICKET=\$(curl -s -X POST \$RALLY/v1/matchmaking -H "Authorization: Bearer \$TOKEN" \\
  -d '{"latencyInMs": {"us-east-1": 23, "eu-west-1": 81}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["TicketId"])')
curl -s \$RALLY/v1/matchmaking/\$TICKET -H "Authorization: Bearer \$TOKEN"; echo

# 3. rally-matchmaker matches the ticket (SampleRuleSet takes 1 to 5 players),
#    its queue places the match on the sample game server with the lowest
#    latency (us-east-1 here), the server activates the game session, and the
#    ticket completes with the connection info and this player's seat.
for i in \$(seq 1 30); do
  VIEW=\$(curl -s \$RALLY/v1/matchmaking/\$TICKET -H "Authorization: Bearer \$TOKEN")
  echo "\$VIEW" | grep -q '"Status":"COMPLETED"' && break; sleep 0.5
done; echo "\$VIEW"

# 3b. Or be told instead of asking: the ticket's updates pushed by nginx
#     (EventSource here; WebSocket and long-poll on the same URL). The last
#     status comes at once; Ctrl-C to stop.
curl -s -N --max-time 2 -H "Accept: text/event-stream" -H "Authorization: Bearer \$TOKEN" \
  \$RALLY/v1/matchmaking/\$TICKET/events || true; echo

# 4. The same ticket as the AWS sample clients see it
curl -s "\$RALLY/prod/get-match-status?&ticketId=\$TICKET" -H "Authorization: \$TOKEN"; echo
curl -s "\$RALLY/Prod/requestmatchstatus?ticketId=\$TICKET" -H "Authorization: Bearer \$TOKEN"; echo

# 5. Connect to the game server and show it the PlayerSessionId: it asks rally
#    (AcceptPlayerSession) and lets the player in.
echo "\$VIEW" | python3 -c '
import json, socket, sys
info = json.load(sys.stdin)["GameSessionConnectionInfo"]
seat = info["MatchedPlayerSessions"][0]["PlayerSessionId"]
with socket.create_connection((info["IpAddress"], info["Port"]), timeout=10) as s:
    s.sendall((seat + "\\n").encode())
    answer = s.makefile().readline().strip()
print("game server %s:%s says: %s" % (info["IpAddress"], info["Port"], answer))
sys.exit(0 if answer.startswith("OK ") else 1)'

# 7. The same from the client SDK (client-sdk/), told by push:
#      build/bin/rally matchmake --latency us-east-1=23 --latency eu-west-1=81 --wait --connect
#      build/bin/rally-example-client      (login, matchmake, wait, take the seat)

# 6. Rotate the refresh token, then log out
curl -s -X POST \$RALLY/v1/identity/refresh -d "{\"refresh_token\": \"\$REFRESH\"}"; echo
curl -s -X POST \$RALLY/v1/identity/logout -H "Authorization: Bearer \$TOKEN"; echo

# 8. The GameLift service API with the AWS CLI, signed with the local access
#    key make run wrote (.run/aws; \`rally-keys aws-key\` makes more)
export AWS_SHARED_CREDENTIALS_FILE=$RALLY_RUN_DIR/aws/credentials AWS_CONFIG_FILE=$RALLY_RUN_DIR/aws/config AWS_PAGER=
aws gamelift list-fleets --endpoint-url \$RALLY
aws gamelift describe-fleet-capacity --fleet-ids fleet-local --endpoint-url \$RALLY --output table
aws gamelift describe-game-session-queues --endpoint-url \$RALLY --query 'GameSessionQueues[].Name'

# 9. Realtime: two players matched (the RelayChat configuration) onto a relay
#    server of fleet-realtime, chatting through its Lua script
#    (config/scripts/chat.lua masks a few words and replays the last lines to
#    whoever joins later); each prints what it hears
$RALLY_BIN/rally-example-chat --url \$RALLY --say "hello noob" --seconds 30 & FIRST=\$!
$RALLY_BIN/rally-example-chat --url \$RALLY --say "no lag here" --seconds 30; wait \$FIRST
#    By hand, with a seat from matchmaking ($RALLY_BIN/rally matchmake --config
#    RelayChat --wait prints the relay's address and the player session):
#      $RALLY_BIN/rally rt connect IP:PORT PLAYER_SESSION_ID
#    then type lines such as: send 1 all hi there | fast 1 all hi | send 2 server who

TXT
