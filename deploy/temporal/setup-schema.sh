#!/bin/sh
# One-shot job (docker-compose.yml `temporal-schema`, image temporalio/admin-tools): create
# Temporal's two PostgreSQL databases if missing and bring their schemas to this server
# version. Idempotent: every `docker compose up` runs it before the server starts, so an
# image upgrade migrates the schema first. SQL_PASSWORD is read by temporal-sql-tool.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
PORT=${DB_PORT:-5432}
SCHEMA=/etc/temporal/schema/postgresql/v12

nc -z -w 10 "$POSTGRES_SEEDS" "$PORT"
sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" "$@"; }
for db in temporal temporal_visibility; do
  dir=$SCHEMA/temporal/versioned
  [ "$db" = temporal_visibility ] && dir=$SCHEMA/visibility/versioned
  # `create` fails when the database exists (every run after the first): that is fine;
  # a real problem (password, host) fails setup-schema right below.
  sql --db "$db" create 2>/dev/null || echo "database $db exists"
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$dir"
done
echo "Temporal schema ready"
