//! `host-wasm`: overlay-core in the browser.
//!
//! - [`BrowserPeer`]: a real Stellar peer in the page. It opens a WebSocket to the
//!   `stellar-overlay bridge`, which relays bytes to an allowlisted node; the handshake,
//!   MACs and flow control all run here, with keys generated from Web Crypto randomness
//!   that never leave the page.
//! - [`Simulation`]: the core's deterministic simulator, many nodes in virtual time.
//! - [`Demo`]: a simulated network with a steady workload and recorded frames, for the
//!   web demo's Simulation view (`stellar-overlay simulate` runs the same natively).
//!
//! JS sees plain objects; no core types leak. TypeScript types for the event objects are
//! in the generated `.d.ts` (see the `typescript_custom_section` below).

mod bench;
mod browser;
mod demo;
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
mod heap;
mod js;
mod simulation;
mod summary;

pub use bench::bench_receive_path;
pub use browser::BrowserPeer;
pub use demo::{Demo, DemoParamsJs};
pub use simulation::{Simulation, scenario_scp_flood, scenario_tx_flood};

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/**
 * A received message's MAC check. `true`: its sequence and HMAC-SHA256 were checked and
 * verified, as for every message after the remote's HELLO (AUTH on) but ERROR_MSG; a frame
 * that fails the check never arrives as a message: the connection closes and the `closed`
 * event says `macOk: false`. `null`: the protocol does not MAC it: the HELLO (it brings the
 * keys) and ERROR_MSG (it may be sent before them).
 */
export type MacCheck = true | null;

/**
 * A received message's decoded fields; which ones are set depends on its type: SCP_MESSAGE
 * (node, slot, statement, txSets, quorumSet), TRANSACTION (hash, source, operations),
 * HELLO (node, versionStr, ledgerVersion, overlayVersion, overlayMinVersion, listeningPort),
 * AUTH (flags), PEERS (peers), FLOOD_ADVERT / FLOOD_DEMAND (hashes), SEND_MORE_EXTENDED
 * (messages, bytes), GET_SCP_STATE (ledger), GET_TX_SET / GET_SCP_QUORUMSET (hash),
 * DONT_HAVE (type, hash), ERROR_MSG (code, msg); any other (bytes).
 */
export interface MessageSummary {
  node?: string; slot?: number; statement?: "NOMINATE" | "PREPARE" | "CONFIRM" | "EXTERNALIZE";
  txSets?: string[]; quorumSet?: string;
  hash?: string; source?: string | null; operations?: number | null;
  versionStr?: string; ledgerVersion?: number; overlayVersion?: number; overlayMinVersion?: number;
  listeningPort?: number; flags?: number;
  peers?: string[]; hashes?: number; messages?: number; bytes?: number; ledger?: number;
  type?: string; code?: string; msg?: string;
}

/** An event from a BrowserPeer (passed to its `onEvent` callback). */
export type PeerEvent =
  | { type: "open"; url: string }
  | { type: "hello"; node: string; versionStr: string; ledgerVersion: number; overlayVersion: number;
      overlayMinVersion: number; listeningPort: number; certExpiration: number; certPubkey: string; nonce: string;
      localNode: string; localVersionStr: string; localLedgerVersion: number; localOverlayVersion: number;
      localOverlayMinVersion: number; localListeningPort: number; localNonce: string; localCertPubkey: string;
      localCertExpiration: number }
  | { type: "keys"; sharedKeyFingerprint: string; sendKeyFingerprint: string; recvKeyFingerprint: string }
  | { type: "authenticated"; node: string; versionStr: string; overlayVersion: number; overlayMinVersion: number;
      /** The remote AUTH's `flags` (200: flow control in bytes), null if its frame was not readable. */
      authFlags: number | null; localAuthFlags: number; grantMessages: number; grantBytes: number }
  | { type: "credit"; messages: number; bytes: number; outboundMessages: number; outboundBytes: number;
      inboundMessages: number; inboundBytes: number }
  | { type: "message"; messageType: string;
      /** null when the frame is not MACed (its sequence is not checked either). */
      sequence: number | null;
      /** Frame size; null for the remote's ERROR_MSG (reported from the close). */
      size: number | null; macOk: MacCheck; summary: MessageSummary;
      raw: string | undefined; inboundMessages: number; inboundBytes: number; outboundMessages: number;
      outboundBytes: number }
  | { type: "sent"; messageType: string }
  | { type: "closed"; reason: string; wsCode: number | null; wsReason: string | null;
      /** The ERROR_MSG's code: the remote's, or the one we sent. */
      errorCode: string | null; byRemote: boolean;
      /** false: a MAC or sequence check failed; true: every MACed frame verified; null: none arrived. */
      macOk: boolean | null }
  | { type: "error"; message: string };

/** `BrowserPeer.credit()`: flow-control credit both ways. */
export interface PeerCredit {
  inboundMessages: number; inboundBytes: number; outboundMessages: number; outboundBytes: number;
  /** Time spent without outbound credit. */
  msWithoutCredit: number;
}

/** What a shared scenario (`scenarioScpFlood`, `scenarioTxFlood`) ends with. */
export interface ScenarioOutcome { trace: string; complete: boolean; events: number; virtualMs: number }

/** Per-node counters of a Simulation. */
export interface SimNodeMetrics {
  node: string; alive: boolean; authenticated: number; scpSeen: number; txSeen: number;
  floodUniqueMessages: number; floodDuplicateMessages: number; floodUniqueBytes: number;
  floodDuplicateBytes: number; advertised: number; demanded: number; dropped: number;
}

/** `benchReceivePath`'s result: the receive path beside raw HMAC-SHA256 + SHA-256. */
export interface ReceiveBench {
  messages: number; receiveMs: number; receiveMessagesPerSec: number; hmacMessagesPerSec: number;
  hmacSha256MessagesPerSec: number; ratioToHmac: number; ratioToHmacSha256: number;
}

/** One direction of a simulated link. */
export interface SimLink { from: number; to: number; bytes: number }
"#;

/// The library's version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
