// Topology view: a surveyed network drawn as a graph — from a file (OverlaySurvey.py
// GraphML, our survey JSON or GraphML) or from a survey run here against a localnet node
// through its admin API. Hover for per-node and per-link statistics, search by node ID,
// click to highlight a neighbourhood; nodes that never answered are listed.

import Graph from "graphology";
import forceAtlas2 from "graphology-layout-forceatlas2";
import Sigma from "sigma";
import { localnet } from "../env";
import { field, fmtBytes, fmtMs, fmtNum, h, shortId, toast } from "../ui/dom";
import { parseAny, parseSurveyJson, type Attrs, type SurveyGraph } from "./parse";
import { drawHover, hasWebGL, NO_WEBGL } from "../ui/graph";
import type { View } from "../main";

const NODE_LABELS: Record<string, string> = {
  version: "version",
  isValidator: "validator",
  numTotalInboundPeers: "inbound peers",
  numTotalOutboundPeers: "outbound peers",
  totalInboundPeerCount: "inbound peers",
  totalOutboundPeerCount: "outbound peers",
  maxInboundPeerCount: "max inbound",
  maxOutboundPeerCount: "max outbound",
  addedAuthenticatedPeers: "peers added",
  droppedAuthenticatedPeers: "peers dropped",
  p75SCPFirstToSelfLatencyMs: "p75 SCP first→self",
  p75SCPSelfToOtherLatencyMs: "p75 SCP self→other",
  lostSyncCount: "lost sync",
};

function fmtAttr(k: string, v: string | number | boolean): string {
  if (typeof v === "number") {
    if (/bytes/i.test(k)) return fmtBytes(v);
    if (/Ms$/.test(k)) return fmtMs(v);
    if (/seconds/i.test(k)) return `${fmtNum(v)} s`;
    return fmtNum(v);
  }
  return String(v);
}

export async function mountTopology(root: HTMLElement): Promise<View> {
  const env = await localnet();
  let graph = new Graph({ type: "directed", multi: false });
  let renderer: Sigma | null = null;
  let data: SurveyGraph | null = null;
  let selected: string | null = null;
  let neighbours = new Set<string>();
  let hovered: string | null = null;

  const fileIn = h("input", { type: "file", accept: ".graphml,.xml,.json", "data-testid": "topo-file", "aria-label": "Survey file" }) as HTMLInputElement;
  const drop = h("div", { class: "dropzone", tabindex: 0, role: "button", "aria-label": "Load a survey file" }, h("div", {}, "Drop a survey file here, or ", h("u", {}, "choose one")), h("div", { class: "hint" }, "OverlaySurvey.py GraphML · stellar-overlay survey JSON / GraphML"));
  const sampleBtn = h("button", { class: "small" }, "Load the example");
  const searchIn = h("input", { type: "search", placeholder: "G… node ID, or part of it", "data-testid": "topo-search", "aria-label": "Search by node ID", spellcheck: "false", autocomplete: "off" }) as HTMLInputElement;
  const results = h("ul", { class: "list results", role: "listbox", "data-testid": "topo-results", "aria-label": "Search results" });
  const summary = h("div", { "data-testid": "topo-summary" }, h("div", { class: "empty" }, "No survey loaded."));
  const colourSel = h(
    "select",
    { "aria-label": "Colour nodes by", "data-testid": "topo-colour" },
    h("option", { value: "role" }, "role (validator, answered, silent)"),
    h("option", { value: "version" }, "version"),
    h("option", { value: "latency" }, "p75 SCP first→self latency"),
    h("option", { value: "degree" }, "peer count"),
  );
  const colourLegend = h("div", { class: "legend" });
  const unresponsiveList = h("ul", { class: "list", "data-testid": "topo-unresponsive" });
  const unresponsiveHead = h("h2", {}, "Unresponsive nodes");
  const detail = h("div", { "data-testid": "topo-detail" }, h("div", { class: "hint" }, "Hover a node or link for its statistics; click a node for its neighbourhood."));
  const graphEl = h("div", { class: "graph" });
  const tooltip = h("div", { class: "tooltip", hidden: true });
  const emptyEl = h("div", { class: "busy" }, h("div", { style: "text-align:center;max-width:420px" }, h("div", {}, "Load a survey to see the overlay's shape."), h("div", { class: "hint" }, "Run “stellar-overlay survey”, or stellar-core's OverlaySurvey.py, and drop the GraphML or JSON here.")));

  // Survey against a localnet node
  const nodeSel = h("select", { "aria-label": "Surveyor node" }, ...(env?.nodes ?? []).map((n, i) => h("option", { value: n.admin ?? "" }, `node ${i + 1} · ${shortId(n.id)}`)));
  const collectIn = h("input", { type: "number", value: 8, min: 2, max: 600, "data-testid": "topo-collect" }) as HTMLInputElement;
  const surveyBtn = h("button", { class: "primary", disabled: !env?.nodes.some((n) => n.admin), "data-testid": "topo-survey" }, "Run survey");
  const surveyStatus = h("div", { class: "hint", "aria-live": "polite", "data-testid": "topo-survey-status" });

  root.append(
    h(
      "div",
      { class: "layout topo" },
      h(
        "div",
        { class: "col" },
        h("div", { class: "panel col", style: "gap:8px" }, h("h2", {}, "Load"), drop, fileIn, sampleBtn),
        env
          ? h("div", { class: "panel col", style: "gap:8px" }, h("h2", {}, "Survey the localnet"), field("surveyor", nodeSel), h("div", { class: "row" }, field("collect for (s)", collectIn), h("span", { class: "grow" }), surveyBtn), surveyStatus)
          : null,
        h("div", { class: "panel col grow", style: "gap:6px" }, h("h2", {}, "Find a node"), searchIn, results),
      ),
      h("div", { class: "panel graph-wrap" }, graphEl, tooltip, emptyEl),
      h("div", { class: "col" }, h("div", { class: "panel" }, h("h2", {}, "Survey"), summary, h("div", { style: "margin-top:8px" }, field("colour nodes by", colourSel)), colourLegend), h("div", { class: "panel scroll", style: "max-height:32%" }, unresponsiveHead, unresponsiveList), h("div", { class: "panel scroll grow" }, h("h2", {}, "Selection"), detail)),
    ),
  );
  fileIn.style.display = "none";

  // ---------- loading ----------
  async function loadFile(f: File): Promise<void> {
    try {
      show(parseAny(await f.text(), f.name));
    } catch (e) {
      toast(`Cannot read ${f.name}: ${String(e)}`, true);
    }
  }
  drop.addEventListener("click", () => fileIn.click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      fileIn.click();
    }
  });
  fileIn.addEventListener("change", () => fileIn.files?.[0] && void loadFile(fileIn.files[0]));
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = e.dataTransfer?.files[0];
    if (f) void loadFile(f);
  });
  sampleBtn.addEventListener("click", async () => {
    try {
      const r = await fetch("samples/overlay-survey.graphml");
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      show(parseAny(await r.text(), "example: overlay-survey.graphml"));
    } catch (e) {
      toast(`Cannot load the example: ${String(e)}`, true);
    }
  });

  const PALETTE = ["#38bdf8", "#f472b6", "#a78bfa", "#fbbf24", "#4ade80", "#fb923c", "#2dd4bf", "#e879f9"];
  /** Node colours for the chosen scheme, and its legend. */
  function recolour(): void {
    if (!data) return;
    const g = data;
    const mode = colourSel.value;
    const legend: [string, string][] = [];
    const ramp = (t: number) => {
      // green → amber → red
      const stops = ["#4ade80", "#fbbf24", "#f87171"];
      const x = Math.max(0, Math.min(1, t)) * 2;
      const i = Math.min(1, Math.floor(x));
      const f = x - i;
      const a = stops[i].match(/\w\w/g)!.map((h2) => parseInt(h2, 16));
      const b = stops[i + 1].match(/\w\w/g)!.map((h2) => parseInt(h2, 16));
      return `#${a.map((v, k) => Math.round(v + (b[k] - v) * f).toString(16).padStart(2, "0")).join("")}`;
    };
    if (mode === "version") {
      const counts = new Map<string, number>();
      for (const a of g.nodes.values()) counts.set(String(a.version ?? "unknown"), (counts.get(String(a.version ?? "unknown")) ?? 0) + 1);
      const order = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([v]) => v);
      const colourOf = (v: string) => (order.indexOf(v) < PALETTE.length - 1 ? PALETTE[order.indexOf(v)] : "#64748b");
      graph.forEachNode((id) => graph.setNodeAttribute(id, "color", colourOf(String(g.nodes.get(id)?.version ?? "unknown"))));
      for (const v of order.slice(0, PALETTE.length - 1)) legend.push([colourOf(v), `${v} (${counts.get(v)})`]);
      if (order.length >= PALETTE.length) legend.push(["#64748b", "other versions"]);
    } else if (mode === "latency" || mode === "degree") {
      const val = (id: string) => {
        const a = g.nodes.get(id) ?? {};
        return mode === "latency" ? Number(a.p75SCPFirstToSelfLatencyMs ?? NaN) : graph.degree(id);
      };
      const vals = graph.nodes().map(val).filter(Number.isFinite).sort((a, b) => a - b);
      const hi = vals[Math.floor(vals.length * 0.95)] ?? 1;
      graph.forEachNode((id) => {
        const v = val(id);
        graph.setNodeAttribute(id, "color", Number.isFinite(v) ? ramp(v / (hi || 1)) : "#475569");
      });
      const unit = mode === "latency" ? " ms" : " peers";
      legend.push(["#4ade80", `0${unit}`], ["#fbbf24", `${Math.round(hi / 2)}${unit}`], ["#f87171", `≥ ${Math.round(hi)}${unit}`], ["#475569", "no data"]);
    } else {
      graph.forEachNode((id) => {
        const a = graph.getNodeAttributes(id);
        graph.setNodeAttribute(id, "color", a.dead ? "#7f1d1d" : g.nodes.get(id)?.isValidator === true ? "#38bdf8" : "#94a3b8");
      });
      legend.push(["#38bdf8", "validator"], ["#94a3b8", "answered"], ["#7f1d1d", "did not answer"]);
    }
    colourLegend.replaceChildren(...legend.map(([c, l]) => h("span", { style: `--sw:${c}` }, l)));
  }
  colourSel.addEventListener("change", recolour);

  function show(g: SurveyGraph): void {
    if (!hasWebGL()) {
      toast(NO_WEBGL, true);
      return;
    }
    data = g;
    selected = null;
    neighbours = new Set();
    graph = new Graph({ type: "directed", multi: false });
    const degree = new Map<string, number>();
    for (const e of g.edges) {
      degree.set(e.from, (degree.get(e.from) ?? 0) + 1);
      degree.set(e.to, (degree.get(e.to) ?? 0) + 1);
    }
    const n = g.nodes.size;
    let i = 0;
    for (const [id, a] of g.nodes) {
      const ang = (2 * Math.PI * i++) / n;
      const dead = g.unresponsive.has(id);
      const validator = a.isValidator === true;
      graph.addNode(id, {
        x: Math.cos(ang) + (i % 7) * 0.01,
        y: Math.sin(ang),
        size: Math.min(14, (n < 80 ? 5 : 2.5) + Math.sqrt(degree.get(id) ?? 0) * 1.4),
        color: dead ? "#7f1d1d" : validator ? "#38bdf8" : "#94a3b8",
        label: shortId(id, 4),
        dead,
      });
    }
    for (const e of g.edges) {
      if (e.from === e.to || graph.hasDirectedEdge(e.from, e.to)) continue;
      graph.addDirectedEdge(e.from, e.to, { ...e.attrs, size: 0.7, color: "#334155" });
    }
    if (n > 1) {
      forceAtlas2.assign(graph, { iterations: n > 800 ? 80 : 200, settings: { ...forceAtlas2.inferSettings(graph), barnesHutOptimize: n > 300, gravity: 1.2, scalingRatio: 6 } });
    }
    renderer?.kill();
    emptyEl.hidden = true;
    renderer = new Sigma(graph, graphEl, {
      enableEdgeEvents: true,
      renderEdgeLabels: false,
      labelColor: { color: "#cbd5e1" },
      labelSize: 11,
      labelRenderedSizeThreshold: n < 80 ? 0 : 9,
      defaultEdgeType: "line",
      defaultDrawNodeHover: drawHover,
      zIndex: true,
      nodeReducer: (node, d) => {
        const res = { ...d };
        if (selected && node !== selected && !neighbours.has(node)) {
          res.color = "#273449";
          res.label = "";
          res.zIndex = 0;
        } else if (selected) res.zIndex = 1;
        if (node === selected || node === hovered) {
          res.highlighted = true;
          res.zIndex = 2;
        }
        return res;
      },
      edgeReducer: (edge, d) => {
        const res = { ...d };
        if (selected) {
          const [a, b] = graph.extremities(edge);
          if (a !== selected && b !== selected) res.hidden = true;
          else {
            res.color = "#38bdf8";
            res.size = 1.4;
          }
        }
        return res;
      },
    });
    renderer.on("enterNode", ({ node }) => {
      hovered = node;
      tooltip.replaceChildren(nodeCard(node));
      tooltip.hidden = false;
      renderer?.refresh({ skipIndexation: true });
    });
    renderer.on("leaveNode", () => {
      hovered = null;
      tooltip.hidden = true;
      renderer?.refresh({ skipIndexation: true });
    });
    renderer.on("enterEdge", ({ edge }) => {
      tooltip.replaceChildren(edgeCard(edge));
      tooltip.hidden = false;
    });
    renderer.on("leaveEdge", () => (tooltip.hidden = true));
    renderer.on("clickNode", ({ node }) => select(node));
    renderer.on("clickStage", () => select(null));
    renderer.getMouseCaptor().on("mousemovebody", (e) => {
      tooltip.style.left = `${Math.min(e.x + 14, graphEl.clientWidth - 300)}px`;
      tooltip.style.top = `${Math.min(e.y + 14, graphEl.clientHeight - 160)}px`;
    });
    recolour();
    renderSummary();
    root.dataset.nodes = String(graph.order);
    root.dataset.edges = String(graph.size);
    toast(`${g.source}: ${fmtNum(graph.order)} nodes, ${fmtNum(graph.size)} links`);
  }

  function renderSummary(): void {
    if (!data) return;
    const g = data;
    const versions = new Map<string, number>();
    for (const [id, a] of g.nodes) if (!g.unresponsive.has(id) || a.version) versions.set(String(a.version ?? "unknown"), (versions.get(String(a.version ?? "unknown")) ?? 0) + 1);
    const validators = [...g.nodes.values()].filter((a) => a.isValidator === true).length;
    const top = [...versions.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
    summary.replaceChildren(
      h("div", { class: "hint" }, g.source),
      h(
        "dl",
        { class: "kv", style: "margin-top:6px" },
        h("dt", {}, "nodes"),
        h("dd", { "data-testid": "topo-node-count" }, String(graph.order)),
        h("dt", {}, "links"),
        h("dd", { "data-testid": "topo-edge-count" }, String(graph.size)),
        h("dt", {}, "answered"),
        h("dd", {}, `${graph.order - g.unresponsive.size} (${validators} validators)`),
        h("dt", {}, "mean degree"),
        h("dd", {}, graph.order ? ((2 * graph.size) / graph.order).toFixed(1) : "–"),
        ...top.flatMap(([v, c]) => [h("dt", {}, c === top[0][1] && v === top[0][0] ? "versions" : ""), h("dd", {}, `${v} ×${c}`)]),
      ),
    );
    unresponsiveHead.textContent = `Unresponsive nodes (${g.unresponsive.size})`;
    unresponsiveList.replaceChildren(
      ...(g.unresponsive.size ? [...g.unresponsive].sort().map((id) => h("li", { tabindex: 0, title: id, "data-id": id }, id)) : [h("li", { class: "empty" }, "Every node answered.")]),
    );
  }
  unresponsiveList.addEventListener("click", (e) => {
    const id = (e.target as HTMLElement).closest("li")?.dataset.id;
    if (id) select(id, true);
  });
  unresponsiveList.addEventListener("keydown", (e) => {
    const id = (e.target as HTMLElement).closest("li")?.dataset.id;
    if (id && e.key === "Enter") select(id, true);
  });

  function nodeCard(id: string): HTMLElement {
    const a = graph.getNodeAttributes(id);
    const attrs = data?.nodes.get(id) ?? {};
    const dl = h("dl", { class: "kv" });
    const add = (k: string, v: string) => dl.append(h("dt", {}, k), h("dd", {}, v));
    add("node", id);
    if (a.dead) add("status", "did not answer the survey");
    add("links", `${graph.inDegree(id)} in, ${graph.outDegree(id)} out`);
    for (const [k, v] of Object.entries(attrs)) if (k !== "label") add(NODE_LABELS[k] ?? k, fmtAttr(k, v));
    return h("div", {}, dl);
  }

  function edgeCard(edge: string): HTMLElement {
    const [a, b] = graph.extremities(edge);
    const attrs = graph.getEdgeAttributes(edge) as Attrs;
    const dl = h("dl", { class: "kv" });
    const add = (k: string, v: string) => dl.append(h("dt", {}, k), h("dd", {}, v));
    add("from", shortId(a, 6));
    add("to", shortId(b, 6));
    for (const [k, v] of Object.entries(attrs)) if (!["size", "color", "label", "type"].includes(k)) add(k, fmtAttr(k, v));
    const uf = Number(attrs.uniqueFloodMessageRecv ?? 0);
    const df = Number(attrs.duplicateFloodMessageRecv ?? 0);
    if (uf + df > 0) add("flood duplicates", `${((df / (uf + df)) * 100).toFixed(1)}%`);
    return h("div", {}, dl);
  }

  function select(id: string | null, focus = false): void {
    if (id && !graph.hasNode(id)) return;
    selected = id;
    neighbours = new Set(id ? graph.neighbors(id) : []);
    detail.replaceChildren(id ? h("div", {}, nodeCard(id), h("div", { class: "hint", style: "margin-top:6px" }, `${neighbours.size} neighbours highlighted · Esc clears`)) : h("div", { class: "hint" }, "Hover a node or link for its statistics; click a node for its neighbourhood."));
    root.dataset.selected = id ?? "";
    if (id && focus && renderer) {
      const d = renderer.getNodeDisplayData(id);
      if (d) void renderer.getCamera().animate({ x: d.x, y: d.y, ratio: Math.min(1, renderer.getCamera().ratio) }, { duration: 500 });
    }
    renderer?.refresh({ skipIndexation: true });
  }

  // ---------- search ----------
  function search(): void {
    const q = searchIn.value.trim().toUpperCase();
    if (!q || !data) {
      results.replaceChildren();
      return;
    }
    const hits = graph.nodes().filter((id) => id.toUpperCase().includes(q)).slice(0, 50);
    results.replaceChildren(...(hits.length ? hits.map((id, k) => h("li", { role: "option", tabindex: 0, "data-id": id, "aria-selected": String(k === 0), title: id }, id)) : [h("li", { class: "empty" }, "No node ID contains that.")]));
    root.dataset.searchHits = String(hits.length);
  }
  searchIn.addEventListener("input", search);
  searchIn.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      const first = results.querySelector<HTMLElement>("li[data-id]");
      if (first) select(first.dataset.id!, true);
    } else if (e.key === "ArrowDown") {
      e.preventDefault();
      results.querySelector<HTMLElement>("li[data-id]")?.focus();
    }
  });
  results.addEventListener("click", (e) => {
    const id = (e.target as HTMLElement).closest("li")?.dataset.id;
    if (id) select(id, true);
  });
  results.addEventListener("keydown", (e) => {
    const li = (e.target as HTMLElement).closest("li");
    if (!li) return;
    if (e.key === "Enter") select(li.dataset.id!, true);
    if (e.key === "ArrowDown") (li.nextElementSibling as HTMLElement | null)?.focus();
    if (e.key === "ArrowUp") ((li.previousElementSibling as HTMLElement | null) ?? searchIn).focus();
  });
  document.addEventListener("keydown", (e) => {
    if (!visible) return;
    if (e.key === "Escape") select(null);
    if (e.key === "/" && !(e.target as HTMLElement).closest("input, textarea, select")) {
      e.preventDefault();
      searchIn.focus();
    }
  });

  // ---------- survey run (through the admin API; CORS lets this page in) ----------
  async function runSurvey(): Promise<void> {
    const admin = nodeSel.value;
    if (!admin) return;
    surveyBtn.disabled = true;
    const say = (s: string) => (surveyStatus.textContent = s);
    const get = async (path: string) => {
      const r = await fetch(`${admin}${path}`);
      const t = await r.text();
      if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${t}`);
      return t;
    };
    try {
      const nonce = Math.floor(Math.random() * 2 ** 31);
      say("starting the collecting phase…");
      const started = await get(`/startsurveycollecting?nonce=${nonce}`);
      if (!/start survey collecting/i.test(started)) throw new Error(started);
      const secs = Math.max(2, Number(collectIn.value) || 8);
      for (let s = secs; s > 0; s--) {
        say(`collecting: ${s} s left`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      await get("/stopsurveycollecting");
      say("reporting: asking nodes for their peers…");
      await new Promise((r) => setTimeout(r, 2000));
      const peers = JSON.parse(await get("/peers?fullkeys=true")) as { authenticated_peers: { inbound: { id: string }[]; outbound: { id: string }[] } };
      const asked = new Set<string>();
      const queue = [...peers.authenticated_peers.inbound, ...peers.authenticated_peers.outbound].map((p) => p.id).filter(Boolean);
      const deadline = Date.now() + 120_000;
      let result: Record<string, unknown> = {};
      let stable = 0;
      while (Date.now() < deadline) {
        for (const id of queue.splice(0)) {
          if (asked.has(id)) continue;
          asked.add(id);
          await get(`/surveytopologytimesliced?node=${id}&inboundpeerindex=0&outboundpeerindex=0`).catch(() => "");
        }
        await new Promise((r) => setTimeout(r, 2000));
        result = JSON.parse(await get("/getsurveyresult")) as Record<string, unknown>;
        const topo = (result.topology ?? {}) as Record<string, unknown>;
        const answered = Object.values(topo).filter((v) => v && typeof v === "object").length;
        for (const v of Object.values(topo)) {
          if (!v || typeof v !== "object") continue;
          for (const list of [(v as Record<string, unknown>).inboundPeers, (v as Record<string, unknown>).outboundPeers]) {
            const arr = Array.isArray(list) ? list : Object.keys((list as object) ?? {}).map((nodeId) => ({ nodeId }));
            for (const p of arr as { nodeId: string }[]) if (p.nodeId && !asked.has(p.nodeId) && !(p.nodeId in topo)) queue.push(p.nodeId);
          }
        }
        say(`reporting: ${answered} of ${asked.size + 1} nodes answered…`);
        if (answered >= asked.size + 1 || (!queue.length && ++stable > 15)) break;
        if (queue.length) stable = 0;
      }
      show(parseSurveyJson(result, `survey from ${admin} (nonce ${nonce})`));
      say("done");
    } catch (e) {
      say(`survey failed: ${String(e)}`);
      toast(`Survey failed: ${String(e)}`, true);
    } finally {
      surveyBtn.disabled = false;
    }
  }
  surveyBtn.addEventListener("click", () => void runSurvey());

  let visible = false;
  return {
    show() {
      visible = true;
      renderer?.refresh();
    },
    hide() {
      visible = false;
    },
  };
}
