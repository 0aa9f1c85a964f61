//! The production node: one task owns the [`Overlay`] (no locks around the core), one
//! reader and one writer task per TCP connection move bytes.
//!
//! Readers send what they read to the node over one bounded channel (a node that falls
//! behind slows its readers down: TCP backpressure reaches the remotes). The node task
//! writes itself, without blocking (`try_write`): each connection has one buffer of bytes
//! handed out by the core (at most one write batch, `MAX_BATCH_WRITE_BYTES`, plus control
//! messages), and the core is asked for more only once that buffer is on the wire. When a
//! socket is full a small task waits for it to become writable and tells the node. So a
//! remote that stops reading leaves its messages in the core's flow-controlled queues,
//! where they are trimmed (and its straggler timer runs), never in an unbounded buffer; and
//! a remote that reads costs no task switch per write. The write buffers swap with the
//! core's (`transmit` into an empty buffer hands over the one being filled), so steady
//! traffic allocates nothing per write.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use overlay_core::fetch::ItemKind;
use overlay_core::flood::flood_key;
use overlay_core::flow::ScpWindow;
use overlay_core::overlay::{Overlay, OverlayConfig, OverlayEvent};
use overlay_core::peers::PeerStore;
use overlay_core::survey::{SurveyError, SurveyPhase};
use overlay_core::wire::{Hash, MessageType, ScpStatementType};
use overlay_core::{ConnId, DropReason, Instant, LocalNode, NodeId, WallClock};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::relay::{Relay, ScpVerdict};

/// Where bans are kept (the SQLite `ban` table in production).
pub trait BanStorage: Send {
    fn load(&self) -> Vec<NodeId>;
    fn add(&mut self, node: &NodeId);
    fn remove(&mut self, node: &NodeId);
}

impl std::fmt::Debug for NodeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSettings")
            .field("node", &self.local.node_id())
            .field("peer_listen", &self.peer_listen)
            .finish_non_exhaustive()
    }
}

/// Bans kept in memory only.
#[derive(Debug, Default)]
pub struct MemoryBans(pub Vec<NodeId>);

impl BanStorage for MemoryBans {
    fn load(&self) -> Vec<NodeId> {
        self.0.clone()
    }
    fn add(&mut self, node: &NodeId) {
        if !self.0.contains(node) {
            self.0.push(*node);
        }
    }
    fn remove(&mut self, node: &NodeId) {
        self.0.retain(|n| n != node);
    }
}

/// Everything a node needs to start.
pub struct NodeSettings {
    pub local: LocalNode,
    pub overlay: OverlayConfig,
    pub passphrase: String,
    /// Where to accept peers (`0.0.0.0:PEER_PORT`).
    pub peer_listen: SocketAddr,
    /// KNOWN_PEERS / PREFERRED_PEERS as "host[:port]" (resolved at start and every 600 s).
    pub known_peers: Vec<String>,
    pub preferred_peers: Vec<String>,
    pub max_tx_size: usize,
    pub peer_store: Box<dyn PeerStore + Send>,
    pub bans: Box<dyn BanStorage>,
    /// Whether this node validates (reported by `/info` and surveys).
    pub is_validator: bool,
    /// The validators whose EXTERNALIZE the node follows (`[[VALIDATORS]]`); empty: any
    /// correctly signed one, within the slot window.
    pub quorum: Vec<NodeId>,
}

/// Requests to the node task (admin API, localnet, tests).
#[derive(Debug)]
pub enum Command {
    Info(oneshot::Sender<Value>),
    Peers(oneshot::Sender<Value>),
    Connect(SocketAddrV4, oneshot::Sender<bool>),
    DropPeer {
        node: NodeId,
        ban: bool,
        reply: oneshot::Sender<bool>,
    },
    Ban(NodeId, oneshot::Sender<bool>),
    Unban(NodeId, oneshot::Sender<bool>),
    Bans(oneshot::Sender<Vec<NodeId>>),
    Metrics(oneshot::Sender<String>),
    Scp(usize, oneshot::Sender<Value>),
    /// Floods our own SCP envelope, after keeping the items it names so peers can fetch them.
    InjectScp {
        message: Vec<u8>,
        items: Vec<(ItemKind, Hash, Vec<u8>)>,
    },
    /// A transaction submitted locally.
    InjectTx(Vec<u8>),
    /// `startsurveycollecting`: floods START_COLLECTING with this nonce.
    SurveyStartCollecting(u32, oneshot::Sender<Result<(), SurveyError>>),
    /// `stopsurveycollecting`: floods STOP_COLLECTING for the active survey.
    SurveyStopCollecting(oneshot::Sender<Result<(), SurveyError>>),
    /// `surveytopologytimesliced`: starts the reporting run if needed (`Ok(true)`: started
    /// now) and queues a request to `node` for its peers from the given indices.
    SurveyTopology {
        node: NodeId,
        inbound_index: u32,
        outbound_index: u32,
        reply: oneshot::Sender<Result<bool, SurveyError>>,
    },
    /// `getsurveyresult`: stellar-core's JSON document.
    SurveyResults(oneshot::Sender<String>),
    /// `stopsurvey`: ends the reporting run (results stay readable).
    StopSurvey(oneshot::Sender<()>),
    /// Who may survey this node when `SURVEYOR_KEYS` is empty (the transitive quorum:
    /// the localnet's nodes, or a configuration's `[[VALIDATORS]]`).
    SetSurveyQuorum(Vec<NodeId>),
    Shutdown(oneshot::Sender<()>),
}

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    pub node_id: NodeId,
    pub peer_addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl NodeHandle {
    /// A sender for commands (the admin server holds one).
    pub fn commands(&self) -> mpsc::Sender<Command> {
        self.commands.clone()
    }

    pub async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> anyhow::Result<T> {
        ask(&self.commands, make).await
    }

    pub async fn send(&self, cmd: Command) -> anyhow::Result<()> {
        self.commands
            .send(cmd)
            .await
            .map_err(|_| anyhow::anyhow!("the node has stopped"))
    }

    /// Graceful shutdown: every peer is told ("shutdown"), writes drain, the task ends.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = ask(&self.commands, Command::Shutdown).await;
        self.task.await.context("node task")?
    }

    /// Whether the node task ended (it only ends on shutdown or a fatal error).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Sends a command and waits for its answer.
pub async fn ask<T>(
    commands: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> anyhow::Result<T> {
    let (tx, rx) = oneshot::channel();
    commands
        .send(make(tx))
        .await
        .map_err(|_| anyhow::anyhow!("the node has stopped"))?;
    rx.await
        .map_err(|_| anyhow::anyhow!("the node has stopped"))
}

enum Input {
    Data(ConnId, Vec<u8>),
    Eof(ConnId),
    /// A full socket has room again.
    Writable(ConnId),
}

enum Dialed {
    Up(SocketAddr, TcpStream),
    Failed(SocketAddr),
}

struct Io {
    writer: Arc<OwnedWriteHalf>,
    /// Bytes handed out by the core, written up to `written`.
    out: Vec<u8>,
    written: usize,
    /// The task waiting for a full socket to drain, if any.
    waiter: Option<JoinHandle<()>>,
    /// The socket failed: nothing more is written.
    failed: bool,
    reader: JoinHandle<()>,
}

impl Io {
    /// Writes what the socket takes now: the rest of `out`, then whatever the core hands out
    /// for `conn`, until the socket would block or the core has nothing more. A full socket
    /// arms a waiter that reports `Input::Writable(conn)`.
    fn flush(
        &mut self,
        overlay: &mut Overlay,
        now: Instant,
        conn: ConnId,
        input: &mpsc::Sender<Input>,
    ) {
        if self.failed || self.waiter.is_some() {
            return;
        }
        loop {
            if self.written == self.out.len() {
                self.out.clear();
                self.written = 0;
                if overlay.transmit(now, conn, &mut self.out) == 0 {
                    return;
                }
            }
            match self.writer.try_write(&self.out[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let writer = Arc::clone(&self.writer);
                    let input = input.clone();
                    self.waiter = Some(tokio::spawn(async move {
                        let _ = writer.writable().await;
                        let _ = input.send(Input::Writable(conn)).await;
                    }));
                    return;
                }
                Err(_) => {
                    // The reader sees the same failure and reports it.
                    self.failed = true;
                    return;
                }
            }
        }
    }

    /// Whether bytes are waiting for the socket.
    fn pending(&self) -> bool {
        self.written < self.out.len()
    }
}

/// Bytes read at once per connection.
const READ_CHUNK: usize = 16 * 1024;
/// How long a dropped connection may linger for its last bytes.
const LINGER: Duration = Duration::from_secs(5);
/// How long a dial may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// UNIX seconds as stellar-core's `/info` writes `startedOn` (`systemPointToISOString`).
fn iso8601(unix_seconds: u64) -> String {
    crate::db::timestamp_to_text(unix_seconds).replacen(' ', "T", 1) + "Z"
}

/// With no EXTERNALIZE followed for this long the node is out of sync (stellar-core's
/// `CONSENSUS_STUCK_TIMEOUT_SECONDS`).
const CONSENSUS_STUCK_TIMEOUT: Duration = Duration::from_secs(35);
/// KNOWN_PEERS / PREFERRED_PEERS are resolved again this often.
const RESOLVE_EVERY: Duration = Duration::from_secs(600);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Resolves "host[:port]" to IPv4 addresses (stellar-core uses IPv4 only).
pub fn resolve(peers: &[String]) -> Vec<SocketAddrV4> {
    let mut out = Vec::new();
    for p in peers {
        let with_port = if p
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        {
            p.clone()
        } else {
            format!("{p}:{}", overlay_core::auth::DEFAULT_PEER_PORT)
        };
        match with_port.to_socket_addrs() {
            Ok(addrs) => out.extend(addrs.filter_map(|a| match a {
                SocketAddr::V4(a) => Some(a),
                SocketAddr::V6(_) => None,
            })),
            Err(e) => tracing::warn!(peer = %p, error = %e, "cannot resolve peer address"),
        }
    }
    out
}

/// Binds the listener and starts the node task.
pub async fn start(settings: NodeSettings) -> anyhow::Result<NodeHandle> {
    let listener = TcpListener::bind(settings.peer_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen for peers on {}: is the port in use?",
                settings.peer_listen
            )
        })?;
    let peer_addr = listener.local_addr()?;
    let node_id = settings.local.node_id();
    let (commands, cmd_rx) = mpsc::channel(256);
    let task = tokio::spawn(run(settings, listener, cmd_rx));
    Ok(NodeHandle {
        node_id,
        peer_addr,
        commands,
        task,
    })
}

struct Node {
    overlay: Overlay,
    relay: Relay,
    bans: Box<dyn BanStorage>,
    ios: BTreeMap<ConnId, Io>,
    /// The externalized slot we track the network at.
    tracked_slot: u64,
    /// When `tracked_slot` last moved, while in sync.
    tracked_at: Option<Instant>,
    /// Whose EXTERNALIZE moves `tracked_slot` (empty: any verified signer).
    quorum: BTreeSet<NodeId>,
    start: tokio::time::Instant,
    input_tx: mpsc::Sender<Input>,
    dial_tx: mpsc::Sender<Dialed>,
    passphrase: String,
    is_validator: bool,
    settings_known: Vec<String>,
    settings_preferred: Vec<String>,
    started_unix: u64,
}

impl Node {
    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }

    /// Drains the overlay (events, then writes) as the drain rule says.
    fn service(&mut self) {
        self.check_sync();
        self.drain_events();
        self.transmit();
    }

    /// No EXTERNALIZE followed for `CONSENSUS_STUCK_TIMEOUT`: the node is out of sync
    /// again (the overlay then runs its out-of-sync recovery, surveys count it).
    fn check_sync(&mut self) {
        if let Some(at) = self.tracked_at
            && self.now() - at > CONSENSUS_STUCK_TIMEOUT
        {
            self.tracked_at = None;
            self.overlay.set_synced(false);
            self.relay.lost_sync();
            tracing::info!(
                slot = self.tracked_slot,
                "out of sync: no EXTERNALIZE for 35 s"
            );
        }
    }

    /// Handles every event the overlay has. Writes wait for [`Node::transmit`]: after a batch
    /// of reads the node writes once per connection, not once per read.
    fn drain_events(&mut self) {
        let now = self.now();
        loop {
            let Some(ev) = self.overlay.poll_event(now) else {
                break;
            };
            // Events borrow the overlay: keep what the reaction needs, then react.
            let owned = match ev {
                OverlayEvent::Connect(addr) => Owned::Dial(addr),
                OverlayEvent::PeerAuthenticated { conn, role, remote } => {
                    tracing::info!(conn = conn.0, ?role, node = %remote.node_id, version = remote.version_str(), "peer authenticated");
                    Owned::None
                }
                OverlayEvent::PeerDropped { conn, node, reason } => {
                    tracing::info!(conn = conn.0, node = ?node, %reason, "peer dropped");
                    Owned::Dropped(conn)
                }
                OverlayEvent::ScpMessage {
                    key,
                    message,
                    envelope,
                    ..
                } => {
                    let externalize = envelope.statement_type() == ScpStatementType::Externalize;
                    Owned::Scp {
                        key,
                        message: message.to_vec(),
                        node: NodeId(*envelope.node_id),
                        slot: envelope.slot_index,
                        externalize,
                    }
                }
                OverlayEvent::Transaction { envelope, .. } => Owned::Tx(envelope.to_vec()),
                OverlayEvent::TxSet {
                    hash, envelopes, ..
                } => Owned::Item(ItemKind::TxSet, hash, envelopes),
                OverlayEvent::QuorumSet {
                    hash, envelopes, ..
                } => Owned::Item(ItemKind::QuorumSet, hash, envelopes),
                OverlayEvent::FetchCancelled { kind, item } => Owned::Cancelled(kind, item),
                OverlayEvent::Message { .. } => Owned::None,
                OverlayEvent::SurveyProgress(p) => {
                    tracing::info!(?p, "survey progress");
                    Owned::None
                }
                OverlayEvent::SurveyFinished {
                    nonce,
                    responded,
                    missing,
                } => {
                    tracing::info!(nonce, responded, missing, "survey finished");
                    Owned::None
                }
            };
            self.react(now, owned);
        }
    }

    fn react(&mut self, now: Instant, owned: Owned) {
        match owned {
            Owned::None => {}
            Owned::Dial(addr) => {
                let tx = self.dial_tx.clone();
                tokio::spawn(async move {
                    let r = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await;
                    let msg = match r {
                        Ok(Ok(s)) => Dialed::Up(addr, s),
                        _ => Dialed::Failed(addr),
                    };
                    let _ = tx.send(msg).await;
                });
            }
            Owned::Dropped(conn) => self.close_conn(now, conn),
            Owned::Scp {
                key,
                message,
                node,
                slot,
                externalize,
            } => {
                let verdict = self
                    .relay
                    .on_scp(&mut self.overlay, now, key, &message, slot);
                if externalize && verdict == ScpVerdict::Accepted {
                    self.externalized(node, slot);
                }
            }
            Owned::Tx(envelope) => {
                self.relay.on_transaction(
                    &mut self.overlay,
                    now,
                    || {
                        let mut m = (MessageType::Transaction as i32).to_be_bytes().to_vec();
                        m.extend_from_slice(&envelope);
                        flood_key(&m)
                    },
                    &envelope,
                );
            }
            Owned::Item(kind, hash, envelopes) => {
                self.relay
                    .on_item(&mut self.overlay, now, kind, hash, &envelopes)
            }
            Owned::Cancelled(kind, item) => self.relay.on_cancelled(&mut self.overlay, kind, item),
        }
    }

    /// A verified EXTERNALIZE of `slot` by `node` (or one of ours). The node follows it if
    /// `node` is in its quorum (every signer counts when no quorum is configured) and the
    /// slot is newer and within the relay window: a peer cannot move the ledger with an
    /// unsigned statement, nor an outsider with its own key, nor anyone past the bracket.
    fn externalized(&mut self, node: NodeId, slot: u64) {
        let trusted =
            self.quorum.is_empty() || self.quorum.contains(&node) || node == self.relay.me();
        if trusted && slot > self.tracked_slot && self.relay.in_window(slot) {
            self.track(slot);
        }
    }

    /// Follows the network's externalized slot: the ledger the floodgate tags records
    /// with, and the windows that age out old records and queued SCP statements.
    fn track(&mut self, slot: u64) {
        self.tracked_slot = slot;
        self.tracked_at = Some(self.now());
        self.overlay.set_synced(true);
        let ledger = u32::try_from(slot + 1).unwrap_or(u32::MAX);
        let keep = self.overlay.config().scp_state_slots as u32;
        // The oldest ledger (and slot) still worth anything to the floodgate, the SCP queues,
        // the relay and the fetchers.
        let oldest = ledger.saturating_sub(keep);
        self.overlay.set_ledger(ledger);
        self.overlay.clear_below(oldest);
        self.overlay.set_scp_window(ScpWindow {
            min_slot: u64::from(oldest),
            checkpoint_slot: 0,
        });
        self.relay.set_window(u64::from(oldest), slot);
        self.overlay
            .stop_fetching_outside_range(Some(u64::from(oldest)), None, 0);
    }

    /// Writes what each connection has to send, as far as its socket takes it.
    fn transmit(&mut self) {
        let now = self.now();
        for (conn, io) in &mut self.ios {
            if io.pending() || self.overlay.has_output(*conn) {
                io.flush(&mut self.overlay, now, *conn, &self.input_tx);
            }
        }
    }

    /// A dropped connection: its final bytes (an ERROR_MSG) are written within LINGER, then
    /// the socket is shut down (FIN) and, LINGER later, reading stops.
    fn close_conn(&mut self, now: Instant, conn: ConnId) {
        self.transmit();
        if let Some(io) = self.ios.remove(&conn) {
            linger(io);
        }
        self.overlay.handle_closed(now, conn);
    }

    fn spawn_conn(&mut self, conn: ConnId, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let (mut rd, wr) = stream.into_split();
        let input = self.input_tx.clone();
        let reader = tokio::spawn(async move {
            loop {
                // Each read fills a buffer of its own that goes to the node as it is.
                let mut buf = Vec::with_capacity(READ_CHUNK);
                match rd.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = input.send(Input::Eof(conn)).await;
                        break;
                    }
                    Ok(_) => {
                        if input.send(Input::Data(conn, buf)).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        self.ios.insert(
            conn,
            Io {
                writer: Arc::new(wr),
                out: Vec::new(),
                written: 0,
                waiter: None,
                failed: false,
                reader,
            },
        );
    }

    fn input(&mut self, input: Input) {
        let now = self.now();
        match input {
            Input::Data(conn, data) => {
                let mut rest = &data[..];
                while !rest.is_empty() {
                    let took = self.overlay.handle_input(now, conn, rest);
                    rest = &rest[took..];
                    self.drain_events();
                    if took == 0 {
                        break;
                    }
                }
            }
            Input::Eof(conn) => {
                if self.ios.contains_key(&conn) {
                    self.overlay.handle_closed(now, conn);
                    self.drain_events();
                }
            }
            Input::Writable(conn) => {
                if let Some(io) = self.ios.get_mut(&conn) {
                    io.waiter = None;
                }
            }
        }
    }

    fn resolve_config_peers(&mut self) {
        let now = self.now();
        let known = resolve(&self.settings_known);
        let preferred = resolve(&self.settings_preferred);
        self.overlay.add_config_peers(now, &known, false);
        self.overlay.add_config_peers(now, &preferred, true);
    }

    fn command(&mut self, cmd: Command) -> bool {
        let now = self.now();
        match cmd {
            Command::Info(reply) => {
                let _ = reply.send(self.info_json());
            }
            Command::Peers(reply) => {
                let _ = reply.send(crate::admin::peers_json(&self.overlay, now));
            }
            Command::Connect(addr, reply) => {
                let ok = self.overlay.connect(now, addr);
                let _ = reply.send(ok);
            }
            Command::DropPeer { node, ban, reply } => {
                let found = match self.overlay.conn_of(&node) {
                    Some(conn) => {
                        self.overlay.drop_peer(now, conn, DropReason::DroppedByUser);
                        true
                    }
                    None => false,
                };
                if found && ban {
                    self.overlay.ban(now, node);
                    self.bans.add(&node);
                }
                let _ = reply.send(found);
            }
            Command::Ban(node, reply) => {
                let ok = self.overlay.ban(now, node);
                if ok {
                    self.bans.add(&node);
                }
                let _ = reply.send(ok);
            }
            Command::Unban(node, reply) => {
                let ok = self.overlay.unban(&node);
                self.bans.remove(&node);
                let _ = reply.send(ok);
            }
            Command::Bans(reply) => {
                let _ = reply.send(self.overlay.bans().copied().collect());
            }
            Command::Metrics(reply) => {
                let _ = reply.send(crate::admin::prometheus(&self.overlay, &self.relay));
            }
            Command::Scp(limit, reply) => {
                let _ = reply.send(self.relay.scp_json(limit));
            }
            Command::InjectScp { message, items } => {
                for (kind, hash, item) in items {
                    match kind {
                        ItemKind::TxSet => self.overlay.provide_tx_set(hash, &item),
                        ItemKind::QuorumSet => self.overlay.provide_quorum_set(hash, &item),
                    }
                }
                if let Ok(overlay_core::wire::StellarMessage::ScpMessage(env)) =
                    overlay_core::wire::StellarMessage::decode(&message)
                    && env.statement_type() == ScpStatementType::Externalize
                    && self.relay.signed(&env)
                {
                    self.externalized(NodeId(*env.node_id), env.slot_index);
                }
                self.overlay.broadcast(now, &message);
            }
            Command::InjectTx(envelope) => {
                self.relay.stats.tx_advertised += 1;
                self.overlay.add_transaction(now, &envelope);
            }
            Command::SurveyStartCollecting(nonce, reply) => {
                let r = self.overlay.start_survey_collecting(now, nonce);
                if r.is_ok() {
                    tracing::info!(
                        nonce,
                        ledger = self.overlay.ledger(),
                        "survey collecting started"
                    );
                }
                let _ = reply.send(r);
            }
            Command::SurveyStopCollecting(reply) => {
                let r = self.overlay.stop_survey_collecting(now);
                if r.is_ok() {
                    tracing::info!(ledger = self.overlay.ledger(), "survey collecting stopped");
                }
                let _ = reply.send(r);
            }
            Command::SurveyTopology {
                node,
                inbound_index,
                outbound_index,
                reply,
            } => {
                let r = self
                    .overlay
                    .survey_topology(now, node, inbound_index, outbound_index);
                let _ = reply.send(r);
            }
            Command::SurveyResults(reply) => {
                let _ = reply.send(self.overlay.survey_results().to_json());
            }
            Command::StopSurvey(reply) => {
                self.overlay.stop_survey_reporting();
                let _ = reply.send(());
            }
            Command::SetSurveyQuorum(nodes) => self.overlay.set_survey_quorum(nodes),
            Command::Shutdown(reply) => {
                let _ = reply.send(());
                return false;
            }
        }
        true
    }

    fn info_json(&self) -> Value {
        let authenticated = self.overlay.authenticated().count();
        let pending = self.overlay.connections().count() - authenticated;
        let local = self.overlay.local();
        json!({
            "info": {
                "build": local.version_str.as_str(),
                "protocol_version": local.ledger_version,
                "overlay_version": local.overlay_version,
                "overlay_min_version": local.overlay_min_version,
                "network": self.passphrase,
                "node_id": local.node_id().to_string(),
                "is_validator": self.is_validator,
                "ledger": { "num": self.overlay.ledger() },
                "peers": { "authenticated_count": authenticated, "pending_count": pending },
                // stellar-core's `getStateHuman`: "Synced!" while tracking the network,
                // "Joining SCP" before and after (acquiring consensus).
                "state": if self.tracked_at.is_some() { "Synced!" } else { "Joining SCP" },
                "startedOn": iso8601(self.started_unix),
                "relay": {
                    "pending_envelopes": self.relay.pending(),
                    "scp_relayed": self.relay.stats.scp_relayed,
                    "scp_rejected": self.relay.stats.scp_bad_signature + self.relay.stats.scp_malformed,
                    "scp_out_of_range": self.relay.stats.scp_out_of_range,
                    "tx_advertised": self.relay.stats.tx_advertised,
                    "tx_rejected": self.relay.stats.tx_malformed + self.relay.stats.tx_oversize,
                },
                "flood": {
                    "unique_recv": self.overlay.metrics.flood_unique_recv,
                    "duplicate_recv": self.overlay.metrics.flood_duplicate_recv,
                },
                "survey": self.survey_json(),
            }
        })
    }

    /// The survey state `/info` shows: this node's phase, the active survey's nonce and
    /// surveyor, and whether a reporting run (this node surveying) is going on.
    fn survey_json(&self) -> Value {
        let phase = match self.overlay.survey_phase() {
            SurveyPhase::Inactive => "inactive",
            SurveyPhase::Collecting => "collecting",
            SurveyPhase::Reporting => "reporting",
        };
        let active = self.overlay.survey_active();
        json!({
            "phase": phase,
            "nonce": active.map(|(n, _)| n),
            "surveyor": active.map(|(_, s)| s.to_string()),
            "reporting_run": self.overlay.survey_in_progress(),
        })
    }

    /// Graceful shutdown: every connection is told, writes drain (bounded), readers stop.
    async fn shutdown(&mut self) {
        let now = self.now();
        let conns: Vec<ConnId> = self.overlay.connections().map(|(c, _, _)| c).collect();
        for c in conns {
            self.overlay.drop_peer(now, c, DropReason::Shutdown);
        }
        self.service();
        let ios = std::mem::take(&mut self.ios);
        let mut lingering = Vec::new();
        for (_, io) in ios {
            io.reader.abort();
            lingering.push(linger_writes(io));
        }
        // The last bytes (the ERROR_MSGs) get a moment to go out.
        let _ = tokio::time::timeout(
            Duration::from_millis(200),
            futures_util::future::join_all(lingering),
        )
        .await;
    }
}

/// What is left of a closed connection: its last bytes go out (within LINGER), then the
/// socket is shut down; reading stops LINGER after the close.
fn linger(io: Io) {
    let reader = io.reader.abort_handle();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(LINGER, linger_writes(io)).await;
        tokio::time::sleep(LINGER).await;
        reader.abort();
    });
}

/// Writes the rest of a closed connection's bytes, then drops the write half (FIN).
async fn linger_writes(mut io: Io) {
    if let Some(w) = io.waiter.take() {
        w.abort();
    }
    while !io.failed && io.pending() {
        if io.writer.writable().await.is_err() {
            break;
        }
        match io.writer.try_write(&io.out[io.written..]) {
            Ok(n) => io.written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    // Dropping the last handle of the write half shuts it down.
    drop(io.writer);
}

enum Owned {
    None,
    Dial(SocketAddr),
    Dropped(ConnId),
    Scp {
        key: Hash,
        message: Vec<u8>,
        node: NodeId,
        slot: u64,
        externalize: bool,
    },
    Tx(Vec<u8>),
    Item(ItemKind, Hash, Vec<Hash>),
    Cancelled(ItemKind, Hash),
}

async fn run(
    settings: NodeSettings,
    listener: TcpListener,
    mut cmd_rx: mpsc::Receiver<Command>,
) -> anyhow::Result<()> {
    let start = tokio::time::Instant::now();
    let started_unix = unix_now();
    let clock = WallClock::new(Instant::ZERO, started_unix);
    let seed = crate::single::random32()?;
    let local = Arc::new(settings.local);
    let node_id = local.node_id();
    let mut overlay_config = settings.overlay;
    // Surveys report NODE_IS_VALIDATOR.
    overlay_config.survey.is_validator = settings.is_validator;
    // The relay checks transactions only for form and size, never against a ledger: that
    // needs no sync, so they flow from the start (stellar-core waits because its checks do).
    overlay_config.tx_flood_needs_sync = false;
    let mut overlay = Overlay::with_store(
        Arc::clone(&local),
        overlay_config,
        clock,
        seed,
        Instant::ZERO,
        settings.peer_store,
    );
    // Not tracking consensus until the first EXTERNALIZE: a survey starting before then
    // counts a lost sync, as stellar-core counts a node that is catching up.
    overlay.set_synced(false);
    let (input_tx, mut input_rx) = mpsc::channel::<Input>(1024);
    let (dial_tx, mut dial_rx) = mpsc::channel::<Dialed>(256);
    let mut node = Node {
        overlay,
        relay: Relay::new(local.network_id, node_id, settings.max_tx_size),
        bans: settings.bans,
        ios: BTreeMap::new(),
        tracked_slot: 0,
        tracked_at: None,
        quorum: settings.quorum.iter().copied().collect(),
        start,
        input_tx,
        dial_tx,
        passphrase: settings.passphrase,
        is_validator: settings.is_validator,
        settings_known: settings.known_peers,
        settings_preferred: settings.preferred_peers,
        started_unix,
    };
    let now = node.now();
    for b in node.bans.load() {
        node.overlay.ban(now, b);
    }
    node.resolve_config_peers();
    let mut resolve_at = tokio::time::Instant::now() + RESOLVE_EVERY;
    tracing::info!(node = %node_id, address = %listener.local_addr()?, "node started");
    loop {
        node.service();
        let deadline = node
            .overlay
            .poll_timeout()
            .map(|t| start + Duration::from_micros(t.as_micros()))
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(60))
            .min(resolve_at);
        tokio::select! {
            Some(cmd) = cmd_rx.recv() => {
                if !node.command(cmd) {
                    break;
                }
            }
            Some(input) = input_rx.recv() => {
                node.input(input);
                // Take what else is already waiting before servicing writes again.
                for _ in 0..64 {
                    match input_rx.try_recv() {
                        Ok(i) => node.input(i),
                        Err(_) => break,
                    }
                }
            }
            accepted = listener.accept() => {
                if let Ok((stream, remote)) = accepted {
                    let now = node.now();
                    match node.overlay.handle_accept(now, remote) {
                        Some(conn) => node.spawn_conn(conn, stream),
                        None => tracing::debug!(%remote, "inbound connection refused: too many pending"),
                    }
                }
            }
            Some(dialed) = dial_rx.recv() => {
                let now = node.now();
                match dialed {
                    Dialed::Up(addr, stream) => {
                        let conn = node.overlay.handle_connected(now, addr);
                        node.spawn_conn(conn, stream);
                    }
                    Dialed::Failed(addr) => node.overlay.handle_connect_failed(now, addr),
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                if tokio::time::Instant::now() >= resolve_at {
                    resolve_at = tokio::time::Instant::now() + RESOLVE_EVERY;
                    node.resolve_config_peers();
                }
                let now = node.now();
                node.overlay.set_wall_clock(WallClock::new(now, unix_now()));
                node.overlay.handle_timeout(now);
            }
        }
    }
    node.shutdown().await;
    tracing::info!(node = %node_id, "node stopped");
    Ok(())
}
