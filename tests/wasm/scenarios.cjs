// Runs the shared simulation scenarios in host-wasm under Node and prints one JSON line per
// scenario: its outcome (trace hash, completion, events, virtual time) and the wall time.
// Usage: node scenarios.cjs PKG_DIR 'scp 1 100' 'tx 1 100 1000' ...
'use strict';
const path = require('path');
const pkg = require(path.resolve(process.argv[2], 'host_wasm.js'));
for (const spec of process.argv.slice(3)) {
  const [kind, ...args] = spec.split(' ');
  const nums = args.map(Number);
  const start = process.hrtime.bigint();
  const outcome =
    kind === 'scp' ? pkg.scenarioScpFlood(nums[0], nums[1])
    : kind === 'tx' ? pkg.scenarioTxFlood(nums[0], nums[1], nums[2])
    : null;
  if (outcome === null) throw new Error(`unknown scenario ${spec}`);
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  console.log(JSON.stringify({ spec, ...outcome, wallMs }));
}
