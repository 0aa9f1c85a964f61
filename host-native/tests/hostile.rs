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
//! counter. The slowloris has a test of its own.
//!
//! The last test, `adversarial_suite_against_a_node_process`, runs the issue's attacks
//! against the node binary and prints the table in docs/ADVERSARIAL.md.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
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
        quorum: Vec::new(),
    })
    .await
    .unwrap()
}

/// What the tests read from a node: its admin answers, in process (a [`NodeHandle`]) or
/// over HTTP (a node process, [`NodeProc`]).
trait Admin {
    async fn peers(&self) -> Value;
    async fn metrics(&self) -> String;
    async fn info(&self) -> Value;
}

impl Admin for NodeHandle {
    async fn peers(&self) -> Value {
        self.ask(Command::Peers).await.unwrap()
    }
    async fn metrics(&self) -> String {
        self.ask(Command::Metrics).await.unwrap()
    }
    async fn info(&self) -> Value {
        self.ask(Command::Info).await.unwrap()
    }
}

/// `stellar_overlay_drop{reason="…"} N` from `/metrics`.
async fn drops(node: &impl Admin) -> BTreeMap<String, u64> {
    let text = node.metrics().await;
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
    /// TIME_SLICED_SURVEY_REQUESTs the node relayed to us.
    survey_requests: AtomicU64,
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
            Event::Message(m) => match m.message {
                StellarMessage::GetScpQuorumSet(h) => pings.push(*h),
                StellarMessage::SurveyRequest(_) => {
                    stats.survey_requests.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            },
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
async fn peer_entry(node: &impl Admin, id: &str) -> Option<Value> {
    let peers = node.peers().await;
    peers["authenticated_peers"]["inbound"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
}

/// The good peer's entry in `/peers` (it must be there, authenticated, inbound).
async fn good_entry(node: &impl Admin, good: &Good) -> Option<Value> {
    peer_entry(node, &good.id).await
}

async fn traffic(node: &impl Admin, good: &Good) -> Traffic {
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
    node: &impl Admin,
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
    let last = good_started(&node, &good, Duration::from_secs(5)).await;
    (node, good, last)
}

/// Waits (at most `within`) for the good peer to be authenticated, then for its traffic to
/// flow both ways; the traffic counters at that point.
async fn good_started(node: &impl Admin, good: &Good, within: Duration) -> Traffic {
    let deadline = Instant::now() + within;
    while good_entry(node, good).await.is_none() {
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
    assert_good_flowing(node, good, zero, "the start").await
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
    let info = node.info().await;
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

// =======================================================================================
// The adversarial suite: the same kind of attackers against a node *process* (the binary,
// `run --conf`), so that its memory (VmRSS) and CPU time (utime + stime) can be read from
// /proc while each attack runs. Each attack is checked for what the node must do (the drop
// and ERROR_MSG stellar-core gives, the limit that must hold) and the good peer must keep
// flowing after it. The test prints one Markdown row per attack: what was sent, what the
// node did, its RSS before and at peak, and the CPU it spent (docs/ADVERSARIAL.md).

/// `PEER_STRAGGLER_TIMEOUT` of the suite's node: a reader that stops is cut in seconds
/// rather than stellar-core's 120 s (checked at the 5 s peer tick).
const STRAGGLER_SECS: u64 = 3;
/// stellar-core's inbound pending limit for MAX_PENDING_CONNECTIONS = 500 with the default
/// 8 outbound / 64 inbound targets: 500 − ⌈500 · 8 / 72⌉.
const INBOUND_PENDING: usize = 444;
/// Queries answered per peer and kind in a window (60 s × 5 for GET_TX_SET and
/// GET_SCP_QUORUMSET; 10 GET_SCP_STATE).
const QUERY_LIMIT: usize = 300;
const SCP_STATE_LIMIT: usize = 10;
/// `MAX_REQUEST_LIMIT_PER_LEDGER`: surveyed nodes per (ledger, surveyor).
const SURVEY_LIMIT: u64 = 10;
/// `L`, the tx queue's trim limit in messages (`max_tx_set_size_ops`).
const TX_QUEUE_LIMIT: u64 = 1000;
/// Linux's USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s.
const CLOCK_TICKS: f64 = 100.0;

fn free_port() -> u16 {
    host_native::localnet::free_port().unwrap()
}

/// The node process.
struct NodeProc {
    child: std::process::Child,
    pid: u32,
    peer_addr: SocketAddr,
    http: u16,
    dir: std::path::PathBuf,
    /// Its identity (NODE_SEED): an attacker can present it.
    key: NodeKey,
    /// The one key in SURVEYOR_KEYS.
    surveyor: NodeKey,
}

impl NodeProc {
    async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "stellar-overlay-adversarial-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let key = NodeKey::from_seed(random32().unwrap());
        let surveyor = NodeKey::from_seed(random32().unwrap());
        let (port, http) = (free_port(), free_port());
        let conf = dir.join("node.cfg");
        let text = format!(
            "NETWORK_PASSPHRASE = \"{PASSPHRASE}\"\nNODE_SEED = \"{}\"\nPEER_PORT = {port}\n\
             HTTP_PORT = {http}\nDATABASE = \"sqlite3://{}\"\nSURVEYOR_KEYS = [\"{}\"]\n\
             PEER_STRAGGLER_TIMEOUT = {STRAGGLER_SECS}\n",
            key.seed_strkey(),
            dir.join("node.db").display(),
            surveyor.node_id(),
        );
        std::fs::write(&conf, text).unwrap();
        let log = std::fs::File::create(dir.join("node.log")).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_stellar-overlay"))
            .args(["run", "--conf", conf.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let node = NodeProc {
            pid: child.id(),
            child,
            peer_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            http,
            dir,
            key,
            surveyor,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", http)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the node's admin API did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node
    }

    /// GET over plain HTTP/1.1; the body.
    async fn get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.http)).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.unwrap();
        let resp = String::from_utf8(resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        body.to_string()
    }

    /// A counter from `/metrics` (`a.b-c` is `stellar_a_b_c`).
    async fn counter(&self, name: &str) -> u64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0)
    }

    async fn pending(&self) -> u64 {
        self.info().await["info"]["peers"]["pending_count"]
            .as_u64()
            .unwrap()
    }

    /// Addresses in the node's peer book (its SQLite `peers` table).
    fn peer_book(&self) -> Vec<String> {
        let db = rusqlite::Connection::open_with_flags(
            self.dir.join("node.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut q = db.prepare("SELECT ip, port FROM peers").unwrap();
        q.query_map([], |r| {
            Ok(format!(
                "{}:{}",
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    /// Stops the node and removes its files (a failed test leaves them for a look).
    fn stop(self) {
        let dir = self.dir.clone();
        drop(self);
        let _ = std::fs::remove_dir_all(dir);
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Admin for NodeProc {
    async fn peers(&self) -> Value {
        serde_json::from_str(&self.get("/peers").await).unwrap()
    }
    async fn metrics(&self) -> String {
        self.get("/metrics").await
    }
    async fn info(&self) -> Value {
        serde_json::from_str(&self.get("/info").await).unwrap()
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum()
}

/// Samples the node's RSS every 20 ms while an attack runs.
struct Meter {
    pid: u32,
    rss_before: u64,
    cpu_before: u64,
    started: Instant,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<()>,
}

/// What one attack cost the node.
struct Cost {
    rss_before_mb: f64,
    rss_peak_mb: f64,
    cpu_secs: f64,
    secs: f64,
}

impl Meter {
    fn start(pid: u32) -> Self {
        let rss_before = rss_kb(pid);
        let peak = Arc::new(AtomicU64::new(rss_before));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    peak.fetch_max(rss_kb(pid), Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Meter {
            pid,
            rss_before,
            cpu_before: cpu_ticks(pid),
            started: Instant::now(),
            peak,
            stop,
            sampler,
        }
    }

    fn finish(self) -> Cost {
        self.stop.store(true, Ordering::SeqCst);
        self.sampler.join().unwrap();
        let peak = self.peak.load(Ordering::SeqCst).max(rss_kb(self.pid));
        Cost {
            rss_before_mb: self.rss_before as f64 / 1024.0,
            rss_peak_mb: peak as f64 / 1024.0,
            cpu_secs: cpu_ticks(self.pid).saturating_sub(self.cpu_before) as f64 / CLOCK_TICKS,
            secs: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// One row of docs/ADVERSARIAL.md.
struct Report {
    attack: &'static str,
    sent: String,
    did: String,
    cost: Cost,
}

fn print_adversarial(rows: &[Report]) {
    println!(
        "\n| attack | what was sent | what the node did | RSS before → peak (MB) | CPU (s) over the attack's wall time (s) |"
    );
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.1} → {:.1} | {:.2} / {:.1} |",
            r.attack,
            r.sent,
            r.did,
            r.cost.rss_before_mb,
            r.cost.rss_peak_mb,
            r.cost.cpu_secs,
            r.cost.secs
        );
    }
}

impl Attacker {
    /// Accepts the node's dial: the attacker is the acceptor.
    async fn accept(listener: &tokio::net::TcpListener) -> Self {
        let (stream, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("the node dialled")
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Attacker {
            stream,
            local: fresh_local(PASSPHRASE),
            nonce: random32().unwrap(),
            keys: None,
            send_seq: 0,
            rx: FrameDecoder::new(),
            errors: Vec::new(),
        }
    }

    /// The acceptor's handshake: the node's HELLO, ours, its AUTH, ours.
    async fn handshake_as_acceptor(&mut self) {
        let msg = self.next_message().await.expect("the node's HELLO");
        let StellarMessage::Hello(h) = StellarMessage::decode(&msg).unwrap() else {
            panic!("expected HELLO");
        };
        self.keys = Some(
            derive_mac_keys(
                Role::Acceptor,
                &self.local.ecdh,
                h.cert.pubkey,
                &self.nonce,
                h.nonce,
            )
            .unwrap(),
        );
        let hello = self.hello(&self.hello_fields());
        self.write(&hello).await;
        loop {
            let msg = self.next_message().await.expect("the node's AUTH");
            if msg[..4] == (MessageType::Auth as i32).to_be_bytes() {
                break;
            }
        }
        let auth = self.frame(&StellarMessage::Auth(Auth { flags: 200 }).to_vec(), false);
        self.write(&auth).await;
    }

    /// Messages that arrive until none has come for `quiet` (or `max` passed); stops early
    /// if the node closes.
    async fn collect(&mut self, quiet: Duration, max: Duration) -> (Vec<Vec<u8>>, bool) {
        let deadline = Instant::now() + max;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Ok(Some(body)) = self.rx.next_frame(MAX_MESSAGE_SIZE) {
                if let Ok(am) = AuthenticatedMessage::parse(body) {
                    got.push(am.message.to_vec());
                }
            }
            let until = (Instant::now() + quiet).min(deadline);
            match tokio::time::timeout_at(until, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
                Ok(Ok(n)) => {
                    self.rx.push(&buf[..n], MAX_MESSAGE_SIZE);
                }
                Err(_) => return (got, false),
            }
        }
    }
}

/// The drop counters an attack moved. Attackers closing their own sockets afterwards
/// ("remote-closed") are not the node's doing and are left out.
async fn attack_drops(node: &NodeProc, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut d = grown(before, &drops(node).await);
    d.remove("remote-closed");
    d
}

/// Waits until a drop counter reached `want` (or fails after `within`).
async fn await_drops(node: &NodeProc, reason: &str, want: u64, within: Duration) -> Duration {
    let since = Instant::now();
    loop {
        let got = drops(node).await.get(reason).copied().unwrap_or(0);
        if got >= want {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < within,
            "drop counter {reason}: {got}, expected {want} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pending_rng(seed: u64) -> impl FnMut() -> [u8; 32] {
    let mut x = seed;
    move || {
        let mut h = [0u8; 32];
        for chunk in h.chunks_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            chunk.copy_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_be_bytes());
        }
        h
    }
}

fn peers_message(entries: &[(IpAddrLike, u32)], count_override: Option<u32>) -> Vec<u8> {
    let mut m = (MessageType::Peers as i32).to_be_bytes().to_vec();
    m.extend_from_slice(&count_override.unwrap_or(entries.len() as u32).to_be_bytes());
    for (ip, port) in entries {
        match ip {
            IpAddrLike::V4(o) => {
                m.extend_from_slice(&0u32.to_be_bytes());
                m.extend_from_slice(o);
            }
            IpAddrLike::V6(o) => {
                m.extend_from_slice(&1u32.to_be_bytes());
                m.extend_from_slice(o);
            }
        }
        m.extend_from_slice(&port.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
    }
    m
}

#[derive(Clone, Copy)]
enum IpAddrLike {
    V4([u8; 4]),
    V6([u8; 16]),
}

fn demand(hashes: &[[u8; 32]]) -> Vec<u8> {
    StellarMessage::FloodDemand(overlay_core::wire::TxHashes::new(hashes)).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adversarial_suite_against_a_node_process() {
    let started = Instant::now();
    let node = NodeProc::start().await;
    let addr = node.peer_addr;
    let good = good_peer(addr).await;
    let mut last = good_started(&node, &good, Duration::from_secs(10)).await;
    let mut rows = Vec::new();

    // 0. Baseline: the good peer alone (~500 transactions/s in, adverts and grants out).
    let m = Meter::start(node.pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    last = assert_good_flowing(&node, &good, last, "the baseline").await;
    rows.push(Report {
        attack: "baseline: the good peer alone",
        sent: "~500 TRANSACTIONs/s from one authenticated peer".into(),
        did: "relayed them (adverts), granted credit".into(),
        cost: m.finish(),
    });

    // 1. Half-open connections: 100 that connect and never send, 100 that send the first
    // 100 bytes of a valid HELLO and stop. stellar-core cuts both at the first 5 s peer
    // tick once 2 s (PEER_AUTHENTICATION_TIMEOUT) passed without a completed frame: no ERROR.
    let before = drops(&node).await;
    let m = Meter::start(node.pid);
    let since = Instant::now();
    let mut conns = Vec::new();
    for i in 0..200 {
        let mut a = Attacker::connect(addr).await;
        if i % 2 == 1 {
            let hello = a.hello(&a.hello_fields());
            a.write(&hello[..100]).await;
        }
        conns.push(a);
    }
    let cuts = futures_util::future::join_all(
        conns
            .iter_mut()
            .map(|a| a.expect_cut(since, Duration::from_secs(9))),
    )
    .await;
    let slowest = cuts.iter().map(|c| c.after).max().unwrap();
    assert!(cuts.iter().all(|c| c.error.is_none()), "no ERROR for idle");
    assert!(
        cuts.iter().all(|c| c.after >= Duration::from_secs(2)),
        "cut before the authentication timeout"
    );
    let delta = attack_drops(&node, &before).await;
    assert_eq!(delta, BTreeMap::from([("idle-timeout".to_string(), 200)]));
    last = assert_good_flowing(&node, &good, last, "half-open connections").await;
    rows.push(Report {
        attack: "half-open connections",
        sent: "200 TCP connections at once: 100 silent, 100 with the first 100 bytes of a valid HELLO".into(),
        did: format!(
            "all 200 cut by the authentication timeout (2 s idle, 5 s tick), none before 2 s, the last after {:.1} s; no ERROR_MSG (as stellar-core)",
            slowest.as_secs_f64()
        ),
        cost: m.finish(),
    });
    drop(conns);

    // 2. A connection flood beyond MAX_PENDING_CONNECTIONS (500: 444 inbound pending).
    let n = 600;
    let reject0 = node.counter("stellar_overlay_inbound_reject").await;
    let before = drops(&node).await;
    let m = Meter::start(node.pid);
    let since = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..n {
        flood.push(TcpStream::connect(addr).await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while node.counter("stellar_overlay_inbound_reject").await - reject0
        < (n - INBOUND_PENDING) as u64
    {
        assert!(
            Instant::now() < deadline,
            "the node did not take every connection"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(node.pending().await, INBOUND_PENDING as u64);
    // The refused ones were closed at once; the others are still open (nothing is cut
    // before the first 5 s tick).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut closed = 0;
    let mut buf = [0u8; 64];
    for s in &mut flood {
        if let Ok(r) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await
            && !matches!(r, Ok(n) if n > 0)
        {
            closed += 1;
        }
    }
    // Counted before the first peer tick (5 s after the first connection) could cut any.
    assert!(
        since.elapsed() < Duration::from_millis(4500),
        "took {:?}",
        since.elapsed()
    );
    assert_eq!(closed, n - INBOUND_PENDING, "connections closed at accept");
    // While the flood holds every pending slot a newcomer is refused too (stellar-core
    // does the same); the authenticated good peer is not affected.
    let mut late = Attacker::connect(addr).await;
    let hello = late.hello(&late.hello_fields());
    let late_since = Instant::now();
    let _ = late.stream.write_all(&hello).await;
    let late_cut = late.expect_cut(late_since, Duration::from_secs(1)).await;
    assert_eq!(late_cut.error, None);
    last = assert_good_flowing(&node, &good, last, "the connection flood").await;
    // The flood is reaped by the authentication timeout; then newcomers get in.
    let deadline = Instant::now() + Duration::from_secs(9);
    while node.pending().await > 0 {
        assert!(Instant::now() < deadline, "the flood was not reaped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reaped = since.elapsed();
    let mut newcomer = Attacker::connect(addr).await;
    newcomer.handshake().await;
    let delta = attack_drops(&node, &before).await;
    assert_eq!(
        delta,
        BTreeMap::from([("idle-timeout".to_string(), INBOUND_PENDING as u64)])
    );
    let rejected = node.counter("stellar_overlay_inbound_reject").await - reject0;
    assert_eq!(rejected, (n - INBOUND_PENDING + 1) as u64);
    rows.push(Report {
        attack: "connection flood beyond MAX_PENDING_CONNECTIONS",
        sent: format!("{n} silent TCP connections at once (limit 500 pending: 444 inbound), then one honest HELLO"),
        did: format!(
            "kept {INBOUND_PENDING} pending, closed the other {} at accept without a word, refused the newcomer while full (as stellar-core); reaped all {INBOUND_PENDING} by the authentication timeout within {:.1} s, then a newcomer authenticated",
            n - INBOUND_PENDING,
            reaped.as_secs_f64()
        ),
        cost: m.finish(),
    });
    drop(flood);
    drop(newcomer);

    // 3. A peer that never reads: it grants itself u32::MAX credit, then demands the same
    // 1 000 known transactions over and over and reads nothing. The node's queue for it must
    // trim (stellar-core: the whole tx queue goes once it holds more than L = 1 000 messages
    // or 3 MiB), its memory must not follow the demand, and the straggler timer must cut it.
    let good_id = {
        let k: overlay_core::NodeId = good.id.parse().unwrap();
        k
    };
    let sent_by_good = good.stats.tx_sent.load(Ordering::SeqCst);
    assert!(
        sent_by_good >= 1000,
        "the good peer has sent {sent_by_good}"
    );
    let known: Vec<[u8; 32]> = (sent_by_good - 999..=sent_by_good)
        .map(|i| {
            let tx = host_native::synthetic::transaction(&good_id, i, 0);
            overlay_core::flood::sha256(&tx[4..])
        })
        .collect();
    let tx_frame = 4 + 8 + 124 + 32 + 4;
    let before = drops(&node).await;
    let m = Meter::start(node.pid);
    let mut a = Attacker::connect(addr).await;
    a.handshake().await;
    let me = a.local.node_id().to_string();
    let grant = StellarMessage::SendMoreExtended(SendMoreExtended {
        num_messages: u32::MAX,
        num_bytes: u32::MAX,
    })
    .to_vec();
    let f = a.frame(&grant, false);
    a.write(&f).await;
    let since = Instant::now();
    let (mut demands, mut max_queue, mut trimmed, mut written) = (0u64, 0u64, 0u64, 0u64);
    let mut cut_after = None;
    let mut next_check = Instant::now();
    while since.elapsed() < Duration::from_secs(12) {
        let d = demand(&known);
        let f = a.frame(&d, false);
        if a.stream.write_all(&f).await.is_err() {
            break;
        }
        demands += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
        if Instant::now() >= next_check {
            next_check = Instant::now() + Duration::from_millis(250);
            match peer_entry(&node, &me).await {
                Some(e) => {
                    let fc = &e["flow_control"];
                    max_queue = max_queue.max(fc["outbound_queue"]["tx"].as_u64().unwrap());
                    trimmed = fc["outbound_queue_drops"][1].as_u64().unwrap();
                    written = e["byte_write"].as_u64().unwrap();
                    // stellar-core's total, as `/peers` shows it.
                    assert!(e["message_drop"].as_u64().unwrap() >= trimmed, "{e}");
                    assert_eq!(e["pull_mode"], true);
                }
                None => {
                    cut_after = Some(since.elapsed());
                    break;
                }
            }
        }
    }
    let cut_after = cut_after.expect("the node never dropped the peer that does not read");
    let delta = attack_drops(&node, &before).await;
    assert_eq!(delta, BTreeMap::from([("straggling".to_string(), 1)]));
    assert!(max_queue <= TX_QUEUE_LIMIT, "tx queue held {max_queue}");
    assert!(trimmed > 0, "the tx queue was never trimmed");
    let requested = demands * 1000 * tx_frame as u64;
    let cost = m.finish();
    let growth = cost.rss_peak_mb - cost.rss_before_mb;
    assert!(
        growth < 48.0 && growth * 1024.0 * 1024.0 < requested as f64 / 4.0,
        "RSS grew {growth:.1} MB while {} MB were demanded",
        requested / (1024 * 1024)
    );
    last = assert_good_flowing(&node, &good, last, "the peer that never reads").await;
    rows.push(Report {
        attack: "a peer that never reads",
        sent: format!(
            "a grant of u32::MAX messages and bytes, then {demands} FLOOD_DEMANDs (100/s) for the same 1 000 known transactions ({} MB of TRANSACTION frames asked for); reads nothing",
            requested / (1024 * 1024)
        ),
        did: format!(
            "queue for it never above {max_queue} transactions (limit L = 1 000), trimmed {trimmed} queued transactions, wrote {:.1} MB (socket buffers), then dropped it \"straggling\" after {:.1} s (PEER_STRAGGLER_TIMEOUT {STRAGGLER_SECS} s; no ERROR, as stellar-core)",
            written as f64 / (1024.0 * 1024.0),
            cut_after.as_secs_f64()
        ),
        cost,
    });
    drop(a);

    // 4. Duplicate connections from one node ID.
    let before = drops(&node).await;
    let m = Meter::start(node.pid);
    let mut first = Attacker::connect(addr).await;
    first.handshake().await;
    let twin_id = first.local.node_id().to_string();
    let mut twin = Attacker::connect_as(addr, Arc::clone(&first.local)).await;
    let hello = twin.hello(&twin.hello_fields());
    let twin_cut = twin.attack(&hello).await;
    // Both pending: the second HELLO of a node whose first has not sent AUTH yet.
    let pending_local = fresh_local(PASSPHRASE);
    let mut p1 = Attacker::connect_as(addr, Arc::clone(&pending_local)).await;
    let hello = p1.hello(&p1.hello_fields());
    p1.write(&hello).await;
    let _node_hello = p1.next_message().await.expect("the node's HELLO");
    let mut p2 = Attacker::connect_as(addr, Arc::clone(&pending_local)).await;
    let hello = p2.hello(&p2.hello_fields());
    let pending_cut = p2.attack(&hello).await;
    for cut in [&twin_cut, &pending_cut] {
        let (code, text) = cut.error.clone().expect("an ERROR_MSG");
        assert_eq!(code, ErrorCode::Conf);
        assert!(text.starts_with("already-connected peer: G"), "{text}");
    }
    assert!(
        peer_entry(&node, &twin_id).await.is_some(),
        "the first connection is kept"
    );
    let delta = attack_drops(&node, &before).await;
    assert_eq!(
        delta,
        BTreeMap::from([("already-connected".to_string(), 2)])
    );
    last = assert_good_flowing(&node, &good, last, "duplicate node IDs").await;
    rows.push(Report {
        attack: "duplicate connections from one node ID",
        sent: "a second HELLO from an authenticated peer's node ID; and a second HELLO while the first connection of that ID is still pending".into(),
        did: "both second connections cut with ERR_CONF \"already-connected peer: G…\"; the first ones kept (as stellar-core)".into(),
        cost: m.finish(),
    });
    drop((first, twin, p1, p2));

    // 5. A survey request flood through one connection, from a permitted surveyor.
    let before = drops(&node).await;
    let relayed0 = good.stats.survey_requests.load(Ordering::SeqCst);
    let m = Meter::start(node.pid);
    let surveyor_local = {
        let mut l = LocalNode::new(
            NodeKey::from_seed(node.surveyor.seed()),
            NetworkId::from_passphrase(PASSPHRASE),
            random32().unwrap(),
        );
        l.listening_port = ANNOUNCED_PORT as u16;
        Arc::new(l)
    };
    let mut sv = Attacker::connect_as(addr, surveyor_local).await;
    sv.handshake().await;
    let (nonce, ledger) = (77, 1);
    let start = overlay_core::survey::start_collecting_message(&node.surveyor, nonce, ledger);
    let stop = overlay_core::survey::stop_collecting_message(&node.surveyor, nonce, ledger);
    let mut burst = sv.frame(&start, false);
    burst.extend(sv.frame(&stop, false));
    let flood_n = 1000u64;
    let mut rnd = pending_rng(0x5151);
    for _ in 0..flood_n {
        let surveyed = overlay_core::NodeId(rnd());
        let r = overlay_core::survey::request_message(
            &node.surveyor,
            &surveyed,
            ledger,
            &[9; 32],
            nonce,
            0,
            0,
        );
        burst.extend(sv.frame(&r, false));
    }
    sv.write(&burst).await;
    let deadline = Instant::now() + QUICK;
    while node.counter("stellar_overlay_survey_request_recv").await < flood_n {
        assert!(Instant::now() < deadline, "the requests were not all read");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let relayed_by_node = node.counter("stellar_overlay_survey_request_relayed").await;
    let limited = node
        .counter("stellar_overlay_survey_rejected{reason=\"too-many-surveyed\"}")
        .await;
    assert_eq!(relayed_by_node, SURVEY_LIMIT);
    assert_eq!(limited, flood_n - SURVEY_LIMIT);
    // The good peer sees exactly the ones relayed.
    let deadline = Instant::now() + QUICK;
    while good.stats.survey_requests.load(Ordering::SeqCst) - relayed0 < SURVEY_LIMIT {
        assert!(
            Instant::now() < deadline,
            "the good peer did not get the relayed requests"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        peer_entry(&node, &sv.local.node_id().to_string())
            .await
            .is_some()
    );
    // Within a fresh ledger's budget, a bad signature costs the connection.
    let mut bad = overlay_core::survey::request_message(
        &node.surveyor,
        &overlay_core::NodeId(rnd()),
        ledger + 1,
        &[9; 32],
        nonce,
        0,
        0,
    );
    // The signature comes first in the signed wrapper: 4 (type) + 4 (length) + 64.
    bad[8] ^= 1;
    let f = sv.frame(&bad, false);
    let sig_cut = sv.attack(&f).await;
    assert_eq!(
        sig_cut.error,
        Some((ErrorCode::Misc, "Survey has invalid signature".to_string()))
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        good.stats.survey_requests.load(Ordering::SeqCst) - relayed0,
        SURVEY_LIMIT,
        "nothing past the limit reached the good peer"
    );
    let delta = attack_drops(&node, &before).await;
    assert_eq!(
        delta,
        BTreeMap::from([("survey-bad-signature".to_string(), 1)])
    );
    last = assert_good_flowing(&node, &good, last, "the survey flood").await;
    rows.push(Report {
        attack: "survey request flood",
        sent: format!(
            "from a surveyor in SURVEYOR_KEYS: START and STOP_COLLECTING, then {flood_n} signed TIME_SLICED_SURVEY_REQUESTs for distinct nodes in one write; then one request with a bad signature"
        ),
        did: format!(
            "relayed {SURVEY_LIMIT} (MAX_REQUEST_LIMIT_PER_LEDGER), dropped {limited} at the limiter before any signature check, connection kept; bad signature: ERR_MISC \"Survey has invalid signature\" (as stellar-core)"
        ),
        cost: m.finish(),
    });
    drop(sv);

    // 6. FLOOD_DEMAND for hashes never advertised: 200 demands × 1 000 random hashes.
    let before = drops(&node).await;
    let unknown0 = node
        .counter("stellar_overlay_flood_unfulfilled_unknown")
        .await;
    let m = Meter::start(node.pid);
    let mut a = Attacker::connect(addr).await;
    a.handshake().await;
    let mut burst = Vec::new();
    let demands_n = 200u64;
    for _ in 0..demands_n {
        let hashes: Vec<[u8; 32]> = (0..1000).map(|_| rnd()).collect();
        burst.extend(a.frame(&demand(&hashes), false));
    }
    a.write(&burst).await;
    let deadline = Instant::now() + QUICK;
    while node
        .counter("stellar_overlay_flood_unfulfilled_unknown")
        .await
        - unknown0
        < demands_n * 1000
    {
        assert!(
            Instant::now() < deadline,
            "the demands were not all processed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (msgs, closed) = a
        .collect(Duration::from_millis(500), Duration::from_secs(2))
        .await;
    assert!(!closed, "the node kept the connection");
    let answered = msgs
        .iter()
        .filter(|m| {
            matches!(
                StellarMessage::decode(m),
                Ok(StellarMessage::Transaction(_) | StellarMessage::DontHave(_))
            )
        })
        .count();
    assert_eq!(answered, 0, "nothing answers a demand for an unknown hash");
    // Demands are flood traffic: processing 200 of them returns their credit, 40 at a time
    // (FLOW_CONTROL_SEND_MORE_BATCH_SIZE), so at least 5 grants came back.
    let grants = msgs
        .iter()
        .filter(|m| {
            matches!(
                StellarMessage::decode(m),
                Ok(StellarMessage::SendMoreExtended(_))
            )
        })
        .count();
    assert!(
        grants >= 5,
        "credit re-granted: {grants} SEND_MORE_EXTENDED"
    );
    let delta = attack_drops(&node, &before).await;
    assert!(delta.is_empty(), "{delta:?}");
    last = assert_good_flowing(&node, &good, last, "unknown demands").await;
    rows.push(Report {
        attack: "FLOOD_DEMAND for hashes never advertised",
        sent: format!("{demands_n} FLOOD_DEMANDs × 1 000 random hashes in one write (6.4 MB)"),
        did: format!(
            "looked each up and answered nothing ({} unfulfilled-unknown), no TRANSACTION or DONT_HAVE, connection kept, credit re-granted (as stellar-core)",
            demands_n * 1000
        ),
        cost: m.finish(),
    });

    // 7. Query floods beyond the per-peer limits, on the same connection.
    for (kind, ty, limit, n) in [
        ("GET_TX_SET", MessageType::GetTxSet, QUERY_LIMIT, 1000usize),
        (
            "GET_SCP_QUORUMSET",
            MessageType::GetScpQuorumSet,
            QUERY_LIMIT,
            1000,
        ),
        (
            "GET_SCP_STATE",
            MessageType::GetScpState,
            SCP_STATE_LIMIT,
            100,
        ),
    ] {
        let ignored0 = node.counter("stellar_overlay_query_ignored").await;
        let m = Meter::start(node.pid);
        let mut asked = BTreeSet::new();
        let mut burst = Vec::new();
        for _ in 0..n {
            let msg = if ty == MessageType::GetScpState {
                StellarMessage::GetScpState(0).to_vec()
            } else {
                let h = rnd();
                asked.insert(h);
                let mut v = (ty as i32).to_be_bytes().to_vec();
                v.extend_from_slice(&h);
                v
            };
            burst.extend(a.frame(&msg, false));
        }
        a.write(&burst).await;
        let (msgs, closed) = a
            .collect(Duration::from_millis(500), Duration::from_secs(3))
            .await;
        assert!(!closed, "{kind}: the node kept the connection");
        let dont_have = msgs
            .iter()
            .filter(|m| match StellarMessage::decode(m) {
                Ok(StellarMessage::DontHave(d)) => asked.contains(d.req_hash),
                _ => false,
            })
            .count();
        let ignored = node.counter("stellar_overlay_query_ignored").await - ignored0;
        assert_eq!(ignored, (n - limit) as u64, "{kind}: ignored");
        if ty != MessageType::GetScpState {
            assert_eq!(dont_have, limit, "{kind}: answered");
        }
        let did = if ty == MessageType::GetScpState {
            format!(
                "served {limit} (it has no SCP state: nothing to send), ignored {ignored} silently, connection kept (stellar-core v25.2.1+)"
            )
        } else {
            format!(
                "answered {dont_have} with DONT_HAVE (the per-window limit: 60 s × 5), ignored {ignored} silently, connection kept (as stellar-core)"
            )
        };
        rows.push(Report {
            attack: match ty {
                MessageType::GetTxSet => "GET_TX_SET flood",
                MessageType::GetScpQuorumSet => "GET_SCP_QUORUMSET flood",
                _ => "GET_SCP_STATE flood",
            },
            sent: if ty == MessageType::GetScpState {
                format!("{n} GET_SCP_STATE(0) in one write")
            } else {
                format!("{n} {kind} for random hashes in one write")
            },
            did,
            cost: m.finish(),
        });
    }
    let delta = attack_drops(&node, &before).await;
    assert!(delta.is_empty(), "{delta:?}");
    assert!(
        peer_entry(&node, &a.local.node_id().to_string())
            .await
            .is_some()
    );
    last = assert_good_flowing(&node, &good, last, "query floods").await;
    drop(a);

    // 8. Self-connection: the node told to dial itself; a peer presenting the node's ID.
    // Late: the dial puts the node's own address in its peer book, and the tick dials it
    // again now and then (stellar-core does the same), cut as "self" each time.
    let before = drops(&node).await;
    let m = Meter::start(node.pid);
    node.get(&format!("/connect?peer=127.0.0.1&port={}", addr.port()))
        .await;
    await_drops(
        &node,
        "self",
        before.get("self").copied().unwrap_or(0) + 2,
        QUICK,
    )
    .await;
    let me_local = {
        let mut l = LocalNode::new(
            NodeKey::from_seed(node.key.seed()),
            NetworkId::from_passphrase(PASSPHRASE),
            random32().unwrap(),
        );
        l.listening_port = ANNOUNCED_PORT as u16;
        Arc::new(l)
    };
    let mut imp = Attacker::connect_as(addr, me_local).await;
    let hello = imp.hello(&imp.hello_fields());
    let imp_cut = imp.attack(&hello).await;
    assert_eq!(
        imp_cut.error,
        Some((ErrorCode::Conf, "connecting to self".to_string()))
    );
    let mut delta = attack_drops(&node, &before).await;
    // The dial to itself also refreshed the peer book; nothing else may have grown.
    delta.remove("remote-closed");
    assert_eq!(delta, BTreeMap::from([("self".to_string(), 3)]));
    last = assert_good_flowing(&node, &good, last, "self-connections").await;
    rows.push(Report {
        attack: "self-connection",
        sent: "/connect to the node's own address; a HELLO carrying the node's own ID (its NODE_SEED's cert)".into(),
        did: "both ends of the dial and the impostor cut with ERR_CONF \"connecting to self\" (as stellar-core)".into(),
        cost: m.finish(),
    });

    // 9. PEERS full of junk. Only an acceptor may send PEERS, so the node dials us.
    let before = drops(&node).await;
    let learned0 = node.counter("stellar_overlay_peers_learned").await;
    let skipped0 = node.counter("stellar_overlay_peers_skipped").await;
    let m = Meter::start(node.pid);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lport = listener.local_addr().unwrap().port();
    node.get(&format!("/connect?peer=127.0.0.1&port={lport}"))
        .await;
    let mut acc = Attacker::accept(&listener).await;
    acc.handshake_as_acceptor().await;
    let valid = [([198, 51, 100, 7], 11625u32), ([203, 0, 113, 9], 11626)];
    let mut entries: Vec<(IpAddrLike, u32)> = vec![
        (IpAddrLike::V4([10, 1, 2, 3]), 11625),
        (IpAddrLike::V4([172, 16, 5, 4]), 11625),
        (IpAddrLike::V4([192, 168, 1, 1]), 11625),
        (IpAddrLike::V4([0, 0, 0, 0]), 11625),
        (IpAddrLike::V4([255, 255, 255, 255]), 11625),
        (IpAddrLike::V4([224, 0, 0, 1]), 11625),
        (IpAddrLike::V4([8, 8, 8, 8]), 0),
        (IpAddrLike::V4([8, 8, 4, 4]), 70_000),
        (IpAddrLike::V4([127, 0, 0, 1]), 11625),
        (IpAddrLike::V4([127, 0, 0, 2]), addr.port().into()),
        (
            IpAddrLike::V6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            11625,
        ),
    ];
    let junk_kinds = entries.len();
    // Fill up to the XDR maximum of 100 with more junk.
    let mut i = 0u8;
    while entries.len() < 98 {
        entries.push((IpAddrLike::V4([10, 9, i, 1]), 11625));
        i += 1;
    }
    entries.extend(valid.iter().map(|(ip, port)| (IpAddrLike::V4(*ip), *port)));
    let junk_sent = entries.len() - valid.len();
    // What the book holds already (addresses of connections, from HELLOs and dials).
    let book_before: BTreeSet<String> = node.peer_book().into_iter().collect();
    let f = acc.frame(&peers_message(&entries, None), false);
    acc.write(&f).await;
    let deadline = Instant::now() + QUICK;
    while node.counter("stellar_overlay_peers_learned").await < learned0 + valid.len() as u64 {
        assert!(
            Instant::now() < deadline,
            "the valid addresses were not learned"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        node.counter("stellar_overlay_peers_skipped").await - skipped0,
        junk_sent as u64
    );
    let learned: BTreeSet<String> = node
        .peer_book()
        .into_iter()
        .filter(|a| !book_before.contains(a))
        .collect();
    let expected: BTreeSet<String> = valid
        .iter()
        .map(|(ip, port)| format!("{}.{}.{}.{}:{port}", ip[0], ip[1], ip[2], ip[3]))
        .collect();
    assert_eq!(learned, expected, "what PEERS added to the peer book");
    // A second PEERS on the connection: plain drop.
    let f = acc.frame(&peers_message(&entries[..1], None), false);
    let second = acc.attack(&f).await;
    assert_eq!(second.error, None);
    // More than the XDR maximum (101 entries): corrupt XDR.
    node.get(&format!("/connect?peer=127.0.0.1&port={lport}"))
        .await;
    let mut acc2 = Attacker::accept(&listener).await;
    acc2.handshake_as_acceptor().await;
    let mut many = entries.clone();
    many.push((IpAddrLike::V4([198, 51, 100, 8]), 11625));
    let f = acc2.frame(&peers_message(&many, None), false);
    let over = acc2.attack(&f).await;
    assert_eq!(
        over.error,
        Some((ErrorCode::Data, "received corrupt XDR".to_string()))
    );
    // PEERS from an initiator (the node is the acceptor): plain drop.
    let mut ini = Attacker::connect(addr).await;
    ini.handshake().await;
    let f = ini.frame(&peers_message(&entries[..3], None), false);
    let from_initiator = ini.attack(&f).await;
    assert_eq!(from_initiator.error, None);
    let mut delta = attack_drops(&node, &before).await;
    // The node dials what it learned (the two public addresses) and may redial our
    // listener; what answers there depends on the machine's network (a proxy answering HTTP
    // is a bad frame length, silence an idle timeout), so those two reasons are not counted.
    delta.remove("idle-timeout");
    delta.remove("bad-frame-length");
    assert_eq!(
        delta,
        BTreeMap::from([
            ("too-many-peers".to_string(), 1),
            ("corrupt-xdr".to_string(), 1),
            ("peers-from-initiator".to_string(), 1),
        ])
    );
    last = assert_good_flowing(&node, &good, last, "junk PEERS").await;
    rows.push(Report {
        attack: "PEERS full of junk",
        sent: format!(
            "PEERS (node dialled us) with 100 entries: {junk_sent} junk ({junk_kinds} kinds: private 10/8, 172.16/12, 192.168/16, 0.0.0.0, 255.255.255.255, multicast, port 0, port 70000, 127.0.0.1, 127.0.0.2, IPv6) and 2 public; a second PEERS; PEERS with 101 entries; PEERS from an initiator"
        ),
        did: "learned only the 2 public addresses (peer book checked in SQLite), skipped the rest; second PEERS: dropped without ERROR (\"too many msgs PEERS\"); 101 entries: ERR_DATA \"received corrupt XDR\"; from an initiator: dropped without ERROR (\"received PEERS\"), all as stellar-core except that 0/8, multicast, reserved/broadcast and all of 127/8 are skipped too (stellar-core would store them)".into(),
        cost: m.finish(),
    });
    drop((acc, acc2, ini, listener));

    print_adversarial(&rows);
    assert!(good.stats.closed.lock().unwrap().is_none());
    println!(
        "good peer: {} transactions sent, {} grants; suite took {:.1} s",
        last.tx_sent,
        last.grants,
        started.elapsed().as_secs_f64()
    );
    let mut good = good;
    let _ = good.stop.take().unwrap().send(());
    let _ = (&mut good.task).await;
    node.stop();
}
