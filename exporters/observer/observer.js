// canopy observer: plain JavaScript, no framework. Everything comes from
// the /api/v1/ routes of the server that serves this page, fetched once a
// second; a failed fetch shows the "disconnected" banner and greys the page.
"use strict";

(function () {
  const HISTORY = 300; // samples kept for the charts: five minutes at 1 s
  const TOKEN_KEY = "canopy-admin-token";
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];

  const state = {
    view: "system",
    pid: "",
    sort: "mailbox",
    match: "",
    limit: 50,
    connected: true,
    system: null,
    history: [],        // {t, util: [], runq: [], sent, dropped, procs}
    lastSystem: null,   // {t, sent, dropped}
    lastSchedulers: null,
    lastTables: null,   // {t, byName: {name: {evictions, expiries}}}
    rendered: {},       // view -> last JSON drawn, to skip identical redraws
    collapsed: new Set(),
    tree: null,
    detail: null,
  };

  // ------------------------------------------------------------------ helpers

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function bytes(n) {
    if (!isFinite(n)) return "-";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
  }

  function seconds(s) {
    if (!isFinite(s)) return "-";
    if (s === 0) return "0";
    if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 2 : 0) + " ms";
    if (s < 120) return s.toFixed(1) + " s";
    if (s < 7200) return (s / 60).toFixed(1) + " min";
    if (s < 172800) return (s / 3600).toFixed(1) + " h";
    return (s / 86400).toFixed(1) + " d";
  }

  function count(n) {
    if (!isFinite(n)) return "-";
    if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(2) + " G";
    if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + " M";
    if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + " k";
    if (Number.isInteger(n) || Math.abs(n) >= 100) return String(Math.round(n));
    return n.toFixed(1);
  }

  // CPU seconds per second as "ms/s".
  function cpuRate(u) { return isFinite(u) ? (u * 1000).toFixed(u < 0.01 ? 2 : 1) + " ms/s" : "-"; }

  function percent(x) { return isFinite(x) ? (x * 100).toFixed(1) + " %" : "-"; }

  // "<0.12.1>" -> "0.12.1", the form the routes and the page's links use.
  function pidPath(pid) { return String(pid).replace(/[<>]/g, ""); }

  function pidLink(pid) {
    if (!pid) return el("span", { text: "-" });
    return el("a", { class: "pid", href: "#/process/" + pidPath(pid), "data-pid": pid, text: pid });
  }

  // "canopy::app::(anonymous namespace)::Ledger" -> "Ledger" (the title keeps it whole).
  function shortType(t) {
    if (!t || t.includes("<")) return t || "";
    return t.replace(/\(anonymous namespace\)::/g, "").split("::").pop();
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  // A fetch that throws only when the server does not answer (or answers
  // something that is not JSON); HTTP errors come back as {status, body}.
  async function api(path, options) {
    const opts = Object.assign({ cache: "no-store" }, options || {});
    const response = await fetch(path, opts);
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw new Error(path + " answered HTTP " + response.status + " with something that is not JSON");
    }
    return { status: response.status, body: body };
  }

  async function apiOk(path) {
    const r = await api(path);
    if (r.status !== 200) throw new Error(path + ": HTTP " + r.status + ": " + (r.body && r.body.error));
    return r.body;
  }

  // ------------------------------------------------------------- connection

  function setConnected(ok, why) {
    const banner = $("banner");
    if (ok) {
      if (!state.connected) state.rendered = {};
      state.connected = true;
      banner.hidden = true;
      document.body.classList.remove("stale");
      $("last-update").textContent = "updated " + new Date().toLocaleTimeString();
    } else {
      state.connected = false;
      banner.hidden = false;
      banner.textContent = "disconnected: " + location.host + " does not answer (" + why +
        "); the numbers below are stale, retrying every second";
      document.body.classList.add("stale");
    }
  }

  // ------------------------------------------------------------------ system

  async function pollSystem() {
    const [sys, sch] = await Promise.all([apiOk("/api/v1/system"), apiOk("/api/v1/schedulers")]);
    const now = performance.now() / 1000;
    state.system = sys;
    const dropped = Object.values(sys.messages_dropped || {}).reduce((a, b) => a + b, 0);
    const sample = { t: now, util: [], runq: [], sent: NaN, dropped: NaN, procs: sys.process_count };
    if (state.lastSystem) {
      const dt = now - state.lastSystem.t;
      if (dt > 0) {
        sample.sent = Math.max(0, (sys.messages_sent - state.lastSystem.sent) / dt);
        sample.dropped = Math.max(0, (dropped - state.lastSystem.dropped) / dt);
      }
    }
    const prev = state.lastSchedulers;
    for (const s of sch.schedulers) {
      sample.runq.push(s.run_queue_length);
      const p = prev && prev.find((x) => x.id === s.id);
      if (p) {
        const busy = s.busy_seconds - p.busy_seconds;
        const wall = busy + (s.idle_seconds - p.idle_seconds);
        sample.util.push(wall > 0 ? Math.min(1, Math.max(0, busy / wall)) : 0);
      } else {
        sample.util.push(NaN);
      }
    }
    state.lastSystem = { t: now, sent: sys.messages_sent, dropped: dropped };
    state.lastSchedulers = sch.schedulers;
    state.history.push(sample);
    if (state.history.length > HISTORY) state.history.shift();
    $("node-info").textContent = "canopy " + sys.version + " \u00b7 up " + seconds(sys.uptime_seconds) +
      " \u00b7 " + sys.process_count + " processes";
  }

  function renderSystem() {
    const sys = state.system;
    if (!sys) return;
    const last = state.history[state.history.length - 1] || {};
    $("sys-procs").textContent = count(sys.process_count) + " / " + count(sys.process_limit) +
      " (" + percent(sys.process_count / sys.process_limit) + ")";
    $("sys-sent").textContent = count(last.sent);
    $("sys-dropped").textContent = count(last.dropped);
    $("sys-mailboxes").textContent = count(sys.mailbox_messages);
    $("sys-restarts").textContent = count(sys.supervisor_restarts);
    $("sys-uptime").textContent = seconds(sys.uptime_seconds);
    $("sys-version").textContent = sys.version;

    const h = state.history;
    const nsched = sys.schedulers || 0;
    const util = [], runq = [];
    for (let i = 0; i < nsched; i++) {
      util.push({ name: "scheduler " + (i + 1), values: h.map((s) => s.util[i]) });
      runq.push({ name: "scheduler " + (i + 1), values: h.map((s) => s.runq[i]) });
    }
    drawChart("chart-util", "legend-util", util, { max: 1, format: percent });
    drawChart("chart-runq", "legend-runq", runq, { format: count });
    drawChart("chart-msgs", "legend-msgs", [
      { name: "sent / s", values: h.map((s) => s.sent) },
      { name: "dropped / s", values: h.map((s) => s.dropped) },
    ], { format: count });
    drawChart("chart-procs", "legend-procs", [{ name: "processes", values: h.map((s) => s.procs) }], { format: count });

    const memory = Object.entries(sys.memory || {});
    const total = memory.reduce((a, [, v]) => Math.max(a, v), 0) || 1;
    const tbody = $("memory-table").tBodies[0];
    tbody.replaceChildren(...memory.map(([kind, v]) => el("tr", {},
      el("td", { text: kind }),
      el("td", { class: "num", text: bytes(v) }),
      el("td", {}, el("div", { class: "bar", style: "width:" + (100 * v / total).toFixed(1) + "%" })))));
  }

  // A line chart of the last HISTORY samples on a canvas.
  function drawChart(canvasId, legendId, series, opts) {
    const canvas = $(canvasId);
    const ctx = canvas.getContext("2d");
    const W = canvas.width, H = canvas.height, padL = 56, padR = 8, padT = 8, padB = 18;
    ctx.clearRect(0, 0, W, H);
    let max = opts.max || 0;
    if (!opts.max) {
      for (const s of series) for (const v of s.values) if (isFinite(v) && v > max) max = v;
      max = max > 0 ? max * 1.1 : 1;
    }
    ctx.strokeStyle = "#e5e7eb";
    ctx.fillStyle = "#667085";
    ctx.font = "11px sans-serif";
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = padT + (H - padT - padB) * i / 4;
      ctx.beginPath();
      ctx.moveTo(padL, y);
      ctx.lineTo(W - padR, y);
      ctx.stroke();
      ctx.fillText(opts.format(max * (4 - i) / 4), 2, y + 4);
    }
    ctx.fillText("-" + Math.round(HISTORY / 60) + " min", padL, H - 4);
    ctx.fillText("now", W - padR - 22, H - 4);
    const step = (W - padL - padR) / (HISTORY - 1);
    series.forEach((s, k) => {
      ctx.strokeStyle = COLORS[k % COLORS.length];
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let drawing = false;
      const offset = HISTORY - s.values.length;
      s.values.forEach((v, i) => {
        if (!isFinite(v)) { drawing = false; return; }
        const x = padL + (offset + i) * step;
        const y = padT + (H - padT - padB) * (1 - Math.min(v, max) / max);
        if (drawing) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        drawing = true;
      });
      ctx.stroke();
    });
    $(legendId).replaceChildren(...series.map((s, k) => {
      const v = s.values[s.values.length - 1];
      return el("span", {}, el("i", { style: "background:" + COLORS[k % COLORS.length] }),
        s.name + " " + (isFinite(v) ? opts.format(v) : "-"));
    }));
  }

  // --------------------------------------------------------------- processes

  function hot(p) {
    const w = (state.system && state.system.watermarks) || {};
    return {
      mailbox: p.mailbox_overloaded || (w.mailbox_high > 0 && p.mailbox_length >= w.mailbox_high),
      heap: w.large_heap_bytes > 0 && p.heap_bytes >= w.large_heap_bytes,
    };
  }

  async function renderProcesses() {
    let path = "/api/v1/processes?sort=" + encodeURIComponent(state.sort) + "&limit=" + state.limit;
    if (state.match) path += "&match=" + encodeURIComponent(state.match);
    const r = await api(path);
    const tbody = $("proc-table").tBodies[0];
    for (const th of document.querySelectorAll("#proc-table th.sortable")) {
      th.classList.toggle("sorted", th.dataset.sort === state.sort);
    }
    if (r.status !== 200) {
      $("proc-total").textContent = "";
      tbody.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "err", text: r.body.error })));
      return;
    }
    $("proc-total").textContent = r.body.processes.length + " of " + r.body.total +
      (state.match ? " matching" : "") + " processes, sorted by " + r.body.sort;
    tbody.replaceChildren(...r.body.processes.map((p) => {
      const h = hot(p);
      return el("tr", { "data-pid": p.pid, "data-name": p.name, class: h.mailbox || h.heap ? "hot" : "" },
        el("td", {}, pidLink(p.pid)),
        el("td", { class: "name", text: p.name }),
        el("td", { class: "behaviour", title: p.behaviour, text: shortType(p.behaviour) }),
        el("td", { text: p.status }),
        el("td", { class: "num" + (h.mailbox ? " hot-cell" : ""), text: count(p.mailbox_length) }),
        el("td", { class: "num", text: p.mailbox_oldest_age_seconds ? seconds(p.mailbox_oldest_age_seconds) : "-" }),
        el("td", { class: "num" + (h.heap ? " hot-cell" : ""), text: bytes(p.heap_bytes) }),
        el("td", { class: "num", text: count(p.reductions_per_second) }),
        el("td", { class: "num", text: cpuRate(p.cpu_utilization) }));
    }));
  }

  // ---------------------------------------------------------- process detail

  // The supervisor chain of `pid` in the tree: ["app shop", "root", "flaky_sup", "payment_gateway"].
  function chainOf(tree, pid) {
    function walk(sup, path) {
      if (!sup) return null;
      const here = path.concat([sup.name]);
      if (sup.pid === pid) return here;
      for (const c of sup.children || []) {
        if (c.pid === pid) return here.concat([c.id]);
        if (c.supervisor) {
          const found = walk(c.supervisor, here);
          if (found) return found;
        }
      }
      return null;
    }
    for (const app of (tree && tree.applications) || []) {
      const found = walk(app.root, ["application " + app.name]);
      if (found) return found;
    }
    return null;
  }

  async function renderProcess() {
    const path = "/api/v1/processes/" + encodeURIComponent(state.pid);
    const [r, tree] = await Promise.all([api(path), apiOk("/api/v1/supervision-tree")]);
    state.tree = tree;
    $("detail-title").textContent = "process " + state.pid;
    if (r.status !== 200) {
      $("detail-gone").hidden = false;
      $("detail-gone").textContent = r.body.error;
      state.detail = null;
      return;
    }
    $("detail-gone").hidden = true;
    const p = r.body;
    state.detail = p;
    $("detail-title").textContent = "process " + p.pid + (p.name ? " (" + p.name + ")" : "");
    $("btn-trace").textContent = p.traced ? "trace off" : "trace on";
    const key = JSON.stringify([p, chainOf(tree, p.pid)]);
    if (state.rendered.process === key) return;
    state.rendered.process = key;
    const pids = (list) => list.length ? el("span", { class: "pids" }, ...list.flatMap((x, i) =>
      i ? [", ", pidLink(x)] : [pidLink(x)])) : el("span", { text: "none" });
    const chain = chainOf(tree, p.pid);
    const rows = [
      ["pid", p.pid], ["registered name", p.name || "-"], ["status", p.status], ["behaviour", p.behaviour],
      ["module", p.module ? p.module + " v" + p.module_version : "-"],
      ["supervisor chain", chain ? chain.join(" \u203a ") : "not supervised"],
      ["parent", pidLink(p.parent)],
      ["links", pids(p.links)], ["monitors", pids(p.monitors)], ["monitored by", pids(p.monitored_by)],
      ["mailbox", count(p.mailbox_length) + " messages, " + bytes(p.mailbox_bytes) +
        (p.mailbox_capacity ? " (capacity " + p.mailbox_capacity + ")" : " (unbounded)") +
        (p.mailbox_overloaded ? " OVERLOADED" : "")],
      ["oldest message", p.mailbox_oldest_age_seconds ? seconds(p.mailbox_oldest_age_seconds) : "-"],
      ["messages handled", count(p.messages_handled)], ["messages dropped", count(p.messages_dropped)],
      ["heap", bytes(p.heap_bytes)],
      ["reductions", count(p.reductions) + " (" + count(p.reductions_per_second) + " / s)"],
      ["cpu", seconds(p.cpu_seconds) + " (" + cpuRate(p.cpu_utilization) + ")"],
      ["current / last message", p.current_message_type || "-"],
      ["trap_exit", String(p.trap_exit)], ["traced", String(p.traced)],
      ["registry keys", p.registry_keys.length ? p.registry_keys.join(", ") : "none"],
      ["spawned", new Date(p.spawned_at_unix_seconds * 1000).toLocaleString() + " (" + seconds(p.age_seconds) + " ago)"],
    ];
    $("detail").replaceChildren(...rows.flatMap(([k, v]) => [
      el("dt", { text: k }), el("dd", { "data-field": k }, v instanceof Node ? v : String(v))]));
    $("trace-lines").textContent = p.trace_lines.length
      ? p.trace_lines.map((t) => new Date(t.at_unix_seconds * 1000).toLocaleTimeString() + "  " + t.text).join("\n")
      : (p.traced ? "traced; no message in or out yet" : "not traced (trace on logs every message in and out)");
  }

  // Kill and trace: admin routes. The token (if one was given) goes along;
  // a 401/403 shows the server's refusal and asks for the token.
  async function adminAction(what) {
    if (!state.pid) return;
    const body = what === "kill" ? { reason: "kill" } : { on: !(state.detail && state.detail.traced) };
    const headers = { "Content-Type": "application/json" };
    if (token()) headers.Authorization = "Bearer " + token();
    const msg = $("admin-msg");
    let r;
    try {
      r = await api("/api/v1/processes/" + encodeURIComponent(state.pid) + "/" + what,
        { method: "POST", headers: headers, body: JSON.stringify(body) });
    } catch (e) {
      msg.hidden = false;
      msg.className = "admin-msg";
      msg.textContent = what + " failed: " + e.message;
      return;
    }
    msg.hidden = false;
    if (r.status === 200) {
      msg.className = "admin-msg ok";
      msg.textContent = what === "kill" ? "sent " + r.body.signal + " to " + r.body.pid
        : "trace " + (r.body.trace ? "on" : "off") + " for " + r.body.pid;
      $("token-form").hidden = true;
    } else {
      msg.className = "admin-msg";
      msg.textContent = what + " refused (HTTP " + r.status + "): " + (r.body.error || JSON.stringify(r.body));
      if (r.status === 401 || r.status === 403) $("token-form").hidden = false;
    }
    state.rendered.process = "";
    await refreshView().catch(() => {});
  }

  // ---------------------------------------------------------------- the tree

  // A child whose restart count went up within FLAP_WINDOW seconds shows as
  // restarting: a supervisor restarts at once, so the server's state is
  // "running" between crashes and only the count tells a crash loop.
  const FLAP_WINDOW = 10;

  function noteRestarts(tree, now) {
    const seen = state.restartSeen || (state.restartSeen = {});
    function walk(sup) {
      for (const c of sup.children || []) {
        const key = sup.name + "/" + c.id;
        const h = seen[key] || (seen[key] = { count: c.restarts, times: [] });
        for (let i = h.count; i < c.restarts; i++) h.times.push(now);
        h.count = c.restarts;
        h.times = h.times.filter((t) => now - t < FLAP_WINDOW);
        c.recent_restarts = h.times.length;
        if (c.supervisor) walk(c.supervisor);
      }
    }
    for (const app of tree.applications) if (app.root) walk(app.root);
  }

  // What the page shows for a child: running, restarting (a crash loop or
  // the server's restarting), failed (stopped with a start error), stopped.
  function shownState(c) {
    if (c.state === "restarting" || (c.state === "running" && c.recent_restarts > 0)) return "restarting";
    if (c.state === "stopped" && c.last_start_error) return "failed";
    return c.state;
  }

  function stateClass(shown) { return "state-" + (shown === "failed" ? "stopped" : shown); }

  function childMeta(c, shown) {
    let text = c.type + ", " + c.restart + ", " + shown;
    if (c.recent_restarts) text += " (" + c.recent_restarts + " restarts in " + FLAP_WINDOW + " s)";
    if (c.restarts) text += ", " + c.restarts + " restarts in all";
    return text;
  }

  // A supervisor as a collapsible <details>; `asChild` is its entry in its
  // parent's children (state, restarts), absent for an application's root.
  function renderSupervisor(sup, asChild) {
    const key = sup.name + "@" + sup.pid;
    const d = el("details", { class: "sup", "data-name": sup.name });
    d.open = !state.collapsed.has(key);
    d.addEventListener("toggle", () => { if (d.open) state.collapsed.delete(key); else state.collapsed.add(key); });
    const shown = asChild ? shownState(asChild) : "running";
    const exhausted = sup.restart_budget_remaining <= 0;
    d.append(el("summary", {},
      el("span", { class: stateClass(shown) + " sup-name", text: "\u25cf " + sup.name }), " ", pidLink(sup.pid),
      el("span", { class: "meta", text: sup.strategy + ", " + sup.restarts + " restarts in the window, budget left " +
        sup.restart_budget_remaining }),
      exhausted ? el("span", { class: "meta bad", text: "restart budget exhausted" }) : null,
      sup.intensity_exceeded ? el("span", { class: "meta bad", text: "intensity exceeded" }) : null,
      asChild && shown !== "running" ? el("span", { class: "meta bad", text: childMeta(asChild, shown) }) : null,
      asChild && asChild.last_exit_reason && shown !== "running"
        ? el("span", { class: "err", text: "last exit: " + asChild.last_exit_reason }) : null));
    const items = (sup.children || []).map((c) => {
      const childShown = shownState(c);
      const attrs = { class: "child", "data-id": c.id, "data-state": c.state, "data-shown": childShown };
      if (c.supervisor) return el("li", attrs, renderSupervisor(c.supervisor, c));
      return el("li", attrs,
        el("span", { class: stateClass(childShown), text: "\u25cf " + c.id }), " ",
        c.pid ? pidLink(c.pid) : el("span", { class: "meta", text: "no pid" }),
        el("span", { class: "meta", text: childMeta(c, childShown) }),
        c.last_start_error ? el("span", { class: "err", text: "start error: " + c.last_start_error }) : null,
        !c.last_start_error && c.last_exit_reason && childShown !== "running"
          ? el("span", { class: "err", text: "last exit: " + c.last_exit_reason }) : null);
    });
    if (!items.length) items.push(el("li", { class: "meta", text: "no children" }));
    d.append(el("ul", {}, ...items));
    return d;
  }

  async function renderTree() {
    const tree = await apiOk("/api/v1/supervision-tree");
    noteRestarts(tree, performance.now() / 1000);
    const key = JSON.stringify(tree);
    if (state.rendered.tree === key) return;
    state.rendered.tree = key;
    const root = $("tree");
    if (!tree.applications.length) {
      root.replaceChildren(el("p", { class: "meta", text: "no application started" }));
      return;
    }
    root.replaceChildren(...tree.applications.map((app) => el("div", { class: "app", "data-app": app.name },
      el("h2", { text: "application " + app.name }),
      app.root ? renderSupervisor(app.root, null) : el("p", { class: "err", text: "its root supervisor is gone" }))),
      el("p", { class: "meta", text: tree.ready ? "ready" : "not ready: " + tree.reason }));
  }

  // -------------------------------------------------------------- the tables

  async function renderTables() {
    const tables = await apiOk("/api/v1/tables");
    const now = performance.now() / 1000;
    const prev = state.lastTables;
    const byName = {};
    const rate = (t, field) => {
      if (!prev || !prev.byName[t.name]) return NaN;
      const dt = now - prev.t;
      return dt > 0 ? Math.max(0, (t[field] - prev.byName[t.name][field]) / dt) : NaN;
    };
    const of = (v, max) => (max ? percent(v / max) : "unbounded");
    const rows = tables.map((t) => {
      byName[t.name] = { evictions: t.evictions, expiries: t.expiries };
      const full = (t.max_entries && t.size >= t.max_entries) || (t.max_bytes && t.memory_bytes >= t.max_bytes);
      return el("tr", { "data-table": t.name, class: full ? "hot" : "" },
        el("td", { text: t.name }), el("td", { text: t.kind + ", " + t.access }), el("td", {}, pidLink(t.owner)),
        el("td", { class: "num", text: count(t.size) }), el("td", { class: "num", text: of(t.size, t.max_entries) }),
        el("td", { class: "num", text: bytes(t.memory_bytes) }),
        el("td", { class: "num", text: of(t.memory_bytes, t.max_bytes) }),
        el("td", { class: "num", text: count(rate(t, "evictions")) }),
        el("td", { class: "num", text: count(rate(t, "expiries")) }),
        el("td", { class: "num", text: count(t.hits) }), el("td", { class: "num", text: count(t.misses) }),
        el("td", { text: t.default_ttl_seconds ? seconds(t.default_ttl_seconds) : "none" }));
    });
    state.lastTables = { t: now, byName: byName };
    $("tables-table").tBodies[0].replaceChildren(...(rows.length ? rows
      : [el("tr", {}, el("td", { colspan: 12, class: "meta", text: "no tables" }))]));
  }

  // ------------------------------------------------------------ the refresh

  async function refreshView() {
    if (state.view === "system") renderSystem();
    else if (state.view === "processes") await renderProcesses();
    else if (state.view === "process") await renderProcess();
    else if (state.view === "tree") await renderTree();
    else if (state.view === "tables") await renderTables();
  }

  let timer = null;
  let running = false;
  let again = false; // asked for while a refresh ran: refresh once more at once

  async function tick() {
    clearTimeout(timer);
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await pollSystem();
      await refreshView();
      setConnected(true);
    } catch (e) {
      setConnected(false, e.message || String(e));
    } finally {
      running = false;
      timer = setTimeout(tick, again ? 0 : 1000);
      again = false;
    }
  }

  function route() {
    const parts = location.hash.replace(/^#\/?/, "").split("/");
    const view = parts[0] || "system";
    state.view = ["system", "processes", "process", "tree", "tables"].includes(view) ? view : "system";
    state.pid = state.view === "process" ? decodeURIComponent(parts.slice(1).join("/")) : "";
    for (const s of document.querySelectorAll("section.view")) s.hidden = s.id !== "view-" + state.view;
    for (const a of document.querySelectorAll("#nav a")) {
      a.classList.toggle("active", a.dataset.view === state.view ||
        (state.view === "process" && a.dataset.view === "processes"));
    }
    if (state.view === "process") {
      $("admin-msg").hidden = true;
      $("token-form").hidden = true;
      $("detail").replaceChildren();
    }
    state.rendered = {};
    tick();
  }

  function init() {
    for (const th of document.querySelectorAll("#proc-table th.sortable")) {
      th.addEventListener("click", () => { state.sort = th.dataset.sort; tick(); });
    }
    let debounce = null;
    $("proc-filter").addEventListener("input", (e) => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { state.match = e.target.value.trim(); tick(); }, 200);
    });
    $("proc-limit").addEventListener("change", (e) => { state.limit = Number(e.target.value); tick(); });
    $("btn-kill").addEventListener("click", () => adminAction("kill"));
    $("btn-trace").addEventListener("click", () => adminAction("trace"));
    $("token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
      $("token-input").value = "";
      $("token-form").hidden = true;
      $("admin-msg").className = "admin-msg ok";
      $("admin-msg").textContent = "token saved for this tab; press the button again";
    });
    window.addEventListener("hashchange", route);
    route();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
