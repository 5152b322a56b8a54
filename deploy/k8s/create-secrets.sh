#!/bin/sh
# Creates the two Secrets ferry's pods read, with random values, in the current kubectl namespace (or -n NS).
# Run once before `kubectl apply -f deploy/k8s/`; no Secret is committed to the repository. A Secret that
# exists already is left alone (delete it first to make a new one).
#
#   ferry-db        POSTGRES_PASSWORD (the superuser's, administration only), FERRY_DB_OWNER_PASSWORD and
#                   FERRY_DB_SERVICE_PASSWORD (postgres.yaml's init-roles.sh makes the roles with them), and the
#                   services' connection strings: ConnectionStrings__DefaultConnection (ferry_service) and
#                   ConnectionStrings__MigrationConnection (ferry_owner)
#   ferry-api-keys  FERRY_BOOTSTRAP_API_KEY (the producer's first key) and ProducerService__ApiKey (what the
#                   consumers present to the producer). The consumers start with the bootstrap key; make them a
#                   key of the `consumer` role (ferryctl keys) and put it here (kubectl edit secret).
#
# To use a database of your own, create ferry-db yourself with the same keys.
set -eu
ns=""
if [ "${1:-}" = "-n" ]; then ns="--namespace=$2"; fi
rand() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

if kubectl get secret ferry-db $ns >/dev/null 2>&1; then
	echo "secret ferry-db exists: left alone"
else
	su_pw=$(rand) owner_pw=$(rand) service_pw=$(rand)
	db="Host=postgres;Port=5432;Database=outbox_db"
	kubectl create secret generic ferry-db $ns \
		--from-literal=POSTGRES_PASSWORD="$su_pw" \
		--from-literal=FERRY_DB_OWNER_PASSWORD="$owner_pw" \
		--from-literal=FERRY_DB_SERVICE_PASSWORD="$service_pw" \
		--from-literal=ConnectionStrings__DefaultConnection="$db;Username=ferry_service;Password=$service_pw" \
		--from-literal=ConnectionStrings__MigrationConnection="$db;Username=ferry_owner;Password=$owner_pw"
fi
if kubectl get secret ferry-api-keys $ns >/dev/null 2>&1; then
	echo "secret ferry-api-keys exists: left alone"
else
	key=$(rand)
	kubectl create secret generic ferry-api-keys $ns \
		--from-literal=FERRY_BOOTSTRAP_API_KEY="$key" \
		--from-literal=ProducerService__ApiKey="$key"
fi
