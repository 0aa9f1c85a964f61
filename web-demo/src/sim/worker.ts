/// <reference lib="webworker" />
// Runs host-wasm's Demo (a simulated network with a steady workload) off the main thread
// and streams frames: virtual time, trace hash, totals, and the frames and sightings
// recorded since the previous one.

import init, { Demo } from "host-wasm";
import type { FromWorker, Params, ToWorker } from "./protocol";

const scope = self as unknown as DedicatedWorkerGlobalScope;
/** Records kept between frames: bounded in the core, so a slow page cannot grow it. */
const RECORD_CAPACITY = 400_000;
/** Wall time one slice of simulation may take before a frame goes out. */
const SLICE_WALL_MS = 40;

let demo: Demo | null = null;
let running = false;
let speed = 1;
let lastWall = 0;
/** Virtual ms per wall ms, measured. */
let throughput = 1;
let lastLinks = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

function post(m: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(m, transfer);
}

function frame(forceLinks = false): void {
  if (!demo) return;
  const rec = demo.take();
  const now = performance.now();
  let links: Float64Array | null = null;
  if (forceLinks || now - lastLinks > 250) {
    links = demo.linkStates();
    lastLinks = now;
  }
  const transfer: Transferable[] = [rec.frames.buffer, rec.seen.buffer];
  if (links) transfer.push(links.buffer);
  post(
    {
      type: "frame",
      nowUs: demo.nowUs(),
      trace: demo.traceHash(),
      totals: demo.totals(),
      frames: rec.frames,
      seen: rec.seen,
      lost: rec.lost,
      links,
      running,
      rate: throughput * 1000,
    },
    transfer,
  );
}

function advance(us: number): void {
  if (!demo || us <= 0) return;
  const t0 = performance.now();
  demo.advanceTo(demo.nowUs() + Math.round(us));
  const took = Math.max(0.5, performance.now() - t0);
  // Smoothed estimate of how fast the simulator runs.
  throughput = 0.7 * throughput + 0.3 * (us / 1000 / took);
}

function tick(): void {
  timer = undefined;
  if (!running || !demo) return;
  const now = performance.now();
  const dt = Math.min(250, now - lastWall);
  lastWall = now;
  const wanted = Number.isFinite(speed) ? speed * dt : Infinity;
  const budget = Math.max(1, throughput * SLICE_WALL_MS);
  const virtualMs = Math.max(0.001, Math.min(wanted, budget));
  advance(virtualMs * 1000);
  frame();
  timer = setTimeout(tick, Number.isFinite(speed) ? 33 : 0);
}

function stop(): void {
  running = false;
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case "build": {
      stop();
      demo?.free();
      const t0 = performance.now();
      demo = new Demo(m.params);
      demo.record(RECORD_CAPACITY);
      const ids = demo.nodeIds();
      post({
        type: "built",
        nodes: demo.nodeCount(),
        validators: demo.validators(),
        edges: demo.edges(),
        ids,
        params: m.params as Params,
        buildMs: performance.now() - t0,
      });
      throughput = 1;
      if (m.runToUs) {
        // Replaying a shared run: straight to its time, in slices so frames keep coming.
        while (demo.nowUs() < m.runToUs) {
          const next = Math.min(m.runToUs, demo.nowUs() + Math.max(10_000, Math.round(throughput * 1000 * 100)));
          advance(next - demo.nowUs());
          frame();
          await new Promise((r) => setTimeout(r, 0));
        }
      }
      frame(true);
      break;
    }
    case "run":
      speed = m.speed;
      if (!running) {
        running = true;
        lastWall = performance.now();
        tick();
      }
      break;
    case "speed":
      speed = m.speed;
      break;
    case "pause":
      stop();
      frame(true);
      break;
    case "step":
      stop();
      advance(m.us);
      frame(true);
      break;
    case "runTo":
      stop();
      if (demo && m.us > demo.nowUs()) advance(m.us - demo.nowUs());
      frame(true);
      break;
    case "nodeInfo":
      post({ type: "nodeInfo", req: m.req, info: demo?.nodeInfo(m.node) ?? null });
      break;
  }
}

const ready = init().then(() => post({ type: "ready" }));
const queue: ToWorker[] = [];
let busy = false;

scope.onmessage = async (e: MessageEvent<ToWorker>) => {
  queue.push(e.data);
  if (busy) return;
  busy = true;
  await ready;
  while (queue.length) {
    try {
      await handle(queue.shift()!);
    } catch (err) {
      post({ type: "error", message: String(err) });
    }
  }
  busy = false;
};
