"""rally-admin against the real database: validation names the file and the
field, and a directory with any error loads nothing."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from rally import BIN, TOP, psql


def write(path, obj):
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


class Admin(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rally-admin-test-")
        shutil.copytree(os.path.join(TOP, "config"), self.dir, dirs_exist_ok=True)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def admin(self, command):
        return subprocess.run([os.path.join(BIN, "rally-admin"), command, self.dir],
                              capture_output=True, text=True, env=os.environ)

    def test_an_aws_documented_rule_set_loads_unchanged(self):
        # FlexMatch guide, match-examples-1 (abridged to its rules), as AWS
        # writes it: comments and all.
        write(os.path.join(self.dir, "rulesets", "AliensVsCowboys.json"), """{
            "name": "aliens_vs_cowboys",
            "ruleLanguageVersion": "1.0",
            "playerAttributes": [{"name": "skill", "type": "number", "default": 10}],
            "teams": [{"name": "cowboys", "maxPlayers": 8, "minPlayers": 4},
                      {"name": "aliens", "maxPlayers": 8, "minPlayers": 4}],
            "rules": [{
                "name": "FairTeamSkill",
                "description": "The average skill of players in each team is within 10 points from the average skill of all players in the match",
                "type": "distance",
                // get skill values for players in each team and average separately to produce list of two numbers
                "measurements": [ "avg(teams[*].players.attributes[skill])" ],
                // get skill values for players in each team, flatten into a single list, and average to produce an overall average
                "referenceValue": "avg(flatten(teams[*].players.attributes[skill]))",
                "maxDistance": 10 // minDistance would achieve the opposite result
            }, {
                "name": "EqualTeamSizes",
                "description": "Only launch a game when the number of players in each team matches, e.g. 4v4, 5v5, 6v6, 7v7, 8v8",
                "type": "comparison",
                "measurements": [ "count(teams[cowboys].players)" ],
                "referenceValue": "count(teams[aliens].players)",
                "operation": "=" // other operations: !=, <, <=, >, >=
            }],
            "expansions": [{
                "target": "rules[FairTeamSkill].maxDistance",
                "steps": [{"waitTimeSeconds": 5, "value": 50}, {"waitTimeSeconds": 15, "value": 100}]
            }]
        }""")
        r = self.admin("load-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(psql("SELECT body->'teams'->1->>'name' FROM matchmaking.rule_sets "
                              "WHERE name = 'AliensVsCowboys'"), ["aliens"])

    def test_a_rule_set_name_no_configuration_could_use_is_refused(self):
        # GameLift names rule sets and configurations alike: [a-zA-Z0-9-.],
        # up to 128. A rule set file with _ could be loaded but never named.
        write(os.path.join(self.dir, "rulesets", "Under_score.json"),
              {"ruleLanguageVersion": "1.0", "teams": [{"name": "t", "maxPlayers": 2, "minPlayers": 1}]})
        for command in ("check-config", "load-config"):
            r = self.admin(command)
            self.assertNotEqual(r.returncode, 0, command)
            self.assertIn("Under_score.json: (name): must be 1-128 characters of [a-zA-Z0-9-.]",
                          r.stderr)
        self.assertEqual(psql("SELECT count(*) FROM matchmaking.rule_sets WHERE name = 'Under_score'"),
                         ["0"])
        os.rename(os.path.join(self.dir, "rulesets", "Under_score.json"),
                  os.path.join(self.dir, "rulesets", "Under.score-2.json"))
        r = self.admin("check-config")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_errors_name_the_file_and_field_and_nothing_loads(self):
        write(os.path.join(self.dir, "rulesets", "Broken.json"), {
            "ruleLanguageVersion": "1.0",
            "teams": [{"name": "t", "maxPlayers": 2, "minPlayers": 1}],
            "rules": [{"name": "c", "type": "compound", "statement": "and(a, b)"}]})
        write(os.path.join(self.dir, "configurations", "Late.json"), {
            "Name": "LateConfiguration", "RuleSetName": "SampleRuleSet",
            "RequestTimeoutSeconds": 3, "AcceptanceRequired": False, "FlexMatchMode": "STANDALONE"})
        write(os.path.join(self.dir, "queues", "Stray.json"), {
            "Destinations": [{"DestinationArn": "arn:aws:gamelift:local:1:fleet/no-such-fleet"}]})
        write(os.path.join(self.dir, "fleets", "Bad.json"), {
            "FleetId": "fleet-bad", "Locations": [{"Location": "us-east-1"}],
            "RuntimeConfiguration": {"GameSessionActivationTimeoutSeconds": 0}})
        before = psql("SELECT count(*) FROM matchmaking.configurations")
        r = self.admin("load-config")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Broken.json: rules[0].statement: a is not a rule defined before this one",
                      r.stderr)
        # SampleRuleSet relaxes latency at 5 s: later than a 3 s request timeout.
        self.assertRegex(r.stderr, r"Late.json: RequestTimeoutSeconds: .*expansions\[0\]\.steps\[0\]")
        self.assertIn("Stray.json: Destinations: names a fleet not in fleets/", r.stderr)
        self.assertIn("Bad.json: RuntimeConfiguration.GameSessionActivationTimeoutSeconds: "
                      "must be a whole number from 1 to 600", r.stderr)
        self.assertEqual(psql("SELECT count(*) FROM matchmaking.configurations"), before)
        self.assertEqual(psql("SELECT count(*) FROM matchmaking.configurations "
                              "WHERE name = 'LateConfiguration'"), ["0"])
