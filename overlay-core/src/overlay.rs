//! The node-level overlay: owns every connection's [`Peer`] by [`ConnId`] and routes between
//! them as stellar-core's `OverlayManagerImpl` does (PROTOCOL.md §4–6): the floodgate,
//! pull-mode transaction flooding, fetching, the peer book, admission and dialling.
//!
//! ## Driving an [`Overlay`]
//! The host owns sockets and clocks. Inputs: [`Overlay::handle_accept`] /
//! [`Overlay::handle_connected`] / [`Overlay::handle_connect_failed`] for transports,
//! [`Overlay::handle_input`] for bytes, [`Overlay::handle_closed`] when a transport ends,
//! [`Overlay::handle_timeout`] when [`Overlay::poll_timeout`] passes, and commands such as
//! [`Overlay::broadcast`], [`Overlay::add_transaction`] or [`Overlay::fetch`].
//!
//! **The drain rule**: after any input or command, drain [`Overlay::poll_event`] until it
//! returns `None`, then [`Overlay::poll_transmit`] until it returns `None`, then re-arm the
//! timer from [`Overlay::poll_timeout`]. Events borrow the overlay (a received SCP envelope,
//! transaction or tx set is a view into the connection's receive buffer) and are valid until
//! the next call; the application copies what it wants to keep.
//!
//! The application (stellar-core's herder) decides what to relay: an SCP envelope goes back
//! in through [`Overlay::broadcast`] once checked (and once its tx set and quorum set are
//! fetched, if the application waits for them), a transaction through
//! [`Overlay::add_transaction`].

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr, SocketAddrV4};
use core::time::Duration;

use sha2::Digest;

use crate::ConnId;
use crate::auth::{CertCache, LocalNode, NodeId, Role};
use crate::fetch::{
    FetchConfig, FetchEvent, FetchPeers, ItemFetcher, ItemKind, PeerView, Peers as FetchPeerSet,
    QueryConfig, QueryKind, QueryLimits, generalized_tx_set_hash, legacy_tx_set_hash,
    quorum_set_hash,
};
use crate::flood::{BoundedStore, Floodgate, ScpState, flood_key, sha256};
use crate::flow::ScpWindow;
use crate::peer::{
    Admission, DropReason, Event, Peer, PeerConfig, PeerSetup, RemoteInfo, SendError,
};
use crate::peers::{
    AddressPolicy, AuthAdmission, Connection, ConnectionCounts, ConnectionLimits, DialTick,
    MemoryPeerStore, PeerBook, PeerStore, admit_authenticated,
};
use crate::pull::{PullConfig, PullMetrics, SendAdvert, TxAdverts, TxDemands};
use crate::rng::Rng;
use crate::survey::{
    Counters, PeerSnapshot, Survey, SurveyConfig, SurveyError, SurveyHost, SurveyMetrics,
    SurveyPhase, SurveyPlan, SurveyProgress, SurveyReport, SurveyResults,
};
use crate::time::{Instant, WallClock};
use crate::wire::{
    DontHave, Hash, MessageType, PeerAddress, ScpEnvelope, ScpStatementType, StellarMessage,
    TimeSlicedNodeData, TxHashes,
};

/// Banned node IDs kept at most (stellar-core's ban table has no bound; bans are manual).
pub const MAX_BANS: usize = 100_000;

/// Events queued at most. A host that drains after every call (the drain rule) never
/// comes near it: one call queues at most a Connect per dial in flight, an authenticated
/// and a dropped event per connection, a cancellation per tracker, a survey step. Past it,
/// events are dropped and counted (`OverlayMetrics::events_dropped`).
pub const MAX_QUEUED_EVENTS: usize = 65_536;

fn push_bounded_event(
    events: &mut VecDeque<OverlayEvent<'static>>,
    dropped: &mut u64,
    event: OverlayEvent<'static>,
) {
    if events.len() >= MAX_QUEUED_EVENTS {
        *dropped += 1;
    } else {
        events.push_back(event);
    }
}

/// Rejected transaction hashes kept (about a ledger's worth of adverts at pubnet rates).
pub const MAX_REJECTED_TXS: usize = 10_000;

/// How long the node is out of sync before it drops a random outbound peer, and how often
/// after that (stellar-core's `OUT_OF_SYNC_RECONNECT_DELAY`).
pub const OUT_OF_SYNC_RECONNECT_DELAY: Duration = Duration::from_secs(60);

/// Node-level settings, stellar-core's defaults.
#[derive(Debug, Clone)]
pub struct OverlayConfig {
    pub peer: PeerConfig,
    /// Connection limits, as `Config::adjust` resolves them ([`ConnectionLimits::adjust`]).
    pub limits: ConnectionLimits,
    /// `KNOWN_PEERS`, resolved.
    pub known_peers: Vec<SocketAddrV4>,
    /// `PREFERRED_PEERS`, resolved.
    pub preferred_peers: Vec<SocketAddrV4>,
    /// `PREFERRED_PEER_KEYS`.
    pub preferred_keys: Vec<NodeId>,
    /// `PREFERRED_PEERS_ONLY`.
    pub preferred_only: bool,
    /// Which addresses PEERS may carry (`ALLOW_LOCALHOST_FOR_TESTING`, ...).
    pub address_policy: AddressPolicy,
    pub pull: PullConfig,
    pub fetch: FetchConfig,
    pub queries: QueryConfig,
    /// Floodgate records kept at most (stellar-core bounds them by ledger only).
    pub floodgate_capacity: usize,
    /// Transactions kept to answer FLOOD_DEMAND, by count and bytes.
    pub tx_store_items: usize,
    pub tx_store_bytes: usize,
    /// Tx sets and quorum sets kept to answer GET_TX_SET / GET_SCP_QUORUMSET.
    pub tx_set_store_items: usize,
    pub tx_set_store_bytes: usize,
    pub quorum_set_store_items: usize,
    /// `MAX_SLOTS_TO_REMEMBER`: slots of SCP state kept for GET_SCP_STATE.
    pub scp_state_slots: usize,
    pub scp_state_envelopes: usize,
    /// GET_SCP_STATE answers cover at most this many slots.
    pub scp_state_reply_slots: usize,
    /// The overlay tick (`PEER_AUTHENTICATION_TIMEOUT + 1` s).
    pub tick_interval: Duration,
    /// Whether the tick dials toward the connection targets from the peer book (off for a
    /// fixed topology, e.g. a simulation of a given graph or a single watch connection).
    pub auto_connect: bool,
    /// Drop TRANSACTION, FLOOD_ADVERT and FLOOD_DEMAND while [`Overlay::set_synced`] says
    /// the node is out of sync, as stellar-core does (it cannot check transactions without
    /// the current ledger). A host that checks nothing against a ledger may turn it off.
    pub tx_flood_needs_sync: bool,
    /// Time-sliced surveys (`SURVEYOR_KEYS`, `NODE_IS_VALIDATOR`, phase durations, ...).
    pub survey: SurveyConfig,
}

impl Default for OverlayConfig {
    fn default() -> Self {
        OverlayConfig {
            peer: PeerConfig::default(),
            limits: ConnectionLimits::default(),
            known_peers: Vec::new(),
            preferred_peers: Vec::new(),
            preferred_keys: Vec::new(),
            preferred_only: false,
            address_policy: AddressPolicy::default(),
            pull: PullConfig::default(),
            fetch: FetchConfig::default(),
            queries: QueryConfig::default(),
            floodgate_capacity: 50_000,
            tx_store_items: 10_000,
            tx_store_bytes: 16 * 1024 * 1024,
            tx_set_store_items: 64,
            tx_set_store_bytes: 128 * 1024 * 1024,
            quorum_set_store_items: 1000,
            scp_state_slots: 12,
            scp_state_envelopes: 20_000,
            scp_state_reply_slots: 100,
            tick_interval: Duration::from_secs(3),
            auto_connect: true,
            tx_flood_needs_sync: true,
            survey: SurveyConfig::default(),
        }
    }
}

/// Counters named after stellar-core's overlay metrics (`OverlayMetrics.cpp`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlayMetrics {
    pub inbound_attempt: u64,
    pub inbound_reject: u64,
    pub inbound_establish: u64,
    pub inbound_drop: u64,
    pub outbound_attempt: u64,
    pub outbound_establish: u64,
    pub outbound_drop: u64,
    pub outbound_cancel: u64,
    pub message_broadcast: u64,
    pub flood_unique_recv_bytes: u64,
    pub flood_duplicate_recv_bytes: u64,
    pub flood_unique_recv: u64,
    pub flood_duplicate_recv: u64,
    pub fetch_unique_recv_bytes: u64,
    pub fetch_duplicate_recv_bytes: u64,
    pub queries_ignored: u64,
    pub scp_state_sent: u64,
    pub peers_learned: u64,
    pub peers_skipped: u64,
    /// Events not queued because [`MAX_QUEUED_EVENTS`] were waiting (the host broke the
    /// drain rule).
    pub events_dropped: u64,
    /// TRANSACTION, FLOOD_ADVERT and FLOOD_DEMAND received while out of sync and dropped
    /// ([`OverlayConfig::tx_flood_needs_sync`]).
    pub ignored_out_of_sync: u64,
    /// Connections dropped, by [`DropReason::kind`].
    pub drops: BTreeMap<&'static str, u64>,
}

impl OverlayMetrics {
    /// Each counter with its stellar-core metric name (or a name in the same scheme).
    pub fn named(&self) -> [(&'static str, u64); 21] {
        [
            ("overlay.inbound.attempt", self.inbound_attempt),
            ("overlay.inbound.reject", self.inbound_reject),
            ("overlay.inbound.establish", self.inbound_establish),
            ("overlay.inbound.drop", self.inbound_drop),
            ("overlay.outbound.attempt", self.outbound_attempt),
            ("overlay.outbound.establish", self.outbound_establish),
            ("overlay.outbound.drop", self.outbound_drop),
            ("overlay.outbound.cancel", self.outbound_cancel),
            ("overlay.message.broadcast", self.message_broadcast),
            ("overlay.flood.unique-recv", self.flood_unique_recv_bytes),
            (
                "overlay.flood.duplicate-recv",
                self.flood_duplicate_recv_bytes,
            ),
            ("overlay.flood.unique-recv-messages", self.flood_unique_recv),
            (
                "overlay.flood.duplicate-recv-messages",
                self.flood_duplicate_recv,
            ),
            ("overlay.fetch.unique-recv", self.fetch_unique_recv_bytes),
            (
                "overlay.fetch.duplicate-recv",
                self.fetch_duplicate_recv_bytes,
            ),
            ("overlay.query.ignored", self.queries_ignored),
            ("overlay.scp-state.sent", self.scp_state_sent),
            ("overlay.peers.learned", self.peers_learned),
            ("overlay.peers.skipped", self.peers_skipped),
            ("overlay.events.dropped", self.events_dropped),
            (
                "overlay.flood.ignored-out-of-sync",
                self.ignored_out_of_sync,
            ),
        ]
    }
}

/// What the overlay reports to its host and application.
#[derive(Debug)]
pub enum OverlayEvent<'a> {
    /// Dial this address; report with [`Overlay::handle_connected`] or
    /// [`Overlay::handle_connect_failed`].
    Connect(SocketAddr),
    PeerAuthenticated {
        conn: ConnId,
        role: Role,
        remote: RemoteInfo,
    },
    /// A connection ended. Write out what [`Overlay::poll_transmit`] still has for it (a
    /// final ERROR_MSG), then close the transport and call [`Overlay::handle_closed`].
    PeerDropped {
        conn: ConnId,
        node: Option<NodeId>,
        reason: DropReason,
    },
    /// An SCP envelope not seen before. `key` (its floodgate key) names it in
    /// [`Overlay::fetch`]; relay it with [`Overlay::broadcast`] passing `message`.
    ScpMessage {
        from: ConnId,
        key: Hash,
        message: &'a [u8],
        envelope: ScpEnvelope<'a>,
    },
    /// A transaction not seen before (`hash` = SHA-256 of the envelope XDR). Check it, then
    /// flood it with [`Overlay::add_transaction`].
    Transaction {
        from: ConnId,
        hash: Hash,
        envelope: &'a [u8],
    },
    /// A fetched tx set (`message`: TX_SET or GENERALIZED_TX_SET StellarMessage XDR) and the
    /// envelopes that waited for it. It is kept to answer GET_TX_SET.
    TxSet {
        from: ConnId,
        hash: Hash,
        message: &'a [u8],
        envelopes: Vec<Hash>,
    },
    /// A fetched quorum set (`message`: SCP_QUORUMSET StellarMessage XDR).
    QuorumSet {
        from: ConnId,
        hash: Hash,
        message: &'a [u8],
        envelopes: Vec<Hash>,
    },
    /// Nothing waits for the item any more; its fetch stopped.
    FetchCancelled { kind: ItemKind, item: Hash },
    /// Any other message the overlay does not handle itself (items nobody fetched, survey
    /// messages when surveys are off, ...).
    Message {
        from: ConnId,
        message: StellarMessage<'a>,
    },
    /// A survey run ([`Overlay::run_survey`]) moved on: a new stage or a reporting round.
    SurveyProgress(SurveyProgress),
    /// A survey run is over; its report is [`Overlay::survey_report`].
    SurveyFinished {
        nonce: u32,
        /// Nodes that answered (the surveyor excluded).
        responded: usize,
        /// Nodes known that never answered.
        missing: usize,
    },
}

/// One connection.
#[derive(Debug)]
struct Conn {
    peer: Peer,
    role: Role,
    /// The transport's remote address.
    address: SocketAddr,
    /// The address we dialled (outbound).
    dialed: Option<SocketAddrV4>,
    /// (socket IP, HELLO listening port): how stellar-core names a peer.
    peer_address: Option<SocketAddrV4>,
    node: Option<NodeId>,
    authenticated: bool,
    preferred: bool,
    state: PeerState,
    /// The drop was reported; waiting for the host to flush and call `handle_closed`.
    dropped_at: Option<Instant>,
}

/// The overlay's own per-connection protocol state, beside the `Peer`.
#[derive(Debug)]
struct PeerState {
    adverts: TxAdverts,
    queries: QueryLimits,
    stats: ConnStats,
}

/// What one connection brought us that was new or already known (stellar-core's
/// per-peer counters, reported in surveys). "Flood" is SCP_MESSAGE, TRANSACTION, the
/// adverts and demands; "fetch" is tx sets and quorum sets. Sizes are StellarMessage XDR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    pub unique_flood_bytes_recv: u64,
    pub duplicate_flood_bytes_recv: u64,
    pub unique_fetch_bytes_recv: u64,
    pub duplicate_fetch_bytes_recv: u64,
    pub unique_flood_message_recv: u64,
    pub duplicate_flood_message_recv: u64,
    pub unique_fetch_message_recv: u64,
    pub duplicate_fetch_message_recv: u64,
}

impl ConnStats {
    /// What was counted since `start` (a survey's collecting phase began).
    pub fn since(&self, start: &ConnStats) -> ConnStats {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        ConnStats {
            unique_flood_bytes_recv: d(self.unique_flood_bytes_recv, start.unique_flood_bytes_recv),
            duplicate_flood_bytes_recv: d(
                self.duplicate_flood_bytes_recv,
                start.duplicate_flood_bytes_recv,
            ),
            unique_fetch_bytes_recv: d(self.unique_fetch_bytes_recv, start.unique_fetch_bytes_recv),
            duplicate_fetch_bytes_recv: d(
                self.duplicate_fetch_bytes_recv,
                start.duplicate_fetch_bytes_recv,
            ),
            unique_flood_message_recv: d(
                self.unique_flood_message_recv,
                start.unique_flood_message_recv,
            ),
            duplicate_flood_message_recv: d(
                self.duplicate_flood_message_recv,
                start.duplicate_flood_message_recv,
            ),
            unique_fetch_message_recv: d(
                self.unique_fetch_message_recv,
                start.unique_fetch_message_recv,
            ),
            duplicate_fetch_message_recv: d(
                self.duplicate_fetch_message_recv,
                start.duplicate_fetch_message_recv,
            ),
        }
    }
}

impl Conn {
    fn live_authenticated(&self) -> bool {
        self.authenticated && self.dropped_at.is_none()
    }
}

/// Who sent a message.
#[derive(Clone, Copy)]
struct Origin {
    conn: ConnId,
    node: Option<NodeId>,
}

/// What a peer event leads to, decided while the event borrows the peer and carried out
/// once it no longer does.
enum Action {
    /// Hand the message to the application (re-borrowed from the peer).
    Deliver(Deliver),
    Hello(RemoteInfo),
    Authenticated(RemoteInfo),
    Closed(DropReason),
    Reply(Reply),
    DontHave(ItemKind, Hash),
    Peers(Vec<PeerAddress>),
    /// A survey message (StellarMessage XDR), handled once the peer is back in the table
    /// (relaying and answering reach every connection, the sender's included).
    Survey(Vec<u8>),
    Nothing,
}

#[derive(Clone, Copy)]
enum Deliver {
    Scp(Hash),
    Transaction(Hash),
    /// A tx set or quorum set: completes a fetch, or goes up as a plain message.
    Item(ItemKind, Hash),
    Other,
}

/// Answers to queries, sent once the query's event is released.
enum Reply {
    DontHave(MessageType, Hash),
    Items(Vec<Arc<[u8]>>),
    ScpState(u64),
}

/// The node-level overlay.
pub struct Overlay {
    local: Arc<LocalNode>,
    config: OverlayConfig,
    clock: WallClock,
    certs: CertCache,
    rng: Rng,
    nonce_seed: [u8; 32],
    nonce_counter: u64,
    /// Boxed: a connection is moved out of the map while its peer is polled.
    conns: BTreeMap<ConnId, Box<Conn>>,
    /// The last transaction delivered as an event (connection, SHA-256, floodgate key): when
    /// the application accepts it with [`Overlay::add_transaction`] while the peer still
    /// lends its frame, both hashes and the message bytes are reused, not recomputed.
    delivered_tx: Option<(ConnId, Hash, Hash)>,
    next_conn: u64,
    /// Connections that may have events to deliver.
    ready: VecDeque<ConnId>,
    ready_set: BTreeSet<ConnId>,
    /// Where `poll_transmit` resumes, for fairness.
    transmit_cursor: Option<ConnId>,
    events: VecDeque<OverlayEvent<'static>>,
    bans: BTreeSet<NodeId>,
    book: PeerBook<Box<dyn PeerStore + Send>>,
    /// Whether the application tracks consensus ([`Overlay::set_synced`]; a host that
    /// never says is taken to be in sync).
    synced: bool,
    /// When out-of-sync recovery last ran (`mLastOutOfSyncReconnect`): set when the node
    /// is first seen out of sync, reset whenever it is in sync.
    out_of_sync_since: Option<Instant>,
    /// Outbound dials in flight.
    dialing: BTreeSet<SocketAddrV4>,
    floodgate: Floodgate,
    demands: TxDemands<NodeId>,
    tx_sets: ItemFetcher,
    quorum_sets: ItemFetcher,
    txs: BoundedStore,
    /// Transactions the application rejected, newest last: never demanded again while
    /// kept (stellar-core's banned transactions are `DemandStatus::DISCARD`).
    rejected_txs: (BTreeSet<Hash>, VecDeque<Hash>),
    tx_set_store: BoundedStore,
    quorum_set_store: BoundedStore,
    scp_state: ScpState,
    /// The ledger the node tracks: floodgate records and stored items are tagged with it.
    ledger: u32,
    next_tick: Instant,
    survey: Survey,
    pub metrics: OverlayMetrics,
}

impl core::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Overlay")
            .field("node", &self.local.node_id())
            .field("connections", &self.conns.len())
            .field("ledger", &self.ledger)
            .finish_non_exhaustive()
    }
}

/// Answers a connection's handshake questions from the overlay's state.
struct Gate<'g> {
    me: ConnId,
    now_unix: u64,
    bans: &'g BTreeSet<NodeId>,
    others: &'g BTreeMap<ConnId, Box<Conn>>,
    config: &'g OverlayConfig,
    book: &'g mut PeerBook<Box<dyn PeerStore + Send>>,
    rng: &'g mut Rng,
    /// Set when admitting a preferred peer evicts another.
    evict: Option<ConnId>,
}

fn v4(a: SocketAddr) -> Option<SocketAddrV4> {
    match a {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(a) => a
            .ip()
            .to_ipv4_mapped()
            .map(|ip| SocketAddrV4::new(ip, a.port())),
    }
}

impl Gate<'_> {
    fn preferred_address(&self, remote: &RemoteInfo) -> bool {
        remote
            .address
            .and_then(v4)
            .is_some_and(|a| self.config.preferred_peers.contains(&a))
    }
}

impl Admission for Gate<'_> {
    fn is_banned(&self, node: &NodeId) -> bool {
        self.bans.contains(node)
    }

    fn hello_accepted(&mut self, role: Role, remote: &RemoteInfo) -> bool {
        if let Some(address) = remote.address.and_then(v4) {
            let preferred = self.preferred_address(remote);
            self.book
                .observed_in_hello(address, role, preferred, self.now_unix);
        }
        !self.others.iter().any(|(id, c)| {
            *id != self.me && c.dropped_at.is_none() && c.node == Some(remote.node_id)
        })
    }

    fn admit(&mut self, role: Role, remote: &RemoteInfo) -> bool {
        if role == Role::Initiator
            && let Some(address) = remote.address.and_then(v4)
        {
            self.book
                .outbound_authenticated(address, self.now_unix, self.rng);
        }
        let preferred =
            self.preferred_address(remote) || self.config.preferred_keys.contains(&remote.node_id);
        let same_direction: Vec<(ConnId, bool)> = self
            .others
            .iter()
            .filter(|(id, c)| **id != self.me && c.live_authenticated() && c.role == role)
            .map(|(id, c)| (*id, c.preferred))
            .collect();
        let authenticated = same_direction.len();
        let victim = same_direction.iter().find(|(_, p)| !p).map(|(id, _)| *id);
        match admit_authenticated(
            &self.config.limits,
            role,
            preferred,
            authenticated,
            victim.is_some(),
            self.config.preferred_only,
        ) {
            AuthAdmission::Accept => true,
            AuthAdmission::AcceptEvicting => {
                self.evict = victim;
                true
            }
            AuthAdmission::Reject => false,
        }
    }

    fn peers_to_send(&mut self, remote: &RemoteInfo) -> Vec<PeerAddress> {
        match remote.address {
            Some(a) => self.book.peers_to_send(a, self.rng),
            None => Vec::new(),
        }
    }
}

impl Overlay {
    /// A node with an in-memory peer book. `seed` feeds the deterministic choices and the
    /// connection nonces: the host draws it from a CSPRNG (the simulator from its seed).
    pub fn new(
        local: Arc<LocalNode>,
        config: OverlayConfig,
        clock: WallClock,
        seed: [u8; 32],
        now: Instant,
    ) -> Self {
        Self::with_store(
            local,
            config,
            clock,
            seed,
            now,
            Box::new(MemoryPeerStore::new()),
        )
    }

    /// A node whose peer book lives in `store` (the native host's SQLite table).
    pub fn with_store(
        local: Arc<LocalNode>,
        config: OverlayConfig,
        clock: WallClock,
        seed: [u8; 32],
        now: Instant,
        store: Box<dyn PeerStore + Send>,
    ) -> Self {
        let mut book = PeerBook::with_policy(store, config.address_policy);
        let unix = clock.unix_secs(now);
        // Start-up, in stellar-core's order: config peers hard-reset, then the purge.
        book.store_config_peers(&config.known_peers, false, true, unix);
        book.store_config_peers(&config.preferred_peers, true, true, unix);
        book.purge_dead_peers();
        // Per-table secret hashing seeds, apart from the choices' stream.
        let index_seed = |table: u8| {
            let h = sha256(&[&seed[..], b"hash-index", &[table]].concat());
            u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
        };
        Overlay {
            floodgate: Floodgate::new(config.floodgate_capacity, index_seed(0)),
            demands: TxDemands::new(now, index_seed(1)),
            tx_sets: ItemFetcher::new(ItemKind::TxSet, config.fetch.clone()),
            quorum_sets: ItemFetcher::new(ItemKind::QuorumSet, config.fetch.clone()),
            txs: BoundedStore::new(config.tx_store_items, config.tx_store_bytes, index_seed(2)),
            rejected_txs: (BTreeSet::new(), VecDeque::new()),
            tx_set_store: BoundedStore::new(
                config.tx_set_store_items,
                config.tx_set_store_bytes,
                index_seed(3),
            ),
            quorum_set_store: BoundedStore::new(
                config.quorum_set_store_items,
                64 * 1024 * 1024,
                index_seed(4),
            ),
            scp_state: ScpState::new(config.scp_state_slots, config.scp_state_envelopes),
            // The first tick runs 2 s after start, like stellar-core's.
            next_tick: now + Duration::from_secs(2).min(config.tick_interval),
            book,
            dialing: BTreeSet::new(),
            local,
            config,
            clock,
            certs: CertCache::default(),
            rng: Rng::from_seed(seed),
            nonce_seed: sha256(&seed),
            nonce_counter: 0,
            conns: BTreeMap::new(),
            delivered_tx: None,
            next_conn: 0,
            ready: VecDeque::new(),
            ready_set: BTreeSet::new(),
            transmit_cursor: None,
            events: VecDeque::new(),
            bans: BTreeSet::new(),
            synced: true,
            out_of_sync_since: None,
            ledger: 0,
            survey: Survey::new(
                sha2::Sha256::new()
                    .chain_update(seed)
                    .chain_update(b"survey")
                    .finalize()
                    .into(),
            ),
            metrics: OverlayMetrics::default(),
        }
    }

    pub fn local(&self) -> &Arc<LocalNode> {
        &self.local
    }

    pub fn node_id(&self) -> NodeId {
        self.local.node_id()
    }

    pub fn config(&self) -> &OverlayConfig {
        &self.config
    }

    /// Re-anchors the wall clock for every connection.
    pub fn set_wall_clock(&mut self, clock: WallClock) {
        self.clock = clock;
        for c in self.conns.values_mut() {
            c.peer.set_wall_clock(clock);
        }
    }

    fn unix(&self, now: Instant) -> u64 {
        self.clock.unix_secs(now)
    }

    /// The ledger the node is tracking (the herder's `trackingConsensusLedgerIndex`).
    /// Survey messages must be within 6 ledgers of it; survey limiter records of ledgers
    /// more than 6 behind it are forgotten.
    pub fn set_ledger(&mut self, ledger: u32) {
        self.ledger = ledger;
        self.survey.clear_old_ledgers(ledger);
    }

    pub fn ledger(&self) -> u32 {
        self.ledger
    }

    pub fn book(&self) -> &PeerBook<Box<dyn PeerStore + Send>> {
        &self.book
    }

    pub fn book_mut(&mut self) -> &mut PeerBook<Box<dyn PeerStore + Send>> {
        &mut self.book
    }

    /// Adds resolved KNOWN_PEERS / PREFERRED_PEERS after start-up (DNS results).
    pub fn add_config_peers(&mut self, now: Instant, addresses: &[SocketAddrV4], preferred: bool) {
        let unix = self.unix(now);
        self.book
            .store_config_peers(addresses, preferred, false, unix);
        if preferred {
            for a in addresses {
                if !self.config.preferred_peers.contains(a) {
                    self.config.preferred_peers.push(*a);
                }
            }
        }
    }

    // ----- connections ------------------------------------------------------------------

    fn nonce(&mut self) -> [u8; 32] {
        // SHA-256 in counter mode over a secret seed: unique and unpredictable per connection.
        self.nonce_counter += 1;
        sha2::Sha256::new()
            .chain_update(self.nonce_seed)
            .chain_update(self.nonce_counter.to_be_bytes())
            .finalize()
            .into()
    }

    fn add_conn(
        &mut self,
        now: Instant,
        role: Role,
        address: SocketAddr,
        dialed: Option<SocketAddrV4>,
    ) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let cert = self.certs.get(&self.local, self.clock.unix_secs(now));
        let nonce = self.nonce();
        let peer = Peer::new(
            PeerSetup {
                role,
                local: Arc::clone(&self.local),
                cert,
                nonce,
                remote_address: Some(address),
                config: self.config.peer.clone(),
                clock: self.clock,
            },
            now,
        );
        let adverts = TxAdverts::new(&mut self.rng);
        let queries = QueryLimits::new(self.config.queries.clone());
        self.conns.insert(
            id,
            Box::new(Conn {
                peer,
                role,
                address,
                dialed,
                peer_address: None,
                node: None,
                authenticated: false,
                preferred: false,
                state: PeerState {
                    adverts,
                    queries,
                    stats: ConnStats::default(),
                },
                dropped_at: None,
            }),
        );
        id
    }

    fn pending(&self, role: Role) -> usize {
        self.conns
            .values()
            .filter(|c| c.role == role && !c.authenticated && c.dropped_at.is_none())
            .count()
    }

    /// A transport accepted a connection from `remote`. `None`: refused (too many pending
    /// inbound connections); close the socket without a word, as stellar-core does.
    pub fn handle_accept(&mut self, now: Instant, remote: SocketAddr) -> Option<ConnId> {
        self.metrics.inbound_attempt += 1;
        let possibly_preferred = self
            .config
            .preferred_peers
            .iter()
            .any(|p| IpAddr::V4(*p.ip()) == remote.ip());
        if !self
            .config
            .limits
            .accept_inbound_pending(self.pending(Role::Acceptor), possibly_preferred)
        {
            self.metrics.inbound_reject += 1;
            return None;
        }
        Some(self.add_conn(now, Role::Acceptor, remote, None))
    }

    /// Dials `address` (`/connect`, or the tick): counts the attempt in the peer book and
    /// asks the host to connect. Already connected or being dialled: nothing happens.
    pub fn connect(&mut self, now: Instant, address: SocketAddrV4) -> bool {
        let pending = self.pending(Role::Initiator) + self.dialing.len();
        if self.connection_state(address) == Connection::Outbound
            || pending >= self.config.limits.max_outbound_pending_connections
        {
            return false;
        }
        let unix = self.unix(now);
        self.book.dialing(address, unix, &mut self.rng);
        self.dialing.insert(address);
        self.push_event(OverlayEvent::Connect(SocketAddr::V4(address)));
        true
    }

    /// An outbound transport to `remote` is up: the HELLO goes out at once.
    pub fn handle_connected(&mut self, now: Instant, remote: SocketAddr) -> ConnId {
        self.metrics.outbound_attempt += 1;
        let dialed = v4(remote);
        if let Some(a) = dialed {
            self.dialing.remove(&a);
        }
        self.add_conn(now, Role::Initiator, remote, dialed)
    }

    /// A dial to `remote` failed.
    pub fn handle_connect_failed(&mut self, _now: Instant, remote: SocketAddr) {
        self.metrics.outbound_cancel += 1;
        if let Some(a) = v4(remote) {
            self.dialing.remove(&a);
        }
    }

    /// Bytes arrived on `conn`. Returns how many were taken (fewer only when events were
    /// not drained).
    pub fn handle_input(&mut self, now: Instant, conn: ConnId, data: &[u8]) -> usize {
        let Some(c) = self.conns.get_mut(&conn) else {
            return data.len();
        };
        let n = c.peer.handle_input(now, data);
        self.mark_ready(conn);
        n
    }

    /// The transport of `conn` ended (remote close, I/O error, or the host closed it after a
    /// drop). The connection is forgotten.
    pub fn handle_closed(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.dropped_at.is_none() {
            c.peer.close(now, DropReason::RemoteClosed);
            if let Some(reason) = drain_closed(&mut c.peer) {
                self.on_dropped(now, conn, reason);
            }
        }
        self.remove_conn(conn);
    }

    fn remove_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            self.ready_set.remove(&conn);
            if let Some(a) = c.peer_address.or(c.dialed) {
                self.book.peer_removed(a);
            }
        }
    }

    /// Ends a connection from our side (`/droppeer`), sending stellar-core's ERROR_MSG.
    pub fn drop_peer(&mut self, now: Instant, conn: ConnId, reason: DropReason) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer.close(now, reason);
            self.mark_ready(conn);
        }
    }

    /// Bans a node (checked at HELLO) and drops its connections. Returns false when the ban
    /// list is full ([`MAX_BANS`]).
    pub fn ban(&mut self, now: Instant, node: NodeId) -> bool {
        if self.bans.len() >= MAX_BANS && !self.bans.contains(&node) {
            return false;
        }
        self.bans.insert(node);
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.node == Some(node))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.drop_peer(now, id, DropReason::DroppedByUser);
        }
        true
    }

    pub fn unban(&mut self, node: &NodeId) -> bool {
        self.bans.remove(node)
    }

    pub fn bans(&self) -> impl Iterator<Item = &NodeId> {
        self.bans.iter()
    }

    /// Authenticated connections: (conn, node, role).
    pub fn authenticated(&self) -> impl Iterator<Item = (ConnId, NodeId, Role)> + '_ {
        self.conns
            .iter()
            .filter(|(_, c)| c.live_authenticated())
            .filter_map(|(id, c)| c.node.map(|n| (*id, n, c.role)))
    }

    /// The connection to `node`, if authenticated.
    pub fn conn_of(&self, node: &NodeId) -> Option<ConnId> {
        self.authenticated()
            .find(|(_, n, _)| n == node)
            .map(|(id, _, _)| id)
    }

    /// A connection's peer, for inspection (stats, credit, remote details).
    pub fn peer(&self, conn: ConnId) -> Option<&Peer> {
        self.conns.get(&conn).map(|c| &c.peer)
    }

    /// What a connection brought that was new or already known.
    pub fn conn_stats(&self, conn: ConnId) -> Option<ConnStats> {
        self.conns.get(&conn).map(|c| c.state.stats)
    }

    /// Every connection (pending and authenticated): (conn, role, transport address).
    pub fn connections(&self) -> impl Iterator<Item = (ConnId, Role, SocketAddr)> + '_ {
        self.conns
            .iter()
            .filter(|(_, c)| c.dropped_at.is_none())
            .map(|(id, c)| (*id, c.role, c.address))
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    fn connection_state(&self, address: SocketAddrV4) -> Connection {
        if self.dialing.contains(&address) {
            return Connection::Outbound;
        }
        let mut state = Connection::NotConnected;
        for c in self.conns.values().filter(|c| c.dropped_at.is_none()) {
            if c.dialed == Some(address) || c.peer_address == Some(address) {
                if c.role == Role::Initiator {
                    return Connection::Outbound;
                }
                state = Connection::Inbound;
            }
        }
        state
    }

    fn push_event(&mut self, event: OverlayEvent<'static>) {
        push_bounded_event(&mut self.events, &mut self.metrics.events_dropped, event);
    }

    /// Events waiting for [`Overlay::poll_event`] (besides those peers still hold).
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    fn mark_ready(&mut self, conn: ConnId) {
        if self.ready_set.insert(conn) {
            self.ready.push_back(conn);
        }
    }

    // ----- events -----------------------------------------------------------------------

    /// The next event. See the drain rule in the module docs.
    pub fn poll_event(&mut self, now: Instant) -> Option<OverlayEvent<'_>> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Some(ev);
            }
            let &id = self.ready.front()?;
            match self.poll_conn(now, id) {
                None => {
                    self.ready.pop_front();
                    self.ready_set.remove(&id);
                }
                Some(Action::Deliver(kind)) => {
                    let envelopes = self.complete_fetch(now, kind);
                    return self.deliver(id, kind, envelopes);
                }
                Some(action) => self.apply(now, id, action),
            }
        }
    }

    /// Polls one connection's peer and decides what its event means.
    fn poll_conn(&mut self, now: Instant, id: ConnId) -> Option<Action> {
        // The gate reads the other connections while this one is polled: take it out.
        let mut conn = self.conns.remove(&id)?;
        let now_unix = self.clock.unix_secs(now);
        let mut gate = Gate {
            me: id,
            now_unix,
            bans: &self.bans,
            others: &self.conns,
            config: &self.config,
            book: &mut self.book,
            rng: &mut self.rng,
            evict: None,
        };
        let Conn {
            peer, node, state, ..
        } = &mut *conn;
        let node = *node;
        let ev = peer.poll(now, &mut gate);
        let evict = gate.evict;
        let action = ev.map(|ev| match ev {
            Event::Hello(remote) => Action::Hello(remote),
            Event::Authenticated(remote) => Action::Authenticated(remote),
            Event::CreditGranted(_) => Action::Nothing,
            Event::Closed(reason) => Action::Closed(reason),
            Event::Message(m) => {
                self.classify(now, Origin { conn: id, node }, state, m.message, m.raw)
            }
        });
        self.conns.insert(id, conn);
        if let Some(victim) = evict {
            self.drop_peer(now, victim, DropReason::PreferredPeerSelected);
        }
        action
    }

    /// Routes one received message: floodgate and pull-mode bookkeeping, queries answered,
    /// the rest up to the application.
    fn classify(
        &mut self,
        now: Instant,
        from: Origin,
        state: &mut PeerState,
        message: StellarMessage<'_>,
        raw: &[u8],
    ) -> Action {
        let PeerState {
            adverts,
            queries,
            stats,
        } = state;
        if let Some(kind) = QueryKind::from_message_type(message.message_type())
            && !queries.allow(kind, now)
        {
            // Over the per-window limit: silently ignored, as stellar-core does.
            self.metrics.queries_ignored += 1;
            return Action::Nothing;
        }
        if !self.synced
            && self.config.tx_flood_needs_sync
            && matches!(
                message,
                StellarMessage::Transaction(_)
                    | StellarMessage::FloodAdvert(_)
                    | StellarMessage::FloodDemand(_)
            )
        {
            // `Peer::recvMessage`: out of sync, transaction flooding is dropped unprocessed
            // (the node could not check transactions against a ledger it does not have).
            self.metrics.ignored_out_of_sync += 1;
            return Action::Nothing;
        }
        match message {
            StellarMessage::ScpMessage(_) => {
                let key = flood_key(raw);
                if self.flood_received(key, from.conn, raw, stats) {
                    Action::Deliver(Deliver::Scp(key))
                } else {
                    Action::Nothing
                }
            }
            StellarMessage::Transaction(env) => {
                let hash = sha256(env);
                if let Some(node) = from.node {
                    self.demands.record_tx_pull_latency(&hash, node, now);
                }
                let key = flood_key(raw);
                if self.flood_received(key, from.conn, raw, stats) && !self.txs.contains(&hash) {
                    self.delivered_tx = Some((from.conn, hash, key));
                    Action::Deliver(Deliver::Transaction(hash))
                } else {
                    Action::Nothing
                }
            }
            StellarMessage::FloodAdvert(hashes) => {
                // Adverts and demands are per-peer batches: counted as unique flood traffic.
                stats.unique_flood_message_recv += 1;
                stats.unique_flood_bytes_recv += raw.len() as u64;
                adverts.receive_advert(&self.config.pull, hashes.iter(), self.ledger);
                Action::Nothing
            }
            StellarMessage::FloodDemand(hashes) => {
                stats.unique_flood_message_recv += 1;
                stats.unique_flood_bytes_recv += raw.len() as u64;
                let mut items = Vec::new();
                let metrics = self.demands.metrics_mut();
                for h in hashes.iter() {
                    match self.txs.get(h) {
                        Some(tx) => {
                            items.push(Arc::clone(tx));
                            metrics.fulfilled += 1;
                        }
                        None if self.rejected_txs.0.contains(h) => metrics.unfulfilled_banned += 1,
                        None => metrics.unfulfilled_unknown += 1,
                    }
                }
                if items.is_empty() {
                    Action::Nothing
                } else {
                    Action::Reply(Reply::Items(items))
                }
            }
            StellarMessage::GetScpState(from_slot) => {
                Action::Reply(Reply::ScpState(u64::from(from_slot)))
            }
            StellarMessage::GetScpQuorumSet(h) => {
                Action::Reply(match self.quorum_set_store.get(h) {
                    Some(q) => Reply::Items(alloc::vec![Arc::clone(q)]),
                    None => Reply::DontHave(MessageType::ScpQuorumSet, *h),
                })
            }
            StellarMessage::GetTxSet(h) => Action::Reply(match self.tx_set_store.get(h) {
                Some(t) => Reply::Items(alloc::vec![Arc::clone(t)]),
                // Protocol ≥ 20 nodes answer GENERALIZED_TX_SET; both mean "tx set".
                None => Reply::DontHave(MessageType::GeneralizedTxSet, *h),
            }),
            StellarMessage::DontHave(d) => match ItemKind::from_dont_have(d.message_type) {
                Some(kind) => Action::DontHave(kind, *d.req_hash),
                None => Action::Nothing,
            },
            StellarMessage::GeneralizedTxSet(x) => {
                self.item_received(ItemKind::TxSet, generalized_tx_set_hash(x), raw, stats)
            }
            StellarMessage::TxSet(x) => match legacy_tx_set_hash(x) {
                Some(h) => self.item_received(ItemKind::TxSet, h, raw, stats),
                None => Action::Deliver(Deliver::Other),
            },
            StellarMessage::ScpQuorumSet(x) => {
                self.item_received(ItemKind::QuorumSet, quorum_set_hash(x), raw, stats)
            }
            StellarMessage::Peers(p) => Action::Peers(p.iter().collect()),
            StellarMessage::SurveyStartCollecting(_)
            | StellarMessage::SurveyStopCollecting(_)
            | StellarMessage::SurveyRequest(_)
            | StellarMessage::SurveyResponse(_) => {
                // Counted as flood traffic, unique or duplicate (`recordMessageMetric`).
                let n = raw.len() as u64;
                if self.survey.note_received(flood_key(raw)) {
                    stats.unique_flood_message_recv += 1;
                    stats.unique_flood_bytes_recv += n;
                } else {
                    stats.duplicate_flood_message_recv += 1;
                    stats.duplicate_flood_bytes_recv += n;
                }
                if self.config.survey.enabled {
                    Action::Survey(raw.to_vec())
                } else {
                    Action::Deliver(Deliver::Other)
                }
            }
            _ => Action::Deliver(Deliver::Other),
        }
    }

    fn item_received(
        &mut self,
        kind: ItemKind,
        hash: Hash,
        raw: &[u8],
        stats: &mut ConnStats,
    ) -> Action {
        let (fetcher, store) = match kind {
            ItemKind::TxSet => (&self.tx_sets, &self.tx_set_store),
            ItemKind::QuorumSet => (&self.quorum_sets, &self.quorum_set_store),
        };
        let n = raw.len() as u64;
        if store.contains(&hash) {
            self.metrics.fetch_duplicate_recv_bytes += n;
            stats.duplicate_fetch_message_recv += 1;
            stats.duplicate_fetch_bytes_recv += n;
        } else {
            self.metrics.fetch_unique_recv_bytes += n;
            stats.unique_fetch_message_recv += 1;
            stats.unique_fetch_bytes_recv += n;
        }
        if fetcher.is_fetching(&hash) {
            Action::Deliver(Deliver::Item(kind, hash))
        } else {
            Action::Deliver(Deliver::Other)
        }
    }

    /// Floodgate bookkeeping for a received flood message; true if it is new.
    fn flood_received(
        &mut self,
        key: Hash,
        from: ConnId,
        raw: &[u8],
        stats: &mut ConnStats,
    ) -> bool {
        let new = self.floodgate.add_record(key, from, self.ledger);
        let m = &mut self.metrics;
        let n = raw.len() as u64;
        if new {
            m.flood_unique_recv += 1;
            m.flood_unique_recv_bytes += n;
            stats.unique_flood_message_recv += 1;
            stats.unique_flood_bytes_recv += n;
        } else {
            m.flood_duplicate_recv += 1;
            m.flood_duplicate_recv_bytes += n;
            stats.duplicate_flood_message_recv += 1;
            stats.duplicate_flood_bytes_recv += n;
        }
        new
    }

    /// Completes the fetch of a delivered tx set or quorum set: the envelopes that waited.
    fn complete_fetch(&mut self, now: Instant, kind: Deliver) -> Vec<Hash> {
        let fetcher = match kind {
            Deliver::Item(ItemKind::TxSet, _) => &mut self.tx_sets,
            Deliver::Item(ItemKind::QuorumSet, _) => &mut self.quorum_sets,
            _ => return Vec::new(),
        };
        let Deliver::Item(_, hash) = kind else {
            return Vec::new();
        };
        fetcher
            .recv(&hash, now)
            .map(|done| done.envelopes)
            .unwrap_or_default()
    }

    /// Builds the borrowed event for the message `id`'s peer just delivered.
    fn deliver(
        &mut self,
        id: ConnId,
        kind: Deliver,
        envelopes: Vec<Hash>,
    ) -> Option<OverlayEvent<'_>> {
        if let Deliver::Item(item_kind, hash) = kind {
            // Keep the fetched item to answer GET_* from other peers.
            let raw = self.conns.get(&id)?.peer.last_message()?.raw;
            let item: Arc<[u8]> = Arc::from(raw);
            match item_kind {
                ItemKind::TxSet => self.tx_set_store.insert(hash, item, self.ledger),
                ItemKind::QuorumSet => self.quorum_set_store.insert(hash, item, self.ledger),
            };
        }
        let m = self.conns.get(&id)?.peer.last_message()?;
        Some(match (kind, m.message) {
            (Deliver::Scp(key), StellarMessage::ScpMessage(envelope)) => OverlayEvent::ScpMessage {
                from: id,
                key,
                message: m.raw,
                envelope,
            },
            (Deliver::Transaction(hash), StellarMessage::Transaction(envelope)) => {
                OverlayEvent::Transaction {
                    from: id,
                    hash,
                    envelope,
                }
            }
            (Deliver::Item(ItemKind::TxSet, hash), _) => OverlayEvent::TxSet {
                from: id,
                hash,
                message: m.raw,
                envelopes,
            },
            (Deliver::Item(ItemKind::QuorumSet, hash), _) => OverlayEvent::QuorumSet {
                from: id,
                hash,
                message: m.raw,
                envelopes,
            },
            (_, message) => OverlayEvent::Message { from: id, message },
        })
    }

    fn apply(&mut self, now: Instant, id: ConnId, action: Action) {
        match action {
            Action::Nothing | Action::Deliver(_) => {}
            Action::Hello(remote) => {
                let Some(c) = self.conns.get_mut(&id) else {
                    return;
                };
                c.node = Some(remote.node_id);
                c.peer_address = remote.address.and_then(v4);
            }
            Action::Authenticated(remote) => {
                let Some(c) = self.conns.get_mut(&id) else {
                    return;
                };
                c.authenticated = true;
                c.node = Some(remote.node_id);
                c.preferred = c
                    .peer_address
                    .is_some_and(|a| self.config.preferred_peers.contains(&a))
                    || self.config.preferred_keys.contains(&remote.node_id);
                match c.role {
                    Role::Initiator => self.metrics.outbound_establish += 1,
                    Role::Acceptor => self.metrics.inbound_establish += 1,
                }
                self.survey.peer_authenticated();
                let role = c.role;
                self.push_event(OverlayEvent::PeerAuthenticated {
                    conn: id,
                    role,
                    remote,
                });
            }
            Action::Closed(reason) => self.on_dropped(now, id, reason),
            Action::Reply(reply) => self.reply(now, id, reply),
            Action::Survey(message) => {
                self.with_survey(|s, host| s.handle_message(now, host, id, &message));
            }
            Action::DontHave(kind, hash) => {
                self.with_fetcher(kind, |f, peers, rng| {
                    f.doesnt_have(&hash, id, now, peers, rng)
                });
                self.send_asks(now);
            }
            Action::Peers(entries) => {
                let Some(c) = self.conns.get(&id) else { return };
                let sender = c.address.ip();
                let unix = self.unix(now);
                let out = self
                    .book
                    .recv_peers(entries, sender, self.local.listening_port, unix);
                self.metrics.peers_learned += out.added as u64;
                self.metrics.peers_skipped += out.skipped() as u64;
            }
        }
    }

    fn reply(&mut self, now: Instant, id: ConnId, reply: Reply) {
        let Overlay {
            conns,
            scp_state,
            config,
            metrics,
            ..
        } = self;
        let Some(c) = conns.get_mut(&id) else { return };
        // A reply to a peer that is closing is simply not sent.
        match reply {
            Reply::DontHave(message_type, h) => {
                let _ = c.peer.send(
                    now,
                    &StellarMessage::DontHave(DontHave {
                        message_type,
                        req_hash: &h,
                    }),
                );
            }
            Reply::Items(items) => {
                for item in items {
                    let _ = c.peer.send_shared(now, item);
                }
            }
            Reply::ScpState(from) => {
                for m in scp_state.from_slot(from, config.scp_state_reply_slots) {
                    metrics.scp_state_sent += 1;
                    let _ = c.peer.send_shared(now, m);
                }
            }
        }
    }

    fn on_dropped(&mut self, now: Instant, id: ConnId, reason: DropReason) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.dropped_at.is_some() {
            return;
        }
        if c.authenticated
            && let Some(node) = c.node
        {
            self.survey.peer_dropped(&node);
        }
        c.dropped_at = Some(now);
        match c.role {
            Role::Initiator => self.metrics.outbound_drop += 1,
            Role::Acceptor => self.metrics.inbound_drop += 1,
        }
        *self.metrics.drops.entry(reason.kind()).or_default() += 1;
        let node = c.node;
        for kind in [ItemKind::TxSet, ItemKind::QuorumSet] {
            self.with_fetcher(kind, |f, peers, rng| f.peer_dropped(id, now, peers, rng));
        }
        self.send_asks(now);
        self.push_event(OverlayEvent::PeerDropped {
            conn: id,
            node,
            reason,
        });
    }
}

impl Overlay {
    /// Runs `f` on one fetcher with the view of the peers it chooses from: the
    /// authenticated connections and, through the floodgate, which envelopes each has.
    fn with_fetcher<R>(
        &mut self,
        kind: ItemKind,
        f: impl FnOnce(&mut ItemFetcher, &dyn FetchPeers, &mut Rng) -> R,
    ) -> R {
        let Overlay {
            conns,
            floodgate,
            tx_sets,
            quorum_sets,
            rng,
            ..
        } = self;
        let views = peer_views(conns);
        let peers = FetchPeerSet {
            authenticated: &views,
            knows: knows_fn(floodgate),
        };
        let fetcher = match kind {
            ItemKind::TxSet => tx_sets,
            ItemKind::QuorumSet => quorum_sets,
        };
        f(fetcher, &peers, rng)
    }
}

/// The fetchers' view of the authenticated peers, in connection order (deterministic).
fn peer_views(conns: &BTreeMap<ConnId, Box<Conn>>) -> Vec<PeerView> {
    conns
        .iter()
        .filter(|(_, c)| c.live_authenticated())
        .map(|(id, c)| PeerView {
            conn: *id,
            latency: c.peer.stats().last_ping,
        })
        .collect()
}

/// Whether a connection's node is known to have an envelope (by floodgate key).
fn knows_fn(floodgate: &Floodgate) -> impl Fn(ConnId, &Hash) -> bool + '_ {
    move |conn, envelope| floodgate.knows(envelope, conn)
}

impl Overlay {
    // ----- commands ---------------------------------------------------------------------

    /// Floods a message (StellarMessage XDR, normally an SCP_MESSAGE; survey messages go
    /// through the survey commands, which validate and record them first) to every
    /// authenticated peer that does not have it yet (`Floodgate::broadcast`). It is encoded
    /// once, shared by every peer queue; each peer only adds its sequence number and MAC.
    /// Returns how many peers it was queued for.
    pub fn broadcast(&mut self, now: Instant, message: &[u8]) -> usize {
        // Decoded once, for the survey's externalize record and the SCP state.
        let scp = (message.get(..4) == Some(&(MessageType::ScpMessage as i32).to_be_bytes()[..]))
            .then(|| ScpEnvelope::decode(&message[4..]).ok())
            .flatten();
        if self.config.survey.observe_externalize
            && let Some(env) = &scp
            && env.statement_type() == ScpStatementType::Externalize
        {
            let me = self.node_id();
            self.survey
                .record_externalize(now, env.slot_index, NodeId(*env.node_id), me);
        }
        let key = flood_key(message);
        self.floodgate.ensure(key, self.ledger);
        let shared: Arc<[u8]> = Arc::from(message);
        if let Some(env) = &scp {
            self.scp_state.insert_decoded(Arc::clone(&shared), env);
        }
        self.flood_shared(now, key, shared)
    }

    /// Queues an encoded flood message for every authenticated peer not known to have it.
    fn flood_shared(&mut self, now: Instant, key: Hash, shared: Arc<[u8]>) -> usize {
        self.metrics.message_broadcast += 1;
        let mut sent = 0;
        let mut told = self.floodgate.told(&key);
        for (id, c) in self.conns.iter_mut() {
            if !c.live_authenticated() || !told.mark_sent(*id) {
                continue;
            }
            if c.peer.send_shared(now, Arc::clone(&shared)).is_ok() {
                sent += 1;
            }
        }
        sent
    }

    /// A transaction the application found invalid (`hash`: SHA-256 of the envelope XDR):
    /// adverts for it are discarded, so it is not demanded from every other peer that
    /// advertises it. The latest [`MAX_REJECTED_TXS`] are kept.
    pub fn reject_transaction(&mut self, hash: Hash) {
        let (set, order) = &mut self.rejected_txs;
        if !set.insert(hash) {
            return;
        }
        order.push_back(hash);
        if order.len() > MAX_REJECTED_TXS
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
    }

    /// Whether `hash` is among the rejected transactions kept.
    pub fn is_rejected_transaction(&self, hash: &Hash) -> bool {
        self.rejected_txs.0.contains(hash)
    }

    /// A transaction the application accepted (`envelope` = TransactionEnvelope XDR): kept
    /// to answer FLOOD_DEMAND and advertised (pull mode, no body pushed) to every
    /// authenticated peer not known to have it. Returns its hash.
    pub fn add_transaction(&mut self, now: Instant, envelope: &[u8]) -> Hash {
        let (hash, key, message) = match self.just_delivered(envelope) {
            Some(known) => known,
            None => {
                let mut message = Vec::with_capacity(4 + envelope.len());
                message.extend_from_slice(&(MessageType::Transaction as i32).to_be_bytes());
                message.extend_from_slice(envelope);
                (sha256(envelope), flood_key(&message), Arc::from(message))
            }
        };
        self.floodgate.ensure(key, self.ledger);
        self.txs.insert(hash, message, self.ledger);
        let cfg = self.config.pull;
        let Overlay {
            conns,
            floodgate,
            demands,
            ..
        } = self;
        for (id, c) in conns.iter_mut() {
            if !c.live_authenticated() || !floodgate.mark_sent(&key, *id) {
                continue;
            }
            let sent = c.state.adverts.send_advert(&cfg, hash, now);
            if sent.is_advertised() {
                demands.metrics_mut().advertised += 1;
            }
            if let SendAdvert::Flush(batch) = sent {
                let _ = c
                    .peer
                    .send(now, &StellarMessage::FloodAdvert(TxHashes::new(&batch)));
            }
        }
        hash
    }

    /// If `envelope` is the transaction just delivered as an event, and its peer still lends
    /// the frame: its SHA-256, floodgate key and StellarMessage bytes, without hashing again.
    fn just_delivered(&mut self, envelope: &[u8]) -> Option<(Hash, Hash, Arc<[u8]>)> {
        let (conn, hash, key) = self.delivered_tx.take()?;
        let m = self.conns.get(&conn)?.peer.last_message()?;
        match m.message {
            StellarMessage::Transaction(e) if e == envelope => Some((hash, key, Arc::from(m.raw))),
            _ => None,
        }
    }

    /// Sends one message to one authenticated peer (a host's own GET_SCP_STATE, a survey
    /// message, ...): flood messages wait for credit, others go out at once.
    pub fn send(
        &mut self,
        now: Instant,
        conn: ConnId,
        message: &StellarMessage<'_>,
    ) -> Result<(), SendError> {
        let c = self.conns.get_mut(&conn).ok_or(SendError::Closed)?;
        c.peer.send(now, message)
    }

    /// `forgetRecord`: the application rejected a flooded message (bad signature, invalid
    /// transaction); a later valid copy may flood again.
    pub fn forget(&mut self, key: &Hash) {
        self.floodgate.forget(key);
    }

    /// Whether the node holds a tx set / quorum set (to serve GET_* and to know what an SCP
    /// envelope still waits for).
    pub fn has_item(&self, kind: ItemKind, hash: &Hash) -> bool {
        match kind {
            ItemKind::TxSet => self.tx_set_store.contains(hash),
            ItemKind::QuorumSet => self.quorum_set_store.contains(hash),
        }
    }

    /// Whether the node holds transaction `hash` (to serve demands).
    pub fn has_transaction(&self, hash: &Hash) -> bool {
        self.txs.contains(hash)
    }

    /// Starts fetching a tx set or quorum set that the envelope `envelope` (its floodgate
    /// key, from [`OverlayEvent::ScpMessage`]) of slot `slot` waits for. Completion comes as
    /// [`OverlayEvent::TxSet`] / [`OverlayEvent::QuorumSet`] listing the waiting envelopes.
    pub fn fetch(
        &mut self,
        now: Instant,
        kind: ItemKind,
        item: Hash,
        envelope: Hash,
        slot: u64,
    ) -> bool {
        let ok = self
            .with_fetcher(kind, |f, peers, rng| {
                f.fetch(item, envelope, slot, now, peers, rng)
            })
            .is_ok();
        self.send_asks(now);
        ok
    }

    /// Stops waiting for `item` on behalf of `envelope`; the fetch stops when nothing waits.
    pub fn stop_fetch(&mut self, kind: ItemKind, item: &Hash, envelope: &Hash) {
        match kind {
            ItemKind::TxSet => self.tx_sets.stop_fetch(item, envelope),
            ItemKind::QuorumSet => self.quorum_sets.stop_fetch(item, envelope),
        };
        self.collect_fetch_events();
    }

    /// Stops fetching for envelopes of slots below `min_slot` or above `max_slot` (either
    /// optional), except `slot_to_keep`'s (stellar-core's herder does this as ledgers
    /// close, `stopFetchingOutsideRange`); items nobody waits for any more are cancelled.
    pub fn stop_fetching_outside_range(
        &mut self,
        min_slot: Option<u64>,
        max_slot: Option<u64>,
        slot_to_keep: u64,
    ) {
        for f in [&mut self.tx_sets, &mut self.quorum_sets] {
            f.stop_fetching_outside_range(min_slot, max_slot, slot_to_keep);
        }
        self.collect_fetch_events();
    }

    /// A fetcher's counters (asks, DONT_HAVEs, timeouts, completions, ...).
    pub fn fetch_metrics(&self, kind: ItemKind) -> &crate::fetch::FetchMetrics {
        match kind {
            ItemKind::TxSet => self.tx_sets.metrics(),
            ItemKind::QuorumSet => self.quorum_sets.metrics(),
        }
    }

    /// Whether `item` is being fetched.
    pub fn is_fetching(&self, kind: ItemKind, item: &Hash) -> bool {
        match kind {
            ItemKind::TxSet => self.tx_sets.is_fetching(item),
            ItemKind::QuorumSet => self.quorum_sets.is_fetching(item),
        }
    }

    /// Sends the asks the fetchers want and reports their cancellations.
    fn send_asks(&mut self, now: Instant) {
        for fetcher in [&mut self.tx_sets, &mut self.quorum_sets] {
            while let Some(ask) = fetcher.poll_ask() {
                let Some(c) = self.conns.get_mut(&ask.conn) else {
                    continue;
                };
                let msg = match ask.kind {
                    ItemKind::TxSet => StellarMessage::GetTxSet(&ask.item),
                    ItemKind::QuorumSet => StellarMessage::GetScpQuorumSet(&ask.item),
                };
                let _ = c.peer.send(now, &msg);
            }
        }
        self.collect_fetch_events();
    }

    fn collect_fetch_events(&mut self) {
        for fetcher in [&mut self.tx_sets, &mut self.quorum_sets] {
            while let Some(FetchEvent::Cancelled { kind, item }) = fetcher.poll_event() {
                push_bounded_event(
                    &mut self.events,
                    &mut self.metrics.events_dropped,
                    OverlayEvent::FetchCancelled { kind, item },
                );
            }
        }
    }

    /// Keeps a tx set (TX_SET or GENERALIZED_TX_SET StellarMessage XDR) to answer
    /// GET_TX_SET for `hash`.
    pub fn provide_tx_set(&mut self, hash: Hash, message: &[u8]) {
        self.tx_set_store
            .insert(hash, Arc::from(message), self.ledger);
    }

    /// Keeps a quorum set (SCP_QUORUMSET StellarMessage XDR) to answer GET_SCP_QUORUMSET.
    pub fn provide_quorum_set(&mut self, hash: Hash, message: &[u8]) {
        self.quorum_set_store
            .insert(hash, Arc::from(message), self.ledger);
    }

    /// `clearLedgersBelow`: forgets floodgate records, transactions and advert histories
    /// from older ledgers.
    pub fn clear_below(&mut self, ledger: u32) {
        self.floodgate.clear_below(ledger);
        self.txs.clear_below(ledger);
        for c in self.conns.values_mut() {
            c.state.adverts.clear_below(ledger);
        }
    }

    /// Tells every peer which SCP slots are still worth sending.
    pub fn set_scp_window(&mut self, window: ScpWindow) {
        for c in self.conns.values_mut() {
            c.peer.set_scp_window(window);
        }
    }

    pub fn floodgate(&self) -> &Floodgate {
        &self.floodgate
    }

    pub fn scp_state(&self) -> &ScpState {
        &self.scp_state
    }

    /// Pull-mode counters (`overlay.flood.advertised`, `demanded`, `fulfilled`, ...).
    pub fn pull_metrics(&self) -> &PullMetrics {
        self.demands.metrics()
    }

    // ----- transmit and timers ----------------------------------------------------------

    /// Bytes to write for one connection: appends them to `out` and returns the connection,
    /// or `None` when no connection has anything to send. Connections are served in turn.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<ConnId> {
        let start = self.transmit_cursor.map_or(ConnId(0), |c| ConnId(c.0 + 1));
        let pick = self
            .conns
            .range(start..)
            .chain(self.conns.range(..start))
            .find(|(_, c)| c.peer.has_output())
            .map(|(id, _)| *id)?;
        self.transmit_cursor = Some(pick);
        let c = self.conns.get_mut(&pick)?;
        c.peer.poll_transmit(now, out);
        Some(pick)
    }

    /// Bytes to write for `conn` (hosts with a writer per connection).
    pub fn transmit(&mut self, now: Instant, conn: ConnId, out: &mut Vec<u8>) -> usize {
        self.conns
            .get_mut(&conn)
            .map_or(0, |c| c.peer.poll_transmit(now, out))
    }

    /// Whether `conn` has bytes to write.
    pub fn has_output(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.peer.has_output())
    }

    /// The earliest deadline: the tick, the demand round, an advert batch, a fetch, or a
    /// connection's timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conns = self
            .conns
            .values()
            .flat_map(|c| [c.peer.poll_timeout(), c.state.adverts.poll_timeout()])
            .flatten();
        let fetch = [self.tx_sets.poll_timeout(), self.quorum_sets.poll_timeout()]
            .into_iter()
            .flatten();
        conns
            .chain(fetch)
            .chain([self.next_tick, self.demands.poll_timeout()])
            .chain(self.survey.poll_timeout())
            .min()
    }

    /// Runs whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        for (id, c) in &mut self.conns {
            if c.peer.poll_timeout().is_some_and(|t| t <= now) {
                c.peer.handle_timeout(now);
                due.push(*id);
            }
            if let Some(batch) = c.state.adverts.take_ready(now) {
                let _ = c
                    .peer
                    .send(now, &StellarMessage::FloodAdvert(TxHashes::new(&batch)));
            }
        }
        for id in due {
            self.mark_ready(id);
        }
        if now >= self.demands.poll_timeout() {
            self.demand(now);
        }
        for kind in [ItemKind::TxSet, ItemKind::QuorumSet] {
            self.with_fetcher(kind, |f, peers, rng| {
                if f.poll_timeout().is_some_and(|t| t <= now) {
                    f.handle_timeout(now, peers, rng);
                }
            });
        }
        self.send_asks(now);
        if self.survey.poll_timeout().is_some_and(|t| t <= now) {
            self.with_survey(|s, host| s.handle_timeout(now, host));
        }
        if now >= self.next_tick {
            self.next_tick = now + self.config.tick_interval;
            self.tick(now);
        }
    }

    /// One demand round (`TxDemandsManager::demand`): FLOOD_DEMANDs for advertised
    /// transactions we do not have.
    fn demand(&mut self, now: Instant) {
        let Overlay {
            conns,
            demands,
            txs,
            rejected_txs,
            rng,
            config,
            ..
        } = self;
        let mut peers: Vec<(NodeId, &mut TxAdverts)> = conns
            .values_mut()
            .filter(|c| c.live_authenticated())
            .filter_map(|c| c.node.map(|n| (n, &mut c.state.adverts)))
            .collect();
        let known = |h: &Hash| txs.contains(h) || rejected_txs.0.contains(h);
        let out = demands.demand(&config.pull, now, &mut peers, known, rng);
        drop(peers);
        for (node, hashes) in out {
            if let Some(c) = conns
                .values_mut()
                .find(|c| c.node == Some(node) && c.live_authenticated())
            {
                let _ = c
                    .peer
                    .send(now, &StellarMessage::FloodDemand(TxHashes::new(&hashes)));
            }
        }
    }

    /// The overlay tick (`OverlayManagerImpl::tick`): forget connections the host never
    /// reported closed, then dial toward the connection targets.
    fn tick(&mut self, now: Instant) {
        let linger = Duration::from_secs(10);
        let stale: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.dropped_at.is_some_and(|t| now - t >= linger) && !c.peer.has_output()
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.remove_conn(id);
        }
        // `updateSurveyPhase`: the collecting and reporting phases time out.
        self.with_survey(|s, host| s.tick(now, host));
        if !self.config.auto_connect {
            return;
        }
        let counts = ConnectionCounts {
            inbound_authenticated: self
                .authenticated()
                .filter(|(_, _, r)| *r == Role::Acceptor)
                .count(),
            outbound_authenticated: self
                .authenticated()
                .filter(|(_, _, r)| *r == Role::Initiator)
                .count(),
            outbound_pending: self.pending(Role::Initiator) + self.dialing.len(),
            outbound_non_preferred: self
                .conns
                .values()
                .filter(|c| c.live_authenticated() && c.role == Role::Initiator && !c.preferred)
                .count(),
        };
        let unix = self.unix(now);
        let states: BTreeMap<SocketAddrV4, Connection> = self
            .conns
            .values()
            .filter(|c| c.dropped_at.is_none())
            .flat_map(|c| {
                [c.dialed, c.peer_address]
                    .into_iter()
                    .flatten()
                    .map(move |a| (a, c.role))
            })
            .fold(BTreeMap::new(), |mut m, (a, role)| {
                let s = if role == Role::Initiator {
                    Connection::Outbound
                } else {
                    Connection::Inbound
                };
                let e = m.entry(a).or_insert(s);
                if s == Connection::Outbound {
                    *e = s;
                }
                m
            });
        // A copy (at most the outbound pending limit): out-of-sync recovery changes `self`.
        let dialing = self.dialing.clone();
        let state = |a: SocketAddrV4| {
            if dialing.contains(&a) {
                Connection::Outbound
            } else {
                states.get(&a).copied().unwrap_or(Connection::NotConnected)
            }
        };
        let limits = self.config.limits;
        let Some(mut tick) = DialTick::new(limits, counts) else {
            return;
        };
        let mut dials = tick.preferred(&mut self.book, unix, &mut self.rng, &state);
        if self.out_of_sync_recovery(now, tick.should_drop_random_peer()) {
            tick.outbound_peer_dropped();
        }
        dials.extend(tick.outbound(&mut self.book, unix, &mut self.rng, &state));
        dials.extend(tick.inbound(&mut self.book, unix, &mut self.rng, &state));
        for a in dials {
            self.connect(now, a);
        }
    }

    /// PROTOCOL §6.5 step 5 (`updateTimerAndMaybeDropRandomPeer`): out of sync for
    /// [`OUT_OF_SYNC_RECONNECT_DELAY`] with every outbound slot taken, the node drops a
    /// random non-preferred outbound peer (ERR_LOAD) in the hope of a better one, at most
    /// once per delay. Returns whether it dropped one.
    fn out_of_sync_recovery(&mut self, now: Instant, should_drop: bool) -> bool {
        if self.synced {
            self.out_of_sync_since = None;
            return false;
        }
        let Some(since) = self.out_of_sync_since else {
            // Give the application's own recovery the delay first.
            self.out_of_sync_since = Some(now);
            return false;
        };
        if now - since <= OUT_OF_SYNC_RECONNECT_DELAY || !should_drop {
            return false;
        }
        self.out_of_sync_since = Some(now);
        let candidates: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.live_authenticated() && c.role == Role::Initiator && !c.preferred)
            .map(|(id, _)| *id)
            .collect();
        if candidates.is_empty() {
            return false;
        }
        let victim = candidates[self.rng.index(candidates.len())];
        self.drop_peer(now, victim, DropReason::OutOfSync);
        true
    }
}

impl Overlay {
    // ----- surveys (PROTOCOL.md §7; see the `survey` module) ----------------------------

    /// Runs `f` on the survey with the rest of the overlay as its host.
    fn with_survey<R>(&mut self, f: impl FnOnce(&mut Survey, &mut dyn SurveyHost) -> R) -> R {
        let mut survey = core::mem::take(&mut self.survey);
        let r = f(&mut survey, self);
        self.survey = survey;
        r
    }

    /// `startsurveycollecting`: floods a signed START_COLLECTING with our tracked ledger and
    /// starts collecting here. Refused while a survey is active on this node.
    pub fn start_survey_collecting(&mut self, now: Instant, nonce: u32) -> Result<(), SurveyError> {
        self.with_survey(|s, host| s.start_collecting(now, host, nonce))
    }

    /// `stopsurveycollecting`: floods a signed STOP_COLLECTING for the active survey's nonce
    /// (we enter the reporting phase if we are collecting it). Refused with no survey.
    pub fn stop_survey_collecting(&mut self, now: Instant) -> Result<(), SurveyError> {
        self.with_survey(|s, host| s.stop_collecting(now, host))
    }

    /// Starts a reporting run: clears the previous results, adds our own data, draws the
    /// run's X25519 key and sends queued requests every `throttle_timeout`. `Ok(false)`: a
    /// run is already going on. Refused outside the reporting phase.
    pub fn start_survey_reporting(&mut self, now: Instant) -> Result<bool, SurveyError> {
        self.with_survey(|s, host| s.start_reporting(now, host))
    }

    /// `stopsurvey`: ends the reporting run and wipes its key; results stay readable.
    pub fn stop_survey_reporting(&mut self) {
        self.survey.stop_reporting();
    }

    /// `surveytopologytimesliced`: starts the reporting run if needed (`Ok(true)`: it was
    /// started now) and queues a request to `node` for its inbound peers from
    /// `inbound_index` and outbound peers from `outbound_index` (25 of each per answer).
    pub fn survey_topology(
        &mut self,
        now: Instant,
        node: NodeId,
        inbound_index: u32,
        outbound_index: u32,
    ) -> Result<bool, SurveyError> {
        self.with_survey(|s, host| {
            let started = s.start_reporting(now, host)?;
            s.add_to_backlog(host, node, inbound_index, outbound_index)?;
            Ok(started)
        })
    }

    /// `getsurveyresult`: the current (or last) reporting run's results.
    pub fn survey_results(&self) -> SurveyResults {
        self.survey.results()
    }

    /// Runs a whole survey from this node ([`SurveyPlan`]): collect, stop, ask every
    /// reachable node page by page, retry silent ones, and finish when nothing new arrives.
    /// Progress comes as [`OverlayEvent::SurveyProgress`], the end as
    /// [`OverlayEvent::SurveyFinished`]; the report is [`Overlay::survey_report`].
    pub fn run_survey(&mut self, now: Instant, plan: SurveyPlan) -> Result<(), SurveyError> {
        self.with_survey(|s, host| s.run(now, host, plan))
    }

    /// Ends a survey run early; the report holds what arrived.
    pub fn cancel_survey_run(&mut self) {
        self.with_survey(|s, host| s.cancel_run(host));
    }

    /// The report of the last finished survey run.
    pub fn survey_report(&self) -> Option<&SurveyReport> {
        self.survey.report()
    }

    /// This node's survey phase.
    pub fn survey_phase(&self) -> SurveyPhase {
        self.survey.phase()
    }

    /// The active survey's nonce and surveyor, if any.
    pub fn survey_active(&self) -> Option<(u32, NodeId)> {
        self.survey.nonce().zip(self.survey.surveyor())
    }

    /// Whether this node is in the reporting phase of the survey with `nonce`.
    pub fn survey_is_reporting(&self, nonce: u32) -> bool {
        self.survey.is_reporting(nonce)
    }

    /// Whether a reporting run is going on.
    pub fn survey_in_progress(&self) -> bool {
        self.survey.run_in_progress()
    }

    /// This node's finalized survey data (reporting phase only).
    pub fn survey_node_data(&self) -> Option<TimeSlicedNodeData> {
        self.survey.final_node_data()
    }

    /// The transitive quorum (the herder's `getCurrentlyTrackedQuorum`): who may survey
    /// this node when `SURVEYOR_KEYS` is empty. The application keeps it current; until it
    /// is set, only allowlisted surveyors (or nobody) are served.
    pub fn set_survey_quorum(&mut self, nodes: impl IntoIterator<Item = NodeId>) {
        self.survey.set_quorum(nodes);
    }

    /// An externalize (`recordSCPExternalizeEvent`): `node` externalized `slot` (ours when
    /// `node` is us). Feeds the p75 first-to-self and self-to-other latencies. EXTERNALIZE
    /// envelopes passed to [`Overlay::broadcast`] are recorded without this call unless
    /// [`SurveyConfig::observe_externalize`] is off; each (slot, node) counts once.
    pub fn record_externalize(&mut self, now: Instant, slot: u64, node: NodeId) {
        let me = self.node_id();
        self.survey.record_externalize(now, slot, node, me);
    }

    /// The node lost sync with the network (the `scp.sync.lost` meter).
    pub fn record_lost_sync(&mut self) {
        self.survey.record_lost_sync();
    }

    /// Whether the node tracks consensus. Out of sync, transaction flooding is dropped
    /// ([`OverlayConfig::tx_flood_needs_sync`]), the tick drops a random outbound peer now
    /// and then (`OUT_OF_SYNC_RECONNECT_DELAY`), and a survey that starts counts one lost
    /// sync, as stellar-core does for a node catching up or acquiring consensus.
    pub fn set_synced(&mut self, synced: bool) {
        self.synced = synced;
        self.survey.set_synced(synced);
    }

    /// Takes part in surveys or not (see [`SurveyConfig::enabled`]).
    pub fn set_surveys_enabled(&mut self, enabled: bool) {
        self.config.survey.enabled = enabled;
    }

    pub fn survey_metrics(&self) -> &SurveyMetrics {
        &self.survey.metrics
    }
}

impl SurveyHost for Overlay {
    fn local(&self) -> &LocalNode {
        &self.local
    }

    fn ledger(&self) -> u32 {
        self.ledger
    }

    fn survey_config(&self) -> &SurveyConfig {
        &self.config.survey
    }

    fn limits(&self) -> &ConnectionLimits {
        &self.config.limits
    }

    fn peers(&self) -> Vec<PeerSnapshot> {
        self.conns
            .values()
            .filter(|c| c.live_authenticated())
            .filter_map(|c| {
                let node = c.node?;
                let p = c.peer.stats();
                Some(PeerSnapshot {
                    node,
                    role: c.role,
                    counters: Counters {
                        messages_read: p.messages_read,
                        messages_written: p.messages_written,
                        bytes_read: p.bytes_read,
                        bytes_written: p.bytes_written,
                        recv: c.state.stats,
                    },
                    connected_at: c.peer.connected_at(),
                    version: c
                        .peer
                        .remote()
                        .map(|r| r.version_str.clone())
                        .unwrap_or_default(),
                    pings: c.peer.ping_samples().collect(),
                })
            })
            .collect()
    }

    fn broadcast(&mut self, now: Instant, message: &[u8]) {
        Overlay::broadcast(self, now, message);
    }

    fn record_flood(&mut self, message: &[u8], from: ConnId) {
        self.floodgate
            .add_record(flood_key(message), from, self.ledger);
    }

    fn drop_peer(&mut self, now: Instant, conn: ConnId, reason: DropReason) {
        Overlay::drop_peer(self, now, conn, reason);
    }

    fn secret32(&mut self) -> [u8; 32] {
        self.nonce()
    }

    fn emit(&mut self, event: OverlayEvent<'static>) {
        self.push_event(event);
    }
}

/// Reads the Closed event a just-closed peer has pending.
fn drain_closed(peer: &mut Peer) -> Option<DropReason> {
    let mut reason = None;
    while let Some(ev) = peer.poll(Instant::ZERO, &mut crate::peer::AcceptAll) {
        if let Event::Closed(r) = ev {
            reason = Some(r);
        }
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{NetworkId, NodeKey};

    fn overlay(config: OverlayConfig) -> Overlay {
        let local = LocalNode::new(
            NodeKey::from_seed([1; 32]),
            NetworkId::from_passphrase("t"),
            [2; 32],
        );
        Overlay::new(
            Arc::new(local),
            config,
            WallClock::new(Instant::ZERO, 1_750_000_000),
            [3; 32],
            Instant::ZERO,
        )
    }

    #[test]
    fn the_ban_list_is_bounded() {
        let mut o = overlay(OverlayConfig::default());
        for i in 0..MAX_BANS as u64 + 10 {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.to_be_bytes());
            let ok = o.ban(Instant::ZERO, NodeId(id));
            assert_eq!(ok, i < MAX_BANS as u64);
        }
        assert_eq!(o.bans().count(), MAX_BANS);
        assert!(o.unban(&NodeId([0; 32])));
    }

    #[test]
    fn rejected_transactions_are_bounded_newest_kept() {
        let mut o = overlay(OverlayConfig::default());
        let hash = |i: u32| {
            let mut h = [0u8; 32];
            h[..4].copy_from_slice(&i.to_be_bytes());
            h
        };
        for i in 0..(MAX_REJECTED_TXS as u32 + 50) {
            o.reject_transaction(hash(i));
            o.reject_transaction(hash(i)); // twice: kept once
        }
        assert_eq!(o.rejected_txs.0.len(), MAX_REJECTED_TXS);
        assert_eq!(o.rejected_txs.1.len(), MAX_REJECTED_TXS);
        assert!(!o.is_rejected_transaction(&hash(49)));
        assert!(o.is_rejected_transaction(&hash(50)));
        assert!(o.is_rejected_transaction(&hash(MAX_REJECTED_TXS as u32 + 49)));
    }

    #[test]
    fn undrained_events_stay_bounded() {
        // A host that never drains and never reports its dials: an hour of ticks with a
        // thousand known peers queues one Connect per dial in flight, no more.
        let mut o = overlay(OverlayConfig::default());
        let peers: Vec<SocketAddrV4> = (0..1000u32)
            .map(|i| SocketAddrV4::new(core::net::Ipv4Addr::from(0x0a00_0000 + i), 11625))
            .collect();
        o.add_config_peers(Instant::ZERO, &peers, false);
        let mut now = Instant::ZERO;
        for _ in 0..1200 {
            now = now + Duration::from_secs(3);
            o.handle_timeout(now);
        }
        let limit = o.config().limits.max_outbound_pending_connections;
        assert_eq!(o.queued_events(), limit);
        // Fetch cancellations past the cap are dropped and counted, never queued.
        let extra = 200;
        for i in 0..(MAX_QUEUED_EVENTS - limit + extra) as u32 {
            let mut item = [0u8; 32];
            item[..4].copy_from_slice(&i.to_be_bytes());
            o.fetch(now, ItemKind::QuorumSet, item, item, 1);
            o.stop_fetch(ItemKind::QuorumSet, &item, &item);
        }
        assert_eq!(o.queued_events(), MAX_QUEUED_EVENTS);
        assert_eq!(o.metrics.events_dropped, extra as u64);
    }

    #[test]
    fn fetches_for_slots_out_of_range_are_cancelled() {
        let mut o = overlay(OverlayConfig::default());
        let now = Instant::ZERO;
        for (i, slot) in [5u64, 10, 20, 30].into_iter().enumerate() {
            let kind = if i % 2 == 0 {
                ItemKind::TxSet
            } else {
                ItemKind::QuorumSet
            };
            assert!(o.fetch(now, kind, [i as u8; 32], [0x80 | i as u8; 32], slot));
        }
        while o.poll_event(now).is_some() {}
        // Below 10 or above 25, but the checkpoint at 30 stays.
        o.stop_fetching_outside_range(Some(10), Some(25), 30);
        let mut cancelled = Vec::new();
        while let Some(ev) = o.poll_event(now) {
            if let OverlayEvent::FetchCancelled { kind, item } = ev {
                cancelled.push((kind, item));
            }
        }
        assert_eq!(cancelled, [(ItemKind::TxSet, [0; 32])]);
        o.stop_fetching_outside_range(Some(25), None, 0);
        let mut cancelled = Vec::new();
        while let Some(ev) = o.poll_event(now) {
            if let OverlayEvent::FetchCancelled { kind, item } = ev {
                cancelled.push((kind, item));
            }
        }
        cancelled.sort();
        assert_eq!(
            cancelled,
            [(ItemKind::TxSet, [2; 32]), (ItemKind::QuorumSet, [1; 32])]
        );
    }

    #[test]
    fn dials_in_flight_are_bounded_by_the_outbound_pending_limit() {
        let mut config = OverlayConfig::default();
        config.limits.max_outbound_pending_connections = 4;
        let mut o = overlay(config);
        let asked: usize = (0..20u8)
            .map(|i| o.connect(Instant::ZERO, SocketAddrV4::new([1, 2, 3, i].into(), 11625)))
            .filter(|ok| *ok)
            .count();
        assert_eq!(asked, 4);
        let mut connects = 0;
        while let Some(ev) = o.poll_event(Instant::ZERO) {
            assert!(matches!(ev, OverlayEvent::Connect(_)));
            connects += 1;
        }
        assert_eq!(connects, 4);
        // A failed dial frees its slot; dialling the same address twice is refused.
        o.handle_connect_failed(
            Instant::ZERO,
            SocketAddr::V4(SocketAddrV4::new([1, 2, 3, 0].into(), 11625)),
        );
        assert!(!o.connect(Instant::ZERO, SocketAddrV4::new([1, 2, 3, 1].into(), 11625)));
        assert!(o.connect(Instant::ZERO, SocketAddrV4::new([1, 2, 3, 9].into(), 11625)));
    }

    #[test]
    fn inbound_pending_connections_are_bounded() {
        let mut config = OverlayConfig::default();
        config.limits.max_inbound_pending_connections = 3;
        let mut o = overlay(config);
        let accepted = (0..10u8)
            .filter_map(|i| o.handle_accept(Instant::ZERO, SocketAddr::from(([9, 9, 9, i], 5000))))
            .count();
        assert_eq!(accepted, 3);
        assert_eq!(o.metrics.inbound_reject, 7);
    }
}
