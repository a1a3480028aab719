// botscope dashboard: every page is drawn here from the JSON API.
// Every string from the data is put in the DOM as text (textContent),
// never as markup: subjects, HELO names, URLs and user agents are
// attacker-controlled.
"use strict";

(function () {
  const main = document.getElementById("main");
  const live = document.getElementById("live");
  const COLORS = ["#1f5fbf", "#d9534f", "#2e9e4f", "#e08a00", "#7b4fc9", "#00a0a8", "#b5447a", "#6b7280"];

  // el("td", {class: "num"}, "text", child, …): an element with text children.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "href") e.setAttribute("href", safeHref(v));
      else e.setAttribute(k, String(v));
    }
    for (const k of kids) {
      if (k === undefined || k === null) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }
  // Links go to this dashboard only.
  function safeHref(v) {
    v = String(v);
    return v.startsWith("/") && !v.startsWith("//") ? v : "#";
  }
  function link(path, text) { return el("a", { href: path }, text); }
  const enc = encodeURIComponent;
  function fmt(n) { return typeof n === "number" ? n.toLocaleString("en-US") : (n ?? ""); }

  async function api(path, opts) {
    const r = await fetch(path, Object.assign({ credentials: "same-origin" }, opts || {}));
    let body;
    try { body = await r.json(); } catch (e) { body = { error: r.status + " " + r.statusText }; }
    if (!r.ok) throw new Error(body.error || (r.status + " " + r.statusText));
    return body;
  }

  function table(cols, rows, cell) {
    const t = el("table", { class: "rows" });
    t.append(el("tr", {}, ...cols.map(c => el("th", {}, c))));
    for (const r of rows) {
      const tr = el("tr");
      cols.forEach((c, i) => {
        const v = cell(r, c, i);
        tr.append(v instanceof Node && v.tagName === "TD" ? v : el("td", typeof v === "number" ? { class: "num" } : {}, typeof v === "number" ? fmt(v) : v));
      });
      t.append(tr);
    }
    if (!rows.length) t.append(el("tr", {}, el("td", { colspan: cols.length, class: "hint" }, "nothing yet")));
    return t;
  }

  function kind(k) { return el("span", { class: "kind " + k }, k); }

  function alertsTable(alerts) {
    return table(["date", "family / campaign / brand", "kind", "evidence"], alerts, (a, c) => {
      if (c === "date") return link("/alert/" + enc(a.id), a.date);
      if (c === "kind") return kind(a.kind);
      if (c === "evidence") return a.evidence;
      return familyLink(a.key, a.series);
    });
  }
  function familyLink(name, series) {
    if (series && series.indexOf("by campaign") >= 0) return link("/campaign/" + enc(name), name);
    if (series && series.indexOf("by brand") >= 0) return link("/brand/" + enc(name), name);
    return link("/family/" + enc(name), name);
  }

  // A uPlot chart of {x: [unix seconds], series: [{name, values}]},
  // with vertical markers at `marks` (unix seconds). Drag to zoom,
  // double-click to reset, hover for values.
  function chart(title, data, opts) {
    opts = opts || {};
    const box = el("div", { class: "chart" }, el("div", { class: "title" }, title));
    const points = (data.x || []).length * (data.series || []).length;
    box.setAttribute("data-points", String(points));
    box.setAttribute("data-series", (data.series || []).map(s => s.name).join("\u001f"));
    if (!points) {
      box.append(el("div", { class: "hint" }, "no data yet"));
      return box;
    }
    const marks = opts.marks || [];
    const markPlugin = {
      hooks: {
        draw: [u => {
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#b3261e";
          ctx.setLineDash([4, 4]);
          ctx.lineWidth = 1.5;
          for (const m of marks) {
            const x = Math.round(u.valToPos(m, "x", true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          }
          ctx.restore();
        }],
      },
    };
    const draw = () => {
      const width = Math.max(320, box.clientWidth ? box.clientWidth - 20 : (main.clientWidth || 900) - 52);
      const u = new uPlot({
        width, height: opts.height || 260,
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: true } },
        series: [{ label: "day" }].concat(data.series.map((s, i) => ({
          label: s.name, stroke: COLORS[i % COLORS.length], width: 1.5,
          value: (u, v) => v == null ? "–" : (opts.unit ? v + opts.unit : fmt(v)),
        }))),
        axes: [{}, { size: 60 }],
        plugins: [markPlugin],
      }, [data.x].concat(data.series.map(s => s.values)), box);
      return u;
    };
    // Drawn once the box is in the page (its width is known then).
    queueMicrotask(() => { try { draw(); } catch (e) { box.append(el("div", { class: "error" }, "chart: " + e.message)); } });
    return box;
  }

  function cards(items) {
    return el("div", { class: "cards" }, ...items.map(([l, n]) => el("div", { class: "card" }, el("div", { class: "n" }, fmt(n)), el("div", { class: "l" }, l))));
  }

  // ---- pages ----------------------------------------------------------

  async function overview() {
    const o = await api("/api/overview");
    const t = o.totals;
    const out = [el("h1", {}, "Overview"),
      cards([["trap messages", t.messages], ["families", t.families], ["campaigns", t.campaigns], ["brands", t.brands],
        ["infected hosts", t.hosts], ["activities", t.activities], ["alerts", t.alerts], ["inputs", t.inputs], ["indicators", t.indicators]])];
    const marks = o.alerts.filter(a => a.series.startsWith("trap messages/day") && a.series.indexOf(" by ") < 0).map(a => Date.parse(a.date + "T00:00:00Z") / 1000);
    out.push(chart("Trap messages per day, by family (drag to zoom, double-click to reset; dashed lines: alerts)", o.volume, { marks }));
    out.push(chart("Share of the day's trap mail, by family (%)", o.share, { unit: " %", marks }));
    out.push(el("h2", {}, "Newest alerts"), alertsTable(o.alerts));
    out.push(el("h2", {}, "Families"), table(["family", "messages", "share of trap mail"], o.families, (f, c) =>
      c === "family" ? link("/family/" + enc(f.name), f.name) : c === "messages" ? f.messages : f.share + " %"));
    const st = [];
    if (o.trap) st.push(["trap " + o.trap.listen, o.trap.messages_stored + " messages stored in " + o.trap.sessions + " sessions, " + (o.trap.fed_to_dataset ?? 0) + " fed to the dataset"]);
    if (o.watch) st.push(["watched folders " + o.watch.join(", "), o.status.watch_ingested + " ingested, " + o.status.watch_already + " already in the store, " + o.status.watch_not_inputs + " not inputs, " + o.status.watch_failed + " failed" + (o.status.watch_last_error ? " (last: " + o.status.watch_last_error + ")" : "")]);
    st.push(["store", "ledger position " + o.version + ", read " + new Date(o.built_ms).toISOString().replace("T", " ").slice(0, 19) + " UTC" + (o.status.refresh_error ? "; error: " + o.status.refresh_error : "")]);
    out.push(el("h2", {}, "Service"), table(["part", "state"], st, (r, c, i) => r[i]));
    return out;
  }

  async function families() {
    const f = await api("/api/families");
    return [el("h1", {}, "Families"), table(["family", "trap messages", "share", "sandbox connections", "alerts"], f, (r, c) =>
      c === "family" ? link("/family/" + enc(r.name), r.name) : c === "trap messages" ? r.messages : c === "share" ? r.share + " %" : c === "alerts" ? r.alerts : r.sandbox_connections)];
  }

  async function family(name) {
    const f = await api("/api/family/" + enc(name));
    const marks = f.alerts.map(a => Date.parse(a.date + "T00:00:00Z") / 1000);
    return [el("h1", {}, "Family " + f.name),
      cards([["trap messages", f.messages], ["alerts", f.alerts.length], ["sandbox hosts", f.hosts.length]]),
      chart("Trap messages per day", f.volume, { marks }),
      chart("Sandbox activity mix: connections per day by activity", f.mix, { marks }),
      el("h2", {}, "Alerts"), alertsTable(f.alerts),
      el("h2", {}, "Sandbox hosts"), el("div", {}, ...f.hosts.map(h => el("span", {}, link("/host/" + enc(h), h), " ")))];
  }

  async function alerts() {
    const a = await api("/api/alerts");
    return [el("h1", {}, "Alerts"), el("p", {}, link("/api/alerts?format=csv", "download CSV")), alertsTable(a)];
  }

  async function alert(id) {
    const a = await api("/api/alert/" + enc(id));
    const x = a.alert;
    return [el("h1", {}, x.kind + " · " + x.key + " · " + x.date),
      el("p", { class: "evidence" }, x.evidence),
      table(["series", "level before", "level after"], [x], (r, c) => c === "series" ? r.series : c === "level before" ? r.level_before : r.level_after),
      chart("The series six weeks either side (dashed: the alert)", a.chart, { marks: [a.marker] }),
      el("h2", {}, "Other alerts of " + x.key), alertsTable(a.related)];
  }

  async function hosts() {
    const h = await api("/api/hosts");
    return [el("h1", {}, "Hosts"), el("p", {}, link("/api/hosts?format=csv", "download CSV")),
      table(["host", "activities", "families", "inputs", "connections", "first", "last"], h, (r, c) =>
        c === "host" ? link("/host/" + enc(r.host), r.host) : c === "activities" ? r.classes.join(", ") : c === "families" ? r.families.join(", ") : r[c])];
  }

  async function host(ip) {
    const h = await api("/api/host/" + enc(ip));
    const out = [el("h1", {}, "Host " + h.host), el("p", { class: "hint" }, "Every activity on its own line, however small next to the biggest.")];
    for (const a of h.activities) {
      out.push(el("div", { class: "activity " + a.class },
        el("div", {}, kind(a.class), " ", fmt(a.connections) + " connections, " + fmt(a.requests) + " requests, " + (100 * a.share).toFixed(1) + " % of the host's connections · " + a.first + " – " + a.last + " · family ", link("/family/" + enc(a.family), a.family), a.confidence == null ? "" : " · confidence " + a.confidence),
        el("div", { class: "hint" }, "input " + a.source),
        a.peers.length ? el("div", {}, "peers: " + a.peers.join(", ")) : null,
        el("pre", { class: "evidence" }, a.evidence.join("\n"))));
    }
    out.push(el("h2", {}, "Indicators"), table(["kind", "value", "class", "count", "first", "last"], h.iocs, (r, c) => r[c]));
    return out;
  }

  async function tops(what) {
    const rows = await api("/api/" + what + "s");
    return [el("h1", {}, what === "campaign" ? "Campaigns" : "Brands"), el("p", {}, link("/api/" + what + "s?format=csv", "download CSV")),
      table([what, "families", "messages", "sample subject"], rows, (r, c) =>
        c === what ? link("/" + what + "/" + enc(r.name), r.name) : c === "families" ? r.families.join(", ") : c === "messages" ? r.messages : r.sample)];
  }

  async function top(what, name) {
    const d = await api("/api/" + what + "/" + enc(name));
    const msgs = d.messages;
    const cols = ordered(msgs);
    return [el("h1", {}, (what === "campaign" ? "Campaign " : "Brand ") + d.row.name),
      cards([["messages", d.row.messages], ["families", d.row.families.length]]),
      el("p", {}, "sample subject: ", el("span", { class: "sample" }, d.row.sample)),
      el("p", {}, "families: ", ...d.row.families.map(f => el("span", {}, link("/family/" + enc(f), f), " "))),
      chart("Trap messages per day", d.chart),
      el("h2", {}, "Newest messages"), table(cols, msgs, (r, c) => c === "family" && r[c] ? link("/family/" + enc(r[c]), r[c]) : r[c])];
  }

  // Columns of row objects, the usual ones first.
  const FIRST = ["ts", "time", "date", "host", "class", "subject", "family", "campaign", "brand", "category", "sender_ip", "orig_h", "resp_h", "query", "server_name", "url", "domain"];
  function ordered(rows) {
    if (!rows.length) return [];
    const keys = Object.keys(rows[0]);
    return FIRST.filter(k => keys.includes(k)).concat(keys.filter(k => !FIRST.includes(k)));
  }

  function genericRows(rows) {
    const cols = ordered(rows);
    return table(cols, rows, (r, c) => {
      const v = r[c];
      if (c === "host" || c === "sender_ip" || c === "orig_h") return v ? link("/host/" + enc(v), v) : "";
      if (c === "family" && v) return link("/family/" + enc(v), v);
      if (c === "campaign" && v) return link("/campaign/" + enc(v), v);
      if (Array.isArray(v)) return el("pre", {}, v.join("\n"));
      return v;
    });
  }

  async function search(params) {
    const q = params.get("q") || "";
    document.getElementById("searchbox").value = q;
    if (!q) return [el("h1", {}, "Search"), el("p", {}, "Type an IP address, domain, URL, SHA-256, Message-ID or words of a subject above.")];
    const r = await api("/api/search?q=" + enc(q));
    const out = [el("h1", {}, "Search: " + r.q), el("p", { class: "hint" }, "read as " + r.kind)];
    if (!r.results.length) out.push(el("p", {}, "Nothing found."));
    for (const g of r.results) out.push(el("h2", {}, g.table + " (" + g.rows.length + ")"), genericRows(g.rows));
    return out;
  }

  function sql(params) {
    const ta = el("textarea", { id: "sqltext", spellcheck: "false" });
    ta.value = params.get("q") || "SELECT family, count(*) AS messages FROM mail GROUP BY family ORDER BY messages DESC";
    const res = el("div", { id: "sqlresult" });
    const btn = el("button", { type: "button", id: "sqlrun" }, "Run");
    const dl = el("a", { href: "/sql" }, "download CSV");
    const run = async () => {
      res.replaceChildren(el("p", { class: "hint" }, "running…"));
      dl.setAttribute("href", "/api/sql?format=csv&q=" + enc(ta.value));
      try {
        const r = await api("/api/sql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sql: ta.value }) });
        const t = el("table", { class: "rows" });
        t.append(el("tr", {}, ...r.columns.map(c => el("th", {}, c))));
        for (const row of r.rows) t.append(el("tr", {}, ...row.map(v => el("td", {}, v ?? "NULL"))));
        res.replaceChildren(el("p", { class: "hint" }, r.rows.length + " rows" + (r.truncated ? " (cut at the row cap)" : "") + " in " + r.elapsed_ms + " ms"), t);
      } catch (e) {
        res.replaceChildren(el("p", { class: "error" }, e.message));
      }
    };
    btn.addEventListener("click", run);
    ta.addEventListener("keydown", e => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) run(); });
    if (params.get("q")) queueMicrotask(run);
    return [el("h1", {}, "SQL (read-only)"),
      el("p", { class: "hint" }, "Tables: conn, http, smtp, dns, ssl, irc, mail, mail_hourly, activity, alert (docs/schema.md). Only queries run; rows and time are capped. Ctrl-Enter runs."),
      ta, el("p", {}, btn, " ", dl), res];
  }

  function route() {
    const p = location.pathname;
    const params = new URLSearchParams(location.search);
    const m = (re) => { const x = p.match(re); return x ? decodeURIComponent(x[1]) : null; };
    let v;
    if (p === "/") return overview();
    if (p === "/families") return families();
    if ((v = m(/^\/family\/(.+)$/)) !== null) return family(v);
    if (p === "/alerts") return alerts();
    if ((v = m(/^\/alert\/(.+)$/)) !== null) return alert(v);
    if (p === "/hosts") return hosts();
    if ((v = m(/^\/host\/(.+)$/)) !== null) return host(v);
    if (p === "/campaigns") return tops("campaign");
    if ((v = m(/^\/campaign\/(.+)$/)) !== null) return top("campaign", v);
    if (p === "/brands") return tops("brand");
    if ((v = m(/^\/brand\/(.+)$/)) !== null) return top("brand", v);
    if (p === "/search") return search(params);
    if (p === "/sql") return sql(params);
    return Promise.resolve([el("h1", {}, "Not found")]);
  }

  let rendering = false;
  async function render() {
    if (rendering) return;
    rendering = true;
    try {
      const nodes = await route();
      main.replaceChildren(...nodes);
      main.setAttribute("data-rendered", String(Date.now()));
    } catch (e) {
      main.replaceChildren(el("h1", {}, "Error"), el("p", { class: "error" }, e.message));
    } finally {
      rendering = false;
    }
  }

  // Live updates: the server says when the store changed; pages other
  // than the SQL console draw themselves again (at most once a second).
  let pending = null;
  function toast(text) {
    const box = document.getElementById("toasts");
    const t = el("div", { class: "toast" }, text);
    box.append(t);
    setTimeout(() => t.remove(), 15000);
    while (box.children.length > 5) box.firstChild.remove();
  }
  let es = null;
  function connect() {
    if (!window.EventSource || es) return;
    es = new EventSource("/api/events");
    es.addEventListener("hello", () => { live.textContent = "live"; live.className = "on"; });
    es.addEventListener("update", ev => {
      let d = {};
      try { d = JSON.parse(ev.data); } catch (e) { /* keep going */ }
      live.textContent = "live · updated " + new Date().toTimeString().slice(0, 8);
      for (const a of (d.new_alerts || []).slice(0, 5)) toast("New alert: " + a.kind + " · " + a.key + " · " + a.date + " — " + a.evidence);
      if (location.pathname === "/sql") return;
      if (pending) return;
      pending = setTimeout(() => { pending = null; render(); }, 1000);
    });
    es.onerror = () => { live.textContent = "reconnecting…"; live.className = "off"; };
  }

  // A page left (or kept in the back/forward cache) lets its stream go:
  // a browser allows only six connections to one server.
  window.addEventListener("pagehide", () => { if (es) { es.close(); es = null; } });
  window.addEventListener("pageshow", e => { if (e.persisted) { connect(); render(); } });

  render();
  connect();
})();
