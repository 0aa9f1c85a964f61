//! Two peers connected in memory, for measuring the receive path the same way natively
//! (criterion, `benches/peer.rs`) and in wasm (`host-wasm`'s `benchReceivePath`).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use crate::auth::MacKey;
use crate::flood::sha256;
use crate::overlay::{Overlay, OverlayConfig};
use crate::wire::MessageType;
use crate::{
    AcceptAll, AuthCert, ConnId, Event, Instant, LocalNode, NetworkId, NodeKey, Peer, PeerConfig,
    PeerSetup, Role, WallClock,
};

const UNIX: u64 = 1_750_000_000;

/// A node identity for benchmarks.
pub fn bench_node(seed: u8) -> Arc<LocalNode> {
    Arc::new(LocalNode::new(
        NodeKey::from_seed([seed; 32]),
        NetworkId::from_passphrase("bench"),
        [seed; 32],
    ))
}

/// A peer at time zero that asks for no SCP state (so only what a benchmark sends flows).
pub fn bench_peer(role: Role, node: &Arc<LocalNode>, cert: AuthCert, nonce: [u8; 32]) -> Peer {
    Peer::new(
        PeerSetup {
            role,
            local: Arc::clone(node),
            cert,
            nonce,
            remote_address: Some(([127, 0, 0, 1], 1).into()),
            config: PeerConfig {
                scp_state_request: None,
                ..PeerConfig::default()
            },
            clock: WallClock::new(Instant::ZERO, UNIX),
        },
        Instant::ZERO,
    )
}

/// A cert for `node` valid at the benchmarks' wall clock.
pub fn bench_cert(node: &LocalNode) -> AuthCert {
    node.issue_cert(UNIX)
}

/// Moves bytes both ways until both peers are quiet (a handshake, a credit exchange).
pub fn pump(a: &mut Peer, b: &mut Peer, buf: &mut Vec<u8>) {
    loop {
        while a.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
        while b.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
        buf.clear();
        a.poll_transmit(Instant::ZERO, buf);
        let ab = buf.len();
        b.handle_input(Instant::ZERO, buf);
        buf.clear();
        b.poll_transmit(Instant::ZERO, buf);
        if ab == 0 && buf.is_empty() {
            return;
        }
        a.handle_input(Instant::ZERO, buf);
    }
}

/// A 300-byte TRANSACTION message (type tag + a 296-byte envelope stand-in).
pub fn transaction_300(i: u32) -> Arc<[u8]> {
    let mut v = Vec::from((MessageType::Transaction as i32).to_be_bytes());
    v.extend_from_slice(&i.to_be_bytes());
    v.resize(300, 0x5a);
    v.into()
}

/// Two authenticated peers: `a` sends batches of 300-byte transactions, `b` receives them.
#[derive(Debug)]
pub struct ReceivePair {
    a: Peer,
    b: Peer,
    frames: Vec<u8>,
    grants: Vec<u8>,
    seq: u32,
}

impl Default for ReceivePair {
    fn default() -> Self {
        Self::new()
    }
}

impl ReceivePair {
    pub fn new() -> Self {
        let (na, nb) = (bench_node(1), bench_node(2));
        let mut a = bench_peer(Role::Initiator, &na, bench_cert(&na), [1; 32]);
        let mut b = bench_peer(Role::Acceptor, &nb, bench_cert(&nb), [2; 32]);
        let mut buf = Vec::with_capacity(1 << 16);
        pump(&mut a, &mut b, &mut buf);
        ReceivePair {
            a,
            b,
            frames: Vec::with_capacity(1 << 20),
            grants: Vec::with_capacity(1 << 16),
            seq: 0,
        }
    }

    /// `a` encodes `batch` transactions into frames (not part of the receive path).
    pub fn prepare(&mut self, batch: usize) {
        for _ in 0..batch {
            self.seq = self.seq.wrapping_add(1);
            // Credit is settled after every batch; a batch fits in the initial grant.
            let _ = self.a.send_shared(Instant::ZERO, transaction_300(self.seq));
        }
        self.frames.clear();
        self.a.poll_transmit(Instant::ZERO, &mut self.frames);
    }

    /// The receive path: `b` decodes the frames, checks sequence and MAC, dispatches each
    /// message and writes its credit grants. Returns the messages delivered.
    pub fn receive(&mut self) -> usize {
        let mut data = &self.frames[..];
        let mut delivered = 0;
        while !data.is_empty() {
            let took = self.b.handle_input(Instant::ZERO, data);
            data = &data[took..];
            while let Some(ev) = self.b.poll(Instant::ZERO, &mut AcceptAll) {
                if let Event::Message(m) = ev {
                    core::hint::black_box(&m);
                    delivered += 1;
                }
            }
            self.b.poll_transmit(Instant::ZERO, &mut self.grants);
            if took == 0 {
                break;
            }
        }
        delivered
    }

    /// Hands `b`'s grants back to `a` (not part of the receive path).
    pub fn settle(&mut self) {
        self.a.handle_input(Instant::ZERO, &self.grants);
        self.grants.clear();
        while self.a.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
    }
}

/// The receive path's floor for one 300-byte TRANSACTION frame: HMAC-SHA256 over what the
/// MAC covers (sequence + message) and SHA-256 of the message (its flood hash).
#[derive(Debug)]
pub struct RawMacBaseline {
    key: MacKey,
    frame_body: Vec<u8>,
}

impl Default for RawMacBaseline {
    fn default() -> Self {
        Self::new()
    }
}

impl RawMacBaseline {
    pub fn new() -> Self {
        let mut frame_body = vec![0u8; 12];
        frame_body.extend_from_slice(&transaction_300(1));
        frame_body.extend_from_slice(&[0; 32]);
        RawMacBaseline {
            key: MacKey::new(&[7; 32]),
            frame_body,
        }
    }

    /// One frame's worth of raw crypto: the MAC and the message's hash.
    pub fn once(&self) {
        self.mac_only();
        let body = &self.frame_body;
        core::hint::black_box(sha256(core::hint::black_box(&body[12..body.len() - 32])));
    }

    /// Only the frame's HMAC-SHA256.
    pub fn mac_only(&self) {
        let body = &self.frame_body;
        let covered = &body[4..body.len() - 32];
        core::hint::black_box(self.key.mac(core::hint::black_box(covered)));
    }
}

/// A 300-byte SCP_MESSAGE (a NOMINATE with five 24-byte votes and a dummy signature) for
/// slot `slot`: what a node floods to every peer. Distinct slots give distinct messages.
pub fn scp_nominate_300(slot: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(300);
    v.extend_from_slice(&(MessageType::ScpMessage as i32).to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(&[7; 32]);
    v.extend_from_slice(&slot.to_be_bytes());
    v.extend_from_slice(&3i32.to_be_bytes()); // NOMINATE
    v.extend_from_slice(&[0; 32]);
    v.extend_from_slice(&5u32.to_be_bytes());
    for b in 1..=5u8 {
        v.extend_from_slice(&24u32.to_be_bytes());
        v.extend_from_slice(&[b; 24]);
    }
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&64u32.to_be_bytes());
    v.extend_from_slice(&[9; 64]);
    debug_assert_eq!(v.len(), 300);
    v
}

/// `k` authenticated connections from one sender: the broadcast benchmarks. The sender is
/// either `k` bare [`Peer`]s (what one flooded message costs per connection: a shared buffer,
/// a queue entry, a sequence number and a MAC each) or a whole [`Overlay`] with `k`
/// authenticated peers (the same plus the floodgate: the message's BLAKE2 key and record).
#[derive(Debug)]
pub struct BroadcastBench {
    sender: Sender,
    /// The receiving ends, and what was written to each since the last `settle`.
    remotes: Vec<(Peer, Vec<u8>)>,
    slot: u64,
}

#[derive(Debug)]
enum Sender {
    Peers(Vec<Peer>),
    Overlay(Box<Overlay>, Vec<ConnId>),
}

impl BroadcastBench {
    /// `k` bare peers, each authenticated with its own remote.
    pub fn peers(k: usize) -> Self {
        let node = bench_node(1);
        let mut buf = Vec::with_capacity(1 << 16);
        let mut senders = Vec::new();
        let mut remotes = Vec::new();
        for i in 0..k {
            let rn = bench_node(10 + i as u8);
            let mut a = bench_peer(Role::Initiator, &node, bench_cert(&node), [i as u8; 32]);
            let mut b = bench_peer(Role::Acceptor, &rn, bench_cert(&rn), [100 + i as u8; 32]);
            pump(&mut a, &mut b, &mut buf);
            assert!(a.is_authenticated() && b.is_authenticated());
            senders.push(a);
            remotes.push((b, Vec::with_capacity(1 << 20)));
        }
        BroadcastBench {
            sender: Sender::Peers(senders),
            remotes,
            slot: 0,
        }
    }

    /// An [`Overlay`] with `k` authenticated inbound peers.
    pub fn overlay(k: usize) -> Self {
        let node = bench_node(1);
        let mut config = OverlayConfig {
            auto_connect: false,
            ..OverlayConfig::default()
        };
        config.peer.scp_state_request = None;
        let mut overlay = Overlay::new(
            node,
            config,
            WallClock::new(Instant::ZERO, UNIX),
            [3; 32],
            Instant::ZERO,
        );
        let mut conns = Vec::new();
        let mut remotes = Vec::new();
        let mut buf = Vec::with_capacity(1 << 16);
        for i in 0..k {
            let addr = core::net::SocketAddr::from(([10, 0, 0, 1 + i as u8], 11625));
            let conn = overlay
                .handle_accept(Instant::ZERO, addr)
                .unwrap_or_else(|| unreachable!("room for {k} peers"));
            let rn = bench_node(10 + i as u8);
            let b = bench_peer(Role::Initiator, &rn, bench_cert(&rn), [100 + i as u8; 32]);
            conns.push(conn);
            remotes.push((b, Vec::with_capacity(1 << 20)));
        }
        // Handshakes: move bytes both ways until nothing moves.
        loop {
            let mut moved = false;
            for (i, (b, _)) in remotes.iter_mut().enumerate() {
                while b.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
                buf.clear();
                b.poll_transmit(Instant::ZERO, &mut buf);
                if !buf.is_empty() {
                    moved = true;
                    overlay.handle_input(Instant::ZERO, conns[i], &buf);
                }
            }
            while overlay.poll_event(Instant::ZERO).is_some() {}
            for (i, (b, _)) in remotes.iter_mut().enumerate() {
                buf.clear();
                overlay.transmit(Instant::ZERO, conns[i], &mut buf);
                if !buf.is_empty() {
                    moved = true;
                    b.handle_input(Instant::ZERO, &buf);
                }
            }
            if !moved {
                break;
            }
        }
        assert_eq!(
            overlay.authenticated().count(),
            k,
            "every peer authenticated"
        );
        BroadcastBench {
            sender: Sender::Overlay(Box::new(overlay), conns),
            remotes,
            slot: 0,
        }
    }

    /// The next message to broadcast (not part of the measured work).
    pub fn next_message(&mut self) -> Vec<u8> {
        self.slot += 1;
        scp_nominate_300(self.slot)
    }

    /// The measured work: floods `message` (encoded once) to every connection and collects
    /// each connection's frame into its output buffer. Returns the connections served.
    pub fn broadcast(&mut self, message: &[u8]) -> usize {
        match &mut self.sender {
            Sender::Peers(peers) => {
                let shared: Arc<[u8]> = Arc::from(message);
                for (a, (_, out)) in peers.iter_mut().zip(self.remotes.iter_mut()) {
                    let _ = a.send_shared(Instant::ZERO, Arc::clone(&shared));
                    a.poll_transmit(Instant::ZERO, out);
                }
                peers.len()
            }
            Sender::Overlay(overlay, conns) => {
                let n = overlay.broadcast(Instant::ZERO, message);
                for (conn, (_, out)) in conns.iter().zip(self.remotes.iter_mut()) {
                    overlay.transmit(Instant::ZERO, *conn, out);
                }
                n
            }
        }
    }

    /// Delivers what was broadcast and returns the receivers' credit (not measured).
    /// Returns how many messages the receivers got.
    pub fn settle(&mut self) -> usize {
        let mut got = 0;
        let mut grants = Vec::with_capacity(1 << 16);
        for (i, (b, out)) in self.remotes.iter_mut().enumerate() {
            let mut data = &out[..];
            while !data.is_empty() {
                let took = b.handle_input(Instant::ZERO, data);
                data = &data[took..];
                while let Some(ev) = b.poll(Instant::ZERO, &mut AcceptAll) {
                    if let Event::Message(m) = ev
                        && m.message.message_type() == MessageType::ScpMessage
                    {
                        got += 1;
                    }
                }
                if took == 0 {
                    break;
                }
            }
            out.clear();
            grants.clear();
            b.poll_transmit(Instant::ZERO, &mut grants);
            match &mut self.sender {
                Sender::Peers(peers) => {
                    let a = &mut peers[i];
                    a.handle_input(Instant::ZERO, &grants);
                    while a.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
                }
                Sender::Overlay(overlay, conns) => {
                    overlay.handle_input(Instant::ZERO, conns[i], &grants);
                }
            }
        }
        if let Sender::Overlay(overlay, _) = &mut self.sender {
            while overlay.poll_event(Instant::ZERO).is_some() {}
            // Anything the overlay wrote on its own (nothing in steady state) is discarded.
        }
        got
    }
}

/// The broadcast floor: one raw HMAC-SHA256 over what a 300-byte message's MAC covers.
pub fn raw_macs(k: usize, baseline: &RawMacBaseline) {
    for _ in 0..k {
        baseline.mac_only();
    }
}
