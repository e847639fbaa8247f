// The SMPP door's fault rules (GET/POST faults): switch one on or off, add a
// simple one; and the load generator (POST control/handsets/M/load).
import { get, h, handsetPath, post } from "./api.js";

export class Faults {
  constructor(table, form, load, loadStatus) {
    this.body = table.tBodies[0];
    this.form = form;
    this.loadForm = load;
    this.loadStatus = loadStatus;
    form.addEventListener("submit", (e) => { e.preventDefault(); this.add(); });
    load.addEventListener("submit", (e) => { e.preventDefault(); this.run(); });
  }

  async refresh() {
    let rules;
    try { rules = await get("faults"); } catch (err) {
      this.body.replaceChildren(h("tr", {}, h("td", { colspan: 4, class: "hint" }, err.message)));
      this.form.hidden = true;
      return;
    }
    this.body.replaceChildren(...rules.map((r) => {
      const box = h("input", { type: "checkbox", class: "enabled", checked: r.enabled,
                               "aria-label": `rule ${r.index} on` });
      box.addEventListener("change", () => this.toggle(r.index, box.checked));
      const what = [r.name && `"${r.name}"`, r.action,
        r.action === "status" ? r.command_status_name : "",
        r.esme ? `ESME ${r.esme}` : "any ESME", r.command,
        r.destination ? `to ${r.destination}` : "", r.every > 1 ? `every ${r.every}` : "",
        r.probability < 1 ? `p=${r.probability}` : ""].filter(Boolean).join(" ");
      return h("tr", { dataset: { index: r.index, enabled: String(r.enabled) } },
        h("td", {}, box), h("td", {}, r.index), h("td", {}, what), h("td", { class: "matched" }, r.matched));
    }));
    if (!rules.length) this.body.append(h("tr", {}, h("td", { colspan: 4, class: "hint" }, "no rules")));
  }

  async toggle(index, enabled) {
    try { await post(`faults/${index}`, { enabled }); } finally { await this.refresh(); }
  }

  async add() {
    const f = new FormData(this.form);
    const rule = { action: f.get("action") };
    for (const key of ["esme", "destination"]) if (f.get(key)) rule[key] = f.get(key).trim();
    try { await post("faults", rule); } catch (err) { alert(err.message); }
    await this.refresh();
  }

  setPhones(control, handsets) {
    this.control = control;
    const select = this.loadForm.elements.from;
    select.replaceChildren(...handsets.filter((p) => !p.companion).map((p) => h("option", { value: p.handset }, p.handset)));
    this.loadForm.hidden = !control;
    const others = handsets.filter((p) => !p.companion);
    if (others.length > 1 && !this.loadForm.elements.to.value) this.loadForm.elements.to.value = others[1].handset;
  }

  async run() {
    const f = new FormData(this.loadForm);
    const body = { to: f.get("to").trim(), count: Number(f.get("count")), rate: Number(f.get("rate")) };
    try {
      const r = await post(handsetPath(this.control, f.get("from"), "load"), body);
      this.loadStatus.textContent = `running: ${r.count} messages ${r.from} → ${r.to} at ${r.rate}/s (see Charts)`;
    } catch (err) { this.loadStatus.textContent = err.message; }
  }
}
