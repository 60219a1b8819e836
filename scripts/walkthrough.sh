#!/usr/bin/env bash
# Prints a curl walkthrough of the whole flow against the running local stack.
# Every block can be pasted into a shell as it is (it needs curl and python3).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
. "$TOP/.run/env"
cat <<TXT

# rally is up: $RALLY_URL   (logs: .run/logs, stop: make stop)

# 1. A guest identity (keep user_id + guest_secret to log in again later)
export RALLY=$RALLY_URL
LOGIN=\$(curl -s -X POST \$RALLY/v1/identity/guest -d '{}'); echo "\$LOGIN"
TOKEN=\$(echo "\$LOGIN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["auth_token"])')
REFRESH=\$(echo "\$LOGIN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')
ME=\$(echo "\$LOGIN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["user_id"])')

# 2. Ask for a match with this client's latencies
TICKET=\$(curl -s -X POST \$RALLY/v1/matchmaking -H "Authorization: Bearer \$TOKEN" \\
  -d '{"latencyInMs": {"us-east-1": 23, "eu-west-1": 81}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["TicketId"])')
curl -s \$RALLY/v1/matchmaking/\$TICKET -H "Authorization: Bearer \$TOKEN"; echo

# 3. Play the matchmaker: deliver a signed SNS MatchmakingSucceeded event
cat > /tmp/rally-event.json <<JSON
{"version":"0","id":"\$(cat /proc/sys/kernel/random/uuid)","detail-type":"GameLift Matchmaking Event",
 "source":"aws.gamelift","account":"000000000000","time":"\$(date -u +%Y-%m-%dT%H:%M:%S.000Z)","region":"local",
 "resources":["arn:aws:gamelift:local:000000000000:matchmakingconfiguration/SampleFlexMatchConfiguration"],
 "detail":{"type":"MatchmakingSucceeded","matchId":"\$(cat /proc/sys/kernel/random/uuid)",
  "tickets":[{"ticketId":"\$TICKET","startTime":"\$(date -u +%Y-%m-%dT%H:%M:%S.000Z)",
    "players":[{"playerId":"\$ME","playerSessionId":"psess-\$(cat /proc/sys/kernel/random/uuid)","team":"oneteam"}]}],
  "gameSessionInfo":{"gameSessionArn":"arn:aws:gamelift:local::gamesession/fleet-local/gs-1",
   "ipAddress":"127.0.0.1","dnsName":"localhost","port":7777,"players":[{"playerId":"\$ME","team":"oneteam"}]}}}
JSON
(. $RALLY_RUN_DIR/env && $RALLY_BIN/rally-sns-sign < /tmp/rally-event.json > /tmp/rally-sns.json)
curl -s -X POST \$RALLY/v1/events/sns -H 'x-amz-sns-message-type: Notification' \\
  -H 'Content-Type: text/plain; charset=UTF-8' --data-binary @/tmp/rally-sns.json; echo

# 4. Learn the match: native, and as the AWS sample clients see it
curl -s \$RALLY/v1/matchmaking/\$TICKET -H "Authorization: Bearer \$TOKEN"; echo
curl -s "\$RALLY/prod/get-match-status?&ticketId=\$TICKET" -H "Authorization: \$TOKEN"; echo
curl -s "\$RALLY/Prod/requestmatchstatus?ticketId=\$TICKET" -H "Authorization: Bearer \$TOKEN"; echo

# 5. Rotate the refresh token, then log out
curl -s -X POST \$RALLY/v1/identity/refresh -d "{\"refresh_token\": \"\$REFRESH\"}"; echo
curl -s -X POST \$RALLY/v1/identity/logout -H "Authorization: Bearer \$TOKEN"; echo

TXT
