//! # overlay-core
//!
//! A sans-IO implementation of the Stellar overlay protocol (what stellar-core's
//! `src/overlay/` does): no sockets, no clocks, no threads, no global RNG. Bytes, time and
//! randomness come in as arguments; bytes to send, timers and events come out.
//!
//! Layers, bottom up:
//! - [`wire`]: record marking, the `AuthenticatedMessage` envelope and zero-copy views of
//!   every message the overlay interprets.
//! - [`auth`]: node identity, AuthCerts, X25519 + HKDF MAC keys, HMAC-SHA256 MACs.
//! - [`flow`]: flow control (credit both ways, outbound priority queues, trimming).
//! - [`peer`]: one connection's state machine, [`Peer`].
//! - [`overlay`]: the node level (floodgate, pull mode, fetching, peer book) and
//!   [`survey`]: time-sliced overlay surveys, surveyed and surveyor sides.
//!
//! ## Driving a [`Peer`]
//! The host owns the socket and the clock. After anything goes in
//! ([`Peer::handle_input`], [`Peer::handle_timeout`], a command such as [`Peer::send`]):
//! 1. drain [`Peer::poll`] until it returns `None`. Each event borrows the peer: a received
//!    message is a view into the peer's receive buffer, valid until the next call, so the
//!    receive path never copies or allocates;
//! 2. drain [`Peer::poll_transmit`] into the socket;
//! 3. arm a timer for [`Peer::poll_timeout`] and call [`Peer::handle_timeout`] when it passes.
//!
//! Same inputs give the same output bytes on every target.

#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod auth;
pub mod fetch;
pub mod flood;
pub mod flow;
pub mod index;
pub mod overlay;
pub mod pair;
pub mod peer;
pub mod peers;
pub mod pull;
pub mod rng;
#[cfg(feature = "sim")]
pub mod scenarios;
#[cfg(feature = "sim")]
pub mod sim;
pub mod survey;
pub mod time;
pub mod wire;

pub use auth::{AuthCert, CertCache, LocalNode, NetworkId, NodeId, NodeKey, Role};
pub use peer::{
    AcceptAll, Admission, DropReason, Event, Peer, PeerConfig, PeerSetup, Received, RemoteInfo,
};
pub use time::{Instant, WallClock};

/// A live connection's handle in a node-level overlay. Never reused while the overlay lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

#[cfg(test)]
pub(crate) mod test_support {
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    use crate::wire::MessageType;

    /// A NOMINATE SCP_MESSAGE (StellarMessage XDR) from node `[node; 32]` for `slot`, voting
    /// for the sorted 4-byte values `[b; 4]` for each `b` in `votes`, with a dummy signature.
    pub fn nominate(node: u8, slot: u64, votes: &[u8]) -> Arc<[u8]> {
        let mut v = Vec::from((MessageType::ScpMessage as i32).to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0]);
        v.extend_from_slice(&[node; 32]);
        v.extend_from_slice(&slot.to_be_bytes());
        v.extend_from_slice(&3i32.to_be_bytes());
        v.extend_from_slice(&[0; 32]);
        v.extend_from_slice(&(votes.len() as u32).to_be_bytes());
        for b in votes {
            v.extend_from_slice(&4u32.to_be_bytes());
            v.extend_from_slice(&[*b; 4]);
        }
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&64u32.to_be_bytes());
        v.extend_from_slice(&[9; 64]);
        v.into()
    }
}
