import "./style.css";
import { localnet } from "./env";
import { h } from "./ui/dom";

/** A view is mounted once, on first use, then shown and hidden. */
export interface View {
  show(): void;
  hide(): void;
}

type ViewName = "live" | "sim" | "topology";

const loaders: Record<ViewName, (root: HTMLElement) => Promise<View>> = {
  live: async (root) => (await import("./live/live")).mountLive(root),
  sim: async (root) => (await import("./sim/view")).mountSim(root),
  topology: async (root) => (await import("./topology/view")).mountTopology(root),
};

const mounted = new Map<ViewName, Promise<View>>();
let current: ViewName | null = null;

function viewFromHash(): ViewName {
  const name = location.hash.replace(/^#/, "").split("?")[0];
  return name === "sim" || name === "topology" || name === "live" ? name : "live";
}

async function select(name: ViewName, focusTab = false): Promise<void> {
  if (current === name) return;
  const prev = current;
  current = name;
  for (const tab of document.querySelectorAll<HTMLButtonElement>(".tabs [role=tab]")) {
    const on = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    if (on && focusTab) tab.focus();
  }
  if (prev) {
    document.getElementById(`view-${prev}`)!.hidden = true;
    void mounted.get(prev)?.then((v) => v.hide());
  }
  const root = document.getElementById(`view-${name}`)!;
  root.hidden = false;
  if (!location.hash.startsWith(`#${name}`)) history.replaceState(null, "", `#${name}`);
  let view = mounted.get(name);
  if (!view) {
    view = loaders[name](root);
    mounted.set(name, view);
  }
  try {
    const v = await view;
    if (current === name) v.show();
  } catch (e) {
    root.replaceChildren(h("div", { class: "panel", role: "alert" }, `This view failed to load: ${String(e)}`));
    console.error(e);
  }
}

function setupTabs(): void {
  const tabs = [...document.querySelectorAll<HTMLButtonElement>(".tabs [role=tab]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => void select(tab.dataset.view as ViewName));
    tab.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(tab);
      let j = -1;
      if (e.key === "ArrowRight") j = (i + 1) % tabs.length;
      if (e.key === "ArrowLeft") j = (i + tabs.length - 1) % tabs.length;
      if (e.key === "Home") j = 0;
      if (e.key === "End") j = tabs.length - 1;
      if (j >= 0) {
        e.preventDefault();
        void select(tabs[j].dataset.view as ViewName, true);
      }
    });
  }
  document.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t.closest("input, textarea, select, [contenteditable]")) return;
    const map: Record<string, ViewName> = { "1": "live", "2": "sim", "3": "topology" };
    if (map[e.key]) {
      e.preventDefault();
      void select(map[e.key]);
    }
  });
  window.addEventListener("hashchange", () => void select(viewFromHash()));
}

async function showEnv(): Promise<void> {
  const el = document.getElementById("env-status")!;
  const info = await localnet();
  if (info) {
    el.replaceChildren(
      h("span", { title: info.network }, h("span", { class: "dot ok" }), `localnet · ${info.nodes.length} nodes`),
      info.bridge ? h("span", { class: "mono" }, info.bridge.replace(/^ws:\/\//, "bridge ")) : "",
    );
  } else {
    el.replaceChildren(h("span", {}, h("span", { class: "dot" }), "no localnet (static serving)"));
  }
}

setupTabs();
void showEnv();
void select(viewFromHash());
