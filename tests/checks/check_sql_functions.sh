#!/usr/bin/env bash
# One home per SQL function (sql/README.md). For each component:
#   - sql/<component>/functions/ holds one file per function that the migrations leave in the
#     schema, named after it, each one CREATE OR REPLACE FUNCTION of that name and nothing else,
#     and its order.txt lists every file once; a function a migration drops has no file;
#   - applying the files (twice: they are idempotent) to a database the migrations alone built
#     changes no function (pg_get_functiondef before and after): the files hold the bodies the
#     migrations left, so moving them there changed no behaviour;
#   - ferry-producer, starting on an empty database, ends with exactly those definitions (the
#     embedded files, applied in order.txt's order after the migrations).
# Usage: check_sql_functions.sh SOURCE_DIR FERRY_PRODUCER (FERRY_TEST_PG, FERRY_TEST_KAFKA: the stack).
set -euo pipefail
src="$1"
producer="$2"
: "${FERRY_TEST_PG:?set FERRY_TEST_PG (eval \"\$(scripts/stack env)\")}"
: "${FERRY_TEST_KAFKA:?set FERRY_TEST_KAFKA (eval \"\$(scripts/stack env)\")}"

# A function whose body was changed in functions/ after the last migration that defined it, or
# that only functions/ defines (say "producer:acknowledge"): for it alone the definitions may
# differ, or appear with the files.
changed_since_migrations=(producer:enqueue_message producer:request_redelivery
	producer:agent_topic_partition producer:enqueue)

psql_q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$@"; }
work="$(mktemp -d "${TMPDIR:-/tmp}/ferry-sqlfn.XXXXXX")"
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
failed=0
problem() {
	echo "check_sql_functions: $*" >&2
	failed=1
}
new_db() {
	local db="ferry_sqlfn_${1}_$$"
	dbs+=("$db")
	psql_q "$FERRY_TEST_PG" -c "CREATE DATABASE $db" >/dev/null
	echo "$FERRY_TEST_PG dbname=$db"
}
# Every function of schema $2 in database $1, one "name<TAB>md5" line each, and its full
# definitions in $3 (for the diff shown on failure).
snapshot() {
	psql -X -At -F $'\t' -v ON_ERROR_STOP=1 "$1" -c "
		SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
		       md5(pg_get_functiondef(p.oid))
		  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = '$2' ORDER BY 1"
	psql -X -At -v ON_ERROR_STOP=1 "$1" -c "
		SELECT pg_get_functiondef(p.oid) FROM pg_proc p
		  JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = '$2' ORDER BY p.proname" >"$3"
}
expected_change() {
	local c
	for c in "${changed_since_migrations[@]}"; do [[ "$c" == "$1" ]] && return 0; done
	return 1
}

for component in producer consumer; do
	schema=ferry
	[[ "$component" == consumer ]] && schema=ferry_consumer
	failed_before="$failed"
	failed=0
	fdir="$src/sql/$component/functions"
	[[ -f "$fdir/order.txt" ]] || { problem "$fdir/order.txt is missing"; continue; }
	mapfile -t order < <(grep -v '^#' "$fdir/order.txt" | sed '/^[[:space:]]*$/d')

	# order.txt against the folder.
	for f in "$fdir"/*.sql; do
		[[ -e "$f" ]] || continue
		name="$(basename "$f")"
		n="$(printf '%s\n' "${order[@]}" | grep -cx -- "$name" || true)"
		[[ "$n" == 1 ]] || problem "$component: functions/order.txt lists $name $n times (once, please)"
	done
	for name in "${order[@]}"; do
		[[ -f "$fdir/$name" ]] || problem "$component: functions/order.txt lists $name, which is not there"
	done
	# Each file: one CREATE OR REPLACE FUNCTION of its own name, nothing else at top level
	# (tables, data and triggers belong in the versioned migrations).
	for name in "${order[@]}"; do
		f="$fdir/$name"
		[[ -f "$f" ]] || continue
		fn="${name%.sql}"
		tops="$(grep -cE '^(CREATE|ALTER|DROP|INSERT|UPDATE|DELETE|COMMENT|GRANT|REVOKE|DO|SELECT)\b' "$f" || true)"
		grep -qE "^CREATE OR REPLACE FUNCTION $schema\.$fn\(" "$f" && [[ "$tops" == 1 ]] ||
			problem "$component: functions/$name must hold CREATE OR REPLACE FUNCTION $schema.$fn(...) and nothing else"
	done

	# The schema the migrations alone build.
	migrated="$(new_db "${component}_m")"
	for f in "$src"/sql/"$component"/*.sql; do psql_q "$migrated" -f "$f" >/dev/null; done
	snapshot "$migrated" "$schema" "$work/$component.migrated.sql" >"$work/$component.migrated"

	# Every function the migrations define: a file when it is still there, none when dropped.
	in_db="$(cut -f1 "$work/$component.migrated" | sed 's/(.*//' | sort -u)"
	mapfile -t defined < <(grep -hoiE "^CREATE (OR REPLACE )?FUNCTION $schema\.[a-z0-9_]+" \
		"$src"/sql/"$component"/*.sql | sed 's/.*\.//' | sort -u)
	for fn in "${defined[@]}"; do
		if grep -qx -- "$fn" <<<"$in_db"; then
			[[ -f "$fdir/$fn.sql" ]] || problem "$component: $schema.$fn (defined in a migration) has no functions/$fn.sql"
		else
			[[ ! -f "$fdir/$fn.sql" ]] || problem "$component: $schema.$fn is dropped by a migration, but functions/$fn.sql would create it again"
		fi
	done
	while IFS= read -r fn; do
		[[ -z "$fn" || -f "$fdir/$fn.sql" ]] || problem "$component: $schema.$fn has no functions/$fn.sql"
	done <<<"$in_db"

	# The files on top, twice: nothing may change (nor appear).
	for _ in 1 2; do
		for name in "${order[@]}"; do
			[[ ! -f "$fdir/$name" ]] || psql_q "$migrated" -f "$fdir/$name" >/dev/null
		done
	done
	snapshot "$migrated" "$schema" "$work/$component.files.sql" >"$work/$component.files"
	while IFS=$'\t' read -r sig sum; do
		before="$(grep -F -- "$sig"$'\t' "$work/$component.migrated" | cut -f2 || true)"
		if [[ -z "$before" ]]; then
			expected_change "$component:${sig%%(*}" ||
				problem "$component: applying functions/ created $schema.$sig, which the migrations do not"
		elif [[ "$before" != "$sum" ]] && ! expected_change "$component:${sig%%(*}"; then
			problem "$component: functions/${sig%%(*}.sql changes $schema.$sig from what the migrations left"
		fi
	done <"$work/$component.files"
	if [[ "$failed" != 0 ]]; then
		diff -u "$work/$component.migrated.sql" "$work/$component.files.sql" >&2 || true
	else
		echo "check_sql_functions: $component: ${#order[@]} function file(s); applied to the migrated schema they change nothing"
	fi
	((failed |= failed_before)) || true
done

# The producer binary on an empty database: migrations and embedded function files.
target="$(new_db producer_bin)"
log="$work/producer.log"
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
	echo "check_sql_functions: ferry-producer did not start:" >&2
	tail -20 "$log" >&2
	exit 1
fi
kill -TERM "$pid"
wait "$pid" || { echo "check_sql_functions: ferry-producer did not stop cleanly" >&2; exit 1; }
pid=""
snapshot "$target" ferry "$work/binary.sql" >"$work/binary"
if ! cmp -s "$work/binary" "$work/producer.files"; then
	problem "ferry-producer's functions differ from sql/producer/ migrations + functions/:"
	diff -u "$work/producer.files.sql" "$work/binary.sql" >&2 || true
else
	echo "check_sql_functions: ferry-producer on an empty database: the same $(wc -l <"$work/binary") function definitions"
fi
exit "$failed"
