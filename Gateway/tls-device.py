#!/usr/bin/env python3
"""Gateway/tls-device.py — a care device over TLS, in Python (paho-mqtt), as the README's "Transport security"
describes it. Used by the integration tests; also a runnable example for device makers.

  tls-device.py onboard --serial SN --claim-code CODE --dir DIR
      makes the device's own key and CSR (openssl; the key stays in DIR), claims over the TLS password listener
      with the shared bootstrap account, stores the certificate it gets, then publishes one reading over the
      certificate listener with it. Prints "provisioned <device id>".
  tls-device.py publish --dir DIR
      publishes one reading with the certificate in DIR; exits non-zero if the broker refuses the device.

Environment (from .stack/env): MQTTS_URL, MQTT_DEVICE_CERT_URL, TLS_CA_FILE, MQTT_BOOTSTRAP_USERNAME/PASSWORD.
"""
import argparse
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
from urllib.parse import urlparse

import paho.mqtt.client as mqtt


def endpoint(variable):
    url = urlparse(os.environ[variable])
    if url.scheme != "mqtts":
        sys.exit(f"{variable} must be an mqtts:// URL")
    return url.hostname, url.port or 8883


def client(client_id, certfile=None, keyfile=None):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    # The broker's certificate is checked against the city's CA and its name against the host.
    c.tls_set(ca_certs=os.environ["TLS_CA_FILE"], certfile=certfile, keyfile=keyfile,
              cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    return c


def connect(c, host, port, timeout=10):
    """Connects and waits for the CONNACK; False when the broker refuses (or drops) the device."""
    connected = threading.Event()
    result = {}

    def on_connect(_c, _u, _flags, reason, _props):
        result["reason"] = reason
        connected.set()

    c.on_connect = on_connect
    try:
        c.connect(host, port, keepalive=30)
    except (ssl.SSLError, OSError) as error:
        print(f"refused at the handshake: {error}", file=sys.stderr)
        return False
    c.loop_start()
    if not connected.wait(timeout) or result["reason"].is_failure:
        print(f"refused: {result.get('reason', 'no CONNACK')}", file=sys.stderr)
        c.loop_stop()
        return False
    return True


def publish_reading(directory):
    device_id = open(os.path.join(directory, "device-id")).read().strip()
    c = client(device_id, os.path.join(directory, "device.crt"), os.path.join(directory, "device.key"))
    if not connect(c, *endpoint("MQTT_DEVICE_CERT_URL")):
        return False
    info = c.publish(f"devices/{device_id}/telemetry", json.dumps([{"n": "battery", "v": 77, "u": "%"}]), qos=1)
    info.wait_for_publish(timeout=10)
    published = info.is_published()
    c.disconnect()
    c.loop_stop()
    return published


def onboard(serial, claim_code, directory):
    key, csr = os.path.join(directory, "device.key"), os.path.join(directory, "device.csr")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", csr, "-subj", f"/CN={serial}"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    nonce = secrets.token_hex(16)
    answers = []
    answered = threading.Event()

    c = client(f"bootstrap/{nonce}")
    c.username_pw_set(os.environ.get("MQTT_BOOTSTRAP_USERNAME", "bootstrap"), os.environ.get("MQTT_BOOTSTRAP_PASSWORD", "bootstrap"))

    def on_message(_c, _u, message):
        answers.append(json.loads(message.payload))
        answered.set()

    c.on_message = on_message
    if not connect(c, *endpoint("MQTTS_URL")):
        return 2
    c.subscribe(f"provisioning/{serial}/result/{nonce}", qos=1)
    time.sleep(0.3)
    claim = {"serial": serial, "claimCode": claim_code, "nonce": nonce, "csr": open(csr).read()}
    c.publish(f"provisioning/{serial}/claim", json.dumps(claim), qos=1).wait_for_publish(timeout=10)
    if not answered.wait(15):
        print("no answer to the claim", file=sys.stderr)
        return 3
    c.disconnect()
    c.loop_stop()
    answer = answers[0]
    if answer.get("status") != "provisioned" or "certificate" not in answer or "password" in answer:
        print(f"claim not answered with a certificate: {answer}", file=sys.stderr)
        return 4
    with open(os.path.join(directory, "device.crt"), "w") as f:
        f.write(answer["certificate"])
    with open(os.path.join(directory, "device-id"), "w") as f:
        f.write(answer["deviceId"])
    if not publish_reading(directory):
        return 5
    print(f"provisioned {answer['deviceId']} (certificate {answer['certificateSerial']}, until {answer['certificateNotAfter']})")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    o = sub.add_parser("onboard")
    o.add_argument("--serial", required=True)
    o.add_argument("--claim-code", required=True)
    o.add_argument("--dir", required=True)
    p = sub.add_parser("publish")
    p.add_argument("--dir", required=True)
    arguments = parser.parse_args()
    if arguments.command == "onboard":
        sys.exit(onboard(arguments.serial, arguments.claim_code, arguments.dir))
    sys.exit(0 if publish_reading(arguments.dir) else 6)


if __name__ == "__main__":
    main()
