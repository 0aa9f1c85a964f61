// In the page: a BrowserPeer to the node named in the query string, through the bridge.
// Exposes `window.events` (every event) and `window.state` for the driver.
import init, { BrowserPeer, benchReceivePath } from '/pkg/host_wasm.js';

const q = new URLSearchParams(location.search);
const log = document.getElementById('log');
window.events = [];
window.state = { ready: false };

await init();
const bench = Number(q.get('bench') || 0);
window.state.bench = bench > 0 ? benchReceivePath(bench) : null;
const peer = new BrowserPeer(q.get('bridge'), q.get('target'), q.get('passphrase'), (ev) => {
  window.events.push(ev);
  log.textContent += `${ev.type} ${ev.messageType ?? ev.reason ?? ''}\n`;
  if (ev.type === 'authenticated') peer.sendGetScpState(0);
});
window.state.nodeId = peer.nodeId();
window.state.ready = true;
window.peer = peer;
