// Survey results to a graph: stellar-core's OverlaySurvey.py GraphML (networkx
// `write_graphml`: nodes are strkeys with `version` and the node fields, edges run
// inbound peer → node and node → outbound peer with the peer statistics), our
// `stellar-overlay survey` JSON and GraphML, and `/getsurveyresult` answers.

export type Attrs = Record<string, string | number | boolean>;

export interface SurveyGraph {
  nodes: Map<string, Attrs>;
  /** Directed edges, `from → to`, with their statistics. */
  edges: { from: string; to: string; attrs: Attrs }[];
  /** Nodes that did not answer (no node data, or listed as missing / bad by the surveyor). */
  unresponsive: Set<string>;
  source: string;
}

/** A node answered if it carries node-level fields (not just `version`/`label`). */
const NODE_DATA_KEYS = ["numTotalInboundPeers", "numTotalOutboundPeers", "totalInboundPeerCount", "totalOutboundPeerCount", "maxInboundPeerCount", "lostSyncCount", "isValidator"];

function typed(v: string, type: string | null): string | number | boolean {
  switch (type) {
    case "boolean":
      return v.trim().toLowerCase() === "true" || v.trim() === "1";
    case "int":
    case "long":
    case "float":
    case "double": {
      const n = Number(v);
      return Number.isFinite(n) ? n : v;
    }
    default:
      return v;
  }
}

export function parseGraphml(text: string, source = "GraphML"): SurveyGraph {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  const err = doc.getElementsByTagName("parsererror")[0];
  if (err) throw new Error(`not valid XML: ${err.textContent?.split("\n")[0] ?? ""}`);
  const keys = new Map<string, { name: string; type: string | null; for: string }>();
  const defaults = new Map<string, string>();
  for (const k of Array.from(doc.getElementsByTagName("key"))) {
    const id = k.getAttribute("id") ?? "";
    keys.set(id, { name: k.getAttribute("attr.name") ?? id, type: k.getAttribute("attr.type"), for: k.getAttribute("for") ?? "all" });
    const d = k.getElementsByTagName("default")[0];
    if (d?.textContent) defaults.set(id, d.textContent);
  }
  const g = doc.getElementsByTagName("graph")[0];
  if (!g) throw new Error("no <graph> element: is this GraphML?");
  const read = (el: Element, scope: string): Attrs => {
    const a: Attrs = {};
    for (const [id, k] of keys) {
      if ((k.for === scope || k.for === "all") && defaults.has(id)) a[k.name] = typed(defaults.get(id)!, k.type);
    }
    for (const d of Array.from(el.children)) {
      if (d.localName !== "data") continue;
      const id = d.getAttribute("key") ?? "";
      const k = keys.get(id);
      a[k?.name ?? id] = typed(d.textContent ?? "", k?.type ?? null);
    }
    return a;
  };
  const nodes = new Map<string, Attrs>();
  for (const n of Array.from(g.getElementsByTagName("node"))) {
    const id = n.getAttribute("id");
    if (id) nodes.set(id, read(n, "node"));
  }
  const edges: SurveyGraph["edges"] = [];
  for (const e of Array.from(g.getElementsByTagName("edge"))) {
    const from = e.getAttribute("source");
    const to = e.getAttribute("target");
    if (!from || !to) continue;
    if (!nodes.has(from)) nodes.set(from, {});
    if (!nodes.has(to)) nodes.set(to, {});
    edges.push({ from, to, attrs: read(e, "edge") });
  }
  const unresponsive = new Set<string>();
  for (const [id, a] of nodes) if (!NODE_DATA_KEYS.some((k) => k in a)) unresponsive.add(id);
  return { nodes, edges, unresponsive, source };
}

type PeerEntry = Record<string, unknown> & { nodeId?: string };

function peerList(v: unknown): [string, PeerEntry][] {
  if (Array.isArray(v)) return v.filter((p) => p && typeof p === "object").map((p: PeerEntry) => [String(p.nodeId ?? ""), p]);
  if (v && typeof v === "object") return Object.entries(v as Record<string, PeerEntry>);
  return [];
}

function scalarAttrs(o: Record<string, unknown>): Attrs {
  const a: Attrs = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") a[k] = v;
  }
  return a;
}

/** `{topology: {G…: {…, inboundPeers, outboundPeers} | null}, missing?, badResponseNodes?}` */
export function parseSurveyJson(data: unknown, source = "survey JSON"): SurveyGraph {
  const root = data as Record<string, unknown>;
  const topo = (root?.topology ?? root) as Record<string, unknown>;
  if (!topo || typeof topo !== "object") throw new Error("no `topology` object in this JSON");
  const nodes = new Map<string, Attrs>();
  const edges: SurveyGraph["edges"] = [];
  const unresponsive = new Set<string>();
  const seenEdge = new Set<string>();
  const touch = (id: string) => {
    if (!nodes.has(id)) nodes.set(id, {});
  };
  for (const [id, v] of Object.entries(topo)) {
    if (!/^G[A-Z2-7]{55}$/.test(id)) continue;
    touch(id);
    if (!v || typeof v !== "object") {
      unresponsive.add(id);
      continue;
    }
    const n = v as Record<string, unknown>;
    Object.assign(nodes.get(id)!, scalarAttrs(n));
    for (const [dir, list] of [
      ["in", n.inboundPeers],
      ["out", n.outboundPeers],
    ] as const) {
      for (const [peer, stats] of peerList(list)) {
        if (!peer) continue;
        touch(peer);
        if (typeof stats.version === "string" && !("version" in nodes.get(peer)!)) nodes.get(peer)!.version = stats.version;
        const [from, to] = dir === "in" ? [peer, id] : [id, peer];
        const key = `${from}>${to}`;
        if (seenEdge.has(key)) continue;
        seenEdge.add(key);
        const attrs = scalarAttrs(stats);
        delete attrs.nodeId;
        delete attrs.version;
        edges.push({ from, to, attrs });
      }
    }
  }
  for (const list of [root?.missing, root?.badResponseNodes]) {
    if (Array.isArray(list)) for (const id of list) if (typeof id === "string") {
      touch(id);
      unresponsive.add(id);
    }
  }
  for (const id of nodes.keys()) if (!(id in topo) && !unresponsive.has(id)) unresponsive.add(id);
  return { nodes, edges, unresponsive, source };
}

export function parseAny(text: string, name: string): SurveyGraph {
  const t = text.trimStart();
  if (t.startsWith("<")) return parseGraphml(text, name);
  return parseSurveyJson(JSON.parse(text), name);
}
