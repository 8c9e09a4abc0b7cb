"""The dashboard's one page: plain HTML, CSS and JavaScript, no build step and nothing
fetched from elsewhere. It polls ``/api/state`` twice a second (cheap: the server answers
from its cache) and redraws when something changed.

Stable hooks for tests: ``section.arch[data-arch]`` with ``data-state`` (its edge's state:
down when nothing can be reached through the entry); ``[data-arch][data-unit]`` on every
unit box, with ``data-healthy="true|false"`` (true when every replica answers its health
check and, for an edge, every upstream has a healthy replica) and
``data-state="up|degraded|down"``; ``li[data-instance]`` in it with ``data-rps`` (requests/s
the edge sent that replica, "" when unknown); ``[data-arch][data-group][data-metric]`` on
every figure (rps, error_rate, p50, p95)."""

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>twinshop — live</title>
<style>
  :root {
    --bg: #0b0f17; --panel: #141b26; --line: #44546c; --text: #f4f7fb; --dim: #b4c0d2;
    --up: #22c55e; --up-bg: #0f2e1c; --down: #ff4d4d; --down-bg: #3d1013;
    --warn: #fbbf24; --warn-bg: #3a2e0b;
  }
  * { box-sizing: border-box; }
  /* one knob: everything is in rem, and rem follows the window's width (projector-sized) */
  html { font-size: clamp(14px, 1.55vw, 48px); }
  html, body { margin: 0; background: var(--bg); color: var(--text); }
  body { font: 600 1rem/1.3 "DejaVu Sans", "Segoe UI", Arial, sans-serif; padding: .7rem 1rem; }
  header { display: flex; align-items: baseline; gap: 1rem; margin-bottom: .6rem; }
  header h1 { margin: 0; font-size: 1.7rem; letter-spacing: .02em; }
  header .meta { color: var(--dim); font-size: .9rem; }
  header .conn { margin-left: auto; font-size: .9rem; padding: .15rem .6rem;
                 border-radius: .35rem; }
  .conn.ok { background: var(--up-bg); color: var(--up); }
  .conn.bad { background: var(--down-bg); color: var(--down); }
  #error { display: none; background: var(--down-bg); color: var(--down); padding: .4rem .7rem;
           border-radius: .35rem; margin-bottom: .6rem; }
  main { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
  .arch { background: var(--panel); border: 2px solid var(--line); border-radius: .7rem;
          padding: .7rem .9rem .9rem; display: flex; flex-direction: column; }
  .arch h2 { margin: 0; font-size: 1.6rem; }
  .arch .entry { color: var(--dim); font: 500 .85rem/1.3 "DejaVu Sans Mono", monospace;
                 margin: .15rem 0 .7rem; }
  .arch.off h2::after { content: "  not running"; color: var(--down); font-size: 1rem; }
  .topo { display: flex; flex-direction: column; align-items: center; }
  .row { display: flex; gap: .8rem; justify-content: center; width: 100%; }
  .slot { flex: 1 1 0; max-width: 15rem; min-width: 0; }
  .arrow { color: var(--dim); font-size: 1.2rem; line-height: 1; padding: .25rem 0;
           text-align: center; }
  .unit { border: .2rem solid var(--line); border-radius: .6rem; padding: .4rem .6rem .5rem; }
  .unit[data-state="up"] { border-color: var(--up); background: var(--up-bg); }
  .unit[data-state="degraded"] { border-color: var(--warn); background: var(--warn-bg); }
  .unit[data-state="down"] { border-color: var(--down); background: var(--down-bg); }
  .unit .head { display: flex; justify-content: space-between; align-items: center; gap: .4rem; }
  .unit .name { font-size: 1.35rem; font-weight: 800; }
  .badge { font-size: .8rem; font-weight: 800; padding: .05rem .4rem; border-radius: .25rem;
           color: #000; }
  .unit[data-state="up"] .badge { background: var(--up); }
  .unit[data-state="degraded"] .badge { background: var(--warn); }
  .unit[data-state="down"] .badge { background: var(--down); }
  .unit .sub { color: var(--dim); font-size: .85rem; margin-top: .1rem; }
  .unit .reason { color: var(--text); font-size: .85rem; font-weight: 800; }
  .arch[data-state="down"] { border-color: var(--down); }
  .arch[data-state="degraded"] { border-color: var(--warn); }
  .rps { float: right; color: var(--text); }
  .unit ul { list-style: none; padding: 0; margin: .3rem 0 0; }
  .unit li { font: 700 .9rem/1.35 "DejaVu Sans Mono", monospace; white-space: nowrap;
             overflow: hidden; text-overflow: ellipsis; }
  .unit li[data-healthy="false"] { color: var(--down); text-decoration: line-through; }
  .dot { display: inline-block; width: .6rem; height: .6rem; border-radius: 50%;
         margin-right: .35rem; }
  .dot.up { background: var(--up); } .dot.down { background: var(--down); }
  table { width: 100%; border-collapse: collapse; margin-top: .9rem; font-size: 1.2rem; }
  th, td { padding: .3rem .4rem; text-align: right; border-bottom: 2px solid var(--line); }
  th:first-child, td:first-child { text-align: left; }
  th { color: var(--dim); font-size: .8rem; font-weight: 700; text-transform: uppercase; }
  td { font-variant-numeric: tabular-nums; font-weight: 800; }
  td.bad { color: var(--down); }
  .note { color: var(--dim); font-size: .75rem; margin-top: .35rem; }
</style>
</head>
<body>
<header>
  <h1>twinshop — live</h1>
  <span class="meta" id="meta">connecting…</span>
  <span class="conn bad" id="conn">waiting</span>
</header>
<div id="error"></div>
<main id="arches"></main>
<script>
"use strict";
const DASH = "\u2014";
let last = "";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function unitBox(arch, u, calls) {
  const label = u.label || {up: "UP", degraded: "DEGRADED", down: "DOWN"}[u.state];
  const versions = u.versions.length ? "v" + u.versions.join(", v") : "v?";
  const rate = r => r.rps === null || r.rps === undefined ? []
    : [el("span", {class: "rps"}, fmt("rps", r.rps))];
  const replicas = u.replicas.length
    ? u.replicas.map(r => el("li", {"data-instance": r.instance, "data-healthy": String(r.healthy),
                                    "data-rps": r.rps === null || r.rps === undefined ? ""
                                                                           : String(r.rps)},
        el("span", {class: "dot " + (r.healthy ? "up" : "down")}),
        r.instance + (r.version != null && u.versions.length > 1 ? "  v" + r.version : ""),
        ...rate(r)))
    : [el("li", {}, "no replica")];
  const sub = u.healthy_replicas + "/" + u.replicas.length + " healthy · " + versions
    + (calls.length ? " · \u2192 " + calls.join(", ") : "");
  return el("div", {class: "unit", "data-arch": arch, "data-unit": u.name,
                    "data-healthy": String(u.healthy), "data-state": u.state,
                    "data-replicas": String(u.replicas.length)},
    el("div", {class: "head"}, el("span", {class: "name"}, u.name),
       el("span", {class: "badge"}, label)),
    el("div", {class: "sub"}, sub),
    ...(u.reason ? [el("div", {class: "reason"}, u.reason)] : []),
    el("ul", {}, ...replicas));
}

function fmt(metric, v) {
  if (v === null || v === undefined) return DASH;
  if (metric === "rps") return v.toFixed(v < 10 ? 1 : 0) + "/s";
  if (metric === "error_rate") return (v * 100).toFixed(v < 0.1 ? 1 : 0) + " %";
  if (metric === "p50" || metric === "p95") {
    return v < 1 ? Math.round(v * 1000) + " ms" : v.toFixed(2) + " s";
  }
  return String(v);
}

function metricsTable(a, groups) {
  const head = el("tr", {}, el("th", {}, "route group"), el("th", {}, "requests"),
                  el("th", {}, "errors"), el("th", {}, "p50"), el("th", {}, "p95"));
  const rows = groups.map(g => {
    const m = a.metrics[g] || {};
    const cells = ["rps", "error_rate", "p50", "p95"].map(k => {
      const td = el("td", {"data-arch": a.arch, "data-group": g, "data-metric": k}, fmt(k, m[k]));
      if (k === "error_rate" && m[k] > 0.01) td.className = "bad";
      return td;
    });
    return el("tr", {}, el("td", {}, g), ...cells);
  });
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
}

function archPanel(a, groups) {
  const edge = a.units.find(u => u.edge);
  const rest = a.units.filter(u => !u.edge);
  const callsOf = name => a.links.filter(([from]) => from === name).map(l => l[1]);
  const slot = child => el("div", {class: "slot"}, child);
  const arrow = () => slot(el("div", {class: "arrow"}, "\u25BC"));
  const arrows = el("div", {class: "row"}, ...rest.map(arrow));
  const seconds = a.metrics.seconds;
  const note = !a.metrics.available
    ? "no /metrics at the " + a.edge + " yet: figures show " + DASH
    : seconds ? "figures: the last " + seconds.toFixed(1) + " s at the " + a.edge
                + "'s /metrics; req/s per replica: what the " + a.edge + " sent it"
              : "figures: from the next sample of the " + a.edge + "'s /metrics";
  return el("section", {class: "arch" + (a.running ? "" : " off"), "data-arch": a.arch,
                        "data-running": String(a.running), "data-state": a.state},
    el("h2", {}, a.title),
    el("div", {class: "entry"}, a.entry || "not running"),
    el("div", {class: "topo"},
      el("div", {class: "row"}, slot(unitBox(a.arch, edge, []))),
      arrows,
      el("div", {class: "row"}, ...rest.map(u => slot(unitBox(a.arch, u, callsOf(u.name)))))),
    metricsTable(a, groups),
    el("div", {class: "note"}, note));
}

function render(state) {
  const key = JSON.stringify({...state, time: null});
  document.getElementById("meta").textContent =
    state.runtime + " runtime · " + state.time.slice(11, 19) + " UTC";
  const error = document.getElementById("error");
  error.style.display = state.error ? "block" : "none";
  error.textContent = state.error ? "status failed: " + state.error : "";
  if (key === last) return;
  last = key;
  const panels = state.architectures.map(a => archPanel(a, state.groups));
  document.getElementById("arches").replaceChildren(...panels);
}

function connected(ok) {
  const conn = document.getElementById("conn");
  conn.className = "conn " + (ok ? "ok" : "bad");
  conn.textContent = ok ? "live" : "dashboard unreachable";
}

async function poll() {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 4000);
  try {
    const response = await fetch("/api/state", {cache: "no-store", signal: ctl.signal});
    if (!response.ok) throw new Error(String(response.status));
    render(await response.json());
    connected(true);
  } catch (e) {
    connected(false);
  } finally {
    clearTimeout(timer);
    setTimeout(poll, 500);
  }
}
poll();
</script>
</body>
</html>
"""
