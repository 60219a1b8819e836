"""scripts/migrate.sh and the SQL layout (README, "SQL layout"): a database
made by the last release of the old layout (every function restated in the
numbered migrations, commit 5439a4d) upgrades without losing a row, and ends
with the schema of a fresh database, whose functions are byte for byte the
old ones; re-applying the functions is harmless, also while the stack's own
database serves requests.

The scratch databases live in the stack's PostgreSQL cluster, made and
dropped by its postgres role; the rally role owns and migrates them."""

import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import rally
from rally import TOP, guest, request, start_ticket

OLD_COMMIT = "5439a4d"
# The commit that moved the functions to sql/functions/ and changed nothing
# else; later commits change functions on purpose.
LAYOUT_COMMIT = "32b8b2a"
CONF = "SampleFlexMatchConfiguration"
DATABASES = ["rally_mig_upgraded", "rally_mig_fresh", "rally_mig_at010", "rally_mig_layout"]

# Live state, made through the functions the routes call (and, for matches
# and game sessions, the statements rally-matchmaker runs): tickets
# searching, in a match being placed, in a match waiting for acceptance,
# cancelled, and a party; events waiting for delivery and dead-lettered;
# processes, an ACTIVE game session with a taken and a reserved seat.
FILL = r"""
INSERT INTO events.subscriptions (topic_arn, endpoint) VALUES (:'topic', 'http://127.0.0.1:9/v1/events/sns');
SELECT 'guests', count(*) FROM (
    SELECT identity.create_guest(('00000000-0000-0000-0000-00000000000' || i)::uuid, md5('secret' || i),
                                 gen_random_uuid(), md5('refresh' || i), 3600)
    FROM generate_series(1, 3) i) x;
SELECT 'rotate', (identity.rotate_refresh(md5('refresh1'), md5('refresh1b'), 3600)).outcome;
SELECT 'start' || i, (matchmaking.start_matchmaking('upg-t' || i, :'conf', 'player-' || i,
                                                     '{"us-east-1": 20, "eu-west-1": 80}', '{}',
                                                     10800, false)).outcome
    FROM generate_series(1, 6) i;
SELECT 'party', (matchmaking.start_party('upg-party', :'conf',
    '[{"PlayerId": "party-a", "LatencyInMs": {"us-east-1": 30}},
      {"PlayerId": "party-b", "PlayerAttributes": {"skill": {"N": 12}}}]', 10800)).outcome;
SELECT 'stop5', (matchmaking.stop_matchmaking('upg-t5', 'player-5')).outcome;

-- Match 1, placing (matcher.c MATCHED), then on a game session (placement.c).
INSERT INTO matchmaking.matches (match_id, configuration_name, status, ticket_ids, teams, location,
                                 acceptance_deadline, placement_started_at)
    VALUES ('upg-m1', :'conf', 'PLACING', '{upg-t1,upg-t2}',
            '{"player-1": "oneteam", "player-2": "oneteam"}', 'us-east-1', now() + interval '30 s', now());
UPDATE matchmaking.tickets SET status = 'PLACING', match_id = 'upg-m1', updated_at = now()
    WHERE ticket_id IN ('upg-t1', 'upg-t2');
SELECT 'event1', backend.apply_matchmaking_event('upg-msg-1', :'topic', jsonb_build_object(
    'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'resources', jsonb_build_array(:'arn' || :'conf'),
    'detail', jsonb_build_object('type', 'PotentialMatchCreated', 'matchId', 'upg-m1',
        'acceptanceRequired', false, 'tickets', jsonb_build_array(
            jsonb_build_object('ticketId', 'upg-t1', 'players',
                               jsonb_build_array(jsonb_build_object('playerId', 'player-1', 'team', 'oneteam'))),
            jsonb_build_object('ticketId', 'upg-t2', 'players',
                               jsonb_build_array(jsonb_build_object('playerId', 'player-2', 'team', 'oneteam')))))),
    10800);
SELECT 'ready1', (fleet.process_ready('upg-proc-1', 'fleet-local', 'us-east-1', '127.0.0.1', 'localhost',
                                      7777, 10)).outcome;
SELECT 'ready2', (fleet.process_ready('upg-proc-2', 'fleet-local', 'eu-west-1', '127.0.0.1', 'localhost',
                                      7778, 10)).outcome;
UPDATE fleet.processes SET game_session_id = 'gsess-upg1' WHERE process_id = 'upg-proc-1';
WITH g AS (INSERT INTO fleet.game_sessions (game_session_id, game_session_arn, fleet_id, location, process_id,
                                            match_id, ip_address, dns_name, port, maximum_players,
                                            game_properties, game_session_data, matchmaker_data)
           VALUES ('gsess-upg1', 'arn:aws:gamelift:us-east-1::gamesession/fleet-local/us-east-1/gsess-upg1',
                   'fleet-local', 'us-east-1', 'upg-proc-1', 'upg-m1', '127.0.0.1', 'localhost', 7777, 10,
                   '[{"Key": "gamemode", "Value": "classic"}]', NULL, '{"matchId": "upg-m1"}'))
UPDATE matchmaking.matches SET game_session_id = 'gsess-upg1', updated_at = now() WHERE match_id = 'upg-m1';
SELECT 'heartbeat', (fleet.heartbeat('upg-proc-1', 'fleet-local')).outcome;
SELECT 'activate', (fleet.activate_game_session('gsess-upg1', 'fleet-local')).outcome;
INSERT INTO fleet.player_sessions (player_session_id, game_session_id, player_id, reserved_until)
    VALUES ('psess-upg1', 'gsess-upg1', 'player-1', now() + interval '1 hour'),
           ('psess-upg2', 'gsess-upg1', 'player-2', now() + interval '1 hour');
SELECT 'seat1', (fleet.accept_player_session('psess-upg1', 'fleet-local', NULL)).outcome;

-- Match 2, waiting for acceptance, one answer in.
INSERT INTO matchmaking.matches (match_id, configuration_name, status, ticket_ids, teams, location,
                                 acceptance_deadline)
    VALUES ('upg-m2', :'conf', 'REQUIRES_ACCEPTANCE', '{upg-t3,upg-t4}',
            '{"player-3": "oneteam", "player-4": "oneteam"}', 'us-east-1', now() + interval '1 hour');
UPDATE matchmaking.tickets SET status = 'REQUIRES_ACCEPTANCE', match_id = 'upg-m2', updated_at = now()
    WHERE ticket_id IN ('upg-t3', 'upg-t4');
SELECT 'event2', backend.apply_matchmaking_event('upg-msg-2', :'topic', jsonb_build_object(
    'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'resources', jsonb_build_array(:'arn' || :'conf'),
    'detail', jsonb_build_object('type', 'PotentialMatchCreated', 'matchId', 'upg-m2',
        'acceptanceRequired', true, 'tickets', jsonb_build_array(
            jsonb_build_object('ticketId', 'upg-t3', 'players',
                               jsonb_build_array(jsonb_build_object('playerId', 'player-3', 'team', 'oneteam'))),
            jsonb_build_object('ticketId', 'upg-t4', 'players',
                               jsonb_build_array(jsonb_build_object('playerId', 'player-4', 'team', 'oneteam')))))),
    10800);
SELECT 'accept3', (matchmaking.accept_match('upg-t3', 'player-3', true)).outcome;

-- The outbox: one message waiting, one dead-lettered.
SELECT 'publish1', events.publish(:'topic', '{"n": 1}') IS NOT NULL;
SELECT 'dead', count(*) FROM (
    SELECT events.finish_delivery(d.message_id, d.subscription_id, true, 'HTTP 500')
    FROM events.deliveries d JOIN events.outbox o USING (message_id)
    WHERE o.message = '{"n": 1}') x;
SELECT 'publish2', events.publish(:'topic', '{"n": 2}') IS NOT NULL;
INSERT INTO backend.sns_subscriptions (message_id, message_type, topic_arn, subscribe_url, token)
    VALUES ('upg-sub-1', 'SubscriptionConfirmation', :'topic', 'https://sns.invalid/confirm', 'tok');
"""

FILL_EXPECT = {
    "rotate": "ok", "start1": "created", "start2": "created", "start3": "created", "start4": "created",
    "start5": "created", "start6": "created", "party": "created", "stop5": "cancelled", "event1": "2",
    "ready1": "ready", "ready2": "ready", "heartbeat": "alive", "activate": "activated", "seat1": "accepted",
    "event2": "2", "accept3": "recorded", "guests": "3", "publish1": "t", "dead": "1", "publish2": "t",
}

# What the upgraded functions must answer about that state.
AFTER = r"""
SELECT 'again6', (matchmaking.start_matchmaking(NULL, :'conf', 'player-6', '{"us-east-1": 20}', '{}',
                                                10800, false)).outcome;
SELECT 'stop6', (matchmaking.stop_matchmaking('upg-t6', 'player-6')).outcome;
SELECT 'stop1', (matchmaking.stop_matchmaking('upg-t1', 'player-1')).detail;
SELECT 'accept4', (matchmaking.accept_match('upg-t4', 'player-4', true)).outcome;
SELECT 'answers', string_agg(player_id || '=' || accepted, ',' ORDER BY player_id)
    FROM backend.ticket_players WHERE ticket_id IN ('upg-t3', 'upg-t4');
SELECT 'seat2', (fleet.accept_player_session('psess-upg2', 'fleet-local', NULL, NULL)).outcome;
SELECT 'abandon', fleet.abandon_game_session('gsess-upg1', 'ACTIVATION_TIMEOUT');
SELECT 'ready3', (fleet.process_ready('upg-proc-3', 'fleet-local', 'us-east-1', '127.0.0.1', NULL,
                                      7779, 10, 'upg-host', NULL, NULL)).outcome;
SELECT 'sweep', backend.sweep_expired(500);
"""

AFTER_EXPECT = {
    "again6": "active", "stop6": "cancelled", "stop1": "PLACING", "accept4": "recorded",
    "answers": "player-3=true,player-4=true", "seat2": "accepted", "abandon": "f", "ready3": "ready",
    "sweep": "0",
}

# Every row of every table, over the columns each table had when COLUMNS
# was read: an upgrade may add columns, never change what the rows held.
# (rally_migrations is migrate.sh's list of what it applied: it grows.)
COLUMNS = r"""
SELECT c.table_schema || '.' || c.table_name,
       string_agg(quote_ident(c.column_name), ', ' ORDER BY c.ordinal_position)
    FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
    WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
      AND c.table_name <> 'rally_migrations'
    GROUP BY 1
"""
# The sequences there are, each as a statement reading it back.
SEQUENCES = r"""
SELECT format('SELECT %L, last_value, is_called FROM %I.%I;', schemaname || '.' || sequencename,
              schemaname, sequencename), 'x'
    FROM pg_sequences
"""


def snapshot_sql(columns, sequences):
    """What is there now, tables and sequences, as a script to read it all
    back: later migrations' new tables and sequences are not part of it."""
    rows = ["SELECT '%s', count(*), md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) "
            "FROM (SELECT %s FROM %s) x;" % (table, cols, table) for table, cols in sorted(columns.items())]
    return "\n".join(rows + sorted(sequences))


def env_for(db):
    e = dict(os.environ)
    e["PGDATABASE"] = db
    return e


def admin(sql):
    subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres", "-c", sql],
                   check=True, capture_output=True, text=True)


def run_sql(db, sql):
    """Runs a psql script in db; returns {first column: rest} of its rows."""
    out = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\t", "-v", "conf=" + CONF,
                          "-v", "topic=" + rally.TOPIC, "-v", "arn=" + rally.CONFIG_ARN],
                         input=sql, env=env_for(db), capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError("psql in %s: %s" % (db, out.stderr))
    rows = {}
    for line in out.stdout.splitlines():
        k, _, v = line.partition("\t")
        rows[k] = v
    return rows


def migrate(db, sql_dir, script):
    out = subprocess.run([script, sql_dir], env=env_for(db), capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError("%s %s in %s: %s%s" % (script, sql_dir, db, out.stdout, out.stderr))
    return out.stdout


def schema(db):
    out = subprocess.run(["pg_dump", "--schema-only", db], env=env_for(db), capture_output=True, text=True,
                         check=True)
    # pg_dump (15.14 on) guards its script with \restrict KEY, a new random key
    # each time: not part of the schema.
    return "".join(l for l in out.stdout.splitlines(True) if not l.startswith(("\\restrict", "\\unrestrict")))


class Upgrade(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rally-migrations-")
        for name, commit in (("old", OLD_COMMIT), ("layout", LAYOUT_COMMIT)):
            into = os.path.join(cls.tmp, name)
            os.makedirs(into)
            archive = subprocess.run(["git", "-C", TOP, "archive", commit, "sql", "scripts/migrate.sh"],
                                     capture_output=True)
            if archive.returncode != 0:
                shutil.rmtree(cls.tmp)
                raise unittest.SkipTest("no git history here to take commit %s from" % commit)
            subprocess.run(["tar", "-x", "-C", into], input=archive.stdout, check=True)
        old = os.path.join(cls.tmp, "old")
        cls.old_sql = os.path.join(old, "sql")
        cls.old_migrate = os.path.join(old, "scripts", "migrate.sh")
        cls.layout_sql = os.path.join(cls.tmp, "layout", "sql")
        cls.layout_migrate = os.path.join(cls.tmp, "layout", "scripts", "migrate.sh")
        # The old layout stopped at 010: before 011 changed a function's result.
        cls.old010_sql = os.path.join(cls.tmp, "old010")
        shutil.copytree(cls.old_sql, cls.old010_sql)
        for f in os.listdir(cls.old010_sql):
            if f[:3] > "010":
                os.remove(os.path.join(cls.old010_sql, f))
        cls.new_sql = os.path.join(TOP, "sql")
        cls.new_migrate = os.path.join(TOP, "scripts", "migrate.sh")
        for db in DATABASES:
            admin("DROP DATABASE IF EXISTS %s" % db)
            admin("CREATE DATABASE %s OWNER rally" % db)

    @classmethod
    def tearDownClass(cls):
        for db in DATABASES:
            admin("DROP DATABASE IF EXISTS %s (FORCE)" % db)
        shutil.rmtree(cls.tmp)

    def load_config(self, db):
        subprocess.run([os.path.join(rally.BIN, "rally-admin"), "load-config", os.path.join(TOP, "config")],
                       env=env_for(db), check=True, capture_output=True)

    def test_upgrade_keeps_every_row_and_ends_with_the_fresh_schema(self):
        db = "rally_mig_upgraded"
        migrate(db, self.old_sql, self.old_migrate)
        old_schema = schema(db)
        self.load_config(db)
        self.assertEqual(run_sql(db, FILL), FILL_EXPECT)
        snapshot = snapshot_sql(run_sql(db, COLUMNS), run_sql(db, SEQUENCES))
        before = run_sql(db, snapshot)
        self.assertIn("fleet.game_sessions", before)
        self.assertEqual(before["matchmaking.tickets"].split("\t")[0], "7")

        out = migrate(db, self.new_sql, self.new_migrate)
        # Every migration of the old release was recognised under its name;
        # only those written since are applied.
        since = sorted(f[:-4] for f in os.listdir(self.new_sql)
                       if f.endswith(".sql") and not os.path.exists(os.path.join(self.old_sql, f)))
        self.assertEqual(sorted(line.split()[1] for line in out.splitlines() if line.startswith("applied ")),
                         since)
        self.assertEqual(run_sql(db, snapshot), before)
        upgraded = schema(db)

        migrate("rally_mig_fresh", self.new_sql, self.new_migrate)
        fresh = schema("rally_mig_fresh")
        self.assertEqual(upgraded, fresh)
        # Nothing but the layout changed at the layout commit: the old
        # release's fresh schema, every function body included, is the one
        # that commit makes.
        migrate("rally_mig_layout", self.layout_sql, self.layout_migrate)
        self.assertEqual(old_schema, schema("rally_mig_layout"))

        # Again: nothing changes.
        migrate(db, self.new_sql, self.new_migrate)
        self.assertEqual(run_sql(db, snapshot), before)
        self.assertEqual(schema(db), fresh)

        # The live state goes on under the upgraded functions.
        self.assertEqual(run_sql(db, AFTER), AFTER_EXPECT)
        triggers = run_sql(db, "SELECT tgname, tgrelid::regclass FROM pg_trigger WHERE NOT tgisinternal")
        self.assertEqual(triggers, {"processes_ready": "fleet.processes",
                                    "subscriptions_drop_undeliverable": "events.subscriptions",
                                    "player_sessions_seats_inserted": "fleet.player_sessions",
                                    "player_sessions_seats_changed": "fleet.player_sessions",
                                    "player_sessions_seats_deleted": "fleet.player_sessions",
                                    "processes_sdk": "fleet.processes",
                                    "game_sessions_sdk": "fleet.game_sessions"})

    def test_upgrade_across_a_changed_result_type(self):
        """fleet.abandon_game_session returned void up to 010; the functions
        step drops that one and creates the boolean one in one go."""
        db = "rally_mig_at010"
        migrate(db, self.old010_sql, self.old_migrate)
        self.assertEqual(run_sql(db, "SELECT 'r', prorettype::regtype FROM pg_proc "
                                     "WHERE proname = 'abandon_game_session'"), {"r": "void"})
        out = migrate(db, self.new_sql, self.new_migrate)
        self.assertEqual(out.split("\n")[:3],
                         ["applied 011_lock_order", "applied 012_required_attributes", "applied 013_event_players"])
        migrate("rally_mig_fresh", self.new_sql, self.new_migrate)
        self.assertEqual(schema(db), schema("rally_mig_fresh"))


class ReapplyUnderTraffic(unittest.TestCase):
    """The stack's own database: the functions re-applied three times while
    players log in, start, read and cancel tickets. No request fails."""

    def test_reapply_while_serving(self):
        stop = threading.Event()
        statuses = []
        errors = []

        def player():
            try:
                while not stop.is_set():
                    g = guest()
                    r = start_ticket(g["auth_token"])
                    statuses.append(r.status)
                    if r.status != 201:
                        continue
                    t = r.json["TicketId"]
                    statuses.append(request("GET", "/v1/matchmaking/" + t, token=g["auth_token"]).status)
                    statuses.append(request("DELETE", "/v1/matchmaking/" + t, token=g["auth_token"]).status)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=player) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            for _ in range(3):
                out = subprocess.run([os.path.join(TOP, "scripts", "migrate.sh"), os.path.join(TOP, "sql")],
                                     capture_output=True, text=True)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertNotIn("applied", out.stdout)
                time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertEqual(errors, [])
        self.assertGreater(len(statuses), 20)
        self.assertEqual(sorted(set(s for s in statuses if s >= 500 or s in (400, 401, 404))), [])


if __name__ == "__main__":
    unittest.main()
