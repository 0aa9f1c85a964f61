// What the server tells the page about the local network (`GET api/localnet.json`,
// served by `stellar-overlay localnet`; absent under `stellar-overlay serve`).

export interface LocalnetNodeInfo {
  /** `G…` strkey */
  id: string;
  /** `127.0.0.1:PORT`, the peer port (a bridge target) */
  peer: string;
  /** `http://127.0.0.1:PORT`, the admin API, or null */
  admin: string | null;
}

export interface LocalnetInfo {
  network: string;
  nodes: LocalnetNodeInfo[];
  /** `ws://127.0.0.1:11627`, or null */
  bridge: string | null;
}

let cached: Promise<LocalnetInfo | null> | null = null;

export function localnet(): Promise<LocalnetInfo | null> {
  cached ??= fetch("api/localnet.json", { cache: "no-store" })
    .then((r) => (r.ok ? (r.json() as Promise<LocalnetInfo>) : null))
    .catch(() => null);
  return cached;
}

export const PASSPHRASES: [string, string][] = [
  ["Standalone (localnet)", "Standalone Network ; February 2017"],
  ["Testnet", "Test SDF Network ; September 2015"],
  ["Pubnet", "Public Global Stellar Network ; September 2015"],
];
