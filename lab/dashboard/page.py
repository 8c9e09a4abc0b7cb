"""The dashboard's one page: plain HTML, CSS and JavaScript, no build step and nothing
fetched from elsewhere. It polls ``/api/state`` twice a second (cheap: the server answers
from its cache) and redraws when something changed.

Stable hooks for tests: ``section.arch[data-arch]`` with ``data-state`` (its edge's state:
down when nothing can be reached through the entry); ``[data-arch][data-unit]`` on every
unit box, with ``data-healthy="true|false"`` (true when every replica answers its health
check and, for an edge, every upstream has a healthy replica) and
``data-state="up|degraded|down"``; ``li[data-instance]`` in it with ``data-rps`` (requests/s
the edge sent that replica, "" when unknown); ``[data-arch][data-group][data-metric]`` on
every figure (rps, error_rate, p50, p95).

Below, the traces: the latest checkout and browse of each architecture, polled from
``/api/waterfall`` every 1.5 s, both sides of a route group on one time axis.
``div.trace[data-arch][data-group]`` with ``data-trace-id`` ("" when none yet) holds one
``div.srow`` per span with ``data-unit``, ``data-kind`` and ``data-error="true|false"``; a
red bar is a failed span, amber gaps around a server span are its time on the network.

Why it stays above 300 lines: it is one page — HTML, CSS and JavaScript in one string that
the server sends as it is, with no template engine and no build step; its test hooks (above)
are read in one place.
"""

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
  #traces { margin-top: 1rem; }
  #traces h2 { margin: 0 0 .4rem; font-size: 1.4rem; }
  .tracegrid { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
  .trace { background: var(--panel); border: 2px solid var(--line); border-radius: .7rem;
           padding: .5rem .7rem .6rem; font-size: .8rem; min-width: 0; }
  .trace h3 { margin: 0 0 .3rem; font-size: 1rem; }
  .trace .figs { color: var(--dim); font-weight: 600; margin-bottom: .3rem; }
  .srow { display: grid; grid-template-columns: 15rem 1fr; align-items: center;
          gap: .4rem; height: 1.15rem; }
  .srow .label { white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
                 font: 600 .75rem/1.1 "DejaVu Sans Mono", monospace; }
  .srow .track { position: relative; height: .8rem; }
  .bar, .gap { position: absolute; top: 0; height: 100%; border-radius: .15rem; }
  .bar { background: #60a5fa; min-width: 2px; }
  .srow[data-kind="client"] .bar { background: #a78bfa; }
  .srow[data-kind="internal"] .bar { background: #94a3b8; }
  .srow[data-error="true"] .bar { background: var(--down); }
  .srow[data-error="true"] .label { color: var(--down); }
  .gap { background: repeating-linear-gradient(45deg, var(--warn) 0 3px, transparent 3px 6px);
         opacity: .9; min-width: 1px; }
  .axis { display: flex; justify-content: space-between; color: var(--dim);
          margin-left: 15.4rem; font-size: .7rem; }
  .legend { color: var(--dim); font-size: .75rem; margin-top: .4rem; }
  .legend i { display: inline-block; width: .9rem; height: .6rem; margin: 0 .25rem 0 .6rem; }
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
<section id="traces">
  <h2>Traces: the latest checkout and browse through each entry</h2>
  <div class="tracegrid" id="tracegrid"></div>
  <div class="legend"><i style="background:#60a5fa"></i>server span
    <i style="background:#a78bfa"></i>client span (a call out)
    <i style="background:#94a3b8"></i>step in process
    <i class="gap" style="position:static"></i>on the network
    <i style="background:var(--down)"></i>failed</div>
</section>
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
        r.instance + (r.version != null && u.versions.length > 1 ? "  v" + r.version : "")
          + (r.impl && r.impl !== "python" ? "  (" + r.impl + ")" : ""),
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

const ARCH_TITLES = {micro: "Microservices", mono: "Monolith"};
let lastTraces = "";

function ms(v) { return v < 10 ? v.toFixed(2) + " ms" : v.toFixed(1) + " ms"; }

function tracePanel(arch, group, t, scale) {
  const title = ARCH_TITLES[arch] + " · " + group;
  if (!t) {
    return el("div", {class: "trace", "data-arch": arch, "data-group": group,
                      "data-trace-id": ""},
      el("h3", {}, title), el("div", {class: "figs"}, "no trace yet: send a request"));
  }
  const pct = v => (100 * v / scale) + "%";
  const rows = t.rows.map(r => {
    const track = el("div", {class: "track"});
    if (r.gap_before_ms !== null) {
      track.append(el("div", {class: "gap", title: "network " + ms(r.gap_before_ms),
                              style: "left:" + pct(r.start_ms - r.gap_before_ms)
                                     + ";width:" + pct(r.gap_before_ms)}));
      track.append(el("div", {class: "gap", title: "network " + ms(r.gap_after_ms),
                              style: "left:" + pct(r.start_ms + r.duration_ms)
                                     + ";width:" + pct(r.gap_after_ms)}));
    }
    const tip = r.unit + "/" + r.instance + "@v" + r.version + " · " + r.name + " · "
                + ms(r.duration_ms) + (r.message ? " · " + r.message : "");
    track.append(el("div", {class: "bar", title: tip,
                            style: "left:" + pct(r.start_ms) + ";width:" + pct(r.duration_ms)}));
    const label = el("span", {class: "label", title: tip,
                              style: "padding-left:" + (r.depth * 0.6) + "rem"},
                     r.unit + " · " + r.name);
    return el("div", {class: "srow", "data-unit": r.unit, "data-kind": r.kind,
                      "data-error": String(r.error)}, label, track);
  });
  const figs = ms(t.total_ms) + " · " + t.hops + (t.hops === 1 ? " hop" : " hops")
               + " · network " + ms(t.network_ms) + " · in process "
               + ms(t.process_ms) + (t.error ? " · FAILED" : "");
  return el("div", {class: "trace", "data-arch": arch, "data-group": group,
                    "data-trace-id": t.trace_id, "data-error": String(t.error)},
    el("h3", {}, title), el("div", {class: "figs"}, figs), ...rows,
    el("div", {class: "axis"}, el("span", {}, "0"), el("span", {}, ms(scale))));
}

function renderTraces(data) {
  const key = JSON.stringify(data);
  if (key === lastTraces) return;
  lastTraces = key;
  const panels = [];
  for (const group of ["checkout", "browse"]) {
    const shown = ["micro", "mono"].map(a => (data[a] || {})[group]);
    const scale = Math.max(0.001, ...shown.map(t => t ? t.total_ms : 0));
    ["micro", "mono"].forEach((a, i) => panels.push(tracePanel(a, group, shown[i], scale)));
  }
  document.getElementById("tracegrid").replaceChildren(...panels);
}

async function pollTraces() {
  try {
    const response = await fetch("/api/waterfall", {cache: "no-store"});
    if (response.ok) renderTraces(await response.json());
  } catch (e) {
    /* the state poll says when the dashboard is unreachable */
  } finally {
    setTimeout(pollTraces, 1500);
  }
}
pollTraces();
</script>
</body>
</html>
"""
