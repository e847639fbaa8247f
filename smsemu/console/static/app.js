// The console: wires the views to the admin API and its live stream.
import { get } from "./api.js";
import { Charts } from "./charts.js";
import { Faults } from "./faults.js";
import { Inspector } from "./inspector.js";
import { Network } from "./network.js";
import { Phones } from "./phones.js";
import { follow } from "./stream.js";
import { Traffic } from "./traffic.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const network = new Network(document);
const charts = new Charts(document);
const phones = new Phones($("phone-list"), $("no-phones"));
const inspector = new Inspector($("explain-form"), $("explain-title"), $("explanation"));
const traffic = new Traffic($("journeys"), $("other-events"), $("traffic-filter"), $("pause"),
                            (id) => inspector.message(id),
                            (hex, direction, what, layer) => inspector.hex(hex, direction, what, layer));
const faults = new Faults($("fault-rules"), $("fault-add"), $("load"), $("load-status"));

// The events after which the network view is fetched again.
const CHANGES = new Set(["attached", "detached", "bound", "unbound", "login", "logout",
  "accepted", "delivered", "failed", "expired", "submit_sm", "data_sm", "memory available", "ip up", "ip down"]);
let pending = null;

async function refreshNetwork() {
  pending = null;
  try {
    const net = await get("network");
    network.render(net);
    charts.snapshot(net);
    return net;
  } catch (err) {
    status.textContent = `network: ${err.message}`;
    status.className = "down";
    return null;
  }
}

function soon() {
  if (!pending) pending = setTimeout(refreshNetwork, 200);
}

function onEvent(e) {
  traffic.event(e);
  charts.event(e);
  if (e.source === "handset") phones.event(e);
  if (e.event === "fault") faults.refresh();
  if (CHANGES.has(e.event)) soon();
}

function onState(state) {
  status.className = state === "live" ? "live" : "down";
  status.textContent = state === "live" ? "live" : `stream ${state}…`;
  document.body.dataset.stream = state;
}

async function start() {
  const net = await refreshNetwork();
  if (net === null) return;
  follow({ onEvent, onReset: () => { refreshNetwork(); phones.refreshAll(); faults.refresh(); }, onState });
  const list = await phones.load(net.control || null);
  faults.setPhones(net.control || null, list);
  await faults.refresh();
  setInterval(refreshNetwork, 2000);
  document.body.dataset.ready = "true";
}

start();
