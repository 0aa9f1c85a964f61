// Live view: a real Stellar peer in the page (host-wasm's BrowserPeer), connected through
// the WebSocket bridge to one node. Shows the handshake step by step, the message stream,
// flow-control credit both ways, SCP progress per validator, the node's PEERS and why the
// connection ended.

import { BrowserPeer, type MessageSummary, type PeerCredit, type PeerEvent } from "host-wasm";
import { localnet, PASSPHRASES, type LocalnetInfo } from "../env";
import { wasmReady } from "../wasm";
import { classOf, copy, field, fmtBytes, fmtMs, fmtNum, h, shortId, toast } from "../ui/dom";
import type { View } from "../main";

type Ev<T extends PeerEvent["type"]> = Extract<PeerEvent, { type: T }>;

interface Row {
  n: number;
  t: number;
  dir: "in" | "out";
  type: string;
  seq: number | null;
  size: number | null;
  /** Received: true = verified, null = not MACed (HELLO, ERROR_MSG); unused for sent rows. */
  macOk: boolean | null;
  summary: MessageSummary;
  raw: string | undefined;
}

interface Target {
  label: string;
  peer: string;
  id: string | null;
  admin: string | null;
}

const MAX_ROWS = 5000;
const SHOWN_ROWS = 300;
const PHASES = ["NOMINATE", "PREPARE", "CONFIRM", "EXTERNALIZE"] as const;
/** AUTH's `flags` value stellar-core requires: AUTH_MSG_FLAG_FLOW_CONTROL_BYTES_REQUESTED. */
const AUTH_FLAG_FLOW_CONTROL_BYTES = 200;

function authFlagsText(flags: number | null): string {
  if (flags === null) return "–";
  return flags === AUTH_FLAG_FLOW_CONTROL_BYTES ? `${flags} (flow control in bytes)` : String(flags);
}

/** The MAC column: verified, not MACed (HELLO, ERROR_MSG), or failed; nothing for sent rows. */
function macCell(r: Row): HTMLElement {
  if (r.dir === "out") return h("td", {});
  if (r.macOk === true) return h("td", { class: "ok", title: "sequence and HMAC-SHA256 verified", "data-mac": "verified" }, "✓");
  if (r.macOk === false) return h("td", { class: "bad", title: "MAC or sequence check failed", "data-mac": "failed" }, "✗");
  return h("td", { class: "faint", title: "not MACed: HELLO brings the MAC keys, ERROR_MSG may be sent before them", "data-mac": "none" }, "none");
}

function summaryText(type: string, s: MessageSummary): string {
  if (!s || typeof s !== "object") return "";
  switch (type) {
    case "HELLO":
      return `${shortId(s.node ?? "")} · ${s.versionStr} · overlay ${s.overlayMinVersion}–${s.overlayVersion} · ledger ${s.ledgerVersion} · port ${s.listeningPort}`;
    case "AUTH":
      return `flags ${s.flags}${s.flags === AUTH_FLAG_FLOW_CONTROL_BYTES ? " (flow control in bytes)" : ""}`;
    case "SCP_MESSAGE":
      return `${s.statement} slot ${s.slot} · ${shortId(s.node ?? "")}${s.txSets?.length ? ` · tx set ${String(s.txSets[0]).slice(0, 10)}…` : ""}`;
    case "TRANSACTION":
      return `tx ${String(s.hash).slice(0, 12)}… · source ${s.source ? shortId(s.source) : "?"} · ${s.operations ?? "?"} op`;
    case "FLOOD_ADVERT":
      return `${s.hashes} transaction hash${s.hashes === 1 ? "" : "es"} advertised`;
    case "FLOOD_DEMAND":
      return `${s.hashes} transaction${s.hashes === 1 ? "" : "s"} demanded`;
    case "SEND_MORE_EXTENDED":
    case "SEND_MORE":
      return `credit +${s.messages} messages, +${fmtBytes(s.bytes ?? 0)}`;
    case "PEERS":
      return `${s.peers?.length ?? 0} addresses: ${(s.peers ?? []).slice(0, 4).join(", ")}${(s.peers?.length ?? 0) > 4 ? " …" : ""}`;
    case "ERROR_MSG":
      return `${s.code}: ${s.msg}`;
    case "GET_SCP_STATE":
      return `from ledger ${s.ledger}`;
    case "GET_TX_SET":
    case "GET_SCP_QUORUMSET":
      return `hash ${String(s.hash).slice(0, 16)}…`;
    case "DONT_HAVE":
      return `don't have ${s.type} ${String(s.hash).slice(0, 12)}…`;
    default:
      return s.bytes !== undefined ? `${fmtBytes(s.bytes)}` : JSON.stringify(s);
  }
}

function hexDump(hex: string): HTMLElement {
  const pre = h("pre", { class: "hex" });
  const bytes = hex.length / 2;
  const lines: (Node | string)[] = [];
  for (let off = 0; off < bytes; off += 16) {
    const chunk = hex.slice(off * 2, Math.min(bytes, off + 16) * 2);
    const groups = chunk.match(/.{1,8}/g)?.join(" ") ?? "";
    lines.push(h("span", { class: "off" }, off.toString(16).padStart(6, "0")), `  ${groups}\n`);
  }
  pre.append(...lines);
  return pre;
}

function expiresIn(unix: number): string {
  const s = unix - Date.now() / 1000;
  const when = new Date(unix * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  if (s < 0) return `${when} (expired)`;
  return `${when} (in ${Math.floor(s / 60)} min)`;
}

export async function mountLive(root: HTMLElement): Promise<View> {
  await wasmReady();
  const env = await localnet();

  // ---------- state ----------
  let peer: BrowserPeer | null = null;
  let connectedAt = 0;
  let rows: Row[] = [];
  let rowCount = 0;
  let selected: number | null = null;
  const typeCounts = new Map<string, number>();
  const hiddenTypes = new Set<string>();
  let scp = new Map<string, Map<number, Set<string>>>();
  let maxSlot = 0;
  let grant = { messages: 0, bytes: 0 };
  let outMax = { messages: 1, bytes: 1 };
  let credit = { inboundMessages: 0, inboundBytes: 0, outboundMessages: 0, outboundBytes: 0, msWithoutCredit: 0 };
  let creditUpdates = 0;
  let target: Target | null = null;
  let renderQueued = false;
  let pollTimer: number | undefined;

  // ---------- connection panel ----------
  const targetSel = h("select", { "aria-label": "Node to connect to", "data-testid": "target" });
  const bridgeIn = h("input", { type: "url", value: env?.bridge ?? "ws://127.0.0.1:11627", spellcheck: "false" });
  const passSel = h("select", {});
  for (const [label, p] of PASSPHRASES) passSel.append(h("option", { value: p }, label));
  if (env) passSel.value = env.network;
  const rawBox = h("input", { type: "checkbox", checked: true, id: "live-raw" });
  const connectBtn = h("button", { class: "primary", "data-testid": "connect" }, "Connect");
  const closeBtn = h("button", { disabled: true }, "Disconnect");
  const scpStateBtn = h("button", { class: "small", disabled: true, title: "Send GET_SCP_STATE(0)" }, "GET_SCP_STATE");
  const qsetBtn = h("button", { class: "small", disabled: true, title: "Fetch the quorum set named by the latest SCP message" }, "GET_SCP_QUORUMSET");
  const txSetBtn = h("button", { class: "small", disabled: true, title: "Fetch the tx set named by the latest SCP message" }, "GET_TX_SET");
  const dropBtn = h("button", { class: "small danger", disabled: true, title: "Ask the node's admin API to drop this browser peer" }, "Drop me via admin API");
  let targets: Target[] = [];
  let lastScp: MessageSummary | null = null;

  async function loadTargets(info: LocalnetInfo | null): Promise<void> {
    targets = [];
    if (info) {
      info.nodes.forEach((n, i) =>
        targets.push({ label: `node ${i + 1} · ${shortId(n.id)} · ${n.peer}`, peer: n.peer, id: n.id, admin: n.admin }),
      );
    } else {
      try {
        const url = bridgeIn.value.replace(/^ws/, "http").replace(/\/+$/, "") + "/targets";
        const r = await fetch(url);
        const j = (await r.json()) as { targets: { target: string }[] };
        for (const t of j.targets) targets.push({ label: t.target, peer: t.target, id: null, admin: null });
      } catch {
        /* no bridge reachable: the list stays empty */
      }
    }
    targetSel.replaceChildren(...targets.map((t, i) => h("option", { value: String(i) }, t.label)));
    if (!targets.length) targetSel.append(h("option", { value: "" }, "no targets: is the bridge running?"));
  }
  await loadTargets(env);
  const reloadBtn = h("button", { class: "small ghost", title: "Ask the bridge for its allowlist", onclick: () => void loadTargets(null) }, "Reload from bridge");

  // ---------- handshake steps ----------
  const stepDefs = [
    ["ws", "WebSocket through the bridge"],
    ["hello", "HELLO exchanged"],
    ["keys", "X25519 + HKDF: MAC keys derived"],
    ["auth", "AUTH exchanged: authenticated"],
  ] as const;
  const steps = new Map<string, { li: HTMLElement; body: HTMLElement; when: HTMLElement }>();
  const stepList = h("ol", { class: "steps", "aria-label": "Handshake" });
  stepDefs.forEach(([key, label], i) => {
    const when = h("span", { class: "when" });
    const body = h("div", { class: "body" });
    const li = h("li", { class: "step", "data-step": key }, h("div", { class: "head" }, h("span", { class: "num" }, String(i + 1)), label, when), body);
    steps.set(key, { li, body, when });
    stepList.append(li);
  });
  function setStep(key: string, state: "active" | "done" | "failed" | "", body?: Node[]): void {
    const s = steps.get(key)!;
    s.li.className = `step ${state}`;
    if (state === "done" || state === "failed") s.when.textContent = `+${fmtMs(performance.now() - connectedAt)}`;
    else s.when.textContent = "";
    if (body) s.body.replaceChildren(...body);
  }

  // ---------- stream ----------
  const filters = h("div", { class: "filters", role: "group", "aria-label": "Filter by message type" });
  const tbody = h("tbody", {});
  const table = h(
    "table",
    { class: "msgs", "data-testid": "messages" },
    h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "time"), h("th", {}, "type"), h("th", { class: "num" }, "seq"), h("th", { class: "num" }, "size"), h("th", {}, "MAC"), h("th", {}, "summary"))),
    tbody,
  );
  const streamInfo = h("span", { class: "muted", "data-testid": "stream-count" }, "no messages yet");
  const detail = h("div", { class: "detail", hidden: true, "aria-live": "polite" });
  const pauseBox = h("input", { type: "checkbox", id: "live-pause" });

  // ---------- right column ----------
  const gaugeEls = new Map<string, { bar: HTMLElement; fill: HTMLElement; val: HTMLElement }>();
  function gauge(key: string, label: string, cls: string): HTMLElement {
    const fill = h("div", {});
    const bar = h("div", { class: `bar ${cls}` }, fill);
    const val = h("b", { "data-testid": `gauge-${key}` }, "–");
    gaugeEls.set(key, { bar, fill, val });
    return h("div", { class: "gauge" }, h("div", { class: "lbl" }, h("span", {}, label), val), bar);
  }
  const zeroCredit = h("b", { "data-testid": "zero-credit" }, "–");
  const creditInfo = h("div", { class: "hint" }, "Credit is granted by SEND_MORE_EXTENDED; flood messages spend it.");
  const gauges = h(
    "div",
    {},
    h("h3", {}, "We may send (the node's grant)"),
    h("div", { class: "gauges-2" }, gauge("outMsgs", "messages", "out"), gauge("outBytes", "bytes", "out")),
    h("h3", {}, "The node may send (our grant)"),
    h("div", { class: "gauges-2" }, gauge("inMsgs", "messages", "in"), gauge("inBytes", "bytes", "in")),
    h("div", { class: "row" }, h("span", { class: "muted" }, "time at zero outbound credit:"), zeroCredit),
    creditInfo,
  );
  const timeline = h("div", { class: "timeline", "data-testid": "scp-timeline" }, h("div", { class: "empty" }, "SCP statements appear here per validator and slot."));
  const peersList = h("div", { "data-testid": "peers" }, h("div", { class: "empty" }, "The node's PEERS message lists addresses it knows."));
  const dropBox = h("div", { "data-testid": "drop", "aria-live": "assertive" }, h("div", { class: "empty" }, "Not connected."));

  // ---------- layout ----------
  root.append(
    h(
      "div",
      { class: "layout live" },
      h(
        "div",
        { class: "col" },
        h(
          "div",
          { class: "panel" },
          h("h2", {}, "Connect a browser peer"),
          h(
            "div",
            { class: "col", style: "gap:8px" },
            field("Node (bridge allowlist)", targetSel),
            h("div", { class: "fields" }, field("Bridge", bridgeIn), field("Network", passSel)),
            h("div", { class: "row" }, connectBtn, closeBtn, env ? null : reloadBtn),
            h("div", { class: "row" }, rawBox, h("label", { for: "live-raw" }, "keep raw XDR of each message")),
          ),
        ),
        h("div", { class: "panel scroll grow" }, h("h2", {}, "Handshake"), stepList),
      ),
      h(
        "div",
        { class: "panel stream" },
        h(
          "div",
          { class: "row", style: "margin-bottom:6px" },
          h("h2", { style: "margin:0" }, "Messages"),
          streamInfo,
          h("span", { class: "grow" }),
          pauseBox,
          h("label", { for: "live-pause" }, "freeze view"),
        ),
        h("div", { class: "row tight", style: "margin-bottom:8px" }, h("span", { class: "muted", style: "font-size:12px;margin-right:4px" }, "ask the node:"), scpStateBtn, qsetBtn, txSetBtn, h("span", { class: "grow" }), dropBtn),
        filters,
        h("div", { class: "table-wrap" }, table),
        detail,
      ),
      h(
        "div",
        { class: "col" },
        h("div", { class: "panel" }, h("h2", {}, "Flow control"), gauges),
        h(
          "div",
          { class: "panel scroll grow" },
          h("h2", {}, "SCP per validator"),
          timeline,
          h("div", { class: "legend" }, ...PHASES.map((p, i) => h("span", { style: `--sw:${["#be185d", "#db2777", "#ec4899", "#f9a8d4"][i]}` }, p.toLowerCase()))),
        ),
        h("div", { class: "panel scroll", style: "max-height:22%" }, h("h2", {}, "Peers the node knows"), peersList),
        h("div", { class: "panel" }, h("h2", {}, "Connection"), dropBox),
      ),
    ),
  );

  // ---------- rendering ----------
  function queueRender(): void {
    if (renderQueued) return;
    renderQueued = true;
    setTimeout(() => {
      renderQueued = false;
      render();
    }, 200);
  }

  function renderFilters(): void {
    const types = [...typeCounts.keys()].sort();
    const chips = types.map((t) =>
      h(
        "button",
        {
          class: `chip badge ${classOf(t)}`,
          "aria-pressed": String(!hiddenTypes.has(t)),
          "data-type": t,
          onclick: () => {
            if (hiddenTypes.has(t)) hiddenTypes.delete(t);
            else hiddenTypes.add(t);
            render();
          },
        },
        t,
        h("span", { class: "n" }, fmtNum(typeCounts.get(t) ?? 0)),
      ),
    );
    filters.replaceChildren(...chips);
  }

  function renderRows(): void {
    const shown: Row[] = [];
    for (let i = rows.length - 1; i >= 0 && shown.length < SHOWN_ROWS; i--) {
      if (!hiddenTypes.has(rows[i].type)) shown.push(rows[i]);
    }
    const frag = document.createDocumentFragment();
    for (const r of shown) {
      const tr = h(
        "tr",
        { "data-n": r.n, "aria-selected": String(selected === r.n), tabindex: 0 },
        h("td", { class: "num faint" }, r.n),
        h("td", { class: "num" }, (r.t / 1000).toFixed(2)),
        h("td", {}, h("span", { class: `badge ${r.dir === "out" ? "sent" : classOf(r.type)}` }, r.dir === "out" ? `→ ${r.type}` : r.type)),
        h("td", { class: "num" }, r.seq ?? ""),
        h("td", { class: "num" }, r.size ?? ""),
        macCell(r),
        h("td", { class: "sum" }, summaryText(r.type, r.summary)),
      );
      frag.append(tr);
    }
    tbody.replaceChildren(frag);
  }

  function renderDetail(): void {
    const r = rows.find((x) => x.n === selected);
    if (!r) {
      detail.hidden = true;
      return;
    }
    detail.hidden = false;
    detail.replaceChildren(
      h("div", { class: "row" }, h("b", {}, `#${r.n} ${r.type}`), h("span", { class: "muted" }, r.size ? `${r.size} bytes on the wire` : ""), h("span", { class: "grow" }), r.raw ? h("button", { class: "small", onclick: () => void copy(r.raw!, "Raw XDR copied") }, "Copy hex") : null, h("button", { class: "small ghost", onclick: () => { selected = null; renderDetail(); renderRows(); } }, "Close")),
      h("pre", { class: "json" }, JSON.stringify(r.summary, null, 1)),
      r.raw ? h("div", {}, h("h3", {}, "Raw AuthenticatedMessage XDR"), hexDump(r.raw)) : h("div", { class: "hint" }, r.dir === "in" ? "Raw XDR was not kept for this message (tick “keep raw XDR”)." : ""),
    );
  }

  function renderGauges(): void {
    const set = (key: string, v: number, max: number, text: string): void => {
      const g = gaugeEls.get(key)!;
      const frac = max > 0 ? Math.max(0, Math.min(1, v / max)) : 0;
      g.fill.style.width = `${(frac * 100).toFixed(1)}%`;
      g.val.textContent = text;
      g.val.dataset.value = String(v);
      g.bar.classList.toggle("zero", v === 0 && creditUpdates > 0);
      g.bar.classList.toggle("low", v > 0 && frac < 0.2);
    };
    outMax = { messages: Math.max(outMax.messages, credit.outboundMessages), bytes: Math.max(outMax.bytes, credit.outboundBytes) };
    set("outMsgs", credit.outboundMessages, outMax.messages, fmtNum(credit.outboundMessages));
    set("outBytes", credit.outboundBytes, outMax.bytes, fmtBytes(credit.outboundBytes));
    set("inMsgs", credit.inboundMessages, Math.max(grant.messages, credit.inboundMessages), fmtNum(credit.inboundMessages));
    set("inBytes", credit.inboundBytes, Math.max(grant.bytes, credit.inboundBytes), fmtBytes(credit.inboundBytes));
    zeroCredit.textContent = fmtMs(credit.msWithoutCredit);
  }

  function renderTimeline(): void {
    if (!scp.size) return;
    const slots: number[] = [];
    for (let s = Math.max(1, maxSlot - 7); s <= maxSlot; s++) slots.push(s);
    const idx = new Map(env?.nodes.map((n, i) => [n.id, i + 1]) ?? []);
    const cells: Node[] = [h("div", {}), ...slots.map((s) => h("div", { class: "slot" }, String(s)))];
    const nodes = [...scp.keys()].sort((a, b) => (idx.get(a) ?? 99) - (idx.get(b) ?? 99) || a.localeCompare(b));
    for (const node of nodes) {
      const label = idx.has(node) ? `node ${idx.get(node)} ${shortId(node, 4)}` : shortId(node, 5);
      cells.push(h("div", { class: "v", title: node }, label));
      for (const s of slots) {
        const got = scp.get(node)?.get(s);
        cells.push(h("div", { class: "phases", title: got ? `slot ${s}: ${[...got].join(" → ")}` : `slot ${s}: nothing seen` }, ...PHASES.map((p, i) => h("i", { class: `${"npce"[i]}${got?.has(p) ? " on" : ""}` }))));
      }
    }
    timeline.style.gridTemplateColumns = `minmax(70px, 1.3fr) repeat(${slots.length}, 1fr)`;
    timeline.replaceChildren(...cells);
  }

  function render(): void {
    if (pauseBox.checked) return;
    renderFilters();
    renderRows();
    renderGauges();
    renderTimeline();
    streamInfo.textContent = rowCount ? `${fmtNum(rowCount)} messages · ${typeCounts.size} types` : "no messages yet";
    streamInfo.dataset.count = String(rowCount);
  }

  tbody.addEventListener("click", (e) => {
    const tr = (e.target as HTMLElement).closest("tr");
    if (!tr) return;
    selected = Number(tr.dataset.n);
    for (const x of tbody.querySelectorAll("tr")) x.setAttribute("aria-selected", String(x === tr));
    renderDetail();
  });
  tbody.addEventListener("keydown", (e) => {
    const tr = (e.target as HTMLElement).closest("tr");
    if (!tr) return;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      tr.click();
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = (e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling) as HTMLElement | null;
      next?.focus();
    }
  });
  pauseBox.addEventListener("change", () => render());

  // ---------- events ----------
  function addRow(r: Omit<Row, "n" | "t">): void {
    rowCount++;
    rows.push({ ...r, n: rowCount, t: performance.now() - connectedAt });
    if (rows.length > MAX_ROWS) rows = rows.slice(rows.length - MAX_ROWS * 0.8);
    typeCounts.set(r.type, (typeCounts.get(r.type) ?? 0) + 1);
  }

  function helloBody(e: Ev<"hello">): Node[] {
    const rowsDef: [string, string, string][] = [
      ["node", shortId(e.localNode, 6), shortId(e.node, 6)],
      ["version", e.localVersionStr, e.versionStr],
      ["overlay", `${e.localOverlayMinVersion}–${e.localOverlayVersion}`, `${e.overlayMinVersion}–${e.overlayVersion}`],
      ["ledger ver.", String(e.localLedgerVersion), String(e.ledgerVersion)],
      ["listening", String(e.localListeningPort), String(e.listeningPort)],
      ["cert key", `${e.localCertPubkey.slice(0, 12)}…`, `${e.certPubkey.slice(0, 12)}…`],
      ["nonce", `${e.localNonce.slice(0, 12)}…`, `${e.nonce.slice(0, 12)}…`],
    ];
    const g = h("div", { class: "hello-grid" }, h("span", {}), h("span", { class: "h" }, "ours"), h("span", { class: "h" }, "theirs"));
    for (const [k, a, b] of rowsDef) g.append(h("span", { class: "k" }, k), h("span", { class: "v", title: a }, a), h("span", { class: "v", title: b }, b));
    return [
      g,
      h("div", { class: "hint", style: "margin-top:4px" }, `their cert expires ${expiresIn(e.certExpiration)}`),
      h("div", { class: "hint" }, `our cert expires ${expiresIn(e.localCertExpiration)}`),
    ];
  }

  function onEvent(e: PeerEvent): void {
    switch (e.type) {
      case "open":
        setStep("ws", "done", [h("div", { class: "hint mono" }, e.url)]);
        setStep("hello", "active");
        break;
      case "hello":
        setStep("hello", "done", helloBody(e));
        setStep("keys", "active");
        break;
      case "keys":
        setStep("keys", "done", [
          h(
            "dl",
            { class: "kv" },
            h("dt", {}, "X25519 shared"),
            h("dd", {}, `${e.sharedKeyFingerprint}…`),
            h("dt", {}, "HKDF send key"),
            h("dd", {}, `${e.sendKeyFingerprint}…`),
            h("dt", {}, "HKDF recv key"),
            h("dd", {}, `${e.recvKeyFingerprint}…`),
          ),
          h("div", { class: "hint" }, "ECDH of the cert keys, then HKDF-extract with both nonces and HKDF-expand per direction; fingerprints are SHA-256 prefixes. Keys never leave this page."),
        ]);
        setStep("auth", "active");
        break;
      case "authenticated":
        grant = { messages: e.grantMessages, bytes: e.grantBytes };
        credit.inboundMessages = e.grantMessages;
        credit.inboundBytes = e.grantBytes;
        setStep("auth", "done", [
          h(
            "dl",
            { class: "kv" },
            h("dt", {}, "peer"),
            h("dd", {}, shortId(e.node, 8)),
            h("dt", {}, "version"),
            h("dd", {}, e.versionStr),
            h("dt", {}, "overlay"),
            h("dd", {}, `${e.overlayMinVersion}–${e.overlayVersion}`),
            h("dt", {}, "AUTH flags"),
            h("dd", { "data-testid": "auth-flags" }, `theirs ${authFlagsText(e.authFlags)} · ours ${authFlagsText(e.localAuthFlags)}`),
            h("dt", {}, "we grant"),
            h("dd", {}, `${fmtNum(e.grantMessages)} messages, ${fmtBytes(e.grantBytes)}`),
          ),
        ]);
        for (const b of [scpStateBtn, dropBtn]) b.disabled = false;
        dropBtn.disabled = !target?.admin;
        dropBox.replaceChildren(h("div", {}, h("span", { class: "dot ok" }), "authenticated with ", h("span", { class: "mono" }, target?.peer ?? "")));
        break;
      case "credit":
        credit = { ...credit, inboundMessages: e.inboundMessages, inboundBytes: e.inboundBytes, outboundMessages: e.outboundMessages, outboundBytes: e.outboundBytes };
        creditUpdates++;
        break;
      case "message": {
        credit = { ...credit, inboundMessages: e.inboundMessages, inboundBytes: e.inboundBytes, outboundMessages: e.outboundMessages, outboundBytes: e.outboundBytes };
        creditUpdates++;
        addRow({ dir: "in", type: e.messageType, seq: e.sequence, size: e.size, macOk: e.macOk, summary: e.summary, raw: e.raw });
        const s = e.summary;
        if (e.messageType === "SCP_MESSAGE" && s.node !== undefined && s.slot !== undefined && s.statement !== undefined) {
          lastScp = s;
          qsetBtn.disabled = txSetBtn.disabled = false;
          let m = scp.get(s.node);
          if (!m) scp.set(s.node, (m = new Map()));
          let set = m.get(s.slot);
          if (!set) m.set(s.slot, (set = new Set()));
          set.add(s.statement);
          // EXTERNALIZE implies the earlier phases were passed (a node may skip messages).
          const at = PHASES.indexOf(s.statement);
          for (let i = 0; i < at && s.statement === "EXTERNALIZE"; i++) set.add(PHASES[i]);
          maxSlot = Math.max(maxSlot, s.slot);
        }
        if (e.messageType === "PEERS" && s.peers) {
          peersList.replaceChildren(
            h("div", { class: "hint" }, `${s.peers.length} addresses, received ${new Date().toLocaleTimeString()}`),
            h("ul", { class: "peers-list" }, ...s.peers.map((p) => h("li", {}, p))),
          );
        }
        break;
      }
      case "sent":
        addRow({ dir: "out", type: e.messageType, seq: null, size: null, macOk: null, summary: {}, raw: undefined });
        break;
      case "closed":
        onClosed(e);
        break;
      case "error":
        lastError = e.message;
        if (!closed) toast(e.message, true);
        else renderDrop();
        break;
    }
    queueRender();
  }

  let closed = false;
  let lastClose: Ev<"closed"> | null = null;
  let lastError = "";
  function renderDrop(): void {
    if (!lastClose) return;
    const e = lastClose;
    dropBox.replaceChildren(
      h(
        "div",
        { class: "drop", role: "status" },
        h("div", {}, h("strong", {}, "Connection closed: "), h("span", { "data-testid": "drop-reason" }, e.reason)),
        h(
          "dl",
          { class: "kv", style: "margin-top:6px" },
          h("dt", {}, "closed by"),
          h("dd", {}, e.byRemote ? "the node" : "this page"),
          h("dt", {}, "error code"),
          h("dd", {}, e.errorCode ?? "–"),
          h("dt", {}, "MACs"),
          h(
            "dd",
            { "data-testid": "drop-macs" },
            e.macOk === true ? "all verified" : e.macOk === false ? "a MAC or sequence check failed" : "none received (closed before the MAC keys)",
          ),
          h("dt", {}, "lasted"),
          h("dd", {}, `${fmtMs(performance.now() - connectedAt)}, ${fmtNum(rowCount)} messages`),
          lastError ? h("dt", {}, "transport") : null,
          lastError ? h("dd", {}, lastError) : null,
        ),
      ),
    );
  }
  function onClosed(e: Ev<"closed">): void {
    closed = true;
    lastClose = e;
    for (const [key, s] of steps) if (s.li.classList.contains("active")) setStep(key, "failed", [h("div", { class: "bad" }, e.reason)]);
    renderDrop();
    finish();
  }

  function finish(): void {
    connectBtn.disabled = false;
    closeBtn.disabled = true;
    for (const b of [scpStateBtn, qsetBtn, txSetBtn, dropBtn]) b.disabled = true;
    clearInterval(pollTimer);
    pollTimer = undefined;
    queueRender();
  }

  function reset(): void {
    rows = [];
    rowCount = 0;
    selected = null;
    typeCounts.clear();
    scp = new Map();
    maxSlot = 0;
    grant = { messages: 0, bytes: 0 };
    outMax = { messages: 1, bytes: 1 };
    credit = { inboundMessages: 0, inboundBytes: 0, outboundMessages: 0, outboundBytes: 0, msWithoutCredit: 0 };
    creditUpdates = 0;
    closed = false;
    lastClose = null;
    lastError = "";
    lastScp = null;
    for (const key of steps.keys()) setStep(key, "", []);
    timeline.replaceChildren(h("div", { class: "empty" }, "SCP statements appear here per validator and slot."));
    peersList.replaceChildren(h("div", { class: "empty" }, "Waiting for the node's PEERS message."));
    detail.hidden = true;
  }

  function connect(): void {
    target = targets[Number(targetSel.value)] ?? null;
    if (!target) {
      toast("No target selected: the bridge's allowlist is empty or unreachable", true);
      return;
    }
    peer?.free();
    reset();
    connectedAt = performance.now();
    setStep("ws", "active");
    const url = `${bridgeIn.value.replace(/\/+$/, "")}/connect?target=${encodeURIComponent(target.peer)}`;
    try {
      peer = new BrowserPeer(url, target.peer, passSel.value, onEvent);
      peer.setRaw(rawBox.checked);
    } catch (err) {
      setStep("ws", "failed", [h("div", { class: "bad" }, String(err))]);
      return;
    }
    root.dataset.peer = peer.nodeId();
    connectBtn.disabled = true;
    closeBtn.disabled = false;
    dropBox.replaceChildren(h("div", {}, h("span", { class: "dot warn" }), "handshaking with ", h("span", { class: "mono" }, target.peer)));
    pollTimer = window.setInterval(() => {
      if (!peer || closed) return;
      const c: PeerCredit | null = peer.credit();
      if (c) {
        credit = { ...credit, msWithoutCredit: c.msWithoutCredit };
        queueRender();
      }
    }, 500);
  }

  connectBtn.addEventListener("click", connect);
  closeBtn.addEventListener("click", () => peer?.close());
  rawBox.addEventListener("change", () => peer?.setRaw(rawBox.checked));
  const guard = (f: () => void) => () => {
    try {
      f();
    } catch (err) {
      toast(String(err), true);
    }
  };
  scpStateBtn.addEventListener("click", guard(() => peer?.sendGetScpState(0)));
  qsetBtn.addEventListener("click", guard(() => lastScp?.quorumSet && peer?.sendGetQuorumSet(lastScp.quorumSet)));
  txSetBtn.addEventListener("click", guard(() => lastScp?.txSets?.[0] && peer?.sendGetTxSet(lastScp.txSets[0])));
  dropBtn.addEventListener("click", async () => {
    if (!target?.admin || !peer) return;
    try {
      const r = await fetch(`${target.admin}/droppeer?node=${peer.nodeId()}`);
      toast(`admin API: ${await r.text()}`);
    } catch (err) {
      toast(`admin API unreachable: ${String(err)}`, true);
    }
  });

  return {
    show() {
      queueRender();
    },
    hide() {},
  };
}
