#!/usr/bin/env bash
# Applies sql/NNN_*.sql in order, each in one transaction together with its
# row in public.rally_migrations, so a migration is applied whole or not at
# all. An advisory lock lets several migrators start at once (docker-compose).
# Connection settings come from libpq's environment (PGHOST, PGDATABASE, ...).
set -euo pipefail
dir=${1:-$(dirname "$0")/../sql}

PGOPTIONS="-c client_min_messages=warning" psql -v ON_ERROR_STOP=1 -qX <<'SQL'
CREATE TABLE IF NOT EXISTS public.rally_migrations (
    version     text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
SQL

for f in $(ls "$dir"/[0-9][0-9][0-9]_*.sql | sort); do
    v=$(basename "$f" .sql)
    if [ "$(psql -qXAtc "SELECT count(*) FROM public.rally_migrations WHERE version = '$v'")" = 1 ]; then
        continue
    fi
    psql -v ON_ERROR_STOP=1 -qX --single-transaction \
        -c "SELECT pg_advisory_xact_lock(727274)" \
        -c "DO \$\$ BEGIN IF EXISTS (SELECT 1 FROM public.rally_migrations WHERE version = '$v') THEN RAISE EXCEPTION 'already applied'; END IF; END \$\$" \
        -f "$f" \
        -c "INSERT INTO public.rally_migrations (version) VALUES ('$v')" >/dev/null 2>"${TMPDIR:-/tmp}/rally-migrate.err" || {
        if grep -q 'already applied' "${TMPDIR:-/tmp}/rally-migrate.err"; then continue; fi
        cat "${TMPDIR:-/tmp}/rally-migrate.err" >&2
        echo "rally: migration $v failed" >&2
        exit 1
    }
    echo "applied $v"
done
