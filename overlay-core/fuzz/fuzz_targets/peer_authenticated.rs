//! A `Peer` after a valid handshake, in both roles, fed operations from the fuzz input:
//! messages framed with the right sequence number and a real MAC (so they pass the MAC
//! check and reach dispatch), raw bytes, frames with a wrong sequence or MAC, split frames,
//! credit grants, local sends, timer advances, a host that stops draining its output, and
//! closes.
//!
//! Input: a flags byte (bit 0: role; bit 1: stellar-core's default settings or tight ones
//! that make credit, queues and the transmit buffer run out quickly), then operations, each
//! an opcode byte, a big-endian u16 length and that many payload bytes.
//!
//! Invariants (asserted after every operation by `Harness`): no panic; `poll` terminates;
//! nothing after `Closed`; inbound credit never exceeds what was granted; outbound queues
//! stay within their bounds; everything the peer writes is a well-formed frame, in
//! sequence, correctly MACed, with nothing after an ERROR_MSG.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use overlay_core::wire::{DontHave, MessageType, SendMoreExtended, StellarMessage};
use overlay_core::{DropReason, PeerConfig, Role};
use overlay_core_fuzz::peer::{Harness, Prefix, other, tight_config};
use overlay_core_fuzz::{LOCAL_NONCE, Session, seed_messages};

fn u16_at(p: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([
        p.get(i).copied().unwrap_or(0),
        p.get(i + 1).copied().unwrap_or(0),
    ])
}

fn u32_at(p: &[u8], i: usize) -> u32 {
    u32::from(u16_at(p, i)) << 16 | u32::from(u16_at(p, i + 2))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut ops)) = data.split_first() else {
        return;
    };
    let role = if flags & 1 == 0 {
        Role::Acceptor
    } else {
        Role::Initiator
    };
    let config = if flags & 2 == 0 {
        PeerConfig::default()
    } else {
        tight_config()
    };
    let mut h = Harness::with_config(role, Session::new(1, other(role)), LOCAL_NONCE, config);
    h.prefix(Prefix::Authenticated);

    let seeds = seed_messages();
    let mut steps = 0;
    while let &[op, a, b, ref rest @ ..] = ops {
        let len = usize::from(u16::from_be_bytes([a, b])).min(rest.len());
        let (p, tail) = rest.split_at(len);
        ops = tail;
        steps += 1;
        if steps > 256 || h.closed.is_some() {
            break;
        }
        match op % 12 {
            // A message as the honest remote sends it.
            0 => h.send(p),
            // A message of a chosen type with a fuzzed body.
            1 => {
                if let [t, body @ ..] = p {
                    let ty = MessageType::ALL[usize::from(*t) % MessageType::ALL.len()];
                    let mut m = (ty as i32).to_be_bytes().to_vec();
                    m.extend_from_slice(body);
                    h.send(&m);
                }
            }
            // A real stellar-xdr encoding from the seed bundle.
            2 => {
                if !seeds.is_empty() {
                    let m = seeds[usize::from(u16_at(p, 0)) % seeds.len()].clone();
                    h.send(&m);
                }
            }
            // Raw transport bytes.
            3 => h.input(p),
            // A frame with a wrong sequence number or a bad MAC.
            4 => {
                let delta = u64::from(u16_at(p, 0));
                let seq = h.session.send_seq.wrapping_add(delta);
                let mut buf = Vec::new();
                h.session
                    .frame_with(p.get(2..).unwrap_or(&[]), seq, delta == 0, &mut buf);
                h.input(&buf);
            }
            // Time passes.
            5 => h.advance(u64::from(u16_at(p, 0)) * 10),
            // The node sends something through the peer (only well-formed messages: the
            // API takes the host's word for already-encoded bytes).
            6 => {
                if let Ok(m) = StellarMessage::decode(p) {
                    let _ = h.peer.send(h.now, &m);
                    h.drain();
                }
            }
            // Credit from the remote.
            7 => {
                let g = StellarMessage::SendMoreExtended(SendMoreExtended {
                    num_messages: u32_at(p, 0),
                    num_bytes: u32_at(p, 4),
                });
                h.send(&g.to_vec());
            }
            // A valid frame split in two reads.
            8 => {
                let mut buf = Vec::new();
                h.session.frame(p, &mut buf);
                let at = usize::from(u16_at(p, 0)) % (buf.len() + 1);
                h.input(&buf[..at]);
                h.input(&buf[at..]);
            }
            // The host stops (or resumes) draining the output.
            9 => {
                h.withhold = !h.withhold;
                h.drain();
            }
            // The remote answers the latest ping, or the node shares a flood message.
            10 => {
                if let Some(id) = h.session.pings.last().copied() {
                    let m = StellarMessage::DontHave(DontHave {
                        message_type: MessageType::ScpQuorumSet,
                        req_hash: &id,
                    });
                    h.send(&m.to_vec());
                } else if StellarMessage::decode(p).is_ok() {
                    let _ = h.peer.send_shared(h.now, Arc::from(p));
                    h.drain();
                }
            }
            // Closes from our side.
            _ => {
                h.peer.close(h.now, DropReason::DroppedByUser);
                h.drain();
            }
        }
    }
    h.finish();
});
