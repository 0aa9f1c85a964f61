// Simulation view: host-wasm's deterministic simulator (in a worker) drawn as a graph.
// Frames on links fly along the edges in their class's colour (SCP, adverts/demands,
// fetches, transactions); nodes glow when they first see an item; edges thicken with
// utilisation and turn red while a side waits for flow-control credit. History is kept
// (bounded) so virtual time can be scrubbed back; seed + time + trace hash replay a run
// exactly, here or natively with `stellar-overlay simulate`.

import Graph from "graphology";
import forceAtlas2 from "graphology-layout-forceatlas2";
import Sigma from "sigma";
import type { DemoNodeInfo, DemoTotals } from "host-wasm";
import { CLASS_COLOURS, CLASS_LABELS, copy, field, fmtBytes, fmtMs, fmtNum, h, shortId, toast, type MsgClass } from "../ui/dom";
import { LineChart, type Series } from "../ui/chart";
import { drawHover, hasWebGL, icon, NO_WEBGL } from "../ui/graph";
import { DEFAULTS, nativeCommand, paramsFromQuery, paramsToQuery, type Frame, type FromWorker, type Params, type ToWorker } from "./protocol";
import type { View } from "../main";

const CLASSES: MsgClass[] = ["scp", "advert", "fetch", "tx", "control"];
/** StellarMessage type → class index into CLASSES. */
function classIndex(t: number): number {
  switch (t) {
    case 11: // SCP_MESSAGE
    case 12: // GET_SCP_STATE
      return 0;
    case 18: // FLOOD_ADVERT
    case 19: // FLOOD_DEMAND
      return 1;
    case 3: // DONT_HAVE
    case 6: // GET_TX_SET
    case 7: // TX_SET
    case 9: // GET_SCP_QUORUMSET
    case 10: // SCP_QUORUMSET
    case 17: // GENERALIZED_TX_SET
      return 2;
    case 8: // TRANSACTION
      return 3;
    default:
      return 4;
  }
}
/** Which class wins an edge's colour when several are in flight. */
const CLASS_RANK = [5, 3, 4, 2, 1];

const MAX_FRAME_RECORDS = 1_200_000;
const MAX_SEEN_RECORDS = 600_000;
const MAX_LINK_SNAPSHOTS = 400;
const GLOW_MS = 450;
const BUCKET_MS = 1000;

interface FrameChunk {
  minSent: number;
  maxSent: number;
  maxArrive: number;
  data: Float32Array; // sentMs, arriveMs, from, to, class, bytes
}
interface SeenChunk {
  t0: number;
  t1: number;
  data: Float32Array; // atMs, node, isScp, latencyMs
}
interface Sample {
  t: number;
  totals: DemoTotals;
}
interface LinkSnapshot {
  t: number;
  util: Float32Array; // per edge, 0..1
  blocked: Uint8Array; // per edge
  rate: Float32Array; // per edge, bytes/s (both directions)
}
interface Bucket {
  scp: number[];
  tx: number[];
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const i = q * (sorted.length - 1);
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

function hexToRgb(c: string): [number, number, number] {
  const n = parseInt(c.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}
/** The graph panel's background. */
const PANEL = "#111a2e";

const mixCache = new Map<string, string>();
/** `a` blended towards `b` by `t` (quantised to twentieths, cached: reducers call this per node per frame). */
function mix(a: string, b: string, t: number): string {
  const q = Math.round(t * 20);
  const key = `${a}${b}${q}`;
  let c = mixCache.get(key);
  if (!c) {
    c = mixExact(a, b, q / 20);
    mixCache.set(key, c);
  }
  return c;
}
function mixExact(a: string, b: string, t: number): string {
  const A = hexToRgb(a);
  const B = hexToRgb(b);
  const m = A.map((x, i) => Math.round(x + (B[i] - x) * t));
  return `#${m.map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

export async function mountSim(root: HTMLElement): Promise<View> {
  const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  const send = (m: ToWorker) => worker.postMessage(m);

  // ---------- state ----------
  let params: Params = { ...DEFAULTS };
  let built: Extract<FromWorker, { type: "built" }> | null = null;
  let graph = new Graph({ type: "undirected" });
  let renderer: Sigma | null = null;
  let edgeIndex = new Int32Array(0); // a*n+b → edge index + 1
  let edgeKeys: string[] = [];
  let validatorSet = new Set<number>();
  let frameChunks: FrameChunk[] = [];
  let frameRecords = 0;
  let seenChunks: SeenChunk[] = [];
  let seenRecords = 0;
  let samples: Sample[] = [];
  let buckets = new Map<number, Bucket>();
  let latSeries: { scp50: Series["points"]; scp95: Series["points"]; tx50: Series["points"]; tx95: Series["points"] } = { scp50: [], scp95: [], tx50: [], tx95: [] };
  let dupSeries: Series["points"] = [];
  let lastClosedBucket = -1;
  let snapshots: LinkSnapshot[] = [];
  let prevLinks: { t: number; bytes: Map<number, number> } | null = null;
  let headUs = 0;
  let headTrace = "";
  let running = false;
  let follow = true;
  let viewMs = 0;
  let lost = 0;
  let rate = 0;
  let lastTotals: DemoTotals | null = null;
  let frameCost = 0;
  let historyStart = 0;
  let hovered: number | null = null;
  let selectedNode: number | null = null;
  let hoveredEdge: number | null = null;
  // per-render state read by the reducers
  let nodeGlow = new Float32Array(0);
  let nodeGlowClass = new Uint8Array(0);
  let edgeClass = new Int8Array(0);
  let edgeUtil: Float32Array = new Float32Array(0);
  let edgeBlocked: Uint8Array = new Uint8Array(0);
  let neighbours = new Set<string>();
  let pendingBuild: { params: Params; us?: number } | null = null;

  // ---------- controls ----------
  const topoSel = h("select", { "data-testid": "sim-topology" }, h("option", { value: "tiered" }, "tiered (validators + watchers)"), h("option", { value: "random" }, "random regular"), h("option", { value: "ring" }, "ring"));
  const num = (value: number, min: number, max: number, step = 1, testid = "") => h("input", { type: "number", value, min, max, step, "data-testid": testid || undefined }) as HTMLInputElement;
  const nodesIn = num(DEFAULTS.nodes, 2, 1000, 1, "sim-nodes");
  const nodesRange = h("input", { type: "range", min: 10, max: 1000, step: 10, value: DEFAULTS.nodes, "aria-label": "Node count slider" }) as HTMLInputElement;
  const validatorsIn = num(DEFAULTS.validators, 1, 100);
  const perWatcherIn = num(DEFAULTS.perWatcher, 1, 20);
  const degreeIn = num(DEFAULTS.degree, 2, 30);
  const latencyIn = num(DEFAULTS.latencyMs, 0, 2000, 1, "sim-latency");
  const jitterIn = num(DEFAULTS.jitterMs, 0, 1000);
  const lossIn = num(0, 0, 50, 0.1, "sim-loss");
  const bwSel = h(
    "select",
    {},
    ...[
      [0, "unlimited"],
      [10_000_000, "10 MB/s"],
      [1_000_000, "1 MB/s"],
      [250_000, "250 kB/s"],
      [64_000, "64 kB/s"],
      [16_000, "16 kB/s"],
      [4_000, "4 kB/s"],
    ].map(([v, l]) => h("option", { value: v }, String(l))),
  );
  const txIn = num(DEFAULTS.txPerSec, 0, 2000, 1, "sim-tx");
  const slotIn = num(DEFAULTS.slotMs, 0, 60000, 100, "sim-slot");
  const seedIn = num(DEFAULTS.seed, 0, 2 ** 32 - 1, 1, "sim-seed");
  const diceBtn = h("button", { class: "small", title: "A random seed", "aria-label": "Random seed" }, icon("dice"), " random");
  const buildBtn = h("button", { class: "primary", "data-testid": "sim-build" }, "Build network");
  const PRESETS: [string, string, Partial<Params>][] = [
    ["stellar", "Stellar-like: 20 validators, 300 watchers", { topology: "tiered", nodes: 320, validators: 20, perWatcher: 3, latencyMs: 60, jitterMs: 20, lossPpm: 0, bandwidth: 0, txPerSec: 50, slotMs: 5000 }],
    ["big", "1,000 nodes, random 8-regular", { topology: "random", nodes: 1000, degree: 8, validators: 10, latencyMs: 40, jitterMs: 10, lossPpm: 0, bandwidth: 0, txPerSec: 30, slotMs: 4000 }],
    ["congested", "Congested links: flow control at work", { topology: "tiered", nodes: 60, validators: 6, perWatcher: 3, latencyMs: 30, jitterMs: 5, lossPpm: 0, bandwidth: 16_000, txPerSec: 400, slotMs: 1000 }],
    ["lossy", "Lossy ring: retransmissions and long paths", { topology: "ring", nodes: 80, validators: 4, latencyMs: 30, jitterMs: 10, lossPpm: 20_000, bandwidth: 0, txPerSec: 10, slotMs: 3000 }],
  ];
  const presetSel = h("select", { "aria-label": "Presets", "data-testid": "sim-preset" }, h("option", { value: "" }, "Presets…"), ...PRESETS.map(([k, label]) => h("option", { value: k }, label)));
  presetSel.addEventListener("change", () => {
    const p = PRESETS.find(([k]) => k === presetSel.value);
    if (!p) return;
    const next = { ...readParams(), ...p[2] };
    writeParams(next);
    presetSel.value = "";
    build(next);
  });
  const perWatcherField = field("links per watcher", perWatcherIn);
  const degreeField = field("peers per node", degreeIn);

  const runBtn = h("button", { class: "primary", "data-testid": "sim-run", title: "Run / pause (Space)", disabled: true }, icon("play"), " Run");
  const stepBtn = h("button", { "data-testid": "sim-step", title: "Step forward (→); ← steps back through the history", disabled: true }, icon("step"), " Step");
  const stepSel = h("select", { "aria-label": "Step size", "data-testid": "sim-step-size" }, ...[10, 50, 100, 500, 1000, 5000].map((v) => h("option", { value: v }, fmtMs(v))));
  stepSel.value = "100";
  const speedSel = h("select", { "aria-label": "Speed", "data-testid": "sim-speed" }, ...[0.1, 0.25, 0.5, 1, 2, 5, 10, Infinity].map((v) => h("option", { value: v }, Number.isFinite(v) ? `${v}×` : "max")));
  speedSel.value = "1";
  const scrub = h("input", { type: "range", class: "scrub", min: 0, max: 0, step: 1, value: 0, "aria-label": "Virtual time", "data-testid": "sim-scrub", disabled: true }) as HTMLInputElement;
  const liveBtn = h("button", { class: "small", title: "Back to the newest time (End)", disabled: true }, "Live");
  const clock = h("span", { class: "clock", "data-testid": "sim-time", "aria-live": "off" }, "0.000 s");
  const traceEl = h("div", { class: "trace", "data-testid": "sim-trace" }, "–");
  const traceAt = h("div", { class: "hint", "data-testid": "sim-trace-at" }, "");
  const nativeEl = h("code", { class: "trace", style: "display:block;user-select:all;margin-top:4px", "data-testid": "sim-native-text" }, "");
  const shareBtn = h("button", { class: "small", disabled: true }, "Copy link");
  const cmdBtn = h("button", { class: "small", disabled: true, "data-testid": "sim-native" }, "Copy native command");
  const replayBtn = h("button", { class: "small", disabled: true, title: "Rebuild from the seed and run to the same time: the trace hash must match" }, "Replay from seed");

  const statEls = new Map<string, HTMLElement>();
  const stat = (key: string, label: string) => {
    const n = h("div", { class: "n", "data-testid": `sim-stat-${key}` }, "–");
    statEls.set(key, n);
    return h("div", { class: "stat" }, n, h("div", { class: "l" }, label));
  };
  const latCanvas = h("canvas", { class: "chart", "aria-label": "Delivery latency chart", role: "img" });
  const dupCanvas = h("canvas", { class: "chart", "aria-label": "Duplicate ratio chart", role: "img", style: "height:90px" });
  const latChart = new LineChart(latCanvas, { yLabel: (v) => fmtMs(v), xLabel: (v) => `${(v / 1000).toFixed(0)} s` });
  const dupChart = new LineChart(dupCanvas, { yLabel: (v) => `${(v * 100).toFixed(0)}%`, xLabel: (v) => `${(v / 1000).toFixed(0)} s`, yMax: 1 });
  const selectionHint = "Hover a node or link for its state; click a node (or type its number and Enter) to highlight its neighbours.";
  const detailBox = h("div", { "data-testid": "sim-detail" }, h("div", { class: "hint" }, selectionHint));
  // The keyboard's way to a node: its number, Enter (Escape clears the selection).
  const inspectIn = h("input", { type: "number", min: 0, step: 1, placeholder: "node #", "aria-label": "Select node by number", "data-testid": "sim-inspect", style: "width:8em" }) as HTMLInputElement;
  inspectIn.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      const n = Number(inspectIn.value);
      if (inspectIn.value !== "" && graph.hasNode(String(n))) void selectNode(n);
      else toast(`No node ${inspectIn.value} in this network (0–${graph.order - 1})`);
    } else if (e.key === "Escape") {
      void selectNode(null);
    }
  });

  const graphEl = h("div", { class: "graph", "data-testid": "sim-graph" });
  const overlay = h("canvas", { class: "graph-overlay" });
  const hudTime = h("b", {}, "0.000 s");
  const hudNote = h("span", {});
  const hudCount = h("b", {}, "0");
  const hud = h("div", { class: "graph-hud" }, h("div", {}, "t = ", hudTime, hudNote), h("div", {}, hudCount, " frames in flight"));
  const tooltip = h("div", { class: "tooltip", hidden: true });
  const busy = h("div", { class: "busy", hidden: true }, "Building…");
  const legend = h("div", { class: "graph-legend legend" }, ...CLASSES.map((c) => h("span", { style: `--sw:${CLASS_COLOURS[c]}` }, CLASS_LABELS[c])), h("span", { style: "--sw:#ef4444" }, "waiting for credit"));
  const empty = h("div", { class: "busy" }, h("div", { style: "text-align:center" }, h("div", {}, "Choose a topology and press “Build network”."), h("div", { class: "hint" }, "Up to 1,000 nodes; the simulator runs in a worker.")));

  root.append(
    h(
      "div",
      { class: "layout sim" },
      h(
        "div",
        { class: "panel controls col" },
        h("h2", {}, "Network"),
        presetSel,
        field("Topology", topoSel),
        h("div", { class: "fields" }, field("nodes", nodesIn), field("validators", validatorsIn), h("div", { class: "wide" }, nodesRange), perWatcherField, degreeField),
        h("h2", { style: "margin-top:6px" }, "Links"),
        h("div", { class: "fields" }, field("latency (ms)", latencyIn), field("jitter (ms)", jitterIn), field("loss (%)", lossIn), field("bandwidth", bwSel)),
        h("h2", { style: "margin-top:6px" }, "Workload"),
        h("div", { class: "fields" }, field("transactions / s", txIn), field("SCP slot (ms)", slotIn)),
        h("div", { class: "fields" }, field("seed", seedIn), h("div", { class: "field", style: "justify-content:flex-end" }, diceBtn)),
        buildBtn,
        h("div", { class: "hint" }, "Every slot each validator floods a NOMINATE, then an EXTERNALIZE half a slot later; transactions go to random nodes and spread in pull mode (adverts, demands)."),
        h("h2", { style: "margin-top:8px" }, "Replay"),
        h("div", { class: "hint" }, "Seed"),
        h("div", { class: "trace", "data-testid": "sim-seed-shown" }, "–"),
        h("div", { class: "hint" }, "Trace hash (SHA-256 of every delivery and event)"),
        traceEl,
        traceAt,
        h("div", { class: "row" }, shareBtn, cmdBtn, replayBtn),
        h("details", {}, h("summary", { class: "hint" }, "Replay natively"), nativeEl),
      ),
      h("div", { class: "panel graph-wrap" }, graphEl, overlay, hud, legend, tooltip, busy, empty),
      h(
        "div",
        { class: "col" },
        h("div", { class: "panel" }, h("h2", {}, "Network"), h("div", { class: "stat-grid" }, stat("nodes", "nodes"), stat("connections", "connections"), stat("tx", "transactions injected"), stat("scp", "SCP messages injected"), stat("everywhere", "items everywhere"), stat("speed", "virtual speed"))),
        h(
          "div",
          { class: "panel" },
          h("h2", {}, "Delivery latency (injection → node)"),
          latCanvas,
          h("div", { class: "legend" }, h("span", { style: `--sw:${CLASS_COLOURS.scp}` }, "SCP p50"), h("span", { style: "--sw:#f9a8d4" }, "SCP p95"), h("span", { style: `--sw:${CLASS_COLOURS.tx}` }, "tx p50"), h("span", { style: "--sw:#ddd6fe" }, "tx p95")),
        ),
        h("div", { class: "panel" }, h("h2", {}, "Duplicate ratio of flooded messages"), dupCanvas, h("div", { class: "hint", "data-testid": "sim-dup" }, "")),
        h("div", { class: "panel scroll grow" }, h("h2", {}, "Selection"), h("div", { class: "row" }, inspectIn), detailBox),
      ),
      h(
        "div",
        { class: "panel transport", role: "toolbar", "aria-label": "Virtual time" },
        runBtn,
        stepBtn,
        stepSel,
        h("label", {}, "speed"),
        speedSel,
        clock,
        scrub,
        liveBtn,
        h("span", { class: "hint", "data-testid": "sim-history" }, ""),
        h("span", { class: "hint", title: "Keyboard" }, h("kbd", {}, "Space"), " run/pause ", h("kbd", {}, "←"), h("kbd", {}, "→"), " step ", h("kbd", {}, "Home"), h("kbd", {}, "End")),
      ),
    ),
  );

  function syncTopologyFields(): void {
    perWatcherField.hidden = topoSel.value !== "tiered";
    degreeField.hidden = topoSel.value !== "random";
  }
  topoSel.addEventListener("change", syncTopologyFields);
  nodesRange.addEventListener("input", () => (nodesIn.value = nodesRange.value));
  nodesIn.addEventListener("input", () => (nodesRange.value = nodesIn.value));
  diceBtn.addEventListener("click", () => (seedIn.value = String(Math.floor(Math.random() * 2 ** 31))));

  function readParams(): Params {
    const int = (el: HTMLInputElement, lo: number, hi: number, d: number) => {
      const v = Math.round(Number(el.value));
      return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : d;
    };
    return {
      seed: int(seedIn, 0, 2 ** 32 - 1, 1),
      topology: topoSel.value as Params["topology"],
      nodes: int(nodesIn, 2, 1000, 200),
      validators: int(validatorsIn, 1, 100, 10),
      perWatcher: int(perWatcherIn, 1, 20, 3),
      degree: int(degreeIn, 2, 30, 8),
      latencyMs: int(latencyIn, 0, 2000, 50),
      jitterMs: int(jitterIn, 0, 1000, 10),
      bandwidth: Number(bwSel.value),
      lossPpm: Math.round(Math.min(50, Math.max(0, Number(lossIn.value) || 0)) * 10_000),
      txPerSec: int(txIn, 0, 2000, 20),
      slotMs: int(slotIn, 0, 60000, 5000),
    };
  }
  function writeParams(p: Params): void {
    topoSel.value = p.topology;
    nodesIn.value = nodesRange.value = String(p.nodes);
    validatorsIn.value = String(p.validators);
    perWatcherIn.value = String(p.perWatcher);
    degreeIn.value = String(p.degree);
    latencyIn.value = String(p.latencyMs);
    jitterIn.value = String(p.jitterMs);
    lossIn.value = String(p.lossPpm / 10_000);
    if (![...bwSel.options].some((o) => o.value === String(p.bandwidth))) bwSel.append(h("option", { value: p.bandwidth }, `${fmtBytes(p.bandwidth)}/s`));
    bwSel.value = String(p.bandwidth);
    txIn.value = String(p.txPerSec);
    slotIn.value = String(p.slotMs);
    seedIn.value = String(p.seed);
    syncTopologyFields();
  }

  // ---------- building ----------
  function build(p: Params, us?: number): void {
    if (!hasWebGL()) {
      toast(NO_WEBGL, true);
      return;
    }
    params = p;
    pendingBuild = { params: p, us };
    busy.hidden = false;
    busy.textContent = us ? `Replaying to ${(us / 1e6).toFixed(3)} s…` : `Building ${p.nodes} nodes…`;
    empty.hidden = true;
    running = false;
    follow = true;
    frameChunks = [];
    frameRecords = 0;
    seenChunks = [];
    seenRecords = 0;
    samples = [];
    buckets = new Map();
    latSeries = { scp50: [], scp95: [], tx50: [], tx95: [] };
    dupSeries = [];
    lastClosedBucket = -1;
    snapshots = [];
    prevLinks = null;
    lost = 0;
    historyStart = 0;
    headUs = 0;
    selectedNode = null;
    neighbours = new Set();
    root.dataset.ready = "false";
    for (const b of [runBtn, stepBtn, shareBtn, cmdBtn, replayBtn]) b.disabled = true;
    send({ type: "build", params: p, runToUs: us });
  }

  function layout(g: Graph, b: NonNullable<typeof built>): void {
    const n = b.nodes;
    const vs = [...b.validators];
    if (b.params.topology === "tiered") {
      const vIndex = new Map(vs.map((v, i) => [v, i]));
      vs.forEach((v, i) => {
        const a = (2 * Math.PI * i) / vs.length;
        g.mergeNodeAttributes(String(v), { x: Math.cos(a), y: Math.sin(a) });
      });
      // Watchers around the core, each near the first validator it connects to.
      const watchers: [number, number][] = [];
      for (let i = 0; i < n; i++) {
        if (validatorSet.has(i)) continue;
        let first = 0;
        for (const nb of g.neighbors(String(i))) {
          const vi = vIndex.get(Number(nb));
          if (vi !== undefined) {
            first = vi;
            break;
          }
        }
        watchers.push([i, first]);
      }
      watchers.sort((a, b2) => a[1] - b2[1] || a[0] - b2[0]);
      watchers.forEach(([w], k) => {
        const a = (2 * Math.PI * k) / watchers.length;
        const r = 2.3 + 0.35 * ((k * 7919) % 5) / 4;
        g.mergeNodeAttributes(String(w), { x: r * Math.cos(a), y: r * Math.sin(a) });
      });
    } else {
      for (let i = 0; i < n; i++) {
        const a = (2 * Math.PI * i) / n;
        g.mergeNodeAttributes(String(i), { x: Math.cos(a), y: Math.sin(a) });
      }
      if (b.params.topology === "random") {
        forceAtlas2.assign(g, {
          iterations: n > 500 ? 60 : 120,
          settings: { ...forceAtlas2.inferSettings(g), barnesHutOptimize: n > 250, gravity: 1.5 },
        });
      }
    }
  }

  function onBuilt(b: Extract<FromWorker, { type: "built" }>): void {
    built = b;
    params = b.params;
    validatorSet = new Set(b.validators);
    const n = b.nodes;
    graph = new Graph({ type: "undirected" });
    for (let i = 0; i < n; i++) {
      const v = validatorSet.has(i);
      graph.addNode(String(i), { x: 0, y: 0, size: v ? 7 : n > 500 ? 2.6 : 3.6, color: v ? "#38bdf8" : "#64748b", label: v ? `validator ${i}` : "", validator: v });
    }
    edgeIndex = new Int32Array(n * n);
    edgeKeys = [];
    for (let k = 0; k < b.edges.length; k += 2) {
      const a = b.edges[k];
      const c = b.edges[k + 1];
      const key = `${a}-${c}`;
      if (graph.hasEdge(String(a), String(c))) continue;
      graph.addEdgeWithKey(key, String(a), String(c), { size: 0.6, color: "#334155", i: edgeKeys.length });
      edgeKeys.push(key);
      edgeIndex[a * n + c] = edgeKeys.length;
      edgeIndex[c * n + a] = edgeKeys.length;
    }
    layout(graph, b);
    nodeGlow = new Float32Array(n);
    nodeGlowClass = new Uint8Array(n);
    edgeClass = new Int8Array(edgeKeys.length).fill(-1);
    edgeUtil = new Float32Array(edgeKeys.length);
    edgeBlocked = new Uint8Array(edgeKeys.length);
    renderer?.kill();
    renderer = new Sigma(graph, graphEl, {
      renderLabels: true,
      labelColor: { color: "#cbd5e1" },
      labelSize: 11,
      labelRenderedSizeThreshold: 6,
      // Edge picking costs a second render pass: hover links on graphs of moderate size;
      // on big ones a selected node lists its links instead.
      enableEdgeEvents: edgeKeys.length <= 1500,
      zIndex: true,
      defaultEdgeColor: "#334155",
      defaultDrawNodeHover: drawHover,
      nodeReducer: (node, data) => {
        const i = Number(node);
        const res = { ...data };
        const g = nodeGlow[i];
        if (g > 0.02) {
          res.color = mix(data.color as string, CLASS_COLOURS[CLASSES[nodeGlowClass[i]]], Math.min(1, g));
          res.size = (data.size as number) * (1 + 0.5 * g);
          res.zIndex = 1;
        }
        if (selectedNode !== null && node !== String(selectedNode) && !neighbours.has(node)) {
          res.color = "#1e293b";
          res.label = "";
        }
        if (node === String(selectedNode) || node === String(hovered)) {
          res.highlighted = true;
          res.zIndex = 2;
        }
        return res;
      },
      edgeReducer: (edge, data) => {
        const res = { ...data };
        const e = Number(graph.getEdgeAttribute(edge, "i"));
        const u = edgeUtil[e] ?? 0;
        res.size = 0.5 + 3 * Math.min(1, u);
        const c = edgeClass[e];
        // Links stay quiet (the particles carry the traffic) except while an SCP message or
        // a fetch crosses them, or a side waits for credit.
        if (edgeBlocked[e]) res.color = "#ef4444";
        // Opaque colours blended over the panel by hand: sigma's WebGL blending brightens
        // translucent edges where they cross.
        else if (c === 0 || c === 2) res.color = mix(PANEL, CLASS_COLOURS[CLASSES[c]], 0.75);
        else if (c >= 0) res.color = mix(PANEL, CLASS_COLOURS[CLASSES[c]], 0.3);
        else res.color = u > 0.01 ? "#3b4760" : "#26314a";
        if (selectedNode !== null) {
          const [a, b2] = graph.extremities(edge);
          if (a !== String(selectedNode) && b2 !== String(selectedNode)) res.hidden = true;
        }
        if (e === hoveredEdge) res.size = (res.size as number) + 2;
        return res;
      },
    });
    wireGraphEvents(renderer);
    renderer.getCamera().on("updated", () => (dirty = true));
    dirty = true;
    root.dataset.renderedNodes = String(graph.order);
    root.dataset.renderedEdges = String(graph.size);
    statEls.get("nodes")!.textContent = fmtNum(n);
    (root.querySelector('[data-testid="sim-seed-shown"]') as HTMLElement).textContent = `${params.seed} (${params.topology}, ${params.nodes} nodes)`;
    writeParams(params);
    busy.hidden = !pendingBuild?.us;
    for (const b2 of [runBtn, stepBtn, shareBtn, cmdBtn, replayBtn]) b2.disabled = false;
    toast(`Built ${n} nodes, ${graph.size} links in ${fmtMs(b.buildMs)}`);
  }

  function wireGraphEvents(r: Sigma): void {
    r.on("enterNode", ({ node }) => {
      hovered = Number(node);
      dirty = true;
      void showNodeTip(hovered);
    });
    r.on("leaveNode", () => {
      hovered = null;
      dirty = true;
      tooltip.hidden = true;
    });
    r.on("enterEdge", ({ edge }) => {
      hoveredEdge = Number(graph.getEdgeAttribute(edge, "i"));
      showEdgeTip(hoveredEdge);
    });
    r.on("leaveEdge", () => {
      hoveredEdge = null;
      tooltip.hidden = true;
    });
    r.on("clickNode", ({ node }) => selectNode(Number(node)));
    r.on("clickStage", () => selectNode(null));
    r.getMouseCaptor().on("mousemovebody", (e) => {
      tooltip.style.left = `${Math.min(e.x + 14, graphEl.clientWidth - 260)}px`;
      tooltip.style.top = `${Math.min(e.y + 14, graphEl.clientHeight - 120)}px`;
    });
  }

  let infoReq = 0;
  const infoWaiters = new Map<number, (i: DemoNodeInfo | null) => void>();
  function nodeInfo(node: number): Promise<DemoNodeInfo | null> {
    const req = ++infoReq;
    send({ type: "nodeInfo", node, req });
    return new Promise((res) => infoWaiters.set(req, res));
  }

  function infoList(info: DemoNodeInfo, node: number): HTMLElement {
    const dl = h("dl", { class: "kv" });
    const add = (k: string, v: unknown) => dl.append(h("dt", {}, k), h("dd", {}, String(v)));
    add("node", `${node} · ${shortId(String(info.node), 6)}`);
    add("role", info.validator ? "validator (originates SCP)" : "watcher");
    add("address", info.address);
    add("peers", info.authenticated);
    add("SCP seen", info.scpSeen);
    add("tx seen", info.txSeen);
    add("flood unique / dup.", `${fmtNum(Number(info.floodUnique))} / ${fmtNum(Number(info.floodDuplicate))}`);
    add("adverts / demands", `${fmtNum(Number(info.advertised))} / ${fmtNum(Number(info.demanded))}`);
    add("items fetched", info.fetched);
    if (info.lastDrop) add("last drop", info.lastDrop);
    return dl;
  }

  async function showNodeTip(node: number): Promise<void> {
    const info = await nodeInfo(node);
    if (hovered !== node || !info) return;
    tooltip.replaceChildren(h("div", { style: "margin-bottom:4px;font-weight:600" }, `Node ${node}`), infoList(info, node), h("div", { class: "hint" }, `state at ${(headUs / 1e6).toFixed(3)} s (newest)`));
    tooltip.hidden = false;
  }

  function edgeInfo(e: number): HTMLElement {
    const a = edgeKeys[e].split("-");
    const snap = snapshotAt(viewMs);
    const s = snap ? { util: snap.util[e], blocked: snap.blocked[e], rate: snap.rate[e] } : null;
    const dl = h("dl", { class: "kv" });
    const add = (k: string, v: unknown) => dl.append(h("dt", {}, k), h("dd", {}, String(v)));
    add("link", `${a[0]} ↔ ${a[1]}`);
    add("traffic", s ? `${fmtBytes(s.rate)}/s` : "–");
    add("utilisation", s ? (params.bandwidth ? `${(s.util * 100).toFixed(1)}% of ${fmtBytes(params.bandwidth)}/s ×2` : `${(s.util * 100).toFixed(0)}% of the busiest link`) : "–");
    add("flow control", s?.blocked ? "a side is waiting for credit" : "credit available");
    const ls = linkDetail.get(edgeKeys[e]);
    if (ls) for (const [dir, d] of ls) add(dir, `credit ${fmtNum(d.creditMsgs)} msgs / ${fmtBytes(d.creditBytes)}, ${d.queued} queued${d.msWithoutCredit ? `, ${fmtMs(d.msWithoutCredit)} without credit` : ""}`);
    return dl;
  }
  function showEdgeTip(e: number): void {
    tooltip.replaceChildren(h("div", { style: "margin-bottom:4px;font-weight:600" }, "Link"), edgeInfo(e));
    tooltip.hidden = false;
  }

  async function selectNode(node: number | null): Promise<void> {
    selectedNode = node;
    neighbours = new Set(node === null ? [] : graph.neighbors(String(node)));
    if (node === null) {
      detailBox.replaceChildren(h("div", { class: "hint" }, selectionHint));
    } else {
      const info = await nodeInfo(node);
      if (info && selectedNode === node) {
        const links = graph.edges(String(node)).map((key) => {
          const e = Number(graph.getEdgeAttribute(key, "i"));
          const other = graph.opposite(String(node), key);
          return h("details", {}, h("summary", { class: "mono" }, `link to ${other}`), edgeInfo(e));
        });
        detailBox.replaceChildren(h("h3", {}, `Node ${node}`), infoList(info, node), h("div", { class: "hint" }, `${neighbours.size} neighbours highlighted · Esc clears`), h("h3", { style: "margin-top:8px" }, "Links"), ...links);
      }
    }
    dirty = true;
  }

  // ---------- frames from the worker ----------
  const linkDetail = new Map<string, [string, { creditMsgs: number; creditBytes: number; queued: number; msWithoutCredit: number }][]>();

  function onLinks(links: Float64Array, tMs: number): void {
    if (!built) return;
    const n = built.nodes;
    const bytes = new Map<number, number>();
    const rateE = new Float32Array(edgeKeys.length);
    const blocked = new Uint8Array(edgeKeys.length);
    linkDetail.clear();
    const dt = prevLinks ? (tMs - prevLinks.t) / 1000 : 0;
    for (let k = 0; k < links.length; k += 8) {
      const from = links[k];
      const to = links[k + 1];
      const e = edgeIndex[from * n + to] - 1;
      bytes.set(from * n + to, links[k + 2]);
      if (e < 0) continue;
      if (dt > 0 && prevLinks) {
        const before = prevLinks.bytes.get(from * n + to) ?? links[k + 2];
        rateE[e] += Math.max(0, links[k + 2] - before) / dt;
      }
      const creditMsgs = links[k + 3];
      const queued = links[k + 5];
      if (links[k + 7] && (creditMsgs === 0 || links[k + 4] === 0) && queued > 0) blocked[e] = 1;
      const key = edgeKeys[e];
      const list = linkDetail.get(key) ?? [];
      list.push([`${from} → ${to}`, { creditMsgs, creditBytes: links[k + 4], queued, msWithoutCredit: links[k + 6] }]);
      linkDetail.set(key, list);
    }
    if (dt > 0) {
      let max = 0;
      for (const r of rateE) max = Math.max(max, r);
      const util = new Float32Array(edgeKeys.length);
      for (let e = 0; e < util.length; e++) util[e] = params.bandwidth ? rateE[e] / (2 * params.bandwidth) : max > 0 ? rateE[e] / max : 0;
      snapshots.push({ t: tMs, util, blocked, rate: rateE });
      if (snapshots.length > MAX_LINK_SNAPSHOTS) snapshots.shift();
    }
    prevLinks = { t: tMs, bytes };
  }

  function snapshotAt(t: number): LinkSnapshot | null {
    let lo = 0;
    let hi = snapshots.length - 1;
    let best: LinkSnapshot | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (snapshots[mid].t <= t) {
        best = snapshots[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best ?? snapshots[0] ?? null;
  }

  function closeBuckets(uptoMs: number): void {
    const upto = Math.floor(uptoMs / BUCKET_MS) - 1;
    for (let b = lastClosedBucket + 1; b <= upto; b++) {
      const bk = buckets.get(b);
      const x = (b + 0.5) * BUCKET_MS;
      if (bk) {
        bk.scp.sort((p, q) => p - q);
        bk.tx.sort((p, q) => p - q);
        if (bk.scp.length) {
          latSeries.scp50.push({ x, y: quantile(bk.scp, 0.5) });
          latSeries.scp95.push({ x, y: quantile(bk.scp, 0.95) });
        }
        if (bk.tx.length) {
          latSeries.tx50.push({ x, y: quantile(bk.tx, 0.5) });
          latSeries.tx95.push({ x, y: quantile(bk.tx, 0.95) });
        }
        buckets.delete(b);
      }
      lastClosedBucket = b;
    }
  }

  function onFrame(f: Frame): void {
    headUs = f.nowUs;
    markHead(f.nowUs / 1000);
    headTrace = f.trace;
    running = f.running;
    rate = f.rate;
    lost += f.lost;
    lastTotals = f.totals;
    const tMs = f.nowUs / 1000;
    // frames → compact chunk
    if (f.frames.length) {
      const m = f.frames.length / 6;
      const data = new Float32Array(f.frames.length);
      let minSent = Infinity;
      let maxSent = 0;
      let maxArrive = 0;
      for (let i = 0; i < m; i++) {
        const o = i * 6;
        data[o] = f.frames[o];
        data[o + 1] = f.frames[o + 1];
        data[o + 2] = f.frames[o + 2];
        data[o + 3] = f.frames[o + 3];
        data[o + 4] = classIndex(f.frames[o + 4]);
        data[o + 5] = f.frames[o + 5];
        minSent = Math.min(minSent, f.frames[o]);
        maxSent = Math.max(maxSent, f.frames[o]);
        maxArrive = Math.max(maxArrive, f.frames[o + 1]);
      }
      frameChunks.push({ minSent, maxSent, maxArrive, data });
      frameRecords += m;
      while (frameRecords > MAX_FRAME_RECORDS && frameChunks.length > 1) {
        frameRecords -= frameChunks.shift()!.data.length / 6;
        historyStart = Math.max(historyStart, frameChunks[0].minSent);
      }
    }
    if (f.seen.length) {
      const data = new Float32Array(f.seen);
      let t0 = Infinity;
      let t1 = 0;
      for (let o = 0; o < f.seen.length; o += 4) {
        const at = f.seen[o];
        t0 = Math.min(t0, at);
        t1 = Math.max(t1, at);
        const lat = f.seen[o + 3];
        if (lat > 0) {
          const b = Math.floor(at / BUCKET_MS);
          let bk = buckets.get(b);
          if (!bk) buckets.set(b, (bk = { scp: [], tx: [] }));
          (f.seen[o + 2] ? bk.scp : bk.tx).push(lat);
        }
      }
      seenChunks.push({ t0, t1, data });
      seenRecords += f.seen.length / 4;
      while (seenRecords > MAX_SEEN_RECORDS && seenChunks.length > 1) {
        seenRecords -= seenChunks.shift()!.data.length / 4;
        historyStart = Math.max(historyStart, seenChunks[0].t0);
      }
    }
    closeBuckets(tMs);
    // duplicate ratio per bucket boundary
    const prev = samples[samples.length - 1];
    samples.push({ t: tMs, totals: f.totals });
    if (samples.length > 20000) samples.splice(0, 5000);
    if (prev && Math.floor(prev.t / BUCKET_MS) !== Math.floor(tMs / BUCKET_MS)) {
      const base = samples.find((s) => s.t >= tMs - BUCKET_MS) ?? prev;
      const du = f.totals.floodUnique - base.totals.floodUnique;
      const dd = f.totals.floodDuplicate - base.totals.floodDuplicate;
      if (du + dd > 0) dupSeries.push({ x: tMs, y: dd / (du + dd) });
    }
    if (f.links) onLinks(f.links, tMs);
    if (pendingBuild?.us && f.nowUs >= pendingBuild.us) {
      busy.hidden = true;
      pendingBuild = null;
    } else if (pendingBuild && !pendingBuild.us) {
      pendingBuild = null;
    }
    if (follow) viewMs = tMs;
    updateTexts();
  }

  function updateTexts(): void {
    dirty = true;
    const t = lastTotals;
    root.dataset.nowUs = String(headUs);
    root.dataset.trace = headTrace;
    root.dataset.running = String(running);
    root.dataset.ready = "true";
    runBtn.replaceChildren(icon(running ? "pause" : "play"), running ? " Pause" : " Run");
    runBtn.setAttribute("aria-pressed", String(running));
    clock.textContent = `${(viewMs / 1000).toFixed(3)} s`;
    clock.dataset.us = String(Math.round(viewMs * 1000));
    traceEl.textContent = headTrace || "–";
    if (!running) nativeEl.textContent = nativeCommand(params, headUs);
    traceAt.textContent = `at ${headUs.toLocaleString("en-US")} µs of virtual time${follow ? "" : " (newest; the view is scrubbed back)"}`;
    const headMs = headUs / 1000;
    scrub.min = String(Math.floor(historyStart));
    scrub.max = String(Math.ceil(headMs));
    scrub.value = String(Math.round(viewMs));
    scrub.disabled = headMs <= 0;
    liveBtn.disabled = follow;
    (root.querySelector('[data-testid="sim-history"]') as HTMLElement).textContent = `history ${fmtMs(headMs - historyStart)}${lost ? ` · ${fmtNum(lost)} records not kept` : ""}`;
    if (t) {
      statEls.get("connections")!.textContent = fmtNum(t.connections);
      statEls.get("tx")!.textContent = fmtNum(t.txInjected);
      statEls.get("scp")!.textContent = fmtNum(t.scpInjected);
      statEls.get("everywhere")!.textContent = fmtNum(t.everywhere);
      const want = Number(speedSel.value);
      const pace = Math.min(want, rate / 1000);
      statEls.get("speed")!.textContent = running ? `${pace.toFixed(pace < 10 ? 2 : 0)}×` : "paused";
      statEls.get("speed")!.title = `the simulator manages ${(rate / 1000).toFixed(1)}× real time here`;
      const total = t.floodUnique + t.floodDuplicate;
      (root.querySelector('[data-testid="sim-dup"]') as HTMLElement).textContent = total ? `overall ${((t.floodDuplicate / total) * 100).toFixed(1)}% duplicates (${fmtNum(t.floodDuplicate)} of ${fmtNum(total)} flood messages)` : "";
    }
  }

  worker.onmessage = (e: MessageEvent<FromWorker>) => {
    const m = e.data;
    switch (m.type) {
      case "built":
        onBuilt(m);
        break;
      case "frame": {
        const t0 = performance.now();
        onFrame(m);
        frameCost = 0.9 * frameCost + 0.1 * (performance.now() - t0);
        root.dataset.frameCost = frameCost.toFixed(2);
        break;
      }
      case "nodeInfo":
        infoWaiters.get(m.req)?.(m.info);
        infoWaiters.delete(m.req);
        break;
      case "error":
        busy.hidden = true;
        toast(`Simulation: ${m.message}`, true);
        break;
      case "ready":
        break;
    }
  };
  worker.onerror = (e) => toast(`Simulation worker failed: ${e.message}`, true);

  // ---------- drawing ----------
  let visible = false;
  let lastCharts = 0;
  const octx = overlay.getContext("2d")!;

  function computeAt(T: number): Float32Array[] {
    nodeGlow.fill(0);
    edgeClass.fill(-1);
    const rank = new Int8Array(edgeClass.length);
    const n = built?.nodes ?? 0;
    for (const c of seenChunks) {
      if (c.t1 < T - GLOW_MS * 3 || c.t0 > T) continue;
      const d = c.data;
      for (let o = 0; o < d.length; o += 4) {
        const at = d[o];
        if (at > T || at < T - GLOW_MS * 3) continue;
        const node = d[o + 1];
        // SCP lights a node fully; a transaction (many a second) only tints it.
        const g = Math.exp(-(T - at) / GLOW_MS) * (d[o + 2] ? 1 : 0.45);
        if (g >= nodeGlow[node]) {
          nodeGlow[node] = g;
          nodeGlowClass[node] = d[o + 2] ? 0 : 3;
        }
      }
    }
    const flights: Float32Array[] = [];
    for (const c of frameChunks) {
      if (c.minSent > T || c.maxArrive < T) continue;
      const d = c.data;
      let sel: number[] | null = null;
      for (let o = 0; o < d.length; o += 6) {
        if (d[o] > T || d[o + 1] <= T) continue;
        (sel ??= []).push(o);
        const e = edgeIndex[d[o + 2] * n + d[o + 3]] - 1;
        if (e >= 0) {
          const cls = d[o + 4];
          if (CLASS_RANK[cls] > rank[e]) {
            rank[e] = CLASS_RANK[cls];
            edgeClass[e] = cls;
          }
        }
      }
      if (sel) {
        const out = new Float32Array(sel.length * 6);
        sel.forEach((o, k) => out.set(d.subarray(o, o + 6), k * 6));
        flights.push(out);
      }
    }
    const snap = snapshotAt(T);
    if (snap) {
      edgeUtil = snap.util;
      edgeBlocked = snap.blocked;
    }
    return flights;
  }

  function drawFlights(T: number, flights: Float32Array[]): number {
    const r = renderer;
    const w = overlay.clientWidth;
    const hgt = overlay.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    if (overlay.width !== Math.round(w * dpr) || overlay.height !== Math.round(hgt * dpr)) {
      overlay.width = Math.round(w * dpr);
      overlay.height = Math.round(hgt * dpr);
    }
    octx.setTransform(dpr, 0, 0, dpr, 0, 0);
    octx.clearRect(0, 0, w, hgt);
    if (!r || !built) return 0;
    const n = built.nodes;
    const xs = new Float32Array(n);
    const ys = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const d = r.getNodeDisplayData(String(i));
      if (!d) continue;
      const p = r.framedGraphToViewport(d);
      xs[i] = p.x;
      ys[i] = p.y;
    }
    const byClass: number[][] = CLASSES.map(() => []);
    let count = 0;
    for (const f of flights) {
      for (let o = 0; o < f.length; o += 6) {
        const from = f[o + 2];
        const to = f[o + 3];
        if (selectedNode !== null && from !== selectedNode && to !== selectedNode) continue;
        const span = Math.max(0.001, f[o + 1] - f[o]);
        const p = Math.min(1, Math.max(0, (T - f[o]) / span));
        byClass[f[o + 4]].push(xs[from] + (xs[to] - xs[from]) * p, ys[from] + (ys[to] - ys[from]) * p);
        count++;
      }
    }
    const size = n > 500 ? 2.5 : 3.5;
    for (let c = CLASSES.length - 1; c >= 0; c--) {
      const pts = byClass[c];
      if (!pts.length) continue;
      octx.fillStyle = CLASS_COLOURS[CLASSES[c]];
      octx.globalAlpha = c === 4 ? 0.5 : 0.95;
      for (let k = 0; k < pts.length; k += 2) octx.fillRect(pts[k] - size / 2, pts[k + 1] - size / 2, size, size);
    }
    octx.globalAlpha = 1;
    return count;
  }

  function drawCharts(): void {
    const headMs = headUs / 1000;
    const x0 = Math.max(0, Math.min(historyStart, headMs - 60_000), headMs - 120_000);
    latChart.set(
      [
        { label: "SCP p50", colour: CLASS_COLOURS.scp, points: latSeries.scp50 },
        { label: "SCP p95", colour: "#f9a8d4", points: latSeries.scp95, dashed: true },
        { label: "tx p50", colour: CLASS_COLOURS.tx, points: latSeries.tx50 },
        { label: "tx p95", colour: "#ddd6fe", points: latSeries.tx95, dashed: true },
      ],
      [x0, Math.max(x0 + 5000, headMs)],
      viewMs,
    );
    dupChart.set([{ label: "duplicates", colour: CLASS_COLOURS.advert, points: dupSeries }], [x0, Math.max(x0 + 5000, headMs)], viewMs);
  }

  // Drawing is paced separately from the simulation: particles move every animation frame
  // (interpolating between the worker's frames), while the graph's colours refresh at most
  // every 50–100 ms, and nothing redraws while nothing changes.
  let dirty = true;
  let lastDrawnT = -1;
  let lastSigma = 0;
  let prevHead = { ms: 0, wall: 0 };
  let curHead = { ms: 0, wall: 0 };
  function markHead(ms: number): void {
    prevHead = curHead.ms <= ms ? curHead : { ms, wall: performance.now() };
    curHead = { ms, wall: performance.now() };
  }

  function frameLoop(): void {
    if (!visible) return;
    requestAnimationFrame(frameLoop);
    if (!renderer || !built) return;
    const now = performance.now();
    if (running && follow) {
      const span = Math.max(1, curHead.wall - prevHead.wall);
      const f = Math.min(1, (now - curHead.wall) / span);
      viewMs = prevHead.ms + (curHead.ms - prevHead.ms) * f;
    }
    const T = viewMs;
    if (T === lastDrawnT && !dirty) return;
    const t0 = performance.now();
    const flights = computeAt(T);
    const t1 = performance.now();
    const sigmaDue = dirty || !running || now - lastSigma > (built.nodes > 400 ? 100 : 50);
    if (sigmaDue) {
      renderer.refresh({ skipIndexation: true });
      lastSigma = now;
    }
    const t2 = performance.now();
    const count = drawFlights(T, flights);
    const t3 = performance.now();
    root.dataset.perf = `compute ${(t1 - t0).toFixed(1)} sigma ${(t2 - t1).toFixed(1)} flights ${(t3 - t2).toFixed(1)}`;
    lastDrawnT = T;
    dirty = false;
    hudTime.textContent = `${(T / 1000).toFixed(3)} s`;
    hudNote.textContent = follow ? "" : " (scrubbed)";
    hudCount.textContent = fmtNum(count);
    root.dataset.inFlight = String(count);
    if (now - lastCharts > 300) {
      lastCharts = now;
      drawCharts();
    }
  }

  // ---------- transport ----------
  function run(): void {
    if (!built) return;
    if (!follow) {
      follow = true;
      viewMs = headUs / 1000;
    }
    send({ type: "run", speed: Number(speedSel.value) });
    running = true;
    updateTexts();
  }
  function pause(): void {
    send({ type: "pause" });
    running = false;
    updateTexts();
  }
  function step(dir = 1): void {
    if (!built) return;
    const ms = Number(stepSel.value);
    const headMs = headUs / 1000;
    if (dir > 0 && (follow || viewMs >= headMs)) {
      follow = true;
      send({ type: "step", us: ms * 1000 });
    } else {
      if (running) pause();
      follow = false;
      viewMs = Math.max(historyStart, Math.min(headMs, viewMs + dir * ms));
      if (viewMs >= headMs) follow = true;
      updateTexts();
    }
  }

  runBtn.addEventListener("click", () => (running ? pause() : run()));
  stepBtn.addEventListener("click", () => step(1));
  speedSel.addEventListener("change", () => running && send({ type: "speed", speed: Number(speedSel.value) }));
  scrub.addEventListener("input", () => {
    if (running) pause();
    viewMs = Number(scrub.value);
    follow = viewMs >= headUs / 1000;
    updateTexts();
  });
  liveBtn.addEventListener("click", () => {
    follow = true;
    viewMs = headUs / 1000;
    updateTexts();
  });
  buildBtn.addEventListener("click", () => build(readParams()));
  root.querySelector(".controls")!.addEventListener("keydown", (e) => {
    const ke = e as KeyboardEvent;
    if (ke.key === "Enter" && (ke.target as HTMLElement).matches("input, select")) {
      ke.preventDefault();
      build(readParams());
    }
  });
  shareBtn.addEventListener("click", () => {
    const url = `${location.origin}${location.pathname}#sim?${paramsToQuery(params, headUs)}`;
    void copy(url, "Link to this run copied");
  });
  cmdBtn.addEventListener("click", () => {
    const cmd = nativeCommand(params, headUs);
    cmdBtn.dataset.command = cmd;
    void copy(cmd, "Native command copied");
  });
  replayBtn.addEventListener("click", () => {
    const want = headTrace;
    const at = headUs;
    build(params, at);
    const check = setInterval(() => {
      if (pendingBuild === null && headUs >= at) {
        clearInterval(check);
        if (headUs === at) toast(headTrace === want ? "Replayed from the seed: identical trace hash" : "Replay differs!", headTrace !== want);
      }
    }, 200);
  });

  function onKey(e: KeyboardEvent): void {
    if (!visible) return;
    const t = e.target as HTMLElement;
    if (t.closest("input, textarea, select") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === " " && !t.closest("button")) {
      e.preventDefault();
      if (running) pause();
      else run();
    } else if (e.key === "ArrowRight" && !t.closest("[role=tab]")) {
      e.preventDefault();
      step(1);
    } else if (e.key === "ArrowLeft" && !t.closest("[role=tab]")) {
      e.preventDefault();
      step(-1);
    } else if (e.key === "End") {
      follow = true;
      viewMs = headUs / 1000;
      updateTexts();
    } else if (e.key === "Home") {
      if (running) pause();
      follow = false;
      viewMs = historyStart;
      updateTexts();
    } else if (e.key === "Escape") {
      void selectNode(null);
    }
  }
  document.addEventListener("keydown", onKey);

  // A shared link (#sim?seed=…&t=…) rebuilds that run and replays it to its time.
  const shared = paramsFromQuery(location.hash.split("?")[1] ?? "");
  writeParams(shared?.params ?? DEFAULTS);
  if (shared) build(shared.params, shared.us);
  (root as HTMLElement & { simApi?: unknown }).simApi = { build: (p: Partial<Params>, us?: number) => build({ ...readParams(), ...p }, us) };

  return {
    show() {
      visible = true;
      requestAnimationFrame(frameLoop);
      renderer?.refresh();
    },
    hide() {
      visible = false;
      if (running) pause();
    },
  };
}
