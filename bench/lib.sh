# shellcheck shell=bash
# Shared helpers for the benchmark scripts in bench/. Sourced, never executed.
#
# Every benchmark makes its own scratch databases (dropped on exit, also on failure or Ctrl-C) and
# its own Kafka topic (left behind: the broker's auto-creation made it, and nothing here deletes
# topics). It reaches PostgreSQL and Kafka through `scripts/stack env`, so an external server works
# the same way as the local stack.

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

# Read by the scripts that source this file.
# shellcheck disable=SC2034
{
	BENCH_BUILD_DIR="${FERRY_BUILD_DIR:-$FERRY_ROOT/build}"
	BENCH_PRODUCER="$BENCH_BUILD_DIR/ferry-producer"
	BENCH_PGBENCH="${FERRY_PGBENCH:-$FERRY_PG_BIN/pgbench}"
	BENCH_CLK_TCK="$(getconf CLK_TCK)"
}

# A unique suffix for this invocation's databases and topic.
BENCH_ID="$(date +%Y%m%d%H%M%S)-$$"

BENCH_DBS=()         # scratch databases to drop on exit
BENCH_PIDS=()        # processes this script started, stopped on exit
BENCH_TMP=""         # scratch files, removed on exit

# --- Set-up and clean-up -------------------------------------------------------------------------

# bench_init: load the stack's connection settings and check the tools are there.
bench_init() {
	if [[ -z "${FERRY_TEST_PG:-}" || -z "${FERRY_TEST_KAFKA:-}" ]]; then
		eval "$("$FERRY_ROOT/scripts/stack" env)"
	fi
	[[ -x "$BENCH_PRODUCER" ]] ||
		die "$BENCH_PRODUCER is missing: cmake -S . -B build && cmake --build build -j2"
	command -v psql >/dev/null || die "psql is not installed"
	command -v kcat >/dev/null || die "kcat is not installed"
	command -v jq >/dev/null || die "jq is not installed"
	psql -XAtq -c "SELECT 1" "$FERRY_TEST_PG" >/dev/null ||
		die "PostgreSQL does not answer at FERRY_TEST_PG (scripts/stack up)"
	kcat -L -b "$FERRY_TEST_KAFKA" -m 10 >/dev/null 2>&1 ||
		die "Kafka does not answer at $FERRY_TEST_KAFKA (scripts/stack up)"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")"
}

bench_cleanup() {
	local pid db
	set +e
	for pid in "${BENCH_PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		fi
	done
	# Another test may be restarting the shared server: give it a moment before giving up.
	((${#BENCH_DBS[@]} == 0)) || wait_until 30 psql -XAtq -c "SELECT 1" "$FERRY_TEST_PG"
	for db in "${BENCH_DBS[@]}"; do
		drop_db "$db" 2>/dev/null || warn "could not drop database $db"
	done
	[[ -z "$BENCH_TMP" ]] || rm -rf "$BENCH_TMP"
}

# --- PostgreSQL ----------------------------------------------------------------------------------

# conninfo_for DB: FERRY_TEST_PG pointing at database DB instead.
conninfo_for() {
	local ci="$FERRY_TEST_PG"
	if [[ "$ci" =~ (^|[[:space:]])dbname[[:space:]]*=[[:space:]]*(\'[^\']*\'|[^[:space:]]*) ]]; then
		ci="${ci/"${BASH_REMATCH[0]}"/${BASH_REMATCH[1]}dbname=$1}"
	else
		ci="$ci dbname=$1"
	fi
	printf '%s' "$ci"
}

# q DB SQL: run SQL in DB, print the result unaligned (fields separated by |), fail on error.
q() {
	psql -XAtq -v ON_ERROR_STOP=1 -c "$2" "$(conninfo_for "$1")"
}

# q_admin SQL: run SQL in FERRY_TEST_PG's own database (for CREATE/DROP DATABASE).
q_admin() {
	psql -XAtq -v ON_ERROR_STOP=1 -c "$1" "$FERRY_TEST_PG"
}

# create_db NAME [TEMPLATE]: a scratch database, dropped on exit. With TEMPLATE, an exact file copy
# of it (STRATEGY FILE_COPY also checkpoints first, so every copy starts from a clean checkpoint).
create_db() {
	local name="$1" template="${2:-}"
	BENCH_DBS+=("$name")
	if [[ -n "$template" ]]; then
		q_admin "CREATE DATABASE \"$name\" TEMPLATE \"$template\" STRATEGY FILE_COPY" >/dev/null
	else
		q_admin "CREATE DATABASE \"$name\"" >/dev/null
	fi
}

# drop_db NAME: drop a scratch database now rather than on exit. Plain DROP DATABASE first: it
# stops an autovacuum worker busy there by itself, whereas WITH (FORCE) refuses to, for a role that
# is not superuser ("must be a member of the role whose process is being terminated").
drop_db() {
	q_admin "DROP DATABASE IF EXISTS \"$1\"" >/dev/null 2>&1 ||
		q_admin "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null
}

# --- ferry-producer ------------------------------------------------------------------------------

# producer_start DB LOG [NAME=VALUE...]: start ferry-producer on DB (PORT=0, so it never collides
# with another one) and wait until it listens, which is after the migrations and after the relay
# started. Sets PRODUCER_PID. Extra NAME=VALUE pairs go into its environment.
producer_start() {
	local db="$1" log="$2" deadline
	shift 2
	: >"$log"
	env ConnectionStrings__DefaultConnection="$(conninfo_for "$db")" \
		ConnectionStrings__Kafka="$FERRY_TEST_KAFKA" \
		PORT=0 INSTANCE_ID="bench-$BENCH_ID" FERRY_LOG_LEVEL=info "$@" \
		"$BENCH_PRODUCER" >"$log" 2>&1 &
	PRODUCER_PID=$!
	BENCH_PIDS+=("$PRODUCER_PID")
	deadline=$((SECONDS + 60))
	until grep -q "listening on" "$log"; do
		if ! kill -0 "$PRODUCER_PID" 2>/dev/null || ((SECONDS >= deadline)); then
			tail -n 20 "$log" >&2
			die "ferry-producer did not start (log above)"
		fi
		sleep 0.02
	done
}

# producer_stop: SIGTERM the producer started last and wait for it (it marks what is in flight).
producer_stop() {
	kill -TERM "$PRODUCER_PID" 2>/dev/null || true
	wait "$PRODUCER_PID" 2>/dev/null || true
}

# migrate DB: apply ferry's schema to DB by starting the producer once with the relay off.
migrate() {
	producer_start "$1" "$BENCH_TMP/migrate-$1.log" FERRY_RELAY_ENABLED=false
	producer_stop
}

# --- Kafka ---------------------------------------------------------------------------------------

# kafka_end_offsets TOPIC: the sum of the end offsets (high watermarks) of TOPIC's partitions, i.e.
# how many records were ever appended to it (0 when it does not exist). The difference of two
# readings is exactly the number of records written in between: offsets of a non-transactional
# topic are consecutive, one per record.
kafka_end_offsets() {
	local topic="$1" parts args=() p
	parts="$(kcat -L -b "$FERRY_TEST_KAFKA" -t "$topic" -J 2>/dev/null |
		jq -r '.topics[0].partitions[]?.partition')"
	[[ -n "$parts" ]] || {
		echo 0
		return
	}
	for p in $parts; do
		args+=(-t "$topic:$p:-1")
	done
	kcat -Q -b "$FERRY_TEST_KAFKA" "${args[@]}" | awk '{ s += $NF } END { print s + 0 }'
}

# kafka_create_topic TOPIC: make TOPIC exist (broker defaults: auto-creation on the first write),
# so the relay's start-up does not include the creation. Writes one marker record.
kafka_create_topic() {
	printf 'bench-marker\n' | kcat -P -b "$FERRY_TEST_KAFKA" -t "$1" -q 2>/dev/null
	wait_until 30 test "$(kafka_end_offsets "$1")" -ge 1 || die "could not create topic $1"
}

# --- Measuring -----------------------------------------------------------------------------------

# now: wall-clock seconds with microseconds (same clock as PostgreSQL's clock_timestamp()).
now() {
	printf '%s' "$EPOCHREALTIME"
}

# calc EXPR: floating-point arithmetic, printed with up to 3 decimals trimmed.
calc() {
	awk "BEGIN { printf \"%.3f\", $1 }"
}

# fmt_int N: N rounded, with thousands separators.
fmt_int() {
	LC_ALL=C awk -v n="$1" 'BEGIN { n = sprintf("%.0f", n); s = ""
		while (length(n) > 3) { s = "," substr(n, length(n) - 2) s; n = substr(n, 1, length(n) - 3) }
		print n s }'
}

# proc_ticks PID: CPU time (user + system, in clock ticks) PID has used so far, 0 if it is gone.
proc_ticks() {
	local stat f
	read -r stat 2>/dev/null <"/proc/$1/stat" || {
		echo 0
		return
	}
	read -r -a f <<<"${stat##*) }" # the name may hold spaces: cut after its closing parenthesis
	echo $((f[11] + f[12]))         # fields 14 and 15 of proc(5): utime, stime
}

# machine_ticks: "busy total" jiffies of all CPUs since boot, from /proc/stat.
machine_ticks() {
	local _cpu user nice sys idle iowait irq softirq steal _rest
	read -r _cpu user nice sys idle iowait irq softirq steal _rest </proc/stat
	echo "$((user + nice + sys + irq + softirq + steal)) $((user + nice + sys + idle + iowait + irq + softirq + steal))"
}

# kafka_pid: the broker's JVM when the local stack runs it, else nothing.
kafka_pid() {
	local pidfile="$FERRY_RUN_DIR/kafka/kafka.pid"
	[[ -r "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && cat "$pidfile"
	return 0
}
