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
pub use demo::Demo;
pub use simulation::{Simulation, scenario_scp_flood, scenario_tx_flood};

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** An event from a BrowserPeer (passed to its `onEvent` callback). */
export type PeerEvent =
  | { type: "open"; url: string }
  | { type: "hello"; node: string; versionStr: string; ledgerVersion: number; overlayVersion: number;
      overlayMinVersion: number; listeningPort: number; certExpiration: number; certPubkey: string; nonce: string;
      localNode: string; localNonce: string; localCertPubkey: string; localCertExpiration: number }
  | { type: "keys"; sharedKeyFingerprint: string; sendKeyFingerprint: string; recvKeyFingerprint: string }
  | { type: "authenticated"; node: string; versionStr: string; overlayVersion: number; overlayMinVersion: number;
      grantMessages: number; grantBytes: number }
  | { type: "credit"; messages: number; bytes: number; outboundMessages: number; outboundBytes: number;
      inboundMessages: number; inboundBytes: number }
  | { type: "message"; messageType: string; sequence: number; size: number; macOk: boolean; summary: any;
      raw: string | undefined; inboundMessages: number; inboundBytes: number; outboundMessages: number;
      outboundBytes: number }
  | { type: "sent"; messageType: string }
  | { type: "closed"; reason: string; wsCode: number | null; wsReason: string | null; errorCode: string | null;
      byRemote: boolean; macOk: boolean }
  | { type: "error"; message: string };

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
