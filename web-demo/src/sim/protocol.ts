// Messages between the Simulation view and its worker (the simulator runs off the main
// thread so the page stays responsive at 1,000 nodes).

import type { DemoNodeInfo, DemoParams, DemoTotals } from "host-wasm";

export type Params = Required<DemoParams>;

export type ToWorker =
  | { type: "build"; params: Params; runToUs?: number }
  | { type: "run"; speed: number }
  | { type: "pause" }
  | { type: "speed"; speed: number }
  | { type: "step"; us: number }
  | { type: "runTo"; us: number }
  | { type: "nodeInfo"; node: number; req: number };

export interface Frame {
  type: "frame";
  nowUs: number;
  trace: string;
  totals: DemoTotals;
  /** sentMs, arriveMs, from, to, messageType, bytes per frame put on a link */
  frames: Float64Array;
  /** atMs, node, isScp, latencyMs per first sighting */
  seen: Float64Array;
  lost: number;
  /** from, to, bytesWritten, creditMsgs, creditBytes, queued, msWithoutCredit, authenticated */
  links: Float64Array | null;
  running: boolean;
  /** Virtual ms simulated per wall second lately. */
  rate: number;
}

export type FromWorker =
  | { type: "ready" }
  | { type: "built"; nodes: number; validators: Uint32Array; edges: Uint32Array; ids: string[]; params: Params; buildMs: number }
  | Frame
  | { type: "nodeInfo"; req: number; info: DemoNodeInfo | null }
  | { type: "error"; message: string };

export const DEFAULTS: Params = {
  seed: 1,
  topology: "tiered",
  nodes: 200,
  validators: 10,
  perWatcher: 3,
  degree: 8,
  latencyMs: 50,
  jitterMs: 10,
  bandwidth: 0,
  lossPpm: 0,
  txPerSec: 20,
  slotMs: 5000,
};

/** The native command that replays a run to `us`. */
export function nativeCommand(p: Params, us: number): string {
  return [
    "stellar-overlay simulate",
    `--topology ${p.topology}`,
    `--nodes ${p.nodes}`,
    `--validators ${p.validators}`,
    `--per-watcher ${p.perWatcher}`,
    `--degree ${p.degree}`,
    `--latency-ms ${p.latencyMs}`,
    `--jitter-ms ${p.jitterMs}`,
    `--bandwidth ${p.bandwidth}`,
    `--loss-ppm ${p.lossPpm}`,
    `--tx-per-sec ${p.txPerSec}`,
    `--slot-ms ${p.slotMs}`,
    `--seed ${p.seed}`,
    `--until-us ${Math.round(us)}`,
  ].join(" ");
}

const KEYS = Object.keys(DEFAULTS) as (keyof Params)[];

export function paramsToQuery(p: Params, us?: number): string {
  const q = new URLSearchParams();
  for (const k of KEYS) q.set(k, String(p[k]));
  if (us !== undefined) q.set("t", String(Math.round(us)));
  return q.toString();
}

export function paramsFromQuery(query: string): { params: Params; us?: number } | null {
  const q = new URLSearchParams(query);
  if (![...q.keys()].length) return null;
  const p: Params = { ...DEFAULTS };
  for (const k of KEYS) {
    const v = q.get(k);
    if (v === null) continue;
    if (k === "topology") {
      if (v === "tiered" || v === "random" || v === "ring") p.topology = v;
    } else {
      const n = Number(v);
      if (Number.isFinite(n) && n >= 0) (p as Record<string, unknown>)[k] = n;
    }
  }
  const t = Number(q.get("t"));
  return { params: p, us: Number.isFinite(t) && t > 0 ? t : undefined };
}
