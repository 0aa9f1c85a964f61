//! Two `Peer`s in memory, no sockets: handshakes in both roles, every HELLO and AUTH
//! rejection with stellar-core's error code, MAC and sequence violations, framing errors,
//! flow control and the timers. Hostile inputs come from `Raw`, a scripted remote built
//! from the crate's own primitives so it can break any rule on purpose.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use overlay_core::auth::{AuthCert, MacKeys, derive_mac_keys};
use overlay_core::flow::Priority;
use overlay_core::peer::{SendError, State};
use overlay_core::wire::{
    AuthCertView, DontHave, ErrorCode, FrameDecoder, Hello, MessageType, PeerAddress,
    SendMoreExtended, StellarMessage, write_frame, zero_mac,
};
use overlay_core::{
    AcceptAll, Admission, DropReason, Event, Instant, LocalNode, NetworkId, NodeId, NodeKey, Peer,
    PeerConfig, PeerSetup, RemoteInfo, Role, WallClock,
};

const T0_UNIX: u64 = 1_750_000_000;
const PASSPHRASE: &str = "Standalone Network ; February 2017";

fn local(seed: u8) -> Arc<LocalNode> {
    let mut node = LocalNode::new(
        NodeKey::from_seed([seed; 32]),
        NetworkId::from_passphrase(PASSPHRASE),
        [seed.wrapping_add(100); 32],
    );
    node.listening_port = 11000 + u16::from(seed);
    Arc::new(node)
}

fn addr(port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn setup(role: Role, node: &Arc<LocalNode>, config: PeerConfig) -> PeerSetup {
    PeerSetup {
        role,
        local: Arc::clone(node),
        cert: node.issue_cert(T0_UNIX),
        nonce: [node.node_id().0[0] ^ role as u8; 32],
        remote_address: addr(40000),
        config,
        clock: WallClock::new(Instant::ZERO, T0_UNIX),
    }
}

/// An owned copy of an event.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Hello(NodeId),
    Authenticated(RemoteInfo),
    Credit(SendMoreExtended),
    Message {
        ty: MessageType,
        seq: u64,
        bytes: Vec<u8>,
    },
    Closed(DropReason),
}

/// Answers the handshake questions as a test says.
#[derive(Debug, Default)]
struct Gate {
    banned: Vec<NodeId>,
    duplicate: bool,
    reject: bool,
    peers: Vec<PeerAddress>,
}

impl Admission for Gate {
    fn is_banned(&self, node: &NodeId) -> bool {
        self.banned.contains(node)
    }
    fn hello_accepted(&mut self, _: Role, _: &RemoteInfo) -> bool {
        !self.duplicate
    }
    fn admit(&mut self, _: Role, _: &RemoteInfo) -> bool {
        !self.reject
    }
    fn peers_to_send(&mut self, _: &RemoteInfo) -> Vec<PeerAddress> {
        self.peers.clone()
    }
}

struct Side {
    peer: Peer,
    gate: Gate,
    seen: Vec<Seen>,
}

impl Side {
    fn new(role: Role, node: &Arc<LocalNode>, config: PeerConfig) -> Self {
        Side {
            peer: Peer::new(setup(role, node, config), Instant::ZERO),
            gate: Gate::default(),
            seen: Vec::new(),
        }
    }

    /// Drains events; like any host, answers GET_SCP_QUORUMSET (stellar-core's latency
    /// ping) with DONT_HAVE.
    fn drain(&mut self, now: Instant) {
        let mut pings = Vec::new();
        while let Some(ev) = self.peer.poll(now, &mut self.gate) {
            if let Event::Message(m) = &ev
                && let StellarMessage::GetScpQuorumSet(h) = m.message
            {
                pings.push(*h);
            }
            self.seen.push(match ev {
                Event::Hello(r) => Seen::Hello(r.node_id),
                Event::Authenticated(r) => Seen::Authenticated(r),
                Event::CreditGranted(g) => Seen::Credit(g),
                Event::Message(m) => Seen::Message {
                    ty: m.message.message_type(),
                    seq: m.sequence,
                    bytes: m.message.to_vec(),
                },
                Event::Closed(r) => Seen::Closed(r),
            });
        }
        for h in pings {
            let reply = DontHave {
                message_type: MessageType::ScpQuorumSet,
                req_hash: &h,
            };
            let _ = self.peer.send(now, &StellarMessage::DontHave(reply));
        }
    }

    fn out(&mut self, now: Instant) -> Vec<u8> {
        let mut out = Vec::new();
        while self.peer.poll_transmit(now, &mut out) > 0 {}
        out
    }

    fn closed(&self) -> Option<&DropReason> {
        self.seen.iter().find_map(|s| match s {
            Seen::Closed(r) => Some(r),
            _ => None,
        })
    }

    fn messages(&self, ty: MessageType) -> Vec<&Vec<u8>> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Message { ty: t, bytes, .. } if *t == ty => Some(bytes),
                _ => None,
            })
            .collect()
    }
}

/// Moves bytes both ways until nothing moves.
fn pump(a: &mut Side, b: &mut Side, now: Instant) {
    pump_watching(a, b, now, |_, _| {});
}

/// [`pump`], showing `watch` each batch of bytes moved (A → B, B → A).
fn pump_watching(a: &mut Side, b: &mut Side, now: Instant, mut watch: impl FnMut(&[u8], &[u8])) {
    loop {
        a.drain(now);
        b.drain(now);
        let ab = a.out(now);
        let ba = b.out(now);
        if ab.is_empty() && ba.is_empty() {
            break;
        }
        watch(&ab, &ba);
        feed(&mut b.peer, now, &ab);
        feed(&mut a.peer, now, &ba);
    }
}

fn feed(p: &mut Peer, now: Instant, mut data: &[u8]) {
    while !data.is_empty() {
        let n = p.handle_input(now, data);
        assert!(n > 0, "peer refused input without being drained");
        data = &data[n..];
    }
}

fn pair(config: PeerConfig) -> (Side, Side) {
    let (na, nb) = (local(1), local(2));
    (
        Side::new(Role::Initiator, &na, config.clone()),
        Side::new(Role::Acceptor, &nb, config),
    )
}

fn tx(i: u32, len: usize) -> Vec<u8> {
    let mut v = Vec::from((MessageType::Transaction as i32).to_be_bytes());
    v.extend_from_slice(&i.to_be_bytes());
    v.resize(len, 0xab);
    v
}

#[test]
fn handshake_both_roles() {
    let (mut a, mut b) = pair(PeerConfig::default());
    b.gate.peers = vec![PeerAddress {
        ip: [1, 2, 3, 4].into(),
        port: 11625,
        num_failures: 0,
    }];
    pump(&mut a, &mut b, Instant::ZERO);
    for (side, other) in [(&a, 2u8), (&b, 1u8)] {
        assert_eq!(side.peer.state(), State::GotAuth);
        let remote = side
            .seen
            .iter()
            .find_map(|s| match s {
                Seen::Authenticated(r) => Some(r.clone()),
                _ => None,
            })
            .expect("authenticated");
        assert_eq!(remote.node_id, local(other).node_id());
        assert_eq!(
            (remote.overlay_min_version, remote.overlay_version),
            (38, 39)
        );
        assert_eq!(remote.address, addr(11000 + u16::from(other)));
        assert!(remote.version_str().starts_with("stellar-overlay-rs"));
        assert!(side.seen.contains(&Seen::Credit(SendMoreExtended {
            num_messages: 200,
            num_bytes: 300_000
        })));
        assert_eq!(side.messages(MessageType::GetScpState).len(), 1);
        assert_eq!(side.peer.outbound_credit(), (200, 300_000));
        assert!(side.closed().is_none());
    }
    // PEERS goes from the acceptor to the initiator only.
    assert_eq!(a.messages(MessageType::Peers).len(), 1);
    assert!(b.messages(MessageType::Peers).is_empty());
    // Both derived the same keys, crosswise.
    let (ka, kb) = (a.peer.mac_keys().unwrap(), b.peer.mac_keys().unwrap());
    assert_eq!(ka.send_raw, kb.recv_raw);
    assert_eq!(ka.recv_raw, kb.send_raw);
}

#[test]
fn transactions_flow_in_order_within_credit() {
    let (mut a, mut b) = pair(PeerConfig::default());
    let mut now = Instant::ZERO;
    pump(&mut a, &mut b, now);
    for i in 0..1000 {
        a.peer.send_shared(now, tx(i, 300).into()).unwrap();
    }
    // Without B's re-grants, A stops at the initial credit: 200 messages.
    let first = a.out(now);
    feed(&mut b.peer, now, &first);
    b.drain(now);
    assert_eq!(b.messages(MessageType::Transaction).len(), 200);
    assert_eq!(a.peer.outbound_credit(), (0, 300_000 - 200 * 300));
    // With grants flowing, everything arrives, in order, and B never sees an overrun.
    pump(&mut a, &mut b, now);
    for i in 1000..2000 {
        a.peer.send_shared(now, tx(i, 300).into()).unwrap();
        if i % 100 == 0 {
            now = now + Duration::from_millis(1);
            pump(&mut a, &mut b, now);
        }
    }
    pump(&mut a, &mut b, now);
    let got = b.messages(MessageType::Transaction);
    assert_eq!(got.len(), 2000);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(**m, tx(i as u32, 300));
    }
    assert!(b.closed().is_none() && a.closed().is_none());
    assert_eq!(b.peer.stats().flood_messages_read, 2000);
    assert_eq!(a.peer.queue_drops(), [0; 4]);
}

#[test]
fn outbound_tx_queue_is_trimmed_not_grown() {
    let (mut a, mut b) = pair(PeerConfig::default());
    pump(&mut a, &mut b, Instant::ZERO);
    // 2 000 queued at once against a limit of 1 000: the queue is dropped whole at the
    // 1 001st, as stellar-core does when a peer is far behind.
    for i in 0..2000 {
        a.peer
            .send_shared(Instant::ZERO, tx(i, 300).into())
            .unwrap();
    }
    assert_eq!(a.peer.queued(Priority::Transaction), 999);
    assert_eq!(a.peer.queue_drops()[1], 1001);
}

#[test]
fn byte_credit_limits_large_messages() {
    let (mut a, mut b) = pair(PeerConfig::default());
    pump(&mut a, &mut b, Instant::ZERO);
    for i in 0..10 {
        a.peer
            .send_shared(Instant::ZERO, tx(i, 100_000).into())
            .unwrap();
    }
    let out = a.out(Instant::ZERO);
    feed(&mut b.peer, Instant::ZERO, &out);
    b.drain(Instant::ZERO);
    // 300 000 bytes of credit: three 100 000-byte transactions.
    assert_eq!(b.messages(MessageType::Transaction).len(), 3);
    assert_eq!(a.peer.queued(Priority::Transaction), 7);
}

#[test]
fn scp_goes_before_transactions() {
    let (mut a, mut b) = pair(PeerConfig::default());
    pump(&mut a, &mut b, Instant::ZERO);
    a.peer.send_shared(Instant::ZERO, tx(1, 64).into()).unwrap();
    let scp = scp_envelope(&local(1), 7);
    a.peer
        .send(Instant::ZERO, &StellarMessage::decode(&scp).unwrap())
        .unwrap();
    pump(&mut a, &mut b, Instant::ZERO);
    let order: Vec<MessageType> = b
        .seen
        .iter()
        .filter_map(|s| match s {
            Seen::Message { ty, .. } if ty.is_flood() => Some(*ty),
            _ => None,
        })
        .collect();
    assert_eq!(order, [MessageType::ScpMessage, MessageType::Transaction]);
}

/// A NOMINATE envelope XDR as a StellarMessage, signed by `node`.
fn scp_envelope(node: &LocalNode, slot: u64) -> Vec<u8> {
    let mut st = Vec::new();
    st.extend_from_slice(&0u32.to_be_bytes());
    st.extend_from_slice(&node.node_id().0);
    st.extend_from_slice(&slot.to_be_bytes());
    st.extend_from_slice(&3i32.to_be_bytes()); // NOMINATE
    st.extend_from_slice(&[0; 32]); // quorum set hash
    st.extend_from_slice(&1u32.to_be_bytes()); // one vote
    st.extend_from_slice(&4u32.to_be_bytes());
    st.extend_from_slice(&(slot as u32).to_be_bytes());
    st.extend_from_slice(&0u32.to_be_bytes()); // no accepted
    let mut msg = Vec::from((MessageType::ScpMessage as i32).to_be_bytes());
    msg.extend_from_slice(&st);
    msg.extend_from_slice(&64u32.to_be_bytes());
    msg.extend_from_slice(&node.key.sign(&st));
    msg
}

// ---------------------------------------------------------------------------------------
// A scripted remote that can break every rule.

#[derive(Clone)]
struct HelloFields {
    ledger_version: u32,
    overlay_version: u32,
    overlay_min_version: u32,
    network_id: [u8; 32],
    version_str: Vec<u8>,
    listening_port: i32,
    peer_id: [u8; 32],
    cert_pubkey: [u8; 32],
    cert_expiration: u64,
    cert_sig: Vec<u8>,
    nonce: [u8; 32],
}

struct Raw {
    node: Arc<LocalNode>,
    role: Role,
    nonce: [u8; 32],
    keys: Option<MacKeys>,
    send_seq: u64,
    rx: FrameDecoder,
}

impl Raw {
    fn new(seed: u8, role: Role) -> Self {
        Raw {
            node: local(seed),
            role,
            nonce: [seed; 32],
            keys: None,
            send_seq: 0,
            rx: FrameDecoder::new(),
        }
    }

    fn hello_fields(&self) -> HelloFields {
        let cert = self.node.issue_cert(T0_UNIX);
        HelloFields {
            ledger_version: 25,
            overlay_version: 39,
            overlay_min_version: 38,
            network_id: self.node.network_id.0,
            version_str: b"raw".to_vec(),
            listening_port: 11625,
            peer_id: self.node.node_id().0,
            cert_pubkey: cert.pubkey,
            cert_expiration: cert.expiration,
            cert_sig: cert.sig.to_vec(),
            nonce: self.nonce,
        }
    }

    fn hello(&self, f: &HelloFields) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, 0, &Self::hello_message(f).to_vec(), zero_mac);
        out
    }

    fn hello_message(f: &HelloFields) -> StellarMessage<'_> {
        StellarMessage::Hello(Hello {
            ledger_version: f.ledger_version,
            overlay_version: f.overlay_version,
            overlay_min_version: f.overlay_min_version,
            network_id: &f.network_id,
            version_str: &f.version_str,
            listening_port: f.listening_port,
            peer_id: &f.peer_id,
            cert: AuthCertView {
                pubkey: &f.cert_pubkey,
                expiration: f.cert_expiration,
                sig: &f.cert_sig,
            },
            nonce: &f.nonce,
        })
    }

    /// Reads the peer's HELLO from its output and derives the keys.
    fn learn(&mut self, bytes: &[u8]) {
        self.rx.push(bytes, 1 << 20);
        let frame = self.rx.next_frame(1 << 20).unwrap().unwrap().to_vec();
        let am = overlay_core::wire::AuthenticatedMessage::parse(&frame).unwrap();
        let StellarMessage::Hello(h) = am.decode().unwrap() else {
            panic!("expected HELLO")
        };
        self.keys = Some(
            derive_mac_keys(
                self.role,
                &self.node.ecdh,
                h.cert.pubkey,
                &self.nonce,
                h.nonce,
            )
            .unwrap(),
        );
    }

    /// A correctly sequenced and MACed frame.
    fn frame(&mut self, msg: &StellarMessage<'_>) -> Vec<u8> {
        let seq = self.send_seq;
        self.send_seq += 1;
        self.frame_with(seq, &msg.to_vec(), false)
    }

    fn frame_with(&self, seq: u64, msg: &[u8], corrupt_mac: bool) -> Vec<u8> {
        let keys = self.keys.as_ref().unwrap();
        let mut out = Vec::new();
        write_frame(&mut out, seq, msg, |input| {
            let mut m = keys.send.mac(input);
            if corrupt_mac {
                m[0] ^= 1;
            }
            m
        });
        out
    }
}

/// Our acceptor under test, fed a raw initiator's HELLO; returns what it wrote back.
fn acceptor_with(hello: impl FnOnce(&mut HelloFields), gate: Gate) -> (Side, Raw, Vec<u8>) {
    acceptor_configured(hello, gate, PeerConfig::default())
}

fn acceptor_configured(
    hello: impl FnOnce(&mut HelloFields),
    gate: Gate,
    config: PeerConfig,
) -> (Side, Raw, Vec<u8>) {
    let mut raw = Raw::new(9, Role::Initiator);
    let mut side = Side::new(Role::Acceptor, &local(2), config);
    side.gate = gate;
    let mut f = raw.hello_fields();
    hello(&mut f);
    feed(&mut side.peer, Instant::ZERO, &raw.hello(&f));
    side.drain(Instant::ZERO);
    let out = side.out(Instant::ZERO);
    if !out.is_empty() && side.peer.remote().is_some() {
        raw.learn(&out);
    }
    (side, raw, out)
}

/// Our acceptor authenticated with a raw initiator.
fn authenticated_acceptor() -> (Side, Raw) {
    authenticated_acceptor_with(PeerConfig::default())
}

fn authenticated_acceptor_with(config: PeerConfig) -> (Side, Raw) {
    let (mut side, mut raw, _) = acceptor_configured(|_| {}, Gate::default(), config);
    let auth = raw.frame(&StellarMessage::Auth(overlay_core::wire::Auth {
        flags: 200,
    }));
    feed(&mut side.peer, Instant::ZERO, &auth);
    side.drain(Instant::ZERO);
    side.out(Instant::ZERO);
    assert!(side.peer.is_authenticated());
    (side, raw)
}

/// The ERROR_MSG code a peer sent last, if any.
fn error_sent(out: &[u8]) -> Option<(ErrorCode, String)> {
    let mut rx = FrameDecoder::new();
    rx.push(out, 1 << 24);
    let mut last = None;
    while let Ok(Some(frame)) = rx.next_frame(1 << 24) {
        let am = overlay_core::wire::AuthenticatedMessage::parse(frame).unwrap();
        if let Ok(StellarMessage::ErrorMsg(e)) = am.decode() {
            last = Some((e.code, String::from_utf8_lossy(e.msg).into_owned()));
        }
    }
    last
}

fn hello_rejected(
    tweak: impl FnOnce(&mut HelloFields),
    gate: Gate,
) -> (DropReason, Option<(ErrorCode, String)>) {
    let (side, _, out) = acceptor_with(tweak, gate);
    let reason = side.closed().cloned().expect("dropped");
    assert!(side.peer.is_closed());
    (reason, error_sent(&out))
}

#[test]
fn hello_rejections_follow_core_order_and_codes() {
    let n = |r: (DropReason, Option<(ErrorCode, String)>)| (r.0, r.1.map(|e| e.0));
    // Cert: expired, bad signature, wrong length. Plain drops.
    assert!(matches!(
        n(hello_rejected(
            |f| f.cert_expiration = T0_UNIX - 1,
            Gate::default()
        )),
        (DropReason::CertInvalid(_), None)
    ));
    assert!(matches!(
        n(hello_rejected(|f| f.cert_sig[5] ^= 1, Gate::default())),
        (DropReason::CertInvalid(_), None)
    ));
    assert!(matches!(
        n(hello_rejected(|f| f.cert_sig.truncate(63), Gate::default())),
        (DropReason::CertInvalid(_), None)
    ));
    // Banned: plain drop, checked after the cert.
    let banned = Gate {
        banned: vec![local(9).node_id()],
        ..Gate::default()
    };
    assert_eq!(
        n(hello_rejected(|_| {}, banned)),
        (DropReason::Banned, None)
    );
    let banned = Gate {
        banned: vec![local(9).node_id()],
        ..Gate::default()
    };
    assert!(matches!(
        n(hello_rejected(|f| f.cert_sig[0] ^= 1, banned)),
        (DropReason::CertInvalid(_), None)
    ));
    // Version gate, three ways, each naming both ranges.
    for (min, max) in [(40, 39), (30, 37), (40, 41)] {
        let (reason, err) = hello_rejected(
            |f| {
                f.overlay_min_version = min;
                f.overlay_version = max;
            },
            Gate::default(),
        );
        assert_eq!(
            reason,
            DropReason::WrongVersion {
                remote_min: min,
                remote_max: max,
                local_min: 38,
                local_max: 39
            }
        );
        let (code, text) = err.unwrap();
        assert_eq!(code, ErrorCode::Conf);
        assert!(text.starts_with("wrong protocol version"), "{text}");
        assert!(
            text.contains(&format!("{min}-{max}")) && text.contains("38-39"),
            "{text}"
        );
    }
    // Version is checked before self, self before network, network before port.
    let me = local(2);
    let (r, e) = hello_rejected(
        |f| {
            let cert = me.issue_cert(T0_UNIX);
            f.peer_id = me.node_id().0;
            f.cert_pubkey = cert.pubkey;
            f.cert_sig = cert.sig.to_vec();
            f.network_id = [7; 32];
        },
        Gate::default(),
    );
    assert_eq!(
        (r, e.unwrap().0),
        (DropReason::ConnectingToSelf, ErrorCode::Conf)
    );
    // The cert is verified against *our* network ID, so a node of another network fails
    // the cert check first (plain drop); only a HELLO whose cert was signed for our network
    // but which names another network reaches the network check.
    let (r, e) = hello_rejected(|f| f.network_id = [7; 32], Gate::default());
    assert_eq!(
        (r, e),
        (
            DropReason::WrongNetwork,
            Some((ErrorCode::Conf, "wrong network passphrase".to_string()))
        )
    );
    let foreign = Raw::new(9, Role::Initiator);
    let (r, e) = hello_rejected(
        |f| {
            let net = NetworkId::from_passphrase("Test SDF Network ; September 2015");
            let cert = AuthCert::issue(&foreign.node.key, &net, f.cert_pubkey, T0_UNIX);
            f.network_id = net.0;
            f.cert_sig = cert.sig.to_vec();
            f.cert_expiration = cert.expiration;
        },
        Gate::default(),
    );
    assert!(matches!(r, DropReason::CertInvalid(_)) && e.is_none());
    for port in [0, -1, 65536] {
        let (r, e) = hello_rejected(|f| f.listening_port = port, Gate::default());
        assert_eq!((r, e.unwrap().0), (DropReason::BadAddress, ErrorCode::Conf));
    }
    let dup = Gate {
        duplicate: true,
        ..Gate::default()
    };
    let (r, e) = hello_rejected(|_| {}, dup);
    assert_eq!(r, DropReason::AlreadyConnected(local(9).node_id()));
    let (code, text) = e.unwrap();
    assert_eq!(code, ErrorCode::Conf);
    assert!(text.starts_with("already-connected peer: G"), "{text}");
}

#[test]
fn acceptor_answers_hello_before_its_checks() {
    // stellar-core's acceptor sends its HELLO before the version check, then the ERROR.
    let (_, _, out) = acceptor_with(|f| f.overlay_version = 1, Gate::default());
    let mut rx = FrameDecoder::new();
    rx.push(&out, 1 << 20);
    let mut types = Vec::new();
    while let Ok(Some(f)) = rx.next_frame(1 << 20) {
        types.push(
            overlay_core::wire::AuthenticatedMessage::parse(f)
                .unwrap()
                .message_type()
                .unwrap(),
        );
    }
    assert_eq!(types, [MessageType::Hello, MessageType::ErrorMsg]);
}

#[test]
fn far_future_cert_expiration_is_accepted() {
    // js-stellar-node-connector writes its expiration in milliseconds.
    let raw = Raw::new(9, Role::Initiator);
    let (side, _, _) = acceptor_with(
        |f| {
            let expiration = T0_UNIX * 1000;
            let digest = AuthCert::signing_digest(&raw.node.network_id, expiration, &f.cert_pubkey);
            f.cert_expiration = expiration;
            f.cert_sig = raw.node.key.sign(&digest).to_vec();
        },
        Gate::default(),
    );
    assert!(side.closed().is_none());
    assert_eq!(side.peer.state(), State::GotHello);
}

#[test]
fn auth_rejections() {
    // AUTH before HELLO.
    let mut side = Side::new(Role::Acceptor, &local(2), PeerConfig::default());
    let raw = Raw::new(9, Role::Initiator);
    let mut auth = Vec::new();
    write_frame(
        &mut auth,
        0,
        &StellarMessage::Auth(overlay_core::wire::Auth { flags: 200 }).to_vec(),
        zero_mac,
    );
    feed(&mut side.peer, Instant::ZERO, &auth);
    side.drain(Instant::ZERO);
    assert_eq!(side.closed(), Some(&DropReason::OutOfOrderAuth));
    assert_eq!(
        error_sent(&side.out(Instant::ZERO)).unwrap().0,
        ErrorCode::Misc
    );
    drop(raw);

    // Wrong flags: ERR_CONF after admission.
    let (mut side, mut raw, _) = acceptor_with(|_| {}, Gate::default());
    let auth = raw.frame(&StellarMessage::Auth(overlay_core::wire::Auth {
        flags: 100,
    }));
    feed(&mut side.peer, Instant::ZERO, &auth);
    side.drain(Instant::ZERO);
    assert_eq!(side.closed(), Some(&DropReason::FlowControlBytesDisabled));
    assert_eq!(
        error_sent(&side.out(Instant::ZERO)).unwrap().0,
        ErrorCode::Conf
    );

    // No room: ERR_LOAD "peer rejected", but AUTH and PEERS were sent first.
    let gate = Gate {
        reject: true,
        peers: vec![PeerAddress {
            ip: [8, 8, 8, 8].into(),
            port: 11625,
            num_failures: 0,
        }],
        ..Gate::default()
    };
    let (mut side, mut raw, _) = acceptor_with(|_| {}, gate);
    let auth = raw.frame(&StellarMessage::Auth(overlay_core::wire::Auth {
        flags: 200,
    }));
    feed(&mut side.peer, Instant::ZERO, &auth);
    side.drain(Instant::ZERO);
    assert_eq!(side.closed(), Some(&DropReason::PeerRejected));
    let out = side.out(Instant::ZERO);
    let mut rx = FrameDecoder::new();
    rx.push(&out, 1 << 20);
    let mut types = Vec::new();
    while let Ok(Some(f)) = rx.next_frame(1 << 20) {
        types.push(
            overlay_core::wire::AuthenticatedMessage::parse(f)
                .unwrap()
                .message_type()
                .unwrap(),
        );
    }
    assert_eq!(
        types,
        [MessageType::Auth, MessageType::Peers, MessageType::ErrorMsg]
    );
    assert_eq!(
        error_sent(&out).unwrap(),
        (ErrorCode::Load, "peer rejected".to_string())
    );

    // A second AUTH.
    let (mut side, mut raw) = authenticated_acceptor();
    let auth = raw.frame(&StellarMessage::Auth(overlay_core::wire::Auth {
        flags: 200,
    }));
    feed(&mut side.peer, Instant::ZERO, &auth);
    side.drain(Instant::ZERO);
    assert_eq!(side.closed(), Some(&DropReason::OutOfOrderAuth));
}

#[test]
fn messages_before_handshake_are_dropped_without_error() {
    let (mut side, mut raw, _) = acceptor_with(|_| {}, Gate::default());
    let m = raw.frame(&StellarMessage::GetScpState(0));
    feed(&mut side.peer, Instant::ZERO, &m);
    side.drain(Instant::ZERO);
    assert_eq!(
        side.closed(),
        Some(&DropReason::BeforeHandshake(MessageType::GetScpState))
    );
    assert_eq!(error_sent(&side.out(Instant::ZERO)), None);
}

#[test]
fn bad_mac_and_sequence() {
    // Corrupted MAC.
    let (mut side, raw) = authenticated_acceptor();
    let m = raw.frame_with(1, &StellarMessage::GetScpState(0).to_vec(), true);
    feed(&mut side.peer, Instant::ZERO, &m);
    side.drain(Instant::ZERO);
    assert_eq!(side.closed(), Some(&DropReason::BadMac));
    assert_eq!(
        error_sent(&side.out(Instant::ZERO)),
        Some((ErrorCode::Auth, "unexpected MAC".into()))
    );
    // Skipped sequence.
    let (mut side, raw) = authenticated_acceptor();
    let m = raw.frame_with(2, &StellarMessage::GetScpState(0).to_vec(), false);
    feed(&mut side.peer, Instant::ZERO, &m);
    side.drain(Instant::ZERO);
    assert_eq!(
        side.closed(),
        Some(&DropReason::UnexpectedSequence {
            expected: 1,
            got: 2
        })
    );
    assert_eq!(
        error_sent(&side.out(Instant::ZERO)).unwrap().0,
        ErrorCode::Auth
    );
    // Replayed sequence.
    let (mut side, raw) = authenticated_acceptor();
    let m = raw.frame_with(1, &StellarMessage::GetScpState(0).to_vec(), false);
    feed(&mut side.peer, Instant::ZERO, &m);
    feed(&mut side.peer, Instant::ZERO, &m);
    side.drain(Instant::ZERO);
    assert_eq!(side.messages(MessageType::GetScpState).len(), 1);
    assert_eq!(
        side.closed(),
        Some(&DropReason::UnexpectedSequence {
            expected: 2,
            got: 1
        })
    );
    // A second HELLO after ours is MAC-checked like anything else (zero MAC fails).
    let (mut side, raw) = authenticated_acceptor();
    let f = raw.hello_fields();
    let hello = raw.hello(&f);
    feed(&mut side.peer, Instant::ZERO, &hello);
    side.drain(Instant::ZERO);
    assert!(matches!(
        side.closed(),
        Some(DropReason::UnexpectedSequence { .. } | DropReason::BadMac)
    ));
}

#[test]
fn error_msg_is_unchecked_and_ends_the_connection() {
    let (mut side, _raw) = authenticated_acceptor();
    let mut m = Vec::new();
    let err = StellarMessage::ErrorMsg(overlay_core::wire::ErrorMsg::new(
        ErrorCode::Load,
        "go away\n",
    ));
    write_frame(&mut m, 0, &err.to_vec(), zero_mac);
    feed(&mut side.peer, Instant::ZERO, &m);
    side.drain(Instant::ZERO);
    match side.closed() {
        Some(DropReason::RemoteError {
            code: ErrorCode::Load,
            msg,
        }) => assert_eq!(msg.as_str(), "go away?"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn framing_errors() {
    // Zero length: plain drop.
    let mut side = Side::new(Role::Acceptor, &local(2), PeerConfig::default());
    feed(&mut side.peer, Instant::ZERO, &[0x80, 0, 0, 0]);
    side.drain(Instant::ZERO);
    assert!(matches!(side.closed(), Some(DropReason::BadFrameLength(b)) if b.len == 0));
    assert_eq!(error_sent(&side.out(Instant::ZERO)), None);
    // Over 4096 before authentication, checked at the header.
    let mut side = Side::new(Role::Acceptor, &local(2), PeerConfig::default());
    feed(
        &mut side.peer,
        Instant::ZERO,
        &(4097u32 | 0x8000_0000).to_be_bytes(),
    );
    side.drain(Instant::ZERO);
    assert!(
        matches!(side.closed(), Some(DropReason::BadFrameLength(b)) if b.len == 4097 && b.limit == 4096)
    );
    // After authentication the limit is 16 MiB.
    let (mut side, _raw) = authenticated_acceptor();
    feed(&mut side.peer, Instant::ZERO, &(5000u32).to_be_bytes());
    side.drain(Instant::ZERO);
    assert!(
        side.closed().is_none(),
        "5000 bytes is fine once authenticated"
    );
    let (mut side, _raw) = authenticated_acceptor();
    feed(
        &mut side.peer,
        Instant::ZERO,
        &(0x0100_0001u32).to_be_bytes(),
    );
    side.drain(Instant::ZERO);
    assert!(matches!(side.closed(), Some(DropReason::BadFrameLength(_))));
    // Truncated / corrupt XDR inside a complete frame: ERR_DATA.
    let mut side = Side::new(Role::Acceptor, &local(2), PeerConfig::default());
    let mut bad = Vec::new();
    write_frame(&mut bad, 0, &[0, 0, 0, 13, 0, 0, 0, 25], zero_mac); // HELLO cut short
    feed(&mut side.peer, Instant::ZERO, &bad);
    side.drain(Instant::ZERO);
    assert!(matches!(side.closed(), Some(DropReason::CorruptXdr(_))));
    assert_eq!(
        error_sent(&side.out(Instant::ZERO)),
        Some((ErrorCode::Data, "received corrupt XDR".into()))
    );
    // Unknown message type (GET_PEERS, 4).
    let mut side = Side::new(Role::Acceptor, &local(2), PeerConfig::default());
    let mut bad = Vec::new();
    write_frame(&mut bad, 0, &[0, 0, 0, 4], zero_mac);
    feed(&mut side.peer, Instant::ZERO, &bad);
    side.drain(Instant::ZERO);
    assert!(matches!(side.closed(), Some(DropReason::CorruptXdr(_))));
    // A frame body shorter than the envelope.
    let mut side = Side::new(Role::Acceptor, &local(2), PeerConfig::default());
    feed(
        &mut side.peer,
        Instant::ZERO,
        &[0x80, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    side.drain(Instant::ZERO);
    assert!(matches!(side.closed(), Some(DropReason::CorruptXdr(_))));
}

#[test]
fn input_split_at_every_byte_gives_the_same_events() {
    let (mut a, mut b) = pair(PeerConfig::default());
    pump(&mut a, &mut b, Instant::ZERO);
    for i in 0..5 {
        a.peer
            .send_shared(Instant::ZERO, tx(i, 120).into())
            .unwrap();
    }
    let bytes = a.out(Instant::ZERO);
    // Feed byte by byte, draining after each.
    for byte in &bytes {
        feed(&mut b.peer, Instant::ZERO, std::slice::from_ref(byte));
        b.drain(Instant::ZERO);
    }
    assert_eq!(b.messages(MessageType::Transaction).len(), 5);
    assert!(b.closed().is_none());
}

#[test]
fn flow_control_violations() {
    let grant = |m, b| {
        StellarMessage::SendMoreExtended(SendMoreExtended {
            num_messages: m,
            num_bytes: b,
        })
    };
    // A sender that ignores grants: with re-grants every 40 messages it may send 200 + 40k
    // in total after processing 40k; one more is an overrun.
    let (mut side, mut raw) = authenticated_acceptor();
    for i in 0..241 {
        let f = raw.frame(&StellarMessage::Transaction(&tx(i, 64)[4..]));
        feed(&mut side.peer, Instant::ZERO, &f);
    }
    side.drain(Instant::ZERO);
    // 200 granted, +40 after the first 40 processed, +40 after 80, ... the peer grants as it
    // processes, so 241 fit; the check is against what was granted, not what was seen.
    assert!(side.closed().is_none());
    let grants = side.messages(MessageType::SendMoreExtended).len();
    assert_eq!(grants, 0, "grants are not events");
    // Each processed batch of 40 was re-granted: 200 + 6 × 40 - 241 left.
    assert_eq!(side.peer.inbound_credit().0, 200 + 6 * 40 - 241);
    // With no processing-based re-grants, the 201st message is an overrun.
    let no_regrant = PeerConfig {
        flow: overlay_core::flow::FlowConfig {
            send_more_batch_size: u32::MAX,
            send_more_batch_size_bytes: u32::MAX,
            ..Default::default()
        },
        ..PeerConfig::default()
    };
    let (mut side, mut raw) = authenticated_acceptor_with(no_regrant.clone());
    for i in 0..201 {
        let f = raw.frame(&StellarMessage::Transaction(&tx(i, 64)[4..]));
        feed(&mut side.peer, Instant::ZERO, &f);
    }
    side.drain(Instant::ZERO);
    assert_eq!(side.messages(MessageType::Transaction).len(), 200);
    assert_eq!(side.closed(), Some(&DropReason::PeerAtCapacity));
    assert_eq!(error_sent(&side.out(Instant::ZERO)), None);
    // Overrun of the byte credit (300 000).
    let (mut side, mut raw) = authenticated_acceptor_with(no_regrant);
    for i in 0..4 {
        let f = raw.frame(&StellarMessage::Transaction(&tx(i, 99_996)[4..]));
        feed(&mut side.peer, Instant::ZERO, &f);
    }
    side.drain(Instant::ZERO);
    assert_eq!(side.messages(MessageType::Transaction).len(), 3);
    assert_eq!(side.closed(), Some(&DropReason::PeerAtCapacity));
    // Legacy SEND_MORE.
    let (mut side, mut raw) = authenticated_acceptor();
    let f = raw.frame(&StellarMessage::SendMore(overlay_core::wire::SendMore {
        num_messages: 10,
    }));
    feed(&mut side.peer, Instant::ZERO, &f);
    side.drain(Instant::ZERO);
    assert_eq!(side.closed(), Some(&DropReason::UnexpectedSendMore));
    // SEND_MORE_EXTENDED with zero bytes; zero messages is fine.
    let (mut side, mut raw) = authenticated_acceptor();
    let f = raw.frame(&grant(0, 10));
    feed(&mut side.peer, Instant::ZERO, &f);
    let f = raw.frame(&grant(10, 0));
    feed(&mut side.peer, Instant::ZERO, &f);
    side.drain(Instant::ZERO);
    assert!(side.seen.contains(&Seen::Credit(SendMoreExtended {
        num_messages: 0,
        num_bytes: 10
    })));
    assert_eq!(side.closed(), Some(&DropReason::InvalidSendMoreExtended));
    // Capacity overflow.
    let (mut side, mut raw) = authenticated_acceptor();
    for _ in 0..2 {
        let f = raw.frame(&grant(u32::MAX, u32::MAX));
        feed(&mut side.peer, Instant::ZERO, &f);
    }
    side.drain(Instant::ZERO);
    assert!(side.closed().is_none(), "2 × u32::MAX fits a u64");
    // Fill the u64 with many grants would take 2^32 messages; check the boundary directly.
    assert_eq!(
        side.peer.outbound_credit(),
        (2 * u64::from(u32::MAX), 2 * u64::from(u32::MAX))
    );
}

#[test]
fn peers_rules() {
    let peers = |n: usize| {
        let mut list = Vec::new();
        let addrs: Vec<PeerAddress> = (0..n)
            .map(|i| PeerAddress {
                ip: [9, 9, 9, i as u8].into(),
                port: 11625,
                num_failures: 0,
            })
            .collect();
        overlay_core::wire::Peers::encode_list(&addrs, &mut list);
        let mut msg = Vec::from((MessageType::Peers as i32).to_be_bytes());
        msg.extend(list);
        msg
    };
    // An acceptor never takes PEERS.
    let (mut side, mut raw) = authenticated_acceptor();
    let msg = peers(3);
    let f = raw.frame(&StellarMessage::decode(&msg).unwrap());
    feed(&mut side.peer, Instant::ZERO, &f);
    side.drain(Instant::ZERO);
    assert_eq!(side.closed(), Some(&DropReason::PeersFromInitiator));
    // An initiator takes one.
    let (mut a, mut b) = pair(PeerConfig::default());
    b.gate.peers = vec![PeerAddress {
        ip: [1, 1, 1, 1].into(),
        port: 1,
        num_failures: 0,
    }];
    pump(&mut a, &mut b, Instant::ZERO);
    assert_eq!(a.messages(MessageType::Peers).len(), 1);
    assert!(a.closed().is_none());
}

#[test]
fn second_peers_message_is_dropped() {
    // A raw acceptor sends PEERS twice to our initiator.
    let mut raw = Raw::new(9, Role::Acceptor);
    let mut side = Side::new(Role::Initiator, &local(1), PeerConfig::default());
    let hello_ours = side.out(Instant::ZERO);
    raw.learn(&hello_ours);
    let f = raw.hello_fields();
    feed(&mut side.peer, Instant::ZERO, &raw.hello(&f));
    side.drain(Instant::ZERO);
    side.out(Instant::ZERO);
    let auth = raw.frame(&StellarMessage::Auth(overlay_core::wire::Auth {
        flags: 200,
    }));
    feed(&mut side.peer, Instant::ZERO, &auth);
    side.drain(Instant::ZERO);
    assert!(side.peer.is_authenticated());
    let mut list = Vec::from((MessageType::Peers as i32).to_be_bytes());
    overlay_core::wire::Peers::encode_list(&[], &mut list);
    for _ in 0..2 {
        let f = raw.frame(&StellarMessage::decode(&list).unwrap());
        feed(&mut side.peer, Instant::ZERO, &f);
    }
    side.drain(Instant::ZERO);
    assert_eq!(side.messages(MessageType::Peers).len(), 1);
    assert_eq!(side.closed(), Some(&DropReason::TooManyPeers));
}

#[test]
fn stalled_handshake_hits_the_auth_timeout() {
    let mut side = Side::new(Role::Acceptor, &local(2), PeerConfig::default());
    // Ticks every 5 s from creation: the first one after 2 s of silence drops.
    assert_eq!(side.peer.poll_timeout(), Some(Instant::from_secs(5)));
    side.peer.handle_timeout(Instant::from_secs(5));
    side.drain(Instant::from_secs(5));
    assert_eq!(side.closed(), Some(&DropReason::IdleTimeout));
    assert_eq!(side.peer.poll_timeout(), None);
}

#[test]
fn authenticated_idle_timeout_needs_both_directions_silent() {
    let (mut a, mut b) = pair(PeerConfig::default());
    pump(&mut a, &mut b, Instant::ZERO);
    // Pings every tick keep both sides writing and reading: no idle drop while pumped.
    let mut now = Instant::ZERO;
    for _ in 0..30 {
        now = now + Duration::from_secs(5);
        a.peer.handle_timeout(now);
        b.peer.handle_timeout(now);
        pump(&mut a, &mut b, now);
    }
    assert!(a.closed().is_none() && b.closed().is_none());
    assert!(
        a.peer.stats().last_ping.is_some(),
        "ping answered with DONT_HAVE"
    );
}

#[test]
fn no_credit_timeout() {
    // A raw initiator that never grants credit: dropped 60 s after connecting.
    let (mut side, mut raw) = authenticated_acceptor();
    let mut now = Instant::ZERO;
    while side.closed().is_none() && now < Instant::from_secs(200) {
        now = now + Duration::from_secs(5);
        // The raw remote keeps talking (so the connection is not idle) but never grants.
        let f = raw.frame(&StellarMessage::GetScpState(1));
        feed(&mut side.peer, now, &f);
        side.peer.handle_timeout(now);
        side.drain(now);
        side.out(now);
    }
    assert_eq!(side.closed(), Some(&DropReason::NoCreditTimeout));
    assert!(
        now >= Instant::from_secs(60) && now <= Instant::from_secs(65),
        "{now:?}"
    );
}

#[test]
fn straggler_is_dropped_when_the_host_stops_writing() {
    let (mut a, mut b) = pair(PeerConfig::default());
    pump(&mut a, &mut b, Instant::ZERO);
    // B keeps granting and reading but A's host never takes A's output after 10 s.
    let mut now = Instant::ZERO;
    while a.closed().is_none() && now < Instant::from_secs(300) {
        now = now + Duration::from_secs(5);
        a.peer.handle_timeout(now);
        // B talks to A (so A is not idle), A's output is never collected.
        b.peer.send(now, &StellarMessage::GetScpState(1)).unwrap();
        let ba = b.out(now);
        feed(&mut a.peer, now, &ba);
        a.drain(now);
    }
    assert_eq!(a.closed(), Some(&DropReason::Straggling));
    assert!(
        now >= Instant::from_secs(120) && now <= Instant::from_secs(125),
        "{now:?}"
    );
}

#[test]
fn cert_refresh_across_connections() {
    use overlay_core::CertCache;
    let node = local(1);
    let mut cache = CertCache::default();
    let mut seen = Vec::new();
    // Connections over three hours, one every ten minutes: each handshake succeeds with a
    // cert that has at least 30 minutes left, and the cert is re-signed every 30 minutes.
    for k in 0..18u64 {
        let t = Instant::from_secs(k * 600);
        let unix = T0_UNIX + k * 600;
        let cert = cache.get(&node, unix);
        assert!(cert.expiration >= unix + 1800);
        seen.push(cert.expiration);
        let clock = WallClock::new(Instant::ZERO, T0_UNIX);
        let s = |role, n: &Arc<LocalNode>, c| PeerSetup {
            role,
            local: Arc::clone(n),
            cert: c,
            nonce: [k as u8; 32],
            remote_address: addr(1),
            config: PeerConfig::default(),
            clock,
        };
        let other = local(2);
        let mut a = Side {
            peer: Peer::new(s(Role::Initiator, &node, cert), t),
            gate: Gate::default(),
            seen: vec![],
        };
        let mut b = Side {
            peer: Peer::new(s(Role::Acceptor, &other, other.issue_cert(unix)), t),
            gate: Gate::default(),
            seen: vec![],
        };
        pump(&mut a, &mut b, t);
        assert!(
            a.peer.is_authenticated() && b.peer.is_authenticated(),
            "connection {k}"
        );
    }
    seen.dedup();
    // Re-signed once less than 30 minutes are left: at 0, 40, 80, 120 and 160 minutes.
    let expected: Vec<u64> = [0, 2400, 4800, 7200, 9600]
        .iter()
        .map(|t| T0_UNIX + t + 3600)
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn sending_before_auth_or_reserved_types_is_refused() {
    let (mut a, mut b) = pair(PeerConfig::default());
    assert_eq!(
        a.peer.send_shared(Instant::ZERO, tx(1, 40).into()),
        Err(SendError::NotAuthenticated)
    );
    pump(&mut a, &mut b, Instant::ZERO);
    assert_eq!(
        a.peer.send(
            Instant::ZERO,
            &StellarMessage::Auth(overlay_core::wire::Auth { flags: 200 })
        ),
        Err(SendError::Reserved(MessageType::Auth))
    );
    assert_eq!(
        a.peer.send_shared(Instant::ZERO, vec![0, 0, 0, 99].into()),
        Err(SendError::Malformed)
    );
    a.peer.close(Instant::ZERO, DropReason::DroppedByUser);
    assert_eq!(
        a.peer.send_shared(Instant::ZERO, tx(1, 40).into()),
        Err(SendError::Closed)
    );
    pump(&mut a, &mut b, Instant::ZERO);
    assert_eq!(a.closed(), Some(&DropReason::DroppedByUser));
    assert!(matches!(
        b.closed(),
        Some(DropReason::RemoteError { code: ErrorCode::Misc, msg }) if msg.as_str() == "dropped by user"
    ));
}

#[test]
fn same_inputs_same_bytes() {
    let run = || {
        let (mut a, mut b) = pair(PeerConfig::default());
        let mut wire = Vec::new();
        for step in 0..20u64 {
            let now = Instant::from_millis(step * 10);
            if step == 6 {
                for i in 0..50 {
                    a.peer.send_shared(now, tx(i, 200).into()).unwrap();
                }
            }
            a.drain(now);
            b.drain(now);
            let ab = a.out(now);
            let ba = b.out(now);
            wire.extend_from_slice(&ab);
            wire.extend_from_slice(&ba);
            feed(&mut b.peer, now, &ab);
            feed(&mut a.peer, now, &ba);
        }
        wire
    };
    let (x, y) = (run(), run());
    assert!(x.len() > 10_000);
    assert_eq!(x, y);
}

#[test]
fn accept_all_admission() {
    let (na, nb) = (local(1), local(2));
    let mut a = Peer::new(
        setup(Role::Initiator, &na, PeerConfig::default()),
        Instant::ZERO,
    );
    let mut b = Peer::new(
        setup(Role::Acceptor, &nb, PeerConfig::default()),
        Instant::ZERO,
    );
    for _ in 0..6 {
        while a.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
        while b.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.poll_transmit(Instant::ZERO, &mut x);
        b.poll_transmit(Instant::ZERO, &mut y);
        feed(&mut b, Instant::ZERO, &x);
        feed(&mut a, Instant::ZERO, &y);
    }
    assert!(a.is_authenticated() && b.is_authenticated());
}

#[test]
fn a_trickled_hello_does_not_keep_the_handshake_alive() {
    // One byte a second: only a completed header or frame counts as a read, so the
    // handshake looks idle and the auth timeout cuts it long before the HELLO is in.
    let raw = Raw::new(9, Role::Initiator);
    let hello = raw.hello(&raw.hello_fields());
    let mut side = Side::new(Role::Acceptor, &local(2), PeerConfig::default());
    let mut now = Instant::ZERO;
    for byte in &hello {
        now = now + Duration::from_secs(1);
        feed(&mut side.peer, now, std::slice::from_ref(byte));
        if side.peer.poll_timeout().is_some_and(|t| t <= now) {
            side.peer.handle_timeout(now);
        }
        side.drain(now);
        if side.closed().is_some() {
            break;
        }
    }
    assert_eq!(side.closed(), Some(&DropReason::IdleTimeout));
    assert!(
        now <= Instant::from_secs(12),
        "cut at {now:?}, HELLO is {} bytes",
        hello.len()
    );
}

#[test]
fn a_low_order_x25519_key_is_dropped_silently_as_bad_crypto() {
    // A correctly signed cert for the all-zero X25519 point: the shared secret would be
    // zero. stellar-core drops such a peer ("Bad crypto request") without an ERROR_MSG.
    let raw = Raw::new(9, Role::Initiator);
    let (reason, err) = hello_rejected(
        |f| {
            let cert = AuthCert::issue(&raw.node.key, &raw.node.network_id, [0; 32], T0_UNIX);
            f.cert_pubkey = cert.pubkey;
            f.cert_expiration = cert.expiration;
            f.cert_sig = cert.sig.to_vec();
        },
        Gate::default(),
    );
    assert_eq!((reason, err), (DropReason::BadCrypto, None));
}

/// Our initiator under test: sends its HELLO, then gets a raw acceptor's (tweaked) HELLO.
fn initiator_gets_hello(tweak: impl FnOnce(&mut HelloFields)) -> (Side, Vec<u8>) {
    let mut side = Side::new(Role::Initiator, &local(2), PeerConfig::default());
    let mut raw = Raw::new(9, Role::Acceptor);
    let ours = side.out(Instant::ZERO);
    raw.learn(&ours);
    let mut f = raw.hello_fields();
    tweak(&mut f);
    feed(&mut side.peer, Instant::ZERO, &raw.hello(&f));
    side.drain(Instant::ZERO);
    let out = side.out(Instant::ZERO);
    (side, out)
}

fn frame_types(out: &[u8]) -> Vec<MessageType> {
    let mut rx = FrameDecoder::new();
    rx.push(out, 1 << 20);
    let mut types = Vec::new();
    while let Ok(Some(f)) = rx.next_frame(1 << 20) {
        let am = overlay_core::wire::AuthenticatedMessage::parse(f).unwrap();
        types.push(am.message_type().unwrap());
    }
    types
}

#[test]
fn the_initiator_checks_the_acceptors_hello_the_same_way() {
    // A good acceptor HELLO: the initiator answers with AUTH.
    let (side, out) = initiator_gets_hello(|_| {});
    assert!(side.closed().is_none());
    assert_eq!(frame_types(&out), [MessageType::Auth]);
    // Each rejection: the initiator sends the ERROR (or nothing) and never AUTH.
    type Tweak = Box<dyn FnOnce(&mut HelloFields)>;
    let cases: Vec<(Tweak, DropReason, Option<ErrorCode>)> = vec![
        (
            Box::new(|f| f.overlay_version = 37),
            DropReason::WrongVersion {
                remote_min: 38,
                remote_max: 37,
                local_min: 38,
                local_max: 39,
            },
            Some(ErrorCode::Conf),
        ),
        (
            Box::new(|f| f.network_id = [7; 32]),
            DropReason::WrongNetwork,
            Some(ErrorCode::Conf),
        ),
        (
            Box::new(|f| f.listening_port = 0),
            DropReason::BadAddress,
            Some(ErrorCode::Conf),
        ),
        (
            Box::new(|f| f.cert_sig[3] ^= 1),
            DropReason::CertInvalid(overlay_core::auth::CertError::BadSignature),
            None,
        ),
    ];
    for (tweak, reason, code) in cases {
        let (side, out) = initiator_gets_hello(tweak);
        assert_eq!(side.closed(), Some(&reason));
        assert_eq!(error_sent(&out).map(|e| e.0), code, "{reason:?}");
        assert!(
            !frame_types(&out).contains(&MessageType::Auth),
            "{reason:?}: no AUTH after a rejected HELLO"
        );
    }
}

#[test]
fn a_second_hello_after_authentication_is_dropped() {
    let (mut side, mut raw) = authenticated_acceptor();
    let f = raw.hello_fields();
    // Correctly sequenced and MACed: only its being a HELLO is wrong.
    let frame = raw.frame(&Raw::hello_message(&f));
    feed(&mut side.peer, Instant::ZERO, &frame);
    side.drain(Instant::ZERO);
    let out = side.out(Instant::ZERO);
    assert_eq!(side.closed(), Some(&DropReason::UnexpectedHello));
    assert_eq!(
        error_sent(&out),
        None,
        "stellar-core drops without an ERROR"
    );
}

#[test]
fn a_silent_authenticated_peer_hits_the_idle_timeout() {
    // The raw initiator grants credit once, then never sends or answers anything: our pings
    // go unanswered (one at a time), so both directions fall silent and PEER_TIMEOUT (30 s)
    // ends the connection.
    let (mut side, mut raw) = authenticated_acceptor();
    let grant = raw.frame(&StellarMessage::SendMoreExtended(SendMoreExtended {
        num_messages: 200,
        num_bytes: 300_000,
    }));
    feed(&mut side.peer, Instant::ZERO, &grant);
    side.drain(Instant::ZERO);
    side.out(Instant::ZERO);
    let mut now = Instant::ZERO;
    let mut last_write = Instant::ZERO;
    while side.closed().is_none() && now < Instant::from_secs(300) {
        now = now + Duration::from_secs(1);
        side.peer.handle_timeout(now);
        side.drain(now);
        if !side.out(now).is_empty() && side.closed().is_none() {
            last_write = now;
        }
    }
    assert_eq!(side.closed(), Some(&DropReason::IdleTimeout));
    let silent = now - last_write;
    assert!(
        silent >= Duration::from_secs(30) && silent <= Duration::from_secs(31),
        "dropped after {silent:?} of silence both ways (at {now:?})"
    );
}

/// Frames and bytes in `out` (a transport's worth of record-marked frames).
fn frames_in(out: &[u8]) -> u64 {
    let mut rx = FrameDecoder::new();
    rx.push(out, 1 << 24);
    let mut n = 0;
    while let Ok(Some(_)) = rx.next_frame(1 << 24) {
        n += 1;
    }
    n
}

#[test]
fn per_peer_counters_match_what_crossed_the_transport() {
    let (mut a, mut b) = pair(PeerConfig::default());
    let (mut ab_bytes, mut ab_frames, mut ba_bytes, mut ba_frames) = (0u64, 0u64, 0u64, 0u64);
    let mut now = Instant::ZERO;
    let mut round = |a: &mut Side, b: &mut Side, now: Instant| {
        pump_watching(a, b, now, |ab, ba| {
            (ab_bytes, ab_frames) = (ab_bytes + ab.len() as u64, ab_frames + frames_in(ab));
            (ba_bytes, ba_frames) = (ba_bytes + ba.len() as u64, ba_frames + frames_in(ba));
        });
    };
    round(&mut a, &mut b, now);
    for i in 0..500 {
        a.peer.send_shared(now, tx(i, 300).into()).unwrap();
        if i % 50 == 0 {
            now = now + Duration::from_millis(1);
            round(&mut a, &mut b, now);
        }
    }
    b.peer.send(now, &StellarMessage::GetScpState(3)).unwrap();
    round(&mut a, &mut b, now);
    let (sa, sb) = (a.peer.stats(), b.peer.stats());
    assert_eq!((sa.bytes_written, sb.bytes_read), (ab_bytes, ab_bytes));
    assert_eq!((sb.bytes_written, sa.bytes_read), (ba_bytes, ba_bytes));
    assert_eq!(
        (sa.messages_written, sb.messages_read),
        (ab_frames, ab_frames)
    );
    assert_eq!(
        (sb.messages_written, sa.messages_read),
        (ba_frames, ba_frames)
    );
    // Flood traffic: the 500 transactions, each a 300-byte message in a frame.
    assert_eq!(
        (sa.flood_messages_written, sb.flood_messages_read),
        (500, 500)
    );
    assert_eq!(sa.flood_bytes_written, sb.flood_bytes_read);
    assert!(sa.flood_bytes_written >= 500 * 300 && sa.flood_bytes_written < ab_bytes);
    // B sent no flood traffic: HELLO, AUTH, grants and GET_SCP_STATE only.
    assert_eq!(sb.flood_messages_written, 0);
    assert!(ba_frames >= 4, "{ba_frames}");
}
