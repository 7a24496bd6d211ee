#!/usr/bin/env python3
"""The CIP tier as a maintained NGSI-LD client from PyPI uses it (ngsildclient 0.5.2), with no special cases: connect
with a bearer token, create entities (one, and a batch upsert), query by type and q, count, read one, read its
temporal evolution, subscribe and receive a notification on a local HTTP endpoint, then clean up.

Run by Gateway/test beside a throwaway gateway (Gateway/with-gateway, with CIP_NOTIFICATION_HOSTS=127.0.0.1):
needs GATEWAY_URL, DATABASE_URL and CIP_GATEWAY_BIN."""
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import logging

import requests
from ngsildclient import Client, Entity, SubscriptionBuilder

# ngsildclient turns on INFO logging of every request when imported: only its warnings are wanted here.
logging.getLogger().setLevel(logging.WARNING)

gateway = os.environ["GATEWAY_URL"]
port = int(gateway.rsplit(":", 1)[1])
created = subprocess.run([os.environ["CIP_GATEWAY_BIN"], "clients", "create", "--name", "ngsi-ld-client",
                          "--roles", "open-data,cip-writer", "--tenants", "city", "--clearance", "1"],
                         check=True, capture_output=True, text=True).stdout
token = re.search(r'"token":"([^"]+)"', created).group(1)


class Bearer(requests.auth.AuthBase):
    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {token}"
        return request


received = []


class Endpoint(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


endpoint = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
threading.Thread(target=endpoint.serve_forever, daemon=True).start()

checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"ngsi-ld client test: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def at(minutes_ago):
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def room(name, temperature, minutes_ago, lat, lon):
    entity = Entity("IndoorEnvironmentObserved", name)
    entity.prop("temperature", temperature, unitcode="CEL", observedat=at(minutes_ago))
    entity.prop("relativeHumidity", 40, observedat=at(minutes_ago))
    entity.loc(lat, lon)
    return entity


client = Client(hostname="127.0.0.1", port=port, port_temporal=port, custom_auth=Bearer())
hall = room("hall-1", 21.5, 30, 57.7065, 11.9668)
client.create(hall)
client.upsert([room("hall-2", 24.0, 30, 57.7067, 11.9670), room("school-1", 19.0, 30, 59.33, 18.07)])

kind = "IndoorEnvironmentObserved"
check(client.count(type=kind) == 3, "count by type")
check(client.count(type=kind, q="temperature>20") == 2, "count by type and q")
found = client.query(type=kind, q="temperature>20")
check(sorted(e.id for e in found) == ["urn:ngsi-ld:IndoorEnvironmentObserved:hall-1", "urn:ngsi-ld:IndoorEnvironmentObserved:hall-2"],
      f"query by type and q: {[e.id for e in found]}")
check(client.count(type="https://smartdatamodels.org/dataModel.Environment/IndoorEnvironmentObserved") == 3, "a type given as its IRI")
check(client.exists(hall.id), "exists")
one = client.get(hall.id, asdict=True)
check(one["temperature"]["value"] == 21.5 and one["temperature"]["unitCode"] == "CEL", f"get: {one}")
check(one["location"]["value"]["coordinates"] == [11.9668, 57.7065], f"the location: {one.get('location')}")

subscription = SubscriptionBuilder(f"http://127.0.0.1:{endpoint.server_address[1]}/notify") \
    .description("warm rooms").select_type(kind).watch(["temperature"]).query("temperature>25").build()
subscription_id = client.subscriptions.create(subscription)
check(subscription_id.startswith("urn:ngsi-ld:Subscription:"), f"subscription id {subscription_id}")

warm = room("hall-1", 26.0, 0, 57.7065, 11.9668)
client.upsert([warm])
deadline = time.time() + 30
while not received and time.time() < deadline:
    time.sleep(0.2)
check(len(received) == 1, f"one notification, got {len(received)}")
path, headers, notification = received[0]
check(path == "/notify" and notification["type"] == "Notification" and notification["subscriptionId"] == subscription_id,
      f"the notification: {notification}")
check(notification["data"][0]["id"] == hall.id and notification["data"][0]["temperature"]["value"] == 26.0, "the notified entity")
check(headers.get("Content-Type") == "application/ld+json" and "@context" in notification, "JSON-LD as the subscription asked")

evolution = client.temporal.get(hall.id, attrs=["temperature"])
values = sorted(v[0] for v in evolution["temperature"]["values"])
check(values == [21.5, 26.0], f"temporal values {values}")

remaining = client.subscriptions.list()
check(len(remaining) == 1, f"the client's subscriptions: {remaining}")
check(client.subscriptions.delete("warm rooms"), "deleted by its description")
remaining = client.subscriptions.list()
check(remaining == [], f"the subscription is gone: {remaining}")
client.delete(hall)
client.delete([Entity(kind, name) for name in ["hall-2", "school-1"]])
check(client.count(type=kind) == 0, "deleted")
client.close()
endpoint.shutdown()
print(f"ngsi-ld client test: ngsildclient 0.5.2 read, wrote and subscribed: {checks} checks passed")
