// The PDU inspector: any hex, or a PDU of a message's journey (its TPDU, the
// RP-DATA that carried it, its submit_sm / deliver_sm), explained octet by octet
// by the admin API (POST explain: the rows of `smsemu pdu explain --layer`).
import { get, h, post } from "./api.js";

export class Inspector {
  constructor(form, title, table) {
    this.form = form;
    this.title = title;
    this.body = table.tBodies[0];
    form.addEventListener("submit", (e) => { e.preventDefault(); this.explainForm(); });
  }

  async explainForm() {
    const f = new FormData(this.form);
    await this.explain(f.get("hex"), f.get("direction"), f.get("sca") === "on", null, f.get("layer"));
  }

  // A message of the SMSC: its stored TPDU (what it sends: an SMS-DELIVER, a status report).
  async message(id) {
    try {
      const m = await get(`messages/${id}`);
      this.form.elements.hex.value = m.tpdu;
      this.form.elements.direction.value = "mt";
      this.form.elements.sca.checked = false;
      this.form.elements.layer.value = "tpdu";
      await this.explain(m.tpdu, "mt", false, `message #${m.id} (${m.kind}, ${m.originator} → ${m.recipient})`);
      this.form.closest("section").scrollIntoView({ block: "start" });
      this.title.focus();
    } catch (err) { this.say(err.message); }
  }

  // Octets the stream carried: an SMS-SUBMIT as the handset sent it, an
  // RP-DATA on the radio link, a submit_sm / deliver_sm on the SMPP door.
  async hex(hex, direction, what, layer = "tpdu") {
    this.form.elements.hex.value = hex;
    this.form.elements.direction.value = direction;
    this.form.elements.sca.checked = false;
    this.form.elements.layer.value = layer;
    await this.explain(hex, direction, false, what, layer);
    this.form.closest("section").scrollIntoView({ block: "start" });
    this.title.focus();
  }

  say(text) { this.title.textContent = text; this.title.classList.add("bad"); this.body.replaceChildren(); }

  async explain(hex, direction, sca, what, layer = "auto") {
    let x;
    try { x = await post("explain", { hex, direction, sca, layer }); } catch (err) { this.say(err.message); return; }
    this.title.classList.toggle("bad", Boolean(x.error));
    this.title.tabIndex = -1;
    this.title.textContent = `${x.name || `not a ${x.layer === "tpdu" ? "TPDU" : x.layer.toUpperCase()} PDU`}${what ? ` — ${what}` : ""}: ${x.hex.length / 2} octets` +
      (x.error ? ` — error: ${x.error}` : "");
    this.title.dataset.tpdu = x.tpdu || "";
    this.title.dataset.layer = x.layer;
    this.title.dataset.name = x.name || "";
    this.body.replaceChildren(...x.rows.map((r) => r.bits
      ? h("tr", { class: "bits" }, h("td"), h("td", {}, r.bits), h("td", {}, r.field), h("td", {}, r.meaning))
      : h("tr", { dataset: { field: r.field } },
          h("td", {}, r.hex.length > 2 ? `${r.offset}-${r.offset + r.hex.length / 2 - 1}` : r.offset),
          h("td", {}, r.hex.match(/../g)?.join(" ") ?? ""), h("td", {}, r.field), h("td", {}, r.meaning))));
  }
}
