// Small DOM helpers: no framework, every view owns its elements.

type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;
type Child = Node | string | number | null | undefined | false;

/** `h("button", { class: "primary", onclick: f }, "Run")` */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function $(sel: string, root: ParentNode = document): HTMLElement {
  const el = root.querySelector(sel);
  if (!el) throw new Error(`missing element ${sel}`);
  return el as HTMLElement;
}

/** A labelled form field. */
export function field(label: string, input: HTMLElement, extra = ""): HTMLElement {
  if (!input.id) input.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  return h("div", { class: `field ${extra}` }, h("label", { for: input.id }, label), input);
}

export function toast(msg: string, bad = false): void {
  const box = document.getElementById("toasts");
  if (!box) return;
  const t = h("div", { class: `toast${bad ? " bad" : ""}`, role: bad ? "alert" : "status" }, msg);
  box.append(t);
  setTimeout(() => t.remove(), bad ? 7000 : 3500);
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return "–";
  const a = Math.abs(n);
  if (a < 1024) return `${Math.round(n)} B`;
  if (a < 1024 * 1024) return `${(n / 1024).toFixed(a < 10240 ? 1 : 0)} KiB`;
  if (a < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function fmtNum(n: number): string {
  if (!Number.isFinite(n)) return "–";
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Math.round(n).toLocaleString("en-US");
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** `GABC…WXYZ` */
export function shortId(id: string, n = 5): string {
  return id.length > 2 * n + 1 ? `${id.slice(0, n)}…${id.slice(-n)}` : id;
}

/** Copies text, with a toast saying so. */
export async function copy(text: string, what = "Copied"): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} to the clipboard`);
  } catch {
    toast("Clipboard not available: select and copy the text instead", true);
  }
}

/** Message-type class, for colours: SCP vs adverts/demands vs fetches vs transactions. */
export type MsgClass = "scp" | "advert" | "fetch" | "tx" | "control";

export function classOf(messageType: string): MsgClass {
  switch (messageType) {
    case "SCP_MESSAGE":
    case "GET_SCP_STATE":
      return "scp";
    case "FLOOD_ADVERT":
    case "FLOOD_DEMAND":
      return "advert";
    case "GET_TX_SET":
    case "TX_SET":
    case "GENERALIZED_TX_SET":
    case "GET_SCP_QUORUMSET":
    case "SCP_QUORUMSET":
    case "DONT_HAVE":
      return "fetch";
    case "TRANSACTION":
      return "tx";
    default:
      return "control";
  }
}

export const CLASS_COLOURS: Record<MsgClass, string> = {
  scp: "#f472b6",
  advert: "#38bdf8",
  fetch: "#fbbf24",
  tx: "#a78bfa",
  control: "#64748b",
};

export const CLASS_LABELS: Record<MsgClass, string> = {
  scp: "SCP",
  advert: "adverts / demands",
  fetch: "fetches (tx sets, quorum sets)",
  tx: "transactions",
  control: "control",
};
