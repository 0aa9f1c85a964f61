//! A `Peer` fed an arbitrary byte stream, in both roles, from the first byte of the
//! connection (before any handshake) or after a valid HELLO, or after a valid HELLO and
//! AUTH (the harness plays the remote honestly for those prefixes, with real MACs).
//!
//! Input: a flags byte (bit 0: role; bits 1-2: prefix none / HELLO / HELLO+AUTH; bits
//! 3-7: how time advances), a chunking seed byte, then the stream. The stream is fed in
//! pseudo-random chunks; events are drained after each chunk and timers run as time
//! advances. Invariants: no panic, `poll` terminates, nothing after `Closed`, and
//! everything the peer writes is well-formed, in sequence and correctly MACed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use overlay_core::Role;
use overlay_core_fuzz::peer::{Harness, Prefix, other};
use overlay_core_fuzz::{LOCAL_NONCE, Session, SplitMix};

fuzz_target!(|data: &[u8]| {
    let [flags, seed, stream @ ..] = data else {
        return;
    };
    let role = if flags & 1 == 0 {
        Role::Acceptor
    } else {
        Role::Initiator
    };
    let prefix = match (flags >> 1) & 3 {
        0 | 3 => Prefix::None,
        1 => Prefix::Hello,
        _ => Prefix::Authenticated,
    };
    let step_ms = u64::from(flags >> 3) * 250;
    let mut h = Harness::new(role, Session::new(0, other(role)), LOCAL_NONCE);
    h.prefix(prefix);
    let mut rng = SplitMix(u64::from(*seed) << 8 | u64::from(*flags));
    let mut rest = stream;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(512));
        h.input(&rest[..n]);
        rest = &rest[n..];
        if step_ms > 0 {
            h.advance(step_ms * (1 + rng.below(8) as u64));
        }
    }
    h.advance(200_000);
    h.finish();
});
