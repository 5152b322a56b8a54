#!/usr/bin/env bash
# Upgrades keep the data right. For every tests/upgrade/NNN.before.sql: a scratch database gets the
# producer's migrations older than NNN (recorded in ferry.schema_version as ferry-producer records
# them), then that fixture (rows as the older schema held them); then ferry-producer itself applies
# NNN and the rest at start-up, as in a real upgrade (relay and jobs off, so nothing moves the rows),
# and tests/upgrade/NNN.after.sql checks the result: every row its queries return is a problem.
# Usage: check_upgrade.sh SOURCE_DIR FERRY_PRODUCER (FERRY_TEST_PG, FERRY_TEST_KAFKA: the stack).
set -euo pipefail
src="$1"
producer="$2"
: "${FERRY_TEST_PG:?set FERRY_TEST_PG (eval \"\$(scripts/stack env)\")}"
: "${FERRY_TEST_KAFKA:?set FERRY_TEST_KAFKA (eval \"\$(scripts/stack env)\")}"
psql_q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$@"; }
work="$(mktemp -d "${TMPDIR:-/tmp}/ferry-upgrade.XXXXXX")"
dbs=()
pid=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	[[ -z "$pid" ]] || kill -TERM "$pid" 2>/dev/null || true
	for db in "${dbs[@]}"; do
		psql_q "$FERRY_TEST_PG" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

fixtures=("$src"/tests/upgrade/*.before.sql)
[[ -e "${fixtures[0]}" ]] || { echo "check_upgrade: no tests/upgrade/*.before.sql" >&2; exit 1; }
failed=0
for before in "${fixtures[@]}"; do
	version="$(basename "$before" .before.sql)"
	after="$src/tests/upgrade/$version.after.sql"
	[[ -f "$after" ]] || { echo "check_upgrade: $before has no $version.after.sql" >&2; exit 1; }
	db="ferry_upgrade_${version}_$$"
	dbs+=("$db")
	psql_q "$FERRY_TEST_PG" -c "CREATE DATABASE $db" >/dev/null
	target="$FERRY_TEST_PG dbname=$db"

	# The schema as version NNN-1 left it, recorded the way ferry-producer records it.
	psql_q "$target" -c "CREATE SCHEMA IF NOT EXISTS ferry;
		CREATE TABLE IF NOT EXISTS ferry.schema_version (component text NOT NULL,
		  version integer NOT NULL, name text NOT NULL,
		  applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
	for f in "$src"/sql/producer/*.sql; do
		name="$(basename "$f")"
		((10#${name%%_*} < 10#$version)) || continue
		psql_q "$target" -f "$f" >/dev/null
		psql_q "$target" -c "INSERT INTO ferry.schema_version (component, version, name)
			VALUES ('producer', ${name%%_*}::integer, '$name')"
	done
	psql_q "$target" -f "$before" >/dev/null

	# The new binary upgrades it at start-up; it listens once the migrations are in.
	log="$work/producer-$version.log"
	ConnectionStrings__DefaultConnection="$target" ConnectionStrings__Kafka="$FERRY_TEST_KAFKA" \
		PORT=0 FERRY_RELAY_ENABLED=false FERRY_RETRY_ENABLED=false FERRY_CLEANUP_ENABLED=false \
		"$producer" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 1 300); do
		grep -q "listening on" "$log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "listening on" "$log"; then
		echo "check_upgrade: $version: ferry-producer did not start:" >&2
		tail -20 "$log" >&2
		exit 1
	fi
	kill -TERM "$pid"
	wait "$pid" || { echo "check_upgrade: $version: ferry-producer did not stop cleanly" >&2; exit 1; }
	pid=""

	problems="$(psql -X -At -v ON_ERROR_STOP=1 "$target" -f "$after")"
	if [[ -n "$problems" ]]; then
		echo "check_upgrade: upgrade from before $version:" >&2
		while IFS= read -r line; do echo "  $line"; done <<<"$problems" >&2
		failed=1
	else
		echo "check_upgrade: $version: $(grep -c "applied producer migration" "$log") migration(s) applied on the fixture; its checks hold"
	fi
done
exit "$failed"
