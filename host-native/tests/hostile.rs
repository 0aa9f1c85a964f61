//! Hostile peers against a running node over real TCP, with stellar-core's default timers.
//!
//! One node runs in-process; one well-behaved peer stays connected the whole time, sending
//! transactions and answering pings. Each attack comes on its own TCP connection and must be
//! cut within a bounded time, for the right reason (the node's per-reason drop counters in
//! `/metrics`) and, where stellar-core sends one, with the right ERROR_MSG on the attacker's
//! socket. Between attacks the good peer must still be authenticated (`/peers`) and its
//! traffic must still be moving both ways.
//!
//! The silent connection, which takes seconds, runs in the background while the quick
//! attacks run one after the other, so each quick attack is matched to exactly one drop
//! counter. The slowloris has a test of its own (see there: it fails today).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use host_native::node::{self, Command, MemoryBans, NodeHandle, NodeSettings};
use host_native::single::random32;
use overlay_core::auth::{MacKeys, derive_mac_keys};
use overlay_core::flow::{MAX_CLASSIC_TX_SIZE_BYTES, Priority};
use overlay_core::overlay::OverlayConfig;
use overlay_core::peers::MemoryPeerStore;
use overlay_core::wire::{
    Auth, AuthCertView, AuthenticatedMessage, DontHave, ErrorCode, FrameDecoder, Hello,
    MAX_MESSAGE_SIZE, MessageType, SendMore, SendMoreExtended, StellarMessage, record_mark,
    write_frame, zero_mac,
};
use overlay_core::{
    AcceptAll, AuthCert, DropReason, Event, LocalNode, NetworkId, NodeKey, Peer, PeerConfig,
    PeerSetup, Role, WallClock,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

const PASSPHRASE: &str = "Standalone Network ; February 2017";
const OTHER_PASSPHRASE: &str = "Test SDF Network ; September 2015";
/// Port announced in HELLO by every client here: nothing listens on it, so if the node
/// dials a recorded address back the attempt is refused at once (no extra drops).
const ANNOUNCED_PORT: i32 = 1;
/// How long a quick attack may take to be cut (it is cut on the first bad byte).
const QUICK: Duration = Duration::from_secs(3);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn fresh_local(passphrase: &str) -> Arc<LocalNode> {
    let mut local = LocalNode::new(
        NodeKey::from_seed(random32().unwrap()),
        NetworkId::from_passphrase(passphrase),
        random32().unwrap(),
    );
    local.listening_port = ANNOUNCED_PORT as u16;
    Arc::new(local)
}

// ---------------------------------------------------------------------------------------
// The node and what it reports.

async fn start_node() -> NodeHandle {
    let local = LocalNode::new(
        NodeKey::from_seed(random32().unwrap()),
        NetworkId::from_passphrase(PASSPHRASE),
        random32().unwrap(),
    );
    node::start(NodeSettings {
        local,
        // Every timer and limit at stellar-core's defaults (PEER_AUTHENTICATION_TIMEOUT 2 s,
        // a 5 s tick, 200 messages / 300 000 bytes of credit, 4096 / 16 MiB frames).
        overlay: OverlayConfig::default(),
        passphrase: PASSPHRASE.into(),
        peer_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        known_peers: Vec::new(),
        preferred_peers: Vec::new(),
        max_tx_size: MAX_CLASSIC_TX_SIZE_BYTES,
        peer_store: Box::new(MemoryPeerStore::new()),
        bans: Box::new(MemoryBans::default()),
        is_validator: false,
    })
    .await
    .unwrap()
}

/// `stellar_overlay_drop{reason="…"} N` from `/metrics`.
async fn drops(node: &NodeHandle) -> BTreeMap<String, u64> {
    let text = node.ask(Command::Metrics).await.unwrap();
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("stellar_overlay_drop{reason=\"")?;
            let (reason, value) = rest.split_once("\"} ")?;
            Some((reason.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// What grew between two readings of the drop counters.
fn grown(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The well-behaved peer: a core `Peer` on TCP, sending ~500 transactions a second within
// the node's credit and answering its latency pings.

#[derive(Debug, Default)]
struct GoodStats {
    authenticated: AtomicBool,
    /// Transactions handed to the socket, and SEND_MORE_EXTENDED grants from the node.
    tx_sent: AtomicU64,
    grants: AtomicU64,
    closed: Mutex<Option<String>>,
}

struct Good {
    id: String,
    stats: Arc<GoodStats>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn good_peer(addr: SocketAddr) -> Good {
    let local = fresh_local(PASSPHRASE);
    let id = local.node_id().to_string();
    let stats = Arc::new(GoodStats::default());
    let (stop, stopped) = oneshot::channel();
    let stream = TcpStream::connect(addr).await.unwrap();
    let task = tokio::spawn(run_good(stream, local, Arc::clone(&stats), stopped));
    Good {
        id,
        stats,
        stop: Some(stop),
        task,
    }
}

/// Drains the peer's events into the stats; returns the pings to answer.
fn drain_good(peer: &mut Peer, now: overlay_core::Instant, stats: &GoodStats) -> Vec<[u8; 32]> {
    let mut pings = Vec::new();
    while let Some(ev) = peer.poll(now, &mut AcceptAll) {
        match ev {
            Event::Authenticated(_) => stats.authenticated.store(true, Ordering::SeqCst),
            Event::CreditGranted(_) => {
                stats.grants.fetch_add(1, Ordering::SeqCst);
            }
            Event::Message(m) => {
                if let StellarMessage::GetScpQuorumSet(h) = m.message {
                    pings.push(*h);
                }
            }
            Event::Closed(reason) => {
                stats.authenticated.store(false, Ordering::SeqCst);
                *stats.closed.lock().unwrap() = Some(reason.to_string());
            }
            Event::Hello(_) => {}
        }
    }
    pings
}

async fn run_good(
    stream: TcpStream,
    local: Arc<LocalNode>,
    stats: Arc<GoodStats>,
    mut stopped: oneshot::Receiver<()>,
) {
    stream.set_nodelay(true).unwrap();
    let remote = stream.peer_addr().ok();
    let (mut rd, mut wr) = stream.into_split();
    let start = Instant::now();
    let now = move || overlay_core::Instant::from_micros(start.elapsed().as_micros() as u64);
    let mut peer = Peer::new(
        PeerSetup {
            role: Role::Initiator,
            local: Arc::clone(&local),
            cert: local.issue_cert(unix_now()),
            nonce: random32().unwrap(),
            remote_address: remote,
            config: PeerConfig::default(),
            clock: WallClock::new(now(), unix_now()),
        },
        now(),
    );
    let id = local.node_id();
    let mut next_tx = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut pings = Vec::new();
    let mut send_every = tokio::time::interval(Duration::from_millis(10));
    loop {
        let t = now();
        pings.extend(drain_good(&mut peer, t, &stats));
        for h in pings.drain(..) {
            let reply = DontHave {
                message_type: MessageType::ScpQuorumSet,
                req_hash: &h,
            };
            let _ = peer.send(t, &StellarMessage::DontHave(reply));
        }
        let mut out = Vec::new();
        while peer.poll_transmit(t, &mut out) > 0 {}
        if !out.is_empty() && wr.write_all(&out).await.is_err() {
            peer.close(now(), DropReason::RemoteClosed);
        }
        stats
            .tx_sent
            .store(peer.stats().flood_messages_written, Ordering::SeqCst);
        if peer.is_closed() {
            drain_good(&mut peer, now(), &stats);
            return;
        }
        let deadline = start
            + peer.poll_timeout().map_or(Duration::from_secs(3600), |d| {
                Duration::from_micros(d.as_micros())
            });
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) | Err(_) => peer.close(now(), DropReason::RemoteClosed),
                Ok(n) => {
                    let mut data = &buf[..n];
                    while !data.is_empty() {
                        let t = now();
                        let took = peer.handle_input(t, data);
                        data = &data[took..];
                        // Answered at the top of the loop.
                        pings.extend(drain_good(&mut peer, t, &stats));
                    }
                }
            },
            _ = send_every.tick() => {
                // 5 transactions every 10 ms, never more than 100 waiting for credit.
                if peer.is_authenticated() {
                    for _ in 0..5 {
                        if peer.queued(Priority::Transaction) >= 100 {
                            break;
                        }
                        next_tx += 1;
                        let tx = host_native::synthetic::transaction(&id, next_tx, 0);
                        peer.send_shared(now(), tx.into()).unwrap();
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => peer.handle_timeout(now()),
            _ = &mut stopped => return,
        }
    }
}

/// A reading of the good peer's traffic, from both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Traffic {
    /// The node's `/peers` counters for it.
    node_read: u64,
    node_written: u64,
    /// Our side's counters.
    tx_sent: u64,
    grants: u64,
}

/// A node's `/peers` entry for an authenticated inbound peer.
async fn peer_entry(node: &NodeHandle, id: &str) -> Option<Value> {
    let peers = node.ask(Command::Peers).await.unwrap();
    peers["authenticated_peers"]["inbound"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
}

/// The good peer's entry in `/peers` (it must be there, authenticated, inbound).
async fn good_entry(node: &NodeHandle, good: &Good) -> Option<Value> {
    let peers = node.ask(Command::Peers).await.unwrap();
    peers["authenticated_peers"]["inbound"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == good.id.as_str())
        .cloned()
}

async fn traffic(node: &NodeHandle, good: &Good) -> Traffic {
    let entry = good_entry(node, good).await.unwrap_or_else(|| {
        panic!(
            "the good peer is no longer authenticated at the node (closed: {:?})",
            good.stats.closed.lock().unwrap()
        )
    });
    Traffic {
        node_read: entry["message_read"].as_u64().unwrap(),
        node_written: entry["message_write"].as_u64().unwrap(),
        tx_sent: good.stats.tx_sent.load(Ordering::SeqCst),
        grants: good.stats.grants.load(Ordering::SeqCst),
    }
}

/// The good peer is still authenticated on both ends and every counter moved since `last`.
async fn assert_good_flowing(
    node: &NodeHandle,
    good: &Good,
    last: Traffic,
    after: &str,
) -> Traffic {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        assert!(
            good.stats.authenticated.load(Ordering::SeqCst),
            "after {after}: the good peer lost its connection: {:?}",
            good.stats.closed.lock().unwrap()
        );
        let now = traffic(node, good).await;
        if now.node_read > last.node_read
            && now.node_written > last.node_written
            && now.tx_sent > last.tx_sent
            && now.grants > last.grants
        {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "after {after}: the good peer's traffic stalled: {last:?} → {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// A scripted remote that can break any rule (the approach of overlay-core/tests/peer.rs).

#[derive(Clone)]
struct HelloFields {
    overlay_version: u32,
    overlay_min_version: u32,
    network_id: [u8; 32],
    listening_port: i32,
    peer_id: [u8; 32],
    cert_pubkey: [u8; 32],
    cert_expiration: u64,
    cert_sig: Vec<u8>,
    nonce: [u8; 32],
}

/// How an attacker's connection ended.
#[derive(Debug)]
struct Cut {
    /// From the moment the offending bytes were written to the socket closing.
    after: Duration,
    /// The ERROR_MSG the node sent before closing, if any.
    error: Option<(ErrorCode, String)>,
}

struct Attacker {
    stream: TcpStream,
    local: Arc<LocalNode>,
    nonce: [u8; 32],
    keys: Option<MacKeys>,
    send_seq: u64,
    rx: FrameDecoder,
    /// ERROR_MSGs seen so far.
    errors: Vec<(ErrorCode, String)>,
}

impl Attacker {
    async fn connect(addr: SocketAddr) -> Self {
        Self::connect_as(addr, fresh_local(PASSPHRASE)).await
    }

    async fn connect_as(addr: SocketAddr, local: Arc<LocalNode>) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Attacker {
            stream,
            local,
            nonce: random32().unwrap(),
            keys: None,
            send_seq: 0,
            rx: FrameDecoder::new(),
            errors: Vec::new(),
        }
    }

    /// An honest HELLO's fields: our node's network, a fresh cert for it.
    fn hello_fields(&self) -> HelloFields {
        let cert = self.local.issue_cert(unix_now());
        HelloFields {
            overlay_version: self.local.overlay_version,
            overlay_min_version: self.local.overlay_min_version,
            network_id: self.local.network_id.0,
            listening_port: ANNOUNCED_PORT,
            peer_id: self.local.node_id().0,
            cert_pubkey: cert.pubkey,
            cert_expiration: cert.expiration,
            cert_sig: cert.sig.to_vec(),
            nonce: self.nonce,
        }
    }

    fn hello(&self, f: &HelloFields) -> Vec<u8> {
        let msg = StellarMessage::Hello(Hello {
            ledger_version: 25,
            overlay_version: f.overlay_version,
            overlay_min_version: f.overlay_min_version,
            network_id: &f.network_id,
            version_str: b"hostile",
            listening_port: f.listening_port,
            peer_id: &f.peer_id,
            cert: AuthCertView {
                pubkey: &f.cert_pubkey,
                expiration: f.cert_expiration,
                sig: &f.cert_sig,
            },
            nonce: &f.nonce,
        });
        let mut out = Vec::new();
        write_frame(&mut out, 0, &msg.to_vec(), zero_mac);
        out
    }

    /// A correctly sequenced frame, with its MAC corrupted if asked.
    fn frame(&mut self, msg: &[u8], corrupt_mac: bool) -> Vec<u8> {
        let keys = self.keys.as_ref().expect("handshake first");
        let mut out = Vec::new();
        write_frame(&mut out, self.send_seq, msg, |input| {
            let mut m = keys.send.mac(input);
            if corrupt_mac {
                m[0] ^= 1;
            }
            m
        });
        self.send_seq += 1;
        out
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next message from the node (`None`: the connection closed).
    async fn next_message(&mut self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(body) = self.rx.next_frame(MAX_MESSAGE_SIZE).unwrap() {
                let am = AuthenticatedMessage::parse(body).unwrap();
                let msg = am.message.to_vec();
                if let Ok(StellarMessage::ErrorMsg(e)) = StellarMessage::decode(&msg) {
                    self.errors
                        .push((e.code, String::from_utf8_lossy(e.msg).into_owned()));
                }
                return Some(msg);
            }
            match tokio::time::timeout(QUICK, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return None,
                Ok(Ok(n)) => {
                    self.rx.push(&buf[..n], MAX_MESSAGE_SIZE);
                }
                Err(_) => panic!("the node said nothing for {QUICK:?}"),
            }
        }
    }

    /// A full handshake as the initiator: HELLO, the node's HELLO (keys), AUTH, the node's
    /// AUTH. The node has granted its initial credit by then (it follows its AUTH).
    async fn handshake(&mut self) {
        let hello = self.hello(&self.hello_fields());
        self.write(&hello).await;
        let msg = self.next_message().await.expect("the node's HELLO");
        let StellarMessage::Hello(h) = StellarMessage::decode(&msg).unwrap() else {
            panic!("expected HELLO, got {:?}", StellarMessage::decode(&msg));
        };
        self.keys = Some(
            derive_mac_keys(
                Role::Initiator,
                &self.local.ecdh,
                h.cert.pubkey,
                &self.nonce,
                h.nonce,
            )
            .unwrap(),
        );
        let auth = self.frame(&StellarMessage::Auth(Auth { flags: 200 }).to_vec(), false);
        self.write(&auth).await;
        loop {
            let msg = self.next_message().await.expect("the node's AUTH");
            if msg[..4] == (MessageType::Auth as i32).to_be_bytes() {
                return;
            }
        }
    }

    /// Reads until the node closes the connection; fails if it is still open after `within`
    /// (counted from `since`).
    async fn expect_cut(&mut self, since: Instant, within: Duration) -> Cut {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match tokio::time::timeout_at(since + within, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => {
                    self.rx.push(&buf[..n], MAX_MESSAGE_SIZE);
                }
                Err(_) => panic!("still connected {within:?} after the attack"),
            }
        }
        self.cut(since)
    }

    /// Writes `bytes` one at a time, `every` apart, until the node closes the connection;
    /// fails if it is still open after `within`. Returns the cut and how many bytes went.
    async fn dribble(&mut self, bytes: &[u8], every: Duration, within: Duration) -> (Cut, usize) {
        let since = Instant::now();
        let mut next = since;
        let mut sent = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            tokio::select! {
                r = self.stream.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        self.rx.push(&buf[..n], MAX_MESSAGE_SIZE);
                    }
                },
                _ = tokio::time::sleep_until(next), if sent < bytes.len() => {
                    if self.stream.write_all(&bytes[sent..=sent]).await.is_err() {
                        break;
                    }
                    sent += 1;
                    next += every;
                }
                _ = tokio::time::sleep_until(since + within) => {
                    panic!("still connected {within:?} after connecting, {sent} of {} bytes sent", bytes.len())
                }
            }
        }
        (self.cut(since), sent)
    }

    /// The cut, with the last ERROR_MSG among what arrived.
    fn cut(&mut self, since: Instant) -> Cut {
        let after = since.elapsed();
        while let Ok(Some(body)) = self.rx.next_frame(MAX_MESSAGE_SIZE) {
            if let Ok(am) = AuthenticatedMessage::parse(body)
                && let Ok(StellarMessage::ErrorMsg(e)) = am.decode()
            {
                self.errors
                    .push((e.code, String::from_utf8_lossy(e.msg).into_owned()));
            }
        }
        Cut {
            after,
            error: self.errors.last().cloned(),
        }
    }

    /// Writes the attack and waits for the cut.
    async fn attack(&mut self, bytes: &[u8]) -> Cut {
        let since = Instant::now();
        self.write(bytes).await;
        self.expect_cut(since, QUICK).await
    }
}

/// Deterministic noise (xorshift64*).
fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------

/// One row of the report printed at the end.
#[derive(Debug)]
struct Row {
    attack: &'static str,
    reason: String,
    error: Option<(ErrorCode, String)>,
    after: Duration,
}

fn print_report(rows: &[Row]) {
    println!(
        "{:<44} {:<20} {:<38} cut after (ms)",
        "attack", "drop reason", "ERROR_MSG"
    );
    for r in rows {
        let error = r.error.as_ref().map_or("(none)".to_string(), |(c, t)| {
            format!("{} \"{t}\"", c.name())
        });
        println!(
            "{:<44} {:<20} {:<38} {:>10.2}",
            r.attack,
            r.reason,
            error,
            r.after.as_secs_f64() * 1000.0
        );
    }
}

/// Checks a quick attack's cut: the node counted one drop for `reason` and nothing else (the
/// silent connection in the background only ever adds `idle-timeout`), and `error` (or no
/// ERROR_MSG at all) arrived on the attacker's socket.
async fn quick(
    node: &NodeHandle,
    rows: &mut Vec<Row>,
    attack: &'static str,
    reason: &str,
    error: Option<(ErrorCode, &str)>,
    cut: Cut,
    before: &BTreeMap<String, u64>,
) {
    let mut delta = grown(before, &drops(node).await);
    delta.remove("idle-timeout");
    assert_eq!(
        delta,
        BTreeMap::from([(reason.to_string(), 1)]),
        "{attack}: drop counters that grew"
    );
    assert_eq!(
        cut.error.as_ref().map(|(c, t)| (*c, t.as_str())),
        error,
        "{attack}: ERROR_MSG received"
    );
    rows.push(Row {
        attack,
        reason: reason.to_string(),
        error: cut.error,
        after: cut.after,
    });
}

/// A node with the good peer authenticated and flowing.
async fn setup() -> (NodeHandle, Good, Traffic) {
    let node = start_node().await;
    let good = good_peer(node.peer_addr).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while good_entry(&node, &good).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "the good peer never authenticated"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let zero = Traffic {
        node_read: 0,
        node_written: 0,
        tx_sent: 0,
        grants: 0,
    };
    let last = assert_good_flowing(&node, &good, zero, "the start").await;
    (node, good, last)
}

/// Stops the good peer (it must never have been closed) and the node.
async fn finish(node: NodeHandle, mut good: Good, last: Traffic, started: Instant) {
    assert!(good.stats.closed.lock().unwrap().is_none());
    println!(
        "good peer: {} transactions sent, {} grants received, node counted {} messages read / {} written; test took {:.1} s",
        last.tx_sent,
        last.grants,
        last.node_read,
        last.node_written,
        started.elapsed().as_secs_f64()
    );
    let _ = good.stop.take().unwrap().send(());
    let _ = (&mut good.task).await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_cut_and_a_good_peer_keeps_flowing() {
    let started = Instant::now();
    let (node, good, mut last) = setup().await;
    let addr = node.peer_addr;
    let mut rows = Vec::new();

    // A connection that never speaks, in the background: cut by PEER_AUTHENTICATION_TIMEOUT
    // (2 s without a byte either way) at the first 5 s tick, without an ERROR.
    let silent = tokio::spawn(async move {
        let mut a = Attacker::connect(addr).await;
        let since = Instant::now();
        a.expect_cut(since, Duration::from_secs(9)).await
    });

    // --- Quick attacks, one at a time. ---------------------------------------------------
    // 1. Bad MAC after a valid handshake.
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    a.handshake().await;
    let msg = StellarMessage::SendMoreExtended(SendMoreExtended {
        num_messages: 10,
        num_bytes: 10_000,
    })
    .to_vec();
    let bad = a.frame(&msg, true);
    let cut = a.attack(&bad).await;
    quick(
        &node,
        &mut rows,
        "1 bad MAC after handshake",
        "bad-mac",
        Some((ErrorCode::Auth, "unexpected MAC")),
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "bad MAC").await;

    // 2a. A node of another network: its cert is signed for that network, so it fails the
    // cert check (against our network ID) before the network check: plain drop.
    let before = drops(&node).await;
    let mut a = Attacker::connect_as(addr, fresh_local(OTHER_PASSPHRASE)).await;
    let hello = a.hello(&a.hello_fields());
    let cut = a.attack(&hello).await;
    quick(
        &node,
        &mut rows,
        "2a HELLO, cert signed for another network",
        "invalid-cert",
        None,
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "foreign cert").await;

    // 2b. A cert for our network, but HELLO names another one: ERR_CONF.
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    let mut f = a.hello_fields();
    f.network_id = NetworkId::from_passphrase(OTHER_PASSPHRASE).0;
    let hello = a.hello(&f);
    let cut = a.attack(&hello).await;
    quick(
        &node,
        &mut rows,
        "2b HELLO, our cert, other networkID",
        "wrong-network",
        Some((ErrorCode::Conf, "wrong network passphrase")),
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "wrong network").await;

    // 3. An expired cert (properly signed, expired an hour ago): plain drop.
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    let mut f = a.hello_fields();
    let old = AuthCert::issue(
        &a.local.key,
        &a.local.network_id,
        a.local.ecdh.public(),
        unix_now() - 7200,
    );
    f.cert_expiration = old.expiration;
    f.cert_sig = old.sig.to_vec();
    let hello = a.hello(&f);
    let cut = a.attack(&hello).await;
    quick(
        &node,
        &mut rows,
        "3 HELLO with an expired cert",
        "invalid-cert",
        None,
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "expired cert").await;

    // 4a. A frame header announcing 4097 bytes before auth (limit 4096): plain drop.
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    let cut = a.attack(&record_mark(4097)).await;
    quick(
        &node,
        &mut rows,
        "4a header of 4097 bytes before auth",
        "bad-frame-length",
        None,
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "oversize before auth").await;

    // 4b. After auth the limit is 16 MiB: a header announcing 16 MiB + 1 is cut at once.
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    a.handshake().await;
    let cut = a.attack(&record_mark(MAX_MESSAGE_SIZE + 1)).await;
    quick(
        &node,
        &mut rows,
        "4b header of 16 MiB + 1 after auth",
        "bad-frame-length",
        None,
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "oversize after auth").await;

    // 5a. Noise: its first four bytes read as a length far over 4096.
    let noise = garbage(0x5eed_1234_abcd_ef01, 256);
    assert!(u32::from_be_bytes(noise[..4].try_into().unwrap()) & 0x7fff_ffff > 4096);
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    let cut = a.attack(&noise).await;
    quick(
        &node,
        &mut rows,
        "5a 256 random bytes",
        "bad-frame-length",
        None,
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "random bytes").await;

    // 5b. A valid record mark around noise: the body is no AuthenticatedMessage.
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    let mut framed = record_mark(256).to_vec();
    framed.extend_from_slice(&garbage(0xdead_beef_0bad_f00d, 256));
    let cut = a.attack(&framed).await;
    quick(
        &node,
        &mut rows,
        "5b record mark around 256 random bytes",
        "corrupt-xdr",
        Some((ErrorCode::Data, "received corrupt XDR")),
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "framed noise").await;

    // 5c. A well-formed envelope of a message type that no longer exists (4, GET_PEERS).
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    let mut frame = Vec::new();
    write_frame(&mut frame, 0, &4i32.to_be_bytes(), zero_mac);
    let cut = a.attack(&frame).await;
    quick(
        &node,
        &mut rows,
        "5c envelope of removed type 4 (GET_PEERS)",
        "corrupt-xdr",
        Some((ErrorCode::Data, "received corrupt XDR")),
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "removed message type").await;

    // 6. AUTH before HELLO.
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    let mut frame = Vec::new();
    write_frame(
        &mut frame,
        0,
        &StellarMessage::Auth(Auth { flags: 200 }).to_vec(),
        zero_mac,
    );
    let cut = a.attack(&frame).await;
    quick(
        &node,
        &mut rows,
        "6 AUTH before HELLO",
        "out-of-order-auth",
        Some((ErrorCode::Misc, "out-of-order AUTH message")),
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "AUTH before HELLO").await;

    // 7. Flow-control overrun.
    // 7a. 5 000 transactions in one write against a grant of 200 messages / 300 000 bytes,
    // without reading a single SEND_MORE_EXTENDED. The node processes each frame before it
    // decodes the next and counts every re-grant (40 messages) the moment it writes it, so
    // before the k-th message it has granted 200 + 40·⌊(k−1)/40⌋ ≥ k: the burst never
    // exceeds what was granted and is absorbed whole (stellar-core only cuts such a burst
    // when its main thread falls 200 messages behind its reader; here there is no backlog).
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    a.handshake().await;
    let me = a.local.node_id().to_string();
    let mut burst = Vec::new();
    for i in 1..=5000 {
        let tx = host_native::synthetic::transaction(&a.local.node_id(), i, 0);
        burst.extend(a.frame(&tx, false));
    }
    let since = Instant::now();
    a.write(&burst).await;
    let entry = loop {
        let entry = peer_entry(&node, &me)
            .await
            .expect("the bursting peer is still authenticated");
        if entry["message_read"] == 5002 {
            break entry;
        }
        assert!(since.elapsed() < QUICK, "burst not absorbed: {entry:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let absorbed = since.elapsed();
    assert_eq!(entry["unique_flood_message_recv"], 5000, "{entry:#}");
    // Every message processed, every credit returned.
    let fc = &entry["flow_control"];
    assert_eq!(fc["local_capacity"]["flood"], 200, "{entry:#}");
    assert_eq!(fc["local_capacity_bytes"]["flood"], 300_000, "{entry:#}");
    assert_eq!(
        grown(&before, &drops(&node).await).get("peer-at-capacity"),
        None
    );
    rows.push(Row {
        attack: "7a 5 000 TRANSACTIONs in one write",
        reason: "(not cut: absorbed)".into(),
        error: None,
        after: absorbed,
    });
    // 7b. What can overrun the grant: one TRANSACTION bigger than the whole 300 000-byte
    // credit (the frame itself is well under 16 MiB). Plain drop.
    let mut tx = (MessageType::Transaction as i32).to_be_bytes().to_vec();
    tx.resize(300_004, 0);
    let frame = a.frame(&tx, false);
    let cut = a.attack(&frame).await;
    quick(
        &node,
        &mut rows,
        "7b then one 300 004-byte TRANSACTION",
        "peer-at-capacity",
        None,
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "flow-control overrun").await;

    // 8. The obsolete SEND_MORE after auth: plain drop.
    let before = drops(&node).await;
    let mut a = Attacker::connect(addr).await;
    a.handshake().await;
    let msg = StellarMessage::SendMore(SendMore { num_messages: 10 }).to_vec();
    let frame = a.frame(&msg, false);
    let cut = a.attack(&frame).await;
    quick(
        &node,
        &mut rows,
        "8 legacy SEND_MORE after auth",
        "send-more",
        None,
        cut,
        &before,
    )
    .await;
    last = assert_good_flowing(&node, &good, last, "SEND_MORE").await;

    // The silent connection (quick attacks only ever took the counters they own).
    let cut = silent.await.unwrap();
    assert_eq!(cut.error, None, "no ERROR for an idle timeout");
    assert!(
        cut.after >= Duration::from_secs(2) && cut.after <= Duration::from_millis(7500),
        "silent connection cut after {:?}: expected 2–7 s (2 s idle, checked every 5 s)",
        cut.after
    );
    rows.push(Row {
        attack: "9 silent connection",
        reason: "idle-timeout".into(),
        error: None,
        after: cut.after,
    });
    last = assert_good_flowing(&node, &good, last, "the silent connection").await;

    // Every drop the node counted over the whole test, and nothing else: the good peer was
    // never dropped, every attacker was, each once.
    let all = drops(&node).await;
    let expected: BTreeMap<String, u64> = [
        ("bad-mac", 1),
        ("invalid-cert", 2),
        ("wrong-network", 1),
        ("bad-frame-length", 3),
        ("corrupt-xdr", 2),
        ("out-of-order-auth", 1),
        ("peer-at-capacity", 1),
        ("send-more", 1),
        ("idle-timeout", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(all, expected, "every drop of the test");
    let info = node.ask(Command::Info).await.unwrap();
    assert_eq!(info["info"]["peers"]["authenticated_count"], 1, "{info:#}");
    assert_eq!(info["info"]["peers"]["pending_count"], 0, "{info:#}");

    print_report(&rows);
    finish(node, good, last, started).await;
}

/// Slowloris: a valid HELLO, one byte per second. stellar-core notes a read only when a whole
/// frame header or a whole body has arrived (`receivedBytes` from `readHeaderHandler` /
/// `readBodyHandler`, after `asio::async_read` filled the buffer), so once the 4-byte header
/// is in (~3 s) the handshake looks idle, and a 5 s tick cuts it for the 2 s
/// PEER_AUTHENTICATION_TIMEOUT ("idle timeout", no ERROR): the 5 s one if 2 s have passed
/// since the header completed, else the 10 s one — minutes before the 288-byte HELLO is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_hello_is_cut_by_the_authentication_timeout() {
    let started = Instant::now();
    let (node, good, last) = setup().await;
    let before = drops(&node).await;
    let mut a = Attacker::connect(node.peer_addr).await;
    let hello = a.hello(&a.hello_fields());
    let (cut, sent) = a
        .dribble(&hello, Duration::from_secs(1), Duration::from_secs(12))
        .await;
    println!(
        "slowloris: cut after {:.3} s, {sent} of {} HELLO bytes sent, ERROR {:?}",
        cut.after.as_secs_f64(),
        hello.len(),
        cut.error
    );
    assert_eq!(cut.error, None, "no ERROR for an idle timeout");
    assert!(sent < hello.len(), "cut only after the whole HELLO");
    assert!(
        cut.after <= Duration::from_secs(11),
        "cut after {:?}",
        cut.after
    );
    let delta = grown(&before, &drops(&node).await);
    assert_eq!(delta, BTreeMap::from([("idle-timeout".to_string(), 1)]));
    let last = assert_good_flowing(&node, &good, last, "the slowloris").await;
    finish(node, good, last, started).await;
}
