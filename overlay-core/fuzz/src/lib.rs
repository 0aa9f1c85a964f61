//! Shared pieces of the fuzz targets: fixed identities, a scripted remote that computes
//! real MACs, the seed messages, and the invariant checks each target asserts.
//!
//! How the fuzzer gets past the handshake: the harness plays the remote honestly.
//! Identities and nonces are fixed, so the remote's MAC keys are derived once per
//! (remote, role, local nonce) and cached, and every frame the harness writes carries the
//! right sequence number and a real HMAC-SHA256 that the core verifies with its real code.
//! Only the two public-key operations of a handshake are replaced, under `--cfg fuzzing`
//! (which cargo fuzz sets), by cheap deterministic stand-ins (overlay-core `auth.rs`,
//! module `fuzzing`): Ed25519 and X25519 cost ~100 µs per handshake and would hold the
//! targets that complete handshakes to a few thousand runs a second. The harness derives
//! its keys through the same library functions, so it works with or without the shortcut
//! (`cargo fuzz build --no-cfg-fuzzing` runs the real crypto, slowly).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use overlay_core::auth::{AuthCert, MacKeys, derive_mac_keys};
use overlay_core::wire::{
    AuthCertView, AuthenticatedMessage, FrameDecoder, Hello, MAX_MESSAGE_SIZE, MessageType,
    StellarMessage, write_frame, zero_mac,
};
use overlay_core::{Instant, LocalNode, NetworkId, NodeKey, Role, WallClock};

pub mod checks;
pub mod peer;

/// UNIX time at `Instant::ZERO` in every target.
pub const T0_UNIX: u64 = 1_750_000_000;
pub const PASSPHRASE: &str = "Standalone Network ; February 2017";
/// The local peer's connection nonce in the `Peer` targets.
pub const LOCAL_NONCE: [u8; 32] = [0x11; 32];

pub fn clock() -> WallClock {
    WallClock::new(Instant::ZERO, T0_UNIX)
}

pub fn network() -> NetworkId {
    NetworkId::from_passphrase(PASSPHRASE)
}

/// A node identity from a one-byte seed: node key `[seed; 32]`, X25519 secret
/// `[seed + 100; 32]`.
pub fn node(seed: u8) -> Arc<LocalNode> {
    let mut n = LocalNode::new(
        NodeKey::from_seed([seed; 32]),
        network(),
        [seed.wrapping_add(100); 32],
    );
    n.listening_port = 11000 + u16::from(seed);
    Arc::new(n)
}

/// The node under test (seed 1).
pub fn local() -> &'static Arc<LocalNode> {
    static LOCAL: OnceLock<Arc<LocalNode>> = OnceLock::new();
    LOCAL.get_or_init(|| node(1))
}

/// The local node's cert, issued at `T0_UNIX`.
pub fn local_cert() -> AuthCert {
    static CERT: OnceLock<AuthCert> = OnceLock::new();
    *CERT.get_or_init(|| local().issue_cert(T0_UNIX))
}

pub const REMOTES: usize = 4;

/// A well-behaved remote node: identity, cert and HELLO are fixed.
#[derive(Debug)]
pub struct RemoteNode {
    pub node: Arc<LocalNode>,
    pub cert: AuthCert,
    pub nonce: [u8; 32],
    /// Its HELLO frame (record mark included).
    pub hello_frame: Vec<u8>,
}

/// Remote `i` (seeds 2, 3, ...), for `i < REMOTES`.
pub fn remote(i: usize) -> &'static RemoteNode {
    static REMOTE: OnceLock<Vec<RemoteNode>> = OnceLock::new();
    &REMOTE.get_or_init(|| {
        (0..REMOTES)
            .map(|i| {
                let node = node(2 + i as u8);
                let cert = node.issue_cert(T0_UNIX);
                let nonce = [0x22 + i as u8; 32];
                let hello = hello_message(&node, &cert, &nonce);
                let mut hello_frame = Vec::new();
                write_frame(&mut hello_frame, 0, &hello, zero_mac);
                RemoteNode {
                    node,
                    cert,
                    nonce,
                    hello_frame,
                }
            })
            .collect()
    })[i % REMOTES]
}

/// A HELLO (StellarMessage XDR) for `node` with its cert and nonce.
pub fn hello_message(node: &LocalNode, cert: &AuthCert, nonce: &[u8; 32]) -> Vec<u8> {
    StellarMessage::Hello(Hello {
        ledger_version: node.ledger_version,
        overlay_version: node.overlay_version,
        overlay_min_version: node.overlay_min_version,
        network_id: &node.network_id.0,
        version_str: node.version_str.as_bytes(),
        listening_port: i32::from(node.listening_port),
        peer_id: &node.key.node_id().0,
        cert: AuthCertView {
            pubkey: &cert.pubkey,
            expiration: cert.expiration,
            sig: &cert.sig,
        },
        nonce,
    })
    .to_vec()
}

/// The remote's MAC keys toward a local node whose X25519 public key is `local_pub`, for a
/// connection where the remote plays `remote_role` and the local nonce is `local_nonce`.
/// Cached: the handful of (remote, role, nonce) combinations a target uses are derived once
/// per process.
pub fn remote_keys(
    remote_index: usize,
    remote_role: Role,
    local_pub: &[u8; 32],
    local_nonce: &[u8; 32],
) -> Option<MacKeys> {
    type Key = (usize, bool, [u8; 32], [u8; 32]);
    thread_local! {
        static CACHE: RefCell<HashMap<Key, Option<MacKeys>>> = RefCell::new(HashMap::new());
    }
    let key = (
        remote_index,
        remote_role == Role::Initiator,
        *local_pub,
        *local_nonce,
    );
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.entry(key)
            .or_insert_with(|| {
                let r = remote(remote_index);
                derive_mac_keys(remote_role, &r.node.ecdh, local_pub, &r.nonce, local_nonce).ok()
            })
            .clone()
    })
}

/// The remote end of one connection: writes frames with the right sequence and MAC, and
/// checks that everything the local side writes is well formed, in sequence and MACed.
#[derive(Debug)]
pub struct Session {
    pub remote_index: usize,
    pub remote_role: Role,
    pub keys: Option<MacKeys>,
    pub send_seq: u64,
    pub recv_seq: u64,
    rx: FrameDecoder,
    /// The local side's HELLO was seen (its nonce and X25519 key).
    pub local_hello: Option<([u8; 32], [u8; 32])>,
    /// Messages of each type the local side wrote.
    pub written: [u64; 32],
    /// The local side sent ERROR_MSG (its last word).
    pub errored: bool,
    /// Latency pings (GET_SCP_QUORUMSET ids) the local side sent, newest last.
    pub pings: Vec<[u8; 32]>,
}

impl Session {
    pub fn new(remote_index: usize, remote_role: Role) -> Self {
        Session {
            remote_index,
            remote_role,
            keys: None,
            send_seq: 0,
            recv_seq: 0,
            rx: FrameDecoder::new(),
            local_hello: None,
            written: [0; 32],
            errored: false,
            pings: Vec::new(),
        }
    }

    pub fn remote(&self) -> &'static RemoteNode {
        remote(self.remote_index)
    }

    /// Frames `message` (StellarMessage XDR) as the remote would: sequence and MAC once the
    /// keys exist, except for HELLO and ERROR_MSG.
    pub fn frame(&mut self, message: &[u8], out: &mut Vec<u8>) {
        let ty = message
            .get(..4)
            .map(|t| i32::from_be_bytes([t[0], t[1], t[2], t[3]]))
            .and_then(|t| MessageType::from_i32(t).ok());
        match &self.keys {
            Some(k) if !ty.is_some_and(MessageType::is_unauthenticated) => {
                write_frame(out, self.send_seq, message, |i| k.send.mac(i));
                self.send_seq += 1;
            }
            _ => write_frame(out, 0, message, zero_mac),
        }
    }

    /// Frames `message` with an explicit sequence and MAC key choice (for rule breaking).
    pub fn frame_with(&self, message: &[u8], seq: u64, good_mac: bool, out: &mut Vec<u8>) {
        match (&self.keys, good_mac) {
            (Some(k), true) => write_frame(out, seq, message, |i| k.send.mac(i)),
            _ => write_frame(out, seq, message, |i| {
                let mut m = [0u8; 32];
                m[..8].copy_from_slice(&seq.to_be_bytes());
                m[8] = i.len() as u8;
                m
            }),
        }
    }

    /// Derives the keys once the local side's HELLO (nonce, X25519 key) is known.
    fn learn_hello(&mut self, nonce: [u8; 32], pubkey: [u8; 32]) {
        if self.local_hello.is_none() {
            self.local_hello = Some((nonce, pubkey));
            self.keys = remote_keys(self.remote_index, self.remote_role, &pubkey, &nonce);
        }
    }

    /// Installs keys for a local side whose nonce and X25519 key are known up front.
    pub fn expect_local(&mut self, nonce: [u8; 32], pubkey: [u8; 32]) {
        self.learn_hello(nonce, pubkey);
    }

    /// Checks bytes the local side wrote: every frame is a well-formed
    /// `AuthenticatedMessage` whose message decodes and re-encodes to itself; HELLO and
    /// ERROR_MSG carry sequence 0 and a zero MAC, everything else the next sequence number
    /// and a MAC that verifies. Nothing follows an ERROR_MSG.
    pub fn check_output(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let took = self.rx.push(rest, MAX_MESSAGE_SIZE);
            rest = &rest[took..];
            loop {
                let frame = match self.rx.next_frame(MAX_MESSAGE_SIZE) {
                    Ok(Some(f)) => f.to_vec(),
                    Ok(None) => break,
                    Err(e) => panic!("local side wrote a bad frame header: {e:?}"),
                };
                self.check_frame(&frame);
            }
        }
    }

    fn check_frame(&mut self, frame: &[u8]) {
        assert!(!self.errored, "local side wrote after its ERROR_MSG");
        let am = AuthenticatedMessage::parse(frame).expect("local frame parses");
        let message = am.decode().expect("local message decodes");
        checks::reencodes(&message, am.message);
        let ty = message.message_type();
        self.written[ty as usize] += 1;
        if ty.is_unauthenticated() {
            assert_eq!(am.sequence, 0, "{ty} carries sequence 0");
            assert_eq!(am.mac, &[0u8; 32], "{ty} carries a zero MAC");
            match message {
                StellarMessage::Hello(h) => {
                    assert_eq!(self.written[ty as usize], 1, "a second HELLO");
                    if let Some((nonce, pubkey)) = self.local_hello {
                        assert_eq!((&nonce, &pubkey), (h.nonce, h.cert.pubkey));
                    }
                    self.learn_hello(*h.nonce, *h.cert.pubkey);
                }
                StellarMessage::ErrorMsg(_) => self.errored = true,
                _ => unreachable!(),
            }
            return;
        }
        let keys = self
            .keys
            .as_ref()
            .expect("a MACed message only after HELLO was exchanged");
        assert_eq!(
            am.sequence, self.recv_seq,
            "local sequence numbers are dense"
        );
        assert!(
            keys.recv.verify(am.mac_input, am.mac),
            "local MAC verifies: {} seq {} remote {} role {:?}",
            message.message_type(),
            am.sequence,
            self.remote_index,
            self.remote_role
        );
        self.recv_seq += 1;
        if let StellarMessage::GetScpQuorumSet(h) = message {
            if self.pings.len() >= 8 {
                self.pings.remove(0);
            }
            self.pings.push(*h);
        }
    }
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// StellarMessage encodings bundled from `seeds/message/` (real encodings made by
/// `stellar-xdr`; see tests/tests/differential.rs), for targets that pick messages by index.
pub fn seed_messages() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let blob: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seed_messages.bin"));
        let mut out = Vec::new();
        let mut rest = blob;
        while rest.len() >= 4 {
            let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            out.push(rest[4..4 + n].to_vec());
            rest = &rest[4 + n..];
        }
        out
    })
}

/// A seed message of the given type, if the bundle has one (`pick` chooses among them).
pub fn seed_of_type(ty: MessageType, pick: usize) -> Option<&'static [u8]> {
    let all: Vec<&Vec<u8>> = seed_messages()
        .iter()
        .filter(|m| m.get(..4) == Some(&(ty as i32).to_be_bytes()[..]))
        .collect();
    (!all.is_empty()).then(|| all[pick % all.len()].as_slice())
}

/// A tiny deterministic PRNG for chunking and mutation choices inside a target.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}
