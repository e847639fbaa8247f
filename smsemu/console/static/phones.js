// Each handset as a phone screen, through the control API (mounted on the
// admin API by `smsemu up`): its conversations with the "Read"/"Sent" marks,
// a conversation, a box to send, opening a message, the receipts switch, the
// carrier mode, and the history search.  What a phone does arrives on the
// live stream; its screen is fetched again then.
import { ApiError, clock, get, h, handsetPath, post } from "./api.js";

const CARRIERS = ["udh", "inline", "none"];

class PhoneScreen {
  constructor(control, info) {
    this.control = control;
    this.info = info;
    this.handset = info.handset;
    this.peer = null; // the conversation open, or null: the list
    this.detail = null;
    this.el = h("article", { class: "phone", dataset: { handset: this.handset },
                             "aria-label": `phone ${this.handset}` });
    this.screen = h("div", { class: "screen", "aria-live": "polite" });
    this.status = h("p", { class: "hint status", role: "status" });
    this.settings = h("div", { class: "settings row" });
    this.el.append(this.header(), this.settings, this.screen);
    if (!info.companion) this.el.append(this.compose());
    this.el.append(this.search(), this.status);
    this.refreshing = null;
  }

  path(...rest) { return handsetPath(this.control, this.handset, ...rest); }

  header() {
    this.title = h("h3");
    return this.title;
  }

  compose() {
    const to = h("input", { class: "to", name: "to", "aria-label": "to", placeholder: "to +1555…",
                            autocomplete: "off" });
    const text = h("textarea", { class: "text", name: "text", rows: 2, "aria-label": "message",
                                 placeholder: "message" });
    const form = h("form", { class: "compose" }, to, text,
                   h("button", { type: "submit", class: "send" }, "Send"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const sent = await post(this.path("send"), { to: to.value.trim(), text: text.value });
        this.say(`queued as #${sent.id}`);
        text.value = "";
        this.peer = to.value.trim();
        await this.refresh();
      } catch (err) { this.say(err.message, true); }
    });
    this.to = to;
    return form;
  }

  search() {
    const query = h("input", { name: "q", "aria-label": "search history", placeholder: "search history" });
    const form = h("form", { class: "row search" }, query, h("button", { type: "submit" }, "Search"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      this.say("searching…");
      try {
        const r = await post(this.path("search"), { text: query.value || null });
        this.detail = { search: r };
        this.say(`${r.status} (${r.source}): ${r.results.length} found`);
        this.render();
      } catch (err) { this.say(err.message, true); }
    });
    return form;
  }

  say(text, bad = false) {
    this.status.textContent = text;
    this.status.classList.toggle("bad", bad);
  }

  async refresh() {
    // One refresh at a time; one more if asked meanwhile.
    if (this.refreshing) { this.again = true; return this.refreshing; }
    this.refreshing = (async () => {
      try {
        this.info = await get(this.path());
        this.conversations = await get(this.path("conversations"));
        this.thread = this.peer ? await get(this.path("conversations", encodeURIComponent(this.peer))) : null;
        this.render();
      } catch (err) {
        this.say(err instanceof ApiError ? err.message : String(err), true);
      } finally {
        this.refreshing = null;
      }
      if (this.again) { this.again = false; await this.refresh(); }
    })();
    return this.refreshing;
  }

  render() {
    // Drawn again only when what it shows changed: a screen a user is
    // clicking on does not change under the pointer for nothing.
    const drawn = JSON.stringify([this.info, this.conversations, this.thread, this.peer, this.detail]);
    if (drawn === this.drawn) return;
    this.drawn = drawn;
    const i = this.info;
    this.title.replaceChildren(
      i.companion ? `${i.companion}@${i.msisdn}` : i.msisdn, " ",
      h("span", { class: i.attached ? "yes hint" : "no hint" }, i.companion ? "" : i.attached ? "attached" : "detached"),
      " ",
      h("span", { class: i.ip_online ? "yes hint" : "no hint" }, i.ip_online ? "IP online" : "IP offline"));
    this.renderSettings();
    this.screen.replaceChildren(this.peer === null ? this.listView() : this.threadView());
    if (this.detail) this.screen.append(this.detailView());
  }

  renderSettings() {
    const s = this.info.settings || {};
    const receipts = h("input", { type: "checkbox", class: "receipts", checked: s.receipts });
    receipts.addEventListener("change", () => this.configure({ receipts: receipts.checked }));
    const carrier = h("select", { class: "carrier", "aria-label": "carrier" },
      CARRIERS.map((c) => h("option", { value: c, selected: c === s.carrier }, c)));
    carrier.addEventListener("change", () => this.configure({ carrier: carrier.value }));
    this.settings.replaceChildren(
      h("label", {}, receipts, " read receipts"),
      h("label", {}, "carrier ", carrier));
  }

  async configure(change) {
    try {
      await post(this.path("settings"), change);
      this.say("settings saved");
      await this.refresh();
    } catch (err) { this.say(err.message, true); }
  }

  listView() {
    if (!this.conversations || !this.conversations.length) {
      return h("p", { class: "hint" }, "No conversations yet.");
    }
    return h("ul", { class: "conversations" }, this.conversations.map((c) =>
      h("li", { dataset: { peer: c.peer } },
        h("button", { class: c.unread ? "unread" : "", onclick: () => this.open(c.peer) },
          h("strong", {}, c.peer), c.unread ? ` (${c.unread} new)` : "", h("br"),
          h("span", { class: "hint" }, c.last.text.slice(0, 40))))));
  }

  threadView() {
    const back = h("button", { class: "back", onclick: () => { this.peer = null; this.detail = null; this.refresh(); } },
                   "← conversations");
    const items = (this.thread || []).map((m) =>
      h("li", { class: `msg ${m.direction}`,
                dataset: { id: m.id, direction: m.direction } },
        h("button", { onclick: () => this.openMessage(m.id), "aria-label": `open message ${m.id}` },
          m.text),
        m.mark ? h("span", { class: `mark ${m.mark.toLowerCase()}` }, m.mark) : null));
    return h("div", {}, back, h("p", { class: "hint" }, `with ${this.peer}`),
             h("ol", { class: "thread" }, items));
  }

  detailView() {
    const d = this.detail;
    if (d.search) {
      const r = d.search;
      return h("div", { class: "detail search-result" },
        h("p", {}, `search: ${r.status} (stopped at ${r.source})`,
          r.missing.length ? ` — no answer from ${r.missing.join(", ")}` : ""),
        h("ul", {}, r.results.map((m) =>
          h("li", {}, `${m.direction} ${m.peer}: ${m.text} `,
            h("span", { class: "hint" }, `(from ${m.sources.join(", ")})`)))));
    }
    const m = d.message;
    return h("div", { class: "detail message-detail" },
      h("p", {}, h("strong", {}, `message #${m.id}`), ` ${m.direction} ${m.peer}`),
      h("p", {}, `state ${m.state ?? "—"}, read ${m.read ? "yes" : "no"}, number ${m.number ?? "—"}, via ${m.via}, ${m.parts} part(s)`),
      h("p", { class: "hint" }, `created ${m.created_at}`));
  }

  async open(peer) {
    this.peer = peer;
    this.detail = null;
    if (this.to) this.to.value = peer;
    await this.refresh();
  }

  async openMessage(id) {
    try {
      const m = await post(this.path("messages", id, "read"));
      this.detail = { message: m };
      this.say(`opened #${id}`);
      await this.refresh();
    } catch (err) { this.say(err.message, true); }
  }
}

export class Phones {
  constructor(root, empty) {
    this.root = root;
    this.empty = empty;
    this.screens = new Map();
    this.control = null;
  }

  async load(control) {
    this.control = control;
    if (!control) { this.empty.hidden = false; return []; }
    const list = await get(control);
    for (const info of list) {
      if (!this.screens.has(info.handset)) {
        const screen = new PhoneScreen(control, info);
        this.screens.set(info.handset, screen);
        this.root.append(screen.el);
      }
    }
    await Promise.all([...this.screens.values()].map((s) => s.refresh()));
    return list;
  }

  // A handset's event from the live stream: its screen again.
  event(e) {
    const screen = this.screens.get(e.handset);
    if (!screen) return;
    clearTimeout(screen.timer);
    screen.timer = setTimeout(() => screen.refresh(), 50);
  }

  refreshAll() { for (const s of this.screens.values()) s.refresh(); }
}

export { clock };
