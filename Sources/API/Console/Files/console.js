// The alarm team's console: the queue from the integration API, kept live by the alarm stream (SSE).
"use strict";

const api = "/integration/v1";
const alarms = new Map();      // id -> alarm (open and acknowledged only)
const details = new Map();     // id -> { where, device }
let lastEventId = null;
let selectedId = null;
let resolving = null;

const $ = (id) => document.getElementById(id);
// The API token (a client with the alarm-operator role) lives in this tab only.
const tokenInput = $("token");
tokenInput.value = sessionStorage.getItem("cip-token") || "";
tokenInput.addEventListener("change", () => {
  sessionStorage.setItem("cip-token", tokenInput.value.trim());
  start();
});
const operatorInput = $("operator");
operatorInput.value = localStorage.getItem("cip-operator") || "";
operatorInput.addEventListener("change", () => localStorage.setItem("cip-operator", operatorInput.value.trim()));

function operator() {
  const id = operatorInput.value.trim();
  if (!id) { showError("Enter your operator id first."); operatorInput.focus(); }
  return id;
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

async function request(path, options = {}) {
  const response = await fetch(api + path, {
    headers: { "content-type": "application/json", authorization: `Bearer ${tokenInput.value.trim()}` }, ...options,
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function age(iso) {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return (h ? `${h}:${String(m).padStart(2, "0")}` : `${m}`) + `:${String(s).padStart(2, "0")}`;
}

function order(a, b) {
  return a.priority - b.priority || Date.parse(a.raisedAt) - Date.parse(b.raisedAt) || a.id - b.id;
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function render() {
  const rows = $("rows");
  const sorted = [...alarms.values()].sort(order);
  rows.replaceChildren(...sorted.map((alarm) => {
    const tr = document.createElement("tr");
    tr.className = `alarm state-${alarm.state}` + (alarm.escalated ? " escalated" : "");
    tr.tabIndex = 0;
    tr.dataset.id = alarm.id;
    tr.dataset.state = alarm.state;
    const prio = cell(String(alarm.priority), `prio p${alarm.priority}`);
    const type = document.createElement("td");
    type.innerHTML = `<div class="type"></div><div class="kind"></div>`;
    type.querySelector(".type").textContent = alarm.type.replaceAll("_", " ");
    type.querySelector(".kind").textContent = alarm.kind + (alarm.attributes.lte ? ` · ${alarm.attributes.lte}` : "");
    if (alarm.triggerCount > 1) {
      const count = document.createElement("span");
      count.className = "badge count";
      count.textContent = `×${alarm.triggerCount}`;
      type.querySelector(".type").append(count);
    }
    if (alarm.escalated) {
      const badge = document.createElement("span");
      badge.className = "badge escalated";
      badge.textContent = "ESCALATED";
      type.querySelector(".type").append(badge);
    }
    const raised = cell(age(alarm.raisedAt), "age");
    raised.dataset.raised = alarm.raisedAt;
    const detail = details.get(alarm.id) || {};
    const device = cell(`${alarm.deviceId}${detail.device ? " · " + detail.device : ""}`);
    const where = cell(detail.where || alarm.attributes.lte || "");
    if (detail.map) where.append(mapSVG(detail.map));
    const state = cell(alarm.state + (alarm.acknowledgedBy ? ` (${alarm.acknowledgedBy})` : ""), "state");
    if (alarm.responder) {
      // The responder, the locks they may open, and whether the lock saw them arrive.
      const line = document.createElement("div");
      line.className = "responder";
      const locks = (alarm.responder.grants || []).map((grant) => grant.lockId).join(", ");
      const arrival = detail.arrival;
      line.textContent = `→ ${alarm.responder.staffRef}` + (locks ? ` · ${locks}` : " · no lock")
        + (locks ? (arrival ? ` · arrived ${new Date(arrival.at).toLocaleTimeString("sv-SE")}`
                              + (arrival.seconds != null ? ` (${arrival.seconds < 120 ? Math.round(arrival.seconds) + " s"
                                                                 : Math.round(arrival.seconds / 60) + " min"} after the alarm)` : "")
                            : " · not arrived") : "");
      line.dataset.arrived = arrival ? "true" : "false";
      state.append(line);
    }
    const actions = document.createElement("td");
    actions.className = "actions";
    if (alarm.state === "open") {
      const ack = document.createElement("button");
      ack.textContent = "Acknowledge";
      ack.className = "acknowledge";
      ack.addEventListener("click", () => acknowledge(alarm.id));
      actions.append(ack);
    } else {
      const resolve = document.createElement("button");
      resolve.textContent = "Resolve";
      resolve.className = "resolve";
      resolve.addEventListener("click", () => openResolve(alarm.id));
      actions.append(resolve);
    }
    tr.append(prio, type, raised, device, where, state, actions);
    tr.addEventListener("focus", () => { selectedId = alarm.id; });
    return tr;
  }));
  $("empty").hidden = alarms.size > 0;
  if (selectedId !== null) rows.querySelector(`tr[data-id="${selectedId}"]`)?.focus({ preventScroll: false });
}

// Where the alarm is: location text, coordinates (GPS), lock and door state (locks).
async function loadDetail(id) {
  try {
    const body = await request(`/alarms/${id}`);
    const latest = Object.fromEntries(body.latest.map((value) => [value.quantity, value.value]));
    const parts = [];
    if (body.alarm.attributes.lte) parts.push(body.alarm.attributes.lte);
    if (latest.position) parts.push(latest.position);
    else if (latest.latitude && latest.longitude) parts.push(`${Number(latest.latitude).toFixed(5)}, ${Number(latest.longitude).toFixed(5)}`);
    if (latest.lock_state) parts.push(`lock ${latest.lock_state}` + (latest.door_state ? `, door ${latest.door_state}` : ""));
    if (body.device.placement) parts.push(body.device.placement);
    details.set(id, { ...details.get(id), where: parts.join(" · "), device: body.device.type,
                      recipient: body.device.careRecipientRef, deviceId: body.alarm.deviceId,
                      gps: latest.position !== undefined || body.device.type === "gps-alarm" });
    render();
    loadArrival(id);
    loadMap(id);
  } catch (error) { /* the row still shows what the list has */ }
}

// An alarm visit's arrival: the responder's first unlock of the home's lock, from the visits report.
async function loadArrival(id) {
  const alarm = alarms.get(id), detail = details.get(id);
  if (!alarm?.responder || !detail?.recipient || detail.arrival) return;
  try {
    const from = new Date(Date.parse(alarm.raisedAt) - 60_000).toISOString();
    const query = new URLSearchParams({ careRecipientRef: detail.recipient, from });
    const body = await request(`/visits?${query}`);
    const visit = body.items.find((item) => item.source === "alarm" && item.visitRef === String(id) && item.firstUnlock);
    if (visit) {
      details.set(id, { ...details.get(id), arrival: { at: visit.firstUnlock, seconds: visit.arrivalSeconds } });
      render();
    }
  } catch (error) { /* shown as not arrived */ }
}

// A GPS alarm: its safe zones and the last half hour of its track (with each fix's accuracy), drawn from the API's
// numbers in the page itself (no map tiles: the console works without the internet).
async function loadMap(id) {
  const alarm = alarms.get(id), detail = details.get(id);
  if (!alarm || !detail?.gps) return;
  try {
    const from = new Date(Math.min(Date.now(), Date.parse(alarm.raisedAt)) - 30 * 60_000).toISOString();
    const [zones, track] = await Promise.all([
      request(`/devices/${encodeURIComponent(detail.deviceId)}/zones`),
      request(`/devices/${encodeURIComponent(detail.deviceId)}/track?${new URLSearchParams({ from, limit: "200" })}`),
    ]);
    details.set(id, { ...details.get(id), map: { zones: zones.items, track: track.items } });
    render();
  } catch (error) { /* no drawing */ }
}

function mapSVG(map) {
  const ns = "http://www.w3.org/2000/svg", width = 240, height = 160, pad = 10;
  const points = [];
  for (const zone of map.zones) {
    if (zone.circle) {
      const r = zone.circle.radiusMeters / 111320;
      points.push([zone.circle.latitude - r, zone.circle.longitude - r / Math.cos(zone.circle.latitude * Math.PI / 180)]);
      points.push([zone.circle.latitude + r, zone.circle.longitude + r / Math.cos(zone.circle.latitude * Math.PI / 180)]);
    }
    for (const vertex of zone.polygon || []) points.push([vertex.latitude, vertex.longitude]);
  }
  for (const fix of map.track) points.push([fix.latitude, fix.longitude]);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "map");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${map.zones.length} safe zone(s) and ${map.track.length} recent position(s)`);
  if (points.length === 0) return svg;
  // A local flat projection in metres around the middle: fine for a few kilometres.
  const lat0 = points.reduce((sum, p) => sum + p[0], 0) / points.length;
  const lon0 = points.reduce((sum, p) => sum + p[1], 0) / points.length;
  const k = Math.cos(lat0 * Math.PI / 180);
  const project = (lat, lon) => [(lon - lon0) * k * 111320, -(lat - lat0) * 111320];
  const xy = points.map((p) => project(p[0], p[1]));
  const xs = xy.map((p) => p[0]), ys = xy.map((p) => p[1]);
  const spanX = Math.max(...xs) - Math.min(...xs) || 100, spanY = Math.max(...ys) - Math.min(...ys) || 100;
  const scale = Math.min((width - 2 * pad) / spanX, (height - 2 * pad) / spanY);
  const cx = (Math.max(...xs) + Math.min(...xs)) / 2, cy = (Math.max(...ys) + Math.min(...ys)) / 2;
  const screen = (lat, lon) => { const [x, y] = project(lat, lon); return [width / 2 + (x - cx) * scale, height / 2 + (y - cy) * scale]; };
  const add = (name, attributes) => {
    const element = document.createElementNS(ns, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    svg.append(element);
    return element;
  };
  for (const zone of map.zones) {
    if (zone.circle) {
      const [x, y] = screen(zone.circle.latitude, zone.circle.longitude);
      add("circle", { cx: x, cy: y, r: zone.circle.radiusMeters * scale, class: "zone" });
    } else if (zone.polygon) {
      add("polygon", { points: zone.polygon.map((v) => screen(v.latitude, v.longitude).join(",")).join(" "), class: "zone" });
    }
  }
  const track = [...map.track].reverse();  // oldest first
  if (track.length > 1) add("polyline", { points: track.map((f) => screen(f.latitude, f.longitude).join(",")).join(" "), class: "track" });
  track.forEach((fix, index) => {
    const [x, y] = screen(fix.latitude, fix.longitude);
    if (fix.accuracyMeters) add("circle", { cx: x, cy: y, r: Math.max(1, fix.accuracyMeters * scale), class: "accuracy" });
    add("circle", { cx: x, cy: y, r: index === track.length - 1 ? 4 : 1.5, class: index === track.length - 1 ? "fix last" : "fix" });
  });
  return svg;
}

setInterval(() => {
  for (const alarm of alarms.values()) if (details.get(alarm.id)?.gps) loadMap(alarm.id);
}, 15000);

// Responders on their way: ask again every few seconds until the lock sees them.
setInterval(() => {
  for (const alarm of alarms.values()) if (alarm.responder && !details.get(alarm.id)?.arrival) loadArrival(alarm.id);
}, 5000);

async function loadQueue() {
  const body = await request("/alarms?limit=1000");
  for (const alarm of body.items) update(alarm);
}

async function loadOutcomes() {
  const catalogue = await request("/models");
  $("outcome").replaceChildren(...(catalogue.outcomes || []).map((outcome) => {
    const option = document.createElement("option");
    option.value = outcome.id;
    option.textContent = outcome.description?.sv || outcome.id;
    return option;
  }));
}

async function acknowledge(id) {
  const who = operator();
  if (!who) return;
  try {
    const responder = $("responder").value.trim();
    const alarm = await request(`/alarms/${id}/acknowledge`, {
      method: "POST", body: JSON.stringify(responder ? { operator: who, responder } : { operator: who }),
    });
    update(alarm);
  } catch (error) { showError(error.message); }
}

function openResolve(id) {
  resolving = id;
  $("note").value = "";
  $("resolve-dialog").showModal();
  $("outcome").focus();
}

$("resolve-cancel").addEventListener("click", () => $("resolve-dialog").close());
$("resolve-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const who = operator();
  if (!who || resolving === null) return;
  try {
    const alarm = await request(`/alarms/${resolving}/resolve`, {
      method: "POST", body: JSON.stringify({ operator: who, outcome: $("outcome").value, note: $("note").value || undefined }),
    });
    $("resolve-dialog").close();
    update(alarm);
  } catch (error) { showError(error.message); }
});

// Alarms only move forward (open → acknowledged → resolved/cancelled; escalation and trigger counts only grow), so
// whatever order the queue and the stream deliver in, the furthest state wins.
const rank = { open: 0, acknowledged: 1, resolved: 2, cancelled: 2 };
const finished = new Set();

function update(incoming) {
  if (finished.has(incoming.id)) return;
  const known = alarms.get(incoming.id);
  let alarm = incoming;
  if (known && rank[known.state] > rank[incoming.state]) {
    alarm = { ...known, triggerCount: Math.max(known.triggerCount, incoming.triggerCount),
              escalated: known.escalated || incoming.escalated };
  }
  if (alarm.state === "open" || alarm.state === "acknowledged") {
    alarms.set(alarm.id, alarm);
    if (!known) loadDetail(alarm.id);
    else if (known.responder?.staffRef !== alarm.responder?.staffRef) {
      // Another responder: their own arrival, not the previous one's.
      details.set(alarm.id, { ...details.get(alarm.id), arrival: undefined });
      if (details.get(alarm.id)?.recipient) loadArrival(alarm.id); else loadDetail(alarm.id);
    }
  } else {
    finished.add(alarm.id);
    alarms.delete(alarm.id);
    if (selectedId === alarm.id) selectedId = null;
  }
  render();
}

let source = null;

function connect() {
  // EventSource cannot send headers: the stream (only) takes the token as a query parameter.
  const query = new URLSearchParams({ access_token: tokenInput.value.trim() });
  if (lastEventId !== null) query.set("lastEventId", lastEventId);
  source?.close();
  source = new EventSource(`${api}/alarms/stream?${query}`);
  source.addEventListener("open", () => { $("connection").textContent = "live"; $("connection").className = "connection live"; });
  source.addEventListener("alarm", (event) => {
    lastEventId = Number(event.lastEventId);
    update(JSON.parse(event.data).alarm);
  });
  source.addEventListener("error", () => {
    $("connection").textContent = "reconnecting…";
    $("connection").className = "connection down";
  });
}

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select, dialog")) return;
  const rows = [...document.querySelectorAll("#rows tr")];
  const index = rows.findIndex((row) => Number(row.dataset.id) === selectedId);
  if (event.key === "ArrowDown" || event.key === "j") { rows[Math.min(rows.length - 1, index + 1)]?.focus(); event.preventDefault(); }
  if (event.key === "ArrowUp" || event.key === "k") { rows[Math.max(0, index - 1)]?.focus(); event.preventDefault(); }
  if (selectedId === null) return;
  const alarm = alarms.get(selectedId);
  if (event.key === "a" && alarm?.state === "open") acknowledge(selectedId);
  if (event.key === "r" && alarm?.state === "acknowledged") openResolve(selectedId);
});

setInterval(() => {
  for (const cell of document.querySelectorAll("td.age")) cell.textContent = age(cell.dataset.raised);
}, 1000);

// The stream first, then the queue: nothing that happens in between is missed, and `update` keeps the furthest
// state whichever arrives last.
function start() {
  if (!tokenInput.value.trim()) {
    $("connection").textContent = "enter a token";
    tokenInput.focus();
    return;
  }
  connect();
  Promise.all([loadQueue(), loadOutcomes()]).catch((error) => showError(`Could not load the alarms: ${error.message}`));
}

start();
