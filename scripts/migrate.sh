#!/usr/bin/env bash
# Brings a database up to date with sql/ (README, "SQL layout"):
#   1. the numbered migrations sql/NNN_*.sql (tables, columns, indexes,
#      data), in order, each one that public.rally_migrations does not
#      record yet (by file name: a migration runs once, and a file is never
#      renamed once applied);
#   2. sql/functions/*.sql, one file per schema with the current text of
#      every function, view and trigger, re-applied on every run.
# All of it is one transaction: a failure leaves the database as it was,
# and the running functions never see migrated tables with the old
# functions or the reverse. An advisory lock lets several migrators start
# at once (docker-compose): the later ones find nothing left to migrate and
# re-apply the functions after the first has committed.
# Connection settings come from libpq's environment (PGHOST, PGDATABASE, ...).
set -euo pipefail
dir=${1:-$(dirname "$0")/../sql}

migrations=$(ls "$dir"/[0-9][0-9][0-9]_*.sql | sort)
functions=$(ls "$dir"/functions/*.sql | sort)

script() {
    echo "BEGIN;"
    echo "SELECT pg_advisory_xact_lock(727274);"
    echo "CREATE TABLE IF NOT EXISTS public.rally_migrations ("
    echo "    version     text PRIMARY KEY,"
    echo "    applied_at  timestamptz NOT NULL DEFAULT now()"
    echo ");"
    local f v
    for f in $migrations; do
        v=$(basename "$f" .sql)
        # psql's own \if: the check runs after the lock, in the transaction.
        printf '%s\n' \
            "SELECT NOT EXISTS (SELECT 1 FROM public.rally_migrations WHERE version = '$v') AS pending \\gset" \
            '\if :pending' "\\echo applied $v" "\\i '$f'" \
            "INSERT INTO public.rally_migrations (version) VALUES ('$v');" '\endif'
    done
    for f in $functions; do
        printf '%s\n' "\\i '$f'"
    done
    echo "COMMIT;"
}

err=$(mktemp "${TMPDIR:-/tmp}/rally-migrate.XXXXXX")
trap 'rm -f "$err"' EXIT
# Re-applying triggers under traffic can deadlock with a transaction that
# holds the same tables in another order (PostgreSQL picks one to fail): the
# migration is one transaction, so it is run again, a few times.
for attempt in 1 2 3 4 5; do
    if out=$(script | PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
        psql -v ON_ERROR_STOP=1 -qX 2>"$err"); then
        break
    fi
    if [ $attempt -lt 5 ] && grep -q 'deadlock detected' "$err"; then
        sleep 0.$((attempt * 2))
        continue
    fi
    cat "$err" >&2
    echo "rally: migration failed; nothing was changed" >&2
    exit 1
done
# What the migrations themselves print (nothing, normally) is not news.
grep '^applied ' <<<"$out" || true
echo "functions: $(for f in $functions; do basename "$f" .sql; done | tr '\n' ' ')"
