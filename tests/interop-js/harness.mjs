#!/usr/bin/env node
// Interoperability harness for stellar-overlay-rs, built on
// @stellarbeat/js-stellar-node-connector 7.0.1 (a third-party JS implementation
// of the Stellar overlay protocol).
//
// It opens exactly one overlay connection (inbound with `listen`, outbound
// with `connect`), exchanges synthetic TRANSACTION / SCP_MESSAGE traffic and
// reports everything as JSON lines on stdout (one object per line, each with an
// "event" field). Diagnostics of the library go to stderr only (--verbose).
//
// See README.md for the CLI and the library quirks worked around here.

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------
// Output helpers (stdout = JSON lines only)
// ---------------------------------------------------------------------------

function out(obj) {
  try {
    process.stdout.write(JSON.stringify(obj) + '\n');
  } catch (_) {
    // stdout closed: nothing sensible left to do
  }
}

function errMsg(e) {
  if (e instanceof Error) return e.message || String(e);
  return String(e);
}

let exiting = false;
function exitNow(code) {
  if (exiting) return;
  exiting = true;
  process.exitCode = code;
  // stdout is a pipe or a file in practice (synchronous on Linux); the write
  // callback makes sure everything queued is flushed before exiting.
  process.stdout.write('', () => process.exit(code));
  setTimeout(() => process.exit(code), 500).unref();
}

process.on('uncaughtException', (e) => {
  out({ event: 'error', message: 'uncaught exception: ' + errMsg(e), stack: e && e.stack ? String(e.stack) : undefined });
  exitNow(1);
});
process.on('unhandledRejection', (e) => {
  out({ event: 'error', message: 'unhandled rejection: ' + errMsg(e) });
  exitNow(1);
});
process.stdout.on('error', () => {}); // EPIPE when the parent went away

// stdout carries JSON lines only: send any stray console output of the
// libraries (dotenv, pino fallbacks, ...) to stderr.
for (const k of ['log', 'info', 'debug', 'warn']) {
  console[k] = (...a) => { try { process.stderr.write(a.map(String).join(' ') + '\n'); } catch (_) { /* ignore */ } };
}

// ---------------------------------------------------------------------------
// CLI parsing
// ---------------------------------------------------------------------------

const USAGE = `usage:
  node harness.mjs listen  --port P [options]
  node harness.mjs connect --host 127.0.0.1 --port P [options]
options:
  --passphrase S         network passphrase (default "Standalone Network ; February 2017")
  --seed S               node secret seed (S... strkey); random otherwise
  --send N               send N synthetic TRANSACTIONs after the handshake (paced by credit)
  --expect N             wait until N TRANSACTIONs have been received
  --get-scp-state L      send GET_SCP_STATE(L) after the handshake (implies --expect-scp 1 unless given)
  --expect-scp N         wait until N SCP_MESSAGEs have been received
  --scp-state K          answer every GET_SCP_STATE with K synthetic SCP_MESSAGEs (paced by credit)
  --corrupt-mac-after K  send TRANSACTIONs 1..K, then K+1 with a corrupted MAC; expect the remote to close
  --demand-adverts       answer every FLOOD_ADVERT with a FLOOD_DEMAND for the hashes not yet demanded
                         (pull-mode flooding: the remote sends transaction bodies only on demand)
  --timeout-secs T       give up after T seconds (default 120)
  --min-overlay V        overlay min version announced (default 38)
  --max-overlay V        overlay version announced (default 39)
  --ledger-version V     ledger version announced (default 25)
  --version-str S        version string announced (default "stellar-overlay-interop-js")
  --wait-close           do not close when expectations are met; wait for the connection to close
                         (success if the expectations were met by then)
  --hello-port P         listening port put in our HELLO (library default: always 11625)
  --core-like            fix the library's wire quirks (record mark bit, zero HELLO MAC,
                         AuthCert expiration in seconds, real listening port in HELLO)
  --connect-retry-secs T (connect) retry ECONNREFUSED for up to T seconds (default 0)
  --progress-ms MS       minimum interval between progress lines (default 1000)
  --flow-capacity M      flood capacity we grant initially, messages (default 200)
  --flow-capacity-bytes B  ... bytes (default 300000)
  --flow-batch M         return capacity every M flood messages processed (default 40)
  --flow-batch-bytes B   ... or every B bytes (default 100000)
  --verbose              library logging to stderr`;

function parseArgs(argv) {
  const o = {
    mode: null,
    host: '127.0.0.1',
    port: null,
    passphrase: 'Standalone Network ; February 2017',
    seed: null,
    send: 0,
    expect: 0,
    getScpState: null,
    expectScp: null,
    scpState: 0,
    corruptMacAfter: null,
    demandAdverts: false,
    timeoutSecs: 120,
    minOverlay: 38,
    maxOverlay: 39,
    ledgerVersion: 25,
    versionStr: 'stellar-overlay-interop-js',
    waitClose: false,
    helloPort: null,
    coreLike: false,
    connectRetrySecs: 0,
    progressMs: 1000,
    verbose: false,
    flowCapacity: 200,
    flowCapacityBytes: 300000,
    flowBatch: 40,
    flowBatchBytes: 100000,
  };
  const args = argv.slice();
  o.mode = args.shift();
  if (o.mode !== 'listen' && o.mode !== 'connect') throw new Error('first argument must be "listen" or "connect"');
  const intOpt = (name, v, min = 0) => {
    if (v === undefined || !/^-?\d+$/.test(v)) throw new Error(`${name} needs an integer argument`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name}: invalid value ${v}`);
    return n;
  };
  const strOpt = (name, v) => {
    if (v === undefined) throw new Error(`${name} needs an argument`);
    return v;
  };
  while (args.length) {
    const a = args.shift();
    switch (a) {
      case '--host': o.host = strOpt(a, args.shift()); break;
      case '--port': o.port = intOpt(a, args.shift()); break;
      case '--passphrase': o.passphrase = strOpt(a, args.shift()); break;
      case '--seed': o.seed = strOpt(a, args.shift()); break;
      case '--send': o.send = intOpt(a, args.shift()); break;
      case '--expect': o.expect = intOpt(a, args.shift()); break;
      case '--get-scp-state': o.getScpState = intOpt(a, args.shift()); break;
      case '--expect-scp': o.expectScp = intOpt(a, args.shift()); break;
      case '--scp-state': o.scpState = intOpt(a, args.shift()); break;
      case '--corrupt-mac-after': o.corruptMacAfter = intOpt(a, args.shift()); break;
      case '--demand-adverts': o.demandAdverts = true; break;
      case '--timeout-secs': o.timeoutSecs = intOpt(a, args.shift(), 1); break;
      case '--min-overlay': o.minOverlay = intOpt(a, args.shift()); break;
      case '--max-overlay': o.maxOverlay = intOpt(a, args.shift()); break;
      case '--ledger-version': o.ledgerVersion = intOpt(a, args.shift()); break;
      case '--version-str': o.versionStr = strOpt(a, args.shift()); break;
      case '--wait-close': o.waitClose = true; break;
      case '--hello-port': o.helloPort = intOpt(a, args.shift()); break;
      case '--core-like': o.coreLike = true; break;
      case '--connect-retry-secs': o.connectRetrySecs = intOpt(a, args.shift()); break;
      case '--progress-ms': o.progressMs = intOpt(a, args.shift(), 1); break;
      case '--verbose': o.verbose = true; break;
      case '--flow-capacity': o.flowCapacity = intOpt(a, args.shift(), 1); break;
      case '--flow-capacity-bytes': o.flowCapacityBytes = intOpt(a, args.shift(), 1); break;
      case '--flow-batch': o.flowBatch = intOpt(a, args.shift(), 1); break;
      case '--flow-batch-bytes': o.flowBatchBytes = intOpt(a, args.shift(), 1); break;
      case '-h': case '--help': throw new Error('help');
      default: throw new Error('unknown argument: ' + a);
    }
  }
  if (o.port === null) throw new Error('--port is required');
  if (o.expectScp === null) o.expectScp = o.getScpState !== null ? 1 : 0;
  if (o.getScpState !== null && o.getScpState > 0xffffffff) throw new Error('--get-scp-state must fit in uint32');
  return o;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  if (errMsg(e) !== 'help') out({ event: 'error', message: 'bad arguments: ' + errMsg(e) });
  process.stderr.write(USAGE + '\n');
  process.exit(errMsg(e) === 'help' ? 0 : 2);
}

// ---------------------------------------------------------------------------
// Library imports (CommonJS). The connector pins @stellar/stellar-base 12.1.1;
// we use exactly that copy so that xdr objects are interchangeable.
// ---------------------------------------------------------------------------

const connector = require('@stellarbeat/js-stellar-node-connector');
const { xdr, Keypair, StrKey } = require('@stellar/stellar-base');
const xdrBufferConverter = require('@stellarbeat/js-stellar-node-connector/lib/connection/xdr-buffer-converter.js').default;
const sodium = require('sodium-native');
// neverthrow as resolved by the connector itself (its Result type is what the
// connector's read loop expects)
const neverthrowErr = createRequire(require.resolve('@stellarbeat/js-stellar-node-connector'))('neverthrow').err;

const MT = xdr.MessageType;
const T_TRANSACTION = MT.transaction().value;
const T_SCP_MESSAGE = MT.scpMessage().value;
const T_GET_SCP_STATE = MT.getScpState().value;
const T_SEND_MORE = MT.sendMore().value;
const T_SEND_MORE_EXTENDED = MT.sendMoreExtended().value;
const T_ERROR_MSG = MT.errorMsg().value;
const T_HELLO = MT.hello().value;
const T_FLOOD_ADVERT = MT.floodAdvert().value;
// what stellar-core (and the library's FlowController) count against credit
const FLOOD_TYPES = new Set([T_TRANSACTION, T_SCP_MESSAGE, MT.floodAdvert().value, MT.floodDemand().value]);

const sha256 = (data) => createHash('sha256').update(data).digest();
const networkId = sha256(Buffer.from(opts.passphrase, 'utf8'));

// Minimal logger with pino's interface (the library's default pino logger
// writes JSON to stdout, which would corrupt our event stream).
function makeLogger(verbose) {
  const noop = () => {};
  const mk = (lvl) => verbose
    ? (a, b) => {
        try {
          const msg = typeof a === 'string' ? a : (b !== undefined ? String(b) : '') + ' ' + JSON.stringify(a);
          process.stderr.write(`[connector ${lvl}] ${msg}\n`);
        } catch (_) { /* ignore */ }
      }
    : noop;
  const logger = {
    trace: noop, // far too chatty even for --verbose
    debug: mk('debug'), info: mk('info'), warn: mk('warn'), error: mk('error'), fatal: mk('fatal'),
    child() { return logger; },
  };
  return logger;
}

// ---------------------------------------------------------------------------
// Node setup
// ---------------------------------------------------------------------------

let node;
try {
  node = connector.createNode({
    network: opts.passphrase,
    nodeInfo: {
      ledgerVersion: opts.ledgerVersion,
      overlayMinVersion: opts.minOverlay,
      overlayVersion: opts.maxOverlay,
      versionString: opts.versionStr,
    },
    listeningPort: opts.helloPort ?? 11625, // NB: ignored by the library (Connection hardcodes 11625)
    privateKey: opts.seed ?? undefined,
    receiveSCPMessages: true, // must be true: when false the lib neither verifies MACs nor returns capacity
    receiveTransactionMessages: true, // must be true: when false the lib skips MAC verification
    // capacity WE grant to the remote (library FlowController; stellar-core defaults)
    peerFloodReadingCapacity: opts.flowCapacity,
    flowControlSendMoreBatchSize: opts.flowBatch,
    peerFloodReadingCapacityBytes: opts.flowCapacityBytes,
    flowControlSendMoreBatchSizeBytes: opts.flowBatchBytes,
  }, makeLogger(opts.verbose));
} catch (e) {
  out({ event: 'error', message: 'cannot create node: ' + errMsg(e) });
  process.exit(1);
}
const keyPair = node.keyPair;
const ownRawPub = keyPair.rawPublicKey();

// --core-like: make the library's wire format match stellar-core.
if (opts.coreLike) {
  // (1) stellar-core sets the RFC 5531 record-marking "last fragment" bit.
  const origGetXdrBuffer = xdrBufferConverter.getXdrBufferFromMessage;
  xdrBufferConverter.getXdrBufferFromMessage = function (message) {
    const r = origGetXdrBuffer.call(this, message);
    if (r.isOk()) r.value[0] |= 0x80;
    return r;
  };
  // (2) AuthCert expiration in seconds (library: milliseconds since epoch).
  const ca = node.connectionAuthentication;
  ca.createAuthCert = function (time) {
    const expSecs = Math.floor(time.getTime() / 1000) + 3600;
    this.authCertExpiration = expSecs * 1000; // the lib's cache logic works in ms
    const expiration = xdr.Uint64.fromString(String(expSecs));
    const sigData = Buffer.concat([this.networkId, xdr.EnvelopeType.envelopeTypeAuth().toXDR(), expiration.toXDR(), this.publicKeyECDH]);
    return { publicKeyECDH: this.publicKeyECDH, expiration, signature: this.keyPair.sign(sha256(sigData)) };
  };
}

// ---------------------------------------------------------------------------
// Synthetic messages
// ---------------------------------------------------------------------------

function i64(n) { return xdr.Int64.fromString(String(n)); }

function makeTransactionMessage(i) {
  const tx = new xdr.Transaction({
    sourceAccount: xdr.MuxedAccount.keyTypeEd25519(ownRawPub),
    fee: 100,
    seqNum: i64(i),
    cond: xdr.Preconditions.precondNone(),
    memo: xdr.Memo.memoHash(sha256('tx-' + i)),
    operations: [new xdr.Operation({
      sourceAccount: null,
      body: xdr.OperationBody.bumpSequence(new xdr.BumpSequenceOp({ bumpTo: i64(i) })),
    })],
    ext: new xdr.TransactionExt(0),
  });
  const env = xdr.TransactionEnvelope.envelopeTypeTx(new xdr.TransactionV1Envelope({ tx, signatures: [] }));
  return xdr.StellarMessage.transaction(env);
}

const ENVELOPE_TYPE_SCP_XDR = Buffer.from([0, 0, 0, 1]);

function makeScpMessage(slot) {
  const statement = new xdr.ScpStatement({
    nodeId: xdr.PublicKey.publicKeyTypeEd25519(ownRawPub),
    slotIndex: xdr.Uint64.fromString(String(slot)),
    pledges: xdr.ScpStatementPledges.scpStNominate(new xdr.ScpNomination({
      quorumSetHash: Buffer.alloc(32),
      votes: [sha256('value-' + slot)],
      accepted: [],
    })),
  });
  const signature = keyPair.sign(Buffer.concat([networkId, ENVELOPE_TYPE_SCP_XDR, statement.toXDR()]));
  return xdr.StellarMessage.scpMessage(new xdr.ScpEnvelope({ statement, signature }));
}

// Returns {ok, seq} for a received TRANSACTION message.
function checkTransaction(msg, expectedSeq) {
  let seq = null;
  try {
    const env = msg.transaction();
    if (env.switch().value !== xdr.EnvelopeType.envelopeTypeTx().value) return { intact: false, seq };
    const tx = env.v1().tx();
    seq = tx.seqNum().toString();
    const memo = tx.memo();
    const ops = tx.operations();
    const intact = memo.switch().value === xdr.MemoType.memoHash().value
      && Buffer.from(memo.hash()).equals(sha256('tx-' + seq))
      && ops.length === 1
      && ops[0].body().switch().value === xdr.OperationType.bumpSequence().value
      && ops[0].body().bumpSequenceOp().bumpTo().toString() === seq;
    return { intact, seq, inOrder: seq === String(expectedSeq) };
  } catch (_) {
    return { intact: false, seq, inOrder: false };
  }
}

function checkScp(msg) {
  try {
    const env = msg.envelope();
    const st = env.statement();
    const body = Buffer.concat([networkId, ENVELOPE_TYPE_SCP_XDR, st.toXDR()]);
    const valid = sodium.crypto_sign_verify_detached(Buffer.from(env.signature()), body, Buffer.from(st.nodeId().value()));
    let synthetic = false;
    const slot = st.slotIndex().toString();
    if (st.pledges().switch().value === xdr.ScpStatementType.scpStNominate().value) {
      const nom = st.pledges().nominate();
      synthetic = nom.votes().length === 1 && Buffer.from(nom.votes()[0]).equals(sha256('value-' + slot))
        && nom.accepted().length === 0 && Buffer.from(nom.quorumSetHash()).equals(Buffer.alloc(32));
    }
    return { valid, synthetic, slot };
  } catch (_) {
    return { valid: false, synthetic: false, slot: null };
  }
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

const corrupt = opts.corruptMacAfter !== null;
const txTarget = corrupt ? opts.corruptMacAfter + 1 : opts.send; // incl. the corrupted one

const st = {
  conn: null,
  handshakeDone: false,
  connectedAt: 0,
  // credit granted by the remote for our flood messages
  creditMsgs: 0,
  creditBytes: 0,
  grants: 0,
  grantedMsgsTotal: 0,
  grantedBytesTotal: 0,
  // sending
  txQueued: 0, // TRANSACTIONs handed to the connection (1..txQueued)
  txSent: 0, // write callbacks completed without error
  peeked: null, // {msg, size, kind, ...} next flood message not yet sent (no credit)
  scpQueue: [], // pending SCP_MESSAGE answers
  demandQueue: [], // pending FLOOD_DEMANDs (--demand-adverts)
  scpRequests: 0,
  scpAnswersQueued: 0,
  scpAnswersSent: 0,
  writesPending: 0,
  corruptQueued: false,
  corruptWritten: false,
  // receiving
  received: 0,
  inOrder: true,
  intact: true,
  firstBadSeq: null,
  scpReceived: 0,
  scpValid: 0,
  scpSynthetic: 0,
  otherReceived: {},
  remoteErrors: [],
  // pull mode (--demand-adverts)
  advertsReceived: 0, // FLOOD_ADVERT messages
  advertHashes: 0, // hashes in them, duplicates included
  demanded: new Set(), // hex hashes put in a FLOOD_DEMAND (queued or sent)
  demandsSent: 0, // FLOOD_DEMAND messages written
  hashesDemanded: 0, // hashes in the FLOOD_DEMANDs written
  txDemandedReceived: 0, // received TRANSACTIONs whose hash we had demanded
  // lifecycle
  doneReached: false,
  localClose: false,
  remoteEnded: false,
  closed: false,
  lastError: null,
  remoteHelloPort: null,
  // capacity we granted to the remote (to detect flow-control violations)
  weGrantedMsgs: 0,
  weGrantedBytes: 0,
  floodReceived: 0,
  creditViolations: 0,
};

function sentCount() { return st.txSent; }

function expectationsMet() {
  if (!st.handshakeDone) return false;
  if (st.received < opts.expect) return false;
  if (st.scpReceived < opts.expectScp) return false;
  if (!corrupt && st.txSent < txTarget) return false;
  if (opts.scpState > 0 && (st.scpRequests < 1 || st.scpAnswersSent < st.scpAnswersQueued || st.scpQueue.length > 0 || st.peeked?.kind === 'scp')) return false;
  if (corrupt && !st.corruptWritten) return false;
  return true;
}

// Exit code once the expectations were met: the remote must also have kept within the
// flow-control credit we granted (a violation fails the run, not just a log line).
function successCode() {
  if (st.creditViolations > 0) {
    out({ event: 'error', message: `remote exceeded the flow-control credit we granted ${st.creditViolations} time(s)`, creditViolations: st.creditViolations });
    return 1;
  }
  return 0;
}

function summary() {
  const elapsedMs = st.connectedAt ? Date.now() - st.connectedAt : 0;
  const total = st.txSent + st.received + st.scpReceived + st.scpAnswersSent;
  return {
    sent: sentCount(),
    received: st.received,
    inOrder: st.inOrder,
    intact: st.intact,
    scpReceived: st.scpReceived,
    scpValid: st.scpValid,
    scpSynthetic: st.scpSynthetic,
    scpRequests: st.scpRequests,
    scpSent: st.scpAnswersSent,
    firstBadSeq: st.firstBadSeq,
    otherReceived: st.otherReceived,
    advertsReceived: st.advertsReceived,
    advertHashes: st.advertHashes,
    demandsSent: st.demandsSent,
    hashesDemanded: st.hashesDemanded,
    txDemandedReceived: st.txDemandedReceived,
    creditGrants: st.grants,
    floodReceived: st.floodReceived,
    creditViolations: st.creditViolations,
    remoteErrors: st.remoteErrors,
    elapsedMs,
    msgsPerSec: elapsedMs > 0 ? Math.round(total * 1000 / elapsedMs) : null,
  };
}

// ---------------------------------------------------------------------------
// Progress / throttled events
// ---------------------------------------------------------------------------

let lastProgressKey = '';
const progressTimer = setInterval(() => {
  if (!st.handshakeDone) return;
  const key = `${st.txSent}/${st.received}/${st.scpReceived}/${st.scpAnswersSent}`;
  if (key === lastProgressKey) return;
  lastProgressKey = key;
  out({
    event: 'progress', sent: st.txSent, received: st.received, scpReceived: st.scpReceived, scpSent: st.scpAnswersSent,
    creditMessages: st.creditMsgs, creditBytes: st.creditBytes,
  });
}, opts.progressMs);
progressTimer.unref();

let lastScpPrint = 0;
let scpPrintTimer = null;
function reportScp() {
  const now = Date.now();
  const emit = () => { lastScpPrint = Date.now(); scpPrintTimer = null; out({ event: 'scp', count: st.scpReceived, valid: st.scpValid }); };
  if (st.scpReceived === 1 || now - lastScpPrint >= 1000 || st.scpReceived === opts.expectScp) {
    if (scpPrintTimer) { clearTimeout(scpPrintTimer); scpPrintTimer = null; }
    emit();
  } else if (!scpPrintTimer) {
    scpPrintTimer = setTimeout(emit, 1000 - (now - lastScpPrint));
  }
}

const timeoutTimer = setTimeout(() => {
  out({ event: 'timeout', seconds: opts.timeoutSecs, ...summary(), creditMessages: st.creditMsgs, creditBytes: st.creditBytes, handshakeDone: st.handshakeDone });
  try { st.conn?.destroy(); } catch (_) { /* ignore */ }
  exitNow(1);
}, opts.timeoutSecs * 1000);

// ---------------------------------------------------------------------------
// Sending (paced by the credit granted by the remote)
// ---------------------------------------------------------------------------

function nextFloodMessage() {
  if (st.peeked) return st.peeked;
  if (st.corruptQueued) return null; // nothing after the corrupted frame
  if (st.scpQueue.length > 0) {
    st.peeked = st.scpQueue.shift();
  } else if (st.demandQueue.length > 0) {
    st.peeked = st.demandQueue.shift();
  } else if (st.txQueued < txTarget) {
    const i = st.txQueued + 1;
    const msg = makeTransactionMessage(i);
    st.peeked = { kind: 'tx', index: i, msg, size: msg.toXDR().length, corrupt: corrupt && i === txTarget };
  }
  return st.peeked;
}

const corruptMessages = new WeakSet();

function pump() {
  const conn = st.conn;
  if (!conn || !st.handshakeDone || st.closed || st.localClose) return;
  while (!conn.writableNeedDrain) {
    const m = nextFloodMessage();
    if (!m) break;
    if (st.creditMsgs < 1 || st.creditBytes < m.size) break; // wait for SEND_MORE_EXTENDED
    st.creditMsgs -= 1;
    st.creditBytes -= m.size;
    st.peeked = null;
    if (m.kind === 'tx') {
      st.txQueued = m.index;
      if (m.corrupt) { st.corruptQueued = true; corruptMessages.add(m.msg); }
    }
    st.writesPending++;
    conn.sendStellarMessage(m.msg, (err) => {
      st.writesPending--;
      if (err) return; // reported through the 'error' event
      if (m.kind === 'tx') {
        if (m.corrupt) {
          st.corruptWritten = true;
          out({ event: 'mac-corrupted', afterSent: st.txSent, seq: m.index });
        } else {
          st.txSent++;
        }
      } else if (m.kind === 'scp') {
        st.scpAnswersSent++;
      } else if (m.kind === 'demand') {
        st.demandsSent++;
        st.hashesDemanded += m.hashes;
      }
      maybeDone();
    });
  }
}

// Pull-mode flooding (stellar-core >= 19, our nodes): a FLOOD_ADVERT carries hashes
// (SHA-256 of the TransactionEnvelope XDR); the bodies come as TRANSACTIONs only in
// answer to a FLOOD_DEMAND. FLOOD_DEMAND is a flood message: it waits for credit like
// TRANSACTION and SCP_MESSAGE (pump). Each hash is demanded once.
function onAdvert(msg) {
  st.advertsReceived++;
  const hashes = msg.floodAdvert().txHashes();
  st.advertHashes += hashes.length;
  if (!opts.demandAdverts) return;
  const fresh = [];
  for (const h of hashes) {
    const hex = Buffer.from(h).toString('hex');
    if (st.demanded.has(hex)) continue;
    st.demanded.add(hex);
    fresh.push(Buffer.from(h));
  }
  if (fresh.length === 0) return;
  // an advert holds at most TX_ADVERT_VECTOR_MAX_SIZE (1000) hashes, as does a demand
  const msgOut = xdr.StellarMessage.floodDemand(new xdr.FloodDemand({ txHashes: fresh }));
  st.demandQueue.push({ kind: 'demand', msg: msgOut, size: msgOut.toXDR().length, hashes: fresh.length });
  pump();
}

function onGetScpState(ledgerSeq) {
  st.scpRequests++;
  if (opts.scpState <= 0) return;
  const base = ledgerSeq === 0 ? 1 : ledgerSeq;
  for (let k = 0; k < opts.scpState; k++) {
    const msg = makeScpMessage(base + k);
    st.scpQueue.push({ kind: 'scp', msg, size: msg.toXDR().length });
    st.scpAnswersQueued++;
  }
  pump();
}

// ---------------------------------------------------------------------------
// Completion
// ---------------------------------------------------------------------------

function maybeDone() {
  if (st.doneReached || st.closed || opts.waitClose || corrupt) return;
  if (!expectationsMet()) return;
  st.doneReached = true;
  out({ event: 'done', ...summary() });
  closeLocally();
}

function closeLocally() {
  const conn = st.conn;
  st.localClose = true;
  if (!conn || st.closed) return;
  try { conn.end(); } catch (e) { out({ event: 'error', message: 'end failed: ' + errMsg(e) }); }
  setTimeout(() => { if (!st.closed) { try { conn.destroy(); } catch (_) { /* ignore */ } } }, 2000).unref();
  setTimeout(() => { if (!st.closed) { out({ event: 'closed', by: 'local', error: 'close timed out' }); exitNow(st.doneReached ? successCode() : 1); } }, 4000).unref();
}

const REMOTE_ERROR_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNREFUSED']);

function onClosed() {
  if (st.closed) return;
  st.closed = true;
  const e = st.lastError;
  let by;
  if (st.localClose) by = 'local';
  else if (!e) by = 'remote'; // FIN from the remote
  else if (e.code && REMOTE_ERROR_CODES.has(e.code)) by = 'remote'; // RST etc.
  else by = 'local'; // error detected locally (bad MAC, bad auth cert, malformed frame, ...)
  const ev = { event: 'closed', by };
  if (e) ev.error = errMsg(e);
  if (st.remoteErrors.length) ev.remoteError = st.remoteErrors[st.remoteErrors.length - 1];
  out(ev);
  clearTimeout(timeoutTimer);
  if (node.listening) { try { node.stopAcceptingIncomingConnections(); } catch (_) { /* ignore */ } }

  if (st.doneReached) return exitNow(successCode());
  if (corrupt && st.corruptWritten && by === 'remote' && st.received >= opts.expect && st.scpReceived >= opts.expectScp) {
    st.doneReached = true;
    out({ event: 'done', ...summary(), corruptMacRejected: true });
    return exitNow(successCode());
  }
  if (opts.waitClose && expectationsMet()) {
    st.doneReached = true;
    out({ event: 'done', ...summary(), closedBy: by });
    return exitNow(successCode());
  }
  out({ event: 'error', message: corrupt && st.corruptWritten && by !== 'remote'
    ? 'connection closed locally after the corrupted frame'
    : (st.handshakeDone ? 'connection closed before expectations were met' : 'connection closed before the handshake completed'), ...summary() });
  exitNow(1);
}

// ---------------------------------------------------------------------------
// Connection wiring
// ---------------------------------------------------------------------------

function versionsOverlap(info) {
  return info.overlayVersion >= opts.minOverlay && opts.maxOverlay >= info.overlayMinVersion;
}

// Attach everything to a library Connection. Must be called before the
// HELLO is sent (i.e. synchronously after connectTo()/'connection').
function wire(conn, onRefused) {
  st.conn = conn;
  const socket = conn.socket;
  // The library leaves Nagle on; small frames would be delayed by ~40 ms.
  try { socket.setNoDelay(true); } catch (_) { /* ignore */ }
  socket.once('connect', () => { try { socket.setNoDelay(true); } catch (_) { /* ignore */ } });

  if (opts.helloPort !== null) conn.localListeningPort = opts.helloPort;
  else if (opts.coreLike && opts.mode === 'listen') conn.localListeningPort = listenPort;

  // Hook 1: credit. The library consumes SEND_MORE(_EXTENDED) internally in
  // Connection.handleStellarMessage (it only increments a counter), so wrap it.
  // Hook 2: the remote HELLO's listening port (not kept by the library).
  const origHandle = conn.handleStellarMessage;
  conn.handleStellarMessage = function (stellarMessage, size) {
    const t = stellarMessage.switch().value;
    if (t === T_SEND_MORE_EXTENDED) {
      const sm = stellarMessage.sendMoreExtendedMessage();
      onCredit(sm.numMessages(), sm.numBytes(), 'SEND_MORE_EXTENDED');
    } else if (t === T_SEND_MORE) {
      onCredit(stellarMessage.sendMoreMessage().numMessages(), 0, 'SEND_MORE');
    } else if (t === T_HELLO) {
      try { st.remoteHelloPort = stellarMessage.hello().listeningPort(); } catch (_) { /* ignore */ }
    } else if (FLOOD_TYPES.has(t)) {
      onFloodReceived(size, stellarMessage.switch().name);
    }
    return origHandle.call(this, stellarMessage, size);
  };

  // Hook 4: the capacity WE grant (the library's FlowController produces the
  // SEND_MORE_EXTENDED messages and sends them via sendStellarMessage), so that
  // a remote exceeding our grant can be reported (the library never checks).
  const origSend = conn.sendStellarMessage;
  conn.sendStellarMessage = function (message, cb) {
    if (message.switch().value === T_SEND_MORE_EXTENDED) {
      const sm = message.sendMoreExtendedMessage();
      st.weGrantedMsgs += sm.numMessages();
      st.weGrantedBytes += sm.numBytes();
    }
    return origSend.call(this, message, cb);
  };

  // Hook 5: the library's read loop does not catch exceptions thrown while
  // parsing a malformed frame (e.g. a frame shorter than 44 bytes makes
  // parseAuthenticatedMessageXDR read out of bounds), which would crash the
  // process from inside the socket's 'readable' handler. Turn them into the
  // Result error the loop expects, so the connection is closed with an error.
  const origProcessNext = conn.processNextMessage;
  conn.processNextMessage = function () {
    try {
      return origProcessNext.call(this);
    } catch (e) {
      return neverthrowErr(e instanceof Error ? e : new Error(String(e)));
    }
  };

  // Hook 3: MAC corruption (and zero HELLO MAC with --core-like). The library
  // computes the MAC in Connection.getMacForAuthenticatedMessage, called from
  // authenticateMessage() with the correct sequence number, so flipping a bit
  // of its result yields a correctly sequenced frame with a wrong MAC.
  const origMac = conn.getMacForAuthenticatedMessage;
  conn.getMacForAuthenticatedMessage = function (message) {
    if (opts.coreLike && message.switch().value === T_HELLO) {
      return new xdr.HmacSha256Mac({ mac: Buffer.alloc(32) });
    }
    const mac = origMac.call(this, message);
    if (corruptMessages.has(message)) {
      const bad = Buffer.from(mac.mac());
      bad[0] ^= 0x01;
      return new xdr.HmacSha256Mac({ mac: bad });
    }
    return mac;
  };

  conn.on('connect', (publicKey, nodeInfo) => {
    try {
      st.handshakeDone = true;
      st.connectedAt = Date.now();
      const ev = {
        event: 'connected',
        remoteNodeId: publicKey,
        remoteVersionStr: nodeInfo.versionString,
        remoteOverlayVersion: nodeInfo.overlayVersion,
        remoteOverlayMinVersion: nodeInfo.overlayMinVersion,
        remoteLedgerVersion: nodeInfo.ledgerVersion,
        remoteListeningPort: st.remoteHelloPort,
        networkIdMatches: nodeInfo.networkId === networkId.toString('base64'),
        versionsOverlap: versionsOverlap(nodeInfo),
        localNodeId: keyPair.publicKey(),
        role: opts.mode === 'listen' ? 'acceptor' : 'initiator',
      };
      out(ev);
      // Defer so that the library's initial SEND_MORE_EXTENDED (sent right
      // after the 'connect' event) goes out first.
      setImmediate(() => {
        try {
          if (opts.getScpState !== null && !st.closed) {
            conn.sendStellarMessage(xdr.StellarMessage.getScpState(opts.getScpState));
          }
          pump();
          maybeDone();
        } catch (e) { out({ event: 'error', message: 'after connect: ' + errMsg(e) }); }
      });
    } catch (e) {
      out({ event: 'error', message: 'connect handler: ' + errMsg(e) });
    }
  });

  conn.on('data', (work) => {
    try {
      onMessage(work.stellarMessage);
    } catch (e) {
      out({ event: 'error', message: 'message handler: ' + errMsg(e) });
    } finally {
      // Return flow-control capacity to the remote (the library sends
      // SEND_MORE_EXTENDED per batch).
      try { if (!st.closed && !st.localClose) work.done(); } catch (e) { out({ event: 'error', message: 'done(): ' + errMsg(e) }); }
    }
  });

  conn.on('drain', () => pump());
  conn.on('end', () => { st.remoteEnded = true; });
  conn.on('timeout', () => { /* library sets idle timeouts but never acts on them */ });
  conn.on('error', (e) => {
    if (onRefused && !st.handshakeDone && e && e.code === 'ECONNREFUSED' && onRefused()) return;
    st.lastError = st.lastError || e;
    const ev = { event: 'error', message: errMsg(e) };
    if (e && e.code) ev.code = e.code;
    if (st.doneReached || st.localClose) ev.afterDone = true;
    if (st.corruptWritten) ev.afterCorruptMac = true;
    out(ev);
    // Safety net: make sure we finish even if no 'close' follows.
    setTimeout(() => { if (!st.closed && !exiting) { try { conn.destroy(); } catch (_) { /* ignore */ } } }, 1000).unref();
    setTimeout(() => { if (!st.closed && !exiting) onClosed(); }, 3000).unref();
  });
  conn.on('close', () => {
    if (st.retrying) return;
    onClosed();
  });
}

function onCredit(numMessages, numBytes, kind) {
  st.creditMsgs += numMessages;
  st.creditBytes += numBytes;
  st.grants++;
  st.grantedMsgsTotal += numMessages;
  st.grantedBytesTotal += numBytes;
  if (st.grants === 1 || st.grants % 100 === 0) {
    out({ event: 'credit', messages: numMessages, bytes: numBytes, kind, grants: st.grants, availableMessages: st.creditMsgs, availableBytes: st.creditBytes });
  }
  // The grant is processed inside the library's read loop; pump afterwards.
  setImmediate(pump);
}

// Flood messages received vs. the capacity we granted (counted when our grant
// is handed to the socket, so this never over-reports). Violations are in the
// summary (`creditViolations`) and make the run fail (successCode).
function onFloodReceived(size, name) {
  st.floodReceived++;
  st.weGrantedMsgs -= 1;
  st.weGrantedBytes -= size;
  if (st.weGrantedMsgs < 0 || st.weGrantedBytes < 0) {
    st.creditViolations++;
    if (st.creditViolations === 1) {
      out({ event: 'error', message: `remote exceeded the flow-control credit we granted (${name}, ${size} bytes; outstanding messages ${st.weGrantedMsgs}, bytes ${st.weGrantedBytes})`, creditViolation: true });
    }
    // do not go on counting the same deficit for every later message
    st.weGrantedMsgs = Math.max(st.weGrantedMsgs, 0);
    st.weGrantedBytes = Math.max(st.weGrantedBytes, 0);
  }
}

function onMessage(msg) {
  const t = msg.switch().value;
  if (t === T_TRANSACTION) {
    const expected = st.received + 1;
    const r = checkTransaction(msg, expected);
    st.received++;
    if (opts.demandAdverts && st.demanded.has(sha256(msg.transaction().toXDR()).toString('hex'))) st.txDemandedReceived++;
    if (!r.inOrder) { st.inOrder = false; if (st.firstBadSeq === null) st.firstBadSeq = { expected, got: r.seq }; }
    if (!r.intact) st.intact = false;
    maybeDone();
  } else if (t === T_SCP_MESSAGE) {
    const r = checkScp(msg);
    st.scpReceived++;
    if (r.valid) st.scpValid++;
    if (r.synthetic) st.scpSynthetic++;
    reportScp();
    maybeDone();
  } else if (t === T_GET_SCP_STATE) {
    onGetScpState(msg.getScpLedgerSeq());
  } else if (t === T_FLOOD_ADVERT) {
    onAdvert(msg);
  } else if (t === T_ERROR_MSG) {
    const e = msg.error();
    const re = { code: e.code().name, msg: e.msg().toString() };
    st.remoteErrors.push(re);
    out({ event: 'error', message: `remote ERROR_MSG ${re.code}: ${re.msg}`, remote: true, code: re.code });
  } else {
    const name = msg.switch().name;
    st.otherReceived[name] = (st.otherReceived[name] || 0) + 1;
  }
}

// ---------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------

let listenPort = opts.port;

node.on('error', (e) => {
  out({ event: 'error', message: 'listener: ' + errMsg(e), code: e && e.code });
  exitNow(1);
});

if (opts.mode === 'listen') {
  let accepted = false;
  node.on('listening', () => {
    try { listenPort = node.server.address().port; } catch (_) { /* ignore */ }
    out({ event: 'listening', port: listenPort, nodeId: keyPair.publicKey() });
  });
  node.on('connection', (conn) => {
    if (accepted) {
      // only one connection is handled; refuse others
      try { conn.on('error', () => {}); conn.destroy(); } catch (_) { /* ignore */ }
      return;
    }
    accepted = true;
    try { node.stopAcceptingIncomingConnections(); } catch (_) { /* ignore */ }
    out({ event: 'accepted', remoteAddress: conn.remoteAddress });
    wire(conn, null);
  });
  try {
    node.acceptIncomingConnections(opts.port, opts.host);
  } catch (e) {
    out({ event: 'error', message: 'listen failed: ' + errMsg(e) });
    exitNow(1);
  }
} else {
  const retryUntil = Date.now() + opts.connectRetrySecs * 1000;
  const attempt = () => {
    st.retrying = false;
    const conn = node.connectTo(opts.host, opts.port);
    wire(conn, () => {
      if (Date.now() >= retryUntil) return false;
      st.retrying = true;
      try { conn.removeAllListeners('close'); conn.on('close', () => {}); } catch (_) { /* ignore */ }
      setTimeout(attempt, 100);
      return true;
    });
  };
  attempt();
}
