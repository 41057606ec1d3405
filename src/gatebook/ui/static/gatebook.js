/* gatebook ui: the pages' script. Vanilla JS, no build step; charts with uPlot (vendored).
 *
 * Every value drawn comes from the JSON API (docs/ui.md); text from the ledger is only ever set
 * with textContent, never as HTML. Live pages open /api/stream (server-sent events).
 */
"use strict";
(function () {
  const DATA = JSON.parse((document.getElementById("gb-data") || {}).textContent || "{}");
  const $ = (sel, el) => (el || document).querySelector(sel);
  const $$ = (sel, el) => Array.from((el || document).querySelectorAll(sel));
  const TIER = { PASS: "#1a7f37", MARGINAL: "#9a6700", PENDING: "#0969da", FAIL: "#cf222e", ERROR: "#82071e" };
  const COLOUR = "#0969da";
  const BUCKETS = 2000;
  const MAX_OUTPUT_LINES = 2000;
  const CHARTS = [];
  // Steps are whole numbers: x ticks at 1, 2, 5, 10, ... never at 1.25.
  const STEP_INCRS = [];
  for (let m = 1; m <= 1e12; m *= 10) STEP_INCRS.push(m, 2 * m, 5 * m);

  async function call(url, opts) {
    const res = await fetch(url, Object.assign({ credentials: "same-origin" }, opts || {}));
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const msg = body && body.error ? body.error + (body.hint ? " (" + body.hint + ")" : "") : res.status + " " + res.statusText;
      throw new Error(msg);
    }
    return body;
  }
  const getJSON = (url) => call(url);
  const postJSON = (url, body) => call(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const num = (v) => (typeof v === "number" && isFinite(v) ? v : null);
  const enc = encodeURIComponent;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function liveDot(on) {
    const dot = $("#live");
    if (dot) { dot.classList.toggle("on", !!on); dot.title = on ? "live: updates as the ledger changes" : "not live"; }
  }

  function stream(url, handlers) {
    const es = new EventSource(url);
    es.onopen = () => liveDot(true);
    es.onerror = () => liveDot(false);
    Object.keys(handlers).forEach((kind) => es.addEventListener(kind, (e) => handlers[kind](JSON.parse(e.data))));
    es.addEventListener("end", () => { es.close(); liveDot(false); });
    return es;
  }

  // -- charts --------------------------------------------------------------------------------

  function alpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  class Chart {
    /* One metric of one run (a band of min..max per bucket under the line of last values, the
       gates' thresholds as dashed lines, NaN marked) or of several runs (one line each). */
    constructor(box, runs, marks) {
      this.box = box;
      this.plot = $(".plot", box);
      this.info = $(".chart-info", box);
      this.key = box.dataset.key;
      this.runs = runs;
      this.single = runs.length === 1;
      this.marks = marks || [];
      this.lines = [].concat(...this.marks.map((m) => m.lines));
      this.u = null;
      this.data = null;
      this.nanX = [];
      this.zoomed = false;
      this.loaded = false;
      this.pending = [];
      this.indexed = false;
      this.points = 0;
      CHARTS.push(this);
    }

    url(run, start, end) {
      let u = "/api/runs/" + enc(run.id) + "/series/" + enc(this.key) + "?buckets=" + BUCKETS;
      if (start != null) u += "&start=" + start;
      if (end != null) u += "&end=" + end;
      return u;
    }

    async load(start, end) {
      let docs;
      try {
        docs = await Promise.all(this.runs.map((r) => getJSON(this.url(r, start, end)).catch((e) => (this.single ? Promise.reject(e) : null))));
      } catch (e) {
        this.info.textContent = "cannot read this curve: " + e.message;
        return;
      }
      const got = docs.filter(Boolean);
      if (!got.length) { this.info.textContent = "no run logged " + this.key; return; }
      this.indexed = got[0].indexed;
      if (this.single) {
        const d = got[0];
        this.data = [d.x.slice(), d.last.slice(), d.min.slice(), d.max.slice()];
        this.nanX = d.nan_x.slice();
        this.points = d.points;
      } else {
        const tables = docs.map((d) => (d ? [d.x, d.last] : [[], []]));
        this.data = uPlot.join(tables);
        this.nanX = [].concat(...got.map((d) => d.nan_x));
      }
      this.zoomed = start != null || end != null;
      this.describe(got);
      this.draw();
      this.loaded = true;
      const queued = this.pending;
      this.pending = [];
      if (queued.length && !this.zoomed) this.append(queued);
    }

    describe(docs) {
      const d = docs[0];
      const what = this.single
        ? d.in_range.toLocaleString() + (this.zoomed ? " of " + d.points.toLocaleString() : "") + " points" +
          (d.reduced ? " in " + d.x.length + " buckets (band: min–max, line: last)" : ", every one drawn")
        : docs.map((x) => x.points.toLocaleString()).join(" / ") + " points";
      const nan = this.nanX.length ? " · " + this.nanX.length + " non-finite (▲)" : "";
      const hint = this.zoomed ? " · zoomed: double-click to see all" : " · drag to zoom";
      this.info.textContent = what + nan + hint;
    }

    options() {
      const self = this;
      const xLabel = this.indexed ? "point" : "step";
      const series = [{ label: xLabel }];
      if (this.single) {
        const c = (this.runs[0].colour || COLOUR);
        series.push({ label: "last", stroke: c, width: 1.5, spanGaps: false, points: { show: false } },
          { label: "min", stroke: alpha(c, 0.35), width: 1, spanGaps: false, points: { show: false } },
          { label: "max", stroke: alpha(c, 0.35), width: 1, spanGaps: false, points: { show: false } });
      } else {
        this.runs.forEach((r) => series.push({ label: r.label, stroke: r.colour, width: 1.5, spanGaps: false, points: { show: false } }));
      }
      return {
        width: Math.max(this.plot.clientWidth, 280),
        height: 220,
        series: series,
        bands: this.single ? [{ series: [3, 2], fill: alpha(this.runs[0].colour || COLOUR, 0.12) }] : [],
        scales: { x: { time: false }, y: { range: (u, lo, hi) => self.yRange(lo, hi) } },
        axes: [{ label: xLabel, size: 40, labelSize: 14, incrs: STEP_INCRS },
          { size: (u, values) => Math.max(44, 14 + 7 * Math.max(0, ...(values || []).map((v) => String(v).length))) }],
        cursor: { drag: { x: true, y: false, setScale: false } },
        legend: { live: true },
        hooks: {
          draw: [(u) => self.drawMarks(u)],
          setSelect: [(u) => self.onSelect(u)],
        },
      };
    }

    yRange(lo, hi) {
      let a = lo, b = hi;
      this.lines.forEach((y) => { if (a == null || y < a) a = y; if (b == null || y > b) b = y; });
      if (a == null || b == null) return [0, 1];
      const pad = (b - a) * 0.06 || Math.abs(b) * 0.1 || 1;
      return [a - pad, b + pad];
    }

    draw() {
      if (this.u) { this.u.setData(this.data, !this.zoomed); if (this.zoomed) this.u.redraw(); this.mark(); return; }
      this.u = new uPlot(this.options(), this.data, this.plot);
      this.u.over.addEventListener("dblclick", () => { if (this.zoomed) this.load(); });
      this.mark();
    }

    mark() {
      /* What a test or a benchmark reads: how many points are drawn and the last x. */
      const xs = this.data[0];
      this.box.dataset.points = String(xs.length);
      this.box.dataset.lastX = xs.length ? String(xs[xs.length - 1]) : "";
      this.box.dataset.lines = String(this.lines.length);
      this.box.dataset.nan = String(this.nanX.length);
    }

    onSelect(u) {
      if (u.select.width <= 2) return;
      const lo = u.posToVal(u.select.left, "x");
      const hi = u.posToVal(u.select.left + u.select.width, "x");
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      this.load(lo, hi).then(() => { if (this.u) this.u.setScale("x", { min: lo, max: hi }); });
    }

    drawMarks(u) {
      const ctx = u.ctx;
      const { left, top, width, height } = u.bbox;
      const dpr = devicePixelRatio || 1;
      ctx.save();
      ctx.font = (11 * dpr) + "px sans-serif";
      ctx.textAlign = "left";
      ctx.textBaseline = "bottom";
      this.marks.forEach((m) => {
        const colour = TIER[m.tier] || "#656d76";
        ctx.strokeStyle = colour;
        ctx.fillStyle = colour;
        ctx.lineWidth = 1.5 * dpr;
        ctx.setLineDash([6 * dpr, 4 * dpr]);
        m.lines.forEach((y) => {
          const py = u.valToPos(y, "y", true);
          if (py < top || py > top + height) return;
          ctx.beginPath(); ctx.moveTo(left, py); ctx.lineTo(left + width, py); ctx.stroke();
          ctx.fillText(m.gate + ": " + m.check + " [" + m.tier + "]", left + 4 * dpr, py - 3 * dpr);
        });
        if (m.at != null) {
          const px = u.valToPos(m.at, "x", true);
          if (px >= left && px <= left + width) {
            ctx.setLineDash([2 * dpr, 3 * dpr]);
            ctx.beginPath(); ctx.moveTo(px, top); ctx.lineTo(px, top + height); ctx.stroke();
            if (m.observed != null) {
              const py = u.valToPos(m.observed, "y", true);
              ctx.setLineDash([]);
              ctx.beginPath(); ctx.arc(px, py, 4.5 * dpr, 0, 2 * Math.PI); ctx.fill();
            }
          }
        }
      });
      ctx.setLineDash([]);
      ctx.fillStyle = "#cf222e";
      this.nanX.forEach((x) => {
        const px = u.valToPos(x, "x", true);
        if (px < left || px > left + width) return;
        const py = top + height;
        ctx.beginPath(); ctx.moveTo(px, py - 9 * dpr); ctx.lineTo(px - 5 * dpr, py); ctx.lineTo(px + 5 * dpr, py); ctx.fill();
      });
      ctx.restore();
    }

    append(points) {
      /* New points [[step, value], ...] of a single-run chart, pushed by the stream. */
      if (!this.loaded) { this.pending.push(...points); return; }
      if (this.zoomed || !this.single) return;
      const d = this.data;
      const xs = d[0];
      let added = 0;
      points.forEach(([step, value]) => {
        const last = xs.length ? xs[xs.length - 1] : null;
        const x = this.indexed || step == null ? (last == null ? 1 : last + 1) : step;
        if (last != null && x < last) return; // read by the page and pushed too
        const y = num(value);
        if (last != null && x === last && d[1][d[1].length - 1] === y) return;
        xs.push(x); d[1].push(y); d[2].push(y); d[3].push(y);
        if (y == null) this.nanX.push(x);
        added += 1;
      });
      if (!added) return;
      this.points += added;
      if (xs.length > 2 * BUCKETS) { this.load(); return; }
      this.draw();
      this.info.textContent = this.points.toLocaleString() + " points · live";
    }
  }

  // -- the run page --------------------------------------------------------------------------

  function runPage() {
    const run = DATA.run;
    const charts = {};
    const colour = [{ id: run.id, label: run.name || run.id, colour: COLOUR }];
    const addChart = (key) => {
      let box = $$(".chart").find((b) => b.dataset.key === key);
      if (!box) {
        const holder = $(".charts") || (() => {
          const div = el("div", null, "charts");
          const none = $("#no-metrics");
          if (none) none.replaceWith(div); else $("#curves").appendChild(div);
          return div;
        })();
        box = el("div", null, "chart");
        box.dataset.key = key;
        box.append(el("h3", key), el("div", null, "plot"), el("p", null, "chart-info muted"));
        holder.appendChild(box);
      }
      charts[key] = new Chart(box, colour, (DATA.marks || {})[key]);
      return charts[key];
    };
    const loadAll = () => (DATA.keys || []).forEach((key) => addChart(key).load());
    if (run.status !== "running") { loadAll(); actions(run); return; }
    let started = false;
    const start = () => { if (!started) { started = true; loadAll(); } };
    setTimeout(start, 3000); // no stream (a proxy that buffers it): draw what the ledger has anyway
    stream("/api/stream?run=" + enc(run.id) + "&output_seq=" + (DATA.output_seq == null ? -1 : DATA.output_seq), {
      // A reconnected stream starts from the ledger's cursor again: re-read the curves too.
      hello: () => { if (started) Object.values(charts).forEach((c) => c.load()); else start(); },
      points: (msg) => Object.keys(msg.points).forEach((key) => {
        const chart = charts[key] || (() => { const c = addChart(key); c.load(); return c; })();
        chart.append(msg.points[key]);
      }),
      status: (msg) => {
        const badge = $("#status .badge");
        if (badge) { badge.textContent = msg.status; badge.className = "badge status status-" + msg.status; }
        const reason = $("#reason");
        if (reason && msg.reason) { reason.hidden = false; reason.textContent = "Why it ended: " + msg.reason; }
        if (msg.status !== "running") {
          const f = $("#stop-form");
          if (f) f.remove();
          const note = el("p", null, "muted");
          note.id = "ended-note";
          const a = el("a", "reload for its final verdict");
          a.href = location.pathname;
          note.append(document.createTextNode("The run is " + msg.status + ": "), a, document.createTextNode("."));
          if (!$("#ended-note")) ($(".actions") || $("h1")).after(note);
        }
      },
      event: (msg) => {
        const li = el("li");
        li.dataset.kind = msg.kind;
        li.append(el("time", (msg.ts || "").slice(11, 19)), document.createTextNode(" " + msg.text));
        const list = $("#gate-timeline");
        if (list) list.appendChild(li);
      },
      output: (msg) => {
        const pre = $("#output");
        if (!pre) return;
        const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent += msg.chunks.map((c) => c[2]).join("");
        const lines = pre.textContent.split("\n");
        if (lines.length > MAX_OUTPUT_LINES) pre.textContent = lines.slice(-MAX_OUTPUT_LINES).join("\n");
        if (atBottom) pre.scrollTop = pre.scrollHeight;
      },
    });
    actions(run);
  }

  function actions(run) {
    const result = $("#action-result");
    const say = (text, bad) => { if (result) { result.textContent = text; result.classList.toggle("error", !!bad); } };
    const form = (id, fn) => {
      const f = $(id);
      if (!f) return;
      f.addEventListener("submit", async (e) => {
        e.preventDefault();
        const button = $("button", f);
        button.disabled = true;
        try { await fn(new FormData(f), f); } catch (err) { say(err.message, true); } finally { button.disabled = false; }
      });
    };
    const base = "/api/runs/" + enc(run.id);
    form("#stop-form", async (fd) => {
      const doc = await postJSON(base + "/stop", { reason: fd.get("reason") || null });
      say("Stop requested" + (doc.reason ? ": " + doc.reason : "") + ". The run ends within a second.");
    });
    form("#note-form", async (fd, f) => {
      const doc = await postJSON(base + "/notes", { text: fd.get("text") });
      const li = el("li");
      li.append(el("time", new Date(doc.ts * 1000).toISOString().slice(0, 19) + "Z"), document.createTextNode(" " + doc.note));
      $("#notes").appendChild(li);
      f.reset();
      say("Note added.");
    });
    form("#promote-form", async (fd) => {
      const doc = await postJSON(base + "/promote", { alias: fd.get("alias"), reason: fd.get("reason") || null });
      const fix = (doc.advice || []).map((a) => a.next_fix ? " Next fix (" + a.gate + "): " + a.next_fix.name : "").join("");
      say("@" + doc.alias + ": " + doc.action + " (verdict " + doc.verdict + ")." + fix, doc.action === "refused");
    });
  }

  // -- the runs, compare and sweep pages -----------------------------------------------------

  function runsPage() {
    const button = $("#compare-selected");
    const picks = () => $$("input.pick:checked").map((c) => c.value);
    const update = () => { button.disabled = picks().length < 2; };
    $$("input.pick").forEach((c) => c.addEventListener("change", update));
    const all = $("#pick-all");
    if (all) all.addEventListener("change", () => { $$("input.pick").forEach((c) => { c.checked = all.checked; }); update(); });
    button.addEventListener("click", () => { const ids = picks(); location.href = "/compare?runs=" + ids.map(enc).join(",") + "&baseline=" + enc(ids[0]); });
    let fresh = 0;
    stream("/api/stream", {
      run: (msg) => {
        const row = $$("#runs tbody tr").find((tr) => tr.dataset.runId === msg.id);
        if (row) {
          row.dataset.status = msg.status;
          const badge = $(".badge.status", row);
          if (badge) { badge.textContent = msg.status; badge.className = "badge status status-" + msg.status; badge.title = msg.reason || ""; }
        } else {
          fresh += 1;
          const note = $("#new-runs");
          note.textContent = "";
          const a = el("a", fresh + " new run" + (fresh > 1 ? "s" : "") + " since this page loaded: reload");
          a.href = location.href;
          note.appendChild(a);
        }
      },
    });
  }

  function comparePage() {
    (DATA.keys || []).forEach((key) => {
      const box = $$(".chart").find((b) => b.dataset.key === key);
      if (box) new Chart(box, DATA.runs, []).load();
    });
  }

  function refreshing() {
    /* A block with data-refresh="MS" reloads itself from the page's own URL while it asks to. */
    const block = $("[data-refresh]");
    if (!block) return;
    liveDot(true);
    setTimeout(async () => {
      try {
        const res = await fetch(location.href, { credentials: "same-origin" });
        const doc = new DOMParser().parseFromString(await res.text(), "text/html");
        const fresh = doc.getElementById(block.id);
        if (fresh) block.replaceWith(document.adoptNode(fresh));
      } catch (e) { /* try again next time */ }
      if ($("[data-refresh]")) refreshing(); else liveDot(false);
    }, Number(block.dataset.refresh) || 2000);
  }

  window.addEventListener("resize", () => {
    CHARTS.forEach((c) => { if (c.u) c.u.setSize({ width: Math.max(c.plot.clientWidth, 280), height: 220 }); });
  });

  const page = { run: runPage, runs: runsPage, compare: comparePage }[DATA.page];
  if (page) page();
  refreshing();
})();
