# shellcheck shell=bash
# Shared settings and helpers for scripts/setup, scripts/stack and scripts/test. Sourced, never executed.
# Every setting can be overridden from the environment, so two checkouts can run side by side on one machine
# (different FERRY_RUN_DIR and ports).

# The repo root is found from this file's own path, so the scripts work from any cwd.
FERRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
FERRY_RUN_DIR="${FERRY_RUN_DIR:-$FERRY_ROOT/run}"
FERRY_CACHE_DIR="${FERRY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}"

FERRY_PG_PORT="${FERRY_PG_PORT:-55432}"
FERRY_PG_BIN="${FERRY_PG_BIN:-/usr/lib/postgresql/15/bin}"
FERRY_KAFKA_PORT="${FERRY_KAFKA_PORT:-9092}"
FERRY_KAFKA_CONTROLLER_PORT="${FERRY_KAFKA_CONTROLLER_PORT:-9093}"

# 3.9.x, not 4.x: Kafka 4 brokers refuse clients older than librdkafka 2.8 (Debian 12 ships 2.0.2).
FERRY_KAFKA_VERSION="3.9.1"
FERRY_KAFKA_LIBS="$FERRY_CACHE_DIR/kafka-$FERRY_KAFKA_VERSION/libs"

export FERRY_ROOT FERRY_RUN_DIR FERRY_CACHE_DIR FERRY_PG_PORT FERRY_PG_BIN \
	FERRY_KAFKA_PORT FERRY_KAFKA_CONTROLLER_PORT FERRY_KAFKA_VERSION FERRY_KAFKA_LIBS

# The program name in messages is the calling script's, e.g. "stack: ...".
FERRY_PROG="$(basename "$0")"

# die MESSAGE...: one line on stderr, exit 1.
die() {
	printf '%s: error: %s\n' "$FERRY_PROG" "$*" >&2
	exit 1
}

# info MESSAGE...: one progress line on stderr, so stdout stays clean for `stack env`.
info() {
	printf '%s: %s\n' "$FERRY_PROG" "$*" >&2
}

# warn MESSAGE...: like info, marked as a warning.
warn() {
	printf '%s: warning: %s\n' "$FERRY_PROG" "$*" >&2
}

# wait_until SECONDS CMD...: run CMD every half second until it succeeds (returns 0) or SECONDS have passed
# (returns 1). CMD's output is discarded; it is a probe, not a step.
wait_until() {
	local timeout="$1"
	shift
	local deadline=$((SECONDS + timeout))
	while true; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if ((SECONDS >= deadline)); then
			return 1
		fi
		sleep 0.5
	done
}

# as_root CMD...: run CMD with root rights, through sudo only when we are not already root.
as_root() {
	if ((EUID == 0)); then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run '$*' and sudo is not installed"
	fi
}
