//! Two peers connected in memory, for measuring the receive path the same way natively
//! (criterion, `benches/peer.rs`) and in wasm (`host-wasm`'s `benchReceivePath`).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use crate::auth::MacKey;
use crate::flood::sha256;
use crate::wire::MessageType;
use crate::{
    AcceptAll, AuthCert, Event, Instant, LocalNode, NetworkId, NodeKey, Peer, PeerConfig,
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
