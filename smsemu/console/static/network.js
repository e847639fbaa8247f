// The network now (GET network): subscribers attached or with messages
// waiting, ESMEs bound, the IP server's devices.  Fetched again after any
// event that changes it (within a second) and every two seconds for the
// counters the charts and the ESMEs' rates come from.
import { clock, h } from "./api.js";

export class Network {
  constructor(doc) {
    this.line = doc.getElementById("smsc-line");
    this.listeners = doc.getElementById("listeners");
    this.subs = doc.getElementById("subscribers").tBodies[0];
    this.esmes = doc.getElementById("esmes").tBodies[0];
    this.devices = doc.getElementById("devices");
    this.last = null;
  }

  render(net) {
    const before = this.last;
    this.last = net;
    this.line.textContent = `SMSC ${net.smsc.address}` +
      `${net.smsc.open_attach ? " (open attach)" : " (MILENAGE)"}, queue depth ${net.queue_depth}`;
    this.listeners.replaceChildren(...Object.entries(net.listeners || {}).map(([name, where]) =>
      h("li", { dataset: { listener: name } }, `${name}: `, h("span", { class: "mono" }, where))));
    this.subs.replaceChildren(...net.subscribers.map((s) =>
      h("tr", { dataset: { msisdn: s.msisdn, attached: String(s.attached) } },
        h("td", {}, s.msisdn), h("td", { class: "mono" }, s.imsi ?? ""),
        h("td", { class: s.attached ? "yes" : "no" }, s.attached ? "yes" : "no"),
        h("td", {}, clock(s.since)), h("td", {}, s.queued + (s.in_flight ? " (1 in flight)" : "")))));
    if (!net.subscribers.length) this.subs.append(h("tr", {}, h("td", { colspan: 5, class: "hint" }, "none attached")));
    const rate = (e) => {
      const old = before && before.esmes.find((o) => o.system_id === e.system_id && o.peer === e.peer);
      const dt = before ? net.at - before.at : 0;
      return old && dt > 0 ? ((e.submits - old.submits) / dt).toFixed(1) : "—";
    };
    this.esmes.replaceChildren(...net.esmes.map((e) =>
      h("tr", { dataset: { systemId: e.system_id } },
        h("td", {}, e.system_id, h("div", { class: "hint" }, e.peer)), h("td", {}, e.bind),
        h("td", {}, `${e.in_use}/${e.window}`), h("td", {}, rate(e)), h("td", {}, e.throttled),
        h("td", { class: e.errors ? "bad" : "" }, e.errors))));
    if (!net.esmes.length) this.esmes.append(h("tr", {}, h("td", { colspan: 6, class: "hint" }, "none bound")));
    const devices = Object.entries(net.devices || {});
    this.devices.replaceChildren(...devices.map(([msisdn, list]) => h("li", {}, `${msisdn}: ${list.join(", ")}`)));
    if (!devices.length) this.devices.append(h("li", { class: "hint" }, net.devices ? "none logged in" : "no IP server in this process"));
  }
}
