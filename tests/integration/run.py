"""Runs rally's integration tests against a running stack (see
scripts/integration.sh) and ends with the line "N passed, N failed"."""

import sys
import unittest

MODULES = ["test_identity", "test_durability", "test_tokens", "test_matchmaking", "test_events", "test_compat", "test_admin", "test_outbox", "test_matcher", "test_fleet", "test_gamelift", "test_placement", "test_backfill", "test_agent", "test_sdk5", "test_worlds", "test_sidecar",
           "test_world_lifecycle", "test_relay", "test_relay_script", "test_push", "test_sdk", "test_metrics", "test_alerts", "test_game_session_logs", "test_operators", "test_console",
           "test_migrations", "test_platform", "test_resilience"]


def main():
    loader = unittest.TestLoader()
    names = sys.argv[1:]
    suite = loader.loadTestsFromNames(names) if names else unittest.TestSuite(
        loader.loadTestsFromName(m) for m in MODULES)
    # Key rotation changes the stack's keys: keep it last.
    tests = sorted(_flatten(suite), key=lambda t: "KeyRotation" in t.id())
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(unittest.TestSuite(tests))
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    return 0 if failed == 0 and result.testsRun > 0 else 1


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


if __name__ == "__main__":
    sys.exit(main())
