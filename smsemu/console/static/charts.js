// Charts drawn by hand in SVG, from what the page already has: the counters
// of each GET network (messages/s in and out, queue depth) and the live
// stream (each message's delivery latency: submitted -> delivered).
const NS = "http://www.w3.org/2000/svg";
const SPAN = 120; // seconds shown
const W = 400, H = 140, PAD_L = 34, PAD_B = 18, PAD_T = 8;

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function quantile(sorted, q) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// One chart: lines over the last SPAN seconds, a y axis from 0 to the top value.
export function draw(svg, series, now, unit = "") {
  const values = series.flatMap((s) => s.filter((p) => p[0] >= now - SPAN).map((p) => p[1]));
  const top = values.length ? Math.max(1e-3, ...values) : 1;
  const x = (t) => PAD_L + ((t - (now - SPAN)) / SPAN) * (W - PAD_L - 4);
  const y = (v) => H - PAD_B - (v / top) * (H - PAD_B - PAD_T);
  const parts = [
    el("line", { class: "axis", x1: PAD_L, y1: H - PAD_B, x2: W - 4, y2: H - PAD_B }),
    el("line", { class: "axis", x1: PAD_L, y1: PAD_T, x2: PAD_L, y2: H - PAD_B }),
    el("text", { x: 2, y: PAD_T + 10 }, `${+top.toPrecision(2)}${unit}`),
    el("text", { x: 2, y: H - PAD_B }, "0"),
    el("text", { x: PAD_L, y: H - 4 }, `-${SPAN / 60} min`),
    el("text", { x: W - 30, y: H - 4 }, "now"),
  ];
  series.forEach((points, n) => {
    const shown = points.filter((p) => p[0] >= now - SPAN);
    if (shown.length > 1) {
      parts.push(el("polyline", { class: `s${n}`, points: shown.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ") }));
    }
    if (shown.length < 60) { // few points: each marked, so that one alone shows
      for (const p of shown) parts.push(el("circle", { class: `s${n}`, cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 2.5 }));
    }
  });
  svg.replaceChildren(...parts);
}

export class Charts {
  constructor(doc) {
    this.rate = doc.getElementById("chart-rate");
    this.queue = doc.getElementById("chart-queue");
    this.latency = doc.getElementById("chart-latency");
    this.inRate = []; this.outRate = []; this.depth = [];
    this.submitted = new Map(); // id -> when accepted
    this.latencies = []; // [when delivered, seconds]
    this.base = null; // the snapshot rates are measured from
  }

  snapshot(net) {
    // Rates over at least a second: a snapshot fetched right after another
    // (after an event) would make a burst of a few messages look like a flood.
    const c = net.counters;
    const base = this.base;
    if (!base) this.base = net;
    else if (net.at - base.at >= 1) {
      const dt = net.at - base.at;
      this.inRate.push([net.at, (c.submits_accepted - base.counters.submits_accepted) / dt]);
      this.outRate.push([net.at, (c.delivered - base.counters.delivered) / dt]);
      this.base = net;
    }
    this.depth.push([net.at, net.queue_depth]);
    this.now = net.at;
    for (const list of [this.inRate, this.outRate, this.depth]) while (list.length && list[0][0] < net.at - SPAN) list.shift();
    this.draw();
  }

  event(e) {
    if (e.source !== "smsc") return;
    if (e.event === "accepted" || e.event === "submit_sm" || e.event === "data_sm") this.submitted.set(e.id, e.at);
    else if (e.event === "delivered" && this.submitted.has(e.id)) {
      this.latencies.push([e.at, e.at - this.submitted.get(e.id)]);
      this.submitted.delete(e.id);
      while (this.latencies.length && this.latencies[0][0] < e.at - SPAN) this.latencies.shift();
    }
    if (this.submitted.size > 20000) this.submitted.delete(this.submitted.keys().next().value);
  }

  // p50 and p99 of the latencies, per 10 s (the latest bucket still filling).
  percentiles() {
    const buckets = new Map();
    for (const [t, v] of this.latencies) {
      const b = Math.floor(t / 10) * 10 + 5; // drawn at the middle of its 10 s
      if (!buckets.has(b)) buckets.set(b, []);
      buckets.get(b).push(v);
    }
    const p50 = [], p99 = [];
    for (const [b, values] of [...buckets].sort((a, z) => a[0] - z[0])) {
      values.sort((a, z) => a - z);
      p50.push([b, quantile(values, 0.5)]);
      p99.push([b, quantile(values, 0.99)]);
    }
    return [p50, p99];
  }

  draw() {
    if (this.now === undefined) return;
    draw(this.rate, [this.inRate, this.outRate], this.now, "/s");
    draw(this.queue, [this.depth], this.now);
    draw(this.latency, this.percentiles(), this.now, "s");
  }
}
