//! A deterministic network simulator: many [`Overlay`]s driven exactly as hosts drive them,
//! over in-memory links with latency, jitter, bandwidth and loss, on a virtual clock.
//!
//! stellar-core's LoopbackPeer + VirtualClock, made target-independent: every choice comes
//! from one seeded [`Rng`], every collection iterates in key order, and time is integer
//! microseconds, so the same seed gives the same run — and the same [`Network::trace_hash`]
//! — natively and in wasm.
//!
//! Links model TCP: bytes arrive in order; "loss" costs a retransmission timeout instead of
//! losing bytes. The application on each node relays what it receives at once (SCP
//! envelopes are broadcast, transactions added to the pull-mode flood).

use alloc::collections::{BTreeMap, BTreeSet, BinaryHeap};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use core::time::Duration;

use sha2::{Digest, Sha256};

use crate::ConnId;
use crate::auth::Role;
use crate::auth::{LocalNode, NetworkId, NodeId, NodeKey};
use crate::fetch::ItemKind;
use crate::flood::{flood_key, sha256};
use crate::overlay::{Overlay, OverlayConfig, OverlayEvent};
use crate::peer::DropReason;
use crate::rng::Rng;
use crate::survey::{SurveyError, SurveyPlan, SurveyProgress, SurveyReport};
use crate::time::{Instant, WallClock};
use crate::wire::{Hash, MessageType};

/// The passphrase of simulated networks.
pub const SIM_PASSPHRASE: &str = "Simulated Stellar Network";
/// UNIX time at virtual time zero (certs need a wall clock).
pub const SIM_UNIX_START: u64 = 1_750_000_000;
/// Retransmission delay charged for a lost segment.
const RTO: Duration = Duration::from_millis(200);

/// One direction of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkParams {
    pub latency: Duration,
    /// Uniform extra delay in `0..=jitter` (never reorders: TCP delivers in order).
    pub jitter: Duration,
    /// Bytes per second; 0 = unlimited.
    pub bandwidth: u64,
    /// Chance, in parts per million, that a write is delayed by a retransmission.
    pub loss_ppm: u32,
    /// The sender's socket buffer: with a bandwidth set, a node stops writing to the link
    /// while this many bytes wait to be serialized (so its peer queues build up and trim,
    /// as they would behind a slow TCP connection).
    pub send_buffer: u64,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            latency: Duration::from_millis(50),
            jitter: Duration::ZERO,
            bandwidth: 0,
            loss_ppm: 0,
            send_buffer: 64 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Link {
    params: LinkParams,
    up: bool,
    /// When the sender's side of the pipe is free again (bandwidth).
    free_at: Instant,
    /// The last delivery time scheduled (TCP order).
    last_delivery: Instant,
    bytes: u64,
    writes: u64,
}

/// Simulation settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub overlay: OverlayConfig,
    pub link: LinkParams,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            overlay: OverlayConfig::default(),
            link: LinkParams::default(),
        }
    }
}

/// What the application on a node saw.
#[derive(Debug, Clone, Default)]
pub struct NodeStats {
    /// Flood keys of SCP envelopes received (or originated), with the first time.
    pub scp_seen: BTreeMap<Hash, Instant>,
    /// Transaction hashes received (or originated), with the first time.
    pub tx_seen: BTreeMap<Hash, Instant>,
    /// Tx sets and quorum sets fetched, in order, with when.
    pub items_fetched: Vec<Hash>,
    pub fetches_cancelled: Vec<Hash>,
    pub authenticated: u64,
    pub dropped: u64,
    pub last_drop: Option<DropReason>,
    /// Progress events of survey runs started on this node.
    pub survey_progress: Vec<SurveyProgress>,
    /// (nonce, responded, missing) of each survey run that finished on this node.
    pub surveys_finished: Vec<(u32, usize, usize)>,
}

/// A simulated node.
#[derive(Debug)]
pub struct SimNode {
    pub overlay: Overlay,
    pub address: SocketAddr,
    pub alive: bool,
    pub stats: NodeStats,
    /// The application finds every transaction invalid ([`Overlay::reject_transaction`]).
    pub rejects_transactions: bool,
    /// The connection timer armed in the event queue.
    timer: Option<Instant>,
    key_seed: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SimEvent {
    /// Bytes reach `node`'s connection `conn`.
    Deliver {
        node: usize,
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// A dial from `from` reaches `to`.
    Dial {
        from: usize,
        to: usize,
    },
    /// The remote end of `conn` on `node` closed the transport.
    Close {
        node: usize,
        conn: ConnId,
    },
    Timer {
        node: usize,
    },
    /// A node's link has room in its send buffer again.
    Writable {
        node: usize,
    },
    /// The network closes a ledger: every node tracks the next one.
    Ledger,
}

/// One frame put on a link (recorded on request, see [`Network::record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRecord {
    /// When its write started onto the link, and when it reaches the other end.
    pub sent: Instant,
    pub arrive: Instant,
    pub from: u32,
    pub to: u32,
    /// The `StellarMessage` type (`MessageType` discriminant; -1 if unreadable).
    pub message_type: i32,
    /// The frame's size on the wire (record mark included).
    pub bytes: u32,
}

/// A node saw an SCP message (by flood key) or a transaction (by hash) for the first time,
/// or originated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenRecord {
    pub at: Instant,
    pub node: u32,
    pub item: Hash,
    pub scp: bool,
}

/// What [`Network::take_records`] hands over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    pub frames: Vec<FrameRecord>,
    pub seen: Vec<SeenRecord>,
    /// Records not kept because the buffers were full.
    pub lost: u64,
}

#[derive(Debug, Default)]
struct Recorder {
    capacity: usize,
    frames: Vec<FrameRecord>,
    seen: Vec<SeenRecord>,
    lost: u64,
}

impl Recorder {
    /// Splits one write into its frames (a write holds whole frames: record mark, then
    /// `AuthenticatedMessage` v0 = version, sequence, `StellarMessage` type, ...).
    fn frames(&mut self, sent: Instant, arrive: Instant, from: usize, to: usize, buf: &[u8]) {
        let mut at = 0;
        while at + 4 <= buf.len() {
            let mark = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
            let len = (mark & 0x7fff_ffff) as usize;
            let message_type = buf
                .get(at + 16..at + 20)
                .map_or(-1, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            if self.frames.len() < self.capacity {
                self.frames.push(FrameRecord {
                    sent,
                    arrive,
                    from: from as u32,
                    to: to as u32,
                    message_type,
                    bytes: (len + 4) as u32,
                });
            } else {
                self.lost += 1;
            }
            at += 4 + len;
        }
    }
}

/// One simulated network.
#[derive(Debug)]
pub struct Network {
    config: SimConfig,
    now: Instant,
    rng: Rng,
    network_id: NetworkId,
    pub nodes: Vec<SimNode>,
    by_address: BTreeMap<SocketAddr, usize>,
    links: BTreeMap<(usize, usize), Link>,
    /// Connection ends: (node, conn) → (remote node, remote conn).
    ends: BTreeMap<(usize, ConnId), (usize, ConnId)>,
    queue: BinaryHeap<Reverse<(Instant, u64, SimEvent)>>,
    /// How many nodes have seen each SCP message / transaction (kept as they first see it,
    /// so completion checks are cheap), and how many items every node has seen.
    reach: BTreeMap<Hash, usize>,
    everywhere: usize,
    /// Connections a partition cut, (dialler, dialled), re-dialled on heal.
    cut: Vec<(usize, usize)>,
    /// The ledger every node tracks, and how often it advances (`None`: it does not).
    ledger: u32,
    ledger_interval: Option<Duration>,
    seq: u64,
    trace: Sha256,
    /// What visualisers asked to see ([`Network::record`]); never part of the trace.
    recorder: Option<Recorder>,
    /// Frames-carrying writes delivered.
    pub deliveries: u64,
    /// Simulation events processed.
    pub events: u64,
    buf: Vec<u8>,
}

fn node_address(i: usize) -> SocketAddr {
    // Public-looking addresses (1.x.y.z): stellar-core filters private ones from PEERS.
    let i = i as u32 + 1;
    SocketAddr::V4(SocketAddrV4::new(
        Ipv4Addr::new(1, (i >> 16) as u8, (i >> 8) as u8, i as u8),
        11625,
    ))
}

impl Network {
    pub fn new(config: SimConfig) -> Self {
        Network {
            rng: Rng::from_u64(config.seed),
            config,
            now: Instant::ZERO,
            network_id: NetworkId::from_passphrase(SIM_PASSPHRASE),
            nodes: Vec::new(),
            by_address: BTreeMap::new(),
            links: BTreeMap::new(),
            ends: BTreeMap::new(),
            queue: BinaryHeap::new(),
            cut: Vec::new(),
            ledger: 0,
            ledger_interval: None,
            reach: BTreeMap::new(),
            everywhere: 0,
            seq: 0,
            trace: Sha256::new(),
            recorder: None,
            deliveries: 0,
            events: 0,
            buf: Vec::with_capacity(1 << 16),
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn network_id(&self) -> NetworkId {
        self.network_id
    }

    /// Adds a node with a fresh identity drawn from the simulation's seed.
    pub fn add_node(&mut self) -> usize {
        self.add_node_with(|_| {})
    }

    /// Adds a node whose overlay settings `tweak` adjusts (known or preferred peers, limits).
    pub fn add_node_with(&mut self, tweak: impl FnOnce(&mut OverlayConfig)) -> usize {
        let key_seed = self.rng.bytes32();
        let i = self.nodes.len();
        let mut config = self.config.overlay.clone();
        tweak(&mut config);
        let mut overlay = self.make_overlay(key_seed, i, config);
        overlay.set_ledger(self.ledger);
        let address = node_address(i);
        self.by_address.insert(address, i);
        self.nodes.push(SimNode {
            overlay,
            address,
            alive: true,
            stats: NodeStats::default(),
            rejects_transactions: false,
            timer: None,
            key_seed,
        });
        self.arm(i);
        i
    }

    /// The address node `i` listens on (known before the node is added).
    pub fn address(i: usize) -> SocketAddrV4 {
        match node_address(i) {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
        }
    }

    fn make_overlay(&mut self, key_seed: [u8; 32], index: usize, config: OverlayConfig) -> Overlay {
        let mut local = LocalNode::new(
            NodeKey::from_seed(key_seed),
            self.network_id,
            self.rng.bytes32(),
        );
        local.listening_port = node_address(index).port();
        let clock = WallClock::new(Instant::ZERO, SIM_UNIX_START);
        Overlay::new(Arc::new(local), config, clock, self.rng.bytes32(), self.now)
    }

    pub fn node_id(&self, i: usize) -> NodeId {
        self.nodes[i].overlay.node_id()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn link(&mut self, a: usize, b: usize) -> &mut Link {
        let params = self.config.link;
        let now = self.now;
        self.links.entry((a, b)).or_insert(Link {
            params,
            up: true,
            free_at: now,
            last_delivery: now,
            bytes: 0,
            writes: 0,
        })
    }

    /// Sets both directions of the link between `a` and `b`.
    pub fn set_link(&mut self, a: usize, b: usize, params: LinkParams) {
        self.link(a, b).params = params;
        self.link(b, a).params = params;
    }

    /// Bytes carried from `a` to `b` so far.
    pub fn link_bytes(&self, a: usize, b: usize) -> u64 {
        self.links.get(&(a, b)).map_or(0, |l| l.bytes)
    }

    fn push(&mut self, at: Instant, ev: SimEvent) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, ev)));
    }

    /// Makes `from` dial `to` now.
    pub fn connect(&mut self, from: usize, to: usize) {
        let at = self.now + self.link(from, to).params.latency;
        self.push(at, SimEvent::Dial { from, to });
    }

    // ----- topologies --------------------------------------------------------------------

    /// `n` nodes, every pair connected.
    pub fn full_mesh(&mut self, n: usize) {
        let base = self.nodes.len();
        for _ in 0..n {
            self.add_node();
        }
        for a in base..base + n {
            for b in a + 1..base + n {
                self.connect(a, b);
            }
        }
    }

    /// `n` nodes in a ring.
    pub fn ring(&mut self, n: usize) {
        let base = self.nodes.len();
        for _ in 0..n {
            self.add_node();
        }
        for a in 0..n {
            self.connect(base + a, base + (a + 1) % n);
        }
    }

    /// `n` nodes, each with degree `k` (`n·k` even), by a seeded configuration-model draw
    /// repeated until the graph is simple and connected.
    pub fn random_regular(&mut self, n: usize, k: usize) -> Vec<(usize, usize)> {
        let base = self.nodes.len();
        for _ in 0..n {
            self.add_node();
        }
        let edges = loop {
            if let Some(edges) = self.try_regular(n, k)
                && connected(n, &edges)
            {
                break edges;
            }
        };
        for &(a, b) in &edges {
            self.connect(base + a, base + b);
        }
        edges
            .into_iter()
            .map(|(a, b)| (base + a, base + b))
            .collect()
    }

    /// One attempt at a simple k-regular graph: pairs random free stubs of different,
    /// not yet adjacent nodes (Steger–Wormald); gives up if it gets stuck.
    fn try_regular(&mut self, n: usize, k: usize) -> Option<Vec<(usize, usize)>> {
        let mut stubs: Vec<usize> = (0..n).flat_map(|i| core::iter::repeat_n(i, k)).collect();
        let mut edges = BTreeSet::new();
        while !stubs.is_empty() {
            let mut paired = false;
            for _ in 0..100 {
                let i = self.rng.index(stubs.len());
                let j = self.rng.index(stubs.len());
                let (a, b) = (stubs[i].min(stubs[j]), stubs[i].max(stubs[j]));
                if i == j || a == b || edges.contains(&(a, b)) {
                    continue;
                }
                edges.insert((a, b));
                let (hi, lo) = (i.max(j), i.min(j));
                stubs.swap_remove(hi);
                stubs.swap_remove(lo);
                paired = true;
                break;
            }
            if !paired {
                return None;
            }
        }
        Some(edges.into_iter().collect())
    }

    /// A Stellar-like tiered graph: `validators` fully meshed, each of `watchers` connected
    /// to `per_watcher` random validators. Returns the validators' indices.
    pub fn tiered(&mut self, validators: usize, watchers: usize, per_watcher: usize) -> Vec<usize> {
        let base = self.nodes.len();
        self.full_mesh(validators);
        let core: Vec<usize> = (base..base + validators).collect();
        for _ in 0..watchers {
            let w = self.add_node();
            let mut picks = core.clone();
            self.rng.shuffle(&mut picks);
            for &v in picks.iter().take(per_watcher.min(validators)) {
                self.connect(w, v);
            }
        }
        core
    }

    // ----- scenario actions ------------------------------------------------------------

    /// `node` signs a NOMINATE for `slot` and floods it. Returns its flood key.
    pub fn inject_scp(&mut self, node: usize, slot: u64) -> Hash {
        let key = NodeKey::from_seed(self.nodes[node].key_seed);
        let msg = nominate(&key, &self.network_id, slot);
        let k = flood_key(&msg);
        let now = self.now;
        if self.nodes[node].stats.scp_seen.insert(k, now).is_none() {
            self.count_reach(k);
            self.record_seen(node, k, true);
        }
        self.nodes[node].overlay.broadcast(now, &msg);
        self.service(node);
        k
    }

    /// `node` externalizes `slot`: it signs an EXTERNALIZE and floods it (surveys time
    /// externalizes from such envelopes). Returns its flood key.
    pub fn inject_externalize(&mut self, node: usize, slot: u64) -> Hash {
        let key = NodeKey::from_seed(self.nodes[node].key_seed);
        let msg = externalize(&key, &self.network_id, slot);
        let k = flood_key(&msg);
        let now = self.now;
        if self.nodes[node].stats.scp_seen.insert(k, now).is_none() {
            self.count_reach(k);
            self.record_seen(node, k, true);
        }
        self.nodes[node].overlay.broadcast(now, &msg);
        self.service(node);
        k
    }

    /// `node` receives transaction `i` from a client and floods it. Returns its hash.
    pub fn inject_tx(&mut self, node: usize, i: u64) -> Hash {
        let env = transaction_envelope(&self.node_id(node), i);
        let h = sha256(&env);
        let now = self.now;
        if self.nodes[node].stats.tx_seen.insert(h, now).is_none() {
            self.count_reach(h);
            self.record_seen(node, h, false);
        }
        self.nodes[node].overlay.add_transaction(now, &env);
        self.service(node);
        h
    }

    /// Takes the links between the two groups down and closes their connections.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        self.partition_silently(a, b);
        let cut: Vec<(usize, ConnId, usize, ConnId)> = self
            .ends
            .iter()
            .filter(|((n, _), (m, _))| {
                (a.contains(n) && b.contains(m)) || (b.contains(n) && a.contains(m))
            })
            .map(|((n, c), (m, d))| (*n, *c, *m, *d))
            .collect();
        for (n, c, m, d) in cut {
            let dialled = self.nodes[n]
                .overlay
                .connections()
                .any(|(id, role, _)| id == c && role == Role::Initiator);
            if dialled {
                self.cut.push((n, m));
            }
            self.ends.remove(&(n, c));
            self.ends.remove(&(m, d));
            let now = self.now;
            self.nodes[n].overlay.handle_closed(now, c);
            self.service(n);
        }
    }

    /// Takes the links between the two groups down but leaves the connections open, as a
    /// network that stops carrying packets does: what the nodes write waits in their
    /// output (TCP's buffers) until [`Network::heal`] or the peers' own timers drop them.
    pub fn partition_silently(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.link(x, y).up = false;
                self.link(y, x).up = false;
            }
        }
    }

    /// Brings every link back up (what waited on them is sent) and re-dials the connections
    /// a partition cut.
    pub fn heal(&mut self) {
        for l in self.links.values_mut() {
            l.up = true;
        }
        for node in 0..self.nodes.len() {
            if self.nodes[node].alive {
                self.flush(node);
            }
        }
        for (a, b) in core::mem::take(&mut self.cut) {
            self.connect(a, b);
        }
    }

    /// Stops a node: its connections close on the other ends.
    pub fn kill(&mut self, node: usize) {
        self.nodes[node].alive = false;
        let mine: Vec<(ConnId, usize, ConnId)> = self
            .ends
            .iter()
            .filter(|((n, _), _)| *n == node)
            .map(|((_, c), (m, d))| (*c, *m, *d))
            .collect();
        for (c, m, d) in mine {
            self.ends.remove(&(node, c));
            self.ends.remove(&(m, d));
            let at = self.now + self.link(node, m).params.latency;
            self.push(at, SimEvent::Close { node: m, conn: d });
        }
    }

    /// Restarts a stopped node with the same identity and an empty state.
    pub fn restart(&mut self, node: usize) {
        let seed = self.nodes[node].key_seed;
        let config = self.nodes[node].overlay.config().clone();
        self.nodes[node].overlay = self.make_overlay(seed, node, config);
        self.nodes[node].overlay.set_ledger(self.ledger);
        self.nodes[node].alive = true;
        self.nodes[node].timer = None;
        self.arm(node);
    }

    /// `node` fetches a tx set or quorum set for the envelope `envelope` of `slot`.
    pub fn fetch(&mut self, node: usize, kind: ItemKind, item: Hash, envelope: Hash, slot: u64) {
        let now = self.now;
        self.nodes[node]
            .overlay
            .fetch(now, kind, item, envelope, slot);
        self.service(node);
    }

    /// `node` stops waiting for `item` on behalf of `envelope`.
    pub fn stop_fetch(&mut self, node: usize, kind: ItemKind, item: Hash, envelope: Hash) {
        self.nodes[node].overlay.stop_fetch(kind, &item, &envelope);
        self.service(node);
    }

    /// `node` sends one message (StellarMessage XDR) to its authenticated peer `to`.
    pub fn send(&mut self, node: usize, to: usize, message: &[u8]) -> bool {
        let Some(conn) = self.nodes[node].overlay.conn_of(&self.node_id(to)) else {
            return false;
        };
        let Ok(msg) = crate::wire::StellarMessage::decode(message) else {
            return false;
        };
        let now = self.now;
        let ok = self.nodes[node].overlay.send(now, conn, &msg).is_ok();
        self.service(node);
        ok
    }

    /// `node` bans `target` (dropping any connection to it).
    pub fn ban(&mut self, node: usize, target: usize) {
        let id = self.node_id(target);
        let now = self.now;
        self.nodes[node].overlay.ban(now, id);
        self.service(node);
    }

    // ----- ledgers and surveys ----------------------------------------------------------

    /// The ledger every node tracks.
    pub fn ledger(&self) -> u32 {
        self.ledger
    }

    /// Sets the ledger every node tracks.
    pub fn set_ledger(&mut self, ledger: u32) {
        self.ledger = ledger;
        for n in self.nodes.iter_mut().filter(|n| n.alive) {
            n.overlay.set_ledger(ledger);
        }
    }

    /// Closes a ledger every `interval` from now on (every node tracks the next one), as
    /// surveys need: their messages carry the ledger and limits are per ledger.
    pub fn close_ledgers_every(&mut self, interval: Duration) {
        let first = self.ledger_interval.is_none();
        self.ledger_interval = Some(interval);
        if first {
            let at = self.now + interval;
            self.push(at, SimEvent::Ledger);
        }
    }

    /// Node `i`'s identity key (to forge messages it signed).
    pub fn node_key(&self, i: usize) -> NodeKey {
        NodeKey::from_seed(self.nodes[i].key_seed)
    }

    /// Makes `surveyors` the transitive quorum of every node: they may survey anyone.
    pub fn set_survey_quorum(&mut self, surveyors: &[usize]) {
        let ids: Vec<NodeId> = surveyors.iter().map(|i| self.node_id(*i)).collect();
        for n in &mut self.nodes {
            n.overlay.set_survey_quorum(ids.iter().copied());
        }
    }

    /// Makes `node` ignore survey messages (neither answered nor relayed), like a node
    /// that does not implement surveys.
    pub fn ignore_surveys(&mut self, node: usize, ignore: bool) {
        self.nodes[node].overlay.set_surveys_enabled(!ignore);
    }

    /// `node` starts a survey's collecting phase.
    pub fn start_survey_collecting(&mut self, node: usize, nonce: u32) -> Result<(), SurveyError> {
        let now = self.now;
        let r = self.nodes[node].overlay.start_survey_collecting(now, nonce);
        self.service(node);
        r
    }

    /// `node` stops the collecting phase of its survey.
    pub fn stop_survey_collecting(&mut self, node: usize) -> Result<(), SurveyError> {
        let now = self.now;
        let r = self.nodes[node].overlay.stop_survey_collecting(now);
        self.service(node);
        r
    }

    /// `node` asks `target` for its peers from the given indices (`surveytopologytimesliced`).
    pub fn survey_topology(
        &mut self,
        node: usize,
        target: NodeId,
        inbound_index: u32,
        outbound_index: u32,
    ) -> Result<bool, SurveyError> {
        let now = self.now;
        let r =
            self.nodes[node]
                .overlay
                .survey_topology(now, target, inbound_index, outbound_index);
        self.service(node);
        r
    }

    /// `node` starts a whole survey run.
    pub fn start_survey(&mut self, node: usize, plan: SurveyPlan) -> Result<(), SurveyError> {
        let now = self.now;
        let r = self.nodes[node].overlay.run_survey(now, plan);
        self.service(node);
        r
    }

    /// Runs a whole survey from `node` to its report, for at most `limit` of virtual time.
    /// Ledgers must be closing ([`Network::close_ledgers_every`]; 5 s if they were not).
    /// Shorten [`crate::survey::SurveyConfig::throttle_timeout`] and the plan's times to
    /// run it faster; with stellar-core's timings a 40-node survey takes a few minutes.
    pub fn run_survey(
        &mut self,
        node: usize,
        plan: SurveyPlan,
        limit: Duration,
    ) -> Result<Option<SurveyReport>, SurveyError> {
        if self.ledger_interval.is_none() {
            self.close_ledgers_every(Duration::from_secs(5));
        }
        let nonce = plan.nonce;
        let before = self.nodes[node].stats.surveys_finished.len();
        self.start_survey(node, plan)?;
        let done = self.run_while_not(limit, |n| {
            n.nodes[node].stats.surveys_finished[before..]
                .iter()
                .any(|f| f.0 == nonce)
        });
        Ok(done
            .then(|| self.nodes[node].overlay.survey_report().cloned())
            .flatten())
    }

    // ----- running -----------------------------------------------------------------------

    /// Runs until virtual time `until` (events at exactly `until` included).
    pub fn run_until(&mut self, until: Instant) {
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > until {
                break;
            }
            let Some(Reverse((at, _, ev))) = self.queue.pop() else {
                break;
            };
            self.now = at;
            self.events += 1;
            self.handle(ev);
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs until `done` holds or `limit` passes; returns whether `done` held. `done` is
    /// checked every millisecond of virtual time (a check can be costly), so the run stops
    /// at most 1 ms after the condition became true.
    pub fn run_while_not(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Network) -> bool,
    ) -> bool {
        let until = self.now + limit;
        let step = Duration::from_millis(1);
        loop {
            if done(self) {
                return true;
            }
            if self.now >= until {
                return false;
            }
            let next = match self.queue.peek() {
                Some(Reverse((at, _, _))) => (*at).max(self.now + step).min(until),
                None => return done(self),
            };
            self.run_until(next);
        }
    }

    fn handle(&mut self, ev: SimEvent) {
        let now = self.now;
        match ev {
            SimEvent::Deliver { node, conn, bytes } => {
                if !self.nodes[node].alive {
                    return;
                }
                self.deliveries += 1;
                self.trace.update(now.as_micros().to_be_bytes());
                self.trace.update((node as u32).to_be_bytes());
                self.trace.update((bytes.len() as u32).to_be_bytes());
                // The bytes themselves: two runs (or targets) agree on every frame sent,
                // MACs included, not only on sizes and what the applications saw.
                self.trace.update(&bytes);
                let mut data = &bytes[..];
                while !data.is_empty() {
                    let took = self.nodes[node].overlay.handle_input(now, conn, data);
                    data = &data[took..];
                    self.service(node);
                    if took == 0 {
                        break;
                    }
                }
            }
            SimEvent::Dial { from, to } => {
                let up = self.links.get(&(from, to)).is_none_or(|l| l.up);
                if !up || !self.nodes[to].alive || !self.nodes[from].alive {
                    let addr = self.nodes[to].address;
                    self.nodes[from].overlay.handle_connect_failed(now, addr);
                    self.service(from);
                    return;
                }
                let from_addr = SocketAddr::V4(SocketAddrV4::new(
                    match self.nodes[from].address {
                        SocketAddr::V4(a) => *a.ip(),
                        SocketAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                    },
                    40000 + (self.seq % 20000) as u16,
                ));
                let Some(acc) = self.nodes[to].overlay.handle_accept(now, from_addr) else {
                    let addr = self.nodes[to].address;
                    self.nodes[from].overlay.handle_connect_failed(now, addr);
                    self.service(from);
                    return;
                };
                let to_addr = self.nodes[to].address;
                let ini = self.nodes[from].overlay.handle_connected(now, to_addr);
                self.ends.insert((from, ini), (to, acc));
                self.ends.insert((to, acc), (from, ini));
                self.service(from);
                self.service(to);
            }
            SimEvent::Close { node, conn } => {
                if self.nodes[node].alive {
                    self.nodes[node].overlay.handle_closed(now, conn);
                    self.service(node);
                }
            }
            SimEvent::Writable { node } => {
                if self.nodes[node].alive {
                    self.service(node);
                }
            }
            SimEvent::Ledger => {
                let ledger = self.ledger + 1;
                self.set_ledger(ledger);
                if let Some(every) = self.ledger_interval {
                    self.push(now + every, SimEvent::Ledger);
                }
            }
            SimEvent::Timer { node } => {
                if self.nodes[node].timer != Some(now) || !self.nodes[node].alive {
                    return;
                }
                self.nodes[node].timer = None;
                self.nodes[node].overlay.handle_timeout(now);
                self.service(node);
            }
        }
    }

    /// Drains a node as a host does: events (the application's reactions), transmits
    /// (onto links), then re-arms its timer.
    fn service(&mut self, node: usize) {
        let now = self.now;
        loop {
            let mut reached = None;
            let mut reached_scp = false;
            let mut relay_scp = None;
            let mut relay_tx = None;
            let mut closed = None;
            let mut dial = None;
            {
                let n = &mut self.nodes[node];
                let Some(ev) = n.overlay.poll_event(now) else {
                    break;
                };
                self.trace.update([event_tag(&ev)]);
                match ev {
                    OverlayEvent::ScpMessage { message, .. } => {
                        let k = flood_key(message);
                        self.trace.update(k);
                        if n.stats.scp_seen.insert(k, now).is_none() {
                            reached = Some(k);
                            reached_scp = true;
                            relay_scp = Some(message.to_vec());
                        }
                    }
                    OverlayEvent::Transaction { hash, envelope, .. } => {
                        self.trace.update(hash);
                        if n.stats.tx_seen.insert(hash, now).is_none() {
                            reached = Some(hash);
                            relay_tx = Some((hash, envelope.to_vec()));
                        }
                    }
                    OverlayEvent::PeerAuthenticated { .. } => n.stats.authenticated += 1,
                    OverlayEvent::PeerDropped { conn, reason, .. } => {
                        n.stats.dropped += 1;
                        n.stats.last_drop = Some(reason);
                        closed = Some(conn);
                    }
                    OverlayEvent::Connect(addr) => dial = Some(addr),
                    OverlayEvent::TxSet { hash, .. } | OverlayEvent::QuorumSet { hash, .. } => {
                        self.trace.update(hash);
                        n.stats.items_fetched.push(hash);
                    }
                    OverlayEvent::FetchCancelled { item, .. } => {
                        self.trace.update(item);
                        n.stats.fetches_cancelled.push(item);
                    }
                    OverlayEvent::Message { .. } => {}
                    OverlayEvent::SurveyProgress(p) => n.stats.survey_progress.push(p),
                    OverlayEvent::SurveyFinished {
                        nonce,
                        responded,
                        missing,
                    } => n.stats.surveys_finished.push((nonce, responded, missing)),
                }
            }
            if let Some(h) = reached {
                self.count_reach(h);
                self.record_seen(node, h, reached_scp);
            }
            if let Some(m) = relay_scp {
                self.nodes[node].overlay.broadcast(now, &m);
            }
            if let Some((hash, env)) = relay_tx {
                let n = &mut self.nodes[node];
                if n.rejects_transactions {
                    n.overlay.reject_transaction(hash);
                } else {
                    n.overlay.add_transaction(now, &env);
                }
            }
            if let Some(addr) = dial {
                match self.by_address.get(&addr) {
                    Some(&to) => self.connect(node, to),
                    None => self.nodes[node].overlay.handle_connect_failed(now, addr),
                }
            }
            if let Some(conn) = closed {
                // Flush the final bytes, then close both ends.
                self.flush(node);
                if let Some((m, d)) = self.ends.remove(&(node, conn)) {
                    self.ends.remove(&(m, d));
                    let at = self.now + self.link(node, m).params.latency;
                    self.push(at, SimEvent::Close { node: m, conn: d });
                }
                self.nodes[node].overlay.handle_closed(now, conn);
            }
        }
        self.flush(node);
        self.arm(node);
    }

    /// Moves the pending writes of `node` onto its links, as far as each link's send
    /// buffer has room; a full link wakes the node again when it drains.
    fn flush(&mut self, node: usize) {
        let now = self.now;
        let conns: Vec<(ConnId, usize, ConnId)> = self
            .ends
            .range((node, ConnId(0))..(node + 1, ConnId(0)))
            .map(|(&(_, c), &(to, d))| (c, to, d))
            .collect();
        let mut wake: Option<Instant> = None;
        for (conn, to, to_conn) in conns {
            while self.nodes[node].overlay.has_output(conn) {
                let link = self.link(node, to);
                if !link.up {
                    break;
                }
                let params = link.params;
                let backlog = match params.bandwidth {
                    0 => 0,
                    bw => {
                        (link.free_at.saturating_since(now).as_micros() as u64).saturating_mul(bw)
                            / 1_000_000
                    }
                };
                if backlog >= params.send_buffer {
                    // Writable again once the buffer has drained below its size.
                    let drain = params.send_buffer.saturating_mul(1_000_000) / params.bandwidth;
                    let at = Instant::from_micros(link.free_at.as_micros().saturating_sub(drain))
                        .max(now + Duration::from_micros(1));
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                    break;
                }
                let mut buf = core::mem::take(&mut self.buf);
                buf.clear();
                self.nodes[node].overlay.transmit(now, conn, &mut buf);
                if buf.is_empty() {
                    self.buf = buf;
                    break;
                }
                self.schedule_write(node, to, to_conn, buf);
            }
        }
        if let Some(at) = wake {
            self.push(at, SimEvent::Writable { node });
        }
    }

    /// Puts one write on the link `node → to`: serialization at the link's bandwidth, then
    /// latency, jitter and an occasional retransmission, never reordering.
    fn schedule_write(&mut self, node: usize, to: usize, to_conn: ConnId, buf: Vec<u8>) {
        let now = self.now;
        let jitter = self.link(node, to).params.jitter;
        let loss = self.rng.below(1_000_000) < u64::from(self.link(node, to).params.loss_ppm);
        let extra = if jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_micros(self.rng.below(jitter.as_micros() as u64 + 1))
        };
        let link = self.link(node, to);
        let start = link.free_at.max(now);
        let serialize = match link.params.bandwidth {
            0 => Duration::ZERO,
            bw => Duration::from_micros(buf.len() as u64 * 1_000_000 / bw),
        };
        link.free_at = start + serialize;
        let mut at = link.free_at + link.params.latency + extra;
        if loss {
            at = at + RTO;
        }
        at = at.max(link.last_delivery);
        link.last_delivery = at;
        link.bytes += buf.len() as u64;
        link.writes += 1;
        if let Some(r) = self.recorder.as_mut() {
            r.frames(start, at, node, to, &buf);
        }
        self.buf = Vec::with_capacity(buf.len().max(1024));
        self.push(
            at,
            SimEvent::Deliver {
                node: to,
                conn: to_conn,
                bytes: buf,
            },
        );
    }

    fn arm(&mut self, node: usize) {
        if !self.nodes[node].alive {
            return;
        }
        let Some(t) = self.nodes[node].overlay.poll_timeout() else {
            return;
        };
        let t = t.max(self.now);
        if self.nodes[node]
            .timer
            .is_none_or(|cur| t < cur || cur < self.now)
        {
            self.nodes[node].timer = Some(t);
            self.push(t, SimEvent::Timer { node });
        }
    }

    /// SHA-256 over every delivery (time, node, size) and every application event, in order.
    pub fn trace_hash(&self) -> Hash {
        self.trace.clone().finalize().into()
    }

    /// How many nodes have seen the SCP message with flood key `k`.
    pub fn scp_reach(&self, k: &Hash) -> usize {
        self.reach.get(k).copied().unwrap_or(0)
    }

    /// How many nodes have the transaction `h`.
    pub fn tx_reach(&self, h: &Hash) -> usize {
        self.reach.get(h).copied().unwrap_or(0)
    }

    /// How many SCP messages and transactions every node has seen.
    pub fn everywhere(&self) -> usize {
        self.everywhere
    }

    // ----- recording (for visualisers) ----------------------------------------------------

    /// Starts recording every frame put on a link and every first sighting of an SCP
    /// message or transaction, keeping at most `capacity` of each until
    /// [`Network::take_records`] (later ones are counted, not kept). 0 stops recording.
    /// Recording draws no randomness and feeds nothing into the trace: the run, and
    /// [`Network::trace_hash`], are the same with or without it.
    pub fn record(&mut self, capacity: usize) {
        self.recorder = (capacity > 0).then(|| Recorder {
            capacity,
            ..Recorder::default()
        });
    }

    /// What was recorded since the last call (see [`Network::record`]).
    pub fn take_records(&mut self) -> Records {
        match self.recorder.as_mut() {
            Some(r) => Records {
                frames: core::mem::take(&mut r.frames),
                seen: core::mem::take(&mut r.seen),
                lost: core::mem::take(&mut r.lost),
            },
            None => Records::default(),
        }
    }

    fn record_seen(&mut self, node: usize, item: Hash, scp: bool) {
        let at = self.now;
        if let Some(r) = self.recorder.as_mut() {
            if r.seen.len() < r.capacity {
                r.seen.push(SeenRecord {
                    at,
                    node: node as u32,
                    item,
                    scp,
                });
            } else {
                r.lost += 1;
            }
        }
    }

    /// Node pairs `(a, b)`, `a < b`, that are connected or have a dial on the way (the
    /// edges a topology builder made, before the handshakes finish).
    pub fn dialled_pairs(&self) -> Vec<(usize, usize)> {
        let pending = self
            .queue
            .iter()
            .filter_map(|Reverse((_, _, ev))| match ev {
                SimEvent::Dial { from, to } => Some((*from, *to)),
                _ => None,
            });
        let open = self
            .ends
            .keys()
            .zip(self.ends.values())
            .map(|(a, b)| (a.0, b.0));
        let set: BTreeSet<(usize, usize)> = pending
            .chain(open)
            .map(|(a, b)| (a.min(b), a.max(b)))
            .collect();
        set.into_iter().collect()
    }

    /// Every open connection: (node, its connection, the remote node).
    pub fn connection_ends(&self) -> impl Iterator<Item = (usize, ConnId, usize)> + '_ {
        self.ends.iter().map(|(&(n, c), &(m, _))| (n, c, m))
    }

    fn count_reach(&mut self, h: Hash) {
        let n = self.reach.entry(h).or_insert(0);
        *n += 1;
        if *n == self.nodes.len() {
            self.everywhere += 1;
        }
    }
}

fn event_tag(ev: &OverlayEvent<'_>) -> u8 {
    match ev {
        OverlayEvent::Connect(_) => 1,
        OverlayEvent::PeerAuthenticated { .. } => 2,
        OverlayEvent::PeerDropped { .. } => 3,
        OverlayEvent::ScpMessage { .. } => 4,
        OverlayEvent::Transaction { .. } => 5,
        OverlayEvent::Message { .. } => 6,
        OverlayEvent::TxSet { .. } => 7,
        OverlayEvent::QuorumSet { .. } => 8,
        OverlayEvent::FetchCancelled { .. } => 9,
        OverlayEvent::SurveyProgress(_) => 10,
        OverlayEvent::SurveyFinished { .. } => 11,
    }
}

fn connected(n: usize, edges: &[(usize, usize)]) -> bool {
    let mut adj = alloc::vec![Vec::new(); n];
    for &(a, b) in edges {
        adj[a].push(b);
        adj[b].push(a);
    }
    let mut seen = alloc::vec![false; n];
    let mut stack = alloc::vec![0];
    while let Some(x) = stack.pop() {
        if core::mem::replace(&mut seen[x], true) {
            continue;
        }
        stack.extend(adj[x].iter().copied().filter(|y| !seen[*y]));
    }
    seen.iter().all(|s| *s)
}

/// A signed NOMINATE SCP_MESSAGE (StellarMessage XDR) from `key` for `slot`.
pub fn nominate(key: &NodeKey, network: &NetworkId, slot: u64) -> Vec<u8> {
    let mut st = Vec::with_capacity(128);
    st.extend_from_slice(&0u32.to_be_bytes());
    st.extend_from_slice(&key.node_id().0);
    st.extend_from_slice(&slot.to_be_bytes());
    st.extend_from_slice(&3i32.to_be_bytes()); // NOMINATE
    st.extend_from_slice(&[0; 32]); // quorum set hash
    st.extend_from_slice(&1u32.to_be_bytes()); // one vote: SHA-256 of the slot
    st.extend_from_slice(&32u32.to_be_bytes());
    st.extend_from_slice(&sha256(&slot.to_be_bytes()));
    st.extend_from_slice(&0u32.to_be_bytes()); // nothing accepted
    signed_scp_message(key, network, &st)
}

/// The SCP_MESSAGE (StellarMessage XDR) carrying statement `st` (SCPStatement XDR) signed by
/// `key` over the network ID, ENVELOPE_TYPE_SCP and the statement, as SCP signs envelopes.
fn signed_scp_message(key: &NodeKey, network: &NetworkId, st: &[u8]) -> Vec<u8> {
    let mut signed = Vec::with_capacity(36 + st.len());
    signed.extend_from_slice(&network.0);
    signed.extend_from_slice(&1i32.to_be_bytes()); // ENVELOPE_TYPE_SCP
    signed.extend_from_slice(st);
    let sig = key.sign(&signed);
    let mut msg = Vec::from((MessageType::ScpMessage as i32).to_be_bytes());
    msg.extend_from_slice(st);
    msg.extend_from_slice(&64u32.to_be_bytes());
    msg.extend_from_slice(&sig);
    msg
}

/// A signed EXTERNALIZE SCP_MESSAGE (StellarMessage XDR) from `key` for `slot`, committing
/// the SHA-256 of the slot number with ballot counter 1.
pub fn externalize(key: &NodeKey, network: &NetworkId, slot: u64) -> Vec<u8> {
    let mut st = Vec::with_capacity(128);
    st.extend_from_slice(&0u32.to_be_bytes());
    st.extend_from_slice(&key.node_id().0);
    st.extend_from_slice(&slot.to_be_bytes());
    st.extend_from_slice(&2i32.to_be_bytes()); // EXTERNALIZE
    st.extend_from_slice(&1u32.to_be_bytes()); // commit.counter
    st.extend_from_slice(&32u32.to_be_bytes()); // commit.value
    st.extend_from_slice(&sha256(&slot.to_be_bytes()));
    st.extend_from_slice(&1u32.to_be_bytes()); // nH
    st.extend_from_slice(&[0; 32]); // commitQuorumSetHash
    signed_scp_message(key, network, &st)
}

/// A well-formed v1 TransactionEnvelope XDR from `source` with `seqNum = i`, a MEMO_HASH of
/// `i` and one BUMP_SEQUENCE operation (about 200 bytes, like a simple payment).
pub fn transaction_envelope(source: &NodeId, i: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(200);
    v.extend_from_slice(&2i32.to_be_bytes()); // ENVELOPE_TYPE_TX
    v.extend_from_slice(&0u32.to_be_bytes()); // MuxedAccount ed25519
    v.extend_from_slice(&source.0);
    v.extend_from_slice(&100u32.to_be_bytes()); // fee
    v.extend_from_slice(&i.to_be_bytes()); // seqNum
    v.extend_from_slice(&0u32.to_be_bytes()); // PRECOND_NONE
    v.extend_from_slice(&3u32.to_be_bytes()); // MEMO_HASH
    v.extend_from_slice(&sha256(&i.to_be_bytes()));
    v.extend_from_slice(&1u32.to_be_bytes()); // one operation
    v.extend_from_slice(&0u32.to_be_bytes()); // no source account
    v.extend_from_slice(&11i32.to_be_bytes()); // BUMP_SEQUENCE
    v.extend_from_slice(&i.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes()); // ext v0
    v.extend_from_slice(&1u32.to_be_bytes()); // one signature (hint + 64 bytes, unchecked here)
    v.extend_from_slice(&source.0[28..]);
    v.extend_from_slice(&64u32.to_be_bytes());
    v.extend_from_slice(&[0x5a; 64]);
    v
}
