//! The peer book and the connection-management rules around it: what stellar-core's
//! `PeerManager` and `RandomPeerSource` keep in the `peers` table, the connection limits
//! `Config::adjust` derives, and the admission and dialling decisions of
//! `OverlayManagerImpl` (PROTOCOL.md §6).
//!
//! Nothing here owns a connection. The node-level overlay keeps the connection table and
//! calls in at these points (core's order):
//! - start-up: [`PeerBook::store_config_peers`] for KNOWN_PEERS then PREFERRED_PEERS with
//!   `startup = true`, then [`PeerBook::purge_dead_peers`], then the first tick;
//! - DNS results of KNOWN_PEERS/PREFERRED_PEERS (the overlay resolves, every 600 s):
//!   [`PeerBook::store_config_peers`] with `startup = false`;
//! - TCP accept: [`ConnectionLimits::accept_inbound_pending`];
//! - before every dial (tick or `/connect`): [`PeerBook::dialing`] (INCREASE);
//! - HELLO accepted (PROTOCOL §2.7 step 11): [`PeerBook::observed_in_hello`];
//! - AUTH of a peer we dialled: [`PeerBook::outbound_authenticated`] (RESET), then
//!   [`admit_authenticated`];
//! - PEERS: [`PeerBook::peers_to_send`] (acceptor, after its AUTH) and
//!   [`PeerBook::recv_peers`] (initiator);
//! - any connection removed: [`PeerBook::peer_removed`];
//! - every tick: [`DialTick`] (or [`plan_dials`]). The out-of-sync random disconnect
//!   (PROTOCOL §6.5 step 5) needs the herder's tracking state, so the overlay does it
//!   between [`DialTick::preferred`] and [`DialTick::outbound`], guided by
//!   [`DialTick::should_drop_random_peer`].
//!
//! Time in the book is UNIX seconds (`nextattempt` is persisted); randomness comes from the
//! caller's [`Rng`], so every choice is reproducible from the seed.
//!
//! Bounds: [`MemoryPeerStore`] holds at most its capacity ([`DEFAULT_PEER_STORE_CAPACITY`]);
//! each of the book's five random sources caches at most [`RANDOM_PEERS_BATCH`] addresses;
//! a dial query returns at most [`MAX_DIALS_PER_TYPE`], PEERS carries at most
//! [`MAX_PEERS_TO_SEND`], at most [`MAX_RECEIVED_PEERS_PROCESSED`] received entries are
//! looked at, and a [`DialTick`] plans at most `3 × MAX_DIALS_PER_TYPE` dials.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::auth::Role;
use crate::rng::Rng;
use crate::wire::{PEERS_MAX, PeerAddress};

/// Rows with at least this many failures are deleted (`Config::REALLY_DEAD_NUM_FAILURES_CUTOFF`);
/// dial candidates may have at most this many.
pub const REALLY_DEAD_NUM_FAILURES_CUTOFF: u32 = 120;
/// Only peers with at most this many failures are gossiped in PEERS (`PeerManager.cpp`).
pub const MAX_FAILURES_TO_SEND: u32 = 10;
/// Addresses per PEERS message we send (`Peer::sendPeers`; XDR would allow 100).
pub const MAX_PEERS_TO_SEND: usize = 50;
/// Dials per peer type per query, so one tick cannot open a flood of sockets
/// (`OverlayManagerImpl::getPeersToConnectTo`).
pub const MAX_DIALS_PER_TYPE: usize = 50;
/// Rows a random source loads at once and caches (`PeerManager.cpp` `BATCH_SIZE`).
pub const RANDOM_PEERS_BATCH: usize = 1000;
/// Back-off unit: `backoff(n)` is drawn from `1..=2^min(n, 10) × 10` seconds.
pub const SECONDS_PER_BACKOFF: u32 = 10;
/// Back-off stops growing after this many failures (1–10 240 s).
pub const MAX_BACKOFF_EXPONENT: u32 = 10;
/// A node with no authenticated inbound peer only aims for this many outbound ones, and
/// TARGET_PEER_CONNECTIONS is capped at MAX_ADDITIONAL / 3 + 3 (`OverlayManager.h`).
pub const MIN_INBOUND_FACTOR: usize = 3;
/// Extra inbound pending slots for IPs of configured preferred peers (`Config.h`).
pub const POSSIBLY_PREFERRED_EXTRA: usize = 2;
/// Outbound pending slots the tick keeps free for promoting inbound peers.
pub const RESERVED_FOR_PROMOTION: usize = 1;
/// Received PEERS entries looked at per message (the XDR bound, so a decoded message never
/// exceeds it; this bounds callers that pass other iterators).
pub const MAX_RECEIVED_PEERS_PROCESSED: usize = PEERS_MAX;
/// Default capacity of a [`MemoryPeerStore`].
pub const DEFAULT_PEER_STORE_CAPACITY: usize = 50_000;

// ---------------------------------------------------------------------------------------
// Addresses

/// 10/8, 172.16/12 and 192.168/16: never gossiped nor learned (`PeerBareAddress::isPrivate`).
pub fn is_private(ip: Ipv4Addr) -> bool {
    let v = u32::from(ip);
    v >> 24 == 10 || v >> 20 == 0xAC1 || v >> 16 == 0xC0A8
}

/// Any loopback address (127/8). stellar-core compares the string "127.0.0.1"
/// (`PeerBareAddress::isLocalhost`), so it would learn 127.0.0.2 from PEERS and later dial
/// its own host; we treat the whole block as localhost (a deliberate difference: only what
/// a node stores and dials changes, nothing on the wire).
pub fn is_localhost(ip: Ipv4Addr) -> bool {
    ip.is_loopback()
}

/// Addresses that can never be a peer: 0/8 ("this network": dialling 0.0.0.0 reaches the
/// local host), multicast (224/4) and reserved space (240/4, including the broadcast
/// 255.255.255.255). stellar-core learns them from PEERS; we skip them (a deliberate
/// difference, as for [`is_localhost`]).
pub fn is_unroutable(ip: Ipv4Addr) -> bool {
    ip.octets()[0] == 0 || ip.is_multicast() || ip.octets()[0] >= 240
}

/// The IPv4 form of an address, unmapping `::ffff:a.b.c.d` (core keys peers by IPv4 only).
fn ipv4_of(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

/// Test-network switches that relax the address filters of PEERS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    /// `ALLOW_LOCALHOST_FOR_TESTING`: learn 127.0.0.1 from PEERS.
    pub allow_localhost: bool,
    /// `ALLOW_PRIVATE_ADDRESSES_FOR_TESTING` (stellar-core master, test builds only): send
    /// and learn private addresses. Lets simulations run on 10/8.
    pub allow_private: bool,
}

// ---------------------------------------------------------------------------------------
// Records and storage

/// A row's `type` column; the discriminants are the integers stellar-core stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum PeerType {
    /// Only heard of (PEERS) or seen connecting to us.
    Inbound = 0,
    /// We connected to it, or it is in KNOWN_PEERS.
    Outbound = 1,
    /// In PREFERRED_PEERS.
    Preferred = 2,
}

impl PeerType {
    /// The value of the `type` column.
    pub fn as_db(self) -> i32 {
        self as i32
    }

    /// Parses the `type` column; `None` for values core never writes.
    pub fn from_db(v: i64) -> Option<Self> {
        match v {
            0 => Some(PeerType::Inbound),
            1 => Some(PeerType::Outbound),
            2 => Some(PeerType::Preferred),
            _ => None,
        }
    }
}

/// One row of the `peers` table, keyed by `address` (IP and listening port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRecord {
    pub address: SocketAddrV4,
    /// UNIX seconds before which the address is not dialled.
    pub next_attempt: u64,
    pub num_failures: u32,
    pub peer_type: PeerType,
}

impl PeerRecord {
    /// What core assumes for an address it has no row for (`PeerManager::load`).
    fn fresh(address: SocketAddrV4, now: u64) -> Self {
        PeerRecord {
            address,
            next_attempt: now,
            num_failures: 0,
            peer_type: PeerType::Inbound,
        }
    }
}

/// Which types a [`PeerQuery`] matches (core's `PeerTypeFilter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerTypeFilter {
    /// `type = t`.
    Only(PeerType),
    /// `type != INBOUND`.
    AnyOutbound,
}

/// A `WHERE` clause over the `peers` table (core's `PeerQuery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerQuery {
    /// `nextattempt <= t`.
    pub next_attempt_at_most: Option<u64>,
    /// `numfailures <= n`.
    pub max_failures: Option<u32>,
    pub peer_type: PeerTypeFilter,
}

impl PeerQuery {
    /// Whether a row satisfies the clause; stores should use it (or its SQL equivalent).
    pub fn matches(&self, r: &PeerRecord) -> bool {
        let type_ok = match self.peer_type {
            PeerTypeFilter::Only(t) => r.peer_type == t,
            PeerTypeFilter::AnyOutbound => r.peer_type != PeerType::Inbound,
        };
        type_ok
            && self
                .next_attempt_at_most
                .is_none_or(|t| r.next_attempt <= t)
            && self.max_failures.is_none_or(|n| r.num_failures <= n)
    }
}

/// Where the peer book lives. The native host implements it over stellar-core's `peers`
/// table; [`MemoryPeerStore`] keeps it in memory. Synchronous on purpose: the book is
/// consulted inside the overlay's event handling. A backend error is reported through the
/// return values (`None`, `false`, empty) and the book carries on, as core does.
pub trait PeerStore {
    fn get(&self, address: SocketAddrV4) -> Option<PeerRecord>;
    /// Inserts or replaces the row; `false` if it could not be stored.
    fn put(&mut self, record: PeerRecord) -> bool;
    /// Deletes the row; `true` if there was one.
    fn remove(&mut self, address: SocketAddrV4) -> bool;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `SELECT COUNT(*) FROM peers WHERE query`.
    fn count(&self, query: &PeerQuery) -> usize;
    /// `SELECT ip, port FROM peers WHERE query LIMIT limit OFFSET offset`, in a stable order.
    fn load(&self, query: &PeerQuery, offset: usize, limit: usize) -> Vec<SocketAddrV4>;
    /// `DELETE FROM peers WHERE numfailures >= min_failures [AND ip = ip]`; returns how
    /// many rows went.
    fn remove_with_many_failures(&mut self, min_failures: u32, ip: Option<Ipv4Addr>) -> usize;
}

impl<T: PeerStore + ?Sized> PeerStore for Box<T> {
    fn get(&self, address: SocketAddrV4) -> Option<PeerRecord> {
        (**self).get(address)
    }
    fn put(&mut self, record: PeerRecord) -> bool {
        (**self).put(record)
    }
    fn remove(&mut self, address: SocketAddrV4) -> bool {
        (**self).remove(address)
    }
    fn len(&self) -> usize {
        (**self).len()
    }
    fn count(&self, query: &PeerQuery) -> usize {
        (**self).count(query)
    }
    fn load(&self, query: &PeerQuery, offset: usize, limit: usize) -> Vec<SocketAddrV4> {
        (**self).load(query, offset, limit)
    }
    fn remove_with_many_failures(&mut self, min_failures: u32, ip: Option<Ipv4Addr>) -> usize {
        (**self).remove_with_many_failures(min_failures, ip)
    }
}

/// Eviction order of [`MemoryPeerStore`]: the least useful row sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EvictionKey {
    peer_type: PeerType,
    failures: Reverse<u32>,
    next_attempt: Reverse<u64>,
    address: SocketAddrV4,
}

impl EvictionKey {
    fn of(r: &PeerRecord) -> Self {
        EvictionKey {
            peer_type: r.peer_type,
            failures: Reverse(r.num_failures),
            next_attempt: Reverse(r.next_attempt),
            address: r.address,
        }
    }
}

/// An in-memory [`PeerStore`] (ordered by address, so it is deterministic) holding at most
/// `capacity` rows.
///
/// Eviction when full: a new address replaces the least useful row — INBOUND before
/// OUTBOUND before PREFERRED, then most failures, then latest `nextattempt`, then address —
/// only if the newcomer is strictly more useful by (type, fewer failures). Otherwise the
/// newcomer is refused. So gossip cannot push out addresses we dialled or were configured
/// with, a full book of fresh gossip stays stable, and dead gossip makes room as its failures
/// grow. Updates of rows already present always succeed.
#[derive(Debug, Clone)]
pub struct MemoryPeerStore {
    rows: BTreeMap<SocketAddrV4, PeerRecord>,
    eviction: BTreeSet<EvictionKey>,
    capacity: usize,
}

impl Default for MemoryPeerStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryPeerStore {
    /// A store of [`DEFAULT_PEER_STORE_CAPACITY`] rows.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_PEER_STORE_CAPACITY)
    }

    pub fn with_capacity(capacity: usize) -> Self {
        MemoryPeerStore {
            rows: BTreeMap::new(),
            eviction: BTreeSet::new(),
            capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// All rows in address order.
    pub fn iter(&self) -> impl Iterator<Item = &PeerRecord> {
        self.rows.values()
    }

    fn remove_row(&mut self, address: SocketAddrV4) -> Option<PeerRecord> {
        let old = self.rows.remove(&address)?;
        self.eviction.remove(&EvictionKey::of(&old));
        Some(old)
    }
}

impl PeerStore for MemoryPeerStore {
    fn get(&self, address: SocketAddrV4) -> Option<PeerRecord> {
        self.rows.get(&address).copied()
    }

    fn put(&mut self, record: PeerRecord) -> bool {
        if self.remove_row(record.address).is_none() && self.rows.len() >= self.capacity {
            let Some(victim) = self.eviction.first().copied() else {
                return false; // capacity 0
            };
            let newcomer = (record.peer_type, Reverse(record.num_failures));
            if newcomer <= (victim.peer_type, victim.failures) {
                return false;
            }
            self.remove_row(victim.address);
        }
        self.eviction.insert(EvictionKey::of(&record));
        self.rows.insert(record.address, record);
        true
    }

    fn remove(&mut self, address: SocketAddrV4) -> bool {
        self.remove_row(address).is_some()
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn count(&self, query: &PeerQuery) -> usize {
        self.rows.values().filter(|r| query.matches(r)).count()
    }

    fn load(&self, query: &PeerQuery, offset: usize, limit: usize) -> Vec<SocketAddrV4> {
        self.rows
            .values()
            .filter(|r| query.matches(r))
            .skip(offset)
            .take(limit)
            .map(|r| r.address)
            .collect()
    }

    fn remove_with_many_failures(&mut self, min_failures: u32, ip: Option<Ipv4Addr>) -> usize {
        let doomed: Vec<SocketAddrV4> = self
            .rows
            .values()
            .filter(|r| r.num_failures >= min_failures && ip.is_none_or(|ip| *r.address.ip() == ip))
            .map(|r| r.address)
            .collect();
        for a in &doomed {
            self.remove_row(*a);
        }
        doomed.len()
    }
}

// ---------------------------------------------------------------------------------------
// Back-off and type rules

/// Core's `BackOffUpdate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackOffUpdate {
    /// Configured peers at start-up: 0 failures, dial now.
    HardReset,
    /// Completed outbound handshake: 0 failures, `nextattempt = now + backoff(0)`.
    Reset,
    /// Every outbound dial: one more failure, `nextattempt = now + backoff(failures)`.
    Increase,
}

/// Seconds to wait after `num_failures` failures: `(rand32 mod (2^min(n,10) × 10)) + 1`,
/// keeping core's modulo so the distribution is the same.
pub fn backoff(num_failures: u32, rng: &mut Rng) -> u64 {
    let exponent = num_failures.min(MAX_BACKOFF_EXPONENT);
    let span = (1u32 << exponent) * SECONDS_PER_BACKOFF;
    u64::from(rng.next_u32() % span) + 1
}

/// Core's `getTypeUpdate` + `update(PeerRecord&, TypeUpdate)`: the stored type after the
/// peer was observed as `observed`. `preferred_type_known` is false when the observation
/// cannot tell "not preferred" apart from "unknown" (config lists).
pub fn updated_type(stored: PeerType, observed: PeerType, preferred_type_known: bool) -> PeerType {
    match observed {
        PeerType::Preferred => PeerType::Preferred,
        PeerType::Outbound if stored == PeerType::Preferred && preferred_type_known => {
            PeerType::Outbound
        }
        // Upgrade INBOUND; keep OUTBOUND and (possibly) PREFERRED.
        PeerType::Outbound => stored.max(PeerType::Outbound),
        // Demote PREFERRED only.
        PeerType::Inbound => stored.min(PeerType::Outbound),
    }
}

// ---------------------------------------------------------------------------------------
// Random sources

/// Core's `RandomPeerSource`: a cached, shuffled window of rows matching one query, handed
/// out front first. Cached addresses are not re-checked against the book (as in core);
/// the window is reloaded only when it holds fewer than asked for.
#[derive(Debug, Clone)]
struct RandomPeerSource {
    peer_type: PeerTypeFilter,
    max_failures: u32,
    use_next_attempt: bool,
    cache: VecDeque<SocketAddrV4>,
}

impl RandomPeerSource {
    /// Dial candidates: exact type, due, at most 120 failures.
    fn dial(t: PeerType) -> Self {
        RandomPeerSource {
            peer_type: PeerTypeFilter::Only(t),
            max_failures: REALLY_DEAD_NUM_FAILURES_CUTOFF,
            use_next_attempt: true,
            cache: VecDeque::new(),
        }
    }

    /// PEERS material: at most 10 failures, due or not.
    fn send(peer_type: PeerTypeFilter) -> Self {
        RandomPeerSource {
            peer_type,
            max_failures: MAX_FAILURES_TO_SEND,
            use_next_attempt: false,
            cache: VecDeque::new(),
        }
    }

    fn take<S: PeerStore + ?Sized>(
        &mut self,
        store: &S,
        size: usize,
        now: u64,
        rng: &mut Rng,
        mut keep: impl FnMut(SocketAddrV4) -> bool,
    ) -> Vec<SocketAddrV4> {
        let size = size.min(RANDOM_PEERS_BATCH);
        if size == 0 {
            return Vec::new();
        }
        if self.cache.len() < size {
            let query = PeerQuery {
                next_attempt_at_most: self.use_next_attempt.then_some(now),
                max_failures: Some(self.max_failures),
                peer_type: self.peer_type,
            };
            self.cache = load_random(store, &query, rng).into();
        }
        let mut out = Vec::new();
        // Addresses looked at leave the cache whether kept or not.
        while out.len() < size {
            let Some(a) = self.cache.pop_front() else {
                break;
            };
            if keep(a) {
                out.push(a);
            }
        }
        out
    }
}

/// Core's `loadRandomPeers`: a window of [`RANDOM_PEERS_BATCH`] matching rows at a uniform
/// random offset, shuffled.
fn load_random<S: PeerStore + ?Sized>(
    store: &S,
    query: &PeerQuery,
    rng: &mut Rng,
) -> Vec<SocketAddrV4> {
    let count = store.count(query);
    if count == 0 {
        return Vec::new();
    }
    let max_offset = count.saturating_sub(RANDOM_PEERS_BATCH);
    let offset = rng.index(max_offset.saturating_add(1));
    let mut rows = store.load(query, offset, RANDOM_PEERS_BATCH);
    rows.truncate(RANDOM_PEERS_BATCH); // a store returning more must not break the bound
    rng.shuffle(&mut rows);
    rows
}

// ---------------------------------------------------------------------------------------
// The book

/// What [`PeerBook::ensure_exists`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    Added,
    AlreadyKnown,
    /// The store refused the row (full or failing).
    Refused,
}

/// Why a received PEERS entry was skipped, in the order core checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeersSkip {
    /// Port 0 or above 65535.
    BadPort,
    Ipv6,
    Private,
    /// Equal to (the sender's IP, our PEER_PORT).
    SelfAddress,
    /// 127/8 without `allow_localhost`.
    Localhost,
    /// 0/8, multicast or reserved ([`is_unroutable`]).
    Unroutable,
}

/// Tally of one received PEERS message, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecvPeersOutcome {
    pub added: usize,
    pub already_known: usize,
    /// Acceptable but not stored (store full or failing).
    pub refused: usize,
    pub bad_port: usize,
    pub ipv6: usize,
    pub private: usize,
    pub self_address: usize,
    pub localhost: usize,
    pub unroutable: usize,
}

impl RecvPeersOutcome {
    /// Entries dropped by the filters.
    pub fn skipped(&self) -> usize {
        self.bad_port
            + self.ipv6
            + self.private
            + self.self_address
            + self.localhost
            + self.unroutable
    }
}

/// Checks one received PEERS entry as `Peer::recvPeers` does; `sender_ip` is the remote's
/// socket IP and `peer_port` our PEER_PORT. The received `numFailures` plays no part.
pub fn classify_received_peer(
    entry: &PeerAddress,
    sender_ip: IpAddr,
    peer_port: u16,
    policy: AddressPolicy,
) -> Result<SocketAddrV4, PeersSkip> {
    let port = match u16::try_from(entry.port) {
        Ok(p) if p != 0 => p,
        _ => return Err(PeersSkip::BadPort),
    };
    let IpAddr::V4(ip) = entry.ip else {
        return Err(PeersSkip::Ipv6);
    };
    let address = SocketAddrV4::new(ip, port);
    if is_unroutable(ip) {
        Err(PeersSkip::Unroutable)
    } else if is_private(ip) && !policy.allow_private {
        Err(PeersSkip::Private)
    } else if ipv4_of(sender_ip) == Some(ip) && port == peer_port {
        Err(PeersSkip::SelfAddress)
    } else if is_localhost(ip) && !policy.allow_localhost {
        Err(PeersSkip::Localhost)
    } else {
        Ok(address)
    }
}

/// The peer book: stellar-core's `PeerManager` rules over a [`PeerStore`], with its random
/// sources for dialling and for PEERS.
#[derive(Debug)]
pub struct PeerBook<S: PeerStore> {
    store: S,
    policy: AddressPolicy,
    dial_inbound: RandomPeerSource,
    dial_outbound: RandomPeerSource,
    dial_preferred: RandomPeerSource,
    send_outbound: RandomPeerSource,
    send_inbound: RandomPeerSource,
}

impl<S: PeerStore> PeerBook<S> {
    pub fn new(store: S) -> Self {
        Self::with_policy(store, AddressPolicy::default())
    }

    pub fn with_policy(store: S, policy: AddressPolicy) -> Self {
        PeerBook {
            store,
            policy,
            dial_inbound: RandomPeerSource::dial(PeerType::Inbound),
            dial_outbound: RandomPeerSource::dial(PeerType::Outbound),
            dial_preferred: RandomPeerSource::dial(PeerType::Preferred),
            send_outbound: RandomPeerSource::send(PeerTypeFilter::AnyOutbound),
            send_inbound: RandomPeerSource::send(PeerTypeFilter::Only(PeerType::Inbound)),
        }
    }

    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    pub fn into_store(self) -> S {
        self.store
    }

    pub fn get(&self, address: SocketAddrV4) -> Option<PeerRecord> {
        self.store.get(address)
    }

    fn load(&self, address: SocketAddrV4, now: u64) -> PeerRecord {
        self.store
            .get(address)
            .unwrap_or_else(|| PeerRecord::fresh(address, now))
    }

    /// Stores an address as INBOUND with 0 failures, due now, unless it is known.
    /// Port 0 is refused (the table requires 1..=65535).
    pub fn ensure_exists(&mut self, address: SocketAddrV4, now: u64) -> Ensured {
        if self.store.get(address).is_some() {
            Ensured::AlreadyKnown
        } else if address.port() != 0 && self.store.put(PeerRecord::fresh(address, now)) {
            Ensured::Added
        } else {
            Ensured::Refused
        }
    }

    /// Records that the peer was observed as `observed` (PROTOCOL §6.2), creating the row
    /// if needed. Returns whether it was stored.
    pub fn update_type(
        &mut self,
        address: SocketAddrV4,
        observed: PeerType,
        preferred_type_known: bool,
        now: u64,
    ) -> bool {
        let mut r = self.load(address, now);
        r.peer_type = updated_type(r.peer_type, observed, preferred_type_known);
        self.put(r)
    }

    /// Applies a back-off update, creating the row if needed. Returns whether it was stored.
    pub fn update_backoff(
        &mut self,
        address: SocketAddrV4,
        update: BackOffUpdate,
        now: u64,
        rng: &mut Rng,
    ) -> bool {
        let mut r = self.load(address, now);
        apply_backoff(&mut r, update, now, rng);
        self.put(r)
    }

    fn put(&mut self, r: PeerRecord) -> bool {
        r.address.port() != 0 && self.store.put(r)
    }

    /// Before every outbound dial (tick or `/connect`): INCREASE. A dial counts as a failure
    /// until the handshake completes.
    pub fn dialing(&mut self, address: SocketAddrV4, now: u64, rng: &mut Rng) -> bool {
        self.update_backoff(address, BackOffUpdate::Increase, now, rng)
    }

    /// AUTH received from a peer we dialled: RESET. Core does this before admission, so a
    /// peer rejected for lack of room still gets its failures cleared.
    pub fn outbound_authenticated(
        &mut self,
        address: SocketAddrV4,
        now: u64,
        rng: &mut Rng,
    ) -> bool {
        self.update_backoff(address, BackOffUpdate::Reset, now, rng)
    }

    /// HELLO accepted (`Peer::updatePeerRecordAfterEcho`): the observed type is PREFERRED if
    /// the address is a configured preferred peer (keys are not considered before AUTH),
    /// else OUTBOUND if we dialled, else INBOUND; the preferred status counts as known.
    pub fn observed_in_hello(
        &mut self,
        address: SocketAddrV4,
        role: Role,
        is_preferred: bool,
        now: u64,
    ) -> bool {
        let observed = if is_preferred {
            PeerType::Preferred
        } else if role == Role::Initiator {
            PeerType::Outbound
        } else {
            PeerType::Inbound
        };
        self.update_type(address, observed, true, now)
    }

    /// Stores KNOWN_PEERS (`preferred = false`, type OUTBOUND) or PREFERRED_PEERS
    /// (`preferred = true`) as resolved (`OverlayManagerImpl::storePeerList`). At start-up
    /// the rows are also HARD_RESET; later (DNS refresh) only the type is updated, which
    /// never demotes a preferred row. Returns how many rows were stored.
    pub fn store_config_peers(
        &mut self,
        addresses: &[SocketAddrV4],
        preferred: bool,
        startup: bool,
        now: u64,
    ) -> usize {
        let observed = if preferred {
            PeerType::Preferred
        } else {
            PeerType::Outbound
        };
        let mut stored = 0;
        for &address in addresses {
            let mut r = self.load(address, now);
            r.peer_type = updated_type(r.peer_type, observed, false);
            if startup {
                r.num_failures = 0;
                r.next_attempt = now;
            }
            if self.put(r) {
                stored += 1;
            }
        }
        stored
    }

    /// Start-up purge of rows with ≥ 120 failures.
    pub fn purge_dead_peers(&mut self) -> usize {
        self.store
            .remove_with_many_failures(REALLY_DEAD_NUM_FAILURES_CUTOFF, None)
    }

    /// A connection to `address` was removed: delete rows of that IP (any port, as core's
    /// query has no port) with ≥ 120 failures.
    pub fn peer_removed(&mut self, address: SocketAddrV4) -> usize {
        self.store
            .remove_with_many_failures(REALLY_DEAD_NUM_FAILURES_CUTOFF, Some(*address.ip()))
    }

    /// Up to `min(max, 50)` random rows of exactly `peer_type` with `nextattempt ≤ now` and
    /// at most 120 failures, for which `keep` holds (the overlay passes "not connected",
    /// or "connected inbound" for promotion).
    pub fn dial_candidates(
        &mut self,
        peer_type: PeerType,
        max: usize,
        now: u64,
        rng: &mut Rng,
        keep: impl FnMut(SocketAddrV4) -> bool,
    ) -> Vec<SocketAddrV4> {
        let source = match peer_type {
            PeerType::Inbound => &mut self.dial_inbound,
            PeerType::Outbound => &mut self.dial_outbound,
            PeerType::Preferred => &mut self.dial_preferred,
        };
        source.take(&self.store, max.min(MAX_DIALS_PER_TYPE), now, rng, keep)
    }

    /// The PEERS list for `recipient` (its IP and listening port): up to 50 random
    /// OUTBOUND/PREFERRED rows with ≤ 10 failures, topped up with INBOUND ones; private
    /// addresses and the recipient itself left out; `numFailures` always 0.
    pub fn peers_to_send(&mut self, recipient: SocketAddr, rng: &mut Rng) -> Vec<PeerAddress> {
        let recipient = ipv4_of(recipient.ip()).map(|ip| SocketAddrV4::new(ip, recipient.port()));
        let allow_private = self.policy.allow_private;
        let keep =
            |a: SocketAddrV4| (allow_private || !is_private(*a.ip())) && Some(a) != recipient;
        let mut chosen = self
            .send_outbound
            .take(&self.store, MAX_PEERS_TO_SEND, 0, rng, keep);
        let rest = MAX_PEERS_TO_SEND.saturating_sub(chosen.len());
        chosen.extend(self.send_inbound.take(&self.store, rest, 0, rng, keep));
        chosen
            .into_iter()
            .map(|a| PeerAddress {
                ip: IpAddr::V4(*a.ip()),
                port: u32::from(a.port()),
                num_failures: 0,
            })
            .collect()
    }

    /// Learns the addresses of a PEERS message from `sender_ip` (`Peer::recvPeers`): each
    /// acceptable entry not yet known is stored as INBOUND with 0 failures. At most
    /// [`MAX_RECEIVED_PEERS_PROCESSED`] entries are looked at. Whether PEERS is allowed at
    /// all (initiator side, once per connection) is the connection's business.
    pub fn recv_peers(
        &mut self,
        entries: impl IntoIterator<Item = PeerAddress>,
        sender_ip: IpAddr,
        peer_port: u16,
        now: u64,
    ) -> RecvPeersOutcome {
        let mut out = RecvPeersOutcome::default();
        for entry in entries.into_iter().take(MAX_RECEIVED_PEERS_PROCESSED) {
            match classify_received_peer(&entry, sender_ip, peer_port, self.policy) {
                Ok(address) => match self.ensure_exists(address, now) {
                    Ensured::Added => out.added += 1,
                    Ensured::AlreadyKnown => out.already_known += 1,
                    Ensured::Refused => out.refused += 1,
                },
                Err(PeersSkip::BadPort) => out.bad_port += 1,
                Err(PeersSkip::Ipv6) => out.ipv6 += 1,
                Err(PeersSkip::Private) => out.private += 1,
                Err(PeersSkip::SelfAddress) => out.self_address += 1,
                Err(PeersSkip::Localhost) => out.localhost += 1,
                Err(PeersSkip::Unroutable) => out.unroutable += 1,
            }
        }
        out
    }
}

fn apply_backoff(r: &mut PeerRecord, update: BackOffUpdate, now: u64, rng: &mut Rng) {
    match update {
        BackOffUpdate::HardReset => {
            r.num_failures = 0;
            r.next_attempt = now;
        }
        BackOffUpdate::Reset | BackOffUpdate::Increase => {
            r.num_failures = if update == BackOffUpdate::Reset {
                0
            } else {
                r.num_failures.saturating_add(1)
            };
            r.next_attempt = now.saturating_add(backoff(r.num_failures, rng));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Connection limits

/// The connection settings as configured (PROTOCOL §6.3, §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// TARGET_PEER_CONNECTIONS, ≥ 1.
    pub target_peer_connections: u16,
    /// MAX_ADDITIONAL_PEER_CONNECTIONS, −1..=65535; −1 means 8 × target.
    pub max_additional_peer_connections: i32,
    /// MAX_PENDING_CONNECTIONS, ≥ 1.
    pub max_pending_connections: u16,
    /// File handles available for connections: core uses 3/4 of the soft RLIMIT_NOFILE
    /// ([`handles_from_rlimit`]). Hosts without such a limit pass `u64::MAX`.
    pub max_handles: u64,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            target_peer_connections: 8,
            max_additional_peer_connections: -1,
            max_pending_connections: 500,
            max_handles: u64::MAX,
        }
    }
}

/// Core's `fs::getMaxHandles` on Unix: three quarters of the soft file-descriptor limit.
pub fn handles_from_rlimit(soft_limit: u64) -> u64 {
    soft_limit.saturating_mul(3) / 4
}

/// A setting outside the range core accepts (core refuses to start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitsError {
    TargetPeerConnections(u16),
    MaxAdditionalPeerConnections(i32),
    MaxPendingConnections(u16),
}

impl fmt::Display for LimitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitsError::TargetPeerConnections(v) => {
                write!(f, "TARGET_PEER_CONNECTIONS must be at least 1, got {v}")
            }
            LimitsError::MaxAdditionalPeerConnections(v) => {
                write!(
                    f,
                    "MAX_ADDITIONAL_PEER_CONNECTIONS must be -1..=65535, got {v}"
                )
            }
            LimitsError::MaxPendingConnections(v) => {
                write!(f, "MAX_PENDING_CONNECTIONS must be at least 1, got {v}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LimitsError {}

/// The effective limits after `Config::adjust`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Authenticated outbound connections (TARGET_PEER_CONNECTIONS).
    pub target_peer_connections: usize,
    /// Authenticated inbound connections (MAX_ADDITIONAL_PEER_CONNECTIONS).
    pub max_additional_peer_connections: usize,
    pub max_pending_connections: usize,
    pub max_outbound_pending_connections: usize,
    pub max_inbound_pending_connections: usize,
}

impl Default for ConnectionLimits {
    /// 8 outbound, 64 inbound, 500 pending split 56 / 444.
    fn default() -> Self {
        ConnectionLimits {
            target_peer_connections: 8,
            max_additional_peer_connections: 64,
            max_pending_connections: 500,
            max_outbound_pending_connections: 56,
            max_inbound_pending_connections: 444,
        }
    }
}

/// `ceil` for the small non-negative values of `adjust` (`f64::ceil` needs std).
fn ceil_to_i64(v: f64) -> i64 {
    if v.is_nan() || v <= 0.0 {
        return 0;
    }
    let t = v as i64; // saturating; truncates toward zero
    if (t as f64) < v {
        t.saturating_add(1)
    } else {
        t
    }
}

/// Core's rounding of a scaled limit: ceiling, clamped to 1..=65535.
fn to_nonzero_u16(v: f64) -> i64 {
    ceil_to_i64(v).clamp(1, i64::from(u16::MAX))
}

impl ConnectionLimits {
    /// `Config::adjust`: derives MAX_ADDITIONAL when −1, caps TARGET at
    /// MAX_ADDITIONAL / 3 + 3, scales everything down to the file-handle budget, and splits
    /// the pending budget by the outbound share of authenticated connections. The
    /// floating-point steps are done in `f64` as core does, so results match to the unit.
    pub fn adjust(cfg: &ConnectionConfig) -> Result<Self, LimitsError> {
        if cfg.target_peer_connections == 0 {
            return Err(LimitsError::TargetPeerConnections(
                cfg.target_peer_connections,
            ));
        }
        if !(-1..=i32::from(u16::MAX)).contains(&cfg.max_additional_peer_connections) {
            return Err(LimitsError::MaxAdditionalPeerConnections(
                cfg.max_additional_peer_connections,
            ));
        }
        if cfg.max_pending_connections == 0 {
            return Err(LimitsError::MaxPendingConnections(
                cfg.max_pending_connections,
            ));
        }
        let u16_max = i64::from(u16::MAX);
        let mut target = i64::from(cfg.target_peer_connections);
        let mut additional = match cfg.max_additional_peer_connections {
            -1 if target <= u16_max / 8 => target * 8,
            -1 => u16_max,
            n => i64::from(n),
        };
        let factor = MIN_INBOUND_FACTOR as i64;
        target = target.min(additional / factor + factor);

        let configured_pending = i64::from(cfg.max_pending_connections);
        let max_fs = i64::try_from(cfg.max_handles.min(u16::MAX.into())).unwrap_or(u16_max);
        // target ≥ 1 here (the cap is ≥ 3), so core's "no authenticated connections" branch
        // cannot happen.
        let total = target + additional;
        let outbound_pending_rate = target as f64 / total as f64;
        let mut pending = configured_pending;
        if total + pending > max_fs {
            pending = if total >= max_fs { 1 } else { max_fs - total };
        }
        if total + pending > max_fs {
            pending = configured_pending.max(1);
            let required = total + pending;
            let outbound_rate = target as f64 / required as f64;
            let inbound_rate = additional as f64 / required as f64;
            target = to_nonzero_u16(max_fs as f64 * outbound_rate);
            additional = to_nonzero_u16(max_fs as f64 * inbound_rate);
            let authenticated = target + additional;
            pending = if authenticated >= max_fs {
                1
            } else {
                max_fs - authenticated
            };
        }
        let pending = pending.min(u16_max);
        let outbound_pending = to_nonzero_u16(pending as f64 * outbound_pending_rate);
        let inbound_pending = (pending - outbound_pending).max(1);
        let as_usize = |v: i64| usize::try_from(v).unwrap_or(0);
        Ok(ConnectionLimits {
            target_peer_connections: as_usize(target),
            max_additional_peer_connections: as_usize(additional),
            max_pending_connections: as_usize(pending),
            max_outbound_pending_connections: as_usize(outbound_pending),
            max_inbound_pending_connections: as_usize(inbound_pending),
        })
    }

    /// Authenticated peers allowed in one direction: TARGET outbound, MAX_ADDITIONAL inbound.
    pub fn max_authenticated(&self, role: Role) -> usize {
        match role {
            Role::Initiator => self.target_peer_connections,
            Role::Acceptor => self.max_additional_peer_connections,
        }
    }

    /// How many authenticated outbound peers the tick aims for: MIN_INBOUND_FACTOR (3) while
    /// nobody has connected to us, else TARGET. Note core uses 3 even when TARGET is smaller;
    /// the extra peers are then refused at AUTH.
    pub fn outbound_target(&self, inbound_authenticated: usize) -> usize {
        if inbound_authenticated == 0 {
            MIN_INBOUND_FACTOR
        } else {
            self.target_peer_connections
        }
    }

    /// Free outbound pending slots.
    pub fn available_outbound_pending(&self, outbound_pending: usize) -> usize {
        self.max_outbound_pending_connections
            .saturating_sub(outbound_pending)
    }

    /// Free authenticated outbound slots against [`Self::outbound_target`].
    pub fn available_outbound_authenticated(
        &self,
        inbound_authenticated: usize,
        outbound_authenticated: usize,
    ) -> usize {
        self.outbound_target(inbound_authenticated)
            .saturating_sub(outbound_authenticated)
    }

    /// TCP accept (`haveSpaceForConnection`): `pending_inbound` is the number of live
    /// unauthenticated inbound connections; `possibly_preferred` whether the remote IP is
    /// the IP of a configured preferred peer, which earns [`POSSIBLY_PREFERRED_EXTRA`] more
    /// slots. A refused socket is closed without a peer object.
    pub fn accept_inbound_pending(&self, pending_inbound: usize, possibly_preferred: bool) -> bool {
        let limit = self.max_inbound_pending_connections;
        pending_inbound < limit
            || (possibly_preferred
                && pending_inbound < limit.saturating_add(POSSIBLY_PREFERRED_EXTRA))
    }
}

// ---------------------------------------------------------------------------------------
// Admission on AUTH

/// The decision of `PeersList::acceptAuthenticatedPeer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAdmission {
    Accept,
    /// Accept after dropping one non-preferred authenticated peer of the same direction
    /// with ERR_LOAD "preferred peer selected instead" (the overlay picks it; core takes
    /// the first in its NodeID-ordered map).
    AcceptEvicting,
    /// Send ERR_LOAD "peer rejected".
    Reject,
}

/// Admission of a peer that just sent AUTH. `role` is our side of the connection,
/// `authenticated` the authenticated peers already in that direction,
/// `has_non_preferred` whether one of them is not preferred, and `is_preferred` whether the
/// newcomer's address is in PREFERRED_PEERS or its NodeID in PREFERRED_PEER_KEYS.
pub fn admit_authenticated(
    limits: &ConnectionLimits,
    role: Role,
    is_preferred: bool,
    authenticated: usize,
    has_non_preferred: bool,
    preferred_only: bool,
) -> AuthAdmission {
    let room = authenticated < limits.max_authenticated(role);
    if is_preferred {
        if room {
            return AuthAdmission::Accept;
        }
        if has_non_preferred {
            return AuthAdmission::AcceptEvicting;
        }
    }
    if !preferred_only && room {
        AuthAdmission::Accept
    } else {
        AuthAdmission::Reject
    }
}

// ---------------------------------------------------------------------------------------
// The tick's dial plan

/// How an address is connected right now, as the overlay sees it. An address with an
/// outbound connection (pending or authenticated) is `Outbound` even if it also has an
/// inbound one (core looks at the outbound list first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    NotConnected,
    Inbound,
    Outbound,
}

/// The overlay's connection counts at the start of a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionCounts {
    pub inbound_authenticated: usize,
    pub outbound_authenticated: usize,
    pub outbound_pending: usize,
    /// Authenticated outbound peers that are not preferred (preferred dials may evict them).
    pub outbound_non_preferred: usize,
}

/// One tick's dialling (`OverlayManagerImpl::tick`, PROTOCOL §6.5 steps 3–7), step by
/// step so the overlay can run the out-of-sync disconnect in between:
/// 1. [`DialTick::new`] — `None` when no outbound pending slot is free (step 3);
/// 2. [`DialTick::preferred`] (step 4);
/// 3. out-of-sync recovery (step 5, the overlay's): if [`DialTick::should_drop_random_peer`]
///    and the herder has not tracked the network for 60 s, drop a random non-preferred
///    outbound peer and call [`DialTick::outbound_peer_dropped`];
/// 4. [`DialTick::outbound`] (step 6), then [`DialTick::inbound`] (step 7).
///
/// Each step returns addresses to dial now, in order; the overlay calls
/// [`PeerBook::dialing`] for each as it dials. Every address planned in this tick counts as
/// connected outbound for the later steps. The book itself is not changed.
#[derive(Debug, Clone)]
pub struct DialTick {
    limits: ConnectionLimits,
    counts: ConnectionCounts,
    pending_free: usize,
    should_drop: bool,
    planned: BTreeSet<SocketAddrV4>,
}

impl DialTick {
    pub fn new(limits: ConnectionLimits, counts: ConnectionCounts) -> Option<Self> {
        let pending_free = limits.available_outbound_pending(counts.outbound_pending);
        if pending_free == 0 {
            return None;
        }
        let auth_free = limits.available_outbound_authenticated(
            counts.inbound_authenticated,
            counts.outbound_authenticated,
        );
        Some(DialTick {
            limits,
            counts,
            pending_free,
            should_drop: auth_free == 0,
            planned: BTreeSet::new(),
        })
    }

    /// Outbound pending slots still free in this tick.
    pub fn pending_free(&self) -> usize {
        self.pending_free
    }

    fn auth_free(&self) -> usize {
        self.limits.available_outbound_authenticated(
            self.counts.inbound_authenticated,
            self.counts.outbound_authenticated,
        )
    }

    fn pick<S: PeerStore>(
        &mut self,
        book: &mut PeerBook<S>,
        peer_type: PeerType,
        max: usize,
        now: u64,
        rng: &mut Rng,
        connection: &dyn Fn(SocketAddrV4) -> Connection,
    ) -> Vec<SocketAddrV4> {
        let planned = &self.planned;
        let picked = book.dial_candidates(peer_type, max, now, rng, |a| {
            !planned.contains(&a)
                && match connection(a) {
                    Connection::NotConnected => true,
                    // Promotion: dial a peer that only connected to us.
                    Connection::Inbound => peer_type == PeerType::Inbound,
                    Connection::Outbound => false,
                }
        });
        self.planned.extend(picked.iter().copied());
        self.pending_free = self.pending_free.saturating_sub(picked.len());
        picked
    }

    /// Step 4: PREFERRED-type rows, up to min(free pending, free authenticated outbound +
    /// non-preferred outbound peers) — a non-preferred peer's slot counts as free because a
    /// preferred peer evicts it at AUTH.
    pub fn preferred<S: PeerStore>(
        &mut self,
        book: &mut PeerBook<S>,
        now: u64,
        rng: &mut Rng,
        connection: &dyn Fn(SocketAddrV4) -> Connection,
    ) -> Vec<SocketAddrV4> {
        let auth_free = self.auth_free();
        let max = self
            .pending_free
            .min(auth_free.saturating_add(self.counts.outbound_non_preferred));
        let picked = self.pick(book, PeerType::Preferred, max, now, rng, connection);
        self.should_drop = auth_free == 0 && self.pending_free > 0;
        picked
    }

    /// Step 5's precondition (core's `shouldDrop`): no free authenticated outbound slot and
    /// a pending slot left after the preferred dials.
    pub fn should_drop_random_peer(&self) -> bool {
        self.should_drop
    }

    /// The overlay dropped an authenticated outbound peer (out-of-sync recovery); the
    /// freed slot is used by [`DialTick::outbound`].
    pub fn outbound_peer_dropped(&mut self) {
        self.counts.outbound_authenticated = self.counts.outbound_authenticated.saturating_sub(1);
        self.counts.outbound_non_preferred = self.counts.outbound_non_preferred.saturating_sub(1);
    }

    /// Step 6: OUTBOUND-type rows, up to min(free pending − 1, free authenticated outbound),
    /// keeping one pending slot for step 7 unless only one is left.
    pub fn outbound<S: PeerStore>(
        &mut self,
        book: &mut PeerBook<S>,
        now: u64,
        rng: &mut Rng,
        connection: &dyn Fn(SocketAddrV4) -> Connection,
    ) -> Vec<SocketAddrV4> {
        let auth_free = self.auth_free();
        if self.pending_free == 0 || auth_free == 0 {
            return Vec::new();
        }
        let max = if self.pending_free > RESERVED_FOR_PROMOTION {
            (self.pending_free - RESERVED_FOR_PROMOTION).min(auth_free)
        } else {
            self.pending_free
        };
        self.pick(book, PeerType::Outbound, max, now, rng, connection)
    }

    /// Step 7: INBOUND-type rows with every remaining pending slot ("promotion"; addresses
    /// connected inbound qualify).
    pub fn inbound<S: PeerStore>(
        &mut self,
        book: &mut PeerBook<S>,
        now: u64,
        rng: &mut Rng,
        connection: &dyn Fn(SocketAddrV4) -> Connection,
    ) -> Vec<SocketAddrV4> {
        let max = self.pending_free;
        self.pick(book, PeerType::Inbound, max, now, rng, connection)
    }
}

/// A whole tick's dials, for an overlay that does no out-of-sync recovery in between.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DialPlan {
    pub preferred: Vec<SocketAddrV4>,
    pub outbound: Vec<SocketAddrV4>,
    pub inbound: Vec<SocketAddrV4>,
    /// [`DialTick::should_drop_random_peer`] after the preferred step.
    pub should_drop_random_peer: bool,
}

impl DialPlan {
    /// All addresses in dial order: preferred, outbound, inbound.
    pub fn addresses(&self) -> impl Iterator<Item = SocketAddrV4> + '_ {
        self.preferred
            .iter()
            .chain(&self.outbound)
            .chain(&self.inbound)
            .copied()
    }

    pub fn len(&self) -> usize {
        self.preferred.len() + self.outbound.len() + self.inbound.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs the three steps of a [`DialTick`]; empty when no pending slot is free.
pub fn plan_dials<S: PeerStore>(
    book: &mut PeerBook<S>,
    limits: ConnectionLimits,
    counts: ConnectionCounts,
    now: u64,
    rng: &mut Rng,
    connection: &dyn Fn(SocketAddrV4) -> Connection,
) -> DialPlan {
    let Some(mut tick) = DialTick::new(limits, counts) else {
        return DialPlan::default();
    };
    let preferred = tick.preferred(book, now, rng, connection);
    let should_drop_random_peer = tick.should_drop_random_peer();
    let outbound = tick.outbound(book, now, rng, connection);
    let inbound = tick.inbound(book, now, rng, connection);
    DialPlan {
        preferred,
        outbound,
        inbound,
        should_drop_random_peer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use core::net::Ipv6Addr;

    const NOW: u64 = 1_700_000_000;
    const OUR_PORT: u16 = 11625;

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    fn rec(a: &str, peer_type: PeerType, num_failures: u32, next_attempt: u64) -> PeerRecord {
        PeerRecord {
            address: addr(a),
            next_attempt,
            num_failures,
            peer_type,
        }
    }

    fn book_with(rows: &[PeerRecord]) -> PeerBook<MemoryPeerStore> {
        let mut store = MemoryPeerStore::new();
        for r in rows {
            assert!(store.put(*r));
        }
        PeerBook::new(store)
    }

    /// `n` due rows of `t` at 1.<k>.<j>.<i>:11625 (public addresses).
    fn rows_of(t: PeerType, first_octet: u8, n: usize) -> Vec<PeerRecord> {
        (0..n)
            .map(|i| PeerRecord {
                address: SocketAddrV4::new(
                    Ipv4Addr::new(first_octet, (i >> 16) as u8, (i >> 8) as u8, i as u8),
                    OUR_PORT,
                ),
                next_attempt: NOW,
                num_failures: 0,
                peer_type: t,
            })
            .collect()
    }

    fn wire(ip: IpAddr, port: u32) -> PeerAddress {
        PeerAddress {
            ip,
            port,
            num_failures: 0,
        }
    }

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }

    fn not_connected(_: SocketAddrV4) -> Connection {
        Connection::NotConnected
    }

    // --- addresses ------------------------------------------------------------------

    #[test]
    fn private_ranges_and_their_edges() {
        for ip in [
            "10.0.0.0",
            "10.255.255.255",
            "172.16.0.0",
            "172.31.255.255",
            "192.168.0.0",
            "192.168.255.255",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn localhost_is_all_of_127_8() {
        assert!(is_localhost(Ipv4Addr::new(127, 0, 0, 1)));
        assert!(is_localhost(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(is_localhost(Ipv4Addr::new(127, 255, 255, 254)));
        assert!(!is_localhost(Ipv4Addr::new(0, 0, 0, 0)));
        assert!(!is_localhost(Ipv4Addr::new(128, 0, 0, 1)));
        assert!(is_unroutable(Ipv4Addr::new(0, 0, 0, 0)));
        assert!(!is_unroutable(Ipv4Addr::new(127, 0, 0, 1)));
    }

    #[test]
    fn peer_type_db_integers() {
        for (t, i) in [
            (PeerType::Inbound, 0),
            (PeerType::Outbound, 1),
            (PeerType::Preferred, 2),
        ] {
            assert_eq!(t.as_db(), i);
            assert_eq!(PeerType::from_db(i64::from(i)), Some(t));
        }
        assert_eq!(PeerType::from_db(3), None);
        assert_eq!(PeerType::from_db(-1), None);
    }

    // --- back-off -------------------------------------------------------------------

    #[test]
    fn backoff_ranges() {
        let mut rng = Rng::from_u64(11);
        for (n, hi) in [
            (0u32, 10u64),
            (1, 20),
            (2, 40),
            (10, 10_240),
            (20, 10_240),
            (u32::MAX, 10_240),
        ] {
            let samples: Vec<u64> = (0..4000).map(|_| backoff(n, &mut rng)).collect();
            assert!(samples.iter().all(|s| (1..=hi).contains(s)), "n={n}");
            // The whole range is used: both ends come close.
            assert!(*samples.iter().min().unwrap() <= 1 + hi / 50, "n={n}");
            assert!(*samples.iter().max().unwrap() >= hi - hi / 50, "n={n}");
        }
    }

    #[test]
    fn backoff_is_core_formula_and_deterministic() {
        let mut a = Rng::from_u64(5);
        let mut b = Rng::from_u64(5);
        let mut oracle = Rng::from_u64(5);
        for n in 0..15u32 {
            let span = (1u32 << n.min(10)) * 10;
            let expected = u64::from(oracle.next_u32() % span) + 1;
            assert_eq!(backoff(n, &mut a), expected);
            assert_eq!(backoff(n, &mut b), expected);
        }
    }

    #[test]
    fn increase_creates_the_row_and_grows() {
        let mut book = PeerBook::new(MemoryPeerStore::new());
        let mut rng = Rng::from_u64(1);
        let a = addr("1.2.3.4:11625");
        assert!(book.dialing(a, NOW, &mut rng));
        let r = book.get(a).unwrap();
        assert_eq!(r.peer_type, PeerType::Inbound);
        assert_eq!(r.num_failures, 1);
        assert!((NOW + 1..=NOW + 20).contains(&r.next_attempt));
        for _ in 0..11 {
            book.dialing(a, NOW, &mut rng);
        }
        let r = book.get(a).unwrap();
        assert_eq!(r.num_failures, 12);
        assert!((NOW + 1..=NOW + 10_240).contains(&r.next_attempt));
    }

    #[test]
    fn reset_and_hard_reset() {
        let a = addr("1.2.3.4:11625");
        let mut book = book_with(&[rec("1.2.3.4:11625", PeerType::Outbound, 7, NOW + 5000)]);
        let mut rng = Rng::from_u64(2);
        assert!(book.outbound_authenticated(a, NOW, &mut rng));
        let r = book.get(a).unwrap();
        assert_eq!((r.num_failures, r.peer_type), (0, PeerType::Outbound));
        assert!((NOW + 1..=NOW + 10).contains(&r.next_attempt));

        book.dialing(a, NOW, &mut rng);
        assert!(book.update_backoff(a, BackOffUpdate::HardReset, NOW, &mut rng));
        let r = book.get(a).unwrap();
        assert_eq!((r.num_failures, r.next_attempt), (0, NOW));
    }

    #[test]
    fn failures_saturate() {
        let a = addr("1.2.3.4:11625");
        let mut book = book_with(&[rec("1.2.3.4:11625", PeerType::Inbound, u32::MAX, 0)]);
        let mut rng = Rng::from_u64(2);
        book.dialing(a, u64::MAX - 3, &mut rng);
        let r = book.get(a).unwrap();
        assert_eq!((r.num_failures, r.next_attempt), (u32::MAX, u64::MAX));
    }

    #[test]
    fn port_zero_is_never_stored() {
        let mut book = PeerBook::new(MemoryPeerStore::new());
        let mut rng = Rng::from_u64(2);
        let a = addr("1.2.3.4:0");
        assert_eq!(book.ensure_exists(a, NOW), Ensured::Refused);
        assert!(!book.dialing(a, NOW, &mut rng));
        assert!(!book.update_type(a, PeerType::Outbound, true, NOW));
        assert_eq!(book.store_config_peers(&[a], true, true, NOW), 0);
        assert!(book.store().is_empty());
    }

    // --- types ----------------------------------------------------------------------

    #[test]
    fn type_update_table() {
        use PeerType::*;
        let cases = [
            // (stored, observed, known, expected)
            (Inbound, Preferred, false, Preferred),
            (Outbound, Preferred, true, Preferred),
            (Preferred, Preferred, true, Preferred),
            (Inbound, Outbound, true, Outbound),
            (Outbound, Outbound, true, Outbound),
            (Preferred, Outbound, true, Outbound),
            (Inbound, Outbound, false, Outbound),
            (Outbound, Outbound, false, Outbound),
            (Preferred, Outbound, false, Preferred),
            (Inbound, Inbound, true, Inbound),
            (Outbound, Inbound, true, Outbound),
            (Preferred, Inbound, true, Outbound),
            (Inbound, Inbound, false, Inbound),
            (Outbound, Inbound, false, Outbound),
            (Preferred, Inbound, false, Outbound),
        ];
        for (stored, observed, known, expected) in cases {
            assert_eq!(
                updated_type(stored, observed, known),
                expected,
                "{stored:?} observed {observed:?} known={known}"
            );
            let a = addr("1.2.3.4:11625");
            let mut book = book_with(&[PeerRecord {
                address: a,
                next_attempt: 9,
                num_failures: 4,
                peer_type: stored,
            }]);
            assert!(book.update_type(a, observed, known, NOW));
            let r = book.get(a).unwrap();
            // Only the type changes.
            assert_eq!(
                (r.peer_type, r.num_failures, r.next_attempt),
                (expected, 4, 9)
            );
        }
    }

    #[test]
    fn type_update_creates_missing_rows() {
        let mut book = PeerBook::new(MemoryPeerStore::new());
        let a = addr("1.2.3.4:11625");
        assert!(book.update_type(a, PeerType::Outbound, true, NOW));
        assert_eq!(
            book.get(a).unwrap(),
            rec("1.2.3.4:11625", PeerType::Outbound, 0, NOW)
        );
    }

    #[test]
    fn hello_observation() {
        let a = addr("1.2.3.4:11625");
        let cases = [
            (
                PeerType::Preferred,
                Role::Initiator,
                false,
                PeerType::Outbound,
            ),
            (
                PeerType::Preferred,
                Role::Acceptor,
                false,
                PeerType::Outbound,
            ),
            (
                PeerType::Inbound,
                Role::Initiator,
                false,
                PeerType::Outbound,
            ),
            (
                PeerType::Outbound,
                Role::Acceptor,
                false,
                PeerType::Outbound,
            ),
            (PeerType::Inbound, Role::Acceptor, false, PeerType::Inbound),
            (PeerType::Inbound, Role::Acceptor, true, PeerType::Preferred),
            (
                PeerType::Outbound,
                Role::Initiator,
                true,
                PeerType::Preferred,
            ),
        ];
        for (stored, role, preferred, expected) in cases {
            let mut book = book_with(&[PeerRecord {
                address: a,
                next_attempt: NOW,
                num_failures: 0,
                peer_type: stored,
            }]);
            assert!(book.observed_in_hello(a, role, preferred, NOW));
            assert_eq!(
                book.get(a).unwrap().peer_type,
                expected,
                "{stored:?} {role:?} {preferred}"
            );
        }
    }

    #[test]
    fn config_peers_at_startup_and_on_refresh() {
        let known = addr("1.1.1.1:11625");
        let pref = addr("2.2.2.2:11625");
        let mut book = book_with(&[
            rec("1.1.1.1:11625", PeerType::Inbound, 150, NOW + 999),
            rec("2.2.2.2:11625", PeerType::Outbound, 130, NOW + 999),
        ]);
        assert_eq!(book.store_config_peers(&[known], false, true, NOW), 1);
        assert_eq!(book.store_config_peers(&[pref], true, true, NOW), 1);
        assert_eq!(
            book.get(known).unwrap(),
            rec("1.1.1.1:11625", PeerType::Outbound, 0, NOW)
        );
        assert_eq!(
            book.get(pref).unwrap(),
            rec("2.2.2.2:11625", PeerType::Preferred, 0, NOW)
        );
        // HARD_RESET first, so the purge that follows keeps configured peers.
        assert_eq!(book.purge_dead_peers(), 0);

        // A DNS refresh listing the preferred address as known does not demote it, and
        // leaves the back-off alone.
        let mut rng = Rng::from_u64(3);
        book.dialing(pref, NOW, &mut rng);
        let before = book.get(pref).unwrap();
        assert_eq!(book.store_config_peers(&[pref], false, false, NOW + 50), 1);
        assert_eq!(book.get(pref).unwrap(), before);
        // A new address from a refresh is due now.
        let fresh = addr("3.3.3.3:11625");
        book.store_config_peers(&[fresh], true, false, NOW + 50);
        assert_eq!(
            book.get(fresh).unwrap(),
            rec("3.3.3.3:11625", PeerType::Preferred, 0, NOW + 50)
        );
    }

    #[test]
    fn purge_at_startup_and_on_removal() {
        let mut book = book_with(&[
            rec("1.1.1.1:1", PeerType::Inbound, 119, NOW),
            rec("1.1.1.1:2", PeerType::Outbound, 120, NOW),
            rec("1.1.1.1:3", PeerType::Preferred, 121, NOW),
            rec("2.2.2.2:1", PeerType::Inbound, 120, NOW),
            rec("2.2.2.2:2", PeerType::Inbound, 119, NOW),
        ]);
        // Removal of 1.1.1.1:1 purges every port of that IP at ≥ 120, nothing else.
        assert_eq!(book.peer_removed(addr("1.1.1.1:1")), 2);
        assert!(book.get(addr("1.1.1.1:1")).is_some());
        assert!(book.get(addr("1.1.1.1:2")).is_none());
        assert!(book.get(addr("1.1.1.1:3")).is_none());
        assert!(book.get(addr("2.2.2.2:1")).is_some());
        assert_eq!(book.purge_dead_peers(), 1);
        assert!(book.get(addr("2.2.2.2:1")).is_none());
        assert_eq!(book.store().len(), 2);
    }

    // --- dial candidates -------------------------------------------------------------

    #[test]
    fn dial_candidates_filter() {
        let mut book = book_with(&[
            rec("1.0.0.1:1", PeerType::Outbound, 0, NOW), // due exactly now
            rec("1.0.0.2:1", PeerType::Outbound, 120, NOW - 1), // at the cutoff
            rec("1.0.0.3:1", PeerType::Outbound, 121, NOW - 1), // past it
            rec("1.0.0.4:1", PeerType::Outbound, 0, NOW + 1), // not due
            rec("1.0.0.5:1", PeerType::Preferred, 0, NOW), // other type
            rec("1.0.0.6:1", PeerType::Inbound, 0, NOW),  // other type
            rec("10.0.0.7:1", PeerType::Outbound, 0, NOW), // private is fine to dial
        ]);
        let mut rng = Rng::from_u64(4);
        let mut got = book.dial_candidates(PeerType::Outbound, 50, NOW, &mut rng, |_| true);
        got.sort();
        assert_eq!(
            got,
            vec![addr("1.0.0.1:1"), addr("1.0.0.2:1"), addr("10.0.0.7:1")]
        );

        let mut rng = Rng::from_u64(4);
        let mut book2 = book_with(&[
            rec("1.0.0.5:1", PeerType::Preferred, 0, NOW),
            rec("1.0.0.6:1", PeerType::Inbound, 0, NOW),
        ]);
        assert_eq!(
            book2.dial_candidates(PeerType::Preferred, 50, NOW, &mut rng, |_| true),
            vec![addr("1.0.0.5:1")]
        );
        assert_eq!(
            book2.dial_candidates(PeerType::Inbound, 50, NOW, &mut rng, |_| true),
            vec![addr("1.0.0.6:1")]
        );
        assert!(
            book2
                .dial_candidates(PeerType::Outbound, 50, NOW, &mut rng, |_| true)
                .is_empty()
        );
        assert!(
            book2
                .dial_candidates(PeerType::Inbound, 0, NOW, &mut rng, |_| true)
                .is_empty()
        );
    }

    #[test]
    fn dial_candidates_respect_keep_and_cap() {
        let mut book = book_with(&rows_of(PeerType::Inbound, 1, 300));
        let mut rng = Rng::from_u64(4);
        let got = book.dial_candidates(PeerType::Inbound, 500, NOW, &mut rng, |a| {
            a.ip().octets()[3] % 2 == 0
        });
        assert_eq!(got.len(), MAX_DIALS_PER_TYPE);
        assert!(got.iter().all(|a| a.ip().octets()[3] % 2 == 0));
        let unique: BTreeSet<_> = got.iter().collect();
        assert_eq!(unique.len(), got.len());
    }

    #[test]
    fn dial_candidates_are_random_and_seeded() {
        let rows = rows_of(PeerType::Outbound, 1, 200);
        let pick = |seed| {
            let mut book = book_with(&rows);
            let mut rng = Rng::from_u64(seed);
            book.dial_candidates(PeerType::Outbound, 10, NOW, &mut rng, |_| true)
        };
        assert_eq!(pick(9), pick(9));
        assert_ne!(pick(9), pick(10));
        // Not simply the first rows in address order.
        assert_ne!(
            pick(9),
            rows[..10].iter().map(|r| r.address).collect::<Vec<_>>()
        );
    }

    #[test]
    fn random_window_covers_big_books() {
        // With more rows than one batch, any row can come up (random offset).
        let rows = rows_of(PeerType::Inbound, 1, 3000);
        let mut seen = BTreeSet::new();
        for seed in 0..40 {
            let mut book = book_with(&rows);
            let mut rng = Rng::from_u64(seed);
            seen.extend(book.dial_candidates(PeerType::Inbound, 50, NOW, &mut rng, |_| true));
        }
        assert!(seen.iter().any(|a| a.ip().octets()[2] < 3), "early rows");
        assert!(seen.iter().any(|a| a.ip().octets()[2] >= 8), "late rows");
    }

    #[test]
    fn source_cache_is_bounded_and_consumed() {
        let mut book = book_with(&rows_of(PeerType::Inbound, 1, 5000));
        let mut rng = Rng::from_u64(4);
        let first = book.dial_candidates(PeerType::Inbound, 10, NOW, &mut rng, |_| true);
        assert_eq!(book.dial_inbound.cache.len(), RANDOM_PEERS_BATCH - 10);
        // The next call continues from the cached window: no repeats.
        let second = book.dial_candidates(PeerType::Inbound, 10, NOW, &mut rng, |_| true);
        assert!(first.iter().all(|a| !second.contains(a)));
        for _ in 0..200 {
            book.dial_candidates(PeerType::Inbound, 50, NOW, &mut rng, |_| true);
            book.peers_to_send(SocketAddr::V4(addr("9.9.9.9:1")), &mut rng);
            for s in [
                &book.dial_inbound,
                &book.dial_outbound,
                &book.dial_preferred,
                &book.send_outbound,
                &book.send_inbound,
            ] {
                assert!(s.cache.len() <= RANDOM_PEERS_BATCH);
            }
        }
    }

    /// A store that ignores `limit` must not break the batch bound.
    #[derive(Debug)]
    struct Oversharing(MemoryPeerStore);

    impl PeerStore for Oversharing {
        fn get(&self, a: SocketAddrV4) -> Option<PeerRecord> {
            self.0.get(a)
        }
        fn put(&mut self, r: PeerRecord) -> bool {
            self.0.put(r)
        }
        fn remove(&mut self, a: SocketAddrV4) -> bool {
            self.0.remove(a)
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn count(&self, q: &PeerQuery) -> usize {
            self.0.count(q)
        }
        fn load(&self, q: &PeerQuery, offset: usize, _: usize) -> Vec<SocketAddrV4> {
            self.0.load(q, offset, usize::MAX)
        }
        fn remove_with_many_failures(&mut self, n: u32, ip: Option<Ipv4Addr>) -> usize {
            self.0.remove_with_many_failures(n, ip)
        }
    }

    #[test]
    fn misbehaving_store_cannot_overflow_the_cache() {
        let mut store = MemoryPeerStore::new();
        for r in rows_of(PeerType::Inbound, 1, 2500) {
            store.put(r);
        }
        let mut book = PeerBook::new(Oversharing(store));
        let mut rng = Rng::from_u64(4);
        book.dial_candidates(PeerType::Inbound, 1, NOW, &mut rng, |_| true);
        assert!(book.dial_inbound.cache.len() < RANDOM_PEERS_BATCH);
    }

    // --- PEERS we send ---------------------------------------------------------------

    #[test]
    fn peers_to_send_selection() {
        let mut book = book_with(&[
            rec("1.0.0.1:11625", PeerType::Outbound, 10, NOW + 100_000), // not due: still sent
            rec("1.0.0.2:11625", PeerType::Outbound, 11, NOW),           // too many failures
            rec("1.0.0.3:11625", PeerType::Preferred, 0, NOW),
            rec("10.0.0.4:11625", PeerType::Outbound, 0, NOW), // private
            rec("172.20.0.5:11625", PeerType::Inbound, 0, NOW), // private
            rec("5.5.5.5:11625", PeerType::Outbound, 0, NOW),  // the recipient
            rec("5.5.5.5:11626", PeerType::Inbound, 3, NOW),   // same IP, other port
            rec("1.0.0.6:11625", PeerType::Inbound, 10, NOW),
            rec("1.0.0.7:11625", PeerType::Inbound, 11, NOW), // too many failures
        ]);
        let mut rng = Rng::from_u64(6);
        let sent = book.peers_to_send(SocketAddr::V4(addr("5.5.5.5:11625")), &mut rng);
        assert!(sent.iter().all(|p| p.num_failures == 0));
        let got: Vec<SocketAddrV4> = sent
            .iter()
            .map(|p| match p.ip {
                IpAddr::V4(ip) => SocketAddrV4::new(ip, p.port as u16),
                IpAddr::V6(_) => panic!("IPv6 sent"),
            })
            .collect();
        // OUTBOUND/PREFERRED first, then INBOUND.
        let mut head: Vec<_> = got[..2].to_vec();
        head.sort();
        assert_eq!(head, vec![addr("1.0.0.1:11625"), addr("1.0.0.3:11625")]);
        let mut tail: Vec<_> = got[2..].to_vec();
        tail.sort();
        assert_eq!(tail, vec![addr("1.0.0.6:11625"), addr("5.5.5.5:11626")]);
    }

    #[test]
    fn peers_to_send_recipient_as_mapped_ipv6_and_allow_private() {
        let rows = [
            rec("5.5.5.5:11625", PeerType::Outbound, 0, NOW),
            rec("10.0.0.4:11625", PeerType::Outbound, 0, NOW),
        ];
        let mapped = SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(5, 5, 5, 5).to_ipv6_mapped()),
            11625,
        );
        let mut rng = Rng::from_u64(6);
        assert!(book_with(&rows).peers_to_send(mapped, &mut rng).is_empty());

        let mut store = MemoryPeerStore::new();
        for r in rows {
            store.put(r);
        }
        let policy = AddressPolicy {
            allow_private: true,
            ..AddressPolicy::default()
        };
        let mut book = PeerBook::with_policy(store, policy);
        let sent = book.peers_to_send(mapped, &mut rng);
        assert_eq!(sent, vec![wire(v4("10.0.0.4"), 11625)]);
    }

    #[test]
    fn peers_to_send_caps_and_tops_up() {
        let mut rng = Rng::from_u64(6);
        let recipient = SocketAddr::V4(addr("9.9.9.9:1"));
        let mut book = book_with(&rows_of(PeerType::Outbound, 1, 300));
        assert_eq!(
            book.peers_to_send(recipient, &mut rng).len(),
            MAX_PEERS_TO_SEND
        );

        let mut rows = rows_of(PeerType::Outbound, 1, 30);
        rows.extend(rows_of(PeerType::Inbound, 2, 100));
        let mut book = book_with(&rows);
        let sent = book.peers_to_send(recipient, &mut rng);
        assert_eq!(sent.len(), 50);
        assert!(
            sent[..30]
                .iter()
                .all(|p| p.ip.to_string().starts_with("1."))
        );
        assert!(
            sent[30..]
                .iter()
                .all(|p| p.ip.to_string().starts_with("2."))
        );

        assert!(
            PeerBook::new(MemoryPeerStore::new())
                .peers_to_send(recipient, &mut rng)
                .is_empty()
        );
    }

    // --- PEERS we receive ------------------------------------------------------------

    #[test]
    fn received_peer_skip_reasons() {
        let sender = v4("5.5.5.5");
        let p = AddressPolicy::default();
        let c = |e: PeerAddress, p| classify_received_peer(&e, sender, OUR_PORT, p);
        assert_eq!(c(wire(v4("1.2.3.4"), 0), p), Err(PeersSkip::BadPort));
        assert_eq!(c(wire(v4("1.2.3.4"), 65_536), p), Err(PeersSkip::BadPort));
        assert_eq!(c(wire(v4("1.2.3.4"), u32::MAX), p), Err(PeersSkip::BadPort));
        assert_eq!(c(wire(v4("1.2.3.4"), 65_535), p), Ok(addr("1.2.3.4:65535")));
        assert_eq!(
            c(wire(IpAddr::V6(Ipv6Addr::LOCALHOST), 1), p),
            Err(PeersSkip::Ipv6)
        );
        // The port is checked before the address family.
        assert_eq!(
            c(wire(IpAddr::V6(Ipv6Addr::LOCALHOST), 0), p),
            Err(PeersSkip::BadPort)
        );
        for ip in ["10.1.2.3", "172.16.9.9", "192.168.1.1"] {
            assert_eq!(c(wire(v4(ip), 1), p), Err(PeersSkip::Private), "{ip}");
        }
        // Self rule: the sender's IP with OUR port, not the sender's own port.
        assert_eq!(
            c(wire(sender, u32::from(OUR_PORT)), p),
            Err(PeersSkip::SelfAddress)
        );
        assert_eq!(c(wire(sender, 11_700), p), Ok(addr("5.5.5.5:11700")));
        assert_eq!(
            c(wire(v4("6.6.6.6"), u32::from(OUR_PORT)), p),
            Ok(addr("6.6.6.6:11625"))
        );
        assert_eq!(c(wire(v4("127.0.0.1"), 1), p), Err(PeersSkip::Localhost));
        // All of 127/8 is localhost here (stellar-core only skips the string "127.0.0.1").
        assert_eq!(c(wire(v4("127.0.0.2"), 1), p), Err(PeersSkip::Localhost));
        // Never a peer, whatever the policy: 0/8, multicast, reserved and broadcast.
        let any = AddressPolicy {
            allow_localhost: true,
            allow_private: true,
        };
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert_eq!(c(wire(v4(ip), 1), p), Err(PeersSkip::Unroutable), "{ip}");
            assert_eq!(c(wire(v4(ip), 1), any), Err(PeersSkip::Unroutable), "{ip}");
        }
        assert_eq!(
            c(wire(v4("223.255.255.255"), 1), p),
            Ok(addr("223.255.255.255:1"))
        );
        let lo = AddressPolicy {
            allow_localhost: true,
            ..p
        };
        assert_eq!(c(wire(v4("127.0.0.1"), 1), lo), Ok(addr("127.0.0.1:1")));
        let private = AddressPolicy {
            allow_private: true,
            ..p
        };
        assert_eq!(c(wire(v4("10.1.2.3"), 1), private), Ok(addr("10.1.2.3:1")));
        // Private is checked before self.
        let c10 = classify_received_peer(&wire(v4("10.0.0.1"), 11625), v4("10.0.0.1"), OUR_PORT, p);
        assert_eq!(c10, Err(PeersSkip::Private));
        // A sender on a mapped IPv6 socket is still recognised.
        let mapped = IpAddr::V6(Ipv4Addr::new(5, 5, 5, 5).to_ipv6_mapped());
        let cm = classify_received_peer(&wire(sender, 11625), mapped, OUR_PORT, p);
        assert_eq!(cm, Err(PeersSkip::SelfAddress));
    }

    #[test]
    fn recv_peers_learns_and_counts() {
        let mut book = book_with(&[rec("7.7.7.7:1", PeerType::Outbound, 5, NOW + 77)]);
        let sender = v4("5.5.5.5");
        let mut learned = wire(v4("1.2.3.4"), 11625);
        learned.num_failures = 99; // ignored
        let entries = vec![
            learned,
            wire(v4("1.2.3.4"), 11625), // duplicate in the same message
            wire(v4("7.7.7.7"), 1),     // already known: untouched
            wire(v4("1.2.3.4"), 0),
            wire(IpAddr::V6(Ipv6Addr::LOCALHOST), 11625),
            wire(v4("192.168.0.1"), 11625),
            wire(sender, u32::from(OUR_PORT)),
            wire(v4("127.0.0.1"), 11625),
        ];
        let out = book.recv_peers(entries, sender, OUR_PORT, NOW);
        assert_eq!(
            out,
            RecvPeersOutcome {
                added: 1,
                already_known: 2,
                refused: 0,
                bad_port: 1,
                ipv6: 1,
                private: 1,
                self_address: 1,
                localhost: 1,
                unroutable: 0,
            }
        );
        assert_eq!(out.skipped(), 5);
        assert_eq!(
            book.get(addr("1.2.3.4:11625")).unwrap(),
            rec("1.2.3.4:11625", PeerType::Inbound, 0, NOW)
        );
        assert_eq!(
            book.get(addr("7.7.7.7:1")).unwrap(),
            rec("7.7.7.7:1", PeerType::Outbound, 5, NOW + 77)
        );
        assert_eq!(book.store().len(), 2);
    }

    #[test]
    fn recv_peers_processes_at_most_100_entries() {
        let mut book = PeerBook::new(MemoryPeerStore::new());
        let entries = (0..300u32).map(|i| wire(IpAddr::V4(Ipv4Addr::from(0x0100_0000 + i)), 1));
        let out = book.recv_peers(entries, v4("5.5.5.5"), OUR_PORT, NOW);
        assert_eq!(out.added, MAX_RECEIVED_PEERS_PROCESSED);
        assert_eq!(book.store().len(), MAX_RECEIVED_PEERS_PROCESSED);
        // An endless iterator terminates too.
        let endless = core::iter::repeat(wire(v4("1.0.0.0"), 1));
        let out = book.recv_peers(endless, v4("5.5.5.5"), OUR_PORT, NOW);
        assert_eq!(out.already_known, MAX_RECEIVED_PEERS_PROCESSED);
    }

    #[test]
    fn recv_peers_into_a_full_store() {
        let mut store = MemoryPeerStore::with_capacity(2);
        store.put(rec("1.0.0.1:1", PeerType::Outbound, 0, NOW));
        store.put(rec("1.0.0.2:1", PeerType::Inbound, 0, NOW));
        let mut book = PeerBook::new(store);
        let out = book.recv_peers([wire(v4("1.0.0.3"), 1)], v4("5.5.5.5"), OUR_PORT, NOW);
        assert_eq!((out.added, out.refused), (0, 1));
        assert_eq!(book.store().len(), 2);
    }

    #[test]
    fn recv_peers_decoded_from_the_wire() {
        let mut bytes = Vec::new();
        crate::wire::Peers::encode_list(
            &[
                wire(v4("1.2.3.4"), 11625),
                wire(IpAddr::V6(Ipv6Addr::LOCALHOST), 1),
            ],
            &mut bytes,
        );
        let msg_bytes = [
            (crate::wire::MessageType::Peers as i32)
                .to_be_bytes()
                .to_vec(),
            bytes,
        ]
        .concat();
        let crate::wire::StellarMessage::Peers(peers) =
            crate::wire::StellarMessage::decode(&msg_bytes).unwrap()
        else {
            panic!("not PEERS");
        };
        let mut book = PeerBook::new(MemoryPeerStore::new());
        let out = book.recv_peers(peers.iter(), v4("5.5.5.5"), OUR_PORT, NOW);
        assert_eq!((out.added, out.ipv6), (1, 1));
    }

    // --- memory store -----------------------------------------------------------------

    #[test]
    fn memory_store_queries() {
        let mut s = MemoryPeerStore::new();
        for r in [
            rec("1.0.0.1:1", PeerType::Inbound, 0, NOW),
            rec("1.0.0.2:1", PeerType::Outbound, 3, NOW + 1),
            rec("1.0.0.3:1", PeerType::Preferred, 9, NOW),
            rec("1.0.0.4:1", PeerType::Outbound, 0, NOW),
        ] {
            s.put(r);
        }
        let any_out = PeerQuery {
            next_attempt_at_most: None,
            max_failures: None,
            peer_type: PeerTypeFilter::AnyOutbound,
        };
        assert_eq!(s.count(&any_out), 3);
        assert_eq!(s.load(&any_out, 1, 1), vec![addr("1.0.0.3:1")]);
        assert_eq!(s.load(&any_out, 5, 10), vec![]);
        let due = PeerQuery {
            next_attempt_at_most: Some(NOW),
            max_failures: Some(3),
            peer_type: PeerTypeFilter::Only(PeerType::Outbound),
        };
        assert_eq!(s.load(&due, 0, 10), vec![addr("1.0.0.4:1")]);
        assert!(s.remove(addr("1.0.0.4:1")));
        assert!(!s.remove(addr("1.0.0.4:1")));
        assert_eq!(s.len(), 3);
        assert_eq!(s.iter().count(), 3);
    }

    #[test]
    fn memory_store_flood_small_capacity() {
        let mut s = MemoryPeerStore::with_capacity(10);
        let rows = rows_of(PeerType::Inbound, 1, 100);
        let stored = rows.iter().filter(|r| s.put(**r)).count();
        assert_eq!((stored, s.len()), (10, 10));
        // Equal rank: the incumbents stay.
        assert!(rows[..10].iter().all(|r| s.get(r.address).is_some()));
        // Updates of present rows always succeed, even when full.
        let mut r = rows[3];
        r.num_failures = 50;
        assert!(s.put(r));
        assert_eq!(s.get(r.address), Some(r));
        assert_eq!(s.eviction.len(), s.rows.len());
    }

    #[test]
    fn memory_store_flood_default_capacity() {
        let mut s = MemoryPeerStore::new();
        for r in rows_of(PeerType::Inbound, 1, DEFAULT_PEER_STORE_CAPACITY + 100) {
            s.put(r);
        }
        assert_eq!(s.len(), DEFAULT_PEER_STORE_CAPACITY);
        assert_eq!(s.eviction.len(), DEFAULT_PEER_STORE_CAPACITY);
        // A configured peer still gets in, evicting gossip.
        assert!(s.put(rec("2.0.0.1:1", PeerType::Outbound, 0, NOW)));
        assert_eq!(s.len(), DEFAULT_PEER_STORE_CAPACITY);
    }

    #[test]
    fn memory_store_eviction_rule() {
        let mut s = MemoryPeerStore::with_capacity(3);
        s.put(rec("1.0.0.1:1", PeerType::Inbound, 5, NOW));
        s.put(rec("1.0.0.2:1", PeerType::Inbound, 0, NOW));
        s.put(rec("1.0.0.3:1", PeerType::Outbound, 40, NOW));
        // Fresh gossip evicts gossip that failed.
        assert!(s.put(rec("1.0.0.4:1", PeerType::Inbound, 0, NOW)));
        assert!(s.get(addr("1.0.0.1:1")).is_none());
        // Equal rank is refused.
        assert!(!s.put(rec("1.0.0.5:1", PeerType::Inbound, 0, NOW)));
        // Among equals the latest next attempt goes first.
        s.put(rec("1.0.0.2:1", PeerType::Inbound, 0, NOW + 5));
        assert!(s.put(rec("1.0.0.6:1", PeerType::Outbound, 0, NOW)));
        assert!(s.get(addr("1.0.0.2:1")).is_none());
        assert!(s.get(addr("1.0.0.4:1")).is_some());
        // An OUTBOUND row with many failures is still worth more than any gossip.
        assert!(!s.put(rec("1.0.0.7:1", PeerType::Inbound, 0, NOW)));
        assert!(s.put(rec("1.0.0.8:1", PeerType::Preferred, 200, NOW)));
        assert!(s.get(addr("1.0.0.4:1")).is_none());
        // Now OUTBOUND with 40 failures is the weakest.
        assert!(s.put(rec("1.0.0.9:1", PeerType::Outbound, 39, NOW)));
        assert!(s.get(addr("1.0.0.3:1")).is_none());
        assert_eq!(s.len(), 3);

        let mut zero = MemoryPeerStore::with_capacity(0);
        assert!(!zero.put(rec("1.0.0.1:1", PeerType::Preferred, 0, NOW)));
        assert!(zero.is_empty());
    }

    #[test]
    fn store_is_object_safe() {
        let store: Box<dyn PeerStore> = Box::new(MemoryPeerStore::with_capacity(8));
        let mut book = PeerBook::new(store);
        let mut rng = Rng::from_u64(1);
        book.dialing(addr("1.2.3.4:5"), NOW, &mut rng);
        assert_eq!(book.store().len(), 1);
        assert!(!book.store().is_empty());
        assert_eq!(book.peer_removed(addr("1.2.3.4:5")), 0);
        assert!(book.store_mut().remove(addr("1.2.3.4:5")));
        assert!(book.into_store().is_empty());
    }

    // --- limits -----------------------------------------------------------------------

    fn limits(target: u16, additional: i32, pending: u16, handles: u64) -> ConnectionLimits {
        ConnectionLimits::adjust(&ConnectionConfig {
            target_peer_connections: target,
            max_additional_peer_connections: additional,
            max_pending_connections: pending,
            max_handles: handles,
        })
        .unwrap()
    }

    fn tuple(l: ConnectionLimits) -> (usize, usize, usize, usize, usize) {
        (
            l.target_peer_connections,
            l.max_additional_peer_connections,
            l.max_pending_connections,
            l.max_outbound_pending_connections,
            l.max_inbound_pending_connections,
        )
    }

    #[test]
    fn default_limits() {
        let l = ConnectionLimits::adjust(&ConnectionConfig::default()).unwrap();
        assert_eq!(tuple(l), (8, 64, 500, 56, 444));
        assert_eq!(l, ConnectionLimits::default());
        // A typical Linux soft limit of 1024 changes nothing.
        assert_eq!(
            tuple(limits(8, -1, 500, handles_from_rlimit(1024))),
            (8, 64, 500, 56, 444)
        );
    }

    #[test]
    fn limits_edge_cases() {
        // No inbound at all: every pending slot is outbound, one inbound is kept.
        assert_eq!(tuple(limits(1, 0, 500, u64::MAX)), (1, 0, 500, 500, 1));
        // TARGET capped at MAX_ADDITIONAL / 3 + 3.
        assert_eq!(tuple(limits(20, 0, 500, u64::MAX)).0, 3);
        assert_eq!(tuple(limits(20, 30, 500, u64::MAX)).0, 13);
        assert_eq!(tuple(limits(8, 16, 500, u64::MAX)).0, 8);
        assert_eq!(tuple(limits(9, 16, 500, u64::MAX)).0, 8);
        assert_eq!(tuple(limits(1, -1, 1, u64::MAX)), (1, 8, 1, 1, 1));
        // −1 means 8 × TARGET.
        assert_eq!(tuple(limits(100, -1, 500, u64::MAX)).1, 800);
        // Past 65535 connections in all, everything is scaled to the 65535-handle cap.
        assert_eq!(
            tuple(limits(8191, -1, 500, u64::MAX)),
            (7233, 57_861, 441, 49, 392)
        );
        // Above 8191, −1 saturates at 65535 inbound; checked by hand:
        // ceil(65535 × 9000 / 75035) = 7861, ceil(65535 × 65535 / 75035) = 57238.
        assert_eq!(
            tuple(limits(9000, -1, 500, u64::MAX)),
            (7861, 57_238, 436, 53, 383)
        );
        assert_eq!(
            tuple(limits(u16::MAX, 65_535, u16::MAX, u64::MAX)),
            (9364, 28_086, 28_085, 7022, 21_063)
        );
    }

    #[test]
    fn limits_scaled_to_file_handles() {
        // Pending shrinks to fit first...
        assert_eq!(tuple(limits(8, -1, 500, 100)), (8, 64, 28, 4, 24));
        // ...then everything is scaled.
        assert_eq!(tuple(limits(8, -1, 500, 50)), (1, 6, 43, 5, 38));
        assert_eq!(tuple(limits(8, -1, 500, 0)), (1, 1, 1, 1, 1));
        assert_eq!(handles_from_rlimit(1024), 768);
        assert_eq!(handles_from_rlimit(u64::MAX), u64::MAX / 4);
    }

    #[test]
    fn limits_reject_bad_settings() {
        let bad = |t, a, p| {
            ConnectionLimits::adjust(&ConnectionConfig {
                target_peer_connections: t,
                max_additional_peer_connections: a,
                max_pending_connections: p,
                max_handles: u64::MAX,
            })
        };
        assert_eq!(bad(0, -1, 500), Err(LimitsError::TargetPeerConnections(0)));
        assert_eq!(
            bad(8, -2, 500),
            Err(LimitsError::MaxAdditionalPeerConnections(-2))
        );
        assert_eq!(
            bad(8, 65_536, 500),
            Err(LimitsError::MaxAdditionalPeerConnections(65_536))
        );
        assert_eq!(bad(8, -1, 0), Err(LimitsError::MaxPendingConnections(0)));
        assert!(bad(8, 65_535, 1).is_ok());
        assert!(!alloc::format!("{}", LimitsError::MaxPendingConnections(0)).is_empty());
    }

    #[test]
    fn limits_never_panic() {
        for t in [1u16, 2, 3, 7, 100, 8191, 8192, u16::MAX] {
            for a in [-1i32, 0, 1, 2, 5, 64, 1000, 65_535] {
                for p in [1u16, 2, 500, u16::MAX] {
                    for h in [0u64, 1, 2, 3, 10, 100, 1000, 65_535, u64::MAX] {
                        let l = limits(t, a, p, h);
                        assert!(l.target_peer_connections >= 1);
                        assert!(l.max_outbound_pending_connections >= 1);
                        assert!(l.max_inbound_pending_connections >= 1);
                        assert!(l.max_pending_connections <= usize::from(u16::MAX));
                    }
                }
            }
        }
    }

    #[test]
    fn outbound_target_and_free_slots() {
        let l = ConnectionLimits::default();
        assert_eq!(l.outbound_target(0), MIN_INBOUND_FACTOR);
        assert_eq!(l.outbound_target(1), 8);
        assert_eq!(l.available_outbound_authenticated(0, 2), 1);
        assert_eq!(l.available_outbound_authenticated(0, 5), 0);
        assert_eq!(l.available_outbound_authenticated(3, 5), 3);
        assert_eq!(l.available_outbound_pending(50), 6);
        assert_eq!(l.available_outbound_pending(80), 0);
        assert_eq!(l.max_authenticated(Role::Initiator), 8);
        assert_eq!(l.max_authenticated(Role::Acceptor), 64);
        // Core's quirk: TARGET 1 with no inbound still aims for 3 (refused at AUTH).
        let one = limits(1, 0, 500, u64::MAX);
        assert_eq!(one.available_outbound_authenticated(0, 1), 2);
    }

    #[test]
    fn inbound_pending_acceptance() {
        let l = ConnectionLimits::default();
        assert!(l.accept_inbound_pending(0, false));
        assert!(l.accept_inbound_pending(443, false));
        assert!(!l.accept_inbound_pending(444, false));
        assert!(l.accept_inbound_pending(444, true));
        assert!(l.accept_inbound_pending(445, true));
        assert!(!l.accept_inbound_pending(446, true));
        assert!(!l.accept_inbound_pending(usize::MAX, true));
    }

    // --- admission ----------------------------------------------------------------------

    #[test]
    fn admission_table() {
        use AuthAdmission::*;
        let l = ConnectionLimits::default();
        let out = Role::Initiator;
        let inb = Role::Acceptor;
        // (role, preferred, authenticated, has_non_preferred, preferred_only, expected)
        let cases = [
            (out, false, 0, false, false, Accept),
            (out, false, 7, true, false, Accept),
            (out, false, 8, true, false, Reject),
            (out, false, 0, false, true, Reject),
            (out, true, 0, false, true, Accept),
            (out, true, 7, true, true, Accept),
            (out, true, 8, true, false, AcceptEvicting),
            (out, true, 8, true, true, AcceptEvicting),
            (out, true, 8, false, false, Reject),
            (out, true, 9, true, false, AcceptEvicting),
            (inb, false, 63, true, false, Accept),
            (inb, false, 64, true, false, Reject),
            (inb, true, 64, true, false, AcceptEvicting),
            (inb, true, 64, false, true, Reject),
        ];
        for (role, pref, n, victim, only, expected) in cases {
            assert_eq!(
                admit_authenticated(&l, role, pref, n, victim, only),
                expected,
                "{role:?} preferred={pref} n={n} victim={victim} only={only}"
            );
        }
        // MAX_ADDITIONAL 0: no inbound peer at all, preferred or not.
        let none = limits(1, 0, 500, u64::MAX);
        assert_eq!(
            admit_authenticated(&none, inb, true, 0, false, false),
            Reject
        );
        assert_eq!(
            admit_authenticated(&none, inb, false, 0, false, false),
            Reject
        );
        assert_eq!(
            admit_authenticated(&none, out, false, 0, false, false),
            Accept
        );
    }

    // --- dial plan ------------------------------------------------------------------------

    fn standard_book() -> PeerBook<MemoryPeerStore> {
        let mut rows = rows_of(PeerType::Preferred, 3, 2);
        rows.extend(rows_of(PeerType::Outbound, 2, 10));
        rows.extend(rows_of(PeerType::Inbound, 1, 100));
        book_with(&rows)
    }

    fn is_type(a: &SocketAddrV4, first_octet: u8) -> bool {
        a.ip().octets()[0] == first_octet
    }

    #[test]
    fn plan_with_nothing_connected() {
        let mut book = standard_book();
        let mut rng = Rng::from_u64(8);
        let plan = plan_dials(
            &mut book,
            ConnectionLimits::default(),
            ConnectionCounts::default(),
            NOW,
            &mut rng,
            &not_connected,
        );
        // No inbound yet: aim for 3 outbound. Preferred: min(56, 3) but only 2 rows.
        assert_eq!(plan.preferred.len(), 2);
        assert!(plan.preferred.iter().all(|a| is_type(a, 3)));
        assert_eq!(plan.outbound.len(), 3);
        assert!(plan.outbound.iter().all(|a| is_type(a, 2)));
        // 51 pending slots left, capped at 50 per query.
        assert_eq!(plan.inbound.len(), 50);
        assert!(plan.inbound.iter().all(|a| is_type(a, 1)));
        assert!(!plan.should_drop_random_peer);
        let order: Vec<_> = plan.addresses().collect();
        assert_eq!(order.len(), plan.len());
        assert_eq!(order[..2], plan.preferred[..]);
        assert_eq!(order[2..5], plan.outbound[..]);
        let unique: BTreeSet<_> = order.iter().collect();
        assert_eq!(unique.len(), order.len());
    }

    #[test]
    fn plan_with_inbound_peers_aims_for_target() {
        let mut book = standard_book();
        let mut rng = Rng::from_u64(8);
        let counts = ConnectionCounts {
            inbound_authenticated: 1,
            outbound_authenticated: 2,
            outbound_pending: 0,
            outbound_non_preferred: 2,
        };
        let plan = plan_dials(
            &mut book,
            ConnectionLimits::default(),
            counts,
            NOW,
            &mut rng,
            &not_connected,
        );
        assert_eq!(plan.preferred.len(), 2);
        // 6 free authenticated slots.
        assert_eq!(plan.outbound.len(), 6);
        assert_eq!(plan.inbound.len(), 48);
    }

    #[test]
    fn plan_when_outbound_is_full() {
        let mut book = standard_book();
        let mut rng = Rng::from_u64(8);
        let counts = ConnectionCounts {
            inbound_authenticated: 5,
            outbound_authenticated: 8,
            outbound_pending: 0,
            outbound_non_preferred: 8,
        };
        let mut tick = DialTick::new(ConnectionLimits::default(), counts).unwrap();
        // Preferred may take the non-preferred peers' slots.
        assert_eq!(
            tick.preferred(&mut book, NOW, &mut rng, &not_connected)
                .len(),
            2
        );
        assert!(tick.should_drop_random_peer());
        assert!(
            tick.outbound(&mut book, NOW, &mut rng, &not_connected)
                .is_empty()
        );
        // After an out-of-sync drop one outbound slot opens.
        tick.outbound_peer_dropped();
        assert_eq!(
            tick.outbound(&mut book, NOW, &mut rng, &not_connected)
                .len(),
            1
        );
        assert_eq!(tick.pending_free(), 53);
        assert_eq!(
            tick.inbound(&mut book, NOW, &mut rng, &not_connected).len(),
            50
        );
        assert_eq!(tick.pending_free(), 3);
    }

    #[test]
    fn plan_preferred_quota() {
        // Full of preferred peers already: no preferred dial, no drop.
        let mut rng = Rng::from_u64(8);
        let counts = ConnectionCounts {
            inbound_authenticated: 5,
            outbound_authenticated: 8,
            outbound_pending: 0,
            outbound_non_preferred: 0,
        };
        let plan = plan_dials(
            &mut standard_book(),
            ConnectionLimits::default(),
            counts,
            NOW,
            &mut rng,
            &not_connected,
        );
        assert!(plan.preferred.is_empty());
        assert!(plan.outbound.is_empty());
        assert!(plan.should_drop_random_peer);
        assert_eq!(plan.inbound.len(), 50);
        // Preferred limited by free pending slots.
        let counts = ConnectionCounts {
            outbound_pending: 55,
            ..ConnectionCounts::default()
        };
        let plan = plan_dials(
            &mut standard_book(),
            ConnectionLimits::default(),
            counts,
            NOW,
            &mut rng,
            &not_connected,
        );
        assert_eq!(
            (
                plan.preferred.len(),
                plan.outbound.len(),
                plan.inbound.len()
            ),
            (1, 0, 0)
        );
    }

    #[test]
    fn plan_pending_slot_reservation() {
        let mut rows = rows_of(PeerType::Outbound, 2, 10);
        rows.extend(rows_of(PeerType::Inbound, 1, 10));
        let limits = ConnectionLimits::default();
        let mut rng = Rng::from_u64(8);
        // One slot left: outbound takes it.
        let counts = ConnectionCounts {
            outbound_pending: 55,
            ..ConnectionCounts::default()
        };
        let plan = plan_dials(
            &mut book_with(&rows),
            limits,
            counts,
            NOW,
            &mut rng,
            &not_connected,
        );
        assert_eq!((plan.outbound.len(), plan.inbound.len()), (1, 0));
        // Two left: one outbound, one kept for promotion.
        let counts = ConnectionCounts {
            outbound_pending: 54,
            ..ConnectionCounts::default()
        };
        let plan = plan_dials(
            &mut book_with(&rows),
            limits,
            counts,
            NOW,
            &mut rng,
            &not_connected,
        );
        assert_eq!((plan.outbound.len(), plan.inbound.len()), (1, 1));
        // None left: nothing at all.
        let counts = ConnectionCounts {
            outbound_pending: 56,
            ..ConnectionCounts::default()
        };
        assert!(DialTick::new(limits, counts).is_none());
        assert!(
            plan_dials(
                &mut book_with(&rows),
                limits,
                counts,
                NOW,
                &mut rng,
                &not_connected
            )
            .is_empty()
        );
        // Over the limit (limits lowered at runtime) is the same.
        let counts = ConnectionCounts {
            outbound_pending: 1000,
            outbound_authenticated: 1000,
            ..ConnectionCounts::default()
        };
        assert!(DialTick::new(limits, counts).is_none());
    }

    #[test]
    fn plan_respects_connections_and_promotes_inbound() {
        let rows = [
            rec("2.0.0.1:1", PeerType::Outbound, 0, NOW),
            rec("2.0.0.2:1", PeerType::Outbound, 0, NOW),
            rec("3.0.0.1:1", PeerType::Preferred, 0, NOW),
            rec("1.0.0.1:1", PeerType::Inbound, 0, NOW),
            rec("1.0.0.2:1", PeerType::Inbound, 0, NOW),
            rec("1.0.0.3:1", PeerType::Inbound, 0, NOW),
        ];
        let connection = |a: SocketAddrV4| match a.to_string().as_str() {
            "2.0.0.1:1" | "3.0.0.1:1" | "1.0.0.1:1" => Connection::Inbound,
            "1.0.0.2:1" => Connection::Outbound,
            _ => Connection::NotConnected,
        };
        let mut rng = Rng::from_u64(8);
        let plan = plan_dials(
            &mut book_with(&rows),
            ConnectionLimits::default(),
            ConnectionCounts {
                inbound_authenticated: 1,
                ..ConnectionCounts::default()
            },
            NOW,
            &mut rng,
            &connection,
        );
        assert!(plan.preferred.is_empty());
        assert_eq!(plan.outbound, vec![addr("2.0.0.2:1")]);
        let mut inbound = plan.inbound.clone();
        inbound.sort();
        assert_eq!(inbound, vec![addr("1.0.0.1:1"), addr("1.0.0.3:1")]);
    }

    #[test]
    fn plan_never_dials_an_address_twice_in_a_tick() {
        // A stale cache entry (type changed since it was cached) must not be dialled
        // again by a later step.
        let mut book = book_with(&[
            rec("1.0.0.1:1", PeerType::Inbound, 0, NOW),
            rec("1.0.0.2:1", PeerType::Inbound, 0, NOW),
        ]);
        let mut rng = Rng::from_u64(8);
        let taken = book.dial_candidates(PeerType::Inbound, 1, NOW, &mut rng, |_| true);
        let stale = if taken[0] == addr("1.0.0.1:1") {
            addr("1.0.0.2:1")
        } else {
            addr("1.0.0.1:1")
        };
        book.update_type(stale, PeerType::Outbound, true, NOW);
        assert_eq!(book.dial_inbound.cache, [stale]);
        let counts = ConnectionCounts {
            inbound_authenticated: 1,
            outbound_pending: 54,
            ..ConnectionCounts::default()
        };
        let plan = plan_dials(
            &mut book,
            ConnectionLimits::default(),
            counts,
            NOW,
            &mut rng,
            &not_connected,
        );
        assert_eq!(plan.outbound, vec![stale]);
        assert!(plan.inbound.is_empty());
    }

    #[test]
    fn plan_bounds_per_step() {
        let mut rows = rows_of(PeerType::Preferred, 3, 200);
        rows.extend(rows_of(PeerType::Outbound, 2, 200));
        rows.extend(rows_of(PeerType::Inbound, 1, 200));
        let mut book = book_with(&rows);
        let limits = ConnectionLimits {
            target_peer_connections: 500,
            max_additional_peer_connections: 500,
            max_pending_connections: 1000,
            max_outbound_pending_connections: 1000,
            max_inbound_pending_connections: 1000,
        };
        let counts = ConnectionCounts {
            inbound_authenticated: 1,
            ..ConnectionCounts::default()
        };
        let mut rng = Rng::from_u64(8);
        let plan = plan_dials(&mut book, limits, counts, NOW, &mut rng, &not_connected);
        assert_eq!(
            (
                plan.preferred.len(),
                plan.outbound.len(),
                plan.inbound.len()
            ),
            (50, 50, 50)
        );
    }

    #[test]
    fn plan_is_deterministic_per_seed() {
        let run = |seed| {
            let mut book = standard_book();
            let mut rng = Rng::from_u64(seed);
            plan_dials(
                &mut book,
                ConnectionLimits::default(),
                ConnectionCounts::default(),
                NOW,
                &mut rng,
                &not_connected,
            )
        };
        assert_eq!(run(21), run(21));
        assert_ne!(run(21).inbound, run(22).inbound);
    }

    #[test]
    fn plan_skips_peers_in_backoff() {
        let mut book = book_with(&rows_of(PeerType::Outbound, 2, 3));
        let mut rng = Rng::from_u64(8);
        let counts = ConnectionCounts {
            inbound_authenticated: 1,
            ..ConnectionCounts::default()
        };
        let plan = plan_dials(
            &mut book,
            ConnectionLimits::default(),
            counts,
            NOW,
            &mut rng,
            &not_connected,
        );
        assert_eq!(plan.outbound.len(), 3);
        for a in plan.addresses() {
            book.dialing(a, NOW, &mut rng);
        }
        let again = plan_dials(
            &mut book,
            ConnectionLimits::default(),
            counts,
            NOW + 1,
            &mut rng,
            &not_connected,
        );
        assert!(again.is_empty());
        let later = plan_dials(
            &mut book,
            ConnectionLimits::default(),
            counts,
            NOW + 20,
            &mut rng,
            &not_connected,
        );
        assert_eq!(later.outbound.len(), 3);
    }
}
