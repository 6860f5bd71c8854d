// livecart host dashboard: follows one room's snapshot stream (server-sent events) and redraws the page.
// No library and no HTML strings: every value from the stream reaches the DOM through textContent or an
// SVG attribute, so a comment like "<script>..." is shown as the characters it is, never parsed.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const room = decodeURIComponent(location.pathname.split("/")[2] || "");
  const token = new URLSearchParams(location.search).get("token");
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const base = "/rooms/" + encodeURIComponent(room);
  const num = new Intl.NumberFormat("en-US");
  const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  }

  const pct = (x) => (100 * (x || 0)).toFixed(1) + "%";
  const clock = (ts) => new Date(ts).toLocaleTimeString("en-GB", { hour12: false });
  const duration = (s) => Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");

  function setText(id, value) {
    const e = $(id);
    const text = String(value);
    if (e.textContent !== text) {
      e.textContent = text;
      // Restart the highlight animation so the host sees which number just moved.
      e.classList.remove("bump");
      void e.offsetWidth;
      e.classList.add("bump");
    }
  }

  function renderMix(s) {
    const box = $("mix");
    const parts = [["pos", s.pos], ["neu", s.neu], ["neg", s.neg]];
    const nodes = [];
    let x = 0;
    for (const [cls, share] of parts) {
      const w = 600 * (s.n ? share : 0);
      if (w > 0) nodes.push(svg("rect", { x: x, y: 0, width: w, height: 18, class: cls }));
      x += w;
    }
    if (!s.n) nodes.push(svg("rect", { x: 0, y: 0, width: 600, height: 18, class: "empty" }));
    box.replaceChildren(...nodes);
    $("mix-pos").textContent = pct(s.pos);
    $("mix-neu").textContent = pct(s.neu);
    $("mix-neg").textContent = pct(s.neg);
  }

  function renderTrend(trend) {
    // Stacked bars, one per 10 s bucket (the snapshot keeps 30 = 5 min): negative at the bottom, where the eye lands.
    const box = $("trend");
    const W = 600, H = 150, top = 8, bottom = 18, slots = 30;
    const max = Math.max(1, ...trend.map((b) => b.comments));
    const bw = W / slots;
    const nodes = [svg("line", { x1: 0, y1: H - bottom, x2: W, y2: H - bottom, class: "axis" })];
    const scale = (H - top - bottom) / max;
    nodes.push(Object.assign(svg("text", { x: 2, y: top + 8, class: "tick" }), { textContent: String(max) }));
    trend.slice(-slots).forEach((b, i) => {
      let y = H - bottom;
      const x = (slots - Math.min(trend.length, slots) + i) * bw + 1;
      for (const cls of ["neg", "neu", "pos"]) {
        const h = b[cls] * scale;
        if (h > 0) {
          y -= h;
          const r = svg("rect", { x: x, y: y, width: bw - 2, height: h, class: cls });
          r.appendChild(Object.assign(svg("title", {}), { textContent: clock(b.t) + " " + cls + " " + b[cls] }));
          nodes.push(r);
        }
      }
    });
    if (trend.length) {
      const last = trend[trend.length - 1];
      nodes.push(Object.assign(svg("text", { x: W - 2, y: H - 4, class: "tick end" }), { textContent: clock(last.t) }));
      nodes.push(Object.assign(svg("text", { x: (slots - Math.min(trend.length, slots)) * bw + 2, y: H - 4, class: "tick" }),
        { textContent: clock(trend[Math.max(0, trend.length - slots)].t) }));
    }
    box.replaceChildren(...nodes);
    box.dataset.buckets = String(trend.length);
    box.dataset.comments = String(trend.reduce((a, b) => a + b.comments, 0));
  }

  function renderStage(st) {
    const box = $("stage");
    if (!st) {
      box.replaceChildren(el("p", "muted", "Nothing on stage."));
      return;
    }
    const stats = el("dl", "stage-stats");
    for (const [label, value] of [["Clicks", num.format(st.clicks)], ["Orders", num.format(st.purchases)],
      ["Units", num.format(st.units)], ["GMV", "¥" + money.format(st.gmv)], ["Mentions", num.format(st.mentions)]]) {
      const d = el("div");
      d.append(el("dt", null, label), el("dd", null, value));
      stats.append(d);
    }
    box.replaceChildren(el("div", "stage-title", st.title), el("div", "muted", "on stage for " + duration(st.seconds)), stats);
  }

  function renderQuestions(qs) {
    const items = qs.map((q) => {
      const li = el("li");
      li.dataset.count = String(q.count);
      li.append(el("span", "count", "×" + q.count), el("span", "qtext", q.text));
      if (q.item_ids.length) li.append(el("span", "items", q.item_ids.join(", ")));
      return li;
    });
    $("questions").replaceChildren(...items);
    $("questions-empty").hidden = qs.length > 0;
  }

  function renderProducts(rows, onStage) {
    $("products").replaceChildren(...rows.map((p) => {
      const tr = el("tr", onStage && onStage.item_id === p.item_id ? "on-stage" : null);
      const name = el("td", "name");
      name.append(el("span", null, p.title), el("span", "muted id", p.item_id));
      tr.append(name, el("td", null, num.format(p.mentions)), el("td", null, num.format(p.clicks)),
        el("td", null, num.format(p.purchases)), el("td", null, "¥" + money.format(p.gmv)), el("td", null, pct(p.conversion)));
      return tr;
    }));
  }

  function renderFeed(comments) {
    $("feed").replaceChildren(...comments.slice().reverse().map((c) => {
      const li = el("li", "c " + c.sentiment + (c.is_question ? " q" : ""));
      const meta = el("div", "meta");
      meta.append(el("span", "time", clock(c.ts)), el("span", "viewer", c.viewer_id));
      if (c.sentiment === "neg") meta.append(el("span", "tag neg", "negative"));
      if (c.is_question) meta.append(el("span", "tag q", "question"));
      li.append(meta, el("div", "text", c.text));
      return li;
    }));
  }

  function render(s) {
    setText("viewers", num.format(s.active_viewers));
    setText("cpm", num.format(s.comments_per_min));
    setText("gmv", "¥" + money.format(s.totals.gmv));
    setText("conversion", pct(s.totals.conversion));
    setText("orders", num.format(s.totals.purchases));
    setText("clicks", num.format(s.totals.clicks));
    $("asof").textContent = "event time " + clock(s.ts);
    renderMix(s.sentiment);
    renderTrend(s.sentiment_trend);
    renderStage(s.on_stage);
    renderQuestions(s.open_questions);
    renderProducts(s.hot_products, s.on_stage);
    renderFeed(s.recent_comments);
    document.body.dataset.ts = String(s.ts);
  }

  function setStatus(cls, text) {
    const e = $("status");
    e.className = "pill " + cls;
    e.textContent = text;
  }

  function start() {
    document.title = "livecart · " + room;
    $("room").textContent = room;
    $("home").setAttribute("href", "/" + query);
    renderQuestions([]);
    const es = new EventSource(base + "/events" + query);
    es.addEventListener("snapshot", (ev) => {
      try {
        render(JSON.parse(ev.data));
      } catch (err) {
        console.error("bad snapshot", err);
      }
    });
    es.onopen = () => setStatus("live", "live");
    // EventSource reconnects by itself after a dropped stream; CLOSED means the server refused it (e.g. 401).
    es.onerror = () => setStatus("wait", es.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting");
  }

  document.addEventListener("DOMContentLoaded", start);
})();
