#!/bin/sh
# One-shot: create or upgrade Temporal's two databases on PostgreSQL (admin-tools image).
set -eu
until nc -z -w 2 postgresql 5432; do echo "waiting for postgresql"; sleep 1; done
# temporal-sql-tool reads the password from SQL_PASSWORD
tool() { temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u "$POSTGRES_USER" "$@"; }
for db in temporal temporal_visibility; do
    tool --db "$db" create || true   # already there on a second `up`
done
tool --db temporal setup-schema -v 0.0 || true
tool --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
tool --db temporal_visibility setup-schema -v 0.0 || true
tool --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned
echo "temporal schema ready"
