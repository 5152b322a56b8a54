#!/usr/bin/env bash
# e2e.cluster: the seed's scaled topology end to end, through scripts/cluster as a user runs it.
#   scripts/cluster up (3 producers, 6 consumers over group-a/b/c), then 5,000 messages over 50 keys, sent
#   with send-batch round-robin over the three producers (keys 0-24 to shared-events: 3 groups; keys 25-49 to
#   priority-events: 2 groups), each message's content "k<key>:<seq>" with seq rising per key in send order.
# Checks, against the consumers' inbox and the producer's outbox:
#   - every message is ACKNOWLEDGED (by every group of its topic), none failed;
#   - every group processed each of its messages exactly once (group-a and group-b 5,000, group-c 2,500);
#   - per key, the seqs rise in Kafka offset order and in the order each group processed them;
#   - every consumer instance took part; then `scripts/cluster verify`, then `scripts/cluster down`, after
#     which every agent of the cluster is STOPPED (graceful shutdowns deregister) and every instance logged a
#     clean stop with no sanitizer report.
# Its own database, cluster directory, topic and group names and free ports: it disturbs neither a cluster a
# person left running nor other tests. FERRY_E2E_RELAYS (default 3: every producer) is how many producers run a
# relay; per-key order across them comes from the relays' shard leases (docs/architecture.md, "The relay").
# Usage: tests/e2e/e2e_cluster.sh (needs the build; starts the stack if it is not running)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

relays="${FERRY_E2E_RELAYS:-3}"
"$FERRY_ROOT/scripts/stack" up
eval "$("$FERRY_ROOT/scripts/stack" env)"

db="ferry_e2e_cluster_$$"
db_url="${FERRY_TEST_PG/dbname=outbox_db/dbname=$db}"
psql "$FERRY_TEST_PG" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
export ConnectionStrings__DefaultConnection="${ConnectionStrings__DefaultConnection/Database=outbox_db/Database=$db}"
export FERRY_CLUSTER_DB_URL="$db_url"
export FERRY_CLUSTER_DIR="$FERRY_RUN_DIR/cluster-e2e-$$"
FERRY_CLUSTER_SUFFIX="-e2e-$$-$(date +%s)"
export FERRY_CLUSTER_SUFFIX
export FERRY_CLUSTER_PRODUCER_PORT=0 FERRY_CLUSTER_CONSUMER_PORT=0
export FERRY_AGENT_HEARTBEAT_INTERVAL_S=1 FERRY_HEARTBEAT_INTERVAL_S=1
S="$FERRY_CLUSTER_SUFFIX"
failed=0
passed=0

cleanup() {
	local rc=$?
	"$FERRY_ROOT/scripts/cluster" down >/dev/null 2>&1 || true
	if ((rc != 0 || failed > 0)); then
		for f in "$FERRY_CLUSTER_DIR"/*.log; do
			[[ -f "$f" ]] || continue
			echo "--- last lines of $f ---" >&2
			tail -n 15 "$f" >&2
		done
	else
		rm -rf "$FERRY_CLUSTER_DIR"
	fi
	psql "$FERRY_TEST_PG" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

sql() { psql "$db_url" -qtAX -v ON_ERROR_STOP=1 -c "$1"; }

# check NAME WANT GOT
check() {
	if [[ "$2" == "$3" ]]; then
		passed=$((passed + 1))
		echo "ok: $1"
	else
		failed=$((failed + 1))
		echo "FAIL: $1: want $2, got $3" >&2
	fi
}

t0=$SECONDS
"$FERRY_ROOT/scripts/cluster" up --producers 3 --consumers 6 --relays "$relays" >/dev/null
mapfile -t ports < <(awk '$1 == "producer" { print $4 }' "$FERRY_CLUSTER_DIR/cluster.state")
echo "cluster up in $((SECONDS - t0)) s (producers on ports ${ports[*]}, $relays with a relay)"

# 10 batches of 500: batch j holds seqs 10j..10j+9 of every key, in seq order; batch j goes to producer j mod 3
# and is answered after its commit, so each key's seqs are committed in rising order.
t0=$SECONDS
FERRY_TOKEN="$(cat "$FERRY_CLUSTER_DIR/token")" python3 - "$S" "${ports[@]}" <<'PY'
import json, os, sys, urllib.request
suffix, ports = sys.argv[1], sys.argv[2:]
for j in range(10):
    msgs = []
    for seq in range(10 * j, 10 * j + 10):
        for k in range(50):
            topic = ("shared-events" if k < 25 else "priority-events") + suffix
            msgs.append({"topic": topic, "key": "key-%02d" % k, "message": "k%02d:%03d" % (k, seq),
                         "useBatching": j % 2 == 0})
    req = urllib.request.Request("http://127.0.0.1:%s/api/messages/send-batch" % ports[j % len(ports)],
                                 data=json.dumps({"messages": msgs}).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + os.environ["FERRY_TOKEN"]})
    with urllib.request.urlopen(req, timeout=60) as r:
        body = json.load(r)
        if r.status != 201 or body.get("created") != 500:
            sys.exit("batch %d: HTTP %d %s" % (j, r.status, body))
PY
echo "5,000 messages sent in $((SECONDS - t0)) s"

t0=$SECONDS
all_acked() { [[ "$(sql "SELECT count(*) FROM ferry.outbox_message WHERE status = 'ACKNOWLEDGED'")" == 5000 ]]; }
if ! wait_until 150 all_acked; then
	sql "SELECT status, count(*) FROM ferry.outbox_message GROUP BY 1" >&2
	failed=$((failed + 1))
	echo "FAIL: not every message was acknowledged by all its groups within 150 s" >&2
	exit 1
fi
echo "all 5,000 acknowledged by every group in $((SECONDS - t0)) s"

check "no message FAILED or left behind" 5000 "$(sql "SELECT count(*) FROM ferry.outbox_message")"
check "processed once per group" "group-a$S|5000|5000 group-b$S|5000|5000 group-c$S|2500|2500" \
	"$(sql "SELECT string_agg(g, ' ' ORDER BY g) FROM (SELECT consumer_group || '|' || count(*) || '|' ||
		count(DISTINCT message_id) AS g FROM ferry_consumer.processed_message GROUP BY consumer_group) x")"
check "no processing failed" 0 "$(sql "SELECT count(*) FROM ferry_consumer.failed_message")"
check "every group processed every seq of its keys" 0 "$(sql "
	SELECT count(*) FROM (SELECT consumer_group, split_part(content, ':', 1) AS k,
		count(DISTINCT split_part(content, ':', 2)) AS n
	FROM ferry_consumer.processed_message GROUP BY 1, 2) x WHERE n <> 100")"
# Order per key. Kafka: within the key's partition, offsets rise with seq. Processing: in each group, the order
# in which the inbox rows were written (transaction start, then offset inside one transaction) rises with seq.
order_violations() {
	sql "SELECT count(*) FROM (SELECT split_part(content, ':', 2)::int AS seq,
		lag(split_part(content, ':', 2)::int) OVER (PARTITION BY consumer_group, split_part(content, ':', 1)
			ORDER BY $1) AS prev
		FROM ferry_consumer.processed_message) x WHERE prev >= seq"
}
check "per-key order on Kafka (offsets)" 0 "$(order_violations "partition, kafka_offset")"
check "per-key order as processed, in every group" 0 "$(order_violations "processed_at, kafka_offset")"
check "all 6 consumer instances processed messages" 6 \
	"$(sql "SELECT count(DISTINCT consumer_instance_id) FROM ferry_consumer.processed_message")"

"$FERRY_ROOT/scripts/cluster" verify --messages 30 || {
	failed=$((failed + 1))
	echo "FAIL: scripts/cluster verify" >&2
}
# verify fails when a group is missing messages: group-c's consumers (instances 3 and 6) are paused.
mapfile -t group_c < <(awk '$1 == "consumer" && ($2 == "consumer-instance-3" || $2 == "consumer-instance-6") { print $3 }' \
	"$FERRY_CLUSTER_DIR/cluster.state")
check "group-c has two consumer instances" 2 "${#group_c[@]}"
kill -STOP "${group_c[@]}"
if FERRY_CLUSTER_TIMEOUT_S=5 "$FERRY_ROOT/scripts/cluster" verify --messages 3 >"$FERRY_CLUSTER_DIR/verify-missing.out" 2>&1; then
	failed=$((failed + 1))
	echo "FAIL: scripts/cluster verify passed while group-c was paused" >&2
else
	check "verify names what is missing" 1 "$(grep -c 'verify: 1 passed, 2 failed' "$FERRY_CLUSTER_DIR/verify-missing.out")"
fi
kill -CONT "${group_c[@]}"
"$FERRY_ROOT/scripts/cluster" status >/dev/null || {
	failed=$((failed + 1))
	echo "FAIL: scripts/cluster status says something does not run" >&2
}
"$FERRY_ROOT/scripts/cluster" down
check "every agent STOPPED after down" "0 0" "$(sql "SELECT
	(SELECT count(*) FROM ferry.producer_service_agent WHERE status <> 'STOPPED') || ' ' ||
	(SELECT count(*) FROM ferry.consumer_service_agent WHERE status <> 'STOPPED')")"

# Every instance stopped cleanly, and (in a sanitizer build) without a sanitizer report.
check "every instance logged a clean stop" 9 "$(grep -l 'stopped cleanly' "$FERRY_CLUSTER_DIR"/*-instance-*.log | wc -l)"
check "no sanitizer report in the logs" 0 \
	"$(cat "$FERRY_CLUSTER_DIR"/*.log | grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:' || true)"

echo "e2e cluster: $passed passed, $failed failed"
((failed == 0))
