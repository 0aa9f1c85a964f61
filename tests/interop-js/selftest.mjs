// JS-to-JS self-test of harness.mjs: runs a `listen` and a `connect` harness
// against each other on 127.0.0.1 and checks their JSON-line reports.
// Run: `npm test` (or `node --test selftest.mjs`). Set SELFTEST_N to change
// the number of TRANSACTIONs per direction in the bulk test (default 10000).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import readline from 'node:readline';

const HARNESS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'harness.mjs');
const N = Number(process.env.SELFTEST_N || 10000);

function run(args) {
  const child = spawn(process.execPath, [HARNESS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events = [];
  const waiters = [];
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let ev;
    try { ev = JSON.parse(line); } catch { ev = { event: 'unparsable', line }; }
    events.push(ev);
    for (const w of waiters.slice()) if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
  });
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  return {
    events,
    exited,
    get stderr() { return stderr; },
    waitFor(pred) {
      const found = events.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

async function pair(listenArgs, connectArgs) {
  const l = run(['listen', '--port', '0', '--timeout-secs', '60', ...listenArgs]);
  const { port } = await l.waitFor((e) => e.event === 'listening');
  const c = run(['connect', '--host', '127.0.0.1', '--port', String(port), '--timeout-secs', '60', ...connectArgs]);
  const [lCode, cCode] = await Promise.all([l.exited, c.exited]);
  const get = (p, name) => p.events.filter((e) => e.event === name);
  return { l, c, lCode, cCode, get };
}

const done = (p) => p.events.find((e) => e.event === 'done');

test(`bulk: ${N} TRANSACTIONs each way`, async () => {
  const r = await pair(['--send', String(N), '--expect', String(N)], ['--send', String(N), '--expect', String(N)]);
  for (const p of [r.l, r.c]) {
    const d = done(p);
    assert.ok(d, 'no done event: ' + JSON.stringify(p.events.slice(-3)));
    assert.equal(d.sent, N);
    assert.equal(d.received, N);
    assert.equal(d.inOrder, true);
    assert.equal(d.intact, true);
    assert.equal(d.creditViolations, 0);
    console.error(`# ${p === r.l ? 'listen ' : 'connect'}: ${d.elapsedMs} ms, ${d.msgsPerSec} msgs/s (sent+received)`);
  }
  assert.equal(r.lCode, 0);
  assert.equal(r.cCode, 0);
  const conn = r.c.events.find((e) => e.event === 'connected');
  assert.equal(conn.remoteOverlayVersion, 39);
  assert.equal(conn.remoteOverlayMinVersion, 38);
  assert.equal(conn.networkIdMatches, true);
});

test('GET_SCP_STATE answered with synthetic SCP_MESSAGEs, tight credit', async () => {
  const tight = ['--flow-capacity', '5', '--flow-batch', '5', '--flow-capacity-bytes', '1200'];
  const r = await pair(['--scp-state', '300', '--send', '500', '--expect', '500', ...tight],
    ['--get-scp-state', '42', '--expect-scp', '300', '--send', '500', '--expect', '500', ...tight]);
  assert.equal(r.lCode, 0);
  assert.equal(r.cCode, 0);
  const dl = done(r.l);
  const dc = done(r.c);
  assert.equal(dl.scpRequests, 1);
  assert.equal(dl.scpSent, 300);
  assert.equal(dc.scpReceived, 300);
  assert.equal(dc.scpValid, 300);
  assert.equal(dc.scpSynthetic, 300);
  assert.equal(dl.creditViolations, 0);
  assert.equal(dc.creditViolations, 0);
});

test('corrupted MAC is detected and the connection dropped', async () => {
  const r = await pair(['--expect', '100', '--wait-close'], ['--corrupt-mac-after', '100']);
  assert.equal(r.cCode, 0);
  assert.ok(r.c.events.find((e) => e.event === 'mac-corrupted' && e.afterSent === 100));
  assert.ok(r.c.events.find((e) => e.event === 'closed' && e.by === 'remote'));
  assert.equal(done(r.c).corruptMacRejected, true);
  assert.ok(r.l.events.find((e) => e.event === 'error' && /hmac/i.test(e.message)));
  assert.ok(r.l.events.find((e) => e.event === 'closed' && e.by === 'local'));
  assert.equal(done(r.l).received, 100);
  assert.equal(r.lCode, 0);
});

test('--core-like on both sides', async () => {
  const r = await pair(['--core-like', '--send', '1000', '--expect', '1000'], ['--core-like', '--send', '1000', '--expect', '1000']);
  assert.equal(r.lCode, 0);
  assert.equal(r.cCode, 0);
  const conn = r.c.events.find((e) => e.event === 'connected');
  assert.notEqual(conn.remoteListeningPort, 11625); // the listener's real port
});

test('wrong passphrase fails the handshake', async () => {
  const r = await pair([], ['--passphrase', 'some other network']);
  assert.equal(r.lCode, 1);
  assert.equal(r.cCode, 1);
  assert.ok(r.l.events.find((e) => e.event === 'error' && /auth cert/i.test(e.message)));
});
