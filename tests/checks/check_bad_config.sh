#!/usr/bin/env bash
# Invalid configuration stops ferry-producer (or ferry-consumer) at start with a non-zero exit and
# one readable line that names the variable. Usage: check_bad_config.sh BINARY
set -uo pipefail
bin="$1"
passed=0
failed=0
# expect VAR=value... -- NEEDLE: run with the environment given, expect exit != 0 and NEEDLE in
# a single line of stderr.
expect() {
	local needle="${*: -1}" envs=("${@:1:$#-1}") out rc
	out="$(env -i PATH="$PATH" "${envs[@]}" "$bin" 2>&1 >/dev/null)"
	rc=$?
	if ((rc != 0)) && [[ "$out" == *"$needle"* ]] && (($(wc -l <<<"$out") == 1)); then
		passed=$((passed + 1))
	else
		echo "FAIL: ${envs[*]}: exit $rc, stderr: $out" >&2
		failed=$((failed + 1))
	fi
}
if [[ "$(basename "$bin")" == ferry-consumer* ]]; then
	# A consumer needs a group before it looks at Kafka settings.
	g=(KAFKA_CONSUMER_GROUP=g KAFKA_TOPICS=t)
	expect "${g[@]}" KAFKA_SECURITY_PROTOCOL=carrier-pigeon "KAFKA_SECURITY_PROTOCOL"
	# Settings the guarantees rest on cannot be overridden, under any name.
	expect "${g[@]}" KAFKA_ENABLE_AUTO_OFFSET_STORE=true "KAFKA_ENABLE_AUTO_OFFSET_STORE"
	expect "${g[@]}" KAFKA_ENABLE_AUTO_COMMIT=false "KAFKA_ENABLE_AUTO_COMMIT"
	expect "${g[@]}" KAFKA_AUTO_OFFSET_RESET=latest "KAFKA_AUTO_OFFSET_RESET"
	expect "${g[@]}" KAFKA_ENABLE_AUTO_OFFSET_STORE=false KAFKA_ENABLE_AUTO_COMMIT=no \
		"KAFKA_ENABLE_AUTO_COMMIT"
	# Browser safety: names and origins are checked before anything starts.
	expect "${g[@]}" FERRY_ALLOWED_HOSTS=producer1:5301 "FERRY_ALLOWED_HOSTS: 'producer1:5301'"
	expect "${g[@]}" FERRY_CORS_ORIGINS=ops.example.com "FERRY_CORS_ORIGINS: 'ops.example.com'"
	echo "bad config: $passed passed, $failed failed"
	((failed == 0))
	exit
fi
# Browser safety: names and origins are checked before anything starts.
expect FERRY_ALLOWED_HOSTS=http://ops.example.com "FERRY_ALLOWED_HOSTS: 'http://ops.example.com'"
expect FERRY_CORS_ORIGINS=https://ops.example.com/ "FERRY_CORS_ORIGINS: 'https://ops.example.com/'"
# Settings the producers' guarantees rest on cannot be overridden, under any name.
expect KAFKA_ENABLE_IDEMPOTENCE=false "KAFKA_ENABLE_IDEMPOTENCE"
expect KAFKA_ACKS=1 "KAFKA_ACKS"
expect KAFKA_REQUEST_REQUIRED_ACKS=0 "KAFKA_REQUEST_REQUIRED_ACKS"
expect KAFKA_MAX_IN_FLIGHT=100 "KAFKA_MAX_IN_FLIGHT"
expect KAFKA_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION=6 "KAFKA_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION"
expect KAFKA_MESSAGE_TIMEOUT_MS=5000 "KAFKA_MESSAGE_TIMEOUT_MS"
expect FERRY_RELAY_ENABLED=false KAFKA_ACKS=1 "KAFKA_ACKS"
expect FERRY_RELAY_BATCH_SIZE=abc "FERRY_RELAY_BATCH_SIZE"
expect FERRY_RELAY_BATCH_SIZE=0 "FERRY_RELAY_BATCH_SIZE"
expect FERRY_MIGRATE=perhaps "FERRY_MIGRATE"
expect FERRY_LOG_LEVEL=loud "FERRY_LOG_LEVEL"
expect "ConnectionStrings__DefaultConnection=Host=x;Bogus=1" "ConnectionStrings__DefaultConnection"
expect ASPNETCORE_URLS=https://0.0.0.0:1 "ASPNETCORE_URLS"
expect PORT=70000 "PORT"
expect FERRY_AUTH=maybe "FERRY_AUTH"
expect FERRY_AUTH_REFRESH_MS=50 "FERRY_AUTH_REFRESH_MS"
expect KAFKA_SECURITY_PROTOCOL=carrier-pigeon "KAFKA_SECURITY_PROTOCOL"
echo "bad config: $passed passed, $failed failed"
((failed == 0))
