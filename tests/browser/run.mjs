// Loads tests/browser/peer.html in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core), with host-wasm's web package served alongside, and reports what the
// page's BrowserPeer saw as one JSON line.
//
// node run.mjs --pkg DIR --bridge URL --target HOST:PORT --passphrase P
//              [--want-scp N] [--bench BATCHES] [--timeout SECS] [--screenshot FILE]
import { createServer } from 'node:http';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    pkg: { type: 'string' },
    bridge: { type: 'string' },
    target: { type: 'string' },
    passphrase: { type: 'string' },
    'want-scp': { type: 'string', default: '1' },
    bench: { type: 'string', default: '0' },
    timeout: { type: 'string', default: '60' },
    screenshot: { type: 'string' },
  },
});
for (const k of ['pkg', 'bridge', 'target', 'passphrase']) {
  if (!opt[k]) throw new Error(`--${k} is required`);
}

const types = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };
const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const file = url.pathname.startsWith('/pkg/')
    ? path.join(opt.pkg, path.basename(url.pathname))
    : path.join(here, path.basename(url.pathname));
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

const profile = await mkdtemp(path.join(tmpdir(), 'overlay-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const page = context.pages()[0] ?? (await context.newPage());
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });

const query = new URLSearchParams({
  bridge: opt.bridge, target: opt.target, passphrase: opt.passphrase, bench: opt.bench,
});
let outcome = 'timeout';
try {
  await page.goto(`${origin}/peer.html?${query}`);
  const wantScp = Number(opt['want-scp']);
  const deadline = Date.now() + Number(opt.timeout) * 1000;
  while (Date.now() < deadline) {
    const done = await page.evaluate((want) => {
      const ev = window.events ?? [];
      if (ev.some((e) => e.type === 'closed')) return 'closed';
      const scp = ev.filter((e) => e.type === 'message' && e.messageType === 'SCP_MESSAGE').length;
      return ev.some((e) => e.type === 'authenticated') && scp >= want ? 'done' : null;
    }, wantScp);
    if (done) { outcome = done; break; }
    await page.waitForTimeout(100);
  }
  if (opt.screenshot) await page.screenshot({ path: opt.screenshot });
  const report = await page.evaluate(() => {
    const ev = window.events;
    const counts = {};
    for (const e of ev) if (e.type === 'message') counts[e.messageType] = (counts[e.messageType] ?? 0) + 1;
    const one = (t) => ev.find((e) => e.type === t) ?? null;
    return {
      state: window.state,
      hello: one('hello'),
      keys: one('keys'),
      authenticated: one('authenticated'),
      credit: one('credit'),
      closed: one('closed'),
      errors: ev.filter((e) => e.type === 'error'),
      messageCounts: counts,
      scp: ev.filter((e) => e.messageType === 'SCP_MESSAGE').slice(0, 5),
      // MAC checks: the HELLO is never MACed (null); every message after AUTH completed is
      // verified (true). With no 'authenticated' event the HELLO falls in and fails it.
      helloMacOk: ev.filter((e) => e.type === 'message' && e.messageType === 'HELLO').map((e) => e.macOk),
      postAuthMessages: ev.slice(ev.findIndex((e) => e.type === 'authenticated') + 1).filter((e) => e.type === 'message').length,
      postAuthMacOk: ev.slice(ev.findIndex((e) => e.type === 'authenticated') + 1)
        .filter((e) => e.type === 'message').every((e) => e.macOk === true),
    };
  });
  console.log(JSON.stringify({ outcome, pageErrors, ...report }));
} finally {
  await context.close();
  server.close();
  await rm(profile, { recursive: true, force: true });
}
