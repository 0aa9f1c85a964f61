//! One core [`Peer`] on one Tokio TCP connection: `stellar-overlay peer listen|connect`.
//!
//! The connection task owns the peer and the socket. It writes whatever the socket takes
//! at once (non-blocking `try_write`) and awaits readability, writability (only while bytes
//! are waiting), the timer and shutdown together, so a slow remote never blocks reading (two
//! peers writing at each other cannot deadlock). Only one `poll_transmit` worth of bytes
//! waits outside the peer at a time: the rest stays in the peer's flow-controlled queues,
//! which trim. The two write buffers swap with the peer's (`poll_transmit` into an empty
//! buffer hands over the one being filled), so steady traffic allocates nothing per write.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use overlay_core::flow::Priority;
use overlay_core::peer::SendError;
use overlay_core::wire::{DontHave, MessageType, StellarMessage};
use overlay_core::{
    AcceptAll, DropReason, Event, Instant, LocalNode, NetworkId, NodeKey, Peer, PeerConfig,
    PeerSetup, RemoteInfo, Role, WallClock,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::synthetic;

/// The standalone network's passphrase: the default, so nothing reaches a real network.
pub const STANDALONE_PASSPHRASE: &str = "Standalone Network ; February 2017";

/// What one connection does.
#[derive(Debug, Clone)]
pub struct Options {
    pub passphrase: String,
    /// `S…` seed; random if absent.
    pub seed: Option<String>,
    /// Port announced in HELLO.
    pub listening_port: u16,
    /// Synthetic transactions to send once authenticated.
    pub send_tx: u64,
    /// Minimum size of each synthetic transaction's StellarMessage.
    pub tx_size: usize,
    /// Transactions per second (`None`: as fast as flow control allows).
    pub tx_rate: Option<u32>,
    /// Synthetic SCP envelopes to send once authenticated.
    pub send_scp: u64,
    /// Synthetic SCP envelopes (slots 1..=K) kept to answer GET_SCP_STATE.
    pub scp_state: u64,
    /// GET_SCP_STATE ledger to ask right after authenticating.
    pub get_scp_state: Option<u32>,
    /// Stop once this many transactions (and `expect_scp` SCP messages) arrived and our own
    /// sends are written.
    pub expect_tx: u64,
    pub expect_scp: u64,
    pub exit_when_done: bool,
    /// Print one line per message and credit grant (otherwise only the rest).
    pub print_messages: bool,
    /// Print aligned text instead of JSON lines.
    pub table: bool,
    /// Answer every FLOOD_ADVERT with a FLOOD_DEMAND for its hashes, so transaction bodies
    /// arrive (what a watcher wants; a node only demands what it lacks).
    pub demand_adverts: bool,
    pub versions: Versions,
}

/// Protocol versions announced in HELLO (the overlay range is also what we accept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub overlay_min: u32,
    pub overlay: u32,
    pub ledger: u32,
}

impl Default for Versions {
    fn default() -> Self {
        Versions {
            overlay_min: overlay_core::auth::DEFAULT_OVERLAY_MIN_VERSION,
            overlay: overlay_core::auth::DEFAULT_OVERLAY_VERSION,
            ledger: overlay_core::auth::DEFAULT_LEDGER_VERSION,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            passphrase: STANDALONE_PASSPHRASE.into(),
            seed: None,
            listening_port: overlay_core::auth::DEFAULT_PEER_PORT,
            send_tx: 0,
            tx_size: 0,
            tx_rate: None,
            send_scp: 0,
            scp_state: 5,
            get_scp_state: Some(0),
            expect_tx: 0,
            expect_scp: 0,
            exit_when_done: false,
            print_messages: true,
            table: false,
            demand_adverts: false,
            versions: Versions::default(),
        }
    }
}

/// How a connection went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub authenticated: bool,
    pub remote: Option<String>,
    pub sent_tx: u64,
    pub received_tx: u64,
    /// Received synthetic transactions had indices 1, 2, 3, … in that order.
    pub in_order: bool,
    /// Every received transaction was an intact synthetic one.
    pub intact: bool,
    pub received_scp: u64,
    pub scp_signatures_ok: bool,
    pub closed: Option<String>,
    pub closed_by_remote: bool,
    pub elapsed_ms: u64,
}

impl Summary {
    pub fn to_json(&self) -> Value {
        json!({
            "event": "done",
            "authenticated": self.authenticated,
            "remote": self.remote,
            "sent": self.sent_tx,
            "received": self.received_tx,
            "inOrder": self.in_order,
            "intact": self.intact,
            "scpReceived": self.received_scp,
            "scpSignaturesOk": self.scp_signatures_ok,
            "closed": self.closed,
            "closedByRemote": self.closed_by_remote,
            "elapsedMs": self.elapsed_ms,
        })
    }
}

/// 32 bytes from the OS.
pub fn random32() -> anyhow::Result<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    Ok(b)
}

/// The node identity and keys for this process.
pub fn local_node(opts: &Options) -> anyhow::Result<LocalNode> {
    let key = match &opts.seed {
        Some(s) => NodeKey::from_strkey(s).context("--seed must be an S… secret seed strkey")?,
        None => NodeKey::from_seed(random32()?),
    };
    let mut node = LocalNode::new(
        key,
        NetworkId::from_passphrase(&opts.passphrase),
        random32()?,
    );
    node.listening_port = opts.listening_port;
    node.overlay_min_version = opts.versions.overlay_min;
    node.overlay_version = opts.versions.overlay;
    node.ledger_version = opts.versions.ledger;
    Ok(node)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn remote_json(kind: &str, r: &RemoteInfo) -> Value {
    json!({
        "event": kind,
        "node": r.node_id.to_string(),
        "versionStr": r.version_str(),
        "ledgerVersion": r.ledger_version,
        "overlayVersion": r.overlay_version,
        "overlayMinVersion": r.overlay_min_version,
        "listeningPort": r.listening_port,
        "address": r.address.map(|a| a.to_string()),
        "certExpiration": r.cert_expiration,
    })
}

/// Writes one JSON line; output errors (a closed pipe) are not the connection's problem.
fn emit(out: &mut (dyn Write + Send), v: &Value) {
    let _ = writeln!(out, "{v}");
}

/// One aligned text line for a JSON event: its name, then its fields as `key=value`.
fn table_line(v: &Value) -> String {
    let mut kind = v["event"].as_str().unwrap_or("").to_string();
    if let Some(t) = v["type"].as_str() {
        kind = t.to_string();
    }
    let mut fields = Vec::new();
    let mut push = |k: &str, v: &Value| match v {
        Value::String(s) => fields.push(format!("{k}={s}")),
        Value::Null => {}
        other => fields.push(format!("{k}={other}")),
    };
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            if k == "event" || k == "type" {
                continue;
            }
            match val.as_object() {
                Some(inner) => inner.iter().for_each(|(ik, iv)| push(ik, iv)),
                None => push(k, val),
            }
        }
    }
    format!("{kind:<20} {}", fields.join(" "))
}

/// The connection's bookkeeping beside the core peer.
struct Driver<'o> {
    opts: Options,
    local: Arc<LocalNode>,
    out: &'o mut (dyn Write + Send),
    summary: Summary,
    /// SCP envelopes we can serve, latest per (slot, node).
    scp: BTreeMap<(u64, [u8; 32]), Arc<[u8]>>,
    next_tx: u64,
    next_scp: u64,
    last_tx_index: u64,
    /// When the next rate-limited transaction is due.
    next_tx_at: Option<Instant>,
}

impl Driver<'_> {
    fn emit(&mut self, v: &Value) {
        if self.opts.table {
            let _ = writeln!(self.out, "{}", table_line(v));
        } else {
            emit(self.out, v);
        }
    }
}

/// How long a closing connection waits for its last bytes to go and the remote to close.
const LINGER: Duration = Duration::from_secs(5);
/// Bound on SCP envelopes kept to answer GET_SCP_STATE.
const MAX_SCP_KEPT: usize = 1000;
/// GET_SCP_STATE answers cover at most this many slots (`HerderImpl::sendSCPStateToPeer`).
const MAX_SLOTS_PER_STATE: usize = 100;
/// Synthetic transactions kept queued ahead of credit: well under the queue's trim limit.
const TX_QUEUE_TARGET: usize = 400;

/// What the connection must send in answer to a message, applied once the event (which
/// borrows the peer) is released.
enum Reply {
    DontHave(MessageType, [u8; 32]),
    ScpState(u64),
    Demand(Vec<[u8; 32]>),
}

impl Driver<'_> {
    fn handle(&mut self, ev: Event<'_>) -> Option<Reply> {
        match ev {
            Event::Hello(r) => self.emit(&remote_json("hello", &r)),
            Event::Authenticated(r) => {
                self.summary.authenticated = true;
                self.summary.remote = Some(r.node_id.to_string());
                self.emit(&remote_json("authenticated", &r));
            }
            Event::CreditGranted(g) => {
                if self.opts.print_messages {
                    self.emit(&json!({"event": "credit", "messages": g.num_messages, "bytes": g.num_bytes}));
                }
            }
            Event::Message(m) => {
                if self.opts.print_messages {
                    self.emit(&json!({
                        "event": "message",
                        "type": m.message.message_type().name(),
                        "seq": m.sequence,
                        "size": m.frame_len,
                        "summary": synthetic::summary(&m.message),
                    }));
                }
                return self.note(&m.message);
            }
            Event::Closed(reason) => {
                self.summary.closed_by_remote = reason.by_remote();
                self.emit(&json!({
                    "event": "closed",
                    "reason": reason.to_string(),
                    "errorSent": reason.error().map(|c| c.name()),
                    "byRemote": reason.by_remote(),
                }));
                self.summary.closed = Some(reason.to_string());
            }
        }
        None
    }

    /// Counts and checks a received message; returns the reply it needs.
    fn note(&mut self, msg: &StellarMessage<'_>) -> Option<Reply> {
        match msg {
            StellarMessage::Transaction(env) => {
                self.summary.received_tx += 1;
                match synthetic::check_transaction(env) {
                    Some(i) => {
                        if i != self.last_tx_index + 1 {
                            self.summary.in_order = false;
                        }
                        self.last_tx_index = i;
                    }
                    None => {
                        self.summary.intact = false;
                        self.summary.in_order = false;
                    }
                }
                None
            }
            StellarMessage::ScpMessage(env) => {
                self.summary.received_scp += 1;
                if !synthetic::scp_signature_ok(env, &self.local.network_id) {
                    self.summary.scp_signatures_ok = false;
                }
                if self.scp.len() < MAX_SCP_KEPT {
                    let mut bytes = Vec::from((MessageType::ScpMessage as i32).to_be_bytes());
                    bytes.extend_from_slice(env.bytes);
                    self.scp
                        .insert((env.slot_index, *env.node_id), bytes.into());
                }
                None
            }
            StellarMessage::GetScpState(from) => Some(Reply::ScpState(u64::from(*from))),
            StellarMessage::FloodAdvert(h) if self.opts.demand_adverts => {
                Some(Reply::Demand(h.iter().copied().collect()))
            }
            // Latency pings and fetches we cannot serve: say so at once, as stellar-core does.
            StellarMessage::GetScpQuorumSet(h) => {
                Some(Reply::DontHave(MessageType::ScpQuorumSet, **h))
            }
            StellarMessage::GetTxSet(h) => {
                Some(Reply::DontHave(MessageType::GeneralizedTxSet, **h))
            }
            _ => None,
        }
    }

    fn reply(&mut self, peer: &mut Peer, now: Instant, reply: Reply) {
        let sent = match reply {
            Reply::ScpState(from) => self.send_scp_state(peer, now, from),
            Reply::Demand(hashes) => peer.send(
                now,
                &StellarMessage::FloodDemand(overlay_core::wire::TxHashes::new(&hashes)),
            ),
            Reply::DontHave(message_type, h) => peer.send(
                now,
                &StellarMessage::DontHave(DontHave {
                    message_type,
                    req_hash: &h,
                }),
            ),
        };
        if let Err(e) = sent
            && e != SendError::Closed
        {
            emit(
                self.out,
                &json!({"event": "send-failed", "error": e.to_string()}),
            );
        }
    }

    /// Every kept envelope for slots ≥ `from` (0: from the oldest), ascending, at most 100
    /// slots. Replies are flood messages and wait for credit like any other.
    fn send_scp_state(
        &mut self,
        peer: &mut Peer,
        now: Instant,
        from: u64,
    ) -> Result<(), SendError> {
        let mut slots = 0;
        let mut last_slot = None;
        for ((slot, _), msg) in self.scp.range((from, [0; 32])..) {
            if last_slot != Some(*slot) {
                slots += 1;
                if slots > MAX_SLOTS_PER_STATE {
                    break;
                }
                last_slot = Some(*slot);
            }
            peer.send_shared(now, Arc::clone(msg))?;
        }
        Ok(())
    }

    /// Keeps our synthetic sends queued ahead of the remote's credit.
    fn top_up(&mut self, peer: &mut Peer, now: Instant) {
        if !peer.is_authenticated() {
            return;
        }
        let id = self.local.node_id();
        while self.next_scp < self.opts.send_scp {
            self.next_scp += 1;
            let msg = synthetic::scp_nominate(
                &self.local.key,
                &self.local.network_id,
                1000 + self.next_scp,
            );
            if peer.send_shared(now, msg.into()).is_err() {
                break;
            }
        }
        while self.summary.sent_tx < self.opts.send_tx
            && peer.queued(Priority::Transaction) < TX_QUEUE_TARGET
            && self.next_tx_at.is_none_or(|at| now >= at)
        {
            if let Some(rate) = self.opts.tx_rate {
                let every = Duration::from_micros(1_000_000 / u64::from(rate.max(1)));
                self.next_tx_at = Some(self.next_tx_at.unwrap_or(now) + every);
            }
            let msg = synthetic::transaction(&id, self.summary.sent_tx + 1, self.opts.tx_size);
            if peer.send_shared(now, msg.into()).is_err() {
                break;
            }
            self.next_tx += 1;
            self.summary.sent_tx += 1;
        }
    }

    fn done(&self, peer: &Peer) -> bool {
        self.opts.exit_when_done
            && peer.is_authenticated()
            && self.summary.received_tx >= self.opts.expect_tx
            && self.summary.received_scp >= self.opts.expect_scp
            && self.summary.sent_tx >= self.opts.send_tx
            && peer.queued(Priority::Transaction) == 0
            && peer.queued(Priority::Scp) == 0
            && !peer.has_output()
    }
}

/// Bytes read at once.
const READ_BUFFER: usize = 256 * 1024;

/// Writes what the socket takes now: what is left of `wbuf` (from `wpos`), then whatever
/// the peer hands out next, until the socket would block or the peer has nothing more.
fn flush(
    stream: &TcpStream,
    peer: &mut Peer,
    now: Instant,
    wbuf: &mut Vec<u8>,
    wpos: &mut usize,
) -> std::io::Result<()> {
    loop {
        if *wpos == wbuf.len() {
            wbuf.clear();
            *wpos = 0;
            if peer.poll_transmit(now, wbuf) == 0 {
                return Ok(());
            }
        }
        match stream.try_write(&wbuf[*wpos..]) {
            Ok(n) => *wpos += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Runs one connection until it closes, `shutdown` resolves, or (with `exit_when_done`)
/// every expectation is met. Prints JSON lines to `out`.
pub async fn run(
    mut stream: TcpStream,
    role: Role,
    opts: Options,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Summary> {
    stream.set_nodelay(true)?;
    let remote_address: Option<SocketAddr> = stream.peer_addr().ok();
    let local = Arc::new(local_node(&opts)?);
    let start = tokio::time::Instant::now();
    let now = || Instant::from_micros(start.elapsed().as_micros() as u64);
    let config = PeerConfig {
        scp_state_request: opts.get_scp_state,
        ..PeerConfig::default()
    };
    let mut peer = Peer::new(
        PeerSetup {
            role,
            local: Arc::clone(&local),
            cert: local.issue_cert(unix_now()),
            nonce: random32()?,
            remote_address,
            config,
            clock: WallClock::new(now(), unix_now()),
        },
        now(),
    );
    let mut driver = Driver {
        scp: (1..=opts.scp_state)
            .map(|slot| {
                let m = synthetic::scp_nominate(&local.key, &local.network_id, slot);
                ((slot, local.node_id().0), Arc::from(m))
            })
            .collect(),
        opts,
        local,
        out,
        summary: Summary {
            in_order: true,
            intact: true,
            scp_signatures_ok: true,
            ..Summary::default()
        },
        next_tx: 0,
        next_scp: 0,
        last_tx_index: 0,
        next_tx_at: None,
    };

    driver.emit(&json!({
        "event": "connected",
        "role": format!("{role:?}").to_lowercase(),
        "remote": remote_address.map(|a| a.to_string()),
    }));
    let mut rbuf = vec![0u8; READ_BUFFER];
    // Bytes handed out by the peer, written up to `wpos`.
    let mut wbuf: Vec<u8> = Vec::with_capacity(READ_BUFFER);
    let mut wpos = 0;
    tokio::pin!(shutdown);
    let mut eof = false;

    loop {
        let t = now();
        driver.drain(&mut peer, t);
        driver.top_up(&mut peer, t);
        if let Err(e) = flush(&stream, &mut peer, t, &mut wbuf, &mut wpos) {
            tracing::debug!(error = %e, "write failed");
            peer.close(t, DropReason::RemoteClosed);
            driver.drain(&mut peer, t);
            wbuf.clear();
            wpos = 0;
        }
        if peer.is_closed() && !peer.has_output() {
            break;
        }
        if driver.done(&peer) && wpos == wbuf.len() {
            peer.close(t, DropReason::Shutdown);
            continue;
        }
        let sending = driver.summary.sent_tx < driver.opts.send_tx;
        let deadline = peer
            .poll_timeout()
            .into_iter()
            .chain(
                driver
                    .next_tx_at
                    .filter(|_| sending && peer.is_authenticated()),
            )
            .min()
            .map(|d| start + Duration::from_micros(d.as_micros()))
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let waiting = wpos < wbuf.len();
        tokio::select! {
            r = stream.readable(), if !eof => {
                let got = match r {
                    Ok(()) => stream.try_read(&mut rbuf),
                    Err(e) => Err(e),
                };
                match got {
                    Ok(0) => {
                        eof = true;
                        peer.close(now(), DropReason::RemoteClosed);
                    }
                    Ok(n) => {
                        let mut data = &rbuf[..n];
                        while !data.is_empty() {
                            let t = now();
                            let took = peer.handle_input(t, data);
                            data = &data[took..];
                            driver.drain(&mut peer, t);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        eof = true;
                        peer.close(now(), DropReason::RemoteClosed);
                    }
                }
            },
            // Writes happen at the top of the loop once the socket has room.
            _ = stream.writable(), if waiting => {}
            _ = tokio::time::sleep_until(deadline) => peer.handle_timeout(now()),
            _ = &mut shutdown => peer.close(now(), DropReason::Shutdown),
        }
    }
    // Let the final bytes (an ERROR_MSG, our last messages) drain and send FIN, then keep
    // reading until the remote closes too: closing a socket with unread input resets the
    // connection and can destroy what we just wrote (stellar-core waits 5 s likewise).
    let _ = tokio::time::timeout(LINGER, async {
        while wpos < wbuf.len() {
            if stream.writable().await.is_err() {
                break;
            }
            match stream.try_write(&wbuf[wpos..]) {
                Ok(n) => wpos += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        let _ = stream.shutdown().await;
    })
    .await;
    if !eof {
        let _ = tokio::time::timeout(LINGER, async {
            while let Ok(n) = stream.read(&mut rbuf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
    driver.summary.elapsed_ms = start.elapsed().as_millis() as u64;
    let summary = driver.summary.clone();
    emit(driver.out, &summary.to_json());
    Ok(summary)
}

impl Driver<'_> {
    /// Handles every pending event, replying once each event is released.
    fn drain(&mut self, peer: &mut Peer, now: Instant) {
        loop {
            let Some(ev) = peer.poll(now, &mut AcceptAll) else {
                break;
            };
            if let Some(reply) = self.handle(ev) {
                self.reply(peer, now, reply);
            }
        }
    }
}

/// `peer listen`: accept one connection on 0.0.0.0:`port` (0 = any free port). A zero
/// `listening_port` announces the bound port.
pub async fn listen(
    port: u16,
    mut opts: Options,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Summary> {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .with_context(|| {
            format!("cannot listen on port {port}: is it in use? pick another with --port")
        })?;
    let bound = listener.local_addr()?.port();
    if opts.listening_port == 0 {
        opts.listening_port = bound;
    }
    emit(out, &json!({"event": "listening", "port": bound}));
    tokio::pin!(shutdown);
    let (stream, _) = tokio::select! {
        r = listener.accept() => r?,
        _ = &mut shutdown => anyhow::bail!("interrupted before any peer connected"),
    };
    run(stream, Role::Acceptor, opts, out, shutdown).await
}

/// `peer connect`: dial `addr` and run the connection.
pub async fn connect(
    addr: &str,
    opts: Options,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Summary> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}: is a peer listening there?"))?;
    run(stream, Role::Initiator, opts, out, shutdown).await
}
