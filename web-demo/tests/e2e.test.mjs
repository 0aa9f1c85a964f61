// End-to-end tests of the web demo: a real localnet (stellar-overlay localnet, serving the
// built page, its nodes' admin APIs and the bridge on loopback) driven from headless
// Chromium through Playwright. Screenshots go to target/web-demo-screenshots/.
//
// Needs: web-demo/dist (npm run build), the stellar-overlay binary (STELLAR_OVERLAY_BIN,
// default target/release/stellar-overlay) and /usr/bin/chromium (CHROMIUM to override).
// scripts/test-web-demo builds both and runs this file.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const bin = process.env.STELLAR_OVERLAY_BIN ?? path.join(repo, "target/release/stellar-overlay");
const shots = path.join(repo, "target/web-demo-screenshots");
const fixture = path.join(here, "../public/samples/overlay-survey.graphml");

let localnet;
let url;
let info;
let context;
let userDir;
const errors = [];

function waitForLine(proc, re, ms) {
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms:\n${buf}`)), ms);
    proc.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(re);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    proc.on("exit", (code) => reject(new Error(`localnet exited (${code}):\n${buf}`)));
  });
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  localnet = spawn(bin, ["localnet", "--nodes", "4", "--slot-secs", "1", "--tx-rate", "25", "--bridge-port", "0", "--web", "127.0.0.1:0", "--web-dir", path.join(here, "../dist")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const m = await waitForLine(localnet, /web visualizer: (http:\/\/\S+)/, 30_000);
  url = m[1];
  info = await (await fetch(`${url}api/localnet.json`)).json();
  userDir = mkdtempSync(path.join(tmpdir(), "web-demo-chromium-"));
  context = await chromium.launchPersistentContext(userDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  await context?.close();
  localnet?.kill("SIGTERM");
  if (userDir) rmSync(userDir, { recursive: true, force: true });
});

async function open(view) {
  const page = await context.newPage();
  const mine = [];
  page.on("pageerror", (e) => mine.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") mine.push(`console.error: ${m.text()}`);
  });
  // Failures the page shows the user (error toasts: a worker error, a failed view) count
  // as errors too, though they never reach the console.
  await page.exposeFunction("__badToast", (text) => mine.push(`error toast: ${text}`));
  await page.addInitScript(() => {
    new MutationObserver((records) => {
      for (const r of records)
        for (const n of r.addedNodes)
          if (n instanceof HTMLElement && n.classList.contains("toast") && n.classList.contains("bad"))
            window.__badToast(n.textContent);
    }).observe(document, { childList: true, subtree: true });
  });
  await page.goto(`${url}#${view}`);
  return { page, errors: mine };
}

function noErrors(errs, what) {
  errors.push(...errs);
  assert.deepEqual(errs, [], `${what}: the page logged errors`);
}

const gauges = (page) => page.$$eval("[data-testid^=gauge-]", (els) => els.map((e) => e.dataset.value ?? ""));

test("Live view: handshake, a stream of messages, moving gauges, a drop with its reason", async () => {
  const { page, errors: errs } = await open("live");
  await page.waitForSelector("[data-testid=target] option", { state: "attached" });
  assert.equal(await page.locator("[data-testid=target] option").count(), info.nodes.length);
  // Let the nodes meet first, so the node has addresses to put in its PEERS message.
  await page.waitForTimeout(2500);
  await page.click("[data-testid=connect]");
  for (const step of ["ws", "hello", "keys", "auth"]) {
    await page.waitForSelector(`[data-step=${step}].done`, { timeout: 20_000 });
  }
  // The remote's HELLO fields and the key fingerprints are shown.
  const hello = await page.textContent("[data-step=hello]");
  assert.match(hello, /their cert expires/);
  assert.match(hello, new RegExp(info.nodes[0].id.slice(0, 6)));
  assert.match(await page.textContent("[data-step=keys]"), /[0-9a-f]{16}…/);
  // Both HELLOs in full (ours too), and the node's AUTH flags as received.
  const helloValues = await page.$$eval("[data-step=hello] .hello-grid .v", (els) => els.map((e) => e.textContent));
  assert.equal(helloValues.length, 14, `HELLO fields: ${helloValues}`);
  assert.ok(!helloValues.includes("–"), `every HELLO field has a value: ${helloValues}`);
  assert.match(await page.textContent("[data-testid=auth-flags]"), /^theirs 200 \(flow control in bytes\) · ours 200/);
  // The HELLO's row says it is not MACed.
  await page.waitForSelector("[data-testid=messages] td[data-mac=none]", { timeout: 5_000 });
  const g0 = await gauges(page);
  await page.waitForFunction(() => Number(document.querySelector("[data-testid=stream-count]")?.dataset.count ?? 0) >= 20, null, { timeout: 30_000 });
  const types = await page.$$eval(".filters [data-type]", (els) => els.map((e) => [e.dataset.type, Number(e.querySelector(".n")?.textContent?.replace(/,/g, "") ?? 0)]));
  const seen = types.filter(([, n]) => n > 0).map(([t]) => t);
  assert.ok(seen.length >= 2, `two message types at least, got ${JSON.stringify(types)}`);
  assert.ok(seen.includes("SCP_MESSAGE"), `SCP messages arrive: ${seen}`);
  const rows = await page.locator("[data-testid=messages] tbody tr").count();
  assert.ok(rows >= 20, `${rows} rows`);
  // MAC column: HELLO and ERROR_MSG are not MACed, every other received message verified.
  const macs = await page.$$eval("[data-testid=messages] tbody tr", (trs) =>
    trs.map((tr) => [tr.querySelector(".badge")?.textContent ?? "", tr.querySelector("td[data-mac]")?.getAttribute("data-mac") ?? null]),
  );
  for (const [type, mac] of macs) {
    const want = type.startsWith("→") ? null : type === "HELLO" || type === "ERROR_MSG" ? "none" : "verified";
    assert.equal(mac, want, `MAC column of ${type}`);
  }
  // Raw XDR on demand: open a row.
  await page.locator("[data-testid=messages] tbody tr").first().click();
  await page.waitForSelector(".detail pre.hex");
  // Flow-control credit moves as messages arrive and SEND_MORE_EXTENDED grants more.
  await page.waitForFunction((before) => {
    const now = [...document.querySelectorAll("[data-testid^=gauge-]")].map((e) => e.dataset.value ?? "");
    return now.some((v, i) => v !== before[i] && v !== "");
  }, g0, { timeout: 20_000 });
  const g1 = await gauges(page);
  await page.waitForTimeout(1500);
  const g2 = await gauges(page);
  assert.notDeepEqual(g1, g2, "gauges keep moving");
  await page.waitForSelector("[data-testid=scp-timeline] .phases i.on");
  await page.waitForSelector("[data-testid=peers] li", { timeout: 10_000 });
  await page.screenshot({ path: path.join(shots, "live.png") });
  // Drop this browser peer through the node's admin API (cross-origin: CORS).
  await page.click("text=Drop me via admin API");
  await page.waitForSelector("[data-testid=drop-reason]", { timeout: 15_000 });
  const reason = await page.textContent("[data-testid=drop-reason]");
  assert.match(reason, /dropped by user/i);
  assert.equal(await page.textContent("[data-testid=drop-macs]"), "all verified");
  await page.waitForSelector(".filters [data-type=ERROR_MSG]", { timeout: 5_000 });
  await page.screenshot({ path: path.join(shots, "live-dropped.png") });
  noErrors(errs, "live");
  await page.close();
});

test("Simulation view: 200 nodes, the trace hash equals the native run's, pause and step", async () => {
  const { page, errors: errs } = await open("sim");
  await page.selectOption("[data-testid=sim-topology]", "random");
  await page.fill("[data-testid=sim-nodes]", "200");
  await page.fill("[data-testid=sim-seed]", "7");
  await page.fill("[data-testid=sim-tx]", "30");
  await page.fill("[data-testid=sim-slot]", "2000");
  await page.click("[data-testid=sim-build]");
  await page.waitForFunction(() => document.getElementById("view-sim")?.dataset.renderedNodes === "200", null, { timeout: 30_000 });
  await page.waitForFunction(() => document.getElementById("view-sim")?.dataset.ready === "true", null, { timeout: 30_000 });
  const drawn = await page.evaluate(() => document.querySelectorAll("#view-sim [data-testid=sim-graph] canvas").length);
  assert.ok(drawn > 0, "sigma drew its canvases");
  await page.click("[data-testid=sim-run]");
  await page.waitForFunction(() => Number(document.getElementById("view-sim")?.dataset.nowUs) > 3_000_000, null, { timeout: 60_000 });
  await page.waitForFunction(() => Number(document.getElementById("view-sim")?.dataset.inFlight) > 0, null, { timeout: 20_000 });
  await page.screenshot({ path: path.join(shots, "simulation.png") });
  await page.click("[data-testid=sim-run]"); // pause
  await page.waitForFunction(() => document.getElementById("view-sim")?.dataset.running === "false");
  await page.waitForTimeout(300);
  const a = await page.evaluate(() => ({ ...document.getElementById("view-sim").dataset, clock: document.querySelector("[data-testid=sim-time]").textContent }));
  await page.waitForTimeout(500);
  const still = await page.evaluate(() => document.getElementById("view-sim").dataset.nowUs);
  assert.equal(still, a.nowUs, "paused: virtual time stands still");
  await page.click("[data-testid=sim-native]");
  const cmd = await page.getAttribute("[data-testid=sim-native]", "data-command");
  assert.match(cmd, new RegExp(`--until-us ${a.nowUs}\\b`));
  assert.match(cmd, /--topology random --nodes 200 .*--seed 7/);
  const args = cmd.replace(/^stellar-overlay /, "").split(/\s+/);
  const native = JSON.parse(execFileSync(bin, [...args, "--json"], { encoding: "utf8" }));
  assert.equal(native.trace, a.trace, `page and native trace hashes at ${a.nowUs} µs`);
  assert.equal(native.nodes, 200);
  assert.equal(await page.textContent("[data-testid=sim-trace]"), a.trace);
  // Step: +100 ms of virtual time, a new hash, a new clock.
  await page.selectOption("[data-testid=sim-step-size]", "100");
  await page.click("[data-testid=sim-step]");
  await page.waitForFunction((t) => Number(document.getElementById("view-sim").dataset.nowUs) === Number(t) + 100_000, a.nowUs, { timeout: 20_000 });
  const b = await page.evaluate(() => ({ ...document.getElementById("view-sim").dataset, clock: document.querySelector("[data-testid=sim-time]").textContent }));
  assert.notEqual(b.clock, a.clock);
  assert.notEqual(b.trace, a.trace);
  // Scrubbing back shows an earlier time without touching the simulation.
  await page.keyboard.press("ArrowLeft");
  const c = await page.evaluate(() => ({ ...document.getElementById("view-sim").dataset, us: document.querySelector("[data-testid=sim-time]").dataset.us }));
  assert.equal(Number(c.us), Number(b.nowUs) - 100_000);
  assert.equal(c.nowUs, b.nowUs);
  // A node selected from the keyboard: its number, Enter; Escape clears.
  await page.fill("[data-testid=sim-inspect]", "42");
  await page.press("[data-testid=sim-inspect]", "Enter");
  await page.waitForFunction(() => document.querySelector("[data-testid=sim-detail] h3")?.textContent === "Node 42", null, { timeout: 10_000 });
  await page.press("[data-testid=sim-inspect]", "Escape");
  await page.waitForFunction(() => !document.querySelector("[data-testid=sim-detail] h3"));
  noErrors(errs, "simulation");
  await page.close();
});

test("Topology view: an OverlaySurvey.py GraphML renders its nodes and edges; search finds a node", async () => {
  const xml = readFileSync(fixture, "utf8");
  const nodes = [...xml.matchAll(/<node id="(G[A-Z2-7]{55})"/g)].map((m) => m[1]);
  const edges = (xml.match(/<edge /g) ?? []).length;
  assert.ok(nodes.length > 10 && edges > 10);
  const { page, errors: errs } = await open("topology");
  await page.setInputFiles("[data-testid=topo-file]", fixture);
  await page.waitForFunction(() => document.getElementById("view-topology")?.dataset.nodes, null, { timeout: 20_000 });
  const ds = await page.evaluate(() => ({ ...document.getElementById("view-topology").dataset }));
  assert.equal(Number(ds.nodes), nodes.length);
  assert.equal(Number(ds.edges), edges);
  assert.equal(await page.textContent("[data-testid=topo-node-count]"), String(nodes.length));
  assert.equal(await page.textContent("[data-testid=topo-edge-count]"), String(edges));
  // Nodes with no node data (only the version OverlaySurvey.py writes for every node it
  // heard of) never answered: exactly those are listed.
  const silentInFixture = [...xml.matchAll(/<node id="(G[A-Z2-7]{55})"\s*(?:\/>|>([\s\S]*?)<\/node>)/g)]
    .filter((m) => ((m[2] ?? "").match(/<data /g) ?? []).length <= 1)
    .map((m) => m[1])
    .sort();
  assert.ok(silentInFixture.length > 0);
  const listed = (await page.$$eval("[data-testid=topo-unresponsive] li[data-id]", (els) => els.map((e) => e.dataset.id))).sort();
  assert.deepEqual(listed, silentInFixture);
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(shots, "topology-overview.png") });
  const target = nodes[17];
  await page.fill("[data-testid=topo-search]", target.slice(3, 12).toLowerCase());
  await page.waitForSelector(`[data-testid=topo-results] li[data-id="${target}"]`);
  await page.press("[data-testid=topo-search]", "Enter");
  await page.waitForFunction((id) => document.getElementById("view-topology").dataset.selected === id, target);
  assert.match(await page.textContent("[data-testid=topo-detail]"), new RegExp(target));
  await page.waitForTimeout(700);
  await page.screenshot({ path: path.join(shots, "topology.png") });
  noErrors(errs, "topology");
  await page.close();
});

test("Topology view: a survey run from the page on a localnet node (admin API through CORS)", async () => {
  const { page, errors: errs } = await open("topology");
  await page.fill("[data-testid=topo-collect]", "3");
  await page.click("[data-testid=topo-survey]");
  await page.waitForFunction(() => /done|failed/.test(document.querySelector("[data-testid=topo-survey-status]")?.textContent ?? ""), null, { timeout: 90_000 });
  assert.equal(await page.textContent("[data-testid=topo-survey-status]"), "done");
  const ds = await page.evaluate(() => ({ ...document.getElementById("view-topology").dataset }));
  assert.equal(Number(ds.nodes), info.nodes.length, "every localnet node is in the surveyed graph");
  assert.ok(Number(ds.edges) >= info.nodes.length - 1, `a connected graph: ${ds.edges} links`);
  await page.screenshot({ path: path.join(shots, "topology-survey.png") });
  noErrors(errs, "topology survey");
  await page.close();
});
