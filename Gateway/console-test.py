#!/usr/bin/env python3
"""The operator console in a real browser (headless Chromium through Selenium and Debian's chromedriver).

Starts its own gateway on a fresh database of the local stack, serving HTTPS with the stack's certificate, opens /console/, publishes an alarm over MQTT and
checks that it appears on the page within a second; acknowledges it from the page (keyboard) and checks the state
in the API; resolves it from the page. Keeps a screenshot in .stack/artifacts/console.png.
Run by Gateway/test after the Swift tests; needs the stack's environment (.stack/env) and CIP_GATEWAY_BIN.
"""
import base64, hashlib, json, os, random, signal, ssl, subprocess, sys, tempfile, time, urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

env = dict(os.environ)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
artifacts = os.path.join(root, ".stack", "artifacts")
os.makedirs(artifacts, exist_ok=True)
database = "cip_console_%d" % os.getpid()
base_url = env["DATABASE_URL"].rsplit("/", 1)[0]
owner_url = env["DATABASE_OWNER_URL"].rsplit("/", 1)[0]
port = random.randint(30000, 39999)
origin = f"https://localhost:{port}"
tls = ssl.create_default_context(cafile=env["TLS_CA_FILE"])


def psql(sql, db="cip"):
    """As the database's owner: the test sets up what the gateway's own role may not (it creates the database)."""
    return subprocess.run(["psql", "-qAt", f"{owner_url}/{db}", "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


token = None


def api(path, method="GET", body=None):
    request = urllib.request.Request(f"{origin}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5, context=tls) as response:
        return json.loads(response.read())


def publish(topic, payload):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", env.get("STACK_MQTT_PORT", "18830"), "-q", "1",
                    "-u", env["MQTT_BRIDGE_USERNAME"], "-P", env["MQTT_BRIDGE_PASSWORD"],
                    "-i", f"{env['MQTT_BRIDGE_USERNAME']}/console-test-{os.getpid()}", "-t", topic, "-m", payload],
                   check=True)


def wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception:
            pass
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s: {what}")


def act(selector, action, what):
    """Finds the element anew and acts on it, retrying while the page re-renders (stale elements)."""
    return wait(lambda: action(driver.find_element(By.CSS_SELECTOR, selector)) or True, 5, what)


psql(f"CREATE DATABASE {database}")
subprocess.run([env["CIP_GATEWAY_BIN"], "migrate", "--database-url", f"{owner_url}/{database}"], check=True, capture_output=True)
journal = tempfile.mkdtemp(prefix="cip-console-journal-")
log = open(os.path.join(artifacts, "console-gateway.log"), "w")
# Over HTTPS, as the gateway serves it itself (README, "Transport security"), with the stack's server certificate.
gateway = subprocess.Popen([env["CIP_GATEWAY_BIN"], "serve"], stdout=log, stderr=log, env={
    **env, "DATABASE_URL": f"{base_url}/{database}", "HTTP_PORT": str(port), "JOURNAL_DIR": journal,
    "MQTT_CLIENT_ID": f"{env['MQTT_USERNAME']}/console-test-{os.getpid()}",
    "CIP_TLS_CERT_FILE": os.path.join(env["TLS_DIR"], "server.crt"), "CIP_TLS_KEY_FILE": os.path.join(env["TLS_DIR"], "server.key")})
driver = None
try:
    wait(lambda: urllib.request.urlopen(f"{origin}/readyz", timeout=1, context=tls).status == 200, 60, "gateway ready")
    created = subprocess.run([env["CIP_GATEWAY_BIN"], "clients", "create", "--name", "console-operator", "--roles",
                              "alarm-operator", "--clearance", "3"], env={**env, "DATABASE_URL": f"{base_url}/{database}"},
                             check=True, capture_output=True, text=True)
    token = json.loads(created.stdout.strip().splitlines()[-1])["token"]
    # A safety alarm and the front-door lock (a Nordlock NL-200) of the same care recipient.
    psql("INSERT INTO devices (device_id, serial_number, type, tenant, placement, lifecycle_state, care_recipient_ref, model) VALUES "
         "('safety-77', 'SN-77', 'safety-alarm', 'elderly-care', 'Storgatan 1', 'active', 'cr-77', NULL), "
         "('lock-77', 'SN-L77', 'digital-lock', 'elderly-care', 'Front door', 'active', 'cr-77', 'nordlock-nl200')", database)

    options = webdriver.ChromeOptions()
    # Chromium trusts exactly the stack's server key (its SPKI pin), not every certificate.
    pubkey = subprocess.run(["openssl", "x509", "-in", os.path.join(env["TLS_DIR"], "server.crt"), "-pubkey", "-noout"],
                            check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pubkey, check=True, capture_output=True).stdout
    pin = base64.b64encode(hashlib.sha256(der).digest()).decode()
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1920,1080", "--disable-dev-shm-usage",
                     f"--ignore-certificate-errors-spki-list={pin}", f"--user-data-dir={tempfile.mkdtemp(prefix='cip-console-chromium-')}"]:
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.get(f"{origin}/console/")
    token_input = driver.find_element(By.ID, "token")
    token_input.send_keys(token)
    token_input.send_keys(Keys.TAB)
    wait(lambda: driver.find_element(By.ID, "connection").text == "live", 10, "the console's stream is live")
    operator = driver.find_element(By.ID, "operator")
    operator.send_keys("op-console")
    operator.send_keys(Keys.TAB)
    responder = driver.find_element(By.ID, "responder")
    responder.send_keys("staff-77")
    responder.send_keys(Keys.TAB)

    published = time.monotonic()
    publish("devices/safety-77/events",
            '<?xml version="1.0"?><mrq><ref>c1</ref><cid>safety-77</cid><mty>ME</mty><stc>0010</stc><pri>1</pri>'
            '<lte>Kitchen</lte></mrq>')
    alarm_id = wait(lambda: int(driver.find_element(By.CSS_SELECTOR, "#rows tr.alarm").get_attribute("data-id")), 5, "the alarm row")
    shown_after = time.monotonic() - published
    print(f"console: the alarm appeared on the page {shown_after * 1000:.0f} ms after the publish")
    assert shown_after < 1.0, f"the alarm took {shown_after:.2f} s to appear"
    row = f'#rows tr[data-id="{alarm_id}"]'
    wait(lambda: "Storgatan 1" in driver.find_element(By.CSS_SELECTOR, row).text, 5, "the row shows where")
    text = driver.find_element(By.CSS_SELECTOR, row).text
    assert "alarm button" in text and "Kitchen" in text, text

    # Acknowledge from the page by keyboard: focus the row, press "a".
    act(row, lambda element: element.click(), "focus the row")
    wait(lambda: driver.switch_to.active_element.get_attribute("data-id") == str(alarm_id), 5, "the row has the focus")
    driver.switch_to.active_element.send_keys("a")
    wait(lambda: api(f"/integration/v1/alarms/{alarm_id}")["alarm"]["state"] == "acknowledged", 5, "acknowledged in the API")
    assert api(f"/integration/v1/alarms/{alarm_id}")["alarm"]["acknowledgedBy"] == "op-console"
    wait(lambda: driver.find_element(By.CSS_SELECTOR, row).get_attribute("data-state") == "acknowledged",
         5, "the page shows it acknowledged")
    # The responder was sent with the acknowledgement: a grant on the home's lock, shown as not yet arrived.
    assert api(f"/integration/v1/alarms/{alarm_id}")["alarm"]["responder"]["staffRef"] == "staff-77"
    wait(lambda: "staff-77 · lock-77 · not arrived" in driver.find_element(By.CSS_SELECTOR, row + " .responder").text,
         5, "the page shows the responder on the way")
    # The responder's card opens the door: the page shows the arrival.
    publish("devices/lock-77/events", json.dumps({"ts": int(time.time() * 1000), "seq": 1, "evt": "UNLOCK",
                                                  "lock": {"state": "UNLOCKED", "by": "CARD", "staff": "staff-77"},
                                                  "power": {"mv": 3600}}))
    wait(lambda: driver.find_element(By.CSS_SELECTOR, row + " .responder").get_attribute("data-arrived") == "true",
         15, "the page shows the responder arrived")
    print(f"console: {driver.find_element(By.CSS_SELECTOR, row + ' .responder').text}")
    driver.save_screenshot(os.path.join(artifacts, "console.png"))

    # Resolve from the page: the dialog, an outcome, confirm.
    act(row + " button.resolve", lambda element: element.click(), "the resolve button")
    wait(lambda: driver.find_element(By.ID, "resolve-dialog").is_displayed(), 5, "the resolve dialog")
    driver.find_element(By.CSS_SELECTOR, '#outcome option[value="visit_made"]').click()
    driver.find_element(By.ID, "resolve-confirm").click()
    wait(lambda: api(f"/integration/v1/alarms/{alarm_id}")["alarm"]["state"] == "resolved", 5, "resolved in the API")
    wait(lambda: not driver.find_elements(By.CSS_SELECTOR, row), 5, "the row leaves the queue")
    assert api(f"/integration/v1/alarms/{alarm_id}")["alarm"]["outcome"] == "visit_made"
    print(f"console: acknowledged and resolved from the page; screenshot {os.path.join(artifacts, 'console.png')}")

    # A GPS alarm: its safe zone and recent track drawn on the row (inline SVG from the API's numbers).
    psql("INSERT INTO devices (device_id, serial_number, type, tenant, lifecycle_state) VALUES "
         "('gps-77', 'SN-G77', 'gps-alarm', 'elderly-care', 'active')", database)
    api("/integration/v1/devices/gps-77/zones", "POST",
        {"name": "Home", "circle": {"latitude": 57.6996, "longitude": 11.9527, "radiusMeters": 200}})
    now = time.time()
    for index, meters in enumerate([0, 50, 120]):
        publish("devices/gps-77/telemetry", json.dumps([
            {"bt": now - 60 + index * 10, "n": "latitude", "u": "lat", "v": 57.6996 + meters / 111320},
            {"n": "longitude", "u": "lon", "v": 11.9527}, {"n": "position_accuracy", "u": "m", "v": 15}]))
    publish("devices/gps-77/events", json.dumps([{"bt": now, "n": "sos", "vb": True}]))
    # The id is read inside the wait: the page re-renders its rows as the stream and the details arrive.
    gps_id = wait(lambda: driver.find_element(By.XPATH, "//tr[contains(@class,'alarm')][.//td[contains(., 'gps-77')]]")
                  .get_attribute("data-id"), 5, "the GPS alarm's row")
    wait(lambda: driver.find_elements(By.CSS_SELECTOR, f'#rows tr[data-id="{gps_id}"] svg.map circle.zone'), 10, "the zone drawn")
    # The SOS takes the event fast path and may be drawn before every position is stored: the drawing is
    # refreshed every 15 s, so all three show within 20 s.
    wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, f'#rows tr[data-id="{gps_id}"] svg.map circle.fix')) == 3,
         20, "three positions drawn")
    driver.save_screenshot(os.path.join(artifacts, "console-gps.png"))
    print("console: the GPS alarm shows its zone and its last three positions")
finally:
    if driver is not None:
        driver.quit()
    gateway.send_signal(signal.SIGTERM)
    try:
        gateway.wait(timeout=30)
    except subprocess.TimeoutExpired:
        gateway.kill()
    subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", env.get("STACK_MQTT_PORT", "18830"), "-u", env["MQTT_USERNAME"],
                    "-P", env["MQTT_PASSWORD"], "-i", f"{env['MQTT_USERNAME']}/console-test-{os.getpid()}", "-t", "x", "-W", "1"], capture_output=True)
    psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
