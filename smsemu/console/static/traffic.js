// The traffic timeline: one row per message of the SMSC, newest first, its
// journey told by the SMSC's events on the live stream (submitted by whom,
// delivery attempts, the end, its status report, a read receipt), with the
// time between steps.  Filter, pause, follow one; "PDU" opens its octets.
import { clock, h } from "./api.js";

const ENDS = new Set(["delivered", "failed", "expired", "deleted"]);
const WORDS = {
  accepted: "submitted and stored", submit_sm: "submit_sm (stored)", data_sm: "data_sm (stored)", delivering: "attempt",
  refused: "refused", "no answer": "no answer", delivered: "delivered", failed: "failed",
  expired: "expired", deleted: "deleted", deliver_sm: "deliver_sm", fault: "fault",
};
const MAX_ROWS = 500;

export class Traffic {
  constructor(table, others, form, pause, inspect, inspectHex) {
    this.body = table.tBodies[0];
    this.others = others;
    this.form = form;
    this.pauseButton = pause;
    this.inspect = inspect;
    this.inspectHex = inspectHex;
    this.journeys = new Map(); // SMSC message id -> journey
    this.reports = new Map(); // a status report's id -> the id it reports on
    this.rp = new Map(); // "msisdn up|down" -> the latest RP messages on that link (hex)
    this.paused = false;
    this.followed = null;
    this.rows = new Map(); // journey id -> its row, drawn again only when it changes
    this.changed = new Set(); // journeys changed since the last drawing
    pause.addEventListener("click", () => {
      this.paused = !this.paused;
      pause.setAttribute("aria-pressed", String(this.paused));
      pause.textContent = this.paused ? "Resume" : "Pause";
      if (!this.paused) this.render();
    });
    form.addEventListener("input", () => this.render());
    form.addEventListener("submit", (e) => e.preventDefault());
  }

  journey(id) {
    let j = this.journeys.get(id);
    if (!j) {
      j = { id, from: "", to: "", by: "", steps: [], state: "queued", at: 0 };
      this.journeys.set(id, j);
      if (this.journeys.size > MAX_ROWS) this.journeys.delete(this.journeys.keys().next().value);
    }
    return j;
  }

  // One event of the stream (every source); whether it changed a journey.
  event(e) {
    if (e.source === "smsc" && e.event === "rp") {
      // An RP message on a radio link: the event it leads to (accepted,
      // delivering) follows it in the same turn and picks it up.
      const key = `${e.msisdn} ${e.uplink ? "up" : "down"}`;
      const kept = this.rp.get(key) || [];
      kept.push(e.rp);
      this.rp.set(key, kept.slice(-16));
      return false;
    }
    if (e.source === "smsc" && e.event === "report") {
      this.reports.set(e.id, e.about);
      const j = this.journey(e.about);
      j.report = e.id;
      this.step(j, `status report #${e.id} (TP-ST ${e.tp_st})`, e.at);
    } else if (e.source === "smsc" && e.event in WORDS && e.id !== undefined) {
      const about = this.reports.get(e.id);
      if (about !== undefined) {
        this.step(this.journey(about), `report ${WORDS[e.event]}`, e.at);
      } else {
        const j = this.journey(e.id);
        if (e.sender && !j.from) j.from = e.sender;
        if (e.recipient && !j.to) j.to = e.recipient;
        if (e.system_id && (e.event === "submit_sm" || e.event === "data_sm")) j.by = `ESME ${e.system_id}`;
        if (e.event === "accepted") {
          j.by = "handset"; j.submit = e.submit;
          // The RP-DATA (MS to network, RP-MTI 0) whose RP-User Data is this SMS-SUBMIT.
          j.rpUp = (this.rp.get(`${e.sender} up`) || []).findLast((x) => x.startsWith("00") && x.endsWith(e.submit));
        }
        if (e.event === "delivering") {
          // The RP-DATA (network to MS, RP-MTI 1) just sent to the recipient.
          j.rpDown = (this.rp.get(`${e.recipient} down`) || []).findLast((x) => x.startsWith("01"));
        }
        if ((e.event === "submit_sm" || e.event === "data_sm") && e.pdu) j.smppIn = [e.event, e.pdu];
        if (e.event === "deliver_sm" && e.pdu) j.smppOut = e.pdu;
        if (e.kind) j.kind = e.kind;
        let word = WORDS[e.event];
        if (e.event === "delivering") word = `attempt ${e.attempt}`;
        if (e.event === "refused") word = `refused (RP-ERROR ${e.cause})`;
        this.step(j, word, e.at);
        if (ENDS.has(e.event)) j.state = e.event;
      }
    } else if (e.source === "ip" && e.event === "feedback" && e.status === 1) {
      // The read receipt of a message sender -> receiver: the newest such journey.
      const j = [...this.journeys.values()].reverse().find((x) => x.from === e.sender && x.to === e.receiver);
      if (j) this.step(j, `read receipt (number ${e.number})`, e.at);
      else this.other(e);
    } else if (e.source !== "handset") {
      this.other(e);
    } else {
      return false;
    }
    if (!this.paused) this.update();
    return true;
  }

  step(j, word, at) {
    j.steps.push({ word, at });
    j.at = at;
    this.changed.add(j.id);
  }

  other(e) {
    const { event_id, source, event, at, ...rest } = e;
    const text = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
    this.others.prepend(h("li", {}, `${clock(at)} ${source} ${event} ${text}`));
    while (this.others.children.length > 100) this.others.lastChild.remove();
  }

  shown(j) {
    const f = new FormData(this.form);
    const number = (f.get("number") || "").trim();
    const esme = (f.get("esme") || "").trim();
    const state = f.get("state");
    if (number && !j.from.includes(number) && !j.to.includes(number)) return false;
    if (esme && !j.by.includes(esme)) return false;
    if (state && j.state !== state) return false;
    return true;
  }

  // Draw again the rows of the journeys that changed, in place: the rows a
  // user is about to click stay where they are.
  update() {
    const changed = [...this.changed];
    this.changed.clear();
    let moved = false;
    for (const id of changed) {
      const j = this.journeys.get(id);
      const old = this.rows.get(id);
      if (!j || !this.shown(j)) { if (old) { old.remove(); this.rows.delete(id); } continue; }
      const row = this.row(j);
      this.rows.set(id, row);
      if (old && old.isConnected) old.replaceWith(row);
      else moved = true; // a new journey: its place is found below
    }
    if (moved) this.render();
  }

  render() {
    this.changed.clear();
    const shown = [...this.journeys.values()].filter((j) => this.shown(j));
    shown.sort((a, b) => (b.id === this.followed) - (a.id === this.followed) || b.id - a.id);
    const rows = shown.slice(0, 200).map((j) => {
      let row = this.rows.get(j.id);
      if (!row || row.dataset.drawn !== String(j.steps.length) + j.state + (this.followed === j.id) + Boolean(j.rpDown) + Boolean(j.smppOut)) {
        row = this.row(j);
        this.rows.set(j.id, row);
      }
      return row;
    });
    for (const id of this.rows.keys()) if (!this.journeys.has(id)) this.rows.delete(id);
    this.body.replaceChildren(...rows);
  }

  row(j) {
    const steps = [];
    j.steps.forEach((s, n) => {
      if (n) steps.push(h("span", { class: "gap" }, ` —${(s.at - j.steps[n - 1].at).toFixed(3)}s→ `));
      steps.push(h("span", { class: "step" }, s.word));
    });
    const follow = h("button", { "aria-pressed": String(this.followed === j.id),
                                 onclick: () => { this.followed = this.followed === j.id ? null : j.id; this.render(); } },
                     this.followed === j.id ? "Unfollow" : "Follow");
    const drawn = String(j.steps.length) + j.state + (this.followed === j.id) + Boolean(j.rpDown) + Boolean(j.smppOut);
    return h("tr", { dataset: { id: j.id, state: j.state, drawn }, class: this.followed === j.id ? "followed" : "" },
      h("td", {}, j.id), h("td", {}, j.from, j.by ? h("div", { class: "hint" }, j.by) : null), h("td", {}, j.to),
      h("td", { class: "steps" }, h("span", { class: "hint" }, clock(j.steps.length ? j.steps[0].at : null), " "), steps),
      h("td", { class: j.state === "delivered" ? "yes" : j.state === "queued" ? "" : "bad" }, j.state),
      // An MO message to an ESME is kept as its deliver_sm, not a TPDU: no SMS-DELIVER.
      h("td", { class: "pdus" }, j.kind === "esme" ? null : h("button", { class: "pdu", onclick: () => this.inspect(j.id),
                                "aria-label": `the SMS-DELIVER of message ${j.id}` }, "DELIVER"), " ",
        this.pduButton(j, "submit-pdu", "SUBMIT", j.submit, "mo", "tpdu", "SMS-SUBMIT"),
        this.pduButton(j, "rp-up-pdu", "RP-DATA ↑", j.rpUp, "mo", "rp", "RP-DATA from the sender"),
        this.pduButton(j, "rp-down-pdu", "RP-DATA ↓", j.rpDown, "mt", "rp", "RP-DATA to the recipient"),
        j.smppIn ? this.pduButton(j, "smpp-in-pdu", j.smppIn[0], j.smppIn[1], "mt", "smpp", j.smppIn[0]) : null,
        this.pduButton(j, "smpp-out-pdu", "deliver_sm", j.smppOut, "mt", "smpp", "deliver_sm"),
        j.report ? h("button", { class: "report-pdu", onclick: () => this.inspect(j.report),
                                 "aria-label": `the status report of message ${j.id}` }, "Report PDU") : null,
        " ", follow));
  }

  // A button that opens octets the stream carried for this journey, if it did.
  pduButton(j, cls, label, hex, direction, layer, what) {
    if (!hex) return null;
    return h("button", { class: cls, onclick: () => this.inspectHex(hex, direction, `the ${what} of message #${j.id}`, layer),
                         "aria-label": `the ${what} of message ${j.id}` }, label);
  }

  clear() { this.journeys.clear(); this.reports.clear(); this.rows.clear(); this.render(); }
}
