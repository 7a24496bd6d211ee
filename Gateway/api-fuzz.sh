#!/usr/bin/env bash
# Gateway/api-fuzz.sh — schemathesis (PyPI) against a running gateway with a valid token: every operation of
# the OpenAPI document with generated and mutated inputs; no 5xx, and every response must match the document
# (status codes, content types, bodies). Run by Gateway/test; needs the stack's environment and CIP_GATEWAY_BIN.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"
Gateway/python-deps schemathesis
database="cip_fuzz_$$"
port=$((30000 + RANDOM % 9000))
base="${DATABASE_URL%/*}"
owner="${DATABASE_OWNER_URL%/*}"
journal=$(mktemp -d)
psql -q "$owner/cip" -c "CREATE DATABASE $database"
"$CIP_GATEWAY_BIN" migrate --database-url "$owner/$database" > /dev/null
export DATABASE_URL="$base/$database" HTTP_PORT="$port" JOURNAL_DIR="$journal" MQTT_CLIENT_ID="${MQTT_USERNAME:-cip-gateway}/fuzz-$$"
mkdir -p .stack/artifacts
"$CIP_GATEWAY_BIN" serve > .stack/artifacts/fuzz-gateway.log 2>&1 &
gateway=$!
cleanup() {
    kill -TERM "$gateway" 2>/dev/null || true
    wait "$gateway" 2>/dev/null || true
    mosquitto_sub -h 127.0.0.1 -p "${STACK_MQTT_PORT:-18830}" -u "$MQTT_USERNAME" -P "$MQTT_PASSWORD" -i "${MQTT_USERNAME:-cip-gateway}/fuzz-$$" -t x -W 1 >/dev/null 2>&1 || true
    psql -q "$owner/cip" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" || true
    rm -rf "$journal"
}
trap cleanup EXIT
for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
done
token=$("$CIP_GATEWAY_BIN" clients create --name fuzz --roles device-admin,alarm-operator,integrator,auditor,open-data,care-planner,lock-operator,privacy-officer,cip-writer \
    --clearance 3 | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
# One lock (the example device id of the document) so that device and lock routes get past their 404.
fleet=$(mktemp)
printf 'device_id,serial_number,type,tenant,care_recipient_ref\nlock-fuzz,FUZZ-0001,digital-lock,fuzz,cr-fuzz\n' > "$fleet"
"$CIP_GATEWAY_BIN" devices import "$fleet" > /dev/null
rm -f "$fleet"
# The alarm stream never ends by design: it is left out here (the alarm tests cover it).
st run "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer $token" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --exclude-path /integration/v1/alarms/stream -n 30 --seed 20261124 --request-timeout 10 \
    --no-color 2>&1 | tee .stack/artifacts/schemathesis.log | tail -25
