// libsodium sealed boxes (crypto_box_seal / crypto_box_seal_open) through sodium-native,
// for cross-checking overlay-core's survey response encryption against libsodium itself
// (stellar-core encrypts survey responses with crypto_box_seal).
//
// Input on stdin and output on stdout are hex, one value per run:
//   node sealed_box.mjs public <secret-hex>              -> X25519 public key of the secret
//   node sealed_box.mjs seal <public-hex>    < plaintext -> sealed box
//   node sealed_box.mjs open <public-hex> <secret-hex> < sealed -> plaintext (exit 1 if it does not open)

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const sodium = require('sodium-native');

function fromHex(s, what) {
  const t = s.trim();
  if (!/^([0-9a-fA-F]{2})*$/.test(t)) {
    process.stderr.write(`${what} is not hex\n`);
    process.exit(2);
  }
  return Buffer.from(t, 'hex');
}

function key(s, what) {
  const k = fromHex(s ?? '', what);
  if (k.length !== 32) {
    process.stderr.write(`${what} must be 32 bytes\n`);
    process.exit(2);
  }
  return k;
}

async function stdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return fromHex(Buffer.concat(chunks).toString('utf8'), 'stdin');
}

const [cmd, a, b] = process.argv.slice(2);
if (cmd === 'public') {
  const pk = Buffer.alloc(sodium.crypto_box_PUBLICKEYBYTES);
  sodium.crypto_scalarmult_base(pk, key(a, 'secret'));
  process.stdout.write(pk.toString('hex'));
} else if (cmd === 'seal') {
  const pk = key(a, 'public key');
  const m = await stdin();
  const c = Buffer.alloc(m.length + sodium.crypto_box_SEALBYTES);
  sodium.crypto_box_seal(c, m, pk);
  process.stdout.write(c.toString('hex'));
} else if (cmd === 'open') {
  const pk = key(a, 'public key');
  const sk = key(b, 'secret');
  const c = await stdin();
  if (c.length < sodium.crypto_box_SEALBYTES) process.exit(1);
  const m = Buffer.alloc(c.length - sodium.crypto_box_SEALBYTES);
  if (!sodium.crypto_box_seal_open(m, c, pk, sk)) process.exit(1);
  process.stdout.write(m.toString('hex'));
} else {
  process.stderr.write('usage: sealed_box.mjs public <sk> | seal <pk> | open <pk> <sk>\n');
  process.exit(2);
}
