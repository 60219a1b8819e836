"""The world-state benches' baseline (bench-worlds.py, bench-sidecar.py):
pgbench's single-row inserts, each its own committed transaction, 4 clients
for 5 s on a scratch table of the stack's PostgreSQL (dropped after)."""

import subprocess
import tempfile

from rally import psql

CLIENTS = 4


def pgbench_inserts():
    """Single-row inserts per second."""
    psql("CREATE TABLE IF NOT EXISTS bench_pgbench_rows (x integer, y integer, z integer, w integer)")
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
            script.write("INSERT INTO bench_pgbench_rows VALUES (1, 2, 3, 4);\n")
            script.flush()
            out = subprocess.run(["/usr/lib/postgresql/15/bin/pgbench", "-n", "-c", str(CLIENTS), "-j", "2",
                                  "-T", "5", "-f", script.name], capture_output=True, text=True, check=True).stdout
    finally:
        psql("DROP TABLE bench_pgbench_rows")
    tps = [line for line in out.splitlines() if line.startswith("tps = ")]
    return round(float(tps[0].split()[2])) if tps else None
