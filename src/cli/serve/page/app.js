// swctl's live view: an applied lab drawn as `swctl graph` draws it and
// coloured live. Everything goes over the API's own WebSocket on the
// address this page came from (JSON-RPC 2.0): lab.graph (the picture),
// lab.status (what differs from the file, each finding with the hosts and
// switches it concerns), lab.watch (every change as it happens: the page
// marks what changed at once and asks lab.status again), lab.check and
// lab.apply (the buttons). No framework, no build step: this file is served
// by swctl as it is.
"use strict";

const $ = (sel) => document.querySelector(sel);
const page = {
  ws: null,
  nextId: 1,
  pending: new Map(), // id -> {resolve, reject}
  subs: new Map(), // subscription id -> handler
  early: new Map(), // notifications of a subscription not yet known
  lab: null,
  graph: null, // lab.graph's `graph`
  sub: null,
  statusBusy: false,
  statusAgain: false,
  running: null, // "apply" / "destroy" while one runs
};

// ---- JSON-RPC over the WebSocket ----

function connect() {
  return new Promise((resolve, reject) => {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
    const ws = new WebSocket(url);
    page.ws = ws;
    ws.onopen = () => {
      $("#conn").textContent = "connected to " + location.host;
      resolve();
    };
    ws.onerror = () => reject(new Error("cannot reach swctl serve at " + url));
    ws.onclose = () => {
      $("#conn").textContent = "disconnected: reload when swctl serve runs again";
      setSync("disconnected", "");
      document.body.dataset.state = "disconnected";
      for (const p of page.pending.values()) p.reject(new Error("the connection closed"));
      page.pending.clear();
    };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.id !== undefined && msg.method === undefined) {
        const p = page.pending.get(msg.id);
        if (!p) return;
        page.pending.delete(msg.id);
        if (msg.error) {
          const e = new Error(msg.error.message);
          e.data = msg.error.data;
          p.reject(e);
        } else {
          p.resolve(msg.result);
        }
      } else if (msg.params && msg.params.subscription !== undefined) {
        const id = String(msg.params.subscription);
        const h = page.subs.get(id);
        if (h) h(msg.params.result);
        else {
          if (!page.early.has(id)) page.early.set(id, []);
          page.early.get(id).push(msg.params.result);
        }
      }
    };
  });
}

function call(method, params) {
  const id = page.nextId++;
  return new Promise((resolve, reject) => {
    page.pending.set(id, { resolve, reject });
    page.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  });
}

function subscribe(method, params, handler) {
  return call(method, params).then((id) => {
    id = String(id);
    page.subs.set(id, handler);
    for (const ev of page.early.get(id) || []) handler(ev);
    page.early.delete(id);
    return id;
  });
}

// ---- small DOM helpers ----

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function setSync(cls, text) {
  const s = $("#sync");
  s.className = "pill " + cls;
  s.textContent = text || cls;
  document.body.dataset.sync = cls;
}

function logEvent(text, cls) {
  const list = $("#events");
  list.prepend(el("li", { class: cls || "" }, new Date().toLocaleTimeString() + " " + text));
  while (list.children.length > 60) list.lastChild.remove();
}

function svgAll(sel) {
  return document.querySelectorAll("#graph svg " + sel);
}

// the ports (host, switch) of the graph, to mark the port a finding of a
// host with one port concerns
function portsOf(name) {
  const g = page.graph;
  if (!g) return [];
  return g.edges.filter((e) => (e.kind === "port" || e.kind === "router") && e.a === name);
}

// ---- drift: lab.status's findings on the picture ----

function markFindings(findings) {
  for (const e of svgAll(".drift, .changed")) e.classList.remove("drift", "changed");
  for (const e of svgAll("title.finding")) e.remove();
  const byNode = new Map();
  const add = (sel, text) => {
    for (const e of svgAll(sel)) {
      e.classList.add("drift");
      if (!byNode.has(e)) byNode.set(e, []);
      byNode.get(e).push(text);
    }
  };
  for (const f of findings) {
    const about = new Set(f.about || []);
    for (const n of about) {
      add(`[data-node="${CSS.escape(n)}"]`, f.text);
      const ports = portsOf(n);
      for (const p of ports) {
        // a port: both its ends named, or its host's only port
        if (about.has(p.b) || ports.length === 1) add(`[data-port="${CSS.escape(p.a + " " + p.b)}"]`, f.text);
      }
    }
    // a trunk or link: both ends named
    for (const e of svgAll("[data-trunk], [data-link]")) {
      const [a, b] = (e.dataset.trunk || e.dataset.link).split(" ");
      if (about.has(a) && about.has(b)) {
        e.classList.add("drift");
        if (!byNode.has(e)) byNode.set(e, []);
        byNode.get(e).push(f.text);
      }
    }
  }
  // the findings as each mark's tooltip
  for (const [e, texts] of byNode) {
    const t = document.createElementNS(e.namespaceURI, "title");
    t.classList.add("finding");
    t.textContent = texts.join("\n");
    e.append(t);
  }
}

function showDrift(report) {
  const d = report.drift || { in_sync: true, findings: [] };
  let findings = d.findings || [];
  // a lab over machines: each machine's own findings too
  for (const m of report.machines || []) {
    const md = (m.output && m.output.drift) || {};
    for (const f of md.findings || []) findings = findings.concat([{ ...f, text: `${m.machine || ""}: ${f.text}` }]);
  }
  const list = $("#findings");
  list.replaceChildren();
  if (report.in_sync) {
    list.append(el("li", { class: "muted" }, "none: the lab is as its file says"));
    setSync("in-sync", "in sync");
  } else {
    for (const f of findings) {
      const li = el("li", { class: "finding" }, el("span", { class: "kind" }, f.kind), f.text);
      li.dataset.about = (f.about || []).join(" ");
      li.onmouseenter = () => light(f.about || [], true);
      li.onmouseleave = () => light(f.about || [], false);
      list.append(li);
    }
    if (findings.length === 0) list.append(el("li", { class: "finding" }, "differs (see swctl status)"));
    setSync("drift", "drift");
  }
  $("#drift-count").textContent = report.in_sync ? "" : `(${findings.length})`;
  markFindings(report.in_sync ? [] : findings);
}

function light(names, on) {
  for (const n of names) for (const e of svgAll(`rect[data-node="${CSS.escape(n)}"]`)) e.classList.toggle("lit", on);
}

// lab.status, never two at once; asked again while one runs: once more after
async function refreshStatus() {
  if (page.statusBusy) {
    page.statusAgain = true;
    return;
  }
  page.statusBusy = true;
  try {
    do {
      page.statusAgain = false;
      const lab = page.lab;
      let report;
      try {
        report = await call("lab.status", { name: lab });
      } catch (e) {
        // a lab destroyed meanwhile, a status that failed: said as it is
        if (lab === page.lab) {
          setSync("drift", "status failed");
          $("#findings").replaceChildren(el("li", { class: "finding" }, e.message));
        }
        continue;
      }
      if (lab !== page.lab) break;
      showDrift(report);
      document.body.dataset.statusRuns = String(Number(document.body.dataset.statusRuns || 0) + 1);
    } while (page.statusAgain);
  } finally {
    page.statusBusy = false;
  }
}

// ---- lab.watch's events ----

function onEvent(ev) {
  switch (ev.event) {
    case "watching":
      logEvent(`watching ${ev.netns.length} namespaces, ${ev.ovsdb.length} OVSDB servers, ${ev.flows.length} OVS bridges' flows`);
      return;
    case "drift": {
      const where = ev.netns || ev.switch || ev.ovsdb || "host";
      const what = ev.dev || ev.name || "";
      logEvent(`${ev.object} ${ev.change} ${where} ${what} ${ev.detail || ""}`, "drift");
      // at once: what changed, before status says whether it is drift
      for (const n of [ev.netns, ev.switch, ev.name]) {
        if (n) for (const e of svgAll(`rect[data-node="${CSS.escape(n)}"]`)) e.classList.add("changed");
      }
      if (!page.running) refreshStatus();
      return;
    }
    case "apply":
    case "destroy":
      progress(ev);
      return;
    case "lagged":
      logEvent(`missed ${ev.missed} events (read too slowly)`, "drift");
      refreshStatus();
      return;
    default:
      logEvent(`${ev.event} ${ev.error || ev.detail || ""}`);
  }
}

function progress(ev) {
  const bar = $("#progress-bar");
  const text = $("#progress-text");
  bar.classList.remove("failed");
  document.body.dataset.progress = `${ev.event} ${ev.phase}`;
  switch (ev.phase) {
    case "started":
      page.running = ev.event;
      bar.style.width = "0%";
      text.textContent = `${ev.event}: started`;
      setSync("busy", ev.event + "…");
      break;
    case "progress":
      if (ev.total) {
        bar.style.width = `${Math.round((100 * ev.done) / ev.total)}%`;
        text.textContent = `${ev.event}: ${ev.done}/${ev.total} steps`;
      } else {
        text.textContent = `${ev.event}: ${ev.step || "…"}`;
      }
      break;
    case "finished":
      page.running = null;
      bar.style.width = "100%";
      text.textContent = `${ev.event}: ${ev.changes} changes in ${Math.round(ev.ms)} ms` + (ev.exit_code ? ` (exit ${ev.exit_code})` : "");
      refreshStatus();
      break;
    case "failed":
      page.running = null;
      bar.classList.add("failed");
      text.textContent = `${ev.event} failed: ${ev.error}`;
      refreshStatus();
      break;
  }
  logEvent(text.textContent);
}

// ---- the buttons ----

async function runCheck() {
  const btn = $("#check");
  btn.disabled = true;
  $("#pairs").replaceChildren(el("p", { class: "muted" }, "probing…"));
  $("#check-count").textContent = "";
  document.body.dataset.check = "running";
  for (const e of svgAll(".unreached")) e.classList.remove("unreached");
  try {
    const r = await call("lab.check", { name: page.lab });
    const pairs = r.pairs || [];
    const tally = new Map(); // host -> its probes and how many failed
    const table = el("table", {}, el("tr", {}, el("th", {}, "from"), el("th", {}, "to"), el("th", {}, "expect"), el("th", {}, ""), el("th", {}, "rtt / why")));
    for (const p of pairs) {
      const row = el(
        "tr",
        { class: p.ok ? "good" : "bad" },
        el("td", {}, p.from),
        el("td", {}, `${p.to} (${p.owner})`),
        el("td", {}, p.expect),
        el("td", {}, p.ok ? "✓" : "✗"),
        el("td", {}, p.ok ? (p.rtt_ms != null ? `${p.rtt_ms.toFixed(2)} ms` : "") : p.error || ""),
      );
      row.dataset.from = p.from;
      row.dataset.ok = String(p.ok);
      table.append(row);
      for (const h of new Set([p.from, p.owner])) {
        const t = tally.get(h) || { n: 0, failed: 0 };
        t.n += 1;
        t.failed += p.ok ? 0 : 1;
        tally.set(h, t);
      }
    }
    // a host none of whose probes (from it, to it) passed: the one cut off
    for (const [h, t] of tally) {
      if (t.failed === t.n) for (const e of svgAll(`rect[data-node="${CSS.escape(h)}"]`)) e.classList.add("unreached");
    }
    $("#pairs").replaceChildren(table);
    if (r.impossible_total) $("#pairs").append(el("p", { class: "muted" }, `${r.impossible_total} pairs cannot work by design`));
    if (r.unpromised) $("#pairs").append(el("p", { class: "muted" }, `${r.unpromised} pairs cross a switch OpenFlow programs: not checked`));
    $("#check-count").textContent = `(${pairs.length - r.failed}/${pairs.length} passed, ${Math.round(r.elapsed_ms)} ms)`;
    document.body.dataset.check = r.failed ? "failed" : "passed";
  } catch (e) {
    $("#pairs").replaceChildren(el("p", { class: "finding" }, "check failed: " + e.message));
    document.body.dataset.check = "error";
  } finally {
    btn.disabled = false;
  }
}

async function runApply() {
  const btn = $("#apply");
  btn.disabled = true;
  try {
    await call("lab.apply", { name: page.lab });
  } catch (e) {
    $("#progress-text").textContent = "apply failed: " + e.message;
    $("#progress-bar").classList.add("failed");
  } finally {
    btn.disabled = false;
  }
}

// ---- a lab on the page ----

async function show(lab) {
  if (page.sub) {
    const old = page.sub;
    page.sub = null;
    page.subs.delete(old);
    call("lab.unwatch", [old]).catch(() => {});
  }
  page.lab = lab;
  document.body.dataset.state = "loading";
  const url = new URL(location.href);
  url.searchParams.set("lab", lab);
  history.replaceState(null, "", url);
  const g = await call("lab.graph", { name: lab });
  page.graph = g.graph;
  $("#graph").innerHTML = g.svg;
  $("#pairs").replaceChildren(el("p", { class: "muted" }, "not run yet"));
  page.sub = await subscribe("lab.watch", { name: lab }, onEvent);
  await refreshStatus();
  $("#check").disabled = false;
  $("#apply").disabled = false;
  document.body.dataset.state = "ready";
}

async function main() {
  try {
    await connect();
    const labs = (await call("labs.list", {})).labs || [];
    const select = $("#lab");
    for (const l of labs) select.append(el("option", { value: l.name }, l.name));
    if (labs.length === 0) {
      $("#graph").replaceChildren(el("p", {}, "no lab is applied: `swctl apply LAB.toml`, then reload"));
      setSync("", "no lab");
      document.body.dataset.state = "empty";
      return;
    }
    const wanted = new URL(location.href).searchParams.get("lab");
    const lab = labs.some((l) => l.name === wanted) ? wanted : labs[0].name;
    select.value = lab;
    select.onchange = () => show(select.value).catch(fail);
    $("#check").onclick = runCheck;
    $("#apply").onclick = runApply;
    await show(lab);
  } catch (e) {
    fail(e);
  }
}

function fail(e) {
  $("#graph").replaceChildren(el("p", { class: "finding" }, "swctl: " + e.message));
  document.body.dataset.state = "error";
  document.body.dataset.error = e.message;
}

main();
